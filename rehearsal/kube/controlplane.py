"""etcd, kube-apiserver, kube-controller-manager and kube-scheduler as local processes of the stack.

Built from upstream source by tools/build-kube.sh (see rehearsal/kube/binaries.py). Everything listens
on 127.0.0.1 on free ports; kube-apiserver advertises the pod bridge's host address (it refuses loopback
in the Endpoints of the ``kubernetes`` Service). etcd keeps its data on tmpfs with ``--unsafe-no-fsync``,
as controller-runtime's envtest runs it: a rehearsal cluster lives as long as its stack.

Clients authenticate with bearer tokens from a token file (RBAC authorises them): the admin user of the
kubeconfig (group system:masters), the controller manager and the scheduler as the users the bootstrap
RBAC policy names, and the node agent as ``system:node:<name>`` in ``system:nodes`` (Node authorizer and
NodeRestriction, as for a kubelet).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rehearsal.kube.binaries import KubeBinaries, locate
from rehearsal.kube.network import stack_tag
from rehearsal.kube.pki import CertificateAuthority

log = logging.getLogger(__name__)

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
TMPFS = Path("/dev/shm")


class ControlPlaneError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class Identity:
    user: str
    groups: tuple[str, ...] = ()
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))


def write_kubeconfig(path: Path, *, server: str, ca: Path, token: str, context: str = "rehearsal",
                     namespace: str = "default") -> Path:
    config = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": f"{context}-admin", "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": f"{context}-admin",
                                                   "namespace": namespace}}],
        "current-context": context, "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds a token
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    return path


class ControlPlane:
    """Start with :meth:`start`; ``kubeconfig`` then reaches kube-apiserver as the admin user."""

    def __init__(self, state_dir: Path, *, port: int = 0, advertise_address: str, node_name: str,
                 binaries: KubeBinaries | None = None):
        self.state_dir = Path(state_dir)
        self.dir = self.state_dir / "kube"
        self.port = port or free_port()
        self.advertise_address = advertise_address
        self.node_name = node_name
        self.bin = (binaries or locate()).require()
        self.kubeconfig = self.state_dir / "kubeconfig"
        self.etcd_dir = TMPFS / f"greenlang-etcd-{stack_tag(self.state_dir)}"
        self.identities = {
            "admin": Identity("rehearsal-admin", ("system:masters",)),
            "controller-manager": Identity("system:kube-controller-manager"),
            "scheduler": Identity("system:kube-scheduler"),
            "node": Identity(f"system:node:{node_name}", ("system:nodes",)),
        }
        self._procs: list[tuple[str, subprocess.Popen]] = []
        self.ca: CertificateAuthority | None = None
        self.kubelet_client = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def kubeconfig_for(self, who: str) -> Path:
        return self.dir / f"{who}.kubeconfig"

    # -- life cycle --------------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> ControlPlane:
        t0 = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "logs").mkdir(exist_ok=True)
        self.ca = CertificateAuthority(self.dir / "pki")
        serving = self.ca.issue("apiserver", "kube-apiserver", server=True,
                                dns=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                     "kubernetes.default.svc.cluster.local"),
                                ips=("127.0.0.1", "::1", SERVICE_IP, self.advertise_address))
        self.kubelet_client = self.ca.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client",
                                            organizations=("system:masters",), client=True)
        sa = self.ca.service_account_keys()
        tokens = self.dir / "tokens.csv"
        fd = os.open(tokens, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            for i, ident in enumerate(self.identities.values()):
                groups = f',"{",".join(ident.groups)}"' if ident.groups else ""
                f.write(f"{ident.token},{ident.user},uid-{i}{groups}\n")
        for who, ident in self.identities.items():
            write_kubeconfig(self.kubeconfig_for(who), server=self.url, ca=self.ca.cert_path, token=ident.token)
        write_kubeconfig(self.kubeconfig, server=self.url, ca=self.ca.cert_path,
                         token=self.identities["admin"].token)

        etcd_client, etcd_peer = free_port(), free_port()
        shutil.rmtree(self.etcd_dir, ignore_errors=True)
        self._spawn("etcd", [
            self.bin.path("etcd"), "--name", "rehearsal", "--data-dir", str(self.etcd_dir),
            "--listen-client-urls", f"http://127.0.0.1:{etcd_client}",
            "--advertise-client-urls", f"http://127.0.0.1:{etcd_client}",
            "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-cluster", f"rehearsal=http://127.0.0.1:{etcd_peer}",
            "--unsafe-no-fsync", "--log-level", "warn", "--quota-backend-bytes", str(2 << 30),
        ])
        pki = self.dir / "pki"
        self._spawn("kube-apiserver", [
            self.bin.path("kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{etcd_client}",
            "--bind-address=127.0.0.1", f"--secure-port={self.port}",
            f"--advertise-address={self.advertise_address}",
            f"--tls-cert-file={serving.cert}", f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={self.ca.cert_path}",
            f"--token-auth-file={tokens}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={sa.cert}", f"--service-account-signing-key-file={sa.key}",
            f"--kubelet-client-certificate={self.kubelet_client.cert}",
            f"--kubelet-client-key={self.kubelet_client.key}",
            f"--kubelet-certificate-authority={self.ca.cert_path}",
            "--kubelet-preferred-address-types=InternalIP",
            "--allow-privileged=true", "--profiling=false", "--v=0",
            f"--cert-dir={pki}",
        ])
        self.wait_ready(timeout=max(5.0, timeout - (time.monotonic() - t0)))
        common = ["--leader-elect=false", "--profiling=false", "--v=0"]
        self._spawn("kube-controller-manager", [
            self.bin.path("kube-controller-manager"), *common,
            f"--kubeconfig={self.kubeconfig_for('controller-manager')}",
            f"--authentication-kubeconfig={self.kubeconfig_for('controller-manager')}",
            f"--authorization-kubeconfig={self.kubeconfig_for('controller-manager')}",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            "--controllers=*", "--use-service-account-credentials=true",
            f"--service-account-private-key-file={sa.key}", f"--root-ca-file={self.ca.cert_path}",
            f"--cluster-signing-cert-file={self.ca.cert_path}", f"--cluster-signing-key-file={self.ca.key_path}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # Seconds, not minutes: a stopped node agent shows NotReady soon, as a rehearsal wants.
            "--node-monitor-period=2s", "--node-monitor-grace-period=20s",
        ])
        self._spawn("kube-scheduler", [
            self.bin.path("kube-scheduler"), *common,
            f"--kubeconfig={self.kubeconfig_for('scheduler')}",
            f"--authentication-kubeconfig={self.kubeconfig_for('scheduler')}",
            f"--authorization-kubeconfig={self.kubeconfig_for('scheduler')}",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
        ])
        log.info("control plane up at %s in %.1f s", self.url, time.monotonic() - t0)
        return self

    def _spawn(self, name: str, argv: list[str]) -> None:
        logf = open(self.dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True)
        logf.close()
        self._procs.append((name, proc))

    def _ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca.cert_path))

    def request(self, path: str, who: str = "admin", timeout: float = 5) -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path,
                                     headers={"Authorization": f"Bearer {self.identities[who].token}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._ssl()) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_ready(self, timeout: float) -> None:
        """Until /readyz answers 200 (etcd reachable, bootstrap RBAC and priority levels in place)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for name, proc in self._procs:
                if proc.poll() is not None:
                    tail = (self.dir / "logs" / f"{name}.log").read_text(errors="replace")[-3000:]
                    raise ControlPlaneError(f"{name} exited with {proc.returncode}:\n{tail}")
            try:
                code, body = self.request("/readyz")
                if code == 200:
                    return
                last = f"{code} {body[-300:]!r}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise ControlPlaneError(f"kube-apiserver not ready after {timeout:.0f}s: {last}")

    def stop(self) -> None:
        """SIGTERM in reverse start order, SIGKILL after 10 s; the etcd data on tmpfs goes too."""
        for name, proc in reversed(self._procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop on SIGTERM; killing it", name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self._procs.clear()
        shutil.rmtree(self.etcd_dir, ignore_errors=True)

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self._procs if proc.poll() is None}

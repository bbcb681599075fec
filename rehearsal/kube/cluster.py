"""The real control plane as the stack runs it: pod network, control plane, CRDs, node agent, a mirror.

``RealCluster(state_dir, port=...).start()`` leaves ``state_dir/kubeconfig`` (admin token, the stack's
CA) pointing at kube-apiserver; ``store`` is a watched cache of the objects the traffic plane and the
scrape-target sync read (``get``/``list``/``subscribe``); ``stop()`` stops the
node agent (and so every pod), the control plane and removes the pod network.
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

from rehearsal.kube.api import Api, ApiMirror
from rehearsal.kube.binaries import KubeBinaries, locate
from rehearsal.kube.controlplane import ControlPlane
from rehearsal.kube.network import PodNetwork
from rehearsal.kube.node_agent import NODE_NAME, NodeAgent

log = logging.getLogger(__name__)

# What the stack's own parts read through the mirror: the traffic plane's routing objects and the pods
# the scrape-target sync turns into Prometheus targets.
MIRRORED = ("pods", "services", "endpointslices", "httproutes.gateway.networking.k8s.io",
            "ingresses.networking.k8s.io", "routes.route.openshift.io")


class RealCluster:
    def __init__(self, state_dir: Path, *, port: int = 0, relay_ports: tuple[int, ...] = (),
                 binaries: KubeBinaries | None = None, runtime_options: dict | None = None):
        """``runtime_options`` go to the node agent's ProcessRuntime (e.g. ``backoff_base``,
        ``backoff_cap``, ``image_map``); None keeps the runtime's defaults."""
        self.state_dir = Path(state_dir)
        self.port = port
        self.relay_ports = relay_ports
        self.runtime_options = dict(runtime_options or {})
        self.bin = (binaries or locate()).require()
        self.network: PodNetwork | None = None
        self.control_plane: ControlPlane | None = None
        self.agent: NodeAgent | None = None
        self.store: ApiMirror | None = None
        self.kubeconfig = self.state_dir / "kubeconfig"
        self.timings: dict[str, float] = {}

    @property
    def url(self) -> str:
        return self.control_plane.url

    @property
    def kubectl(self) -> str:
        return self.bin.kubectl

    def start(self) -> RealCluster:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _timed(self, name: str, t0: float) -> float:
        now = time.monotonic()
        self.timings[name] = round(now - t0, 2)
        return now

    def _start(self) -> None:
        t = time.monotonic()
        self.network = PodNetwork(self.state_dir).create()
        t = self._timed("network", t)
        self.control_plane = ControlPlane(self.state_dir, port=self.port, advertise_address=self.network.gateway,
                                          node_name=NODE_NAME, binaries=self.bin).start()
        t = self._timed("control_plane", t)
        self.install_crds()
        t = self._timed("crds", t)
        ca = self.control_plane.ca
        serving = ca.issue("kubelet", NODE_NAME, server=True, dns=(NODE_NAME,), ips=(self.network.gateway,))
        self.agent = NodeAgent(self.state_dir, self.control_plane.kubeconfig_for("node"), self.network,
                               ca_path=ca.cert_path, serving_cert=serving, relay_ports=self.relay_ports,
                               kubelet_version=self.bin.kubernetes_version,
                               runtime_options=self.runtime_options).start()
        t = self._timed("node_agent", t)
        self.store = ApiMirror(Api(self.kubeconfig), MIRRORED).start()
        self._wait_node_schedulable()
        self._timed("node_ready", t)
        log.info("real control plane up: %s", self.timings)

    def kubectl_run(self, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
        proc = subprocess.run([self.bin.kubectl, "--kubeconfig", str(self.kubeconfig), *args], input=stdin,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def install_crds(self) -> None:
        """Gateway API standard CRDs and the OpenShift Route CRD, server-side (HTTPRoute's CRD is too
        large for the last-applied annotation of a client-side apply), then wait until Established."""
        files = sorted(self.bin.crd_dir.glob("*.yaml"))
        args = ["apply", "--server-side", "--field-manager=rehearsal-stack", "--force-conflicts"]
        for f in files:
            args += ["-f", str(f)]
        self.kubectl_run(*args, timeout=120)
        self.kubectl_run("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s", timeout=90)

    def _wait_node_schedulable(self, timeout: float = 40) -> None:
        """Until the node-lifecycle controller has lifted the not-ready taint (pods would stay Pending)."""
        api = self.store.api
        deadline = time.monotonic() + timeout
        taints = None
        while time.monotonic() < deadline:
            node = api.get(f"/api/v1/nodes/{NODE_NAME}")
            taints = [t for t in (node.get("spec") or {}).get("taints") or []
                      if t.get("key", "").startswith("node.kubernetes.io/")]
            if not taints:
                return
            time.sleep(0.2)
        raise RuntimeError(f"node {NODE_NAME} still tainted after {timeout:.0f}s: {taints}")

    def stop(self) -> None:
        if self.store is not None:
            self.store.stop()
        if self.agent is not None:
            try:
                self.agent.stop()
            except Exception:
                log.exception("stopping the node agent failed")
        if self.control_plane is not None:
            self.control_plane.stop()
        if self.network is not None:
            self.network.destroy()

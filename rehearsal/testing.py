"""One private rehearsal stack for a test session or a bench script, driven through the real CLI.

    with StackRun(apps=False) as stack:            # `python -m rehearsal up --no-apps` in a temp dir
        stack.kubectl("apply", "-f", "-", input=manifest_yaml)
        stack.promql('sum(rate(http_requests_total[10s]))')
    # `down` has run; stack.leftovers lists any process or port it left behind (there should be none)

What counts as left behind: every process whose command line, environment, working dir or open files
mention the state dir, and their descendants; the stack's ports, and port 8080 on any pod address in
``stack.pod_ips`` (callers add the addresses of the pods they saw), still listening.

The stack gets a fresh state dir under /tmp (the ``postgres`` OS user must be able to traverse it,
which a pytest tmp_path, mode 0700, is not) and free loopback ports through the REHEARSAL_*_PORT
variables, so a developer's own stack on the default ports is never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
PORT_NAMES = ("KUBE", "INGRESS", "PROMETHEUS", "POSTGRES", "WEBHOOK", "REDIS", "REGISTRY")
# Extra vars for tests that run the launch plans: they check what a launch does, not how long it waits, so
# holds of seconds instead of the rehearsal's 1/20 of production (the first still outlasts the 15 s gate
# window, as in production).
SHORT_HOLDS = {"launch_hold_first_step": "20s", "launch_hold_step": "5s", "launch_hold_full": "10s"}


class StackError(RuntimeError):
    """The stack did not come up, or a command against it failed; the message says which."""


def free_ports(n: int) -> list[int]:
    """n distinct loopback ports free right now (all sockets held open until every port is chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def parse_env_file(text: str) -> dict[str, str]:
    """The variables of the stack's env file (``export NAME=<shell-quoted value>`` lines)."""
    env = {}
    for line in text.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


def listening_sockets() -> set[tuple[str, int]]:
    """(ip, port) of every IPv4 TCP socket in LISTEN state on this machine."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A":  # TCP_LISTEN
            ip_hex, port_hex = fields[1].split(":")
            found.add((socket.inet_ntoa(bytes.fromhex(ip_hex)[::-1]), int(port_hex, 16)))
    return found


def _cmdline(pid: int) -> str:
    return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def _mentions(pid: int, marker: str) -> bool:
    """Whether the process's command line, environment, working dir or open files mention ``marker``."""
    proc = Path("/proc") / str(pid)
    texts = [_cmdline(pid), (proc / "environ").read_bytes().replace(b"\0", b" ").decode(errors="replace"),
             os.readlink(proc / "cwd")]
    texts += [os.readlink(fd) for fd in (proc / "fd").iterdir()]
    return any(marker in t for t in texts)


def stack_pids(state_dir: Path, roots: set[int] | frozenset[int] = frozenset()) -> set[int]:
    """``roots``, every process (other than this one) that mentions the state dir (pods log there,
    PostgreSQL and nginx keep their files there), and all their descendants, as far as they still run."""
    parents: dict[int, int] = {}
    found = set(roots)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        pid = int(proc.name)
        try:
            parents[pid] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if _mentions(pid, str(state_dir)):
                found.add(pid)
        except (OSError, IndexError, ValueError):  # exited meanwhile, or not ours to read
            continue
    frontier = list(found)
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in found]
        found.update(children)
        frontier.extend(children)
    return {pid for pid in found if (Path("/proc") / str(pid)).exists()}


def processes_referring_to(path: Path) -> list[str]:
    """``pid: command line`` of each process :func:`stack_pids` finds for ``path``."""
    found = []
    for pid in sorted(stack_pids(path)):
        try:
            found.append(f"{pid}: {_cmdline(pid)[:150]}")
        except OSError:  # exited meanwhile
            continue
    return found


def network_leftovers(state_dir: Path) -> list[str]:
    """The real control plane's network namespaces, veths, bridge and etcd tmpfs dir for ``state_dir``."""
    from rehearsal.kube.controlplane import TMPFS
    from rehearsal.kube.network import leftovers, stack_tag

    tag = stack_tag(state_dir)
    etcd = TMPFS / f"greenlang-etcd-{tag}"
    return leftovers(tag) + ([f"etcd data {etcd}"] if etcd.exists() else [])


class StackRun:
    """A rehearsal stack of its own: ``up()`` / ``down()``, its env file, and kubectl / PromQL helpers."""

    kubectl_timeout: float = 120  # seconds one kubectl call may take unless the caller says otherwise

    def __init__(self, *, apps: bool = True, prefix: str = "greenlang-stack-", up_timeout: float = 300):
        self.apps = apps
        self.prefix = prefix
        self.up_timeout = up_timeout
        self.state_dir: Path | None = None
        self.ports: dict[str, int] = {}
        self.env: dict[str, str] = {}
        self.pod_ips: set[str] = set()  # pod addresses seen; `down` checks that none still listens on 8080
        self.up_seconds = 0.0
        self.down_seconds = 0.0
        self.down_result: subprocess.CompletedProcess | None = None
        self.left_processes: list[str] = []
        self.left_sockets: set[tuple[str, int]] = set()
        self.leftovers: list[str] = []

    # ---- what tests and scripts use ------------------------------------------------------------
    @property
    def kubeconfig(self) -> str:
        return self.env["KUBECONFIG"]

    @property
    def ingress_url(self) -> str:
        return self.env["INGRESS_URL"]

    @property
    def prometheus_url(self) -> str:
        return self.env["PROMETHEUS_URL"]

    def kubectl(self, *args: str, input: str | None = None, timeout: float | None = None) -> str:  # noqa: A002
        """Run the real kubectl against this stack; returns stdout, raises StackError on failure."""
        # A private discovery cache: an earlier stack may have used the same port with other resources.
        from rehearsal.kube.stack_part import kubectl_for

        cmd = [kubectl_for(self.state_dir), "--kubeconfig", self.kubeconfig, "--cache-dir",
               str(self.state_dir / "kubectl-cache"), *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True,
                              timeout=self.kubectl_timeout if timeout is None else timeout, check=False)
        if proc.returncode != 0:
            raise StackError(f"kubectl {' '.join(args)} failed (rc={proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def kubectl_json(self, *args: str) -> dict:
        """``kubectl get <args> -o json``, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def promql(self, query: str, url: str | None = None) -> float | None:
        """The single value of an instant query (None when it returns no series)."""
        data = urllib.parse.urlencode({"query": query}).encode()
        with urllib.request.urlopen((url or self.prometheus_url) + "/api/v1/query", data=data, timeout=5) as resp:
            result = json.load(resp)["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def daemon_pid(self) -> int | None:
        """The pid of the stack's daemon (API server, controllers, kubelet, ...), None when it has none."""
        try:
            return int((self.state_dir / "stack.pid").read_text())
        except (OSError, ValueError):
            return None

    def sourced_env(self) -> dict[str, str]:
        """Source the env file in a clean bash, as a user would, and return what it exports."""
        proc = subprocess.run(["bash", "-c", 'set -eu; . "$1"; env -0', "_", str(self.state_dir / "env")],
                              env={"PATH": os.environ["PATH"]}, capture_output=True, timeout=30, check=True)
        pairs = (item.split("=", 1) for item in proc.stdout.decode().split("\0") if "=" in item)
        return {k: v for k, v in pairs if k not in ("PATH", "PWD", "SHLVL", "_")}

    # ---- life cycle ------------------------------------------------------------------------------
    def rehearsal(self, command: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """``python -m rehearsal <command>`` on this stack's state dir and ports (``up`` without apps if so)."""
        env = {**os.environ, **{f"REHEARSAL_{name}_PORT": str(port) for name, port in self.ports.items()}}
        env.pop("KUBECONFIG", None)
        cmd = [sys.executable, "-m", "rehearsal", command, "--state-dir", str(self.state_dir)]
        if command == "up" and not self.apps:
            cmd.append("--no-apps")
        return subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                              check=False)

    def prepare(self) -> StackRun:
        """Choose the state dir and the ports (``up`` does it when it has not been done)."""
        self.state_dir = Path(tempfile.mkdtemp(prefix=self.prefix, dir="/tmp"))
        self.state_dir.chmod(0o755)  # PostgreSQL runs as its own OS user and must reach its data dir in here
        self.ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
        return self

    def up(self) -> StackRun:
        if self.state_dir is None:
            self.prepare()
        started = time.monotonic()
        proc = self.rehearsal("up", self.up_timeout + 30)
        self.up_seconds = time.monotonic() - started
        if proc.returncode != 0:
            log = self.state_dir / "stack.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else ""
            self.down()
            raise StackError(f"`rehearsal up` failed (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
                             + (f"\nlast lines of stack.log:\n{tail}" if tail else ""))
        self.env = parse_env_file((self.state_dir / "env").read_text())
        return self

    def down(self, settle: float = 15) -> list[str]:
        """Stop the stack and remove its state dir; returns what was left running (should be empty).

        Also kept apart: ``down_result`` (the CLI's CompletedProcess), ``left_processes`` and
        ``left_sockets``; ``leftovers`` is the returned list.
        """
        if self.state_dir is None:
            return []
        started = time.monotonic()
        self.down_result = proc = self.rehearsal("down", 180)
        self.down_seconds = time.monotonic() - started
        deadline = time.monotonic() + settle
        # Processes killed by `down` may take a moment to disappear from /proc; a socket closes with its process.
        processes = processes_referring_to(self.state_dir)
        while processes and time.monotonic() < deadline:
            time.sleep(0.2)
            processes = processes_referring_to(self.state_dir)
        ports = set(self.ports.values())
        sockets = {(ip, port) for ip, port in listening_sockets()
                   if port in ports or (ip in self.pod_ips and port == 8080)}
        left = processes + [f"{ip}:{port} still listening" for ip, port in sorted(sockets)]
        left += [f"{name} still exists" for name in network_leftovers(self.state_dir)]
        if proc.returncode != 0:
            left.append(f"`rehearsal down` failed (rc={proc.returncode}): {proc.stdout}{proc.stderr}")
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self.state_dir, self.left_processes, self.left_sockets, self.leftovers = None, processes, sockets, left
        return left

    def __enter__(self) -> StackRun:
        return self.up()

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(Exception):
            self.down()

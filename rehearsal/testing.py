"""One private rehearsal stack for a test session or a bench script, driven through the real CLI.

    with StackRun(apps=False) as stack:            # `python -m rehearsal up --no-apps` in a temp dir
        stack.kubectl("apply", "-f", "-", input=manifest_yaml)
        stack.promql('sum(rate(http_requests_total[10s]))')
    # `down` has run; stack.leftovers lists any process or port it left behind (there should be none)

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
PORT_NAMES = ("KUBE", "INGRESS", "PROMETHEUS", "POSTGRES", "WEBHOOK")


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


def listening_ports() -> set[int]:
    """Ports with an IPv4 TCP socket in LISTEN state on this machine."""
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A":  # TCP_LISTEN
            ports.add(int(fields[1].split(":")[1], 16))
    return ports


def processes_referring_to(path: Path) -> list[str]:
    """Processes (other than this one) whose command line, working dir or open files mention ``path``."""
    marker = str(path)
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            texts = [cmdline, os.readlink(proc / "cwd")]
            texts += [os.readlink(fd) for fd in (proc / "fd").iterdir()]
        except OSError:  # exited meanwhile, or not ours to read
            continue
        if any(marker in t for t in texts):
            found.append(f"{proc.name}: {cmdline[:150]}")
    return found


class StackRun:
    """A rehearsal stack of its own: ``up()`` / ``down()``, its env file, and kubectl / PromQL helpers."""

    def __init__(self, *, apps: bool = True, prefix: str = "greenlang-stack-", up_timeout: float = 300):
        self.apps = apps
        self.prefix = prefix
        self.up_timeout = up_timeout
        self.state_dir: Path | None = None
        self.ports: dict[str, int] = {}
        self.env: dict[str, str] = {}
        self.up_seconds = 0.0
        self.down_seconds = 0.0
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

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 120) -> str:  # noqa: A002
        """Run the real kubectl against this stack; returns stdout, raises StackError on failure."""
        # A private discovery cache: an earlier emulator may have used the same port with other resources.
        cmd = [KUBECTL, "--kubeconfig", self.kubeconfig, "--cache-dir", str(self.state_dir / "kubectl-cache"),
               *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False)
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

    # ---- life cycle ------------------------------------------------------------------------------
    def _cli(self, command: str, timeout: float) -> subprocess.CompletedProcess:
        env = {**os.environ, **{f"REHEARSAL_{name}_PORT": str(port) for name, port in self.ports.items()}}
        env.pop("KUBECONFIG", None)
        cmd = [sys.executable, "-m", "rehearsal", command, "--state-dir", str(self.state_dir)]
        if command == "up" and not self.apps:
            cmd.append("--no-apps")
        return subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                              check=False)

    def up(self) -> StackRun:
        self.state_dir = Path(tempfile.mkdtemp(prefix=self.prefix, dir="/tmp"))
        self.state_dir.chmod(0o755)  # PostgreSQL runs as its own OS user and must reach its data dir in here
        self.ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
        started = time.monotonic()
        proc = self._cli("up", self.up_timeout + 30)
        self.up_seconds = time.monotonic() - started
        if proc.returncode != 0:
            self.down()
            raise StackError(f"`rehearsal up` failed (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        self.env = parse_env_file((self.state_dir / "env").read_text())
        return self

    def down(self, settle: float = 15) -> list[str]:
        """Stop the stack and remove its state dir; returns what was left running (should be empty)."""
        if self.state_dir is None:
            return []
        started = time.monotonic()
        proc = self._cli("down", 180)
        self.down_seconds = time.monotonic() - started
        deadline = time.monotonic() + settle
        while True:  # processes killed by `down` may take a moment to disappear from /proc
            left = processes_referring_to(self.state_dir)
            left += [f"port {p} still listening" for p in sorted(set(self.ports.values()) & listening_ports())]
            if not left or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        if proc.returncode != 0:
            left.append(f"`rehearsal down` failed (rc={proc.returncode}): {proc.stdout}{proc.stderr}")
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self.state_dir, self.leftovers = None, left
        return left

    def __enter__(self) -> StackRun:
        return self.up()

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(Exception):
            self.down()

"""Start and stop one demo app process (for tests, benches and scripts).

    with DemoAppProcess("vcci", "v2", env={"FAULT_ERROR_RATIO": "0.2"}) as app:
        requests.get(app.url + "/health/ready")

Each instance gets its own loopback address and a free port unless given, so parallel
tests never collide with each other or with the rehearsal stack.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_loopback_address() -> tuple[str, int]:
    """A random 127.x.y.z address (outside 127.0.0.0/16) and a port free on it right now."""
    host = f"127.{random.randint(2, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    with socket.socket() as s:
        s.bind((host, 0))
        return host, s.getsockname()[1]


class DemoAppProcess:
    def __init__(self, app: str, version: str = "v1", *, host: str | None = None, port: int | None = None,
                 env: dict | None = None, python: str = sys.executable):
        if host is None or port is None:
            host, port = free_loopback_address()
        self.app, self.version, self.host, self.port = app, version, host, port
        self.env = {"APP_NAME": app, "APP_VERSION": version, "LISTEN_HOST": host, "PORT": str(port),
                    "SHUTDOWN_DELAY_S": "0", **(env or {})}
        self.python = python
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, wait: str = "/health/live", timeout: float = 10) -> DemoAppProcess:
        """Start and wait until ``wait`` answers (any HTTP status counts as listening)."""
        env = {**os.environ, **self.env, "PYTHONPATH": str(REPO_ROOT)}
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process; a file never blocks it
        self.proc = subprocess.Popen([self.python, "-m", "rehearsal.apps.demo_app"], env=env, cwd=REPO_ROOT,
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"demo app exited with {self.proc.returncode}: {self.output}")
            try:
                urllib.request.urlopen(self.url + wait, timeout=1).close()
                return self
            except urllib.error.HTTPError:
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"demo app not listening on {self.url} after {timeout}s")

    def terminate(self) -> None:
        """Send SIGTERM (graceful drain) without waiting."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.proc is None:
            return None
        self.terminate()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(5)
        return code

    @property
    def output(self) -> str:
        """What the process wrote to stdout and stderr so far."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def __enter__(self) -> DemoAppProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

"""Runs one real nginx and keeps its configuration in step with the cluster's routing objects.

Like ingress-nginx, it watches HTTPRoutes, Ingresses, Routes, Services and Endpoints, renders a new
configuration after a short debounce, and reloads nginx (SIGHUP: new workers take new connections, old
workers finish their in-flight requests) only when the rendered text changed.
"""

from __future__ import annotations

import contextlib
import grp
import http.client
import logging
import os
import pwd
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from rehearsal.traffic.render import RESOURCES, config_hash, render_config

log = logging.getLogger(__name__)

NGINX = "/usr/sbin/nginx"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class TrafficPlaneError(RuntimeError):
    pass


class TrafficPlane:
    """nginx on ``host:port`` routing by Host header to the pods behind the cluster's routes."""

    def __init__(self, state_dir: str | os.PathLike, store, port: int = 0, *, host: str = "127.0.0.1",
                 debounce: float = 0.15, nginx: str = NGINX, client_keepalive: str = "0"):
        self.state_dir = Path(state_dir).resolve()
        self.store = store
        self.host = host
        self.port = port or free_port(host)
        self.debounce = debounce
        self.nginx = nginx
        self.client_keepalive = client_keepalive  # nginx keepalive_timeout for clients; "0": none (see render)
        self.conf_path = self.state_dir / "nginx.conf"
        self.reloads = 0
        self.current_hash = ""
        self._proc: subprocess.Popen | None = None
        self._changed = threading.Event()
        self._stopping = threading.Event()
        self._render_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- life cycle -------------------------------------------------------------------------------------

    def start(self) -> TrafficPlane:
        for sub in ("logs", "temp"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        config = self._render()
        self._check(config)
        self.conf_path.write_text(config)
        self.current_hash = config_hash(config)
        with open(self.state_dir / "logs" / "nginx.stderr", "ab") as err:
            self._proc = subprocess.Popen(
                [self.nginx, "-p", f"{self.state_dir}/", "-c", str(self.conf_path), "-e",
                 str(self.state_dir / "logs" / "error.log"), "-g", "daemon off; master_process on;"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        try:
            self._wait_serving(self.current_hash, timeout=10)
        except TrafficPlaneError:
            self.stop()
            raise
        self.store.subscribe(self._on_event)
        self._thread = threading.Thread(target=self._loop, name="traffic-plane", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._changed.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        proc, self._proc = self._proc, None
        if proc is None:
            return
        # SIGQUIT: graceful shutdown; then make sure the whole process group is gone.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGQUIT)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # workers still finishing requests

    def __enter__(self) -> TrafficPlane:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- syncing ---------------------------------------------------------------------------------------------

    def sync(self, timeout: float = 10.0) -> bool:
        """Render now and, if the configuration changed, reload and wait until nginx serves it."""
        with self._render_lock:
            config = self._render()
            new_hash = config_hash(config)
            if new_hash == self.current_hash:
                return False
            self._check(config)
            tmp = self.conf_path.with_suffix(".conf.tmp")
            tmp.write_text(config)
            tmp.replace(self.conf_path)
            if self._proc is None or self._proc.poll() is not None:
                raise TrafficPlaneError("nginx is not running")
            old_workers = self._workers()
            self._proc.send_signal(signal.SIGHUP)
            self.reloads += 1
            self.current_hash = new_hash
            self._wait_serving(new_hash, timeout=timeout)
            self._wait_old_workers_quiet(old_workers, timeout=timeout)
            return True

    def _workers(self) -> list[int]:
        if self._proc is None:
            return []
        pid = self._proc.pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    @staticmethod
    def _wait_old_workers_quiet(pids: list[int], timeout: float) -> None:
        """Wait until each old worker has exited or stopped accepting ("is shutting down" in its title).

        A new configuration answering /healthz does not mean the old workers have processed their QUIT
        yet; until they have, they still accept connections and serve them with the old routing.
        """
        deadline = time.monotonic() + timeout
        for pid in pids:
            while time.monotonic() < deadline:
                try:
                    title = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    break  # exited
                if not title or b"shutting down" in title or b"worker" not in title:
                    break
                time.sleep(0.01)

    def served_hash(self) -> str:
        """The configuration hash nginx answers /healthz with on a new connection ("" if unreachable)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            resp.read()
            return resp.getheader("X-Config-Hash", "") if resp.status == 200 else ""
        except OSError:
            return ""
        finally:
            conn.close()

    def _on_event(self, event) -> None:
        # Called under the store's lock: only flag the change.
        if event.resource in RESOURCES and not self._stopping.is_set():
            self._changed.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            if not self._changed.wait(timeout=1.0):
                continue
            # Debounce: a rollout changes many objects in a burst; one reload covers them all.
            time.sleep(self.debounce)
            self._changed.clear()
            if self._stopping.is_set():
                return
            try:
                self.sync()
            except Exception:  # keep the last good configuration and try on the next change
                log.exception("traffic plane sync failed")

    def _render(self) -> str:
        served = getattr(self.store, "resources", RESOURCES)  # the API mirror lists only what it watches
        objects = {r: self.store.list(r)[0] for r in RESOURCES if r in served}
        user = None
        if os.geteuid() == 0:  # as root, nginx workers would drop to "nobody" and lose the state dir
            user = f"{pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name}"
        return render_config(objects, prefix=str(self.state_dir), listen=f"{self.host}:{self.port}", user=user,
                             client_keepalive=self.client_keepalive)

    def _check(self, config: str) -> None:
        test = self.state_dir / "nginx.test.conf"
        test.write_text(config)
        res = subprocess.run([self.nginx, "-t", "-q", "-p", f"{self.state_dir}/", "-c", str(test), "-e",
                              str(self.state_dir / "logs" / "error.log")],
                             capture_output=True, text=True, timeout=30, check=False)
        if res.returncode != 0:
            raise TrafficPlaneError(f"rendered nginx configuration is invalid: {res.stderr.strip()}")

    def _wait_serving(self, wanted: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                err = (self.state_dir / "logs" / "nginx.stderr").read_text(errors="replace")[-2000:]
                raise TrafficPlaneError(f"nginx exited: {err.strip()}")
            if self.served_hash() == wanted:
                return
            time.sleep(0.02)
        raise TrafficPlaneError(f"nginx did not serve configuration {wanted} within {timeout}s")

"""A real Prometheus (Debian's /usr/bin/prometheus) scraping a small controllable exporter.

``Exporter`` serves ``/metrics`` in the Prometheus text format. Each "app" it knows
simulates steady traffic: on every scrape its request counters grow by
``rps * elapsed``, a share ``error_ratio`` of it with code 500; its latency gauge
is whatever the test set. ``PrometheusServer`` runs Prometheus on a free loopback
port with a temporary config and TSDB, scraping the exporter every second.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _App:
    def __init__(self, rps: float, error_ratio: float, latency: float):
        self.rps, self.error_ratio, self.latency = rps, error_ratio, latency
        self.ok = 0.0
        self.errors = 0.0
        self.last = time.monotonic()

    def advance(self) -> None:
        now = time.monotonic()
        n = self.rps * (now - self.last)
        self.last = now
        self.errors += n * self.error_ratio
        self.ok += n * (1 - self.error_ratio)


class Exporter:
    def __init__(self):
        self.apps: dict[str, _App] = {}
        self.lock = threading.Lock()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = exporter.render().encode() if self.path.startswith("/metrics") else b"not found\n"
                self.send_response(200 if self.path.startswith("/metrics") else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True)

    def start(self) -> Exporter:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def set(self, app: str, error_ratio: float = 0.0, rps: float = 50.0, latency: float = 0.1) -> None:
        with self.lock:
            if app in self.apps:
                self.apps[app].advance()
                self.apps[app].error_ratio, self.apps[app].rps, self.apps[app].latency = error_ratio, rps, latency
            else:
                self.apps[app] = _App(rps, error_ratio, latency)

    def render(self) -> str:
        lines = ["# TYPE demo_requests_total counter", "# TYPE demo_latency_p95_seconds gauge"]
        with self.lock:
            for name, app in sorted(self.apps.items()):
                app.advance()
                lines.append(f'demo_requests_total{{app="{name}",code="200"}} {app.ok:.3f}')
                lines.append(f'demo_requests_total{{app="{name}",code="500"}} {app.errors:.3f}')
                lines.append(f'demo_latency_p95_seconds{{app="{name}"}} {app.latency}')
        return "\n".join(lines) + "\n"


class PrometheusServer:
    def __init__(self, workdir: str, targets: list[str], scrape_interval: str = "1s"):
        self.workdir = workdir
        self.targets = targets
        self.scrape_interval = scrape_interval
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        os.makedirs(os.path.join(self.workdir, "data"), exist_ok=True)
        config = os.path.join(self.workdir, "prometheus.yml")
        targets = ", ".join(f"'{t}'" for t in self.targets)
        with open(config, "w") as fh:
            every = self.scrape_interval
            fh.write(f"global:\n  scrape_interval: {every}\n  evaluation_interval: {every}\n"
                     f"scrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: [{targets}]\n")
        self.log = open(os.path.join(self.workdir, "prometheus.log"), "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(self.workdir, "data"),
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}: see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"prometheus not ready after {timeout}s")

    def query(self, promql: str) -> list:
        data = urllib.parse.urlencode({"query": promql}).encode()


        with urllib.request.urlopen(self.url + "/api/v1/query", data=data, timeout=5) as resp:
            return json.load(resp)["data"]["result"]

    def wait_for(self, promql: str, timeout: float = 30.0) -> list:
        """Until the query returns a non-empty result (scrapes take a few seconds to form a rate)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.query(promql)
            if result and result[0]["value"][1] not in ("NaN",):
                return result
            time.sleep(0.5)
        raise RuntimeError(f"no data for {promql!r} after {timeout}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if getattr(self, "log", None):
            self.log.close()

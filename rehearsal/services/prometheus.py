"""A real Prometheus (the Debian package's /usr/bin/prometheus) for the rehearsal stack.

Typical use::

    prom = PrometheusServer("/tmp/x/prometheus", 19090).start()   # waits for /-/ready
    prom.set_targets([{"targets": ["127.1.0.5:8080"],
                       "labels": {"app": "vcci", "version": "v1", "pod": "vcci-v1-abc", "namespace": "vcci"}}])
    prom.query('sum(rate(http_requests_total{app="vcci"}[30s]))')
    prom.stop()

Targets come from a file_sd JSON file that Prometheus re-reads every second, so the
pod runtime only rewrites that file (atomically) when pods come and go. The config is
written as JSON, which is valid YAML. ``honor_labels`` keeps the app's own ``app`` and
``version`` labels: they name the binary that answered, which is what gates compare.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

PROMETHEUS_BIN = os.environ.get("REHEARSAL_PROMETHEUS_BIN", "/usr/bin/prometheus")


class PrometheusError(RuntimeError):
    """Prometheus did not start, or a query failed; the message says why."""


class PrometheusServer:
    def __init__(self, data_dir: str | os.PathLike, port: int, scrape_interval: str = "1s",
                 evaluation_interval: str = "1s", *, host: str = "127.0.0.1", retention: str = "2h",
                 rule_files: list[str] | None = None, binary: str = PROMETHEUS_BIN):
        self.data_dir = Path(data_dir).resolve()
        self.port, self.host = int(port), host
        self.scrape_interval, self.evaluation_interval = scrape_interval, evaluation_interval
        self.retention, self.rule_files, self.binary = retention, list(rule_files or []), binary
        self._proc: subprocess.Popen | None = None

    # ---- paths -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "prometheus.yml"

    @property
    def targets_file(self) -> Path:
        return self.data_dir / "targets" / "pods.json"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "prometheus.log"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "prometheus.pid"

    # ---- configuration -----------------------------------------------------------------------
    def config(self) -> dict:
        return {
            "global": {"scrape_interval": self.scrape_interval, "scrape_timeout": self.scrape_interval,
                       "evaluation_interval": self.evaluation_interval},
            "rule_files": self.rule_files,
            "scrape_configs": [{
                "job_name": "rehearsal-pods",
                "honor_labels": True,
                "metrics_path": "/metrics",
                "file_sd_configs": [{"files": [str(self.targets_file)], "refresh_interval": "1s"}],
            }],
        }

    def write_config(self) -> None:
        self.targets_file.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.config_file, json.dumps(self.config(), indent=2))
        if not self.targets_file.exists():
            self.set_targets([])

    def set_targets(self, groups: list[dict]) -> None:
        """Replace the scraped targets: ``[{"targets": ["ip:port"], "labels": {...}}, ...]``."""
        for i, group in enumerate(groups):
            if not isinstance(group.get("targets"), list) or not all(isinstance(t, str) for t in group["targets"]):
                raise ValueError(f"groups[{i}].targets: expected a list of 'host:port' strings")
            if not all(isinstance(v, str) for v in group.get("labels", {}).values()):
                raise ValueError(f"groups[{i}].labels: expected string values")
        self.targets_file.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.targets_file, json.dumps(groups, indent=2))

    def reload(self) -> None:
        """Re-read the config and rule files (POST /-/reload)."""
        self.write_config()
        _http("POST", f"{self.url}/-/reload", timeout=10)

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 30) -> PrometheusServer:
        if self.is_running():
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        argv = [self.binary, f"--config.file={self.config_file}", f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
                f"--storage.tsdb.retention.time={self.retention}", f"--web.listen-address={self.host}:{self.port}",
                "--web.enable-lifecycle", "--log.level=warn", "--query.lookback-delta=30s"]
        # One OS thread budget and an eager GC keep it near 60 MB next to a dozen app processes.
        env = {**os.environ, "GOMAXPROCS": "1", "GOGC": "50"}
        with open(self.log_file, "ab") as log:
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                          start_new_session=True)
        self.pid_file.write_text(f"{self._proc.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self._proc.returncode}: {self._log_tail()}")
            with contextlib.suppress(OSError):
                if _http("GET", f"{self.url}/-/ready", timeout=1)[0] == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise PrometheusError(f"prometheus not ready on {self.url} after {timeout}s: {self._log_tail()}")

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; also stops one started by an earlier process."""
        pid = self._proc.pid if self._proc else _read_pid(self.pid_file)
        if pid and _is_our_prometheus(pid, self.config_file):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid, self._proc) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid, self._proc):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                while _alive(pid, self._proc) and time.monotonic() < deadline + 5:
                    time.sleep(0.05)
        self._proc = None
        self.pid_file.unlink(missing_ok=True)

    def is_running(self) -> bool:
        pid = self._proc.pid if self._proc else _read_pid(self.pid_file)
        return bool(pid) and _alive(pid, self._proc) and _is_our_prometheus(pid, self.config_file)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # ---- HTTP API helpers --------------------------------------------------------------------
    def api(self, path: str, params: dict | None = None) -> dict:
        url = f"{self.url}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        status, body = _http("GET", url, timeout=10)
        try:
            doc = json.loads(body)
        except ValueError:
            raise PrometheusError(f"GET {path}: HTTP {status}: {body[:200]!r}") from None
        if doc.get("status") != "success":
            raise PrometheusError(f"GET {path}: {doc.get('errorType')}: {doc.get('error')}")
        return doc["data"]

    def query(self, promql: str) -> list[dict]:
        """Instant query; returns the result list (``[{"metric": {...}, "value": [t, "v"]}, ...]``)."""
        data = self.api("/api/v1/query", {"query": promql})
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def query_value(self, promql: str) -> float | None:
        """The single number a query returns, or None when it returns no series (no data)."""
        result = self.query(promql)
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusError(f"{promql!r} returned {len(result)} series, expected one")
        return float(result[0]["value"][1])

    def targets(self) -> list[dict]:
        return self.api("/api/v1/targets", {"state": "active"})["activeTargets"]

    def wait_for_targets(self, count: int | None = None, timeout: float = 15) -> list[dict]:
        """Wait until every target of the last ``set_targets`` (at least ``count``) was scraped successfully."""
        try:
            expected = {t for group in json.loads(self.targets_file.read_text()) for t in group["targets"]}
        except (OSError, ValueError):
            expected = set()
        deadline = time.monotonic() + timeout
        up: list[dict] = []
        while time.monotonic() < deadline:
            up = [t for t in self.targets() if t["health"] == "up"]
            addresses = {t["discoveredLabels"].get("__address__") for t in up}
            if expected <= addresses and len(up) >= (count or 0):
                return [t for t in up if not expected or t["discoveredLabels"].get("__address__") in expected]
            time.sleep(0.2)
        raise PrometheusError(f"targets not all up after {timeout}s: expected {sorted(expected)} "
                              f"(at least {count or len(expected)}), up: {len(up)}")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _http(method: str, url: str, timeout: float) -> tuple[int, str]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int, proc: subprocess.Popen | None) -> bool:
    if proc is not None:
        return proc.poll() is None  # also reaps our child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_our_prometheus(pid: int, config_file: Path) -> bool:
    """Guard against a recycled pid: only signal the process running our config."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"--config.file={config_file}".encode() in cmdline

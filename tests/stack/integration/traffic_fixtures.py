"""Helpers for the traffic-plane and process-runtime integration tests.

``MiniCluster`` is the emulated cluster (``rehearsal.kubeapi.cluster.Cluster``: store, controllers, kubelet)
with a ``ProcessRuntime``, so the runtime and nginx are exercised against real objects and real processes.
``ProbeTarget`` is a loopback HTTP endpoint for a pod's ``httpGet`` probe that fails when the test says so
and records when each probe arrived.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from rehearsal.kubeapi.cluster import Cluster
from rehearsal.kubeapi.process_runtime import ProcessRuntime
from rehearsal.kubeapi.store import NotFound


def wait_until(predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.1, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


def pod_manifest(name: str, app: str, version: str, *, labels: dict | None = None, env: dict | None = None,
                 readiness: bool = True, liveness: bool = False, restart_policy: str = "Always",
                 command: list[str] | None = None, grace: int | None = None) -> dict:
    container = {"name": "app", "image": f"rehearsal/{app}:{version}",
                 "ports": [{"name": "http", "containerPort": 8080}],
                 "env": [{"name": k, "value": str(v)} for k, v in (env or {}).items()]}
    if readiness:
        # Fast, but tolerant of one slow answer on a busy machine (a lone timeout must not empty a Service).
        container["readinessProbe"] = {"httpGet": {"path": "/health/ready", "port": "http"},
                                       "periodSeconds": 0.2, "timeoutSeconds": 2, "failureThreshold": 3}
    if liveness:
        container["livenessProbe"] = {"httpGet": {"path": "/health/live", "port": "http"},
                                      "periodSeconds": 0.5, "failureThreshold": 2}
    if command:
        container["command"] = command
    spec = {"containers": [container], "restartPolicy": restart_policy}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": labels or {"app": app, "version": version}},
            "spec": spec}


def service_manifest(name: str, selector: dict, port: int = 80) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": port, "targetPort": "http"}]}}


def _is_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


class MiniCluster:
    """The emulated cluster (API store, controllers, kubelet) running pods as processes, plus test helpers."""

    def __init__(self, tmp_path, **runtime_kwargs):
        runtime_kwargs.setdefault("backoff_base", 0.5)
        runtime_kwargs.setdefault("backoff_cap", 4.0)
        self.runtime = ProcessRuntime(tmp_path / "pod-logs", **runtime_kwargs)
        self.cluster = Cluster(tmp_path / "cluster", runtime=self.runtime, resync_period=0.2)

    def __enter__(self) -> MiniCluster:
        self.cluster.start()
        self.store = self.cluster.store
        return self

    def __exit__(self, *exc) -> None:
        self.cluster.stop()

    # -- objects ---------------------------------------------------------------------------------------

    def create(self, resource: str, obj: dict) -> dict:
        obj.setdefault("metadata", {}).setdefault("namespace", "default")
        return self.store.create(resource, obj)

    def pod(self, name: str) -> dict:
        return self.store.get("pods", "default", name)

    def delete_pod(self, name: str, grace: int | None = None) -> None:
        pod = self.pod(name)
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
        self.store.mark_deleting("pods", "default", name, grace)

    def wait_ready(self, *names: str, timeout: float = 30.0) -> None:
        wait_until(lambda: all(_is_ready(self.pod(n)) for n in names), timeout, what=f"pods {names} ready")

    def ready_addresses(self, service: str) -> list[str]:
        try:
            ep = self.store.get("endpoints", "default", service)
        except NotFound:
            return []
        return sorted(a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or [])


class ProbeTarget:
    """What a pod's readiness probe asks (``httpGet.host``/``port``): 200, or 503 while the test makes it fail.

    Every probe is recorded as (time.monotonic(), status answered), so a test can tell how many probes a
    state change took and when the first one came.
    """

    def __init__(self) -> None:
        self.hits: list[tuple[float, int]] = []
        self.failing = False  # answer 503 until set back to False
        self.fail_next = 0  # answer 503 to that many probes, then 200 again
        self._lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                with target._lock:
                    status = 503 if target.failing or target.fail_next > 0 else 200
                    target.fail_next = max(0, target.fail_next - 1)
                    target.hits.append((time.monotonic(), status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # keep the test output readable
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> ProbeTarget:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def probe(self, **timing) -> dict:
        """A probe spec pointing here, with the given periodSeconds, failureThreshold, ... ."""
        port = self._server.server_address[1]
        return {"httpGet": {"host": "127.0.0.1", "port": port, "path": "/ready"}, "timeoutSeconds": 2, **timing}

    def count(self, status: int | None = None) -> int:
        with self._lock:
            return sum(1 for _, s in self.hits if status is None or s == status)

    def first_hit(self) -> float | None:
        with self._lock:
            return self.hits[0][0] if self.hits else None


# -- measuring traffic ----------------------------------------------------------------------------------------


def count_versions(url: str, host: str, n: int = 1000, path: str = "/health/live", workers: int = 8,
                   headers: dict | None = None) -> collections.Counter:
    """Send ``n`` GETs for ``host`` through ``url``; count responses by X-App-Version (or status on failure)."""
    counts: collections.Counter = collections.Counter()
    lock = threading.Lock()
    per_worker = [n // workers + (1 if i < n % workers else 0) for i in range(workers)]

    def work(k: int) -> None:
        with requests.Session() as s:
            for _ in range(k):
                try:
                    r = s.get(url + path, headers={"Host": host, **(headers or {})}, timeout=10)
                    key = r.headers.get("X-App-Version") if r.status_code < 400 else f"status {r.status_code}"
                except requests.RequestException as exc:
                    key = f"error {type(exc).__name__}"
                with lock:
                    counts[key] += 1

    threads = [threading.Thread(target=work, args=(k,)) for k in per_worker]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return counts

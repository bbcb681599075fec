"""Helpers for the traffic-plane and process-runtime integration tests.

``MiniCluster`` is the real control plane the stack runs (``rehearsal.kube.cluster.RealCluster``: etcd,
kube-apiserver, controller manager, scheduler) with the node agent, whose ``ProcessRuntime`` runs every
pod as local processes in a network namespace of its own; so the runtime and nginx are exercised against
real API objects, real controllers (Jobs, EndpointSlices) and real processes. ``MiniCluster.namespace()``
gives a :class:`Namespace` view (objects created, read and deleted through the API in one namespace) so
one cluster can serve a whole test module. ``ProbeTarget`` is an HTTP endpoint on the pod bridge's host
address for a pod's ``httpGet`` probe that fails when the test says so and records when each probe arrived.
"""

from __future__ import annotations

import collections
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from kubernetes.client.exceptions import ApiException

from rehearsal.kube.api import Api
from rehearsal.kube.cluster import RealCluster

# resource (as the tests and the traffic plane name it) -> API group/version prefix of its collection
API_PREFIXES = {
    "pods": "/api/v1", "services": "/api/v1", "secrets": "/api/v1", "configmaps": "/api/v1",
    "events": "/api/v1", "serviceaccounts": "/api/v1",
    "endpointslices": "/apis/discovery.k8s.io/v1",
    "jobs.batch": "/apis/batch/v1",
    "httproutes.gateway.networking.k8s.io": "/apis/gateway.networking.k8s.io/v1",
    "ingresses.networking.k8s.io": "/apis/networking.k8s.io/v1",
    "routes.route.openshift.io": "/apis/route.openshift.io/v1",
}


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
        # As fast as the API allows (whole seconds), and tolerant of one slow answer on a busy machine
        # (a lone timeout must not empty a Service).
        container["readinessProbe"] = {"httpGet": {"path": "/health/ready", "port": "http"},
                                       "periodSeconds": 1, "timeoutSeconds": 2, "failureThreshold": 3}
    if liveness:
        container["livenessProbe"] = {"httpGet": {"path": "/health/live", "port": "http"},
                                      "periodSeconds": 1, "failureThreshold": 2}
    if command:
        container["command"] = command
    spec = {"containers": [container], "restartPolicy": restart_policy}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": app, "version": version}},
            "spec": spec}


def service_manifest(name: str, selector: dict, port: int = 80) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": port, "targetPort": "http"}]}}


def is_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


class MiniCluster:
    """The real control plane and the node agent running pods as processes, plus test helpers.

    ``runtime_options`` go to the node agent's ProcessRuntime; the tests' defaults back off from 1 s
    (kube: 10 s) up to 8 s so crash loops are quick to watch.
    """

    def __init__(self, state_dir: Path, **runtime_options):
        runtime_options.setdefault("backoff_base", 1.0)
        runtime_options.setdefault("backoff_cap", 8.0)
        self.cluster = RealCluster(Path(state_dir), runtime_options=runtime_options)

    def __enter__(self) -> MiniCluster:
        self.cluster.start()
        self.api = Api(self.cluster.kubeconfig)
        self.store = self.cluster.store  # the watched cache the traffic plane reads
        self.runtime = self.cluster.agent.runtime
        self.network = self.cluster.network
        return self

    def __exit__(self, *exc) -> None:
        self.cluster.stop()

    def namespace(self, name: str | None = None) -> Namespace:
        """A fresh namespace, once its "default" ServiceAccount exists (pods are refused until then)."""
        ns = Namespace(self, name or f"t-{uuid.uuid4().hex[:8]}")
        self.api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                               "metadata": {"name": ns.name}})
        wait_until(lambda: ns.exists("serviceaccounts", "default"), timeout=30, what="the default ServiceAccount")
        return ns

    def delete_namespace(self, ns: Namespace) -> None:
        """Delete the namespace's pods at once (grace 0) and the namespace, without waiting for either."""
        for pod in ns.list("pods"):
            ns.delete("pods", pod["metadata"]["name"], grace=0)
        try:
            self.api.delete(f"/api/v1/namespaces/{ns.name}")
        except ApiException as exc:
            if exc.status != 404:
                raise


class Namespace:
    """One namespace of a MiniCluster: objects through the API, pod processes through the node agent."""

    def __init__(self, mc: MiniCluster, name: str):
        self.mc = mc
        self.name = name
        self.api = mc.api
        self.store = mc.store
        self.runtime = mc.runtime
        self.network = mc.network

    # -- objects ---------------------------------------------------------------------------------------

    def path(self, resource: str, name: str = "") -> str:
        plural = resource.split(".", 1)[0]
        return f"{API_PREFIXES[resource]}/namespaces/{self.name}/{plural}" + (f"/{name}" if name else "")

    def create(self, resource: str, obj: dict) -> dict:
        obj.setdefault("metadata", {})["namespace"] = self.name
        return self.api.create(self.path(resource), obj)

    def get(self, resource: str, name: str) -> dict:
        return self.api.get(self.path(resource, name))

    def exists(self, resource: str, name: str) -> bool:
        try:
            self.get(resource, name)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def list(self, resource: str, **params) -> list[dict]:
        return self.api.get(self.path(resource), **params).get("items") or []

    def replace(self, resource: str, obj: dict) -> dict:
        return self.api.put(self.path(resource, obj["metadata"]["name"]), obj)

    def delete(self, resource: str, name: str, grace: int | None = None) -> None:
        body = None if grace is None else {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": grace}
        try:
            self.api.delete(self.path(resource, name), body)
        except ApiException as exc:
            if exc.status != 404:
                raise

    # -- pods ------------------------------------------------------------------------------------------

    def pod(self, name: str) -> dict:
        return self.get("pods", name)

    def delete_pod(self, name: str, grace: int | None = None) -> None:
        """DELETE with ``gracePeriodSeconds`` (None: the pod's terminationGracePeriodSeconds)."""
        self.delete("pods", name, grace)

    def pid(self, name_or_pod: str | dict) -> int | None:
        """The pid of the pod's running container, from the node agent's runtime (None if not running)."""
        pod = self.pod(name_or_pod) if isinstance(name_or_pod, str) else name_or_pod
        return self.runtime.pid(pod)

    def wait_ready(self, *names: str, timeout: float = 30.0) -> None:
        wait_until(lambda: all(is_ready(self.pod(n)) for n in names), timeout, what=f"pods {names} ready")

    def events(self, involved: str) -> list[tuple[str, str]]:
        """(reason, message) of the Events about the object named ``involved``."""
        return [(e["reason"], e["message"]) for e in self.list("events")
                if e["involvedObject"]["name"] == involved]

    def endpoint_ips(self, service: str, *, cached: bool = False) -> tuple[list[str], list[str]]:
        """(ready, not ready) addresses in the Service's EndpointSlices, as the controller manager keeps them;
        ``cached``: as the watched cache (what the traffic plane renders from) has them."""
        if cached:
            slices = [sl for sl in self.store.list("endpointslices", self.name)[0]
                      if (sl["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == service]
        else:
            slices = self.list("endpointslices", labelSelector=f"kubernetes.io/service-name={service}")
        ready, not_ready = [], []
        for sl in slices:
            for ep in sl.get("endpoints") or []:
                (ready if (ep.get("conditions") or {}).get("ready") else not_ready).extend(ep["addresses"])
        return sorted(ready), sorted(not_ready)

    def ready_addresses(self, service: str, *, cached: bool = False) -> list[str]:
        return self.endpoint_ips(service, cached=cached)[0]

    def in_mirror(self, resource: str, name: str) -> bool:
        """Whether the cluster's watched cache (what the traffic plane renders from) has the object."""
        try:
            self.store.get(resource, self.name, name)
        except Exception:
            return False
        return True


class ProbeTarget:
    """What a pod's readiness probe asks (``httpGet.host``/``port``): 200, or 503 while the test makes it fail.

    It listens on ``host``: the pod bridge's host address (``network.gateway``), which the node agent's
    probes and the pods' own namespaces both reach. Every probe is recorded as (time.monotonic(), status
    answered), so a test can tell how many probes a state change took and when the first one came.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
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

        self._server = ThreadingHTTPServer((host, 0), Handler)
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
        return {"httpGet": {"host": self.host, "port": port, "path": "/ready"}, "timeoutSeconds": 2, **timing}

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

"""Raw-JSON access to kube-apiserver through the kubernetes Python client, and a watched cache.

The client's typed models would turn every object into Python classes and back; the stack's parts (the
traffic plane's renderer, the scrape-target sync, the node agent's pod runtime) work on the plain JSON
the API serves, so this goes through ``ApiClient.call_api`` (the client's auth, TLS and connection pool)
with ``_preload_content=False`` and parses the body itself.

:class:`ApiMirror` keeps a list+watch cache of some resources (an informer, in client-go's terms) and
offers the small read interface those parts use: ``list(resource)``, ``get(resource, namespace, name)``
and ``subscribe(callback)`` (callbacks get events with ``.resource``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)

# resource name (as the renderer and the runtime call it) -> collection path for all namespaces
PATHS = {
    "pods": "/api/v1/pods",
    "services": "/api/v1/services",
    "endpoints": "/api/v1/endpoints",
    "secrets": "/api/v1/secrets",
    "configmaps": "/api/v1/configmaps",
    "namespaces": "/api/v1/namespaces",
    "events": "/api/v1/events",
    "endpointslices": "/apis/discovery.k8s.io/v1/endpointslices",
    "httproutes.gateway.networking.k8s.io": "/apis/gateway.networking.k8s.io/v1/httproutes",
    "ingresses.networking.k8s.io": "/apis/networking.k8s.io/v1/ingresses",
    "routes.route.openshift.io": "/apis/route.openshift.io/v1/routes",
}
CLUSTER_SCOPED = {"namespaces"}


class NotFound(Exception):
    pass


def object_path(resource: str, namespace: str | None, name: str = "", sub: str = "") -> str:
    base = PATHS[resource]
    if resource not in CLUSTER_SCOPED and namespace:
        prefix, _, plural = base.rpartition("/")
        base = f"{prefix}/namespaces/{namespace}/{plural}"
    return base + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


class Api:
    """One kubeconfig's connection; methods return parsed JSON and raise ApiException on errors."""

    def __init__(self, kubeconfig: Path):
        self.client = k8s_config.new_client_from_config(config_file=str(kubeconfig))

    def _send(self, method: str, path: str, *, body=None, params: dict | None = None,
              content_type: str = "application/json", timeout=30):
        """One request through the client's connection pool and auth; the raw urllib3 response."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        method, url, headers, body, post = self.client.param_serialize(
            method, path, query_params=list((params or {}).items()), header_params=headers, body=body,
            auth_settings=["BearerToken"])
        resp = self.client.call_api(method, url, header_params=headers, body=body, post_params=post,
                                    _request_timeout=timeout)
        if not 200 <= resp.status <= 299:
            raise ApiException(status=resp.status, reason=resp.reason, body=resp.read())
        return resp

    def request(self, method: str, path: str, *, body=None, params: dict | None = None,
                content_type: str = "application/json", timeout: float = 30):
        data = self._send(method, path, body=body, params=params, content_type=content_type,
                          timeout=timeout).read()
        return json.loads(data) if data else None

    def get(self, path: str, **params):
        return self.request("GET", path, params=params)

    def create(self, path: str, body: dict):
        return self.request("POST", path, body=body)

    def patch(self, path: str, body: dict, kind: str = "merge"):
        types = {"merge": "application/merge-patch+json", "strategic": "application/strategic-merge-patch+json"}
        return self.request("PATCH", path, body=body, content_type=types[kind])

    def put(self, path: str, body: dict):
        return self.request("PUT", path, body=body)

    def delete(self, path: str, body: dict | None = None):
        return self.request("DELETE", path, body=body)

    def watch(self, path: str, resource_version: str, timeout_seconds: int = 60,
              **params) -> Iterator[dict]:
        """Watch events ({type, object}) from ``resource_version`` until the server ends the watch."""
        query = {"watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
                 "timeoutSeconds": str(timeout_seconds), **params}
        resp = self._send("GET", path, params=query, timeout=(10, timeout_seconds + 15)).response
        try:
            buf = b""
            for chunk in resp.stream(65536, decode_content=True):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            resp.release_conn()


class MirrorEvent:
    __slots__ = ("type", "resource", "object")

    def __init__(self, type_: str, resource: str, obj: dict):
        self.type, self.resource, self.object = type_, resource, obj


def _key(obj: dict) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""


class ApiMirror:
    """A list+watch cache of ``resources``; ``start`` returns once every list has been read once."""

    def __init__(self, api: Api, resources: tuple[str, ...], *, field_selectors: dict[str, str] | None = None):
        self.api = api
        self.resources = resources
        self.field_selectors = field_selectors or {}
        self._objects: dict[str, dict[tuple[str, str], dict]] = {r: {} for r in resources}
        self._rv: dict[str, str] = {}
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[MirrorEvent], None]] = []
        self._stopping = threading.Event()
        self._synced = {r: threading.Event() for r in resources}
        self._threads = [threading.Thread(target=self._run, args=(r,), name=f"mirror-{r}", daemon=True)
                         for r in resources]

    def start(self, timeout: float = 30) -> ApiMirror:
        for t in self._threads:
            t.start()
        deadline = time.monotonic() + timeout
        for r, ev in self._synced.items():
            if not ev.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"could not list {r} within {timeout:.0f}s")
        return self

    def stop(self) -> None:
        self._stopping.set()  # watch threads end at their next event or server timeout (daemon threads)

    def subscribe(self, callback: Callable[[MirrorEvent], None]) -> None:
        self._subscribers.append(callback)

    def list(self, resource: str, namespace: str | None = None) -> tuple[list[dict], str]:
        with self._lock:
            items = [o for (ns, _n), o in sorted(self._objects[resource].items()) if not namespace or ns == namespace]
            return [json.loads(json.dumps(o)) for o in items], self._rv.get(resource, "")

    def get(self, resource: str, namespace: str | None, name: str) -> dict:
        """From the cache for a mirrored resource, else straight from the API."""
        if resource in self._objects:
            with self._lock:
                obj = self._objects[resource].get((namespace or "", name))
            if obj is None:
                raise NotFound(f'{resource} "{name}" not found')
            return json.loads(json.dumps(obj))
        try:
            return self.api.get(object_path(resource, namespace, name))
        except ApiException as exc:
            if exc.status == 404:
                raise NotFound(f'{resource} "{name}" not found') from None
            raise

    def create(self, resource: str, obj: dict) -> dict:
        return self.api.create(object_path(resource, (obj.get("metadata") or {}).get("namespace")), obj)

    def _notify(self, event: MirrorEvent) -> None:
        for cb in list(self._subscribers):
            try:
                cb(event)
            except Exception:
                log.exception("mirror subscriber failed")

    def _relist(self, resource: str) -> str:
        params = {"fieldSelector": self.field_selectors[resource]} if resource in self.field_selectors else {}
        body = self.api.get(PATHS[resource], **params)
        fresh = {_key(o): o for o in body.get("items") or []}
        with self._lock:
            old = self._objects[resource]
            self._objects[resource] = fresh
            rv = body["metadata"]["resourceVersion"]
            self._rv[resource] = rv
        for k, o in fresh.items():
            if k not in old:
                self._notify(MirrorEvent("ADDED", resource, o))
            elif old[k].get("metadata", {}).get("resourceVersion") != o["metadata"].get("resourceVersion"):
                self._notify(MirrorEvent("MODIFIED", resource, o))
        for k, o in old.items():
            if k not in fresh:
                self._notify(MirrorEvent("DELETED", resource, o))
        self._synced[resource].set()
        return rv

    def _run(self, resource: str) -> None:
        rv = ""
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                if not rv:
                    rv = self._relist(resource)
                params = {"fieldSelector": self.field_selectors[resource]} if resource in self.field_selectors else {}
                for ev in self.api.watch(PATHS[resource], rv, timeout_seconds=60, **params):
                    if self._stopping.is_set():
                        return
                    kind, obj = ev.get("type"), ev.get("object") or {}
                    if kind == "ERROR":
                        rv = ""  # 410 Gone (expired resourceVersion): list again
                        break
                    rv = obj.get("metadata", {}).get("resourceVersion") or rv
                    if kind == "BOOKMARK":
                        continue
                    with self._lock:
                        if kind == "DELETED":
                            self._objects[resource].pop(_key(obj), None)
                        else:
                            self._objects[resource][_key(obj)] = obj
                        self._rv[resource] = rv
                    self._notify(MirrorEvent(kind, resource, obj))
                backoff = 0.2
            except Exception as exc:  # connection lost, API restarting: list again after a short pause
                if self._stopping.is_set():
                    return
                log.debug("watch %s: %s", resource, exc)
                rv = ""
                with contextlib.suppress(Exception):
                    self._stopping.wait(backoff)
                backoff = min(5.0, backoff * 2)

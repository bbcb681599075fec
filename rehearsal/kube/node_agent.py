"""The node agent: what a kubelet does for the rehearsal's one node, with pods as local processes.

- registers its Node (InternalIP: the pod bridge's host address, the kubelet port it serves), keeps the
  Node's Ready condition and its Lease in ``kube-node-lease`` fresh (the node-lifecycle controller then
  lifts the ``not-ready`` taint and keeps it off);
- watches the pods bound to it (``spec.nodeName``), gives each a network namespace and an address on the
  bridge, runs its containers through :class:`rehearsal.kube.process_runtime.ProcessRuntime` (env,
  valueFrom/envFrom, ``$(VAR)``, probes, restartPolicy, exit codes, graceful termination) inside that
  namespace, and writes what it sees through ``pods/status``;
- once a deleted pod's containers have stopped, removes its namespace and deletes the pod with grace 0;
- serves the kubelet API paths kube-apiserver proxies ``kubectl logs`` / ``k8s_log`` to
  (``/containerLogs/<namespace>/<pod>/<container>``), over TLS, to clients with a certificate of the
  stack's CA only.
"""

from __future__ import annotations

import contextlib
import http.server
import logging
import os
import platform
import ssl
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

from kubernetes.client.exceptions import ApiException

from rehearsal.kube.api import Api, ApiMirror, NotFound, object_path
from rehearsal.kube.network import PodNetwork
from rehearsal.kube.process_runtime import ProcessRuntime

log = logging.getLogger(__name__)

NODE_NAME = "rehearsal-node"
HEARTBEAT_SECONDS = 10.0
LEASE_SECONDS = 40
SYNC_SECONDS = 0.5
FOLLOW_LIMIT_SECONDS = 3600  # `kubectl logs -f` ends at the latest after this long


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _NodeStore:
    """What ProcessRuntime asks of its ``store``: Secrets/ConfigMaps for env, Events for what it saw."""

    def __init__(self, api: Api):
        self.api = api

    def get(self, resource: str, namespace: str | None, name: str) -> dict:
        try:
            return self.api.get(object_path(resource, namespace, name))
        except ApiException as exc:
            if exc.status == 404:
                raise NotFound(f'{resource} "{name}" not found') from None
            raise

    def create(self, resource: str, obj: dict) -> dict:
        return self.api.create(object_path(resource, obj["metadata"].get("namespace")), obj)


class NodeAgent:
    def __init__(self, state_dir: Path, kubeconfig: Path, network: PodNetwork, *, ca_path: Path,
                 serving_cert, node_name: str = NODE_NAME, relay_ports: tuple[int, ...] = (),
                 kubelet_version: str = "v1.36.3", runtime_options: dict | None = None):
        """``runtime_options``: extra keyword arguments for the pods' ProcessRuntime (``backoff_base``,
        ``backoff_cap``, ``image_map``, ...)."""
        self.state_dir = Path(state_dir)
        self.api = Api(kubeconfig)
        self.network = network
        self.node_name = node_name
        self.relay_ports = relay_ports
        self.kubelet_version = kubelet_version
        self.ca_path = ca_path
        self.serving_cert = serving_cert
        self.runtime = ProcessRuntime(self.state_dir / "pods", store=_NodeStore(self.api),
                                      command_prefix=self._netns_prefix, **(runtime_options or {}))
        self.pods = ApiMirror(self.api, ("pods",), field_selectors={"pods": f"spec.nodeName={node_name}"})
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._known: dict[str, dict] = {}  # uid -> last pod seen (to stop pods that vanish)
        self._server: http.server.ThreadingHTTPServer | None = None
        self.kubelet_port = 0

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> NodeAgent:
        self._serve_kubelet_api()
        self._register()
        self.pods.subscribe(lambda _ev: self._wake.set())
        self.pods.start()
        for target, name in ((self._heartbeat, "node-heartbeat"), (self._sync_loop, "node-pod-sync")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout=10)
        self.pods.stop()
        self.runtime.shutdown()
        for uid in list(self._known):
            self.network.detach(uid)
        self._known.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- the Node and its Lease --------------------------------------------------------------------

    def _node_status(self) -> dict:
        now = _now()
        conditions = [
            {"type": t, "status": "False", "reason": r, "message": m, "lastHeartbeatTime": now,
             "lastTransitionTime": self._since}
            for t, r, m in (("MemoryPressure", "KubeletHasSufficientMemory", "node agent has sufficient memory"),
                            ("DiskPressure", "KubeletHasNoDiskPressure", "node agent has no disk pressure"),
                            ("PIDPressure", "KubeletHasSufficientPID", "node agent has sufficient PID"))]
        conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                           "message": "rehearsal node agent is posting ready status",
                           "lastHeartbeatTime": now, "lastTransitionTime": self._since})
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
        capacity = {"cpu": str(os.cpu_count() or 1), "memory": f"{mem_kib}Ki", "pods": "110",
                    "ephemeral-storage": "50Gi"}
        return {
            "capacity": capacity, "allocatable": capacity, "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": self.network.gateway},
                          {"type": "Hostname", "address": self.node_name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
            "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": platform.release(),
                         "osImage": "rehearsal node agent (local processes)", "containerRuntimeVersion":
                         "process://rehearsal", "kubeletVersion": self.kubelet_version,
                         "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
        }

    def _register(self) -> None:
        self._since = _now()
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.node_name,
                             "labels": {"kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux",
                                        "kubernetes.io/arch": "amd64"}}}
        try:
            self.api.create("/api/v1/nodes", node)
        except ApiException as exc:
            if exc.status != 409:
                raise
        self._post_status()
        self._renew_lease()

    def _post_status(self) -> None:
        self.api.patch(f"/api/v1/nodes/{self.node_name}/status", {"status": self._node_status()}, kind="strategic")

    def _renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.node_name}"
        spec = {"holderIdentity": self.node_name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": _micro_now()}
        try:
            lease = self.api.get(path)
            lease["spec"].update(spec)
            self.api.put(path, lease)
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.api.create("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                            {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                             "metadata": {"name": self.node_name, "namespace": "kube-node-lease"}, "spec": spec})

    def _heartbeat(self) -> None:
        while not self._stopping.wait(HEARTBEAT_SECONDS):
            try:
                self._renew_lease()
                self._post_status()
            except Exception:
                log.exception("node heartbeat failed")

    # -- pods ----------------------------------------------------------------------------------------

    def _netns_prefix(self, uid: str) -> list[str]:
        netns = self.network.netns_of(uid)
        return ["/usr/sbin/ip", "netns", "exec", netns] if netns else []

    def _sync_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(SYNC_SECONDS)
            self._wake.clear()
            if self._stopping.is_set():
                return
            pods, _rv = self.pods.list("pods")
            seen = set()
            for pod in pods:
                uid = pod["metadata"]["uid"]
                seen.add(uid)
                try:
                    self._sync_pod(pod)
                except Exception:
                    log.exception("syncing pod %s/%s failed", pod["metadata"].get("namespace"),
                                  pod["metadata"]["name"])
            for uid in set(self._known) - seen:  # deleted with grace 0 (or by us): stop what is left
                pod = self._known.pop(uid)
                pod["metadata"]["deletionGracePeriodSeconds"] = 0
                with contextlib.suppress(Exception):
                    self.runtime.terminate(pod)
                self.network.detach(uid)

    def _sync_pod(self, pod: dict) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        if meta.get("deletionTimestamp"):
            # A pod never started here has nothing to stop.
            done = uid not in self._known or self.runtime.terminate(self._with_addresses(pod))
            if done:
                self._known.pop(uid, None)
                self.network.detach(uid)
                with contextlib.suppress(ApiException):
                    self.api.delete(object_path("pods", meta["namespace"], meta["name"]),
                                    {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                                     "preconditions": {"uid": uid}})
            return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") and uid not in self._known:
            return  # finished before this agent started
        if uid not in self._known:
            self.network.attach(uid, self.relay_ports)
        self._known[uid] = pod
        status = self.runtime.sync(self._with_addresses(pod))
        if status is not None:
            self.api.patch(object_path("pods", meta["namespace"], meta["name"], "status"), {"status": status})

    def _with_addresses(self, pod: dict) -> dict:
        _netns, ip = self.network.attach(pod["metadata"]["uid"], self.relay_ports)
        pod = dict(pod)
        pod["status"] = {**(pod.get("status") or {}), "podIP": ip, "hostIP": self.network.gateway}
        return pod

    # -- the kubelet API (logs) ----------------------------------------------------------------------

    def _serve_kubelet_api(self) -> None:
        agent = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args):  # quiet; the API server logs the request
                pass

            def _reply(self, code: int, text: str) -> None:
                body = text.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802 - http.server's naming
                url = urllib.parse.urlsplit(self.path)
                parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]
                if parts == ["healthz"]:
                    return self._reply(200, "ok")
                if len(parts) == 4 and parts[0] == "containerLogs":
                    return agent._container_logs(self, *parts[1:], urllib.parse.parse_qs(url.query))
                return self._reply(404, f"{url.path} is not served by the rehearsal node agent")

        server = http.server.ThreadingHTTPServer((self.network.gateway, 0), Handler)
        server.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.serving_cert.cert), str(self.serving_cert.key))
        ctx.load_verify_locations(str(self.ca_path))
        ctx.verify_mode = ssl.CERT_REQUIRED  # only kube-apiserver (its kubelet client certificate) gets in
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self.kubelet_port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, name="kubelet-api", daemon=True).start()

    def _find_pod(self, namespace: str, name: str) -> dict | None:
        pods, _ = self.pods.list("pods", namespace)
        for pod in pods:
            if pod["metadata"]["name"] == name:
                return pod
        for pod in self._known.values():
            if pod["metadata"]["namespace"] == namespace and pod["metadata"]["name"] == name:
                return pod
        return None

    def _container_logs(self, handler, namespace: str, name: str, container: str, query: dict) -> None:
        pod = self._find_pod(namespace, name)
        if pod is None:
            return handler._reply(404, f'pod "{name}" not found on node {self.node_name}')
        log_path = self.runtime._pod_log_dir(pod) / f"{container}.log"
        if not log_path.exists():
            return handler._reply(404, f'container "{container}" in pod "{name}" has no log yet')
        data = log_path.read_bytes()
        q = {k: v[-1] for k, v in query.items()}
        if q.get("sinceSeconds") or q.get("sinceTime"):
            pass  # the log has no per-line times to cut by; the whole log is the honest answer
        if q.get("tailLines"):
            n = int(q["tailLines"])
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-n:]) if n > 0 else b""
        if q.get("limitBytes"):
            data = data[: int(q["limitBytes"])]
        follow = q.get("follow") in ("true", "1")
        if q.get("timestamps") in ("true", "1"):
            stamp = datetime.fromtimestamp(log_path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            data = b"".join(f"{stamp} ".encode() + line for line in data.splitlines(keepends=True))
        if not follow:
            return handler._reply(200, data.decode("utf-8", "replace"))
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain; charset=utf-8")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

        def chunk(b: bytes) -> None:
            handler.wfile.write(f"{len(b):x}\r\n".encode() + b + b"\r\n")
            handler.wfile.flush()

        try:
            if data:
                chunk(data)
            offset = log_path.stat().st_size
            deadline = time.monotonic() + FOLLOW_LIMIT_SECONDS
            uid = pod["metadata"]["uid"]
            while time.monotonic() < deadline and not self._stopping.is_set():
                size = log_path.stat().st_size
                if size > offset:
                    with open(log_path, "rb") as f:
                        f.seek(offset)
                        new = f.read(size - offset)
                    offset = size
                    chunk(new)
                elif uid not in self._known or self.runtime.pid(pod, container) is None and self._finished(pod):
                    break
                time.sleep(0.2)
            handler.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass

    def _finished(self, pod: dict) -> bool:
        current = self._find_pod(pod["metadata"]["namespace"], pod["metadata"]["name"]) or {}
        return (current.get("status") or {}).get("phase") in ("Succeeded", "Failed") or bool(
            (current.get("metadata") or {}).get("deletionTimestamp"))



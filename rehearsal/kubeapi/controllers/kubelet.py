"""The kubelet of the one node, ``rehearsal-node``: binds pods, drives the runtime, reports status.

- A new pod is bound at once (there is one node, so the scheduler's choice is trivial): spec.nodeName,
  a unique loopback pod IP (127.1.x.y), hostIP and PodScheduled, plus a Scheduled event.
- ``runtime.sync`` is called on every change and every resync; a changed status is written through
  the status subresource.
- A pod with deletionTimestamp is stopped through ``runtime.terminate`` (graceful, non-blocking) and
  its object removed once stopped, as the kubelet does after the grace period
  (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination).
- A pod whose object vanished without that (force deletion, grace 0) is stopped all the same.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from rehearsal.kubeapi.controllers.manager import Controller
from rehearsal.kubeapi.controllers.util import key_of, record_event, split_key
from rehearsal.kubeapi.runtime import HOST_IP, NODE_NAME, AddressAllocator, PodRuntime
from rehearsal.kubeapi.store import Conflict, Event, NotFound, now_rfc3339

log = logging.getLogger(__name__)


class Kubelet(Controller):
    name = "kubelet"
    resource = "pods"

    def __init__(self, store, runtime: PodRuntime, node_name: str = NODE_NAME):
        super().__init__(store)
        self.runtime = runtime
        self.node_name = node_name
        self.addresses = AddressAllocator()
        self._known: dict[str, dict] = {}  # key -> last pod object seen (to stop it if it vanishes)
        self._stopping: set[str] = set()  # keys whose Killing event was recorded
        self._lock = threading.Lock()

    def keys_for(self, ev: Event):
        if ev.resource == "pods":
            return [key_of(ev.object)]
        return ()

    def resync_keys(self):
        keys = list(super().resync_keys())
        with self._lock:
            keys += [k for k in self._known if k not in keys]
        return keys

    def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        try:
            pod = self.store.get("pods", ns, name)
        except NotFound:
            pod = None
        with self._lock:
            known = self._known.get(key)
        if known is not None and (pod is None or pod["metadata"]["uid"] != known["metadata"]["uid"]):
            # The object went away (or was replaced) without a graceful stop: stop what ran for it.
            if not self.runtime.terminate(known):
                return 0.2
            self._forget(key, known)
            known = None
        if pod is None:
            return None
        if pod["metadata"].get("deletionTimestamp"):
            if key not in self._stopping:
                self._stopping.add(key)
                for c in (pod.get("spec") or {}).get("containers") or []:
                    record_event(self.store, pod, "Killing", f"Stopping container {c.get('name')}",
                                 component="kubelet")
            if not self.runtime.terminate(pod):
                return 0.2
            with contextlib.suppress(NotFound, Conflict):
                self.store.delete("pods", ns, name, uid=pod["metadata"]["uid"])
            self._forget(key, pod)
            return None
        node = (pod.get("spec") or {}).get("nodeName")
        if node and node != self.node_name:
            return None  # bound elsewhere: not ours
        if not node or not (pod.get("status") or {}).get("podIP"):
            pod = self._bind(pod)
        with self._lock:
            self._known[key] = pod
        status = self.runtime.sync(pod)
        if status is not None and status != pod.get("status"):
            self._events_for(pod, status)
            pod["status"] = status
            pod = self.store.update("pods", pod, part="status")
            with self._lock:
                self._known[key] = pod
        return None

    def _bind(self, pod: dict) -> dict:
        ip = (pod.get("status") or {}).get("podIP")
        if ip:
            self.addresses.claim(ip)
        else:
            ip = self.addresses.allocate()
        pod.setdefault("spec", {})["nodeName"] = self.node_name
        status = pod.setdefault("status", {})
        status.setdefault("phase", "Pending")
        status.update({"podIP": ip, "podIPs": [{"ip": ip}], "hostIP": HOST_IP, "hostIPs": [{"ip": HOST_IP}]})
        conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        status["conditions"] = [*conds, {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                         "lastTransitionTime": now_rfc3339()}]
        try:
            bound = self.store.update("pods", pod, part="all")  # carries resourceVersion: Conflict if moved
        except Exception:
            self.addresses.release(ip)
            raise
        meta = pod["metadata"]
        record_event(self.store, bound, "Scheduled",
                     f"Successfully assigned {meta.get('namespace')}/{meta['name']} to {self.node_name}",
                     component="default-scheduler")
        return bound

    def _events_for(self, pod: dict, status: dict) -> None:
        """Started events when a container first runs (as the kubelet reports them)."""
        before = {c.get("name"): c for c in (pod.get("status") or {}).get("containerStatuses") or []}
        for cs in status.get("containerStatuses") or []:
            prev = before.get(cs.get("name"))
            was_running = prev is not None and "running" in (prev.get("state") or {})
            restarted = prev is not None and cs.get("restartCount", 0) > prev.get("restartCount", 0)
            if "running" in (cs.get("state") or {}) and (not was_running or restarted):
                record_event(self.store, pod, "Started", f"Started container {cs.get('name')}", component="kubelet")

    def _forget(self, key: str, pod: dict) -> None:
        self._stopping.discard(key)
        with self._lock:
            if self._known.get(key, {}).get("metadata", {}).get("uid") == pod["metadata"]["uid"]:
                del self._known[key]
        self.addresses.release((pod.get("status") or {}).get("podIP"))

    def stop(self) -> None:
        with self._lock:
            self._known.clear()

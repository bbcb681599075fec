"""Garbage collector: ownerReference cascades and namespace contents.

- Background cascading deletion (https://kubernetes.io/docs/concepts/architecture/garbage-collection/):
  an object all of whose owners are gone is deleted. Owners are matched by uid, as kube does.
- Foreground deletion: an owner carrying deletionTimestamp and the ``foregroundDeletion`` finalizer
  loses its dependents first, then the finalizer, then itself; ``orphan`` drops the dependents'
  ownerReferences to it instead.
- Namespace controller: a Terminating Namespace (DELETE through the API sets deletionTimestamp and
  status.phase=Terminating) loses everything in it, then is removed once empty and free of
  metadata.finalizers. Its spec.finalizers (``kubernetes``) stand for this controller's own work, so
  they need no separate /finalize step here.
  https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/namespace-v1/#NamespaceSpec
- A Namespace removed from the store directly (not through the API) loses exactly what it held at that
  moment, even if a namespace of the same name is created again before the cleanup runs.
Pods are deleted gracefully (deletionTimestamp) so that the kubelet stops what runs for them.
Events older than an hour are dropped (kube-apiserver's default --event-ttl).
"""

from __future__ import annotations

import contextlib
import threading
import time

from rehearsal.kubeapi.controllers.manager import Controller
from rehearsal.kubeapi.controllers.util import delete_pod, is_terminating, parse_time
from rehearsal.kubeapi.store import Conflict, Event, NotFound

SCAN_KEY = "scan"
NS_PREFIX = "namespace:"
EVENT_TTL = 3600.0


class GarbageCollector(Controller):
    name = "garbage-collector"
    resync_period = 1.0

    def __init__(self, store):
        super().__init__(store)
        # namespace name -> (resource, name, uid) of what it held when it was removed from the store
        self._leftovers: dict[str, set[tuple[str, str, str]]] = {}
        self._leftovers_lock = threading.Lock()
        store.subscribe(self._remember_contents_of_removed_namespace)

    def _remember_contents_of_removed_namespace(self, ev: Event) -> None:
        # Runs under the store lock at the very commit that removed the namespace, so the listing is exactly
        # its content then: a namespace re-created under the same name later keeps its own new objects.
        if ev.resource != "namespaces" or ev.type != "DELETED":
            return
        name = ev.object["metadata"]["name"]
        held = {(r, o["metadata"]["name"], o["metadata"].get("uid"))
                for r in self.store.resources() for o in self.store.list(r, name)[0]}
        with self._leftovers_lock:
            self._leftovers.setdefault(name, set()).update(held)

    def keys_for(self, ev: Event):
        if ev.resource == "namespaces":
            if ev.type == "DELETED" or is_terminating(ev.object):
                return [NS_PREFIX + ev.object["metadata"]["name"]]
            return ()
        if ev.type == "DELETED" or (ev.type == "MODIFIED" and is_terminating(ev.object)):
            return [SCAN_KEY]
        return ()

    def resync_keys(self):
        keys = [SCAN_KEY]
        for ns in self.store.list("namespaces")[0]:
            if is_terminating(ns):
                keys.append(NS_PREFIX + ns["metadata"]["name"])
        with self._leftovers_lock:
            keys += [NS_PREFIX + n for n in self._leftovers]
        return keys

    def reconcile(self, key: str) -> float | None:
        if key.startswith(NS_PREFIX):
            return self._namespace(key[len(NS_PREFIX):])
        return self._scan()

    # -- namespaces ---------------------------------------------------------------------------
    def _namespace(self, name: str) -> float | None:
        try:
            ns_obj = self.store.get("namespaces", None, name)
        except NotFound:
            ns_obj = None
        if ns_obj is None:
            # Nothing may live in a namespace that does not exist (controllers may still have written there).
            if self._empty(name):
                return 0.2
            with self._leftovers_lock:
                self._leftovers.pop(name, None)
            return None
        if not is_terminating(ns_obj):
            return self._clean_leftovers(name)  # re-created: only what the removed one held goes
        if (ns_obj.get("status") or {}).get("phase") != "Terminating":
            ns_obj["status"] = {**(ns_obj.get("status") or {}), "phase": "Terminating"}
            ns_obj = self.store.update("namespaces", ns_obj, part="status")
        if self._empty(name) or ns_obj["metadata"].get("finalizers"):
            return 0.2  # pods wait for the kubelet (graceful termination); finalizers for their owners
        with contextlib.suppress(NotFound, Conflict):  # empty: finish the deletion
            self.store.delete("namespaces", None, name, uid=ns_obj["metadata"]["uid"])
        return None

    def _empty(self, name: str) -> int:
        """Delete everything in namespace ``name`` (pods gracefully); how many objects were still there."""
        left = 0
        for resource in self.store.resources():
            for obj in self.store.list(resource, name)[0]:
                left += 1
                self._delete(resource, obj)
        return left

    def _clean_leftovers(self, name: str) -> float | None:
        """Delete what a namespace removed from the store held; 0.2 (look again) while some is left."""
        with self._leftovers_lock:
            held = set(self._leftovers.get(name, ()))
        if not held:
            return None
        gone = set()
        for resource, obj_name, uid in held:
            try:
                obj = self.store.get(resource, name, obj_name)
            except NotFound:
                obj = None
            if obj is None or obj["metadata"].get("uid") != uid:
                gone.add((resource, obj_name, uid))
            else:
                self._delete(resource, obj)
        with self._leftovers_lock:
            remaining = self._leftovers.get(name, set()) - gone
            if remaining:
                self._leftovers[name] = remaining
            else:
                self._leftovers.pop(name, None)
        return 0.2 if remaining else None

    # -- owner references -------------------------------------------------------------------
    def _scan(self) -> float | None:
        everything = [(r, o) for r in self.store.resources() for o in self.store.list(r)[0]]
        uids = {o["metadata"].get("uid") for _r, o in everything}
        owners_deleting = {o["metadata"].get("uid"): o for _r, o in everything if is_terminating(o)}
        by_owner: dict[str, list[tuple[str, dict]]] = {}
        now = time.time()
        again = None
        orphans = []
        for resource, obj in everything:
            refs = obj["metadata"].get("ownerReferences") or []
            for ref in refs:
                by_owner.setdefault(ref.get("uid"), []).append((resource, obj))
            if refs and not any(ref.get("uid") in uids for ref in refs):
                orphans.append((resource, obj))
            elif resource == "events":
                ts = parse_time(obj.get("lastTimestamp") or obj["metadata"].get("creationTimestamp"))
                if ts is not None and ts + EVENT_TTL < now:
                    self._delete(resource, obj)
        if orphans:
            # The listing above is not one snapshot: an owner created while it ran may be missing from it.
            # Look again before deleting anything (kube's GC also confirms absence with a live lookup).
            uids = {o["metadata"].get("uid") for r in self.store.resources() for o in self.store.list(r)[0]}
            for resource, obj in orphans:
                if not any(ref.get("uid") in uids for ref in obj["metadata"]["ownerReferences"]):
                    self._delete(resource, obj)
        for uid, owner in owners_deleting.items():
            finalizers = owner["metadata"].get("finalizers") or []
            if "foregroundDeletion" in finalizers:
                dependents = by_owner.get(uid, [])
                for resource, dep in dependents:
                    self._delete(resource, dep)
                if dependents:
                    again = 0.2
                else:
                    self._drop_finalizer(owner, "foregroundDeletion")
            elif "orphan" in finalizers:
                for resource, dep in by_owner.get(uid, []):
                    dep["metadata"]["ownerReferences"] = [
                        r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
                    self.store.update(resource, dep, part="all")
                self._drop_finalizer(owner, "orphan")
        return again

    def _drop_finalizer(self, owner: dict, finalizer: str) -> None:
        meta = owner["metadata"]
        resource = self._resource_of(owner)
        if resource is None:
            return
        meta["finalizers"] = [f for f in meta.get("finalizers") or [] if f != finalizer]
        if not meta["finalizers"]:
            # Last finalizer gone on an object being deleted: kube-apiserver removes it now.
            with contextlib.suppress(NotFound, Conflict):
                self.store.delete(resource, meta.get("namespace"), meta["name"], uid=meta.get("uid"))
            return
        self.store.update(resource, owner, part="all")

    def _resource_of(self, obj: dict) -> str | None:
        uid = obj["metadata"].get("uid")
        ns = obj["metadata"].get("namespace")
        for resource in self.store.resources():
            try:
                if self.store.get(resource, ns, obj["metadata"]["name"])["metadata"].get("uid") == uid:
                    return resource
            except NotFound:
                continue
        return None

    def _delete(self, resource: str, obj: dict) -> None:
        meta = obj["metadata"]
        try:
            if resource == "pods":
                delete_pod(self.store, obj)  # the kubelet stops it, then removes the object
            elif not is_terminating(obj) or not meta.get("finalizers"):
                self.store.delete(resource, meta.get("namespace"), meta["name"], uid=meta.get("uid"))
        except (NotFound, Conflict):
            pass

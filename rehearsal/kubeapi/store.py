"""Thread-safe in-memory object store with resourceVersions and watch events.

Resources are keyed like kube-apiserver's "resource.group" notation:
``"pods"``, ``"deployments.apps"``, ``"httproutes.gateway.networking.k8s.io"``.
Objects are plain dicts as they appear on the wire. Every read returns a fresh
copy (decoded from the stored JSON), so callers may mutate what they get.

Semantics follow kube-apiserver:
- resourceVersion is one cluster-wide counter, a decimal string;
- an update carrying a resourceVersion that differs from the stored one is a
  conflict (409); an update without one is unconditional;
- ``metadata.generation`` starts at 1 and is bumped only when something other
  than metadata and status changes (https://kubernetes.io/docs/reference/using-api/api-concepts/);
- a watch can start from any resourceVersion still in the event history, else it
  is told the version is too old (410 Gone).
"""

from __future__ import annotations

import collections
import json
import queue
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

HISTORY_LIMIT = 20000
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # as apimachinery's rand.String


class StoreError(Exception):
    """Base of store errors; ``code`` and ``reason`` map onto a Status object."""

    code = 500
    reason = "InternalError"


class NotFound(StoreError):
    code = 404
    reason = "NotFound"


class AlreadyExists(StoreError):
    code = 409
    reason = "AlreadyExists"


class Conflict(StoreError):
    code = 409
    reason = "Conflict"


class Gone(StoreError):
    code = 410
    reason = "Expired"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_NAME_SUFFIX_ALPHABET) for _ in range(length))


def _spec_part(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class Event:
    __slots__ = ("type", "resource", "rv", "raw")

    def __init__(self, type_: str, resource: str, rv: int, raw: str):
        self.type = type_  # ADDED | MODIFIED | DELETED
        self.resource = resource
        self.rv = rv
        self.raw = raw  # the object's JSON at this event

    @property
    def object(self) -> dict:
        return json.loads(self.raw)

    @property
    def namespace(self) -> str:
        return self.object.get("metadata", {}).get("namespace", "")


class Watch:
    """A queue of events for one resource (optionally one namespace)."""

    def __init__(self, store: ObjectStore, resource: str, namespace: str | None):
        self.store = store
        self.resource = resource
        self.namespace = namespace
        self.events: queue.Queue[Event | None] = queue.Queue()

    def matches(self, ev: Event) -> bool:
        if ev.resource != self.resource:
            return False
        return not self.namespace or ev.namespace == self.namespace

    def next(self, timeout: float | None = None) -> Event | None:
        """The next event, or None on timeout or when the watch was stopped."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def stop(self) -> None:
        self.store._remove_watch(self)
        self.events.put(None)


class ObjectStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._rv = 0
        # resource -> (namespace, name) -> JSON text of the object
        self._objects: dict[str, dict[tuple[str, str], str]] = collections.defaultdict(dict)
        self._history: collections.deque[Event] = collections.deque(maxlen=HISTORY_LIMIT)
        self._watches: list[Watch] = []
        self._subscribers: list[Callable[[Event], None]] = []

    # -- reads ---------------------------------------------------------------
    @property
    def resource_version(self) -> str:
        with self._lock:
            return str(self._rv)

    def get(self, resource: str, namespace: str | None, name: str) -> dict:
        with self._lock:
            raw = self._objects[resource].get((namespace or "", name))
        if raw is None:
            raise NotFound(f'{resource} "{name}" not found')
        return json.loads(raw)

    def get_raw(self, resource: str, namespace: str | None, name: str) -> str:
        with self._lock:
            raw = self._objects[resource].get((namespace or "", name))
        if raw is None:
            raise NotFound(f'{resource} "{name}" not found')
        return raw

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        match: Callable[[dict], bool] | None = None,
    ) -> tuple[list[dict], str]:
        """Objects of a resource (in one namespace, or all), sorted by namespace/name, and the list's
        resourceVersion."""
        with self._lock:
            rv = str(self._rv)
            items = [
                raw
                for (ns, _name), raw in sorted(self._objects[resource].items())
                if not namespace or ns == namespace
            ]
        objs = [json.loads(raw) for raw in items]
        if match is not None:
            objs = [o for o in objs if match(o)]
        return objs, rv

    def list_raw(self, resource: str, namespace: str | None = None) -> tuple[list[str], str]:
        """Like list() without selectors, as stored JSON texts (no decoding: fast large lists)."""
        with self._lock:
            rv = str(self._rv)
            items = [raw for (ns, _name), raw in sorted(self._objects[resource].items())
                     if not namespace or ns == namespace]
        return items, rv

    def namespaces_in_use(self) -> set[str]:
        with self._lock:
            return {ns for objs in self._objects.values() for (ns, _n) in objs if ns}

    def resources(self) -> Iterable[str]:
        with self._lock:
            return list(self._objects)

    # -- writes --------------------------------------------------------------
    def create(self, resource: str, obj: dict, *, uid: str | None = None, dry_run: bool = False) -> dict:
        """Store a new object. ``uid``: use this uid (the server pre-assigns Job uids);
        ``dry_run``: check and fill in as for a real create, but store nothing."""
        obj = json.loads(json.dumps(obj))  # never mutate the caller's dict
        meta = obj.setdefault("metadata", {})
        ns = meta.get("namespace") or ""
        with self._lock:
            if not meta.get("name") and meta.get("generateName"):
                for _ in range(20):
                    candidate = meta["generateName"] + random_suffix()
                    if (ns, candidate) not in self._objects[resource]:
                        meta["name"] = candidate
                        break
            name = meta.get("name")
            if not name:
                raise ValueError("metadata.name is required")
            if (ns, name) in self._objects[resource]:
                raise AlreadyExists(f'{resource} "{name}" already exists')
            meta["uid"] = uid or str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta["generation"] = 1
            meta.pop("deletionTimestamp", None)
            if dry_run:
                meta.pop("resourceVersion", None)
                return obj
            return self._commit("ADDED", resource, ns, name, obj)

    def update(self, resource: str, obj: dict, part: str = "main", *, dry_run: bool = False) -> dict:
        """Write an existing object.

        part="main": take everything but ``status`` from obj (status subresource types);
        part="status": take only ``status`` from obj; part="all": take obj whole.
        A resourceVersion in obj must match the stored one (409 otherwise).
        ``dry_run``: return what would be stored, store nothing.
        """
        obj = json.loads(json.dumps(obj))  # never mutate the caller's dict
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace") or "", meta.get("name")
        with self._lock:
            raw = self._objects[resource].get((ns, name))
            if raw is None:
                raise NotFound(f'{resource} "{name}" not found')
            current = json.loads(raw)
            cur_meta = current["metadata"]
            want_rv = meta.get("resourceVersion")
            if want_rv and want_rv != cur_meta.get("resourceVersion"):
                raise Conflict(
                    f'Operation cannot be fulfilled on {resource} "{name}": the object has been modified; '
                    "please apply your changes to the latest version and try again"
                )
            if part == "status":
                new = current
                if "status" in obj:
                    new["status"] = obj["status"]
                else:
                    new.pop("status", None)
            else:
                new = obj
                if part == "main":
                    if "status" in current:
                        new["status"] = current["status"]
                    else:
                        new.pop("status", None)
                new_meta = new.setdefault("metadata", {})
                # Fields the server owns survive a client's write.
                for key in ("uid", "creationTimestamp", "generation", "deletionTimestamp",
                            "deletionGracePeriodSeconds"):
                    if key in cur_meta:
                        new_meta[key] = cur_meta[key]
                    else:
                        new_meta.pop(key, None)
                if _spec_part(new) != _spec_part(current):
                    new_meta["generation"] = cur_meta.get("generation", 1) + 1
            new["metadata"]["resourceVersion"] = cur_meta.get("resourceVersion")
            if dry_run:
                return new
            if json.dumps(new, sort_keys=True) == json.dumps(json.loads(raw), sort_keys=True):
                # kube-apiserver does not bump resourceVersion for a no-op write.
                return new
            return self._commit("MODIFIED", resource, ns, name, new)

    def mark_deleting(self, resource: str, namespace: str | None, name: str, grace_seconds: int | None,
                      status: dict | None = None) -> dict:
        """Set deletionTimestamp (graceful pod deletion, finalizers, namespaces); whoever owns the object's
        teardown deletes it later. ``grace_seconds`` None: no deletionGracePeriodSeconds (a Namespace has
        none); ``status``: fields merged into status in the same write (a Namespace turns Terminating)."""
        with self._lock:
            obj = self.get(resource, namespace, name)
            meta = obj["metadata"]
            if meta.get("deletionTimestamp"):
                return obj
            meta["deletionTimestamp"] = now_rfc3339()
            if grace_seconds is not None:
                meta["deletionGracePeriodSeconds"] = grace_seconds
            if status:
                obj["status"] = {**(obj.get("status") or {}), **status}
            return self._commit("MODIFIED", resource, namespace or "", name, obj)

    def delete(self, resource: str, namespace: str | None, name: str, uid: str | None = None) -> dict:
        ns = namespace or ""
        with self._lock:
            raw = self._objects[resource].get((ns, name))
            if raw is None:
                raise NotFound(f'{resource} "{name}" not found')
            obj = json.loads(raw)
            if uid and obj["metadata"].get("uid") != uid:
                raise Conflict(f'Precondition failed: UID in precondition: {uid}, UID in object meta: '
                               f'{obj["metadata"].get("uid")}')
            del self._objects[resource][(ns, name)]
            self._rv += 1
            obj["metadata"]["resourceVersion"] = str(self._rv)
            self._emit(Event("DELETED", resource, self._rv, json.dumps(obj)))
            return obj

    # -- watching --------------------------------------------------------------
    def watch(self, resource: str, namespace: str | None = None, since: str | None = None) -> Watch:
        """Events after resourceVersion ``since`` (none given, or "0": from now)."""
        w = Watch(self, resource, namespace)
        with self._lock:
            if since and since != "0":
                since_rv = int(since)
                if self._history and since_rv < self._history[0].rv - 1 and since_rv < self._rv:
                    raise Gone(f"too old resource version: {since} ({self._history[0].rv - 1})")
                for ev in self._history:
                    if ev.rv > since_rv and w.matches(ev):
                        w.events.put(ev)
            self._watches.append(w)
        return w

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` for every change, in commit order, under the store lock.

        Callbacks must not block or write to the store: enqueue and return.
        """
        with self._lock:
            self._subscribers.append(callback)

    def _remove_watch(self, w: Watch) -> None:
        with self._lock:
            if w in self._watches:
                self._watches.remove(w)

    # -- internals ---------------------------------------------------------------
    def _commit(self, type_: str, resource: str, ns: str, name: str, obj: dict) -> dict:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        raw = json.dumps(obj, separators=(",", ":"))
        self._objects[resource][(ns, name)] = raw
        self._emit(Event(type_, resource, self._rv, raw))
        return json.loads(raw)

    def _emit(self, ev: Event) -> None:
        self._history.append(ev)
        for w in self._watches:
            if w.matches(ev):
                w.events.put(ev)
        for cb in self._subscribers:
            cb(ev)

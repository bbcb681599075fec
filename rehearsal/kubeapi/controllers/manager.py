"""The controller manager: store events -> work queues -> one worker thread per controller.

Shaped like kube-controller-manager's informer + workqueue pattern: the store subscription only
hands events to a dispatcher thread; the dispatcher maps each event to the keys of the objects a
controller must reconcile; a key is queued at most once, and never processed by two threads at once.
Reconciles read fresh objects from the store, so they are idempotent; a Conflict (someone wrote in
between) or a failed write just requeues the key. A periodic resync requeues every object, which is
what drives the time-based rules (minReadySeconds, progressDeadlineSeconds, job deadlines).
"""

from __future__ import annotations

import collections
import heapq
import logging
import queue
import threading
import time
from collections.abc import Iterable

from rehearsal.kubeapi.store import Event, ObjectStore, StoreError

log = logging.getLogger(__name__)

MAX_BACKOFF = 2.0


class WorkQueue:
    """Deduplicating queue of keys with delayed adds (client-go's rate-limited workqueue, simplified)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: collections.deque[str] = collections.deque()
        self._queued: set[str] = set()
        self._processing: set[str] = set()
        self._dirty: set[str] = set()  # added while processing: requeue when done
        self._delayed: list[tuple[float, int, str]] = []
        self._seq = 0
        self._closed = False

    def add(self, key: str) -> None:
        with self._cond:
            if self._closed:
                return
            if key in self._processing:
                self._dirty.add(key)
            elif key not in self._queued:
                self._queued.add(key)
                self._queue.append(key)
                self._cond.notify()

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            self._seq += 1
            heapq.heappush(self._delayed, (time.monotonic() + delay, self._seq, key))
            self._cond.notify()

    def get(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    _t, _s, key = heapq.heappop(self._delayed)
                    if key in self._processing:
                        self._dirty.add(key)
                    elif key not in self._queued:
                        self._queued.add(key)
                        self._queue.append(key)
                if self._queue:
                    key = self._queue.popleft()
                    self._queued.discard(key)
                    self._processing.add(key)
                    return key
                wait = deadline - now
                if self._delayed:
                    wait = min(wait, self._delayed[0][0] - now)
                if wait <= 0:
                    return None
                self._cond.wait(wait)
            return None

    def done(self, key: str) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                if key not in self._queued:
                    self._queued.add(key)
                    self._queue.append(key)
                    self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue) + len(self._processing)


class Controller:
    """One reconcile loop. Subclasses set ``name`` and implement ``keys_for`` and ``reconcile``."""

    name = "controller"
    resource = ""  # primary store resource; resync requeues all of its objects
    resync_period = 0.5

    def __init__(self, store: ObjectStore):
        self.store = store
        self.queue = WorkQueue()

    def keys_for(self, ev: Event) -> Iterable[str]:
        """Keys to reconcile because of this store event (runs on the dispatcher thread)."""
        return ()

    def reconcile(self, key: str) -> float | None:
        """Bring the world in line for ``key``; return seconds after which to look again, or None."""
        raise NotImplementedError

    def resync_keys(self) -> Iterable[str]:
        if not self.resource:
            return ()
        objs, _rv = self.store.list(self.resource)
        return [f"{o['metadata'].get('namespace') or ''}/{o['metadata']['name']}" for o in objs]

    def stop(self) -> None:
        """Called once after the worker thread has ended."""


class ControllerManager:
    def __init__(self, store: ObjectStore, runtime=None, *, resync_period: float = 0.5,
                 controllers: list[Controller] | None = None):
        self.store = store
        if controllers is None:
            controllers = default_controllers(store, runtime, resync_period)
        self.controllers = controllers
        self._events: queue.Queue[Event | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._subscribed = False
        self._started = False

    # The store calls this under its lock: hand over and return at once.
    def _on_event(self, ev: Event) -> None:
        if self._started and not self._stop.is_set():
            self._events.put(ev)

    def start(self) -> None:
        if self._started:
            return
        self._stop.clear()
        self._started = True
        if not self._subscribed:
            self.store.subscribe(self._on_event)  # the store has no unsubscribe: _on_event checks _stop
            self._subscribed = True
        self._spawn("controller-dispatch", self._dispatch)
        self._spawn("controller-resync", self._resync_loop)
        for c in self.controllers:
            self._spawn(f"controller-{c.name}", self._work, c)

    def stop(self, timeout: float = 10.0) -> None:
        if not self._started:
            return
        self._stop.set()
        self._events.put(None)
        for c in self.controllers:
            c.queue.close()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.1, deadline - time.monotonic()))
            if t.is_alive():
                log.warning("thread %s did not stop within %.1fs", t.name, timeout)
        self._threads.clear()
        for c in self.controllers:
            c.stop()
        self._started = False

    def _spawn(self, name: str, target, *args) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            try:
                ev = self._events.get(timeout=0.5)
            except queue.Empty:
                continue
            if ev is None:
                break
            for c in self.controllers:
                try:
                    for key in c.keys_for(ev):
                        c.queue.add(key)
                except Exception:  # a mapping bug must not stop the other controllers
                    log.exception("%s: mapping %s %s failed", c.name, ev.type, ev.resource)

    def _resync_loop(self) -> None:
        last: dict[str, float] = {}
        while not self._stop.wait(0.1):
            now = time.monotonic()
            for c in self.controllers:
                if now - last.get(c.name, 0.0) < c.resync_period:
                    continue
                last[c.name] = now
                try:
                    for key in c.resync_keys():
                        c.queue.add(key)
                except Exception:
                    log.exception("%s: resync failed", c.name)

    def _work(self, c: Controller) -> None:
        failures: dict[str, int] = {}
        while not self._stop.is_set():
            key = c.queue.get(timeout=0.5)
            if key is None:
                continue
            try:
                again = c.reconcile(key)
            except StoreError as e:  # Conflict, NotFound, AlreadyExists: the world moved, look again
                n = failures[key] = failures.get(key, 0) + 1
                log.debug("%s: %s: %s (retry %d)", c.name, key, e, n)
                c.queue.add_after(key, min(MAX_BACKOFF, 0.02 * 2 ** min(n, 7)))
            except Exception:
                n = failures[key] = failures.get(key, 0) + 1
                log.exception("%s: reconciling %s failed", c.name, key)
                c.queue.add_after(key, min(MAX_BACKOFF, 0.1 * 2 ** min(n, 5)))
            else:
                failures.pop(key, None)
                if again is not None:
                    c.queue.add_after(key, again)
            finally:
                c.queue.done(key)


def default_controllers(store: ObjectStore, runtime=None, resync_period: float = 0.5) -> list[Controller]:
    from rehearsal.kubeapi.controllers.deployment import DeploymentController
    from rehearsal.kubeapi.controllers.endpoints import EndpointsController
    from rehearsal.kubeapi.controllers.gc import GarbageCollector
    from rehearsal.kubeapi.controllers.job import JobController
    from rehearsal.kubeapi.controllers.kubelet import Kubelet
    from rehearsal.kubeapi.controllers.replicaset import ReplicaSetController
    from rehearsal.kubeapi.runtime import SimulatedRuntime

    controllers: list[Controller] = [
        DeploymentController(store),
        ReplicaSetController(store),
        JobController(store),
        EndpointsController(store),
        GarbageCollector(store),
        Kubelet(store, runtime if runtime is not None else SimulatedRuntime()),
    ]
    # The kubelet polls the runtime (containers change without any store event); the others are event-driven
    # and ask for their own timed requeues (minReadySeconds, deadlines), so their resync is only a safety net.
    for c in controllers:
        c.resync_period = resync_period * (1 if c.name == "kubelet" else 4 if c.name != "garbage-collector" else 10)
    return controllers

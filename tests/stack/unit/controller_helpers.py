"""Shared helpers for the controller tests: a store with running controllers, polling, object builders."""

from __future__ import annotations

import copy
import time

from rehearsal.kubeapi.controllers import ControllerManager
from rehearsal.kubeapi.runtime import SimulatedRuntime
from rehearsal.kubeapi.store import NotFound, ObjectStore


class Kube:
    """An object store with the controllers and a fast simulated runtime running on it."""

    def __init__(self, ready_delay: float = 0.05, job_duration: float = 0.05, stop_delay: float = 0.0):
        self.store = ObjectStore()
        self.runtime = SimulatedRuntime(ready_delay=ready_delay, job_duration=job_duration, stop_delay=stop_delay)
        self.manager = ControllerManager(self.store, self.runtime, resync_period=0.1)

    def get(self, resource: str, name: str, namespace: str = "default") -> dict | None:
        try:
            return self.store.get(resource, namespace, name)
        except NotFound:
            return None

    def items(self, resource: str, namespace: str | None = "default") -> list[dict]:
        return self.store.list(resource, namespace)[0]

    def edit(self, resource: str, name: str, change, namespace: str = "default") -> dict:
        """Read-modify-write like a client: retried on conflict."""
        for _ in range(50):
            obj = self.store.get(resource, namespace, name)
            change(obj)
            try:
                return self.store.update(resource, obj, part="main" if resource != "endpoints" else "all")
            except Exception as e:  # Conflict: a controller wrote in between
                if type(e).__name__ != "Conflict":
                    raise
        raise AssertionError(f"could not update {resource}/{name}")


def running_kube():
    """Controllers running on a fresh store; stopped (threads joined) after the test (use from a fixture)."""
    k = Kube()
    k.manager.start()
    try:
        yield k
    finally:
        k.manager.stop()
        k.runtime.shutdown()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}; last value {last!r}")


def deployment(name: str = "web", replicas: int = 3, image: str = "registry.local/web:1", **spec) -> dict:
    d = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app", "image": image,
                                                  "ports": [{"name": "http", "containerPort": 8080}]}]}},
        },
    }
    d["spec"].update(copy.deepcopy(spec))
    return d


def set_image(image: str):
    def change(d: dict) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return change


def rollout_done(kube: Kube, name: str = "web"):
    """What `kubectl rollout status` waits for (and kubernetes.core's wait for a Deployment)."""
    d = kube.get("deployments.apps", name)
    st = d.get("status") or {}
    want = d["spec"].get("replicas", 1)
    return (st.get("observedGeneration", 0) >= d["metadata"]["generation"]
            and st.get("updatedReplicas", 0) == want and st.get("replicas", 0) == want
            and st.get("availableReplicas", 0) == want) and d


def owned_replicasets(kube: Kube, name: str = "web") -> list[dict]:
    d = kube.get("deployments.apps", name)
    return [rs for rs in kube.items("replicasets.apps")
            if any(r.get("uid") == d["metadata"]["uid"] for r in rs["metadata"].get("ownerReferences") or [])]


def revisions(kube: Kube, name: str = "web") -> dict[str, str]:
    """revision -> ReplicaSet name, as `kubectl rollout history` derives it."""
    return {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs["metadata"]["name"]
            for rs in owned_replicasets(kube, name)}

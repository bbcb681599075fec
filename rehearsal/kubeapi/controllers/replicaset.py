"""ReplicaSet controller: keeps spec.replicas active pods, reports status.

Follows pkg/controller/replicaset (https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/):
pods are owned through a controller ownerReference; orphans matching the selector are adopted;
surplus pods are deleted least-valuable first (controller.ActivePodsWithRanks: unscheduled before
scheduled, Pending before Running, not ready before ready, ready for less time first, more restarts
first, newer first).
"""

from __future__ import annotations

import contextlib
import time

from rehearsal.kubeapi.controllers.manager import Controller
from rehearsal.kubeapi.controllers.util import (
    condition,
    controller_ref,
    delete_pod,
    is_terminating,
    keys_for_pod_owner,
    live_object,
    owned_by,
    owner_ref_to,
    parse_time,
    pod_active,
    pod_available,
    pod_from_template,
    pod_ready,
    record_event,
    selects,
    split_key,
)
from rehearsal.kubeapi.store import Event, NotFound

_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def _deletion_rank(pod: dict) -> tuple:
    """Sort key: the pod to delete first sorts first."""
    status = pod.get("status") or {}
    ready_since = parse_time((condition(status, "Ready") or {}).get("lastTransitionTime")) or 0.0
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    created = parse_time(pod["metadata"].get("creationTimestamp")) or 0.0
    ready = pod_ready(pod)
    return (
        bool((pod.get("spec") or {}).get("nodeName")),
        _PHASE_RANK.get(status.get("phase", "Pending"), 0),
        ready,
        -ready_since if ready else 0.0,  # ready for less time is worth less
        -restarts,
        -created,  # newer first
    )


class ReplicaSetController(Controller):
    name = "replicaset"
    resource = "replicasets.apps"

    def keys_for(self, ev: Event):
        return keys_for_pod_owner(ev, self.resource, "ReplicaSet")

    def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        rs = live_object(self.store, self.resource, ns, name)
        if rs is None:
            return None
        spec = rs.get("spec") or {}
        selector = spec.get("selector")
        pods, _rv = self.store.list("pods", ns)
        owned = []
        for pod in pods:
            if owned_by(pod, rs):
                owned.append(pod)
            elif (controller_ref(pod) is None and not is_terminating(pod) and selector
                  and selects(selector, pod["metadata"].get("labels"))):
                owned.append(self._adopt(pod, rs))
        active = [p for p in owned if pod_active(p)]
        want = int(spec.get("replicas", 1))
        diff = len(active) - want
        if diff < 0:
            template = spec.get("template") or {}
            ref = owner_ref_to(rs, "ReplicaSet", "apps/v1")
            for _ in range(-diff):
                pod = self.store.create("pods", pod_from_template(template, namespace=ns, generate_name=f"{name}-",
                                                                  owner_ref=ref))
                active.append(pod)
                record_event(self.store, rs, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
                             component="replicaset-controller")
        elif diff > 0:
            for pod in sorted(active, key=_deletion_rank)[:diff]:
                with contextlib.suppress(NotFound):
                    delete_pod(self.store, pod)
                    record_event(self.store, rs, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}",
                                 component="replicaset-controller")
                active.remove(pod)
        return self._update_status(rs, active)

    def _adopt(self, pod: dict, rs: dict) -> dict:
        pod["metadata"].setdefault("ownerReferences", []).append(owner_ref_to(rs, "ReplicaSet", "apps/v1"))
        return self.store.update("pods", pod, part="main")  # carries resourceVersion: Conflict if it moved

    def _update_status(self, rs: dict, active: list[dict]) -> float | None:
        spec = rs.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        now = time.time()
        ready = [p for p in active if pod_ready(p)]
        available = [p for p in ready if pod_available(p, min_ready, now)]
        fully_labeled = [p for p in active
                         if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in template_labels.items())]
        old = rs.get("status") or {}
        status = {
            "replicas": len(active),
            "fullyLabeledReplicas": len(fully_labeled),
            "readyReplicas": len(ready),
            "availableReplicas": len(available),
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        # kube omits zero counts on the wire (omitempty); replicas is always present.
        status = {k: v for k, v in status.items() if v or k == "replicas"}
        if status != old:
            rs["status"] = status
            self.store.update(self.resource, rs, part="status")
        if min_ready and len(available) < len(ready):
            return 0.5  # look again when the ready pods have been ready long enough
        return None

"""Helpers shared by the controllers: owner references, pod readiness, conditions, events."""

from __future__ import annotations

import calendar
import contextlib
import time

from rehearsal.kubeapi.selectors import label_selector_matches
from rehearsal.kubeapi.store import AlreadyExists, NotFound, ObjectStore, now_rfc3339, random_suffix

POD_TEMPLATE_HASH = "pod-template-hash"  # apps.DefaultDeploymentUniqueLabelKey


def key_of(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name')}"


def split_key(key: str) -> tuple[str, str]:
    ns, _, name = key.partition("/")
    return ns, name


def parse_time(ts: str | None) -> float | None:
    """Seconds since the epoch for an RFC 3339 UTC timestamp as the store writes them."""
    if not ts:
        return None
    try:
        return float(calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


def controller_ref(obj: dict) -> dict | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def controller_key(obj: dict, kind: str) -> str | None:
    """The ``namespace/name`` key of the object's controller when that is a ``kind``, else None."""
    ref = controller_ref(obj)
    if ref and ref.get("kind") == kind:
        return f"{obj['metadata'].get('namespace') or ''}/{ref['name']}"
    return None


def keys_for_pod_owner(ev, resource: str, kind: str) -> list[str] | tuple:
    """What a controller of ``kind`` objects (stored as ``resource``) reconciles for a watch event: the
    object itself, or the one controlling a pod that changed."""
    if ev.resource == resource:
        return [key_of(ev.object)]
    if ev.resource == "pods" and (key := controller_key(ev.object, kind)):
        return [key]
    return ()


def owner_ref_to(owner: dict, kind: str, api_version: str) -> dict:
    """A controller ownerReference as metav1.NewControllerRef builds it."""
    meta = owner["metadata"]
    return {"apiVersion": api_version, "kind": kind, "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


def owned_by(obj: dict, owner: dict) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == owner["metadata"]["uid"]


def selects(selector: dict | None, labels: dict | None) -> bool:
    """A workload's metav1.LabelSelector; a missing (nil) selector selects nothing, as in kube."""
    if selector is None:
        return False
    return label_selector_matches(selector, labels or {})


def condition(obj_status: dict, type_: str) -> dict | None:
    return next((c for c in obj_status.get("conditions") or [] if c.get("type") == type_), None)


def is_terminating(obj: dict) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def live_object(store: ObjectStore, resource: str, ns: str, name: str) -> dict | None:
    """The object, or None when it is gone or being deleted: nothing for its controller to do then
    (its dependents go through the garbage collector)."""
    try:
        obj = store.get(resource, ns, name)
    except NotFound:
        return None
    return None if is_terminating(obj) else obj


def pod_ready(pod: dict) -> bool:
    cond = condition(pod.get("status") or {}, "Ready")
    return bool(cond and cond.get("status") == "True")


def pod_available(pod: dict, min_ready_seconds: int, now: float | None = None) -> bool:
    """Ready for at least minReadySeconds (podutil.IsPodAvailable)."""
    if not pod_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = parse_time((condition(pod.get("status") or {}, "Ready") or {}).get("lastTransitionTime"))
    now = time.time() if now is None else now
    return since is not None and since + min_ready_seconds <= now


def pod_active(pod: dict) -> bool:
    """controller.IsPodActive: not terminal and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not is_terminating(pod)


def grace_seconds(pod: dict) -> int:
    value = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return 30 if value is None else int(value)


def delete_pod(store: ObjectStore, pod: dict) -> None:
    """A DELETE with default options: graceful, the kubelet finishes it."""
    meta = pod["metadata"]
    store.mark_deleting("pods", meta.get("namespace"), meta["name"], grace_seconds(pod))


def pod_from_template(template: dict, *, namespace: str, generate_name: str, owner_ref: dict,
                      extra_labels: dict | None = None) -> dict:
    """A Pod as a workload controller creates it, with the PodSpec defaults kube-apiserver would add."""
    tmeta = template.get("metadata") or {}
    labels = dict(tmeta.get("labels") or {})
    labels.update(extra_labels or {})
    spec = dict(template.get("spec") or {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    meta: dict = {"generateName": generate_name, "namespace": namespace, "labels": labels,
                  "ownerReferences": [owner_ref]}
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": {"phase": "Pending", "qosClass": "BestEffort"}}


def set_condition(conditions: list[dict], new: dict, *, keep_transition_if_same_status: bool = True) -> list[dict]:
    """Replace the condition of new["type"] (SetDeploymentCondition semantics).

    Unchanged status and reason: keep the existing condition untouched. Same status, other reason:
    keep its lastTransitionTime.
    """
    cur = next((c for c in conditions if c.get("type") == new["type"]), None)
    if cur is not None and cur.get("status") == new["status"] and cur.get("reason") == new.get("reason"):
        return conditions
    if cur is not None and cur.get("status") == new["status"] and keep_transition_if_same_status:
        new = {**new, "lastTransitionTime": cur.get("lastTransitionTime", new.get("lastTransitionTime"))}
    return [c for c in conditions if c.get("type") != new["type"]] + [new]


def record_event(store: ObjectStore, involved: dict, reason: str, message: str, *, component: str,
                 type_: str = "Normal") -> None:
    """A core/v1 Event about ``involved``, as client-go's event recorder writes one (best effort)."""
    meta = involved.get("metadata") or {}
    if _namespace_terminating(store, meta.get("namespace") or "default"):
        return  # kube-apiserver refuses new content there (NamespaceLifecycle), so the recorder's write fails
    now = now_rfc3339()
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta.get('name')}.{int(time.time() * 1e9):x}{random_suffix(3)}",
                     "namespace": meta.get("namespace") or "default"},
        "involvedObject": {"apiVersion": involved.get("apiVersion"), "kind": involved.get("kind"),
                           "name": meta.get("name"), "namespace": meta.get("namespace"),
                           "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")},
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": type_,
        "eventTime": None,
        "reportingComponent": component,
        "reportingInstance": "",
    }
    with contextlib.suppress(AlreadyExists, ValueError):
        store.create("events", event)


def _namespace_terminating(store: ObjectStore, name: str) -> bool:
    try:
        return is_terminating(store.get("namespaces", None, name))
    except NotFound:
        return False

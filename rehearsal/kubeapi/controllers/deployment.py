"""Deployment controller: ReplicaSets per pod template, rolling/recreate rollouts, rollout status.

A re-implementation of the behaviour of pkg/controller/deployment (kube 1.32) in the parts a user
notices (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/):

- the new ReplicaSet is the (oldest) one whose pod template equals the Deployment's ignoring the
  pod-template-hash label (EqualIgnoreHash), else one named ``<deployment>-<hash>`` is created;
- revisions: the new ReplicaSet gets max(old revisions)+1; reusing an old ReplicaSet (rollout undo)
  moves its revision to max+1 and records the old number in ``revision-history``;
- RollingUpdate keeps sum(spec.replicas) <= replicas+maxSurge and available >= replicas-maxUnavailable
  (surge rounds up, unavailable rounds down; both 0 resolves unavailable to 1);
- Recreate scales all old ReplicaSets to 0 and waits until their pods are gone;
- a scaling event (desired-replicas annotation differs) scales ReplicaSets proportionally;
- status counts and the Available/Progressing conditions, ProgressDeadlineExceeded included, which is
  what ``kubectl rollout status`` reads.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import time

from rehearsal.kubeapi.controllers.manager import Controller
from rehearsal.kubeapi.controllers.util import (
    POD_TEMPLATE_HASH,
    condition,
    controller_key,
    controller_ref,
    is_terminating,
    key_of,
    owned_by,
    owner_ref_to,
    parse_time,
    record_event,
    set_condition,
    split_key,
)
from rehearsal.kubeapi.store import AlreadyExists, Event, NotFound, now_rfc3339

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# Deployment annotations that are not copied onto its ReplicaSets (deploymentutil.annotationsToSkip).
_SKIP_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
                     DESIRED_REPLICAS, MAX_REPLICAS, "deprecated.deployment.rollback.to"}
MAX_INT32 = 2**31 - 1
MAX_REV_HISTORY_CHARS = 2000
_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery rand.SafeEncodeString


# -- pure helpers (unit-tested directly) ------------------------------------------------------


def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def pod_template_hash(template: dict, collision_count: int | None = None) -> str:
    """A short, stable name suffix for a pod template (kube: fnv32a, then SafeEncodeString of the number).

    kube hashes its Go struct dump, so the values differ from a real cluster's; only the shape matches.
    """
    text = json.dumps(_normalized(template), sort_keys=True, separators=(",", ":"))
    if collision_count:
        text += str(collision_count)
    return "".join(_HASH_ALPHABET[ord(ch) % len(_HASH_ALPHABET)] for ch in str(_fnv32a(text.encode())))


def _normalized(value):
    """Drop nulls and empty maps/lists: apimachinery's semantic equality treats nil and empty alike."""
    if isinstance(value, dict):
        out = {k: _normalized(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


def equal_ignore_hash(t1: dict, t2: dict) -> bool:
    """deploymentutil.EqualIgnoreHash: templates equal once the pod-template-hash label is removed."""
    a, b = copy.deepcopy(t1 or {}), copy.deepcopy(t2 or {})
    for t in (a, b):
        (t.get("metadata") or {}).get("labels", {}).pop(POD_TEMPLATE_HASH, None)
    return _normalized(a) == _normalized(b)


def scaled_value(value, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        pct = int(text[:-1])
        exact = pct * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(text)


def _round_half_up(x: float) -> int:
    """integer.RoundToInt32: halves round away from zero (Python's round() would round to even)."""
    return int(x + 0.5) if x >= 0 else int(x - 0.5)


def _replicas(obj: dict) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def is_rolling(d: dict) -> bool:
    return ((d.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def resolve_fenceposts(d: dict) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) for the Deployment's replicas; API defaults 25%/25% when unset."""
    ru = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    desired = _replicas(d)
    surge = scaled_value(ru.get("maxSurge", "25%"), desired, True)
    unavailable = scaled_value(ru.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # rounding made both zero: kube allows one unavailable so the rollout can move
    return surge, unavailable


def max_surge(d: dict) -> int:
    return resolve_fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: dict) -> int:
    if not is_rolling(d) or _replicas(d) == 0:
        return 0
    return min(resolve_fenceposts(d)[1], _replicas(d))


def revision(rs: dict) -> int:
    try:
        return int(((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _status_int(obj: dict, field: str) -> int:
    return int((obj.get("status") or {}).get(field) or 0)


def _created(rs: dict) -> tuple:
    return (parse_time(rs["metadata"].get("creationTimestamp")) or 0.0, rs["metadata"]["name"])


def _progress_deadline(d: dict) -> int | None:
    value = (d.get("spec") or {}).get("progressDeadlineSeconds", 600)
    return None if value is None or int(value) == MAX_INT32 else int(value)


def _new_condition(type_: str, status: str, reason: str, message: str) -> dict:
    now = now_rfc3339()
    return {"type": type_, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def deployment_complete(d: dict, status: dict) -> bool:
    want = _replicas(d)
    return (int(status.get("updatedReplicas") or 0) == want and int(status.get("replicas") or 0) == want
            and int(status.get("availableReplicas") or 0) == want
            and int(status.get("observedGeneration") or 0) >= d["metadata"].get("generation", 1))


def deployment_progressing(d: dict, new: dict) -> bool:
    old = d.get("status") or {}

    def g(s: dict, f: str) -> int:
        return int(s.get(f) or 0)

    return (g(new, "updatedReplicas") > g(old, "updatedReplicas")
            or g(new, "replicas") - g(new, "updatedReplicas") < g(old, "replicas") - g(old, "updatedReplicas")
            or g(new, "readyReplicas") > g(old, "readyReplicas")
            or g(new, "availableReplicas") > g(old, "availableReplicas"))


def deployment_timed_out(d: dict, status: dict, now: float | None = None) -> bool:
    deadline = _progress_deadline(d)
    cond = condition(status, "Progressing")
    if deadline is None or cond is None:
        return False
    if cond.get("reason") == "NewReplicaSetAvailable":
        return False  # a finished rollout does not time out
    if cond.get("reason") == "ProgressDeadlineExceeded":
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    now = time.time() if now is None else now
    return since is not None and since + deadline < now


# -- the controller -------------------------------------------------------------------------


class DeploymentController(Controller):
    name = "deployment"
    resource = "deployments.apps"

    def keys_for(self, ev: Event):
        if ev.resource == self.resource:
            return [key_of(ev.object)]
        if ev.resource == "replicasets.apps" and (key := controller_key(ev.object, "Deployment")):
            return [key]
        if ev.resource == "pods" and ev.type == "DELETED" and (rs_key := controller_key(ev.object, "ReplicaSet")):
            # Recreate waits for old pods to be gone; their disappearance changes no ReplicaSet.
            try:
                rs = self.store.get("replicasets.apps", *split_key(rs_key))
            except NotFound:
                return ()
            if key := controller_key(rs, "Deployment"):
                return [key]
        return ()

    # -- main loop ---------------------------------------------------------------------------
    def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        try:
            d = self.store.get(self.resource, ns, name)
        except NotFound:
            return None
        rs_list = [rs for rs in self.store.list("replicasets.apps", ns)[0] if owned_by(rs, d)]
        if is_terminating(d):
            return None
        if not (d.get("spec") or {}).get("selector"):
            return None  # validation rejects this through the API; nothing sensible to do
        d = self._check_paused_conditions(d)
        if (d.get("spec") or {}).get("paused"):
            return self._sync(d, rs_list)
        if self._is_scaling_event(d, rs_list):
            return self._sync(d, rs_list)
        if is_rolling(d):
            return self._rollout_rolling(d, rs_list)
        return self._rollout_recreate(d, rs_list)

    # -- ReplicaSet bookkeeping -----------------------------------------------------------------
    def _find_new(self, d: dict, rs_list: list[dict]) -> dict | None:
        template = (d.get("spec") or {}).get("template") or {}
        for rs in sorted(rs_list, key=_created):  # the oldest equal one wins, as in kube
            if equal_ignore_hash((rs.get("spec") or {}).get("template") or {}, template):
                return rs
        return None

    def _get_all(self, d: dict, rs_list: list[dict], create: bool) -> tuple[dict, dict | None, list[dict]]:
        """(deployment, new RS or None, old RSs), syncing revision annotations (getAllReplicaSetsAndSyncRevision)."""
        new_rs = self._find_new(d, rs_list)
        old = [rs for rs in rs_list if new_rs is None or rs["metadata"]["uid"] != new_rs["metadata"]["uid"]]
        new_revision = str(max([revision(rs) for rs in old], default=0) + 1)
        if new_rs is not None:
            return (*self._sync_existing_new(d, new_rs, new_revision), old)
        if not create:
            return d, None, old
        d, new_rs = self._create_new(d, old, new_revision)
        return d, new_rs, old

    def _set_rs_annotations(self, d: dict, rs: dict, new_revision: str, exists: bool) -> bool:
        """SetNewReplicaSetAnnotations: copy the Deployment's annotations, advance the revision."""
        ann = rs["metadata"].setdefault("annotations", {})
        changed = False
        for k, v in ((d["metadata"].get("annotations")) or {}).items():
            if k not in _SKIP_ANNOTATIONS and ann.get(k) != v:
                ann[k] = v
                changed = True
        old_rev_text = ann.get(REVISION)
        try:
            old_rev = int(old_rev_text) if old_rev_text else 0
        except ValueError:
            return changed
        if old_rev < int(new_revision):
            ann[REVISION] = new_revision
            changed = True
            if old_rev_text:  # a rollback onto this ReplicaSet: keep its former revision numbers
                history = [h for h in ann.get(REVISION_HISTORY, "").split(",") if h]
                history.append(old_rev_text)
                while len(",".join(history)) > MAX_REV_HISTORY_CHARS and len(history) > 1:
                    history.pop(0)
                ann[REVISION_HISTORY] = ",".join(history)
        if not exists:
            changed = self._set_replicas_annotations(d, rs) or changed
        return changed

    @staticmethod
    def _set_replicas_annotations(d: dict, rs: dict) -> bool:
        ann = rs["metadata"].setdefault("annotations", {})
        want = {DESIRED_REPLICAS: str(_replicas(d)), MAX_REPLICAS: str(_replicas(d) + max_surge(d))}
        if all(ann.get(k) == v for k, v in want.items()):
            return False
        ann.update(want)
        return True

    def _set_deployment_revision(self, d: dict, rev: str, cond: dict | None = None) -> dict:
        """Record the revision on the Deployment (and maybe a Progressing condition) if they changed."""
        ann = d["metadata"].get("annotations") or {}
        if ann.get(REVISION) != rev:
            d["metadata"].setdefault("annotations", {})[REVISION] = rev
            d = self.store.update(self.resource, d, part="main")
        if cond is not None:
            status = dict(d.get("status") or {})
            conds = set_condition(list(status.get("conditions") or []), cond)
            if conds != status.get("conditions"):
                status["conditions"] = conds
                d["status"] = status
                d = self.store.update(self.resource, d, part="status")
        return d

    def _sync_existing_new(self, d: dict, rs: dict, new_revision: str) -> tuple[dict, dict]:
        spec = rs.setdefault("spec", {})
        min_ready = (d.get("spec") or {}).get("minReadySeconds", 0)
        changed = self._set_rs_annotations(d, rs, new_revision, exists=True)
        if changed or spec.get("minReadySeconds", 0) != min_ready:
            spec["minReadySeconds"] = min_ready
            rs = self.store.update("replicasets.apps", rs, part="main")
        cond = None
        if _progress_deadline(d) is not None and condition(d.get("status") or {}, "Progressing") is None:
            cond = _new_condition("Progressing", "True", "FoundNewReplicaSet",
                                  f'Found new replica set "{rs["metadata"]["name"]}"')
        d = self._set_deployment_revision(d, rs["metadata"]["annotations"][REVISION], cond)
        return d, rs

    def _new_rs_replicas(self, d: dict, all_rs: list[dict], new_rs: dict) -> int:
        """deploymentutil.NewRSNewReplicas."""
        if not is_rolling(d):
            return _replicas(d)
        current = sum(_replicas(rs) for rs in all_rs)
        max_total = _replicas(d) + max_surge(d)
        if current >= max_total:
            return _replicas(new_rs)
        return _replicas(new_rs) + min(max_total - current, _replicas(d) - _replicas(new_rs))

    def _create_new(self, d: dict, old: list[dict], new_revision: str) -> tuple[dict, dict]:
        spec = d.get("spec") or {}
        dstatus = d.get("status") or {}
        template = copy.deepcopy(spec.get("template") or {})
        h = pod_template_hash(template, dstatus.get("collisionCount"))
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), POD_TEMPLATE_HASH: h}
        selector = copy.deepcopy(spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), POD_TEMPLATE_HASH: h}
        ns = d["metadata"].get("namespace")
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": f"{d['metadata']['name']}-{h}", "namespace": ns,
                         "labels": dict(tmeta["labels"]),
                         "ownerReferences": [owner_ref_to(d, "Deployment", "apps/v1")]},
            "spec": {"replicas": 0, "minReadySeconds": spec.get("minReadySeconds", 0),
                     "selector": selector, "template": template},
        }
        rs["spec"]["replicas"] = self._new_rs_replicas(d, [*old, rs], rs)
        self._set_rs_annotations(d, rs, new_revision, exists=False)
        try:
            created = self.store.create("replicasets.apps", rs)
        except AlreadyExists:
            existing = self.store.get("replicasets.apps", ns, rs["metadata"]["name"])
            if owned_by(existing, d) and equal_ignore_hash(spec.get("template") or {},
                                                           (existing.get("spec") or {}).get("template")):
                return d, existing
            # A hash collision: bump collisionCount so the next attempt hashes differently.
            d["status"] = {**dstatus, "collisionCount": int(dstatus.get("collisionCount") or 0) + 1}
            self.store.update(self.resource, d, part="status")
            raise
        replicas = _replicas(created)
        if replicas > 0:
            record_event(self.store, d, "ScalingReplicaSet",
                         f"Scaled up replica set {created['metadata']['name']} from 0 to {replicas}",
                         component="deployment-controller")
        cond = None
        if _progress_deadline(d) is not None:
            cond = _new_condition("Progressing", "True", "NewReplicaSetCreated",
                                  f'Created new replica set "{created["metadata"]["name"]}"')
        d = self._set_deployment_revision(d, new_revision, cond)
        return d, created

    def _scale_rs(self, d: dict, rs: dict, new_size: int, operation: str | None = None) -> bool:
        """Set a ReplicaSet's replicas (and its desired/max annotations); True if it was written."""
        old_size = _replicas(rs)
        size_changed = old_size != new_size
        ann_changed = self._set_replicas_annotations(d, rs)
        if not size_changed and not ann_changed:
            return False
        rs.setdefault("spec", {})["replicas"] = new_size
        updated = self.store.update("replicasets.apps", rs, part="main")
        rs.clear()
        rs.update(updated)  # callers keep computing with the stored object
        if size_changed:
            operation = operation or ("up" if new_size > old_size else "down")
            record_event(self.store, d, "ScalingReplicaSet",
                         f"Scaled {operation} replica set {rs['metadata']['name']} from {old_size} to {new_size}",
                         component="deployment-controller")
        return size_changed

    # -- strategies ---------------------------------------------------------------------------
    def _rollout_rolling(self, d: dict, rs_list: list[dict]) -> float | None:
        d, new_rs, old = self._get_all(d, rs_list, create=True)
        all_rs = [*old, new_rs]
        if self._reconcile_new(d, all_rs, new_rs):
            return self._sync_rollout_status(d, all_rs, new_rs)
        active_old = [rs for rs in old if _replicas(rs) > 0]
        if self._reconcile_old(d, all_rs, active_old, new_rs):
            return self._sync_rollout_status(d, all_rs, new_rs)
        if deployment_complete(d, d.get("status") or {}):
            self._cleanup(d, old)
        return self._sync_rollout_status(d, all_rs, new_rs)

    def _reconcile_new(self, d: dict, all_rs: list[dict], new_rs: dict) -> bool:
        want = _replicas(d)
        if _replicas(new_rs) == want:
            return False
        if _replicas(new_rs) > want:
            return self._scale_rs(d, new_rs, want)
        return self._scale_rs(d, new_rs, self._new_rs_replicas(d, all_rs, new_rs))

    def _reconcile_old(self, d: dict, all_rs: list[dict], old: list[dict], new_rs: dict) -> bool:
        if sum(_replicas(rs) for rs in old) == 0:
            return False
        all_pods = sum(_replicas(rs) for rs in all_rs)
        min_available = _replicas(d) - max_unavailable(d)
        new_unavailable = _replicas(new_rs) - _status_int(new_rs, "availableReplicas")
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        # First drop old pods that are not available anyway (cleanupUnhealthyReplicas).
        cleaned = 0
        for rs in sorted(old, key=_created):
            if cleaned >= max_scaled_down:
                break
            unhealthy = _replicas(rs) - _status_int(rs, "availableReplicas")
            if _replicas(rs) == 0 or unhealthy <= 0:
                continue
            n = min(max_scaled_down - cleaned, unhealthy)
            self._scale_rs(d, rs, _replicas(rs) - n)
            cleaned += n
        # Then scale down available old pods as far as availability allows, oldest ReplicaSet first.
        available = sum(_status_int(rs, "availableReplicas") for rs in all_rs)
        scaled = 0
        if available > min_available:
            total = available - min_available
            for rs in sorted(old, key=_created):
                if scaled >= total:
                    break
                if _replicas(rs) == 0:
                    continue
                n = min(_replicas(rs), total - scaled)
                self._scale_rs(d, rs, _replicas(rs) - n)
                scaled += n
        return cleaned + scaled > 0

    def _rollout_recreate(self, d: dict, rs_list: list[dict]) -> float | None:
        d, new_rs, old = self._get_all(d, rs_list, create=False)
        all_rs = [*old, *([new_rs] if new_rs else [])]
        scaled = False
        for rs in old:
            if _replicas(rs) > 0:
                scaled = self._scale_rs(d, rs, 0) or scaled
        if scaled:
            return self._sync_rollout_status(d, all_rs, new_rs)
        if self._old_pods_running(d, new_rs, old):
            return self._sync_rollout_status(d, all_rs, new_rs)
        if new_rs is None:
            d, new_rs, old = self._get_all(d, rs_list, create=True)
            all_rs = [*old, new_rs]
        if _replicas(new_rs) != _replicas(d):
            self._scale_rs(d, new_rs, _replicas(d))
        if deployment_complete(d, d.get("status") or {}):
            self._cleanup(d, old)
        return self._sync_rollout_status(d, all_rs, new_rs)

    def _old_pods_running(self, d: dict, new_rs: dict | None, old: list[dict]) -> bool:
        if sum(_status_int(rs, "replicas") for rs in old) > 0:
            return True
        old_uids = {rs["metadata"]["uid"] for rs in old}
        for pod in self.store.list("pods", d["metadata"].get("namespace"))[0]:
            ref = controller_ref(pod)
            if ref and ref.get("uid") in old_uids and (pod.get("status") or {}).get("phase") not in (
                    "Succeeded", "Failed"):
                return True  # terminating pods count until they are gone
        return False

    # -- scaling (paused or replicas changed mid-rollout) ---------------------------------------
    def _is_scaling_event(self, d: dict, rs_list: list[dict]) -> bool:
        want = str(_replicas(d))
        for rs in rs_list:
            if _replicas(rs) > 0:
                desired = ((rs["metadata"].get("annotations")) or {}).get(DESIRED_REPLICAS)
                if desired is not None and desired != want:
                    return True
        return False

    def _sync(self, d: dict, rs_list: list[dict]) -> float | None:
        d, new_rs, old = self._get_all(d, rs_list, create=False)
        self._scale(d, new_rs, old)
        if (d.get("spec") or {}).get("paused"):
            self._cleanup(d, old)
        all_rs = [*old, *([new_rs] if new_rs else [])]
        status = self._calculate_status(d, all_rs, new_rs)
        if status != (d.get("status") or {}):
            d["status"] = status
            self.store.update(self.resource, d, part="status")
        return None

    def _scale(self, d: dict, new_rs: dict | None, old: list[dict]) -> None:
        want = _replicas(d)
        active = [rs for rs in [*([new_rs] if new_rs else []), *old] if _replicas(rs) > 0]
        if len(active) <= 1:  # FindActiveOrLatest
            target = active[0] if active else (new_rs or (max(old, key=_created) if old else None))
            if target is not None and _replicas(target) != want:
                self._scale_rs(d, target, want)
            return
        if (new_rs is not None and _replicas(new_rs) == want
                and (new_rs["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS) == str(want)
                and _status_int(new_rs, "availableReplicas") == want):
            for rs in old:  # new ReplicaSet saturated: old ones go to zero
                if _replicas(rs) > 0:
                    self._scale_rs(d, rs, 0)
            return
        if not is_rolling(d):
            return
        # Proportional scaling: spread the difference by each ReplicaSet's share of the former size.
        allowed = want + max_surge(d) if want > 0 else 0
        to_add = allowed - sum(_replicas(rs) for rs in active)
        # Bigger first; on ties newer first when scaling up, older first when scaling down (stable sorts).
        active.sort(key=_created, reverse=to_add > 0)
        active.sort(key=lambda rs: -_replicas(rs))
        sizes: dict[str, int] = {}
        added = 0
        for rs in active:
            if to_add != 0:
                prop = self._proportion(d, rs, to_add, added)
                sizes[rs["metadata"]["name"]] = _replicas(rs) + prop
                added += prop
            else:
                sizes[rs["metadata"]["name"]] = _replicas(rs)
        for i, rs in enumerate(active):
            size = sizes[rs["metadata"]["name"]]
            if i == 0 and to_add != 0:
                size = max(0, size + to_add - added)  # leftovers go to the largest
            self._scale_rs(d, rs, size, "up" if to_add > 0 else "down")

    @staticmethod
    def _proportion(d: dict, rs: dict, to_add: int, added: int) -> int:
        if _replicas(rs) == 0 or to_add == 0 or to_add == added:
            return 0
        if _replicas(d) == 0:
            fraction = -_replicas(rs)
        else:
            max_now = _replicas(d) + max_surge(d)
            try:
                before = int(((rs["metadata"].get("annotations")) or {}).get(MAX_REPLICAS, "0"))
            except ValueError:
                before = 0
            if before == 0:
                before = _status_int(d, "replicas")
            fraction = 0 if before == 0 else _round_half_up(_replicas(rs) * max_now / before) - _replicas(rs)
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    def _cleanup(self, d: dict, old: list[dict]) -> None:
        """Delete the oldest revisions beyond revisionHistoryLimit (only fully scaled-down ones)."""
        limit = (d.get("spec") or {}).get("revisionHistoryLimit", 10)
        if limit is None:
            return
        alive = [rs for rs in old if not is_terminating(rs)]
        diff = len(alive) - int(limit)
        if diff <= 0:
            return
        for rs in sorted(alive, key=lambda r: (revision(r), _created(r)))[:diff]:
            if (_status_int(rs, "replicas") != 0 or _replicas(rs) != 0
                    or rs["metadata"].get("generation", 1) > _status_int(rs, "observedGeneration")):
                continue
            with contextlib.suppress(NotFound):
                self.store.delete("replicasets.apps", rs["metadata"].get("namespace"), rs["metadata"]["name"],
                                  uid=rs["metadata"]["uid"])

    # -- status ---------------------------------------------------------------------------------
    def _calculate_status(self, d: dict, all_rs: list[dict], new_rs: dict | None) -> dict:
        old = d.get("status") or {}
        available = sum(_status_int(rs, "availableReplicas") for rs in all_rs)
        total_spec = sum(_replicas(rs) for rs in all_rs)
        status = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": sum(_status_int(rs, "replicas") for rs in all_rs),
            "updatedReplicas": _status_int(new_rs, "replicas") if new_rs else 0,
            "readyReplicas": sum(_status_int(rs, "readyReplicas") for rs in all_rs),
            "availableReplicas": available,
            "unavailableReplicas": max(0, total_spec - available),
        }
        if old.get("collisionCount") is not None:
            status["collisionCount"] = old["collisionCount"]
        conds = list(old.get("conditions") or [])
        if available >= _replicas(d) - max_unavailable(d):
            cond = _new_condition("Available", "True", "MinimumReplicasAvailable",
                                  "Deployment has minimum availability.")
        else:
            cond = _new_condition("Available", "False", "MinimumReplicasUnavailable",
                                  "Deployment does not have minimum availability.")
        status["conditions"] = set_condition(conds, cond)
        # Zero counts are omitted on the wire (omitempty), as kube-apiserver returns them.
        return {k: v for k, v in status.items() if v or k in ("observedGeneration", "conditions")}

    def _sync_rollout_status(self, d: dict, all_rs: list[dict], new_rs: dict | None) -> float | None:
        status = self._calculate_status(d, all_rs, new_rs)
        deadline = _progress_deadline(d)
        if deadline is None:
            status["conditions"] = [c for c in status["conditions"] if c.get("type") != "Progressing"]
        cur = condition(status, "Progressing")
        complete = (int(status.get("replicas") or 0) == int(status.get("updatedReplicas") or 0)
                    and cur is not None and cur.get("reason") == "NewReplicaSetAvailable")
        again = None
        if deadline is not None and not complete:
            rs_name = new_rs["metadata"]["name"] if new_rs else None
            if deployment_complete(d, status):
                msg = f'ReplicaSet "{rs_name}" has successfully progressed.' if rs_name else \
                    f'Deployment "{d["metadata"]["name"]}" has successfully progressed.'
                status["conditions"] = set_condition(
                    status["conditions"], _new_condition("Progressing", "True", "NewReplicaSetAvailable", msg))
            elif deployment_progressing(d, status):
                msg = f'ReplicaSet "{rs_name}" is progressing.' if rs_name else \
                    f'Deployment "{d["metadata"]["name"]}" is progressing.'
                new = _new_condition("Progressing", "True", "ReplicaSetUpdated", msg)
                # Progress moves lastUpdateTime even with an unchanged reason; the transition time stays.
                if cur is not None and cur.get("status") == "True":
                    new["lastTransitionTime"] = cur.get("lastTransitionTime", new["lastTransitionTime"])
                status["conditions"] = [c for c in status["conditions"] if c.get("type") != "Progressing"] + [new]
            elif deployment_timed_out(d, status):
                msg = f'ReplicaSet "{rs_name}" has timed out progressing.' if rs_name else \
                    f'Deployment "{d["metadata"]["name"]}" has timed out progressing.'
                status["conditions"] = set_condition(
                    status["conditions"], _new_condition("Progressing", "False", "ProgressDeadlineExceeded", msg))
            else:
                again = 1.0  # look again around the deadline (the periodic resync also covers it)
        if status != (d.get("status") or {}):
            d["status"] = status
            self.store.update(self.resource, d, part="status")
        return again

    def _check_paused_conditions(self, d: dict) -> dict:
        if _progress_deadline(d) is None:
            return d
        status = d.get("status") or {}
        cur = condition(status, "Progressing")
        if cur is not None and cur.get("reason") == "ProgressDeadlineExceeded":
            return d
        paused = bool((d.get("spec") or {}).get("paused"))
        if paused and (cur is None or cur.get("reason") != "DeploymentPaused"):
            cond = _new_condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
        elif not paused and cur is not None and cur.get("reason") == "DeploymentPaused":
            cond = _new_condition("Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed")
        else:
            return d
        d["status"] = {**status, "conditions": set_condition(list(status.get("conditions") or []), cond)}
        return self.store.update(self.resource, d, part="status")

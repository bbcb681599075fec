"""The Deployment controller on the object store: ReplicaSets, revisions, rollout strategies, status."""

from __future__ import annotations

import json
import threading
import time

import pytest

from rehearsal.kubeapi.controllers.deployment import equal_ignore_hash, resolve_fenceposts
from tests.stack.unit.controller_helpers import (
    deployment,
    owned_replicasets,
    revisions,
    rollout_done,
    running_kube,
    set_image,
    wait_for,
)

REVISION = "deployment.kubernetes.io/revision"

@pytest.fixture
def kube():
    yield from running_kube()


def test_deployment_creates_a_hash_named_replicaset_owned_by_it_and_reports_complete_rollout(kube):
    kube.store.create("deployments.apps", deployment(replicas=3))
    d = wait_for(lambda: rollout_done(kube), message="rollout")
    (rs,) = owned_replicasets(kube)
    h = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{h}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": h}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", "pod-template-hash": h}
    ref = rs["metadata"]["ownerReferences"][0]
    assert ref["kind"] == "Deployment" and ref["controller"] is True and ref["blockOwnerDeletion"] is True
    ann = rs["metadata"]["annotations"]
    assert ann[REVISION] == "1"
    assert ann["deployment.kubernetes.io/desired-replicas"] == "3"
    assert ann["deployment.kubernetes.io/max-replicas"] == "4"  # 3 + 25% surge rounded up
    assert d["metadata"]["annotations"][REVISION] == "1"
    conds = {c["type"]: c for c in d["status"]["conditions"]}
    assert conds["Available"]["status"] == "True" and conds["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conds["Progressing"]["status"] == "True" and conds["Progressing"]["reason"] == "NewReplicaSetAvailable"
    pods = kube.items("pods")
    assert len(pods) == 3 and all(p["metadata"]["name"].startswith(f"web-{h}-") for p in pods)
    assert any(e["reason"] == "ScalingReplicaSet" and e["involvedObject"]["name"] == "web"
               for e in kube.items("events"))


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable"),
    [(4, 1, 0), (4, 0, 1), (5, "30%", "30%"), (3, "25%", "25%")],
)
def test_rolling_update_keeps_surge_and_unavailability_within_bounds_at_every_step(kube, replicas, surge, unavailable):
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    kube.store.create("deployments.apps", deployment(replicas=replicas, strategy=strategy))
    wait_for(lambda: rollout_done(kube), message="first rollout")
    max_surge, max_unavailable = resolve_fenceposts(kube.get("deployments.apps", "web"))

    # Watch every committed change: the ReplicaSets' replicas and the pods' readiness as they happen.
    lock = threading.Lock()
    rs_replicas: dict[str, int] = {}
    pods: dict[str, dict] = {}
    worst = {"max_total": 0, "min_available": replicas}

    def observe(ev):
        obj = json.loads(ev.raw)
        name = obj["metadata"]["name"]
        with lock:
            if ev.resource == "replicasets.apps":
                rs_replicas[name] = 0 if ev.type == "DELETED" else obj["spec"]["replicas"]
            elif ev.resource == "pods":
                if ev.type == "DELETED":
                    pods.pop(name, None)
                else:
                    pods[name] = obj
            else:
                return
            ready = sum(1 for p in pods.values() if not p["metadata"].get("deletionTimestamp")
                        and any(c["type"] == "Ready" and c["status"] == "True"
                                for c in (p.get("status") or {}).get("conditions") or []))
            worst["max_total"] = max(worst["max_total"], sum(rs_replicas.values()))
            worst["min_available"] = min(worst["min_available"], ready)

    for rs in kube.items("replicasets.apps"):
        rs_replicas[rs["metadata"]["name"]] = rs["spec"]["replicas"]
    for p in kube.items("pods"):
        pods[p["metadata"]["name"]] = p
    kube.store.subscribe(observe)
    kube.edit("deployments.apps", "web", set_image("registry.local/web:2"))
    wait_for(lambda: rollout_done(kube), message="second rollout")

    assert worst["max_total"] == replicas + max_surge  # the surge is used, and never exceeded
    assert worst["min_available"] >= replicas - max_unavailable
    new_rs = [rs for rs in owned_replicasets(kube) if rs["spec"]["replicas"] == replicas]
    assert len(new_rs) == 1
    assert new_rs[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/web:2"


def test_fenceposts_round_surge_up_and_unavailable_down():
    d = deployment(replicas=10, strategy={"type": "RollingUpdate",
                                          "rollingUpdate": {"maxSurge": "15%", "maxUnavailable": "15%"}})
    assert resolve_fenceposts(d) == (2, 1)
    d["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": "5%", "maxUnavailable": "5%"}
    assert resolve_fenceposts(d) == (1, 0)
    d["spec"]["replicas"] = 1
    d["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": 0, "maxUnavailable": "10%"}
    assert resolve_fenceposts(d) == (0, 1)  # both zero: one may be unavailable so the rollout can proceed


def test_recreate_removes_every_old_pod_before_creating_new_ones(kube):
    kube.store.create("deployments.apps", deployment(replicas=3, strategy={"type": "Recreate"}))
    wait_for(lambda: rollout_done(kube), message="first rollout")
    old_hash = owned_replicasets(kube)[0]["metadata"]["labels"]["pod-template-hash"]
    overlap = []
    live: dict[str, str] = {p["metadata"]["name"]: old_hash for p in kube.items("pods")}

    def observe(ev):
        if ev.resource != "pods":
            return
        obj = json.loads(ev.raw)
        name = obj["metadata"]["name"]
        if ev.type == "DELETED":
            live.pop(name, None)
            return
        h = obj["metadata"]["labels"]["pod-template-hash"]
        live[name] = h
        if h != old_hash and old_hash in live.values():
            overlap.append(name)

    kube.store.subscribe(observe)
    kube.edit("deployments.apps", "web", set_image("registry.local/web:2"))
    wait_for(lambda: rollout_done(kube), message="recreate rollout")
    assert overlap == []
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in kube.items("pods")} != {old_hash}
    assert len(kube.items("pods")) == 3


def test_each_template_change_gets_the_next_revision_and_history_is_trimmed_to_the_limit(kube):
    kube.store.create("deployments.apps", deployment(replicas=1, revisionHistoryLimit=2))
    wait_for(lambda: rollout_done(kube), message="rollout 1")
    for version in (2, 3, 4, 5):
        kube.edit("deployments.apps", "web", set_image(f"registry.local/web:{version}"))
        wait_for(lambda: rollout_done(kube), message=f"rollout {version}")
    # Cleanup runs once the rollout is complete: the current ReplicaSet plus the two newest old ones remain.
    wait_for(lambda: len(owned_replicasets(kube)) == 3, message="history trimmed")
    revs = revisions(kube)
    assert sorted(revs, key=int) == ["3", "4", "5"]
    current = kube.get("replicasets.apps", revs["5"])
    assert current["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/web:5"
    assert kube.get("deployments.apps", "web")["metadata"]["annotations"][REVISION] == "5"


def test_undo_reuses_the_old_replicaset_and_moves_it_to_the_newest_revision(kube):
    kube.store.create("deployments.apps", deployment(replicas=2))
    wait_for(lambda: rollout_done(kube), message="rollout 1")
    rev1_name = revisions(kube)["1"]
    kube.edit("deployments.apps", "web", set_image("registry.local/web:2"))
    wait_for(lambda: rollout_done(kube) and "2" in revisions(kube), message="rollout 2")

    # What `kubectl rollout undo` does: copy revision 1's template (minus the hash label) into the Deployment.
    template = kube.get("replicasets.apps", rev1_name)["spec"]["template"]
    del template["metadata"]["labels"]["pod-template-hash"]

    def undo(d):
        d["spec"]["template"] = template

    kube.edit("deployments.apps", "web", undo)
    wait_for(lambda: rollout_done(kube) and "3" in revisions(kube), message="undo rollout")
    revs = revisions(kube)
    assert sorted(revs, key=int) == ["2", "3"]  # revision 1 is gone: it became 3
    assert revs["3"] == rev1_name
    rs = kube.get("replicasets.apps", rev1_name)
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert rs["spec"]["replicas"] == 2
    assert len(owned_replicasets(kube)) == 2  # no new ReplicaSet was created
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in kube.items("pods")} == {
        rs["metadata"]["labels"]["pod-template-hash"]}


def test_template_equality_ignores_the_hash_label_and_empty_fields():
    a = {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}}, "spec": {"containers": [{"name": "c"}]}}
    b = {"metadata": {"labels": {"app": "web"}, "annotations": {}}, "spec": {"containers": [{"name": "c", "env": []}]}}
    assert equal_ignore_hash(a, b)
    b["spec"]["containers"][0]["image"] = "x"
    assert not equal_ignore_hash(a, b)


def test_never_ready_rollout_fails_with_progress_deadline_exceeded(kube):
    kube.store.create("deployments.apps", deployment(replicas=2, progressDeadlineSeconds=2))
    wait_for(lambda: rollout_done(kube), message="rollout 1")
    kube.edit("deployments.apps", "web", set_image("registry.local/web:never-ready"))

    def progressing():
        conds = {c["type"]: c for c in kube.get("deployments.apps", "web")["status"].get("conditions", [])}
        return conds.get("Progressing")

    cond = wait_for(lambda: (c := progressing()) and c["reason"] == "ProgressDeadlineExceeded" and c, timeout=10,
                    message="ProgressDeadlineExceeded")
    assert cond["status"] == "False"
    assert "has timed out progressing" in cond["message"]
    d = kube.get("deployments.apps", "web")
    # The old pods stay: with maxUnavailable 25% of 2 = 0, the rollout may not take any of them away.
    assert d["status"]["availableReplicas"] == 2
    assert d["status"]["updatedReplicas"] == 1
    assert d["status"]["unavailableReplicas"] == 1


def test_available_replicas_wait_for_min_ready_seconds(kube):
    kube.store.create("deployments.apps", deployment(replicas=2, minReadySeconds=2))
    wait_for(lambda: (kube.get("deployments.apps", "web").get("status") or {}).get("readyReplicas") == 2,
             message="pods ready")
    status = kube.get("deployments.apps", "web")["status"]
    assert status.get("availableReplicas", 0) == 0
    t0 = time.monotonic()
    wait_for(lambda: rollout_done(kube), timeout=10, message="available after minReadySeconds")
    assert time.monotonic() - t0 >= 0.9  # timestamps have one-second resolution


def test_paused_deployment_does_not_roll_out_until_resumed(kube):
    kube.store.create("deployments.apps", deployment(replicas=2))
    wait_for(lambda: rollout_done(kube), message="rollout 1")

    def pause_and_change(d):
        d["spec"]["paused"] = True
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.local/web:2"

    kube.edit("deployments.apps", "web", pause_and_change)
    cond = wait_for(lambda: next((c for c in kube.get("deployments.apps", "web")["status"]["conditions"]
                                  if c["type"] == "Progressing" and c["reason"] == "DeploymentPaused"), None),
                    message="paused condition")
    assert cond["status"] == "Unknown"
    time.sleep(0.5)
    assert len(owned_replicasets(kube)) == 1

    def resume(d):
        d["spec"]["paused"] = False

    kube.edit("deployments.apps", "web", resume)
    wait_for(lambda: rollout_done(kube) and "2" in revisions(kube), message="rollout after resume")


def test_scaling_the_deployment_scales_its_replicaset(kube):
    kube.store.create("deployments.apps", deployment(replicas=2))
    wait_for(lambda: rollout_done(kube), message="rollout")

    def scale(d):
        d["spec"]["replicas"] = 5

    kube.edit("deployments.apps", "web", scale)
    wait_for(lambda: rollout_done(kube) and rollout_done(kube)["status"]["availableReplicas"] == 5, message="scaled")
    (rs,) = owned_replicasets(kube)
    assert rs["spec"]["replicas"] == 5
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "5"
    assert len(kube.items("pods")) == 5
    assert rs["metadata"]["annotations"][REVISION] == "1"  # scaling is not a new revision


def test_scaling_mid_rollout_scales_old_and_new_replicasets_proportionally(kube):
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 0}}
    kube.store.create("deployments.apps", deployment(replicas=4, strategy=strategy))
    wait_for(lambda: rollout_done(kube), message="rollout 1")
    kube.edit("deployments.apps", "web", set_image("registry.local/web:never-ready"))
    # Stuck: 4 old available, 2 new never ready (4 + surge 2).
    wait_for(lambda: sorted(rs["spec"]["replicas"] for rs in owned_replicasets(kube)) == [2, 4], message="stuck")

    def scale(d):
        d["spec"]["replicas"] = 8

    kube.edit("deployments.apps", "web", scale)
    # 6 replicas at max size 6 become 10 at max size 10: old 4 -> 7 (rounded), new 2 -> 3.
    wait_for(lambda: sorted(rs["spec"]["replicas"] for rs in owned_replicasets(kube)) == [3, 7],
             message="proportional scale")

"""The ReplicaSet controller on the object store: pod count, deletion order, adoption, status."""

from __future__ import annotations

import time

import pytest

from tests.stack.unit.controller_helpers import running_kube, wait_for


@pytest.fixture
def kube():
    yield from running_kube()


def replicaset(name: str = "front", replicas: int = 3, image: str = "registry.local/front:1") -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name, "tier": "web"}},
                         "spec": {"containers": [{"name": "app", "image": image}]}},
        },
    }


def live_pods(kube) -> list[dict]:
    return [p for p in kube.items("pods") if not p["metadata"].get("deletionTimestamp")]


def scale(kube, replicas: int, name: str = "front") -> None:
    def change(rs):
        rs["spec"]["replicas"] = replicas
    kube.edit("replicasets.apps", name, change)


def test_replicaset_creates_owned_pods_from_its_template_and_reports_them_ready(kube):
    rs = kube.store.create("replicasets.apps", replicaset(replicas=3))
    status = wait_for(lambda: (s := kube.get("replicasets.apps", "front").get("status") or {})
                      .get("availableReplicas") == 3 and s, message="3 available")
    assert status["replicas"] == 3 and status["readyReplicas"] == 3 and status["fullyLabeledReplicas"] == 3
    assert status["observedGeneration"] == 1
    pods = kube.items("pods")
    assert len(pods) == 3
    for pod in pods:
        assert pod["metadata"]["name"].startswith("front-") and len(pod["metadata"]["name"]) == len("front-") + 5
        assert pod["metadata"]["labels"] == {"app": "front", "tier": "web"}
        (ref,) = pod["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == ("ReplicaSet", "front",
                                                                            rs["metadata"]["uid"], True)
        assert pod["spec"]["containers"][0]["image"] == "registry.local/front:1"
    created = sorted(e["message"] for e in kube.items("events") if e["reason"] == "SuccessfulCreate")
    assert created == sorted(f"Created pod: {p['metadata']['name']}" for p in pods)


def test_scaling_down_deletes_not_ready_pods_before_ready_ones(kube):
    kube.store.create("replicasets.apps", replicaset(replicas=2))
    wait_for(lambda: (kube.get("replicasets.apps", "front").get("status") or {}).get("readyReplicas") == 2,
             message="2 ready")
    ready_names = {p["metadata"]["name"] for p in kube.items("pods")}

    def never_ready(rs):  # pods created from now on never become ready
        rs["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.local/front:never-ready"

    kube.edit("replicasets.apps", "front", never_ready)
    scale(kube, 4)
    wait_for(lambda: len(live_pods(kube)) == 4, message="4 pods")
    scale(kube, 2)
    wait_for(lambda: len(live_pods(kube)) == 2, message="back to 2 pods")
    assert {p["metadata"]["name"] for p in live_pods(kube)} == ready_names


def test_a_deleted_pod_is_replaced(kube):
    kube.store.create("replicasets.apps", replicaset(replicas=2))
    wait_for(lambda: len(live_pods(kube)) == 2, message="2 pods")
    victim = kube.items("pods")[0]["metadata"]["name"]
    kube.store.mark_deleting("pods", "default", victim, 30)
    wait_for(lambda: len(live_pods(kube)) == 2 and victim not in {p["metadata"]["name"] for p in kube.items("pods")},
             message="replacement")


def test_orphan_pod_matching_the_selector_is_adopted_and_counted(kube):
    orphan = {"apiVersion": "v1", "kind": "Pod",
              "metadata": {"name": "stray", "namespace": "default", "labels": {"app": "front"}},
              "spec": {"containers": [{"name": "app", "image": "registry.local/front:0"}]}}
    kube.store.create("pods", orphan)
    kube.store.create("replicasets.apps", replicaset(replicas=2))
    wait_for(lambda: (kube.get("replicasets.apps", "front").get("status") or {}).get("readyReplicas") == 2,
             message="2 ready")
    time.sleep(0.3)
    pods = kube.items("pods")
    assert len(pods) == 2
    stray = kube.get("pods", "stray")
    assert stray["metadata"]["ownerReferences"][0]["name"] == "front"
    # Adopted pods may not carry every template label: fullyLabeledReplicas tells them apart.
    assert kube.get("replicasets.apps", "front")["status"]["fullyLabeledReplicas"] == 1


def test_scaling_to_zero_removes_all_pods(kube):
    kube.store.create("replicasets.apps", replicaset(replicas=3))
    wait_for(lambda: len(live_pods(kube)) == 3, message="3 pods")
    scale(kube, 0)
    wait_for(lambda: kube.items("pods") == [], message="no pods")
    assert kube.get("replicasets.apps", "front")["status"] == {"replicas": 0, "observedGeneration": 2}

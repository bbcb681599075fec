"""The kubelet on the object store: binding, pod IPs, status from the runtime, graceful and forced deletion."""

from __future__ import annotations

import time

import pytest

from tests.stack.unit.controller_helpers import running_kube, wait_for


@pytest.fixture
def kube():
    yield from running_kube()


def pod(name: str, image: str = "registry.local/web:1", **spec) -> dict:
    p = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
         "spec": {"containers": [{"name": "app", "image": image}]}}
    p["spec"].update(spec)
    return p


def conditions(p: dict) -> dict[str, str]:
    return {c["type"]: c["status"] for c in (p.get("status") or {}).get("conditions") or []}


def test_pod_is_bound_given_a_unique_loopback_ip_and_becomes_running_and_ready(kube):
    for i in range(3):
        kube.store.create("pods", pod(f"p{i}"))
    pods = wait_for(lambda: (ps := kube.items("pods")) and all(conditions(p).get("Ready") == "True" for p in ps)
                    and ps, message="ready pods")
    ips = [p["status"]["podIP"] for p in pods]
    assert len(set(ips)) == 3 and all(ip.startswith("127.1.") for ip in ips)
    for p in pods:
        assert p["spec"]["nodeName"] == "rehearsal-node"
        assert p["status"]["hostIP"] == "127.0.0.1"
        assert p["status"]["phase"] == "Running"
        assert {"PodScheduled", "Initialized", "ContainersReady", "Ready"} <= set(conditions(p))
        (cs,) = p["status"]["containerStatuses"]
        assert cs["ready"] and cs["started"] and cs["restartCount"] == 0 and "running" in cs["state"]
    reasons = {(e["reason"], e["involvedObject"]["name"]) for e in kube.items("events")}
    assert ("Scheduled", "p0") in reasons and ("Started", "p0") in reasons


def test_never_ready_pod_runs_but_stays_unready(kube):
    kube.store.create("pods", pod("slow", image="registry.local/web:never-ready"))
    wait_for(lambda: (kube.get("pods", "slow").get("status") or {}).get("phase") == "Running", message="running")
    time.sleep(0.3)
    p = kube.get("pods", "slow")
    assert conditions(p)["Ready"] == "False" and conditions(p)["ContainersReady"] == "False"


def test_graceful_deletion_stops_the_pod_then_removes_the_object(kube):
    kube.runtime.stop_delay = 0.5  # the runtime takes a while to stop the containers
    kube.store.create("pods", pod("p"))
    wait_for(lambda: conditions(kube.get("pods", "p")).get("Ready") == "True", message="ready")
    kube.store.mark_deleting("pods", "default", "p", 30)
    time.sleep(0.2)
    assert kube.get("pods", "p") is not None  # still terminating
    wait_for(lambda: kube.get("pods", "p") is None, message="pod removed")
    assert [e["message"] for e in kube.items("events") if e["reason"] == "Killing"] == ["Stopping container app"]


def test_force_deleted_pod_is_stopped_in_the_runtime_and_gets_a_fresh_ip(kube):
    created = kube.store.create("pods", pod("p"))
    p = wait_for(lambda: (x := kube.get("pods", "p")) and conditions(x).get("Ready") == "True" and x, message="ready")
    assert kube.runtime.logs(p)
    kube.store.delete("pods", "default", "p")  # grace period 0: the object is gone at once
    wait_for(lambda: kube.runtime.logs(created) == "", message="runtime stopped the pod")
    kube.store.create("pods", pod("q"))
    q = wait_for(lambda: (kube.get("pods", "q").get("status") or {}).get("podIP") and kube.get("pods", "q"),
                 message="q has an IP")
    assert q["status"]["podIP"] != p["status"]["podIP"]


def test_run_to_completion_pod_reports_its_exit_code(kube):
    kube.store.create("pods", pod("once", restartPolicy="Never"))
    p = wait_for(lambda: (x := kube.get("pods", "once")) and (x.get("status") or {}).get("phase") == "Succeeded" and x,
                 message="Succeeded")
    term = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    assert conditions(p)["Ready"] == "False"


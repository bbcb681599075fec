"""The emulator's controllers seen through the real kubectl: rollouts, jobs, endpoints, namespace deletion.

Uses the session emulator from conftest.py (``kube_cluster`` / ``kubectl``), with the default simulated
pod runtime: an image tag containing "never-ready" never becomes ready, REHEARSAL_EXIT_CODE sets a Job
pod's exit code.
"""

from __future__ import annotations

import re
import uuid

import pytest

ROLLOUT = ("--timeout=60s",)


@pytest.fixture
def ns(kubectl):
    name = f"ctrl-{uuid.uuid4().hex[:8]}"
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def deployment(name: str, image: str, replicas: int = 2, **spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": image,
                                                           "ports": [{"name": "http", "containerPort": 8080}]}]}},
                     **spec}}


def history(kubectl, ns: str, name: str) -> list[str]:
    out = kubectl("rollout", "history", f"deployment/{name}", "-n", ns).stdout
    return re.findall(r"^(\d+)\s", out, flags=re.MULTILINE)


def image_of(obj: dict) -> str:
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


def test_rollout_lifecycle_set_image_history_undo_and_to_revision(kubectl, ns):
    kubectl.apply(deployment("web", "registry.local/web:1"), "-n", ns)
    kubectl("rollout", "status", "deployment/web", "-n", ns, *ROLLOUT)
    kubectl("set", "image", "deployment/web", "app=registry.local/web:2", "-n", ns)
    kubectl("rollout", "status", "deployment/web", "-n", ns, *ROLLOUT)
    assert history(kubectl, ns, "web") == ["1", "2"]
    rs_by_image = {image_of(rs): rs["metadata"]["name"] for rs in kubectl.json("rs", "-n", ns)["items"]}

    kubectl("rollout", "undo", "deployment/web", "-n", ns)
    kubectl("rollout", "status", "deployment/web", "-n", ns, *ROLLOUT)
    assert history(kubectl, ns, "web") == ["2", "3"]  # revision 1's ReplicaSet is reused as revision 3
    d = kubectl.json("deployment", "web", "-n", ns)
    assert image_of(d) == "registry.local/web:1"
    rs3 = [rs for rs in kubectl.json("rs", "-n", ns)["items"]
           if rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"]
    assert [rs["metadata"]["name"] for rs in rs3] == [rs_by_image["registry.local/web:1"]]

    kubectl("rollout", "undo", "deployment/web", "-n", ns, "--to-revision=2")
    kubectl("rollout", "status", "deployment/web", "-n", ns, *ROLLOUT)
    assert history(kubectl, ns, "web") == ["3", "4"]
    assert image_of(kubectl.json("deployment", "web", "-n", ns)) == "registry.local/web:2"
    events = kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=web").stdout
    assert "ScalingReplicaSet" in events


def test_recreate_rollout_and_never_ready_release_failing_its_progress_deadline(kubectl, ns):
    kubectl.apply(deployment("api", "registry.local/api:1", replicas=3, strategy={"type": "Recreate"},
                             progressDeadlineSeconds=3), "-n", ns)
    kubectl("rollout", "status", "deployment/api", "-n", ns, *ROLLOUT)
    kubectl("set", "image", "deployment/api", "app=registry.local/api:never-ready", "-n", ns)
    proc = kubectl("rollout", "status", "deployment/api", "-n", ns, *ROLLOUT, check=False)
    assert proc.returncode != 0
    assert 'deployment "api" exceeded its progress deadline' in proc.stderr
    # Recreate took every old pod down first: nothing of the old release is left serving.
    pods = kubectl.json("pods", "-n", ns, "-l", "app=api")["items"]
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"registry.local/api:never-ready"}
    d = kubectl.json("deployment", "api", "-n", ns)
    assert d["status"].get("availableReplicas", 0) == 0

    kubectl("rollout", "undo", "deployment/api", "-n", ns)
    # Not `rollout status`: as on a real cluster, the stale ProgressDeadlineExceeded condition can make it
    # fail until the controller records progress. Availability is what the undo must restore.
    kubectl("wait", "--for=condition=Available", "deployment/api", "-n", ns, "--timeout=30s")
    pods = kubectl.json("pods", "-n", ns, "-l", "app=api")["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert {p["spec"]["containers"][0]["image"] for p in live} == {"registry.local/api:1"}


def test_job_completes_or_fails_after_its_backoff_limit(kubectl, ns):
    def job(name: str, exit_code: int) -> dict:
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
                "spec": {"backoffLimit": 1, "template": {"spec": {"restartPolicy": "Never", "containers": [
                    {"name": "run", "image": "registry.local/migrate:1",
                     "env": [{"name": "REHEARSAL_EXIT_CODE", "value": str(exit_code)}]}]}}}}

    kubectl.apply([job("ok", 0), job("bad", 4)], "-n", ns)
    kubectl("wait", "--for=condition=complete", "job/ok", "-n", ns, "--timeout=30s")
    kubectl("wait", "--for=condition=failed", "job/bad", "-n", ns, "--timeout=30s")
    bad = kubectl.json("job", "bad", "-n", ns)
    assert bad["status"]["failed"] == 2
    assert any(c["reason"] == "BackoffLimitExceeded" for c in bad["status"]["conditions"])


def test_service_endpoints_track_ready_pods_and_namespace_deletion_removes_everything(kubectl, ns, wait_until):
    kubectl.apply([deployment("shop", "registry.local/shop:1", replicas=2),
                   {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop"},
                    "spec": {"selector": {"app": "shop"}, "ports": [{"port": 80, "targetPort": "http"}]}}], "-n", ns)
    kubectl("rollout", "status", "deployment/shop", "-n", ns, *ROLLOUT)

    def ready_addresses():
        ep = kubectl.json("endpoints", "shop", "-n", ns)
        return sorted(f"{a['ip']}:{p['port']}" for s in ep.get("subsets") or []
                      for a in s.get("addresses") or [] for p in s["ports"])

    addresses = wait_until(lambda: len(ready_addresses()) == 2 and ready_addresses(), 30, "2 endpoints")
    pod_ips = sorted(f"{p['status']['podIP']}:8080" for p in kubectl.json("pods", "-n", ns, "-l", "app=shop")["items"])
    assert addresses == pod_ips

    kubectl("delete", "namespace", ns, "--wait=false")
    wait_until(lambda: not kubectl.exists("namespace", ns), 30, "namespace gone")
    for kind in ("deployments", "replicasets", "pods", "services", "endpoints"):
        wait_until(lambda k=kind: not kubectl.json(k, "-n", ns)["items"], 30, f"{kind} in {ns} gone")

"""The Job controller on the object store: completion, backoff failure, parallelism, deadlines."""

from __future__ import annotations

import pytest

from tests.stack.unit.controller_helpers import running_kube, wait_for


@pytest.fixture
def kube():
    yield from running_kube()


def job(name: str = "migrate", exit_code: int = 0, **spec) -> dict:
    j = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"restartPolicy": "Never",
                                  "containers": [{"name": "run", "image": "registry.local/migrate:1",
                                                  "env": [{"name": "REHEARSAL_EXIT_CODE", "value": str(exit_code)}]}]}},
        },
    }
    j["spec"].update(spec)
    return j


def conditions(kube, name: str = "migrate") -> dict[str, dict]:
    return {c["type"]: c for c in (kube.get("jobs.batch", name).get("status") or {}).get("conditions") or []}


def test_job_whose_pod_exits_zero_completes(kube):
    kube.store.create("jobs.batch", job())
    conds = wait_for(lambda: (c := conditions(kube)).get("Complete") and c, message="Complete")
    assert conds["Complete"]["status"] == "True"
    assert conds["SuccessCriteriaMet"]["status"] == "True"
    status = kube.get("jobs.batch", "migrate")["status"]
    assert status["succeeded"] == 1 and "active" not in status and "failed" not in status
    assert status["startTime"] <= status["completionTime"]
    (pod,) = kube.items("pods")
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    assert pod["metadata"]["labels"]["job-name"] == "migrate"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"


def test_failing_job_retries_up_to_the_backoff_limit_then_fails(kube):
    kube.store.create("jobs.batch", job(exit_code=3, backoffLimit=2))
    conds = wait_for(lambda: (c := conditions(kube)).get("Failed") and c, message="Failed")
    assert conds["Failed"]["reason"] == "BackoffLimitExceeded"
    assert conds["FailureTarget"]["reason"] == "BackoffLimitExceeded"
    assert "Complete" not in conds
    status = kube.get("jobs.batch", "migrate")["status"]
    assert status["failed"] == 3  # the first try plus two retries
    pods = kube.items("pods")
    assert len(pods) == 3 and {p["status"]["phase"] for p in pods} == {"Failed"}
    assert {p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] for p in pods} == {3}


def test_job_runs_completions_with_at_most_parallelism_pods_at_once(kube):
    seen_active = []
    kube.store.subscribe(lambda ev: ev.resource == "jobs.batch" and seen_active.append(
        (ev.object.get("status") or {}).get("active", 0)))
    kube.store.create("jobs.batch", job(completions=5, parallelism=2))
    wait_for(lambda: conditions(kube).get("Complete"), message="Complete")
    assert kube.get("jobs.batch", "migrate")["status"]["succeeded"] == 5
    assert len(kube.items("pods")) == 5
    assert max(seen_active) == 2


def test_job_past_its_active_deadline_fails_and_its_pod_is_stopped(kube):
    spec = job(activeDeadlineSeconds=1)
    spec["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.local/migrate:1"
    kube.runtime.job_duration = 60  # the pod would run far longer than the deadline
    kube.store.create("jobs.batch", spec)
    conds = wait_for(lambda: (c := conditions(kube)).get("Failed") and c, timeout=10, message="Failed")
    assert conds["Failed"]["reason"] == "DeadlineExceeded"
    wait_for(lambda: kube.items("pods") == [], message="pod stopped and removed")


def test_on_failure_restarts_count_against_the_backoff_limit(kube):
    spec = job(exit_code=1, backoffLimit=1)
    spec["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    kube.store.create("jobs.batch", spec)
    conds = wait_for(lambda: (c := conditions(kube)).get("Failed") and c, message="Failed")
    assert conds["Failed"]["reason"] == "BackoffLimitExceeded"

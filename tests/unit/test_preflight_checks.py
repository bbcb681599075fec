"""Pre-flight judgements (module_utils/preflight.py): nodes, Secrets, quota headroom."""

import pytest
from ansible_collections.greenlang.launch.plugins.module_utils.preflight import (
    PreflightError,
    added_pods,
    node_rows,
    parse_quantity,
    pod_amounts,
    quota_rows,
    secret_row,
)

TEMPLATE = {"spec": {"containers": [{"resources": {"requests": {"cpu": "250m", "memory": "128Mi"},
                                                   "limits": {"cpu": "1", "memory": "256Mi"}}},
                                    {"resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}}]}}


def deployment(replicas=2, surge=None):
    spec = {"replicas": replicas, "template": TEMPLATE}
    if surge is not None:
        spec["strategy"] = {"rollingUpdate": {"maxSurge": surge}}
    return {"metadata": {"name": "cbam-api"}, "spec": spec}


def quota(hard, used=None):
    status = {"hard": hard}
    if used is not None:
        status["used"] = used
    return {"metadata": {"name": "team"}, "spec": {"hard": hard}, "status": status}


def test_quantities_parse_as_kubernetes_writes_them():
    assert parse_quantity("250m") == 0.25 and parse_quantity("1Gi") == 2 ** 30 and parse_quantity("2") == 2
    assert parse_quantity("1e3") == 1000 and parse_quantity(3) == 3
    with pytest.raises(PreflightError):
        parse_quantity("lots")


def test_a_missing_request_counts_as_its_limit():
    amounts = pod_amounts(TEMPLATE)
    assert amounts["requests.cpu"] == pytest.approx(0.75) and amounts["limits.cpu"] == pytest.approx(1.5)
    assert amounts["requests.memory"] == 192 * 2 ** 20


def test_canary_and_blue_green_add_a_full_copy_rolling_its_surge():
    assert added_pods(deployment(4), "canary") == 4 and added_pods(deployment(4), "blue_green") == 4
    assert added_pods(deployment(4), "rolling") == 1  # 25 % of 4, rounded up
    assert added_pods(deployment(3, surge="50%"), "rolling") == 2 and added_pods(deployment(3, surge=2), "rolling") == 2


def test_headroom_passes_when_the_new_pods_fit_and_names_what_does_not():
    room = quota({"pods": "10", "requests.cpu": "4"}, {"pods": "2", "requests.cpu": "1500m"})
    ok = quota_rows("cbam", "cbam", [room], deployment(2), "canary", [])
    assert ok[0]["passed"] and "pods: need 2, free 8 of 10" in ok[0]["detail"]
    short = quota_rows("cbam", "cbam", [quota({"pods": "3", "requests.memory": "1Gi"}, {"pods": "2"})],
                       deployment(2), "canary", [])
    assert not short[0]["passed"] and short[0]["detail"].startswith("NO HEADROOM for pods")


def test_usage_comes_from_the_pods_when_the_quota_has_no_status():
    pods = [{"spec": TEMPLATE["spec"], "status": {"phase": "Running"}},
            {"spec": TEMPLATE["spec"], "status": {"phase": "Succeeded"}}]  # finished pods do not count
    rows = quota_rows("cbam", "cbam", [{"metadata": {"name": "q"}, "spec": {"hard": {"requests.cpu": "2"}}}],
                      deployment(2), "canary", pods)
    assert not rows[0]["passed"] and "need 1.5, free 1.25 of 2" in rows[0]["detail"]


def test_no_quota_passes_and_a_missing_deployment_fails():
    assert quota_rows("csrd", "csrd", [], deployment(1), "rolling", [])[0]["passed"]
    assert not quota_rows("csrd", "csrd", [], None, "rolling", [])[0]["passed"]


def test_nodes_pass_with_one_ready_and_name_the_others():
    nodes = [{"metadata": {"name": "a"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
             {"metadata": {"name": "b"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown",
                                                                    "reason": "NodeStatusUnknown"}]}},
             {"metadata": {"name": "c"}, "spec": {"unschedulable": True},
              "status": {"conditions": [{"type": "Ready", "status": "True"}]}}]
    row = node_rows(nodes)[0]
    assert row["passed"] and "1 of 3 Ready" in row["detail"] and "b: Ready=Unknown" in row["detail"]
    assert "c: cordoned" in row["detail"]
    assert not node_rows([])[0]["passed"]
    assert not node_rows(nodes[1:2])[0]["passed"]


def test_a_secret_is_reported_by_name_and_key_names_only():
    row = secret_row("cbam", "cbam-database", {"data": {"dsn": "c2VjcmV0"}})
    assert row["passed"] and row["detail"] == "present (keys: dsn)" and "c2VjcmV0" not in str(row)
    assert secret_row("cbam", "gone", None)["detail"] == "MISSING: Secret cbam/gone not found"

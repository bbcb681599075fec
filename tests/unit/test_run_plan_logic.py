"""Launch plan checks (each problem named by its inventory path) and where a rerun resumes."""

import pytest
from ansible_collections.greenlang.launch.plugins.module_utils import launch_plan as lp

GATES = {"error_rate": {"query": "q", "max": 0.01, "for": "3s"}, "p95": {"query": "p", "max": 0.5}}


def plan(*steps, **over):
    out = {"release": "v2", "strategy": "canary",
           "traffic": {"provider": "ingress_nginx", "name": "cbam", "stable": "cbam-api", "canary": "cbam-api-v2"},
           "steps": list(steps) or [{"backup": {}}, {"migrate": {}}, {"deploy": {}}, {"set_weight": 10},
                                    {"gate": ["error_rate"]}, {"set_weight": 50}, {"pause": "30m"},
                                    {"set_weight": 100}, {"promote": {}}, {"validate": {}}]}
    out.update(over)
    return out


def test_the_design_plan_is_runnable():
    assert lp.plan_errors(plan(), "cbam", GATES) == []


@pytest.mark.parametrize("bad,path", [
    ({"gate": ["latency"]}, "launch_plan.cbam.steps[0].gate: unknown gate(s) 'latency' (defined in launch_gates: "
                            "error_rate, p95)"),
    ({"set_weight": 150}, "launch_plan.cbam.steps[0].set_weight: expected an integer from 0 to 100"),
    ({"pause": "ten minutes"}, "launch_plan.cbam.steps[0].pause"),
    ({"rollout": {}}, "launch_plan.cbam.steps[0]: unknown verb 'rollout'"),
    ({"deploy": {}, "set_weight": 10}, "launch_plan.cbam.steps[0]: a step is a dict with exactly one verb"),
    ({"switch": {}}, "launch_plan.cbam.steps[0].switch: switch is blue_green's; canary uses promote"),
])
def test_a_bad_step_is_named_by_its_path(bad, path):
    errors = lp.plan_errors(plan(bad), "cbam", GATES)
    assert len(errors) == 1 and errors[0].startswith(path), errors


def test_weights_only_ramp_up():
    errors = lp.plan_errors(plan({"set_weight": 50}, {"set_weight": 25}), "cbam", GATES)
    assert errors == ["launch_plan.cbam.steps[1].set_weight: 25 is below the earlier set_weight 50; a plan only "
                      "ramps up (the way down is abort)"]


def test_missing_release_strategy_and_traffic_are_named():
    errors = lp.plan_errors({"strategy": "canary", "traffic": {"provider": "istio"}, "steps": [{"deploy": {}}]},
                            "vcci", GATES)
    assert "launch_plan.vcci.release: required (the new version's image tag)" in errors
    assert any(e.startswith("launch_plan.vcci.traffic.provider: must be one of gateway_api") for e in errors)
    assert "launch_plan.vcci.traffic.stable: required" in errors


STEPS = plan()["steps"]  # 0 backup 1 migrate 2 deploy 3 sw10 4 gate 5 sw50 6 pause 7 sw100 8 promote 9 validate


@pytest.mark.parametrize("state,start", [
    ({"phase": "absent", "weight": 0}, 0),
    ({"phase": "aborted", "release": None, "weight": 0}, 0),
    ({"phase": "deployed", "release": "v2", "weight": 0}, 2),
    ({"phase": "ramping", "release": "v2", "weight": 10}, 3),
    ({"phase": "ramping", "release": "v2", "weight": 50}, 5),
    ({"phase": "ramping", "release": "v2", "weight": 30}, 3),   # between steps: never above the plan's weight
    ({"phase": "ramping", "release": "v2", "weight": 100}, 7),
    ({"phase": "ramping", "release": "v1.9", "weight": 50}, 0),  # another release's canary: start over
    ({"phase": "promoted", "stable_release": "v2", "weight": 0}, 9),
])
def test_a_rerun_resumes_where_the_cluster_stands(state, start):
    assert lp.resume_point(plan(), state)["start"] == start


def test_a_finished_rollout_without_steps_after_promote_runs_nothing():
    p = plan({"deploy": {}}, {"set_weight": 100}, {"promote": {}})
    assert lp.resume_point(p, {"phase": "promoted", "stable_release": "v2"})["start"] == 3


def test_gate_checks_and_records():
    check = lp.gate_check([dict(GATES["error_rate"], description="ignored"), "error_rate"])
    assert check == {"name": "error_rate", "query": "q", "max": 0.01, "for": "3s"}
    rec = lp.record_checks([{"name": "error_rate", "query": "q", "max": 0.01, "min": None, "value": 0.3,
                             "verdict": "fail", "reason": "0.3 > max 0.01"}])
    assert rec == [{"name": "error_rate", "query": "q", "value": 0.3, "threshold": 0.01, "op": "<=",
                    "verdict": "fail", "reason": "0.3 > max 0.01"}]


def test_a_step_argument_is_shown_with_its_secrets_masked():
    from ansible_collections.greenlang.launch.plugins.filter.launch_plan import FilterModule

    redact = FilterModule().filters()["redact_secrets"]
    migrate = {"command": ["psql", "-f", "002.sql"],
               "command_env": {"PGHOST": "db", "PGUSER": "app", "PGPASSWORD": "s3cret-value", "PGDATABASE": "vcci"},
               "verify_queries": [{"sql": "SELECT 1", "api_token": "tok-123"}, {"sql": "SELECT 2", "token": ""}]}
    shown = redact(migrate)
    assert shown["command_env"] == {"PGHOST": "db", "PGUSER": "app", "PGPASSWORD": "********", "PGDATABASE": "vcci"}
    assert shown["verify_queries"] == [{"sql": "SELECT 1", "api_token": "********"}, {"sql": "SELECT 2", "token": ""}]
    assert migrate["command_env"]["PGPASSWORD"] == "s3cret-value", "the step itself keeps its value"
    assert redact(["error_rate", "p95"]) == ["error_rate", "p95"] and redact("10s") == "10s"

"""Bad variables are refused before anything changes, with a message naming the variable.

No cluster, database or Prometheus is given (the kubeconfig points nowhere): a role that reached for one
before its checks would fail differently, so the message proves the check ran first.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
PLAN = {"release": "v2", "strategy": "canary", "namespace": "cbam",
        "traffic": {"provider": "ingress_nginx", "name": "cbam", "stable": "cbam-api", "canary": "cbam-api-v2"},
        "steps": [{"deploy": {}}, {"set_weight": 10}, {"gate": ["error_rate"]}, {"promote": {}}]}


def run(tmp_path: Path, role: str, tasks_from: str, variables: dict) -> str:
    play = [{"hosts": "localhost", "gather_facts": False, "vars": variables,
             "tasks": [{"name": "Role", "ansible.builtin.include_role": {"name": f"greenlang.launch.{role}",
                                                                          "tasks_from": tasks_from}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "K8S_AUTH_KUBECONFIG": str(tmp_path / "no-such-kubeconfig")}
    env.pop("KUBECONFIG", None)
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(tmp_path / "play.yml"),
                           "-e", f"ansible_python_interpreter={sys.executable}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0, proc.stdout[-3000:]
    return " ".join((proc.stdout + proc.stderr).split())


@pytest.mark.parametrize("plan_change,message", [
    ({"steps": [{"deploy": {}}, {"gate": ["latency"]}]},
     "launch_plan.cbam.steps[1].gate: unknown gate(s) 'latency' (defined in launch_gates: error_rate)"),
    ({"steps": [{"set_weight": 50}, {"set_weight": 10}]}, "launch_plan.cbam.steps[1].set_weight: 10 is below"),
    ({"strategy": "big_bang"}, "launch_plan.cbam.strategy: must be one of canary, blue_green, rolling"),
])
def test_run_plan_refuses_a_bad_plan_naming_the_step(tmp_path, plan_change, message):
    out = run(tmp_path, "run_plan", "main", {
        "run_plan_app": "cbam", "launch_plan": {"cbam": {**PLAN, **plan_change}},
        "launch_gates": {"error_rate": {"query": "vector(0)", "max": 0.01}}})
    assert message in out and "Nothing was done" in out


def test_run_plan_refuses_an_app_without_a_plan(tmp_path):
    out = run(tmp_path, "run_plan", "main", {"run_plan_app": "csrd", "launch_plan": {"cbam": PLAN}})
    assert "launch_plan.csrd: no such plan (launch_plan has: cbam)" in out


def test_canary_refuses_a_namespace_kubernetes_would_reject(tmp_path):
    out = run(tmp_path, "canary", "deploy", {"canary_app": "cbam", "canary_plan": {**PLAN, "namespace": "CBAM_Prod"}})
    assert "canary_namespace" in out and "Nothing was done" in out


def test_canary_refuses_a_weight_outside_0_to_100(tmp_path):
    out = run(tmp_path, "canary", "set_weight", {"canary_app": "cbam", "canary_plan": PLAN, "canary_weight": 150})
    assert "canary_weight=150: must be an integer from 0 to 100" in out


def test_rollback_refuses_an_unknown_strategy(tmp_path):
    out = run(tmp_path, "rollback", "main", {"rollback_app": "cbam", "rollback_plan": {**PLAN, "strategy": "yolo"}})
    assert "rollback_plan.strategy: must be canary, blue_green or rolling, got yolo" in out

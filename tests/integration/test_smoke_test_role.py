"""The smoke_test role against real demo app processes, and the rollout roles' variable checks.

Each test starts the demo apps it calls (rehearsal.apps.process) and runs the role through ansible-playbook, as a
play would. The variable checks need no cluster: a bad variable must be refused before anything is read or
changed, with a message naming it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from rehearsal.apps.process import DemoAppProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def run_role(role: str, variables: dict, tasks_from: str = "main", *args: str) -> tuple[int, list[dict]]:
    """Include the role once; returns ansible-playbook's exit status and the per-task results of localhost."""
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local", "tasks": [
        {"name": "the role", "ansible.builtin.include_role": {"name": f"greenlang.launch.{role}",
                                                              "tasks_from": tasks_from}, "vars": variables},
        {"name": "result", "ansible.builtin.debug": {"var": f"{role}_result"}}]}]
    with tempfile.TemporaryDirectory(prefix="smoke-role-") as tmp:
        path = os.path.join(tmp, "play.yml")
        Path(path).write_text(yaml.safe_dump(play, sort_keys=False))
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_LOCAL_TEMP=tmp,
                   ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1")
        proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", path, "-e",
                               "ansible_python_interpreter=" + sys.executable, *args],
                              cwd=str(REPO_ROOT), env=env, capture_output=True, text=True, timeout=600)
    out = json.loads(proc.stdout)
    return proc.returncode, [dict(t["hosts"]["localhost"], task=t["task"]["name"]) for t in out["plays"][0]["tasks"]]


def failure(results: list[dict]) -> str:
    return " ".join(r.get("msg", "") for r in results if r.get("failed"))


@pytest.fixture
def demo_apps():
    started: list[DemoAppProcess] = []

    def start(app: str, version: str = "v2", **env) -> DemoAppProcess:
        proc = DemoAppProcess(app, version, env={k: str(v) for k, v in env.items()})
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.stop()


@pytest.mark.parametrize(("app", "endpoints"), [("vcci", 5), ("cbam", 1), ("csrd", 4)])
def test_smoke_test_passes_every_critical_endpoint_of_a_good_release(demo_apps, app, endpoints):
    server = demo_apps(app)
    rc, results = run_role("smoke_test", {"smoke_test_app": app, "smoke_test_base_url": server.url})
    assert rc == 0, failure(results)
    result = next(r for r in results if r["task"] == "result")["smoke_test_result"]
    assert result["passed"] and len(result["endpoints"]) == endpoints
    assert {e["version"] for e in result["endpoints"]} == {"v2"}
    assert all(c["passed"] for e in result["endpoints"] for c in e["checks"])


def test_smoke_test_names_each_wrong_endpoint_with_what_it_answered(demo_apps):
    # 3 % drift: sums no longer follow from the inputs; half the calls answer 500.
    server = demo_apps("csrd", "v3", FAULT_OUTPUT_DRIFT=0.03, FAULT_ERROR_RATIO=0.5, FAULT_SEED=7)
    rc, results = run_role("smoke_test", {"smoke_test_app": "csrd", "smoke_test_base_url": server.url,
                                          "smoke_test_attempts": 1})
    assert rc == 2
    message = failure(results)
    assert "smoke tests of csrd (public) failed at" in message
    assert "check `total_t_co2e == `2000`` gave false" in message


def test_smoke_test_runs_in_check_mode_because_it_only_reads(demo_apps):
    server = demo_apps("cbam")
    rc, results = run_role("smoke_test", {"smoke_test_app": "cbam", "smoke_test_base_url": server.url}, "main",
                           "--check")
    assert rc == 0, failure(results)
    assert next(r for r in results if r["task"] == "result")["smoke_test_result"]["passed"]


@pytest.mark.parametrize(("role", "entry", "variables", "expected"), [
    ("smoke_test", "main", {"smoke_test_app": "vcci", "smoke_test_base_url": "ftp://x"},
     'smoke_test_base_url=ftp://x is not an http(s) URL'),
    ("smoke_test", "main", {"smoke_test_app": "billing", "smoke_test_base_url": "http://127.0.0.1:9"},
     "smoke_test_app=billing is not one of vcci, cbam, csrd"),
    ("smoke_test", "main", {"smoke_test_app": "vcci", "smoke_test_base_url": "http://127.0.0.1:9",
                            "smoke_test_endpoints": [{"path": "api", "method": "FETCH"}]},
     "each entry needs a path starting with /"),
    ("validate", "main", {"validate_app": "vcci", "validate_base_url": "http://127.0.0.1:9",
                          "validate_prometheus_url": "http://127.0.0.1:9", "validate_max_error_rate": 5},
     "validate_max_error_rate=5 must be a number from 0 to 1"),
    ("validate", "main", {"validate_app": "vcci", "validate_base_url": "http://127.0.0.1:9"},
     "validate_prometheus_url=None is not an http(s) URL (set validate_prometheus_url or launch_prometheus_url)"),
    ("rolling", "deploy", {"rolling_app": "csrd", "rolling_plan": {"release": "v2", "namespace": "CSRD",
                                                                  "traffic": {"stable": "csrd-api"}}},
     'rolling_namespace="CSRD"'),
    # A type the argument spec can refuse is refused by it (before any task), naming the variable.
    ("rolling", "deploy", {"rolling_app": "csrd", "rolling_plan": {"release": "v2", "traffic": {"stable": "csrd-api"}},
                           "rolling_progress_deadline": "soon", "rolling_public_url": "http://127.0.0.1:9"},
     "rolling_progress_deadline"),
    ("blue_green", "abort", {"blue_green_app": "vcci", "blue_green_plan": {
        "release": "v2", "traffic": {"provider": "gateway_api", "name": "vcci", "stable": "vcci-api",
                                     "canary": "vcci-api"}}, "blue_green_release_env": {"BAD-NAME": "1"}},
     "blue_green_preview_service (launch_plan.vcci.traffic.canary) must differ from blue_green_active_service"),
])
def test_bad_variables_are_refused_naming_the_variable_before_anything_runs(role, entry, variables, expected):
    rc, results = run_role(role, variables, entry)
    assert rc == 2
    message = failure(results)
    assert expected in message, message
    assert "Nothing was" in message or "argument_errors" in json.dumps(results)
    ran = [r["task"] for r in results]
    assert not any("kubernetes" in json.dumps(r.get("invocation", {})) for r in results), ran

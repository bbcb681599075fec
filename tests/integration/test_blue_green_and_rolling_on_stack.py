"""The blue_green, rolling and validate roles on the real rehearsal stack, run through ansible-playbook.

One stack for the session (``rehearsal_stack``). Each test deploys its own app (Deployment, Service and public
route, as rehearsal/manifests have them) in a namespace of its own, with a Host of its own, and measures what a
user would: every response of steady load through the traffic plane (rehearsal/load.py), the objects as
kubectl reads them back, and the roles' reported state.

Run with ``-s`` to see the load summaries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import yaml

from rehearsal.load import LoadGenerator
from tests.fixtures.kube import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
PLAYBOOK_TIMEOUT = 1500  # seconds; a busy 2-core machine runs a role entry point in tens of seconds
VCCI_CALL = ("POST", "/api/v1/calculator/category1", {"items": [{"category": "metals", "spend": 1000}]})
CSRD_CALL = ("POST", "/api/v1/calculate", {"datapoints": [{"code": "E1-6_scope1", "value": 1}]})
SWITCH_RPS, SWITCH_MIN_REQUESTS = 110, 10_000


# -- the app as the stack's manifests deploy it ------------------------------------------------------------------


def app_objects(ns: str, app: str, provider: str, host: str, version: str = "v1") -> list[dict]:
    name = f"{app}-api"
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "greenlang"}
    container = {
        "name": "api", "image": f"rehearsal/{app}:{version}", "ports": [{"name": "http", "containerPort": 8080}],
        # Keep serving 2 s after SIGTERM, as the stack's manifests do (nginx drops a pod on its next reload).
        "env": [{"name": "SHUTDOWN_DELAY_S", "value": "2"}],
        "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "http"}, "periodSeconds": 1,
                           "timeoutSeconds": 2, "failureThreshold": 3},
    }
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"replicas": 2, "revisionHistoryLimit": 5,
                 "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"terminationGracePeriodSeconds": 10, "containers": [container]}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
               "spec": {"selector": {"app.kubernetes.io/name": name},
                        "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
    if provider == "gateway_api":
        route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                 "metadata": {"name": app, "namespace": ns},
                 "spec": {"hostnames": [host], "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                                                          "backendRefs": [{"name": name, "port": 80, "weight": 100}]}]}}
    else:
        route = {"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": app, "namespace": ns},
                 "spec": {"host": host, "to": {"kind": "Service", "name": name, "weight": 100}}}
    return [deployment, service, route]


def plan(ns: str, app: str, provider: str, release: str = "v2") -> dict:
    return {"release": release, "namespace": ns, "image": f"rehearsal/{app}", "strategy": "blue_green",
            "traffic": {"provider": provider, "name": app, "stable": f"{app}-api", "canary": f"{app}-api-preview"}}


# -- stack and ansible helpers -------------------------------------------------------------------------------------


@pytest.fixture
def app_namespace(rehearsal_stack, request):
    """A namespace named after the test with one app deployed: ``app_namespace("vcci", "gateway_api")``."""
    created = []

    def make(app: str, provider: str) -> tuple[str, str]:
        base = request.node.name.removeprefix("test_").replace("_", "-").lower()
        ns = "".join(c if c.isalnum() or c == "-" else "-" for c in f"{base[:40].strip('-')}-{uuid.uuid4().hex[:6]}")
        host = f"{app}-{ns}.rehearsal.test"
        rehearsal_stack.kubectl("apply", "-f", "-", input=json.dumps(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
        created.append(ns)
        rehearsal_stack.kubectl("apply", "-f", "-", input="\n".join(json.dumps(o) for o in app_objects(
            ns, app, provider, host)))
        rehearsal_stack.kubectl("-n", ns, "rollout", "status", f"deployment/{app}-api", "--timeout=180s", timeout=200)
        wait_until(lambda: answers(rehearsal_stack, host) == "v1", 60, f"{host} answering v1 through the ingress")
        return ns, host

    yield make
    for ns in created:
        try:
            rehearsal_stack.kubectl("delete", "namespace", ns, "--wait=false")
        except Exception as exc:  # hygiene only: the session stack goes down at the end anyway
            print(f"could not delete namespace {ns}: {exc}")


def answers(stack, host: str) -> str | None:
    """The X-App-Version a GET /health/live through the ingress answers with (None when it fails)."""
    import urllib.request

    req = urllib.request.Request(stack.ingress_url + "/health/live", headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=3) as resp:
            return resp.headers.get("X-App-Version") if resp.status == 200 else None
    except OSError:
        return None


def run_role(stack, steps: list[tuple[str, str, dict]], *args: str, expect_rc: int | None = 0) -> dict:
    """Run ``(role, entry point, vars)`` steps as one play; returns {"rc", "states": [state after each step],
    "changed": [changed count of each step's tasks], "stdout"}. A failing step ends the play."""
    tasks = []
    for i, (role, entry, variables) in enumerate(steps):
        tasks.append({"name": f"step {i}", "ansible.builtin.include_role": {
            "name": f"greenlang.launch.{role}", "tasks_from": entry}, "vars": variables})
        tasks.append({"name": f"state after step {i}", "ansible.builtin.debug": {
            "var": f"{role}_state" if role in ("blue_green", "rolling") else f"{role}_result"}})
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local", "tasks": tasks}]
    with tempfile.TemporaryDirectory(prefix="rollout-role-") as tmp:
        path = os.path.join(tmp, "play.yml")
        Path(path).write_text(yaml.safe_dump(play, sort_keys=False))
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
                   ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOCAL_TEMP=tmp, ANSIBLE_NOCOLOR="1",
                   K8S_AUTH_KUBECONFIG=stack.kubeconfig)
        env.pop("KUBECONFIG", None)
        proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", path, "-e",
                               "ansible_python_interpreter=" + sys.executable, *args],
                              cwd=str(REPO_ROOT), env=env, capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT)
    try:
        # ansible.builtin.pause writes its countdown to stdout before the callback's document.
        out = json.loads(proc.stdout[proc.stdout.index("{\n"):] if "{\n" in proc.stdout else proc.stdout)
    except ValueError as exc:
        raise AssertionError(f"no JSON from ansible-playbook (rc={proc.returncode}):\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}") from exc
    states, changed = [], [0] * len(steps)
    for task in out["plays"][0]["tasks"]:
        name, result = task["task"]["name"], task["hosts"].get("localhost", {})
        if name.startswith("state after step "):
            states.append(next((v for k, v in result.items() if k.endswith(("_state", "_result"))), None))
        elif len(states) < len(steps):  # a task of the step whose state comes next
            changed[len(states)] += bool(result.get("changed"))
    failures = [t["hosts"]["localhost"].get("msg", "") for t in out["plays"][0]["tasks"]
                if t["hosts"].get("localhost", {}).get("failed") and not t["hosts"]["localhost"].get("ignore_errors")]
    if expect_rc is not None and proc.returncode != expect_rc:
        raise AssertionError(f"ansible-playbook exited {proc.returncode}, expected {expect_rc}: {failures}\n"
                             f"{proc.stderr[-3000:]}")
    return {"rc": proc.returncode, "states": states, "changed": changed, "failures": failures, "stdout": proc.stdout}


def load_for(stack, host: str, call: tuple, rps: float, duration: float) -> LoadGenerator:
    method, path, body = call
    return LoadGenerator(stack.ingress_url, [host], rps=rps, duration=duration, method=method, path=path,
                         body=body).start()


def finish_load(gen: LoadGenerator, min_requests: int, limit: float = 400) -> dict:
    """Keep the load running until it has sent ``min_requests``, then stop it and return the summary."""
    wait_until(lambda: len(gen.results) >= min_requests, limit, f"{min_requests} requests sent", interval=1)
    return gen.stop()


def bg_vars(ns: str, app: str = "vcci", provider: str = "gateway_api", **extra) -> dict:
    return {"blue_green_app": app, "blue_green_plan": plan(ns, app, provider), "blue_green_scale_down_delay": 600,
            "blue_green_abort_scale_down_delay": 3, "blue_green_ready_timeout": 240, **extra}


def selector(stack, ns: str, service: str) -> dict:
    return stack.kubectl_json("-n", ns, "service", service)["spec"]["selector"]


# -- blue_green ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_blue_green_switch_and_switch_back_under_load_lose_no_request(rehearsal_stack, app_namespace):
    stack = rehearsal_stack
    ns, host = app_namespace("vcci", "gateway_api")
    deployed = run_role(stack, [("blue_green", "deploy", bg_vars(ns)), ("blue_green", "deploy", bg_vars(ns))])
    first, second = deployed["states"]
    assert first["phase"] == "deployed" and first["release"] == "v2" and first["changed"] is True
    assert second["changed"] is False and deployed["changed"][1] == 0, "a second deploy changes nothing"
    assert selector(stack, ns, "vcci-api") == {"app.kubernetes.io/name": "vcci-api"}, "deploy moves no traffic"
    assert answers(stack, first["targets"]["preview"]["host"]) == "v2", "the preview host reaches green"
    assert answers(stack, host) == "v1"

    checked = run_role(stack, [("blue_green", "switch", bg_vars(ns))], "--check")
    assert checked["states"][0]["phase"] == "deployed", "check mode switches nothing"
    assert selector(stack, ns, "vcci-api") == {"app.kubernetes.io/name": "vcci-api"}

    gen = load_for(stack, host, VCCI_CALL, SWITCH_RPS, 3600)
    try:
        time.sleep(3)
        ramp = run_role(stack, [("blue_green", "set_weight", bg_vars(ns, blue_green_weight=10)),
                                ("blue_green", "switch", bg_vars(ns)),
                                ("blue_green", "switch", bg_vars(ns))])
        switched_at = time.time()
        wait_until(lambda: answers(stack, host) == "v2", 30, "the public host answering v2 after the switch")
        abort_started = time.time()
        back = run_role(stack, [("blue_green", "abort", bg_vars(ns, blue_green_reason="test: switch back")),
                                ("blue_green", "abort", bg_vars(ns))])
        back_at = time.time()
        time.sleep(5)
        summary = finish_load(gen, SWITCH_MIN_REQUESTS)
    finally:
        gen.stop()
    print(f"\nblue-green switch and switch-back under load: {json.dumps(summary, indent=1)}")
    weighted, switch, again = ramp["states"]
    assert weighted["phase"] == "ramping" and weighted["weight"] == 10
    assert switch["phase"] == "promoted" and switch["active"] == "vcci-api-green" and switch["changed"] is True
    assert again["changed"] is False and ramp["changed"][2] == 0, "a second switch changes nothing"
    undone, undone_again = back["states"]
    assert undone["phase"] == "aborted" and undone["active"] == "vcci-api" and undone["rollback_type"] == "traffic"
    assert undone["stable_at"] is not None
    assert undone_again["changed"] is False, "a second abort changes nothing"

    assert summary["requests"] >= SWITCH_MIN_REQUESTS
    assert summary["failed"] == 0, summary["first_errors"]
    assert summary["achieved_rps"] >= 100
    records = gen.results
    after_switch = [r for r in records if switched_at + 2 < r["t"] < abort_started]
    assert {r["version"] for r in records if r["t"] > back_at + 2} == {"v1"}, "all traffic back on blue"
    assert summary["by_version"].get("v2", 0) > 0 and summary["by_version"].get("v1", 0) > 0
    assert {r["version"] for r in after_switch} <= {"v2"}, "after the switch only green answers"
    assert selector(stack, ns, "vcci-api") == {"app.kubernetes.io/name": "vcci-api"}, "switch-back: one write back"
    green = stack.kubectl_json("-n", ns, "deployment", "vcci-api-green")
    assert green["spec"]["replicas"] == 0 and "test: switch back" in green["metadata"]["annotations"][
        "launch.greenlang.io/abort-reason"]


@pytest.mark.slow
def test_blue_green_refuses_bad_variables_before_anything_changes(rehearsal_stack, app_namespace):
    stack = rehearsal_stack
    ns, _host = app_namespace("vcci", "gateway_api")
    # An unknown provider is refused by the role's argument spec, naming the variable and the choices.
    bad_provider = dict(plan(ns, "vcci", "gateway_api"),
                        traffic={"provider": "istio", "name": "vcci", "stable": "vcci-api", "canary": "vcci-preview"})
    run = run_role(stack, [("blue_green", "deploy", {"blue_green_app": "vcci", "blue_green_plan": bad_provider})],
                   expect_rc=2)
    assert ("blue_green_provider must be one of: gateway_api, ingress_nginx, openshift_route, got: istio"
            in " ".join(run["failures"]))
    # A name Kubernetes would refuse is caught by the role's own checks, naming where in the plan it came from.
    bad_name = dict(plan(ns, "vcci", "gateway_api"),
                    traffic={"provider": "gateway_api", "name": "vcci", "stable": "vcci-api", "canary": "Vcci_Preview"})
    run = run_role(stack, [("blue_green", "deploy", {"blue_green_app": "vcci", "blue_green_plan": bad_name})],
                   expect_rc=2)
    message = " ".join(run["failures"])
    assert "blue_green_preview_service (launch_plan.vcci.traffic.canary)" in message and "Nothing was done" in message
    weight = run_role(stack, [("blue_green", "set_weight", bg_vars(ns, blue_green_weight=150))], expect_rc=2)
    assert "blue_green_weight=150 must be a whole number from 0 to 100" in " ".join(weight["failures"])
    names = [d["metadata"]["name"] for d in stack.kubectl_json("-n", ns, "deployments")["items"]]
    assert names == ["vcci-api"], "nothing was created"


# -- rolling ------------------------------------------------------------------------------------------------------


def rolling_vars(stack, ns: str, **extra) -> dict:
    return {"rolling_app": "csrd", "rolling_plan": dict(plan(ns, "csrd", "openshift_route"), strategy="rolling"),
            "rolling_public_url": stack.ingress_url,
            "rolling_progress_deadline": 15, "rolling_wait_margin": 5, **extra}


@pytest.mark.slow
def test_rolling_never_ready_release_ends_on_the_previous_replicaset_without_failed_requests(
        rehearsal_stack, app_namespace):
    stack = rehearsal_stack
    ns, host = app_namespace("csrd", "openshift_route")
    rs_before = {rs["metadata"]["name"] for rs in stack.kubectl_json("-n", ns, "replicasets")["items"]}
    gen = load_for(stack, host, CSRD_CALL, 100, 3600)
    try:
        time.sleep(2)
        run = run_role(stack, [("rolling", "deploy", rolling_vars(
            stack, ns, rolling_release_env={"FAULT_READINESS_FAIL": "1"}))], expect_rc=2)
        time.sleep(3)
        summary = finish_load(gen, 3000)
    finally:
        gen.stop()
    print(f"\nnever-ready rolling update under load: {json.dumps(summary, indent=1)}")
    message = " ".join(run["failures"])
    assert "ProgressDeadlineExceeded" in message and "rolled back to the previous ReplicaSet" in message
    assert summary["failed"] == 0, summary["first_errors"]
    assert set(summary["by_version"]) == {"v1"}, "the never-ready pods got no traffic"
    live = stack.kubectl_json("-n", ns, "deployment", "csrd-api")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "rehearsal/csrd:v1"
    assert live["status"].get("readyReplicas") == 2 and live["metadata"]["annotations"][
        "launch.greenlang.io/aborted-release"] == "v2"
    serving = {rs["metadata"]["name"] for rs in stack.kubectl_json("-n", ns, "replicasets")["items"]
               if rs["spec"]["replicas"] > 0}
    assert serving <= rs_before, "the previous ReplicaSet serves again, not a new one"

    again = run_role(stack, [("rolling", "abort", rolling_vars(stack, ns))])
    assert again["states"][0]["phase"] == "aborted" and again["changed"] == [0], "a second abort changes nothing"


@pytest.mark.slow
def test_rolling_healthy_release_validates_components_and_is_idempotent(rehearsal_stack, app_namespace):
    stack = rehearsal_stack
    ns, _host = app_namespace("csrd", "openshift_route")
    checked = run_role(stack, [("rolling", "deploy", rolling_vars(stack, ns))], "--check")
    assert checked["states"][0]["phase"] == "absent"
    live = stack.kubectl_json("-n", ns, "deployment", "csrd-api")
    image = live["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "rehearsal/csrd:v1", "check mode changes nothing"

    variables = rolling_vars(stack, ns)
    run = run_role(stack, [("rolling", "deploy", variables), ("rolling", "promote", variables),
                           ("rolling", "deploy", variables), ("rolling", "promote", variables)])
    deployed, promoted, redeployed, repromoted = run["states"]
    assert deployed["phase"] == "deployed" and deployed["release"] == "v2" and deployed["weight"] == 100
    assert promoted["phase"] == "promoted" and promoted["stable_release"] == "v2"
    assert run["changed"][2] == 0 and run["changed"][3] == 0, "a second deploy and promote change nothing"
    assert redeployed["phase"] == repromoted["phase"] == "promoted"
    assert "smoke tests of csrd (public" in run["stdout"] and "4/4 passed" in run["stdout"]


# -- validate -----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_validate_records_go_under_healthy_load_and_no_go_naming_the_breach(rehearsal_stack, app_namespace, tmp_path):
    stack = rehearsal_stack
    ns, host = app_namespace("vcci", "gateway_api")
    common = {"validate_app": "vcci", "validate_namespace": ns, "validate_host": host,
              "validate_base_url": stack.ingress_url, "validate_prometheus_url": stack.prometheus_url,
              "validate_rate_window": "10s", "validate_run_dir": str(tmp_path / "run")}
    gen = load_for(stack, host, VCCI_CALL, 40, 3600)
    try:
        time.sleep(12)  # a few scrapes with traffic in the rate window
        run = run_role(stack, [("validate", "main", common),
                               ("validate", "main", dict(common, validate_max_p95_ms=0.001, validate_fail=False))])
    finally:
        gen.stop()
    go, no_go = run["states"]
    assert go["verdict"] == "GO" and go["passed"] is True
    assert {c["name"] for c in go["checks"]} >= {"health_live", "health_ready", "error_rate", "p95_latency_ms",
                                                 "cache_hit_ratio", "open_circuit_breakers", "health_detailed_1"}
    assert no_go["verdict"] == "NO-GO" and no_go["failed"] == ["p95_latency_ms"]
    decisions = [json.loads(line) for line in (tmp_path / "run" / "decisions.jsonl").read_text().splitlines()]
    assert [d["verdict"] for d in decisions] == ["GO", "NO-GO"]
    assert decisions[0]["gate"] == "post_deployment_validation" and decisions[0]["app"] == "vcci"
    p95 = next(c for c in decisions[1]["criteria"] if c["name"] == "p95_latency_ms")
    assert p95["met"] is False and p95["measured"] > 0.001

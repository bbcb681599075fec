"""End-to-end evidence on the whole rehearsal stack, as `python -m rehearsal up` starts it.

One stack per module, a :class:`rehearsal.testing.StackRun`: the real CLI in a subprocess, with a
temp state dir under /tmp (PostgreSQL's OS user must be able to traverse it) and free loopback ports
through the REHEARSAL_*_PORT variables, so a developer's own stack on the default ports is never
touched. Teardown runs `down` and checks that no process refers to the state dir and no port of the
stack still listens.

Everything is measured through the interfaces a launch uses: kubectl, INGRESS_URL (nginx, Host
header per app), PROMETHEUS_URL (PromQL), the DSNs of the env file, and the load generator that
records every response. Run with ``-s`` to see the figures each test prints.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest
import requests

from rehearsal.load import LoadGenerator
from rehearsal.testing import KUBECTL, StackRun
from tests.stack.integration.traffic_fixtures import wait_until

APPS = ("vcci", "cbam", "csrd")
COMPONENTS = ("postgres", "prometheus", "webhook", "kube-apiserver", "scrape-target-sync", "ingress-nginx", "apps")
# One valid API call per app (method, path, JSON body): counted in http_requests_total, unlike probes.
API_CALLS = {
    "vcci": ("POST", "/api/v1/calculator/category1", {"items": [{"category": "metals", "spend": 1000}]}),
    "cbam": ("POST", "/api/v1/calculate", {"imports": [{"cn_code": "7208", "quantity": 100}]}),
    "csrd": ("POST", "/api/v1/calculate", {"datapoints": [{"code": "E1-6_scope1", "value": 1}]}),
}
RPS = 50


def host(app: str) -> str:
    return f"{app}.rehearsal.test"


def parse_json_stream(text: str) -> list[dict]:
    """The objects of ``kubectl get -w -o json`` output (concatenated JSON documents)."""
    decoder, objects, i = json.JSONDecoder(), [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return objects
        try:
            obj, i = decoder.raw_decode(text, i)
        except ValueError:  # a document cut off when the watch was stopped
            return objects
        objects.append(obj)


def ready_ips(endpoints: dict) -> set[str]:
    return {a["ip"] for s in endpoints.get("subsets") or [] for a in s.get("addresses") or []}


def pod_is_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def first_response_time(records: list[dict], version: str) -> float | None:
    """Wall-clock time the first response carrying X-App-Version ``version`` arrived."""
    times = [r["t"] + r["latency_ms"] / 1000 for r in records if r["version"] == version and r["latency_ms"]]
    return min(times) if times else None


def status_pods(status_stdout: str) -> dict[str, tuple[str, str, str, str]]:
    """Pod name -> (namespace, version, address, state) from the live pod lines of `rehearsal status`."""
    rows = {}
    for line in status_stdout.splitlines():
        cells = line.split()
        if line.startswith("    ") and len(cells) >= 5 and cells[0] in APPS:
            rows[cells[1]] = tuple(cells[:1] + cells[2:5])
    return rows


REVISION = "deployment.kubernetes.io/revision"


class RunningStack(StackRun):
    """The module's stack: :class:`StackRun` plus pods, their processes, app calls through nginx and load."""

    kubectl_timeout = 90

    def get(self, *args: str) -> dict:
        return self.kubectl_json(*args)

    def pods(self, namespace: str) -> list[dict]:
        pods = self.get("-n", namespace, "pods")["items"]
        self.pod_ips.update(p["status"]["podIP"] for p in pods if (p.get("status") or {}).get("podIP"))
        return pods

    def pod_pid(self, pod: dict) -> int:
        """The pid of the pod's running container process (the process runtime's pid file)."""
        meta = pod["metadata"]
        pid_file = self.state_dir / "pods" / f"{meta['namespace']}_{meta['name']}_{meta['uid']}" / "api.pid"
        return int(pid_file.read_text().strip())

    def live_pods(self, namespace: str) -> list[dict]:
        """The pods that are not being deleted (a rollout leaves terminating ones behind for a while)."""
        return [p for p in self.pods(namespace) if not p["metadata"].get("deletionTimestamp")]

    def replica_sets_by_revision(self, namespace: str, deployment: str) -> dict[int, dict]:
        """The Deployment's ReplicaSets keyed by their revision annotation (what `rollout history` lists)."""
        owned = [rs for rs in self.get("-n", namespace, "replicasets")["items"]
                 if any(o.get("kind") == "Deployment" and o.get("name") == deployment
                        for o in rs["metadata"].get("ownerReferences") or [])]
        return {int(rs["metadata"]["annotations"][REVISION]): rs for rs in owned}

    def call(self, app: str, path: str, method: str = "GET", body=None) -> requests.Response:
        return requests.request(method, self.env["INGRESS_URL"] + path, json=body, headers={"Host": host(app)},
                                timeout=10)

    def load(self, app: str, rps: float, duration: float, **kwargs) -> LoadGenerator:
        if "path" not in kwargs:
            method, path, body = API_CALLS[app]
            kwargs.update(method=method, path=path, body=body)
        return LoadGenerator(self.env["INGRESS_URL"], [host(app)], rps=rps, duration=duration, **kwargs).start()


@pytest.fixture(scope="module")
def stack():
    running = RunningStack(prefix="greenlang-stack-it-", up_timeout=270).prepare()  # `up` gets 270 + 30 s
    state_dir = running.state_dir
    try:
        running.up()
        running.env = running.sourced_env()
        print(f"\n[stack] cold `up` took {running.up_seconds:.1f} s; ports {running.ports}")
        yield running
    finally:
        if running.env:
            for app in APPS:
                with contextlib.suppress(Exception):  # best effort: only widens the port check of `down`
                    running.pods(app)
        running.down()  # at once if a failed `up` has already run it
        print(f"\n[stack] `down` took {running.down_seconds:.1f} s")
        down = running.down_result
        assert down.returncode == 0, f"`down` failed: {down.stdout}\n{down.stderr}"
        assert running.left_processes == [], \
            f"processes still refer to {state_dir} after `down`: {running.left_processes}"
        assert running.left_sockets == set(), f"still listening after `down`: {sorted(running.left_sockets)}"


# -- up / status / env file ---------------------------------------------------------------------------------


def test_second_up_returns_at_once_and_changes_nothing(stack: RunningStack):
    daemon_before = (stack.state_dir / "stack.pid").read_text()
    pods_before = {(p["metadata"]["uid"], stack.pod_pid(p)) for app in APPS for p in stack.pods(app)}
    env_before = (stack.state_dir / "env").read_text()

    started = time.monotonic()
    again = stack.rehearsal("up", timeout=60)
    elapsed = time.monotonic() - started

    assert again.returncode == 0, again.stderr
    assert "already up" in again.stdout
    assert elapsed < 5, f"a second `up` took {elapsed:.1f} s"
    assert (stack.state_dir / "stack.pid").read_text() == daemon_before
    assert {(p["metadata"]["uid"], stack.pod_pid(p)) for app in APPS for p in stack.pods(app)} == pods_before
    assert (stack.state_dir / "env").read_text() == env_before
    assert len(pods_before) == 6  # 3 apps x 2 replicas, untouched


def test_status_lists_every_component_and_each_answers(stack: RunningStack):
    status = stack.rehearsal("status", timeout=30)
    assert status.returncode == 0, status.stderr
    listed = {line.split()[0] for line in status.stdout.splitlines()[1:] if line.startswith("  ")}
    assert set(COMPONENTS) <= listed, status.stdout
    assert f"{stack.env['PROMETHEUS_URL']}" in status.stdout and f"{stack.env['INGRESS_URL']}" in status.stdout

    # Each listed component really answers on the port the test chose for it.
    assert requests.get(f"{stack.env['PROMETHEUS_URL']}/-/ready", timeout=5).status_code == 200
    assert requests.get(f"{stack.env['INGRESS_URL']}/healthz", timeout=5).status_code == 200
    assert stack.kubectl("get", "--raw", "/readyz").strip() == "ok"
    hook = requests.post(stack.env["SLACK_WEBHOOK_URL"], json={"text": "rehearsal status check"}, timeout=5)
    assert hook.status_code == 200
    received = requests.get(f"{stack.env['WEBHOOK_URL']}/_received", params={"prefix": "/slack"}, timeout=5).json()
    assert any(r["body"] == {"text": "rehearsal status check"} for r in received)
    targets = requests.get(f"{stack.env['PROMETHEUS_URL']}/api/v1/targets", timeout=5).json()["data"]
    scraped = {(t["labels"]["app"], t["labels"]["pod"]) for t in targets["activeTargets"]}
    assert {app for app, _ in scraped} == set(APPS) and len(scraped) == 6

    # Below the components, status lists each app's pods as the API has them now: version, address, ready.
    listed_pods = status_pods(status.stdout)
    expected = {p["metadata"]["name"]: (app, "v1", f"{p['status']['podIP']}:8080", "ready")
                for app in APPS for p in stack.live_pods(app)}
    assert len(expected) == 6 and listed_pods == expected, status.stdout


def test_up_with_no_apps_deploys_no_app_pods(rehearsal_stack: StackRun):
    # The session-wide stack of the other stack tests is started with `up --no-apps`: reuse it.
    pods = rehearsal_stack.kubectl_json("pods", "--all-namespaces")["items"]
    deployments = rehearsal_stack.kubectl_json("deployments", "--all-namespaces")["items"]
    assert [p["metadata"]["name"] for p in pods if p["metadata"]["namespace"] in APPS] == []
    assert [d["metadata"]["name"] for d in deployments if d["metadata"]["namespace"] in APPS] == []
    status = rehearsal_stack.rehearsal("status", timeout=60)
    assert status.returncode == 0, status.stderr
    listed = {line.split()[0] for line in status.stdout.splitlines()[1:] if line.startswith("  ")}
    assert "apps" not in listed and {"kube-apiserver", "ingress-nginx"} <= listed, status.stdout
    for app in APPS:
        assert f"    {app}  (no pods)" in status.stdout, status.stdout


def test_env_file_exports_kubeconfig_urls_dsns_and_they_work(stack: RunningStack):
    env = stack.env
    for name in ("KUBECONFIG", "PROMETHEUS_URL", "INGRESS_URL", "WEBHOOK_URL",
                 "VCCI_DATABASE_DSN", "CBAM_DATABASE_DSN", "CSRD_DATABASE_DSN"):
        assert env.get(name), f"{name} is not exported by {stack.state_dir / 'env'}"
    assert env["KUBECONFIG"] == str(stack.state_dir / "kubeconfig")
    assert env["INGRESS_URL"] == f"http://127.0.0.1:{stack.ports['INGRESS']}"
    assert env["PROMETHEUS_URL"] == f"http://127.0.0.1:{stack.ports['PROMETHEUS']}"
    assert env["WEBHOOK_URL"] == f"http://127.0.0.1:{stack.ports['WEBHOOK']}"
    for app in APPS:
        dsn = env[f"{app.upper()}_DATABASE_DSN"]
        assert f"port={stack.ports['POSTGRES']}" in dsn
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            (dbname,) = conn.execute("SELECT current_database()").fetchone()
            applied = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
        assert dbname == app and applied, f"{app}: database {dbname}, migrations {applied}"


def test_each_app_answers_by_host_with_v1_and_its_database_from_the_secret_up(stack: RunningStack):
    for app in APPS:
        secret = stack.get("-n", app, "secret", f"{app}-database")
        secret_dsn = base64.b64decode(secret["data"]["dsn"]).decode()
        assert secret_dsn == stack.env[f"{app.upper()}_DATABASE_DSN"]
        deployment = stack.get("-n", app, "deployment", f"{app}-api")
        (env_var,) = [e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
                      if e["name"] == "DATABASE_DSN"]
        assert env_var == {"name": "DATABASE_DSN",
                           "valueFrom": {"secretKeyRef": {"name": f"{app}-database", "key": "dsn"}}}
        # The kubelet resolved the secretKeyRef into each pod process's environment.
        for pod in stack.pods(app):
            environ = Path(f"/proc/{stack.pod_pid(pod)}/environ").read_bytes().split(b"\0")
            assert f"DATABASE_DSN={secret_dsn}".encode() in environ, pod["metadata"]["name"]

        seen_pods = set()
        for _ in range(10):  # both replicas answer through nginx
            detailed = stack.call(app, "/health/detailed")
            assert detailed.status_code == 200, detailed.text
            assert detailed.headers["X-App-Version"] == "v1"
            body = detailed.json()
            assert (body["app"], body["version"], body["database"]["status"]) == (app, "v1", "up"), body
            seen_pods.add(detailed.headers["X-Served-By"])
        assert len(seen_pods) == 2, f"{app}: answers came from {seen_pods}"
        method, path, payload = API_CALLS[app]
        api = stack.call(app, path, method, payload)
        assert api.status_code == 200 and api.headers["X-App-Version"] == "v1", api.text


# -- releases under load --------------------------------------------------------------------------------------


def test_rolling_update_under_50_rps_ends_on_v2_without_a_failed_request(stack: RunningStack):
    gen = stack.load("vcci", rps=RPS, duration=90)
    try:
        wait_until(lambda: len(gen.results) >= 2 * RPS, timeout=10, what="2 s of v1 traffic")
        stack.kubectl("-n", "vcci", "set", "image", "deployment/vcci-api", "api=rehearsal/vcci:v2")
        started = time.monotonic()
        rollout = stack.kubectl("-n", "vcci", "rollout", "status", "deployment/vcci-api", "--timeout=90s",
                                timeout=100)
        rollout_seconds = time.monotonic() - started
        ended = time.time()
        wait_until(lambda: gen.results and gen.results[-1]["t"] > ended + 3, timeout=10, what="3 s more traffic")
    finally:
        summary = gen.stop()
    print(f"\n[rolling update] {rollout_seconds:.1f} s; {summary['requests']} requests, failed {summary['failed']}, "
          f"by version {summary['by_version']}, p99 {summary['latency_ms']['p99']} ms")
    assert "successfully rolled out" in rollout
    assert summary["failed"] == 0, summary["first_errors"]
    assert summary["by_status"] == {"200": summary["requests"]}
    records = gen.results
    assert records[0]["version"] == "v1"
    tail = [r["version"] for r in records if r["t"] > ended + 0.5]
    assert tail and set(tail) == {"v2"}, f"versions after the rollout: {set(tail)}"
    deployment = stack.get("-n", "vcci", "deployment", "vcci-api")
    assert deployment["status"]["updatedReplicas"] == deployment["status"]["readyReplicas"] == 2
    assert {p["spec"]["containers"][0]["image"] for p in stack.pods("vcci")
            if not p["metadata"].get("deletionTimestamp")} == {"rehearsal/vcci:v2"}


def test_rollout_undo_under_load_brings_v1_back_on_revision_1s_replicaset(stack: RunningStack):
    if max(stack.replica_sets_by_revision("vcci", "vcci-api")) == 1:  # run alone: make revision 2 first
        stack.kubectl("-n", "vcci", "set", "image", "deployment/vcci-api", "api=rehearsal/vcci:v2")
        stack.kubectl("-n", "vcci", "rollout", "status", "deployment/vcci-api", "--timeout=90s", timeout=100)
    before = stack.replica_sets_by_revision("vcci", "vcci-api")
    assert sorted(before) == [1, 2], sorted(before)
    v1_rs, v2_rs = before[1]["metadata"], before[2]["metadata"]

    def undo(*flags: str) -> float:
        """`rollout undo` + `rollout status`; returns when the rollout completed (wall clock)."""
        stack.kubectl("-n", "vcci", "rollout", "undo", "deployment/vcci-api", *flags)
        out = stack.kubectl("-n", "vcci", "rollout", "status", "deployment/vcci-api", "--timeout=90s", timeout=100)
        assert "successfully rolled out" in out
        return time.time()

    gen = stack.load("vcci", rps=RPS, duration=150)
    try:
        wait_until(lambda: len(gen.results) >= 2 * RPS, timeout=10, what="2 s of v2 traffic")
        undone_at = undo()
        after_undo = stack.replica_sets_by_revision("vcci", "vcci-api")
        pods_after_undo = stack.live_pods("vcci")
        # Once nginx has dropped the terminating v2 pods (they serve on for SHUTDOWN_DELAY_S after SIGTERM).
        wait_until(lambda: gen.results[-1]["t"] > undone_at + 3, timeout=10, what="3 s of traffic after the undo")
        answers = [stack.call("vcci", "/health/detailed") for _ in range(10)]
        status = stack.rehearsal("status", timeout=60)
        # And forward again to an explicit revision: revision 2's ReplicaSet becomes revision 4.
        redone_started = time.time()
        redone_at = undo("--to-revision=2")
        after_redo = stack.replica_sets_by_revision("vcci", "vcci-api")
        wait_until(lambda: gen.results[-1]["t"] > redone_at + 3, timeout=10, what="3 s of traffic after the redo")
    finally:
        summary = gen.stop()
    records = gen.results
    print(f"\n[undo] {summary['requests']} requests, failed {summary['failed']}, by version {summary['by_version']}")
    # The undo reused revision 1's ReplicaSet (same name, same pod-template-hash), now numbered 3.
    assert sorted(after_undo) == [2, 3]
    assert after_undo[3]["metadata"]["name"] == v1_rs["name"]
    assert after_undo[3]["metadata"]["labels"]["pod-template-hash"] == v1_rs["labels"]["pod-template-hash"]
    assert len(pods_after_undo) == 2
    for pod in pods_after_undo:
        assert pod["spec"]["containers"][0]["image"] == "rehearsal/vcci:v1"
        assert pod["metadata"]["labels"]["pod-template-hash"] == v1_rs["labels"]["pod-template-hash"]
    assert {(a.status_code, a.headers["X-App-Version"]) for a in answers} == {(200, "v1")}
    assert {name: row[1] for name, row in status_pods(status.stdout).items() if row[0] == "vcci"} == \
        {p["metadata"]["name"]: "v1" for p in pods_after_undo}, status.stdout
    assert {r["version"] for r in records if undone_at + 0.5 < r["t"] < redone_started} == {"v1"}
    assert sorted(after_redo) == [3, 4] and after_redo[4]["metadata"]["name"] == v2_rs["name"]
    assert {r["version"] for r in records if r["t"] > redone_at + 0.5} == {"v2"}
    assert summary["failed"] == 0, summary["first_errors"]


def _cbam_v2_with_errors() -> list[dict]:
    """cbam v2 as a bad release: its own Deployment and Service, 20 % of its API answers are 500s."""
    labels = {"app.kubernetes.io/name": "cbam-api-v2", "app.kubernetes.io/part-of": "greenlang"}
    container = {
        "name": "api", "image": "rehearsal/cbam:v2", "ports": [{"name": "http", "containerPort": 8080}],
        "env": [{"name": "DATABASE_DSN", "valueFrom": {"secretKeyRef": {"name": "cbam-database", "key": "dsn"}}},
                {"name": "FAULT_ERROR_RATIO", "value": "0.2"}],
        "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "http"}, "periodSeconds": 1,
                           "failureThreshold": 2},
    }
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "cbam-api-v2", "namespace": "cbam"},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "cbam-api-v2"}},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"terminationGracePeriodSeconds": 10, "containers": [container]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "cbam-api-v2", "namespace": "cbam"},
         "spec": {"selector": {"app.kubernetes.io/name": "cbam-api-v2"},
                  "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
    ]


CANARY_INGRESS = {
    "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
    "metadata": {"name": "cbam-canary", "namespace": "cbam",
                 "annotations": {"nginx.ingress.kubernetes.io/canary": "true",
                                 "nginx.ingress.kubernetes.io/canary-weight": "50"}},
    "spec": {"ingressClassName": "nginx", "rules": [{"host": "cbam.rehearsal.test", "http": {"paths": [
        {"path": "/", "pathType": "Prefix",
         "backend": {"service": {"name": "cbam-api-v2", "port": {"number": 80}}}}]}}]},
}


def _error_ratio(version: str) -> str:
    # The metric_gate module's query shape: 5xx rate over all requests of one version.
    return (f'sum(rate(http_requests_total{{app="cbam",version="{version}",code=~"5.."}}[30s])) / '
            f'sum(rate(http_requests_total{{app="cbam",version="{version}"}}[30s]))')


def test_faulty_release_error_ratio_shows_in_prometheus_within_10_seconds(stack: RunningStack):
    objects = _cbam_v2_with_errors()
    for obj in objects:
        stack.kubectl("apply", "-f", "-", input=json.dumps(obj))
    try:
        stack.kubectl("-n", "cbam", "rollout", "status", "deployment/cbam-api-v2", "--timeout=60s", timeout=70)
        gen = stack.load("cbam", rps=RPS, duration=60)
        try:
            wait_until(lambda: len(gen.results) >= RPS, timeout=10, what="1 s of v1 traffic")
            # The bad release gets half the traffic, as a canary step would give it.
            stack.kubectl("apply", "-f", "-", input=json.dumps(CANARY_INGRESS))
            first_v2 = wait_until(lambda: first_response_time(gen.results, "v2"), timeout=15,
                                  what="the first response from v2")
            ratio, detected = None, None
            deadline = first_v2 + 20
            while time.time() < deadline:
                ratio = stack.promql(_error_ratio("v2"))
                if ratio is not None and abs(ratio - 0.2) <= 0.05:
                    detected = time.time()
                    break
                time.sleep(0.2)
            # The reading must hold, not flicker past 0.2. 250 responses make the app's own error ratio
            # exact to 0.04 (its 500s come in blocks of 50 requests), then two more scrapes.
            wait_until(lambda: sum(r["version"] == "v2" for r in gen.results) >= 250, timeout=30,
                       what="250 responses from v2")
            time.sleep(2)
            settled = stack.promql(_error_ratio("v2"))
            v1_errors = stack.promql('sum(rate(http_requests_total{app="cbam",version="v1",code=~"5.."}[30s]))')
            v1_rate = stack.promql('sum(rate(http_requests_total{app="cbam",version="v1"}[30s]))')
        finally:
            gen.stop()
    finally:
        stack.kubectl("-n", "cbam", "delete", "ingress", "cbam-canary", "--ignore-not-found")
        for obj in reversed(objects):
            stack.kubectl("-n", "cbam", "delete", obj["kind"].lower(), obj["metadata"]["name"], "--ignore-not-found")
    v2 = [r for r in gen.results if r["version"] == "v2"]
    measured_v2 = sum(r["status"] >= 500 for r in v2) / len(v2)
    time_to_detect = None if detected is None else round(detected - first_v2, 2)
    print(f"\n[fault] v2 error ratio: Prometheus {ratio} -> {settled} (load generator saw {measured_v2:.3f} "
          f"over {len(v2)} v2 responses); time to detect {time_to_detect} s; v1: {v1_rate} req/s, 5xx {v1_errors}")
    assert detected is not None, f"Prometheus never reported 0.2 +- 0.05 for v2 (last value {ratio})"
    assert time_to_detect <= 10, f"took {time_to_detect:.1f} s from the first v2 response"
    assert settled is not None and abs(settled - 0.2) <= 0.05, settled
    assert abs(measured_v2 - 0.2) <= 0.05  # what Prometheus reports is what clients got
    # The same query for v1 finds traffic and no 5xx series at all: the ratio is per version.
    assert v1_rate and v1_rate > 0 and not v1_errors, (v1_rate, v1_errors)
    v1 = [r for r in gen.results if r["version"] == "v1"]
    assert v1 and all(r["status"] == 200 for r in v1)


def test_killed_pod_is_restarted_and_leaves_endpoints_while_unready_with_no_failed_request(stack: RunningStack):
    pods = [p for p in stack.pods("vcci") if pod_is_ready(p) and not p["metadata"].get("deletionTimestamp")]
    assert len(pods) == 2
    victim = pods[0]
    name, ip, pid = victim["metadata"]["name"], victim["status"]["podIP"], stack.pod_pid(victim)
    restarts_before = victim["status"]["containerStatuses"][0]["restartCount"]
    watch = subprocess.Popen([KUBECTL, "--kubeconfig", stack.env["KUBECONFIG"], "-n", "vcci", "get", "endpoints",
                              "vcci-api", "--watch", "-o", "json"], stdout=subprocess.PIPE, text=True)
    watched: list[str] = []
    reader = threading.Thread(target=lambda: watched.append(watch.stdout.read()), daemon=True)
    reader.start()
    # GET: nginx re-sends an idempotent request that was in flight on the killed pod to the other one
    # (proxy_next_upstream error), as ingress-nginx does; a POST in flight at that instant would be lost,
    # exactly as in production.
    gen = stack.load("vcci", rps=RPS, duration=60, path="/api/v1/hotspots?top=3")
    try:
        wait_until(lambda: len(gen.results) >= 2 * RPS, timeout=10, what="2 s of traffic")
        os.kill(pid, signal.SIGKILL)
        killed_at = time.time()

        def restarted_and_ready():
            pod = stack.get("-n", "vcci", "pod", name)
            return pod_is_ready(pod) and pod["status"]["containerStatuses"][0]["restartCount"] > restarts_before \
                and ip in ready_ips(stack.get("-n", "vcci", "endpoints", "vcci-api")) and pod

        pod = wait_until(restarted_and_ready, timeout=30, interval=0.3, what=f"{name} restarted and ready again")
        back_at = time.time()
        wait_until(lambda: gen.results[-1]["t"] > back_at + 3, timeout=10, what="3 s more traffic")
    finally:
        summary = gen.stop()
        watch.terminate()
        watch.wait(timeout=10)
        reader.join(timeout=10)
    status = pod["status"]["containerStatuses"][0]
    states = [ip in ready_ips(ep) for ep in parse_json_stream("".join(watched))]
    served_after = sum(1 for r in gen.results if r["pod"] == name and r["t"] > back_at)
    print(f"\n[kill] {name} back after {back_at - killed_at:.1f} s; endpoints seen (pod ready?) {states}; "
          f"{summary['requests']} requests, failed {summary['failed']}, served by it afterwards {served_after}")
    assert status["restartCount"] == restarts_before + 1  # this kill, once (a busy start may have restarted it before)
    assert status["lastState"]["terminated"]["exitCode"] == 128 + signal.SIGKILL
    assert stack.pod_pid(pod) != pid
    # Listed, dropped while unready, listed again.
    assert states[0] is True and False in states and states[-1] is True, states
    assert summary["failed"] == 0, summary["first_errors"]
    assert served_after > 0, "the restarted pod got no traffic back"

"""The launch report of a rehearsal with a bad CBAM release, on a real rehearsal stack of its own.

The stack (kube API, process pods, nginx, Prometheus scraping the pods every second, PostgreSQL) runs the three
v1 apps as `rehearsal up` deploys them; the load generator sends steady traffic to all three through the ingress.
Then, as the launch does it:

- vcci: pg_dump backup, v2 beside v1, HTTPRoute 50/50, a gate on v2's error rate (passes), switch to 100 % v2;
  a go/no-go decision from measured numbers;
- cbam: pg_dump backup, v2 shipped with ``FAULT_ERROR_RATIO=0.3`` in its pods' env, a canary Ingress at 10 %,
  the error-rate gate fails, abort: canary Ingress removed, v2 scaled to 0, time to stable measured from the
  load generator's responses;
- csrd: not deployed.

Each step is done for real (kubectl, metric gates from ``module_utils.gate`` on the stack's Prometheus) and
written as run records in the CONTRACT format (until the launch_record module lands, plain JSON lines the same
shape). Then the ``report`` role runs through ansible-playbook, with known secret values planted where a careless
report would pick them up. The tests check what a change board would rely on:

- report.json's figures equal Prometheus queried directly for the same range (independent formulations where
  there are any) and match what the load generator counted;
- report.html renders in headless Chromium (Debian's package, driven through the DevTools protocol over a pipe)
  without a console error; it shows CBAM's abort and reason and marks CBAM's error rate missed; the screenshot is
  kept in ``.artifacts/report/`` (path printed);
- no secret appears in any file the report wrote nor in ansible-playbook's output;
- a second run changes nothing; check mode writes nothing.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import getpass
import hashlib
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from module_runner import run_play

from rehearsal.load import LoadGenerator
from rehearsal.testing import StackRun

from ansible_collections.greenlang.launch.plugins.module_utils.gate import Gate  # isort: skip
from ansible_collections.greenlang.launch.plugins.module_utils.promql import PrometheusClient  # isort: skip
from ansible_collections.greenlang.launch.plugins.module_utils import run_records  # isort: skip

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".artifacts" / "report"
CHROMIUM = "/usr/lib/chromium/chromium"
API = {
    "vcci.rehearsal.test": {"method": "POST", "path": "/api/v1/calculator/category1",
                            "body": {"items": [{"category": "metals", "spend": 1000}]}},
    "cbam.rehearsal.test": {"method": "POST", "path": "/api/v1/calculate",
                            "body": {"imports": [{"cn_code": "7208", "quantity": 100}]}},
    "csrd.rehearsal.test": {"method": "POST", "path": "/api/v1/calculate",
                            "body": {"datapoints": [{"code": "E1-6_scope1", "value": 1}]}},
}
RPS = 25
WRITE_TASK = "greenlang.launch.report : Write the launch report"
FAULT_ERROR_RATIO = 0.3
CANARY_WEIGHT = 10
ERROR_RATE_MAX = 0.001
# Known secret values planted in the run: a report must show none of them.
SECRETS = {
    "step_arg_password": "pw-Step-7d1e4c2b9a",
    "dsn_in_reason": "dsnpw-Q4f8Zr2mK1",
    "bearer_in_rollback": "tok-Bearer-5c9e1a7f3d2b8e6a",
    "prometheus_token": "prom-token-0b7d5e2f9c4a1e8d",
    "prometheus_url_password": "url-pw-6e3a9d1c7b",
    "slack_webhook_token": "Xq7bT3mK9pR2vL5nW8cY1dF4",
}


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


class RunRecords:
    """Writes the run directory with ``run_records.write``, what the launch_record module calls (same validation,
    same files, steps keyed ``<app>:<index>:<verb>`` as run_plan keys them)."""

    def __init__(self, run_dir: Path):
        self.dir = run_dir
        self.dir.mkdir(parents=True)
        self.run: dict = {}

    def write_run(self, **fields) -> None:
        self.run.update(fields)
        run_records.write(str(self.dir), "run", fields)

    def append(self, stream: str, key: str | None = None, **row) -> dict:
        return run_records.write(str(self.dir), stream, row, key=key)["record"]

    def append_raw(self, stream: str, **row) -> None:
        """A line written around launch_record (which would mask secret-looking keys itself)."""
        with open(self.dir / f"{stream}.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")

    def step(self, app, index, verb, args, started, weight, status="ok", checks=(), reason=None, ended=None):
        return self.append("steps", key=f"{app}:{index}:{verb}", app=app, index=index, verb=verb, args=args,
                           status=status, started=iso(started), ended=iso(ended or time.time()), weight=weight,
                           checks=list(checks), reason=reason)


def deployment(ns: str, name: str, app: str, version: str, **env) -> list[dict]:
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "greenlang"}
    container = {
        "name": "api", "image": f"rehearsal/{app}:{version}", "ports": [{"name": "http", "containerPort": 8080}],
        "env": [{"name": "DATABASE_DSN", "valueFrom": {"secretKeyRef": {"name": f"{app}-database", "key": "dsn"}}},
                {"name": "SHUTDOWN_DELAY_S", "value": "2"}] + [{"name": k, "value": str(v)} for k, v in env.items()],
        "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "http"}, "periodSeconds": 1,
                           "timeoutSeconds": 2, "failureThreshold": 3},
    }
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns, "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                  "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
         "spec": {"selector": {"app.kubernetes.io/name": name},
                  "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
    ]


def apply(stack: StackRun, objects) -> None:
    stack.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects if isinstance(objects, list) else [objects]))


def error_rate_check(app: str, version: str) -> dict:
    selector = f'app="{app}",version="{version}"'
    return {"name": "error_rate",
            "query": f'(sum(rate(http_requests_total{{{selector},code=~"5.."}}[5s])) or vector(0)) / '
                     f'sum(rate(http_requests_total{{{selector}}}[5s]))',
            "max": ERROR_RATE_MAX}


def p95_check(app: str, version: str) -> dict:
    return {"name": "p95_seconds", "max": 0.5,
            "query": f'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket'
                     f'{{app="{app}",version="{version}"}}[5s])))'}


def gate(prometheus: PrometheusClient, checks: list[dict], duration: float) -> dict:
    # Waits up to 5 rounds for the new version's first samples, ends at the first real breach.
    return Gate(prometheus, checks, interval=2, duration=duration, failure_limit=1, success_after=3,
                inconclusive_limit=6).run()


def recorded_checks(result: dict) -> list[dict]:
    return [{"name": c["name"], "query": c["query"], "value": c.get("value"), "threshold": c.get("max"), "op": "<=",
             "verdict": c["verdict"]} for c in result["checks"]]


def backup(stack: StackRun, records: RunRecords, app: str, index: int) -> None:
    """A real pg_dump of the app's database, checked with pg_restore --list."""
    started = time.time()
    path = records.dir / "backups" / f"{app}_rehearsal.dump"
    path.parent.mkdir(exist_ok=True)
    dsn = stack.env[f"{app.upper()}_DATABASE_DSN"]
    subprocess.run(["pg_dump", "-Fc", "-d", dsn, "-f", str(path)], check=True, timeout=60, capture_output=True)
    verified = subprocess.run(["pg_restore", "--list", str(path)], capture_output=True, timeout=60).returncode == 0
    records.append("artifacts", kind="backup", app=app, file=str(path), size=path.stat().st_size,
                   sha256=hashlib.sha256(path.read_bytes()).hexdigest(), verified=verified,
                   schema_before=None, schema_after=None)
    records.step(app, index, "backup", {"test_restore": False}, started, None)


def last_response_of(gen: LoadGenerator, host: str, version: str) -> float | None:
    times = [r["t"] for r in gen.results if r["host"] == host and r["version"] == version]
    return max(times) if times else None


@pytest.fixture(scope="module")
def bad_cbam_rehearsal(tmp_path_factory):
    """The whole rehearsal, then the report role over it; yields what the tests look at."""
    stack = StackRun(apps=True, prefix="greenlang-report-test-").up()
    gen = None
    try:
        print(f"\n[report] own stack up in {stack.up_seconds:.1f} s: {stack.state_dir}")
        prometheus = PrometheusClient(stack.prometheus_url)
        records = RunRecords(tmp_path_factory.mktemp("launch-state") / "runs" / "20260601T120000Z")
        version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
        t_start = time.time()
        records.write_run(run_id=records.dir.name, environment="rehearsal", started=iso(t_start), ended=None,
                          user=getpass.getuser(), collection_version=version,
                          apps={"vcci": {"release": "v2", "previous": "v1", "strategy": "blue_green", "result": None},
                                "cbam": {"release": "v2", "previous": "v1", "strategy": "canary", "result": None},
                                "csrd": {"release": "v2", "previous": "v1", "strategy": "rolling",
                                         "result": "not run"}})
        gen = LoadGenerator(stack.ingress_url, list(API), rps=RPS, duration=600, per_host=API).start()
        time.sleep(5)  # a baseline of v1 traffic

        # -- vcci: healthy blue-green ramp --------------------------------------------------------------------
        backup(stack, records, "vcci", 0)
        t = time.time()
        apply(stack, deployment("vcci", "vcci-api-v2", "vcci", "v2"))
        stack.kubectl("-n", "vcci", "rollout", "status", "deployment/vcci-api-v2", "--timeout=90s", timeout=100)
        records.step("vcci", 1, "deploy", {}, t, 0)
        route = stack.kubectl_json("httproute", "vcci", "-n", "vcci")
        refs = route["spec"]["rules"][0]["backendRefs"]

        def weights(v1: int, v2: int) -> None:
            route["spec"]["rules"][0]["backendRefs"] = [dict(refs[0], weight=v1),
                                                        {"name": "vcci-api-v2", "port": refs[0]["port"], "weight": v2}]
            for key in ("resourceVersion", "managedFields", "uid", "creationTimestamp", "generation"):
                route["metadata"].pop(key, None)
            route.pop("status", None)
            apply(stack, route)

        t = time.time()
        weights(50, 50)
        records.step("vcci", 2, "set_weight", 50, t, 50)
        t = time.time()
        vcci_gate = gate(prometheus, [error_rate_check("vcci", "v2"), p95_check("vcci", "v2")], 20)
        assert vcci_gate["passed"], vcci_gate["msg"]
        records.step("vcci", 3, "gate", ["error_rate", "p95"], t, 50, checks=recorded_checks(vcci_gate))
        t = time.time()
        weights(0, 100)
        records.step("vcci", 4, "switch", {}, t, 100)
        records.write_run(apps=dict(records.run["apps"], vcci=dict(records.run["apps"]["vcci"], result="ok")))
        decision = gate(prometheus, [error_rate_check("vcci", "v2"), p95_check("vcci", "v2")], 6)
        records.append("decisions", gate="after-vcci", app="vcci",
                       criteria=[{"name": c["name"], "measured": c.get("value"), "threshold": c.get("max"), "op": "<=",
                                  "met": c["verdict"] == "pass"} for c in decision["checks"]],
                       verdict="GO" if decision["passed"] else "NO-GO", decided_by="automatic (rehearsal)",
                       decided_at=iso(time.time()), reason=decision["msg"])

        # -- cbam: the bad release -----------------------------------------------------------------------------
        backup(stack, records, "cbam", 0)
        t = time.time()
        apply(stack, deployment("cbam", "cbam-api-v2", "cbam", "v2", FAULT_ERROR_RATIO=FAULT_ERROR_RATIO))
        stack.kubectl("-n", "cbam", "rollout", "status", "deployment/cbam-api-v2", "--timeout=90s", timeout=100)
        # A careless record: a password among the step's args (the report must redact it).
        records.append_raw("steps", key="cbam:1:deploy", app="cbam", index=1, verb="deploy",
                           args={"image": "rehearsal/cbam:v2", "password": SECRETS["step_arg_password"]},
                           status="ok", started=iso(t), ended=iso(time.time()), weight=0, checks=[], reason=None)
        t = t_canary = time.time()
        canary = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                  "metadata": {"name": "cbam-canary", "namespace": "cbam",
                               "annotations": {"nginx.ingress.kubernetes.io/canary": "true",
                                               "nginx.ingress.kubernetes.io/canary-weight": str(CANARY_WEIGHT)}},
                  "spec": {"ingressClassName": "nginx", "rules": [{"host": "cbam.rehearsal.test", "http": {"paths": [
                      {"path": "/", "pathType": "Prefix",
                       "backend": {"service": {"name": "cbam-api-v2", "port": {"number": 80}}}}]}}]}}
        apply(stack, canary)
        records.step("cbam", 2, "set_weight", CANARY_WEIGHT, t, CANARY_WEIGHT)
        t = time.time()
        cbam_gate = gate(prometheus, [error_rate_check("cbam", "v2")], 30)
        assert cbam_gate["verdict"] == "fail", cbam_gate["msg"]
        failed = next(c for c in cbam_gate["checks"] if c["verdict"] == "fail")
        reason = (f"gate error_rate failed: {failed['value']:.3f} > max {ERROR_RATE_MAX} "
                  f"(while checking postgresql://cbam:{SECRETS['dsn_in_reason']}@127.0.0.1/cbam)")
        records.step("cbam", 3, "gate", ["error_rate"], t, CANARY_WEIGHT, status="failed",
                     checks=recorded_checks(cbam_gate), reason=reason)
        abort_started = time.time()
        stack.kubectl("-n", "cbam", "delete", "ingress", "cbam-canary")
        stack.kubectl("-n", "cbam", "scale", "deployment/cbam-api-v2", "--replicas=0")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # stable: 3 s of responses without v2
            last = last_response_of(gen, "cbam.rehearsal.test", "v2")
            if last is not None and time.time() - last > 3:
                break
            time.sleep(0.5)
        stable_at = last_response_of(gen, "cbam.rehearsal.test", "v2") or abort_started
        stable_at = max(stable_at, abort_started)
        records.step("cbam", 2, "set_weight", CANARY_WEIGHT, t_canary, 0, status="undone", ended=stable_at)
        records.append("rollbacks", app="cbam", reason=reason.split(" (while")[0] + " -- Authorization: Bearer "
                       + SECRETS["bearer_in_rollback"], type="traffic", started=iso(abort_started),
                       stable_at=iso(stable_at), time_to_stable_s=round(stable_at - abort_started, 3))
        records.write_run(apps=dict(records.run["apps"], cbam=dict(records.run["apps"]["cbam"], result="rolled back")))
        time.sleep(6)  # stable traffic after the abort
        gen.stop()
        t_end = time.time()
        time.sleep(2)  # the last scrape of the range
        records.write_run(ended=iso(t_end), result="failed")

        # -- the report, through the role -----------------------------------------------------------------------
        prom_port = stack.prometheus_url.rsplit(":", 1)[1]
        role_vars = {
            "report_run_dir": str(records.dir),
            "report_prometheus_url": f"http://reporter:{SECRETS['prometheus_url_password']}@127.0.0.1:{prom_port}",
            "report_prometheus_token": SECRETS["prometheus_token"],
            "launch_environment": "rehearsal",
            # Launch-wide secrets in scope, as an inventory has them; the role must not read them into the report.
            "launch_slack_webhook_url": f"https://hooks.slack.com/services/T0001/B0002/{SECRETS['slack_webhook_token']}",
            "launch_databases": {"cbam": {"host": "127.0.0.1", "password": SECRETS["dsn_in_reason"]}},
        }
        task = {"name": "report", "ansible.builtin.include_role": {"name": "greenlang.launch.report"},
                "vars": role_vars}
        started = time.monotonic()
        play = run_play([task], timeout=300)
        print(f"[report] role run took {time.monotonic() - started:.1f} s")
        write = play[WRITE_TASK]
        assert not write.get("failed"), write
        stack_secrets = sorted({v.split("password=")[1].split()[0] for k, v in stack.env.items()
                                if k.endswith("_DSN") and "password=" in v})
        if urlsplit(stack.env.get("REDIS_URL", "")).password:
            stack_secrets.append(urlsplit(stack.env["REDIS_URL"]).password)
        yield {"stack": stack, "gen": gen, "records": records, "run_dir": records.dir, "play": play,
               "write": write, "role_vars": role_vars, "t_start": t_start, "t_end": t_end,
               "report": json.loads((records.dir / "report.json").read_text()), "stack_secrets": stack_secrets,
               "cbam_v2_error_ratio_measured": failed["value"]}
    finally:
        if gen is not None and gen.running:
            gen.stop()
        leftovers = stack.down()
        assert leftovers == [], f"the report test's stack left these behind: {leftovers}"


# -- figures vs Prometheus -----------------------------------------------------------------------------------------


def direct(stack: StackRun, query: str, at: float) -> float | None:
    """An instant query straight to the Prometheus HTTP API, not through the collection's client."""
    data = urllib.parse.urlencode({"query": query, "time": f"{at:.3f}"}).encode()
    with urllib.request.urlopen(stack.prometheus_url + "/api/v1/query", data=data, timeout=10) as resp:
        result = json.load(resp)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_report_figures_agree_with_prometheus_queried_directly(bad_cbam_rehearsal):
    run = bad_cbam_rehearsal
    report, stack = run["report"], run["stack"]
    at = datetime.fromisoformat(report["range"]["end"].replace("Z", "+00:00")).timestamp()
    rng = report["range"]["promql_range"]
    assert abs(at - run["t_end"]) < 0.01, (report["range"], run["t_end"])
    for app in ("vcci", "cbam", "csrd"):
        fig = report["apps"][app]["figures"]
        sel = f'app="{app}"'
        requests = direct(stack, f"sum(increase(http_requests_total{{{sel}}}[{rng}]))", at)
        error_rate = direct(stack, f'(sum(increase(http_requests_total{{{sel},code=~"5.."}}[{rng}])) or vector(0))'
                                   f" / sum(increase(http_requests_total{{{sel}}}[{rng}]))", at)
        p95 = direct(stack, f"histogram_quantile(0.95, sum by (le) (increase("
                            f"http_request_duration_seconds_bucket{{{sel}}}[{rng}])))", at)
        p99 = direct(stack, f"histogram_quantile(0.99, sum by (le) (increase("
                            f"http_request_duration_seconds_bucket{{{sel}}}[{rng}])))", at)
        hits = direct(stack, f"sum(increase(cache_hits_total{{{sel}}}[{rng}])) / (sum(increase(cache_hits_total"
                             f"{{{sel}}}[{rng}])) + sum(increase(cache_misses_total{{{sel}}}[{rng}])))", at)
        # Time with a ready pod, by a subquery instead of the report's range query: the same share to one step.
        ready = direct(stack, f"avg_over_time(((max(app_ready{{{sel}}}) >= bool 1) or vector(0))[{rng}:1s])", at)
        print(f"{app}: requests {requests:.1f}, error rate {error_rate:.5f}, p95 {p95:.4f}, p99 {p99:.4f}, "
              f"cache hit {hits:.4f}, ready {ready:.4f}")
        assert fig["error_rate"]["value"] == pytest.approx(error_rate, rel=1e-9, abs=1e-12)
        assert fig["availability_requests"]["value"] == pytest.approx(1 - error_rate, rel=1e-9)
        assert fig["throughput_rps"]["value"] == pytest.approx(requests / report["range"]["seconds"], rel=1e-3)
        assert fig["p95_seconds"]["value"] == pytest.approx(p95, rel=1e-9)
        assert fig["p99_seconds"]["value"] == pytest.approx(p99, rel=1e-9)
        assert fig["cache_hit_ratio"]["value"] == pytest.approx(hits, rel=1e-9)
        points = report["apps"][app]["measured"]["ready"]
        assert fig["availability_ready"]["value"] == pytest.approx(ready, abs=2.5 / report["range"]["seconds"]), points
    # CBAM per version: v2's 5xx share over the range is the injected fault ratio's doing.
    versions = {v["version"]: v for v in report["apps"]["cbam"]["versions"]}
    v2_errors = direct(stack, f'sum(increase(http_requests_total{{app="cbam",version="v2",code=~"5.."}}[{rng}]))', at)
    assert versions["v2"]["errors"] == pytest.approx(v2_errors, rel=1e-9)
    assert versions["v2"]["role"] == "new" and versions["v1"]["role"] == "stable"


def test_report_counts_match_what_the_load_generator_sent(bad_cbam_rehearsal):
    """Prometheus counts (and the report) agree with the responses the load generator saw, within the few
    requests that increase() extrapolates at the edges of the range."""
    run = bad_cbam_rehearsal
    report, gen = run["report"], run["gen"]
    for app in ("vcci", "cbam", "csrd"):
        sent = [r for r in gen.results if r["host"] == f"{app}.rehearsal.test"]
        failed = sum(1 for r in sent if r["status"] >= 500)
        measured = report["apps"][app]["measured"]
        print(f"{app}: load generator {len(sent)} requests, {failed} 5xx; report {measured['requests']['value']:.1f}"
              f" requests, {measured['errors']['value']:.1f} 5xx")
        assert measured["requests"]["value"] == pytest.approx(len(sent), rel=0.05)
        if app == "cbam":
            assert failed > 0
            assert measured["errors"]["value"] == pytest.approx(failed, rel=0.25, abs=3)
        else:
            assert failed == 0 and measured["errors"]["value"] == 0


def test_report_marks_cbam_error_rate_missed_and_vcci_met(bad_cbam_rehearsal):
    report = bad_cbam_rehearsal["report"]
    cbam = {row["metric"]: row for row in report["apps"]["cbam"]["targets"]}
    vcci = {row["metric"]: row for row in report["apps"]["vcci"]["targets"]}
    assert cbam["error_rate"]["verdict"] == "missed", cbam["error_rate"]
    assert cbam["error_rate"]["value"] > ERROR_RATE_MAX
    assert vcci["error_rate"]["verdict"] == "met" and vcci["p95_seconds"]["verdict"] == "met"
    assert report["apps"]["cbam"]["aborts"][0]["reason"].startswith("gate error_rate failed")
    assert report["apps"]["cbam"]["result"] == "rolled back"
    assert report["apps"]["csrd"]["steps"] == [] and report["apps"]["csrd"]["result"] == "not run"
    assert [d["verdict"] for d in report["decisions"]] == ["GO"]
    assert {b["app"] for b in report["backups"]} == {"vcci", "cbam"} and all(b["verified"] for b in report["backups"])
    # The plotted weight of cbam's canary goes 0 -> 10 -> 0 (abort), vcci's 0 -> 50 -> 100.
    def changes(points):
        values = [w for _t, w in points]
        return [w for i, w in enumerate(values) if i == 0 or w != values[i - 1]]

    assert changes(report["apps"]["cbam"]["series"]["weight"]) == [0, CANARY_WEIGHT, 0]
    assert changes(report["apps"]["vcci"]["series"]["weight"]) == [0, 50, 100]


# -- the HTML in a real browser -----------------------------------------------------------------------------------


class Chromium:
    """Debian's headless Chromium driven through the DevTools protocol over ``--remote-debugging-pipe``
    (commands on its fd 3, answers and events on its fd 4, each message JSON followed by a NUL byte)."""

    FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage")

    def __init__(self, profile_dir: Path, width: int = 1280, height: int = 900):
        to_r, self._to_w = os.pipe()
        self._from_r, from_w = os.pipe()
        # Our ends go above fd 9 first, so the redirections that make them fd 3 and 4 never close each other.
        hi_r, hi_w = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_r, from_w))
        os.close(to_r)
        os.close(from_w)
        self.log_path = profile_dir / "chromium.log"
        script = f'exec 3<&{hi_r} 4>&{hi_w} {hi_r}<&- {hi_w}>&-; exec "$0" "$@"'
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                ["bash", "-c", script, CHROMIUM, *self.FLAGS, f"--user-data-dir={profile_dir}",
                 "--remote-debugging-pipe", f"--window-size={width},{height}", "about:blank"],
                pass_fds=(hi_r, hi_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        os.close(hi_r)
        os.close(hi_w)
        self._buf, self._id, self.events = b"", 0, []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30):
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            for reply in self._read(deadline, method):
                if reply.get("id") == self._id:
                    if "error" in reply:
                        raise AssertionError(f"DevTools {method}: {reply['error']}")
                    return reply.get("result", {})
                self.events.append(reply)

    def wait_event(self, method: str, session: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            self.events.extend(self._read(deadline, method))

    def _read(self, deadline: float, what: str) -> list[dict]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"Chromium gave no {what} in time; log: {self.log_path.read_text()[-2000:]}")
            if select.select([self._from_r], [], [], left)[0]:
                chunk = os.read(self._from_r, 1 << 20)
                if not chunk:
                    raise AssertionError(f"Chromium closed the pipe; log: {self.log_path.read_text()[-2000:]}")
                self._buf += chunk
        messages = []
        while b"\0" in self._buf:
            raw, self._buf = self._buf.split(b"\0", 1)
            messages.append(json.loads(raw))
        return messages

    def open(self, url: str) -> str:
        """A new tab with console, log and page events on; returns its session id once ``url`` has loaded."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
            self.send(domain, session=session)
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_event("Page.loadEventFired", session)
        self.send("Runtime.evaluate", {"expression": "new Promise(r => setTimeout(r, 300))", "awaitPromise": True},
                  session=session)
        return session

    def console_errors(self, session: str) -> list[str]:
        errors = []
        for event in self.events:
            if event.get("sessionId") != session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                errors.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(json.dumps(params.get("args"))[:500])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                errors.append(params["entry"].get("text", "") + " " + params["entry"].get("url", ""))
        return errors

    def evaluate(self, session: str, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session)
        return result["result"].get("value")

    def screenshot(self, session: str, width: int = 1280) -> bytes:
        height = int(self.send("Page.getLayoutMetrics", session=session)["cssContentSize"]["height"])
        shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                    "clip": {"x": 0, "y": 0, "width": width, "height": height,
                                                             "scale": 1}}, session=session, timeout=60)
        return base64.b64decode(shot["data"])

    def close(self) -> None:
        with contextlib.suppress(AssertionError, OSError):
            self.send("Browser.close", timeout=5)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self._to_w)
        os.close(self._from_r)


@pytest.fixture
def chromium(tmp_path):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} missing: `make setup` installs Debian's chromium (tools/ensure-system-packages.sh)")
    profile = Path(tempfile.mkdtemp(prefix="report-chromium-", dir=tmp_path))
    browser = Chromium(profile)
    yield browser
    browser.close()


def test_console_error_detection_catches_a_resource_the_policy_blocks(chromium, tmp_path):
    """The no-console-error check below can fail: a page under the report's CSP that tries the network is caught."""
    from ansible_collections.greenlang.launch.plugins.module_utils.launch_report_render import CSP

    page = tmp_path / "bad.html"
    page.write_text(f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="{CSP}">'
                    '<link rel="icon" href="data:,"></head><body><img src="http://127.0.0.1:9/x.png"></body></html>')
    session = chromium.open(page.as_uri())
    errors = chromium.console_errors(session)
    assert errors and any("Content Security Policy" in e or "127.0.0.1:9" in e for e in errors), errors


def test_html_report_of_bad_cbam_release_renders_in_headless_chromium(bad_cbam_rehearsal, chromium, tmp_path):
    html = bad_cbam_rehearsal["run_dir"] / "report.html"
    text = html.read_text()
    assert not re.search(r'(src|href)="(?!data:)', text), "the report refers to something outside itself"
    assert text.count("data:image/png;base64,") == 4  # overview + one per app
    session = chromium.open(html.as_uri())
    shot = chromium.screenshot(session)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (tmp_path / "report.png").write_bytes(shot)
    shutil.copy(tmp_path / "report.png", ARTIFACTS / "bad-cbam-report.png")
    shutil.copy(html, ARTIFACTS / "bad-cbam-report.html")
    print(f"\n[report] screenshot: {ARTIFACTS / 'bad-cbam-report.png'} (also {tmp_path / 'report.png'})")
    assert chromium.console_errors(session) == []
    images = chromium.evaluate(session, "Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
    assert len(images) == 4 and all(ok and width >= 800 for ok, width in images), images
    cbam_section = chromium.evaluate(session, """
        (() => { const out = []; let el = document.getElementById('app-cbam').nextElementSibling;
                 while (el && el.tagName !== 'H2') { out.push(el.innerText); el = el.nextElementSibling; }
                 return out.join('\\n'); })()""")
    assert "Aborted at" in cbam_section and "gate error_rate failed" in cbam_section, cbam_section[:1500]
    verdict = chromium.evaluate(session, """
        (() => { const h = document.getElementById('app-cbam');
                 let el = h.nextElementSibling;
                 while (el && el.tagName !== 'TABLE') el = el.nextElementSibling;
                 const row = Array.from(el.rows).find(r => r.cells[0].innerText === 'Error rate (5xx)');
                 return [row.cells[3].innerText, getComputedStyle(row.cells[3]).backgroundColor]; })()""")
    assert verdict[0] == "MISSED", verdict
    assert verdict[1] == "rgb(253, 226, 226)", verdict  # drawn red, not only spelled out


# -- secrets -------------------------------------------------------------------------------------------------------


def test_no_secret_in_any_report_file_or_in_ansible_output(bad_cbam_rehearsal):
    run = bad_cbam_rehearsal
    secrets = list(SECRETS.values()) + run["stack_secrets"]
    assert all(len(s) >= 10 for s in secrets), "short secrets would match by chance"
    files = [p for p in run["run_dir"].rglob("*") if p.is_file() and p.suffix in (".html", ".md", ".json", ".png")]
    assert {p.name for p in files} >= {"report.html", "report.md", "report.json", "cbam.png", "overview.png"}
    # The records did carry them (so the search below means something).
    planted = "".join((run["run_dir"] / f).read_text() for f in ("steps.jsonl", "rollbacks.jsonl"))
    assert SECRETS["step_arg_password"] in planted and SECRETS["bearer_in_rollback"] in planted
    for path in files:
        data = path.read_bytes()
        texts = [data] + ([base64.b64decode(b) for b in _data_uris(data)] if path.suffix == ".html" else [])
        for secret in secrets:
            assert all(secret.encode() not in t for t in texts), f"{secret!r} found in {path}"
    output = run["play"].stdout + run["play"].stderr
    for secret in secrets:
        assert secret not in output, f"{secret!r} found in ansible-playbook's output"
    report = run["report"]
    deploy = next(s for s in report["apps"]["cbam"]["steps"] if s["verb"] == "deploy")
    assert deploy["args"]["password"] == "(redacted)" and deploy["args"]["image"] == "rehearsal/cbam:v2"
    assert report["generator"]["prometheus_url"].startswith("http://127.0.0.1:")


def _data_uris(html: bytes) -> list[bytes]:
    return [part.split(b'"', 1)[0] for part in html.split(b"data:image/png;base64,")[1:]]


# -- idempotence and check mode ------------------------------------------------------------------------------------


def test_second_run_changes_nothing_and_check_mode_writes_nothing(bad_cbam_rehearsal):
    run = bad_cbam_rehearsal
    before = {p: p.stat().st_mtime_ns for p in run["run_dir"].rglob("report*")}
    task = {"name": "report", "ansible.builtin.include_role": {"name": "greenlang.launch.report"},
            "vars": run["role_vars"]}
    again = run_play([task])[WRITE_TASK]
    assert again["changed"] is False, again.get("msg")
    assert again["digest"] == run["write"]["digest"]
    # A different title is a different report: check mode says so, with a diff, and writes nothing.
    task["vars"] = dict(run["role_vars"], report_title="Launch report - rehearsal (revised)")
    checked = run_play([task], check=True, diff=True)[WRITE_TASK]
    assert checked["changed"] is True and "would be written" in checked["msg"]
    assert "(revised)" in checked["diff"]["after"] and "(revised)" not in checked["diff"]["before"]
    assert {p: p.stat().st_mtime_ns for p in run["run_dir"].rglob("report*")} == before

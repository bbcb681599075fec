"""run_plan driving the canary role on the rehearsal stack, under load through the traffic plane.

Each test deploys a stable v1 (2 replicas, Service, primary Ingress for a host of its own) in a namespace of
its own, writes a launch plan with rehearsal seconds, runs ``ansible-playbook`` (the real CLI, default output,
so the hold's progress lines are what an operator sees) and measures with the load generator at 100 rps what a
user would notice: failed requests, which version answered and when, where the cluster ends.

- a healthy ramp 10 -> 25 -> 50 -> 100 -> promote loses no request of >= 10,000, ends on v2 with v1 kept as
  standby, and a second run changes nothing;
- a release shipped with FAULT_ERROR_RATIO=0.3 (launch_release_env) is aborted at its first step: v2 answers
  for under 10 s first to last, no request fails after the abort, the play fails red naming the gate;
- a release with FAULT_LATENCY_MS is aborted by the P95 rollback trigger during a hold;
- SIGKILL of ansible-playbook during a hold, then a rerun: same end state, one migration, weights never above
  the plan's.

Run with ``-s`` to see the measured figures.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
import yaml

from rehearsal.load import LoadGenerator

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
CBAM_CALL = {"path": "/api/v1/calculate", "method": "POST", "body": {"imports": [{"cn_code": "7208", "quantity": 100}]}}
RPS = 100
PLAY_TIMEOUT = 900
NGX = "nginx.ingress.kubernetes.io/"

pytestmark = pytest.mark.slow


# -- the app and its plan --------------------------------------------------------------------------------------


def stable_objects(ns: str, host: str) -> list[dict]:
    labels = {"app.kubernetes.io/name": "cbam-api", "app.kubernetes.io/part-of": "greenlang"}
    container = {
        "name": "api", "image": "rehearsal/cbam:v1", "ports": [{"name": "http", "containerPort": 8080}],
        "env": [{"name": "SHUTDOWN_DELAY_S", "value": "2"}],
        "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "http"}, "periodSeconds": 1,
                           "timeoutSeconds": 2, "failureThreshold": 3},
    }
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "cbam-api", "namespace": ns, "labels": labels},
         "spec": {"replicas": 2, "revisionHistoryLimit": 5,
                  "selector": {"matchLabels": {"app.kubernetes.io/name": "cbam-api"}},
                  "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                  "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "cbam-api", "namespace": ns},
         "spec": {"selector": {"app.kubernetes.io/name": "cbam-api"},
                  "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "cbam", "namespace": ns},
         "spec": {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [
             {"path": "/", "pathType": "Prefix",
              "backend": {"service": {"name": "cbam-api", "port": {"number": 80}}}}]}}]}},
    ]


def error_ratio_query() -> str:
    """The new version's error ratio; `or vector(0)`: a healthy version has no 5xx series, which is 0 %."""
    sel = 'namespace="{{ run_plan_namespace }}",version="{{ run_plan_release }}"'
    return (f'(sum(rate(http_requests_total{{{sel},code=~"5.."}}[5s])) or vector(0)) '
            f'/ sum(rate(http_requests_total{{{sel}}}[5s]))')


def settings(stack, state_dir: Path, **over) -> dict:
    """Inventory-level variables: the stack's endpoints and the rehearsal's seconds."""
    out = {
        "launch_environment": "rehearsal",
        "launch_state_dir": str(state_dir),
        "launch_backup_dir": str(state_dir / "backups"),
        "launch_prometheus_url": stack.prometheus_url,
        "launch_ingress_url": stack.ingress_url,
        "launch_hold_interval": "1s",
        "launch_progress_interval": 5,
        "launch_gate_timeout": "90s",
        "launch_ready_timeout": 300,
        "launch_trigger_error_rate_for": "3s",
        "launch_trigger_p95_for": "3s",
        "launch_trigger_rate_window": "5s",
        "launch_gates": {"error_rate": {"query": error_ratio_query(),
                                        "max": 0.01, "for": "3s"}},
    }
    out.update(over)
    return out


def cbam_plan(ns: str, steps: list, **over) -> dict:
    plan = {"release": "v2", "previous": "v1", "strategy": "canary", "namespace": ns, "image": "rehearsal/cbam",
            "traffic": {"provider": "ingress_nginx", "name": "cbam", "stable": "cbam-api", "canary": "cbam-api-v2"},
            "keep_previous": "7d", "steps": steps}
    plan.update(over)
    return plan


class Playbook:
    """ansible-playbook running run_plan for cbam with the given variables, output kept in a file."""

    def __init__(self, stack, workdir: Path, variables: dict, check: bool = False):
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "vars.yml").write_text(yaml.safe_dump(variables, sort_keys=False))
        (workdir / "play.yml").write_text(yaml.safe_dump([{
            "name": "cbam rollout", "hosts": "localhost", "gather_facts": False, "vars_files": ["vars.yml"],
            "tasks": [{"name": "Run the cbam plan",
                       "ansible.builtin.include_role": {"name": "greenlang.launch.run_plan"},
                       "vars": {"run_plan_app": "cbam"}}]}], sort_keys=False))
        self.cmd = [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(workdir / "play.yml"),
                    "-e", f"ansible_python_interpreter={sys.executable}"] + (["--check"] if check else [])
        self.env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                    "K8S_AUTH_KUBECONFIG": stack.kubeconfig, "ANSIBLE_LOCAL_TEMP": str(workdir / "tmp")}
        self.env.pop("KUBECONFIG", None)
        self.proc = None
        self.log = workdir / f"ansible-{uuid.uuid4().hex[:6]}.log"

    def start(self) -> Playbook:
        self.out = self.log.open("w")
        self.proc = subprocess.Popen(self.cmd, cwd=REPO, env=self.env, stdout=self.out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def wait(self, timeout: float = PLAY_TIMEOUT) -> tuple[int, str]:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise
        finally:
            self.out.close()
        return rc, self.log.read_text()

    def run(self, timeout: float = PLAY_TIMEOUT) -> tuple[int, str]:
        return self.start().wait(timeout)

    def sigkill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.out.close()


def records(state_dir: Path, stream: str) -> list[dict]:
    files = list((state_dir / "runs").glob(f"*/{stream}.jsonl"))
    return [json.loads(line) for f in sorted(files) for line in f.read_text().splitlines()]


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def recap_changed(output: str) -> int:
    line = [raw for raw in output.splitlines() if raw.startswith("localhost") and "changed=" in raw][-1]
    return int(line.split("changed=")[1].split()[0])


class WeightWatcher:
    """Reads the canary Ingress weight twice a second while a rollout runs (what the plan must never exceed)."""

    def __init__(self, stack, ns: str):
        self.stack, self.ns, self.seen, self._stop = stack, ns, [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.5):
            try:
                obj = self.stack.kubectl_json("-n", self.ns, "ingress", "cbam-canary")
            except Exception:
                continue
            ann = obj["metadata"].get("annotations") or {}
            if ann.get(NGX + "canary") == "true":
                self.seen.append((time.time(), int(ann.get(NGX + "canary-weight", "0"))))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join(timeout=10)


def deploy_stable_cbam(stack, ns: str, host: str) -> None:
    """Namespace ``ns`` with cbam v1 (2 replicas) behind an Ingress for ``host``, serving through nginx."""
    stack.kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
    stack.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(stable_objects(ns, host)))
    stack.kubectl("-n", ns, "rollout", "status", "deployment/cbam-api", "--timeout=240s", timeout=260)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # nginx serves the new host once it has reloaded
        gen = LoadGenerator(stack.ingress_url, [host], rps=20, duration=0.5, **CBAM_CALL).start()
        if gen.wait(timeout=30)["by_version"].get("v1"):
            return
    raise AssertionError(f"{host} not served by v1 through {stack.ingress_url} within 120 s")


@pytest.fixture
def cbam_ns(rehearsal_stack, request):
    ns = f"canary-{request.node.name.removeprefix('test_')[:20].replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    host = f"{ns}.rehearsal.test"
    deploy_stable_cbam(rehearsal_stack, ns, host)
    yield ns, host
    rehearsal_stack.kubectl("delete", "namespace", ns, "--wait=false")


def load(stack, host: str, duration: float) -> LoadGenerator:
    return LoadGenerator(stack.ingress_url, [host], rps=RPS, duration=duration, **CBAM_CALL).start()


def deployment(stack, ns: str, name: str) -> dict | None:
    try:
        return stack.kubectl_json("-n", ns, "deployment", name)
    except Exception:
        return None


# -- tests -----------------------------------------------------------------------------------------------------


def test_healthy_canary_ramp_to_promote_loses_no_request_and_a_rerun_changes_nothing(rehearsal_stack, cbam_ns,
                                                                                       tmp_path):
    stack, (ns, host) = rehearsal_stack, cbam_ns
    steps = [{"deploy": {}}, {"set_weight": 10}, {"gate": ["error_rate"]}, {"set_weight": 25}, {"pause": "5s"},
             {"set_weight": 50}, {"pause": "5s"}, {"set_weight": 100}, {"pause": "5s"}, {"promote": {}}]
    variables = settings(stack, tmp_path / "state", launch_plan={"cbam": cbam_plan(ns, steps)})
    gen = load(stack, host, duration=PLAY_TIMEOUT)
    with WeightWatcher(stack, ns) as watch:
        rc, out = Playbook(stack, tmp_path / "run1", variables).run()
    # At least 10,000 requests: keep the load on the promoted version until they are counted.
    while len(gen.results) < 10_000 and gen.running:
        time.sleep(0.5)
    summary = gen.stop()
    print(f"\nhealthy ramp: {summary['requests']} requests, {summary['failed']} failed, by version "
          f"{summary['by_version']}, weights seen {sorted({w for _, w in watch.seen})}")
    assert rc == 0, out[-5000:]
    assert summary["requests"] >= 10_000 and summary["failed"] == 0, summary
    assert summary["by_version"].get("v2", 0) > 0
    assert {w for _, w in watch.seen} <= {0, 10, 25, 50, 100}
    stable = deployment(stack, ns, "cbam-api")
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"] == "rehearsal/cbam:v2"
    assert deployment(stack, ns, "cbam-api-v2") is None
    standby = deployment(stack, ns, "cbam-api-standby")
    assert standby["spec"]["template"]["spec"]["containers"][0]["image"] == "rehearsal/cbam:v1"
    assert "launch.greenlang.io/standby-expires" in standby["metadata"]["annotations"]
    steps_done = [r for r in records(tmp_path / "state", "steps") if r["status"] == "ok"]
    assert [r["verb"] for r in steps_done] == [list(s)[0] for s in steps]
    assert [r["weight"] for r in steps_done if r["verb"] == "set_weight"] == [10, 25, 50, 100]
    assert "[cbam step 4 pause 5s at 25" in out  # the hold's progress line

    rc2, out2 = Playbook(stack, tmp_path / "run2", variables).run()
    assert rc2 == 0, out2[-5000:]
    assert recap_changed(out2) == 0, out2[-3000:]
    assert "already serves v2 (promoted)" in out2


def test_faulty_canary_is_aborted_at_its_first_step_and_answers_under_10_s(rehearsal_stack, cbam_ns, tmp_path):
    stack, (ns, host) = rehearsal_stack, cbam_ns
    steps = [{"deploy": {}}, {"set_weight": 10}, {"gate": ["error_rate"]}, {"set_weight": 50}, {"pause": "5s"},
             {"promote": {}}]
    variables = settings(stack, tmp_path / "state", launch_plan={"cbam": cbam_plan(ns, steps)},
                         launch_release_env={"cbam": {"FAULT_ERROR_RATIO": "0.3"}})
    gen = load(stack, host, duration=PLAY_TIMEOUT)
    rc, out = Playbook(stack, tmp_path / "run", variables).run()
    time.sleep(3)
    gen.stop()
    bad = [r for r in gen.results if r["version"] == "v2"]
    (rollback,) = records(tmp_path / "state", "rollbacks")
    stable_at = epoch(rollback["stable_at"])
    after_abort = [r for r in gen.results if r["t"] > stable_at + 1.0]  # nginx reload after the write
    window = bad[-1]["t"] - bad[0]["t"] if bad else 0.0
    print(f"\nfaulty canary: v2 answered {len(bad)} requests over {window:.2f} s, "
          f"time to stable {rollback['time_to_stable_s']} s, failed after abort "
          f"{sum(1 for r in after_abort if r['status'] >= 500 or r['status'] == 0)} of {len(after_abort)}")
    assert rc != 0 and "cbam ROLLED BACK" in out and "error_rate" in out
    assert bad and window < 10.0
    assert not [r for r in after_abort if r["status"] == 0 or r["status"] >= 500]
    canary = deployment(stack, ns, "cbam-api-v2")
    assert canary["spec"]["replicas"] == 0
    assert "error_rate" in canary["metadata"]["annotations"]["launch.greenlang.io/aborted-reason"]
    by_key = {}
    for r in records(tmp_path / "state", "steps"):
        by_key[r["key"]] = r
    # The first step with traffic fails: set_weight 10 (the triggers checked after it) or the gate right after.
    (failed,) = [r for r in by_key.values() if r["status"] == "failed"]
    assert failed["index"] in (1, 2) and "error_rate" in failed["reason"]
    assert by_key["cbam:0:deploy"]["status"] == "undone"
    assert deployment(stack, ns, "cbam-api")["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "rehearsal/cbam:v1"


def test_slow_canary_is_aborted_by_the_p95_trigger_during_its_hold(rehearsal_stack, cbam_ns, tmp_path):
    stack, (ns, host) = rehearsal_stack, cbam_ns
    steps = [{"deploy": {}}, {"set_weight": 25}, {"pause": "60s"}, {"promote": {}}]
    variables = settings(stack, tmp_path / "state", launch_plan={"cbam": cbam_plan(ns, steps)},
                         launch_release_env={"cbam": {"FAULT_LATENCY_MS": "2500"}})
    gen = load(stack, host, duration=PLAY_TIMEOUT)
    rc, out = Playbook(stack, tmp_path / "run", variables).run()
    gen.stop()
    (rollback,) = records(tmp_path / "state", "rollbacks")
    print(f"\nslow canary: {rollback['reason'][:300]}")
    assert rc != 0
    assert "p95_latency_ms" in rollback["reason"] and "> max 2000" in rollback["reason"]
    assert "TRIGGERED" in out
    assert deployment(stack, ns, "cbam-api-v2")["spec"]["replicas"] == 0


def test_sigkill_during_a_hold_then_rerun_converges_with_one_migration(rehearsal_stack, cbam_ns, tmp_path):
    stack, (ns, host) = rehearsal_stack, cbam_ns
    db = "rollout_" + uuid.uuid4().hex[:8]
    admin = stack.env["POSTGRES_ADMIN_DSN"]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    conninfo = psycopg.conninfo.conninfo_to_dict(admin)
    dsn = psycopg.conninfo.make_conninfo(admin, dbname=db)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE schema_migrations (version text PRIMARY KEY)")
        conn.execute("INSERT INTO schema_migrations VALUES ('001_initial')")
    sql = tmp_path / "002_rollout.sql"
    sql.write_text("CREATE TABLE IF NOT EXISTS migration_runs (at timestamptz NOT NULL DEFAULT now());\n"
                   "INSERT INTO migration_runs DEFAULT VALUES;\n"
                   "INSERT INTO schema_migrations VALUES ('002_rollout');\n")
    steps = [{"backup": {}},
             {"migrate": {"command": [sys.executable, "-m", "rehearsal.apps.migrate", "--sql", str(sql)],
                          "chdir": str(REPO), "command_env": {"DATABASE_DSN": dsn},
                          "schema_version_query": "SELECT max(version) FROM schema_migrations",
                          "expected_schema_version": "002_rollout"}},
             {"deploy": {}}, {"set_weight": 10}, {"pause": "3s"}, {"set_weight": 25}, {"pause": "40s"},
             {"set_weight": 50}, {"pause": "3s"}, {"promote": {}}]
    variables = settings(stack, tmp_path / "state", launch_plan={"cbam": cbam_plan(ns, steps,
                                                                                   database={"name": db})},
                         launch_databases={"cbam": {"host": conninfo["host"], "port": int(conninfo["port"]),
                                                    "user": conninfo["user"], "password": conninfo["password"]}})
    gen = load(stack, host, duration=PLAY_TIMEOUT)
    try:
        with WeightWatcher(stack, ns) as watch:
            first = Playbook(stack, tmp_path / "run1", variables).start()
            deadline = time.monotonic() + PLAY_TIMEOUT
            while time.monotonic() < deadline and "[cbam step 6 pause 40s at 25" not in first.log.read_text():
                assert first.proc.poll() is None, first.log.read_text()[-4000:]
                time.sleep(0.5)
            first.sigkill()
            killed_at = watch.seen[-1][1] if watch.seen else None
            rc, out = Playbook(stack, tmp_path / "run2", variables).run()
        summary = gen.stop()
        with psycopg.connect(dsn) as conn:
            runs = conn.execute("SELECT count(*) FROM migration_runs").fetchone()[0]
        print(f"\nSIGKILL at weight {killed_at}; rerun rc={rc}; migrations run {runs}; weights seen "
              f"{sorted({w for _, w in watch.seen})}; load {summary['requests']} requests, {summary['failed']} failed")
        assert killed_at == 25
        assert rc == 0, out[-5000:]
        assert "resuming at step 5 (set_weight 25)" in out
        assert runs == 1
        assert {w for _, w in watch.seen} <= {0, 10, 25, 50, 100}
        assert deployment(stack, ns, "cbam-api")["spec"]["template"]["spec"]["containers"][0]["image"] == \
            "rehearsal/cbam:v2"
        assert deployment(stack, ns, "cbam-api-v2") is None
        assert summary["failed"] == 0
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

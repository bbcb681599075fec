"""The triple launch on a real rehearsal stack: ``ansible-playbook playbooks/launch-day.yml -l rehearsal``.

One stack (v1 of the three apps deployed, Redis, the registry, the webhook receiver) for the module; the
tests run in the order of a launch day and each states the cluster it starts from:

1. runs that do not choose one environment are refused before anything is touched;
2. a missing image tag and a missing Secret: pre-flight NO-GO listing both, nothing changed;
3. a bad CBAM release (FAULT_ERROR_RATIO through launch_release_env): VCCI goes live, CBAM is rolled back to
   v1 with its database as before, CSRD is not deployed, the run fails, the rollback notification says why;
4. two launches at once: the second refuses at once naming the first; the first is killed with SIGKILL, a new
   run after the lease duration takes the lock over and converges (all three apps on v2, CBAM v1 standby);
5. ``--check --diff`` on the deployed stack changes nothing (cluster objects and databases compared).

Traffic flows through the ingress during every launch (the gates judge live metrics). Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from rehearsal.launch_day import TRAFFIC
from rehearsal.load import LoadGenerator
from rehearsal.services.registry import ImageRegistry
from rehearsal.testing import SHORT_HOLDS, StackRun

# A whole launch (or week) per test: the long tier, `make test-slow`.
pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = str(REPO_ROOT / ".venv" / "bin" / "ansible-playbook")
LAUNCH_TIMEOUT = 1800  # one whole launch on a busy 2-core machine
APPS = ("vcci", "cbam", "csrd")
BAD_CBAM = {"launch_release_env": {"cbam": {"FAULT_ERROR_RATIO": "0.3"}}}


@pytest.fixture(scope="module")
def stack():
    run = StackRun(apps=True, prefix="greenlang-launch-day-").up()
    load = LoadGenerator(run.ingress_url, list(TRAFFIC), rps=10, duration=4 * 3600, per_host=TRAFFIC).start()
    try:
        yield run
    finally:
        load.stop()
        leftovers = run.down()
        assert leftovers == [], f"the stack left these behind: {leftovers}"


def playbook_env(stack: StackRun) -> dict[str, str]:
    return {**os.environ, **stack.env, "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"), "PYTHONUNBUFFERED": "1",
            "ANSIBLE_NOCOLOR": "1"}


def launch(stack: StackRun, *args: str, extra: dict | None = None, timeout: float = LAUNCH_TIMEOUT,
           limit: str | None = "rehearsal") -> subprocess.CompletedProcess:
    cmd = [ANSIBLE_PLAYBOOK, "playbooks/launch-day.yml", *(["-l", limit] if limit else []), *args]
    cmd += ["-e", json.dumps({**SHORT_HOLDS, **(extra or {})})]
    return subprocess.run(cmd, cwd=REPO_ROOT, env=playbook_env(stack), capture_output=True, text=True,
                          timeout=timeout, check=False)


def serving_version(stack: StackRun, app: str) -> str:
    """The version that answers the app's users (X-App-Version through the ingress), the majority of 20."""
    seen: dict[str, int] = {}
    for _ in range(20):
        req = urllib.request.Request(stack.ingress_url + "/health/ready", headers={"Host": f"{app}.rehearsal.test"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            version = resp.headers.get("X-App-Version", "?")
        seen[version] = seen.get(version, 0) + 1
    return max(seen, key=seen.get)


def database_state(stack: StackRun, app: str) -> dict:
    """Schema versions, tables and row counts of the app's database (what a migration or restore changes)."""
    with psycopg.connect(stack.env[f"{app.upper()}_DATABASE_DSN"], connect_timeout=10) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")]
        counts = {t: conn.execute(f'SELECT count(*) FROM public."{t}"').fetchone()[0] for t in tables
                  if t not in ("calculations",)}  # the API traffic writes calculations
        columns = [tuple(r) for r in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "ORDER BY 1, 2")]
    return {"versions": versions, "tables": tables, "counts": counts, "columns": columns}


def cluster_objects(stack: StackRun) -> dict:
    """Every Deployment, Service, Ingress, HTTPRoute and Route of the app namespaces, without server bookkeeping."""
    out = {}
    for app in APPS:
        for kind in ("deployments", "services", "ingresses", "httproutes", "routes", "configmaps"):
            try:
                items = stack.kubectl_json(kind, "-n", app)["items"]
            except Exception:  # a kind the cluster does not serve
                continue
            for obj in items:
                meta = obj["metadata"]
                for key in ("resourceVersion", "managedFields", "generation", "uid", "creationTimestamp"):
                    meta.pop(key, None)
                obj.pop("status", None)
                out[f"{app}/{kind}/{meta['name']}"] = obj
    return out


def received(stack: StackRun, prefix: str = "/slack") -> list[dict]:
    with urllib.request.urlopen(f"{stack.env['WEBHOOK_URL']}/_received?prefix={prefix}", timeout=5) as resp:
        return json.load(resp)


def forget_received(stack: StackRun) -> None:
    req = urllib.request.Request(f"{stack.env['WEBHOOK_URL']}/_received", method="DELETE")
    urllib.request.urlopen(req, timeout=5).close()


def lease(stack: StackRun) -> dict | None:
    try:
        return stack.kubectl_json("lease", "-n", "launch", "greenlang-launch-rehearsal")
    except Exception:
        return None


def run_dirs(stack: StackRun) -> set[str]:
    runs = stack.state_dir / "runs"
    return {p.name for p in runs.iterdir()} if runs.is_dir() else set()


# ---- 1 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [None, "all", "rehearsal,staging"])
def test_a_launch_that_does_not_choose_one_environment_is_refused_before_anything_runs(stack, limit):
    before_runs, before_objects = run_dirs(stack), cluster_objects(stack)
    proc = launch(stack, limit=limit, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Choose one environment with -l" in out and "Nothing was run" in out
    # The refusal is the first task: no lock, no run record, nothing in the cluster changed.
    assert "Take the Lease" not in out and "Pre-flight" not in out
    assert lease(stack) is None and run_dirs(stack) == before_runs
    assert cluster_objects(stack) == before_objects


# ---- 2 -----------------------------------------------------------------------------------------
def test_a_missing_image_tag_and_a_missing_secret_are_a_preflight_no_go_listing_each(stack):
    registry = ImageRegistry(stack.state_dir / "registry", stack.ports["REGISTRY"])
    secret = stack.kubectl_json("secret", "-n", "csrd", "csrd-database")
    before = {app: database_state(stack, app) for app in APPS}
    before_objects = cluster_objects(stack)
    assert registry.delete_tag("rehearsal/csrd", "v2")
    stack.kubectl("-n", "csrd", "delete", "secret", "csrd-database")
    try:
        proc = launch(stack, timeout=600)
    finally:
        registry.publish("csrd", "v2")
        for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
            secret["metadata"].pop(key, None)
        stack.kubectl("apply", "-f", "-", input=json.dumps(secret))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "PRE-FLIGHT NO-GO" in out
    assert "MISSING: Secret csrd/csrd-database not found" in out
    assert "MISSING: rehearsal/csrd:v2 not in" in out
    # Both are listed in the one failure message, and no step of any plan ran.
    failure = next(line for line in out.splitlines() if "PRE-FLIGHT NO-GO:" in line and "check(s) failed" in line)
    assert "csrd/csrd-database" in out[out.index(failure):] and "rehearsal/csrd:v2" in out[out.index(failure):]
    assert "STEP vcci" not in out
    assert {app: database_state(stack, app) for app in APPS} == before
    assert cluster_objects(stack) == before_objects
    assert lease(stack) is None, "the lock must be released after a NO-GO"
    assert "LAUNCH STOPPED" in out
    assert stack.env["REDIS_URL"].split("@")[0].split(":")[-1] not in out, "the Redis password must not be shown"


# ---- 3 -----------------------------------------------------------------------------------------
def test_a_bad_cbam_release_is_rolled_back_stops_the_wave_and_vcci_stays_live(stack):
    assert [serving_version(stack, app) for app in APPS] == ["v1", "v1", "v1"], "this test starts from v1 everywhere"
    cbam_db, csrd_db = database_state(stack, "cbam"), database_state(stack, "csrd")
    forget_received(stack)
    proc = launch(stack, extra=BAD_CBAM)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "LAUNCH STOPPED" in out and "cbam" in out.split("LAUNCH STOPPED", 1)[1][:400]
    assert serving_version(stack, "vcci") == "v2"
    assert serving_version(stack, "cbam") == "v1"
    assert serving_version(stack, "csrd") == "v1"
    assert "STEP csrd" not in out, "csrd must not start after cbam failed"
    # The migrate steps carry the database password in command_env: the plan, the steps and the reasons
    # are printed (and go to AWX job output and Slack) with it masked.
    assert "STEP vcci 1/" in out and '"PGPASSWORD": "********"' in out
    assert stack.env["VCCI_DB_PASSWORD"] not in out, "the database password must not be printed"
    assert database_state(stack, "cbam") == cbam_db, "cbam's database must be as before the launch"
    assert database_state(stack, "csrd") == csrd_db
    texts = [r["body"]["text"] for r in received(stack)]
    kinds = [next((k for k in ("launch started", "vcci v2 is live", "ROLLBACK cbam", "Launch stopped") if k in t), t)
             for t in texts]
    assert kinds[:2] == ["launch started", "vcci v2 is live"] and kinds[-2:] == ["ROLLBACK cbam", "Launch stopped"]
    rollback = next(t for t in texts if "ROLLBACK cbam" in t)
    assert "Reason:" in rollback and "error_rate" in rollback and "Rollback type:" in rollback
    assert "Impact:" in rollback and "Expected completion:" in rollback
    assert any(ch.isdigit() for ch in rollback.split("Reason:", 1)[1].splitlines()[0]), "the reason carries numbers"
    assert lease(stack) is None


# ---- 4 -----------------------------------------------------------------------------------------
def _wait_for_lease(stack: StackRun, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = lease(stack)
        if current and current["spec"].get("holderIdentity"):
            return current
        time.sleep(0.5)
    raise AssertionError(f"no launch took the lock within {timeout} s")


def kill_tagged(tag: str) -> None:
    """SIGKILL every process whose environment carries ``GREENLANG_TEST_TAG=tag``: Ansible's workers run in
    sessions of their own, and one whose ansible-playbook was killed blocks forever on its result pipe."""
    marker = f"GREENLANG_TEST_TAG={tag}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    os.kill(int(entry.name), signal.SIGKILL)


def test_a_second_launch_is_refused_naming_the_first_and_a_killed_launch_is_taken_over(stack, request):
    tag = f"takeover-{os.getpid()}-{time.monotonic_ns()}"
    env = dict(playbook_env(stack), GREENLANG_TEST_TAG=tag)
    # At the end only: the lease renewer carries the tag too, and must be seen to stop by itself.
    request.addfinalizer(lambda: kill_tagged(tag))
    first = subprocess.Popen([ANSIBLE_PLAYBOOK, "playbooks/launch-day.yml", "-l", "rehearsal"], cwd=REPO_ROOT,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
    try:
        held = _wait_for_lease(stack, 300)
        holder = held["spec"]["holderIdentity"]
        started = time.monotonic()
        second = launch(stack, timeout=300)
        second_seconds = time.monotonic() - started
        out = second.stdout + second.stderr
        assert second.returncode != 0
        assert "LAUNCH LOCK REFUSED" in out and holder in out and held["spec"]["acquireTime"][:19] in out
        print(f"\nsecond launch refused after {second_seconds:.1f} s (ansible-playbook start included)")
        # The refusal does not wait for the lease: the lock task is the first that reaches the cluster.
        assert second_seconds < 60
        assert lease(stack)["spec"]["holderIdentity"] == holder, "the refused run must not touch the lock"
        time.sleep(20)  # let the first run get into its plan
        first.send_signal(signal.SIGKILL)  # ansible-playbook itself: its lease renewer must notice and stop
        first.wait(30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    duration = int(held["spec"]["leaseDurationSeconds"])
    # Until the lease expires a new run is refused; after it, the new run takes over.
    time.sleep(max(0.0, duration + 3 - (time.monotonic() - killed_at)))
    forget_received(stack)
    proc = launch(stack)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "TAKEN OVER from" in out and holder in out
    assert [serving_version(stack, app) for app in APPS] == ["v2", "v2", "v2"]
    standby = stack.kubectl_json("deployment", "-n", "cbam", "cbam-api-standby")
    assert standby["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v1")
    assert "launch.greenlang.io/standby-expires" in json.dumps(standby["metadata"])
    run_dir = max((stack.state_dir / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    decisions = [json.loads(p.read_text()) for p in sorted((run_dir / "decisions").glob("*.json"))]
    assert [(d["gate"], d["verdict"]) for d in decisions] == [("vcci-to-cbam", "GO"), ("cbam-to-csrd", "GO")]
    texts = [r["body"]["text"] for r in received(stack)]
    order = [next((k for k in ("launch started", "vcci v2 is live", "cbam v2 is live", "csrd v2 is live",
                               "Triple launch complete") if k in t), None) for t in texts]
    assert [k for k in order if k] == ["launch started", "vcci v2 is live", "cbam v2 is live", "csrd v2 is live",
                                       "Triple launch complete"]
    assert lease(stack) is None


# ---- 5 -----------------------------------------------------------------------------------------
def test_check_mode_on_the_deployed_stack_shows_the_plans_and_changes_nothing(stack):
    assert [serving_version(stack, app) for app in APPS] == ["v2", "v2", "v2"], "this test starts from the launch"
    objects, databases, runs = cluster_objects(stack), {a: database_state(stack, a) for a in APPS}, run_dirs(stack)
    forget_received(stack)
    proc = launch(stack, "--check", "--diff")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    for app in APPS:
        assert f"PLAN {app}" in out
    assert cluster_objects(stack) == objects
    assert {a: database_state(stack, a) for a in APPS} == databases
    assert run_dirs(stack) == runs and received(stack, "/") == [] and lease(stack) is None

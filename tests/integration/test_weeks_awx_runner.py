"""The weeks before and after launch day, each run by ansible-runner as AWX runs a job template.

Every job gets a private data directory laid out as AWX lays one out: ``project/`` (the checkout, as a
project sync leaves it), ``inventory/`` (the rehearsal inventory, as the SCM inventory source imports it),
``env/extravars`` (the job's and the previous job's set_stats data, as a workflow passes it), ``env/envvars``
(what credentials inject: here the stack's addresses). One rehearsal stack with v1 of the three apps, steady
traffic through the ingress (the gates judge live metrics), in the order of the plan:

1. week1-prep green: tests, scans, load on each app, the breaker drill, backups test-restored: week2-go GO,
   and its set_stats data (launch_run_id, the verdict) is what the next job receives;
2. week1-prep with a planted failure in each gate: a JUnit run with 12 % failures, a CRITICAL Trivy finding,
   a CBAM release slower than its latency target, a VCCI release whose erp_connector breaker never closes:
   every gate NO-GO naming its reason, week2-go NO-GO, the job failed;
3. week2-staging (the launch plans of VCCI, CBAM, CSRD, the data flow, the combined load): launch-go GO, its
   records in the run that job 1 named (set_stats arrived);
4. post-launch-monitoring: one round GO and a daily report;
5. rollback of CBAM (traffic option): its rollback record;
6. launch-day for CBAM again: CBAM back on v2.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from rehearsal.launch_day import TRAFFIC
from rehearsal.load import LoadGenerator
from rehearsal.testing import SHORT_HOLDS, StackRun

# A whole launch (or week) per test: the long tier, `make test-slow`.
pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
JOB_TIMEOUT = 2400  # one job on a busy 2-core machine
DRILL = [  # two breakers of each fault kind keep the drill within minutes
    {"name": "database", "fault": "database", "expect_half_open": False,
     "probes": [{"name": "liveness", "path": "/health/live", "expect_status": 200}]},
    {"name": "factor_service", "fault": "env", "env": {"FAULT_BREAKER_OPEN": "factor_service"},
     "expect_half_open": False,
     "probes": [{"name": "hotspots still served", "path": "/api/v1/hotspots", "expect_status": 200}]},
]


@pytest.fixture(scope="module")
def stack():
    run = StackRun(apps=True, prefix="greenlang-weeks-").up()
    load = LoadGenerator(run.ingress_url, list(TRAFFIC), rps=5, duration=4 * 3600, per_host=TRAFFIC).start()
    try:
        yield run
    finally:
        load.stop()
        leftovers = run.down()
        assert leftovers == [], f"the stack left these behind: {leftovers}"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Real pytest JUnit reports (all passing; 12 of 100 failing) and scanner reports in their formats."""
    d = tmp_path_factory.mktemp("week-inputs")

    def junit(name: str, failing: int) -> str:
        src = d / f"test_{name}.py"
        src.write_text("import pytest\n\n@pytest.mark.parametrize('i', range(100))\n"
                       f"def test_case(i):\n    assert i >= {failing}\n")
        report = d / f"{name}.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest",
                        f"--rootdir={d}", str(src), f"--junitxml={report}"], cwd=d, capture_output=True,
                       timeout=900, check=False)
        return str(report)

    def write(name: str, doc: dict) -> str:
        (d / name).write_text(json.dumps(doc))
        return str(d / name)

    clean_trivy = {"SchemaVersion": 2, "ArtifactName": "rehearsal/cbam:v2", "Results": [
        {"Target": "cbam", "Vulnerabilities": [{"VulnerabilityID": "CVE-2024-0002", "PkgName": "zlib",
                                                "InstalledVersion": "1.2", "Severity": "MEDIUM"}]}]}
    critical = json.loads(json.dumps(clean_trivy))
    critical["Results"][0]["Vulnerabilities"].append({"VulnerabilityID": "CVE-2024-9999", "PkgName": "openssl",
                                                       "InstalledVersion": "3.0.1", "Severity": "CRITICAL"})
    return {
        "green": {"launch_test_reports": [junit("green", 0)],
                  "launch_scan_reports": [write("pip-audit.json", {"dependencies": [], "fixes": []}),
                                          write("trivy.json", clean_trivy)]},
        "planted": {"launch_test_reports": [junit("planted", 12)],
                    "launch_scan_reports": [write("trivy-critical.json", critical)]},
    }


def run_job(stack: StackRun, playbook: str, extravars: dict, work: Path) -> tuple[str, int, dict, Path]:
    """ansible-runner from a private data dir as AWX lays it out; returns status, rc, set_stats data, dir."""
    import ansible_runner

    pdd = Path(tempfile.mkdtemp(prefix="awx-job-", dir=work))
    (pdd / "project").symlink_to(REPO_ROOT)
    shutil.copytree(REPO_ROOT / "inventories" / "rehearsal", pdd / "inventory")
    (pdd / "env").mkdir()
    (pdd / "env" / "extravars").write_text(yaml.safe_dump({**SHORT_HOLDS, **extravars}))
    envvars = {**stack.env, "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
               "PATH": f"{REPO_ROOT / '.venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin"}
    (pdd / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    venv_bin = str(REPO_ROOT / ".venv" / "bin")
    if venv_bin not in os.environ.get("PATH", "").split(":"):  # runner looks ansible-playbook up in its own PATH
        os.environ["PATH"] = f"{venv_bin}:{os.environ.get('PATH', '')}"
    result = ansible_runner.run(private_data_dir=str(pdd), playbook=playbook, quiet=True, timeout=JOB_TIMEOUT)
    stats = next((e["event_data"].get("artifact_data", {}) for e in result.events
                  if e.get("event") == "playbook_on_stats"), {})
    return result.status, result.rc, stats, pdd


def decisions(stack: StackRun, run_id: str) -> list[dict]:
    path = stack.state_dir / "runs" / run_id / "decisions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def by_gate(records: list[dict]) -> dict[str, dict]:
    return {f"{r['gate']}:{r['app']}": r for r in records}


def job_output(pdd: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-6000:] for p in (pdd / "artifacts").glob("*/stdout"))


@pytest.fixture(scope="module")
def jobs():
    return {}


def test_week1_prep_is_go_and_passes_its_run_to_the_next_job(stack, inputs, jobs, tmp_path_factory):
    status, rc, stats, pdd = run_job(stack, "playbooks/week1-prep.yml",
                                     {**inputs["green"], "breaker_drill_breakers": DRILL},
                                     tmp_path_factory.mktemp("week1"))
    assert (status, rc) == ("successful", 0), job_output(pdd)
    assert stats["week_verdict"] == "GO" and stats["week_gate"] == "week2-go"
    gates = by_gate(decisions(stack, stats["launch_run_id"]))
    for gate in ("test_execution:all", "security:all", "load_test:vcci", "load_test:cbam", "load_test:csrd",
                 "circuit_breakers:vcci", "week2-go:all"):
        assert gate in gates and gates[gate]["verdict"] == "GO", (gate, gates.get(gate))
    backups = next(c for c in gates["week2-go:all"]["criteria"] if c["name"] == "backups_verified_by_test_restore")
    assert (backups["measured"], backups["met"]) == (3, True)
    assert any(c["name"] == "cbam.units_ok" and c["measured"] >= 10000 for c in gates["load_test:cbam"]["criteria"])
    jobs["week1"] = stats


def test_week1_prep_planted_failure_in_each_gate_is_nogo_with_its_reason(stack, inputs, tmp_path_factory):
    stack.kubectl("set", "env", "deployment/cbam-api", "-n", "cbam", "FAULT_LATENCY_MS=1500")
    stack.kubectl("rollout", "status", "deployment/cbam-api", "-n", "cbam", "--timeout=300s", timeout=320)
    stack.kubectl("set", "env", "deployment/vcci-api", "-n", "vcci", "FAULT_BREAKER_OPEN=erp_connector")
    try:
        status, rc, _, pdd = run_job(stack, "playbooks/week1-prep.yml", {
            **inputs["planted"], "week1_apps": ["vcci", "cbam"],
            "breaker_drill_breakers": [{"name": "erp_connector", "fault": "env", "expect_half_open": False,
                                        "env": {"FAULT_BREAKER_OPEN": "erp_connector"}}],
            "launch_week": {"breaker_drill": {"open_timeout": 30, "close_timeout": 20}}},
            tmp_path_factory.mktemp("week1-planted"))
    finally:
        stack.kubectl("set", "env", "deployment/vcci-api", "-n", "vcci", "FAULT_BREAKER_OPEN-")
        stack.kubectl("set", "env", "deployment/cbam-api", "-n", "cbam", "FAULT_LATENCY_MS-")
        for app in ("vcci", "cbam"):
            stack.kubectl("rollout", "status", f"deployment/{app}-api", "-n", app, "--timeout=300s", timeout=320)
    assert status == "failed" and rc != 0
    out = job_output(pdd)
    assert "week2-go NO-GO" in out
    run_id = next(p.name for p in sorted((stack.state_dir / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
                  if (p / "decisions.jsonl").exists() and "12 of 100" in (p / "decisions.jsonl").read_text())
    gates = by_gate(decisions(stack, run_id))
    assert gates["test_execution:all"]["verdict"] == "NO-GO"
    assert "12 of 100 executed tests failed (12.0 %)" in gates["test_execution:all"]["reason"]
    assert gates["security:all"]["verdict"] == "NO-GO"
    assert "CRITICAL trivy CVE-2024-9999" in gates["security:all"]["reason"]
    assert gates["load_test:cbam"]["verdict"] == "NO-GO" and "cbam.p95_ms" in gates["load_test:cbam"]["reason"]
    assert gates["load_test:vcci"]["verdict"] == "GO"
    assert gates["circuit_breakers:vcci"]["verdict"] == "NO-GO"
    assert "breaker erp_connector never closed" in gates["circuit_breakers:vcci"]["reason"]
    assert gates["week2-go:all"]["verdict"] == "NO-GO"


def test_week2_staging_launches_each_app_and_receives_the_previous_jobs_data(stack, jobs, tmp_path_factory):
    if "week1" not in jobs:
        pytest.skip("needs the green week 1 job's set_stats data")
    status, rc, stats, pdd = run_job(stack, "playbooks/week2-staging.yml", dict(jobs["week1"]),
                                     tmp_path_factory.mktemp("week2"))
    assert (status, rc) == ("successful", 0), job_output(pdd)
    assert stats["launch_run_id"] == jobs["week1"]["launch_run_id"]  # the data set_stats passed arrived
    gates = by_gate(decisions(stack, stats["launch_run_id"]))
    assert gates["launch-go:all"]["verdict"] == "GO", gates["launch-go:all"]
    assert gates["cross_app_data_flow:vcci-cbam-csrd"]["verdict"] == "GO"
    assert gates["combined_load:all"]["verdict"] == "GO"
    jobs["week2"] = stats


def test_post_launch_monitoring_round_and_daily_report(stack, jobs, tmp_path_factory):
    if "week2" not in jobs:
        pytest.skip("needs the launched apps of week 2")
    status, rc, stats, pdd = run_job(stack, "playbooks/post-launch-monitoring.yml", {"monitoring_week": 1},
                                     tmp_path_factory.mktemp("monitoring"))
    assert (status, rc) == ("successful", 0), job_output(pdd)
    gates = by_gate(decisions(stack, stats["launch_run_id"]))
    # Each app's check is its post-deployment validation; the round decides on all three.
    assert [gates[f"post_deployment_validation:{a}"]["verdict"] for a in ("vcci", "cbam", "csrd")] == ["GO"] * 3
    assert gates["post-launch-round:all"]["verdict"] == "GO", gates["post-launch-round:all"]
    assert len(gates["post-launch-round:all"]["criteria"]) >= 3
    assert list((stack.state_dir / "reports").glob("daily-*/*")), "no daily report written"


def test_rollback_then_launch_day_for_one_app(stack, jobs, tmp_path_factory):
    if "week2" not in jobs:
        pytest.skip("needs the launched apps of week 2")
    status, rc, stats, pdd = run_job(stack, "playbooks/rollback.yml",
                                     {"rollback_app": "cbam", "rollback_option": "traffic"},
                                     tmp_path_factory.mktemp("rollback"))
    assert (status, rc) == ("successful", 0), job_output(pdd)
    rollbacks = (stack.state_dir / "runs" / stats["launch_run_id"] / "rollbacks.jsonl").read_text()
    assert '"app":"cbam"' in rollbacks.replace(" ", "")
    status, rc, _, pdd = run_job(stack, "playbooks/launch-day.yml", {"launch_only": "cbam"},
                                 tmp_path_factory.mktemp("launch-day"))
    assert (status, rc) == ("successful", 0), job_output(pdd)

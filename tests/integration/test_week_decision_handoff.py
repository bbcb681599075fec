"""A week job's go/no-go is recorded under its own gate when it receives the previous job's set_stats data.

An AWX workflow hands a job's set_stats data to the next job as extra vars, which nothing in a play can
override. week1-prep hands on ``week_gate: week2-go``; if week2-staging named its own gate with that same
variable, its launch-go decision would be recorded as a second week2-go.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def test_week_decision_records_its_own_gate_beside_the_previous_jobs_stats(tmp_path):
    run_dir = tmp_path / "run"
    playbook = tmp_path / "decide.yml"
    playbook.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False, "connection": "local",
        "vars": {"launch_run_id": "handoff", "launch_run_dir": str(run_dir), "week_decisions": [],
                 "ansible_python_interpreter": sys.executable},
        "tasks": [{"name": "Decide", "ansible.builtin.include_tasks": str(REPO / "playbooks/tasks/week_decision.yml"),
                   "vars": {"week_decision_gate": "launch-go",
                            "week_criteria": [{"name": "apps_launched", "measured": 3, "op": "==",
                                               "threshold": 3}]}}]}]))
    previous_job = tmp_path / "extravars.json"  # what week1-prep's set_stats passes on
    previous_job.write_text(json.dumps({"launch_run_id": "handoff", "week_gate": "week2-go",
                                        "week_verdict": "GO", "week_reason": "all 7 criteria met"}))
    result = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", str(playbook), "-e", f"@{previous_job}"],
                            cwd=REPO, env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                                           "ANSIBLE_NOCOLOR": "1"},
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    records = [json.loads(line) for line in (run_dir / "decisions.jsonl").read_text().splitlines() if line]
    assert [(r["gate"], r["verdict"]) for r in records] == [("launch-go", "GO")]
    assert "launch-go: GO" in result.stdout

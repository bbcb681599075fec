"""greenlang.launch.hold through ansible-playbook against a real Prometheus (the session's rehearsal stack).

What an operator sees: progress lines on the play's output while it holds, an early end when a trigger's breach
is sustained, a failure (not a pass) when Prometheus cannot be asked, and no waiting in check mode.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def run_hold(tmp_path: Path, args: dict, *extra: str) -> tuple[int, str, float]:
    play = [{"hosts": "localhost", "gather_facts": False,
             "tasks": [{"name": "Hold", "greenlang.launch.hold": args, "register": "held"},
                       {"name": "Show", "ansible.builtin.debug": {"msg": "OUTCOME={{ held.outcome }}"}}]}]
    path = tmp_path / "hold.yml"
    path.write_text(yaml.safe_dump(play))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    started = time.monotonic()
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(path),
                           "-e", f"ansible_python_interpreter={sys.executable}", *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def test_hold_prints_progress_and_ends_early_on_a_sustained_breach(rehearsal_stack, tmp_path):
    rc, out, took = run_hold(tmp_path, {
        "app": "cbam", "step": "step 7 pause 2m", "duration": "2m", "interval": "1s", "progress_interval": 1,
        "url": rehearsal_stack.prometheus_url,
        "triggers": [{"name": "error_rate", "query": "vector(0.3)", "max": 0.05, "for": "3s"}]})
    assert rc != 0 and took < 100, out[-3000:]
    assert "[cbam step 7 pause 2m]" in out and "TRIGGERED: error_rate 0.3 (max 0.05" in out
    assert "error_rate: fail [breached at all 3 consecutive evaluations" in out


def test_hold_runs_its_duration_with_a_progress_line_at_least_every_interval(rehearsal_stack, tmp_path):
    rc, out, _ = run_hold(tmp_path, {
        "app": "vcci", "duration": "8s", "interval": "1s", "progress_interval": 2,
        "url": rehearsal_stack.prometheus_url,
        "triggers": [{"name": "p95_latency_ms", "query": "vector(120)", "max": 2000, "for": "3s"}]})
    assert rc == 0, out[-3000:]
    lines = [line for line in out.splitlines() if line.startswith("[vcci]")]
    assert len(lines) >= 4 and "held, no trigger fired" in lines[-1]
    assert all("p95_latency_ms 120 (max 2000" in line for line in lines)
    assert "OUTCOME=held" in out


def test_hold_fails_closed_when_prometheus_cannot_be_asked(tmp_path):
    rc, out, _ = run_hold(tmp_path, {
        "duration": "5m", "interval": "1s", "retries": 0, "url": "http://127.0.0.1:9",
        "triggers": [{"name": "error_rate", "query": "vector(0)", "max": 0.05}]})
    assert rc != 0
    assert "failing closed" in out and "Prometheus unavailable" in out


def test_hold_in_check_mode_evaluates_once_and_does_not_wait(rehearsal_stack, tmp_path):
    rc, out, took = run_hold(tmp_path, {
        "duration": "30m", "url": rehearsal_stack.prometheus_url,
        "triggers": [{"name": "error_rate", "query": "vector(0.3)", "max": 0.05}]}, "--check")
    assert rc == 0 and took < 120, out[-3000:]
    assert "check mode: would hold 1800 s" in out and "a trigger would end this hold" in out

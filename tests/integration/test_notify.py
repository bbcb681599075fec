"""Role notify against the rehearsal's webhook receiver (a real HTTP server started by the test).

What a user notices: the messages arrive in order with the runbook's content, the status page incident is
opened once and updated, a channel that is down is retried and reported without failing the play, and the
webhook URL and token never appear in the output.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml

from rehearsal.services.webhook import WebhookReceiver

REPO_ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = str(REPO_ROOT / ".venv" / "bin" / "ansible-playbook")
SECRET_TOKEN = "T0k3n-never-printed-9f1c"
PLAN = {"vcci": {"release": "v2", "previous": "v1", "strategy": "blue_green"},
        "cbam": {"release": "v2", "previous": "v1", "strategy": "canary", "keep_previous": "7d"}}


@pytest.fixture
def receiver():
    with WebhookReceiver(0) as hook:
        yield hook


def run_notify(tmp_path: Path, receiver: WebhookReceiver, events: list[dict], run_dir: Path | None = None,
               retries: int = 2) -> subprocess.CompletedProcess:
    secret_path = f"/slack/services/{SECRET_TOKEN}"
    role = {"name": "greenlang.launch.notify"}
    tasks = [{"name": f"Notify {e['notify_event']}", "ansible.builtin.include_role": role, "vars": e} for e in events]
    play_vars = {
        "launch_environment": "rehearsal", "launch_plan": PLAN, "launch_apps": list(PLAN),
        "launch_run_id": "20260607T100000Z", "launch_run_dir": str(run_dir) if run_dir else None,
        "notify_slack_webhook_url": receiver.url + secret_path, "notify_statuspage_url": receiver.url + "/statuspage",
        "notify_statuspage_token": SECRET_TOKEN,
        "notify_statuspage_components": {"vcci": "cmp-vcci", "cbam": "cmp-cbam"},
        "notify_retries": retries, "notify_retry_delay": 1}
    play = [{"name": "notify", "hosts": "localhost", "gather_facts": False, "vars": play_vars, "tasks": tasks}]
    path = tmp_path / "notify.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    python = str(REPO_ROOT / ".venv" / "bin" / "python")
    cmd = [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={python}", str(path)]
    return subprocess.run(cmd, cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def write_records(run_dir: Path) -> None:
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"apps": {
        "vcci": {"release": "v2", "previous": "v1", "strategy": "blue_green", "result": "ok"},
        "cbam": {"release": "v2", "previous": "v1", "strategy": "canary", "result": "rolled_back",
                 "reason": "step 6 (gate error_rate) failed"}}}))
    steps = [{"app": "cbam", "index": 4, "verb": "set_weight", "status": "undone", "weight": 10, "key": "cbam:4"},
             {"app": "cbam", "index": 6, "verb": "gate", "status": "failed", "weight": 10, "key": "cbam:6",
              "checks": [{"name": "error_rate", "value": 0.31, "threshold": 0.001, "op": "<=", "verdict": "fail"}]}]
    (run_dir / "steps.jsonl").write_text("".join(json.dumps(s) + "\n" for s in steps))
    (run_dir / "rollbacks.jsonl").write_text(json.dumps({
        "app": "cbam", "reason": "error_rate: fail [0.31 > max 0.001]", "type": "traffic",
        "stable_at": "2026-06-07T10:14:04.412Z", "time_to_stable_s": 0.61}) + "\n")


def test_messages_arrive_in_order_with_the_rollback_template_and_one_incident(tmp_path, receiver):
    run_dir = tmp_path / "run"
    write_records(run_dir)
    proc = run_notify(tmp_path, receiver, [
        {"notify_event": "started"}, {"notify_event": "app_complete", "notify_app": "vcci"},
        {"notify_event": "rollback", "notify_app": "cbam"},
        {"notify_event": "launch_failed", "notify_details": {"reason": "cbam ROLLED BACK"}}], run_dir=run_dir)
    assert proc.returncode == 0, proc.stdout[-3000:]
    slack = [r["body"]["text"] for r in receiver.received("/slack")]
    assert [t.split("]", 1)[1].split()[0:3] for t in slack][0] == ["GreenLang", "launch", "started"]
    assert "vcci v2 is live" in slack[1]
    rollback = slack[2]
    for line in ("ROLLBACK cbam v2 -> v1", "Reason: error_rate: fail [0.31 > max 0.001]", "Rollback type: traffic",
                 "Expected completion: done, stable on v1 at 2026-06-07T10:14:04.412Z (0.61 s",
                 "Impact: cbam v2 served up to 10 % of traffic", "error_rate = 0.31 (<= 0.001, fail)"):
        assert line in rollback
    assert "Launch stopped: cbam ROLLED BACK" in slack[3] and "cbam: rolled back, v1 serves" in slack[3]
    pages = receiver.received("/statuspage")
    assert [p["method"] for p in pages] == ["POST", "PATCH", "PATCH", "PATCH"]
    assert len({p["path"] for p in pages[1:]}) == 1 and pages[1]["path"].endswith("/incidents/inc000001")
    opened = pages[0]["body"]["incident"]
    assert opened["components"] == {"cmp-vcci": "under_maintenance", "cmp-cbam": "under_maintenance"}
    assert pages[-1]["body"]["incident"]["status"] == "completed"
    assert all(p["headers"].get("Authorization") == f"OAuth {SECRET_TOKEN}" for p in pages)
    assert SECRET_TOKEN not in proc.stdout + proc.stderr


def test_a_channel_that_is_down_is_retried_and_reported_and_the_play_goes_on(tmp_path, receiver):
    req = urllib.request.Request(receiver.url + "/_config", data=b'{"fail_status": 500}', method="PUT")
    urllib.request.urlopen(req, timeout=5).close()
    proc = run_notify(tmp_path, receiver, [{"notify_event": "started"}], retries=2)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "NOTIFICATION NOT SENT (slack, started): HTTP 500 after 3 attempt(s)" in out
    assert "NOTIFICATION NOT SENT (status page, started): HTTP 500 after 3 attempt(s)" in out
    assert len(receiver.received("/slack")) == 3 and len(receiver.received("/statuspage")) == 3
    assert SECRET_TOKEN not in out

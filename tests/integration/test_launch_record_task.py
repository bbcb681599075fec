"""greenlang.launch.launch_record as a task: written on the controller, check and diff modes, refusals."""

from __future__ import annotations

import json

from tests.integration.module_runner import run_module, run_play

STEP = {"app": "cbam", "index": 4, "verb": "set_weight", "args": {"password": "s3cret"}, "status": "ok",
        "started": 1780826400, "ended": 1780826401.5, "weight": 10}


def test_a_step_record_is_written_once_and_its_secret_masked(tmp_path):
    run_dir = tmp_path / "runs" / "r1"
    args = {"run_dir": str(run_dir), "stream": "steps", "key": "cbam:4:set_weight", "record": STEP}
    play = run_play([{"name": "first", "greenlang.launch.launch_record": args},
                     {"name": "again", "greenlang.launch.launch_record": args}])
    assert play["first"]["changed"] is True and play["again"]["changed"] is False
    assert play["first"]["masked"] == ["args.password"]
    (line,) = (run_dir / "steps.jsonl").read_text().splitlines()
    written = json.loads(line)
    assert written["args"]["password"] == "********" and written["started"] == "2026-06-07T10:00:00Z"
    assert "s3cret" not in play.stdout + play.stderr
    assert oct(run_dir.stat().st_mode & 0o777) == "0o750"


def test_check_mode_writes_nothing_and_diff_shows_the_record(tmp_path):
    run_dir = tmp_path / "run"
    record = {"run_id": "r1", "environment": "staging"}
    result = run_module("greenlang.launch.launch_record", {"run_dir": str(run_dir), "stream": "run", "record": record},
                        check=True, diff=True)
    assert result["changed"] is True
    assert result["diff"]["after"]["environment"] == "staging"
    assert not run_dir.exists()


def test_a_bad_record_fails_naming_the_field_and_writes_nothing(tmp_path):
    result = run_module("greenlang.launch.launch_record",
                        {"run_dir": str(tmp_path / "run"), "stream": "steps", "record": dict(STEP, status="done")})
    assert result["failed"] is True and result["msg"].startswith("record.status")
    assert not (tmp_path / "run").exists()
    bad_mode = run_module("greenlang.launch.launch_record",
                          {"run_dir": str(tmp_path / "run"), "stream": "steps", "record": STEP, "dir_mode": "rwx"})
    assert bad_mode["failed"] is True and "dir_mode" in bad_mode["msg"]

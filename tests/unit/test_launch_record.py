"""Run records: validation naming the field, UTC times, masked secrets, idempotent appends, run.json merges."""

import json
import threading

import pytest
from ansible_collections.greenlang.launch.plugins.module_utils import run_records as rr


def step(**over):
    rec = {"app": "cbam", "index": 4, "verb": "set_weight", "args": 10, "status": "ok", "weight": 10,
           "started": 1780826400, "ended": "2026-06-07T10:00:01.5+00:00"}
    rec.update(over)
    return rec


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_step_is_appended_as_one_json_line_with_utc_times(tmp_path):
    run_dir = tmp_path / "runs" / "20260607T100000Z"
    rr.write(str(run_dir), "steps", step(), key="cbam:4:set_weight")
    (rec,) = lines(run_dir / "steps.jsonl")
    assert rec["started"] == "2026-06-07T10:00:00Z"
    assert rec["ended"] == "2026-06-07T10:00:01.500Z"
    assert rec["key"] == "cbam:4:set_weight" and rec["weight"] == 10


def test_same_record_twice_writes_one_line_and_a_changed_one_appends(tmp_path):
    first = rr.write(str(tmp_path), "steps", step(), key="k")
    again = rr.write(str(tmp_path), "steps", step(), key="k")
    undone = rr.write(str(tmp_path), "steps", step(status="undone"), key="k")
    assert (first["changed"], again["changed"], undone["changed"]) == (True, False, True)
    records = lines(tmp_path / "steps.jsonl")
    assert [r["status"] for r in records] == ["ok", "undone"]
    assert [r["status"] for r in rr.latest_by_key(records)] == ["undone"]


def test_check_mode_plan_writes_nothing(tmp_path):
    decision = rr.plan_write(str(tmp_path / "run"), "rollbacks",
                             {"app": "cbam", "reason": "error_rate", "type": "traffic"})
    assert decision["changed"] is True
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("stream,record,field", [
    ("steps", step(status="done"), "record.status"),
    ("steps", step(index="four"), "record.index"),
    ("steps", {"app": "cbam", "index": 1, "status": "ok"}, "record.verb"),
    ("rollbacks", {"app": "cbam", "reason": "x", "type": "revert"}, "record.type"),
    ("decisions", {"gate": "after_vcci", "app": "vcci", "verdict": "maybe"}, "record.verdict"),
    ("artifacts", {"kind": "backup", "app": "cbam", "size": "big"}, "record.size"),
    ("steps", step(started="yesterday"), "record.started"),
    ("metrics", step(), "stream"),
])
def test_bad_record_is_refused_naming_the_field_and_nothing_is_written(tmp_path, stream, record, field):
    with pytest.raises(rr.RecordError, match="^" + field.replace(".", r"\.")):
        rr.write(str(tmp_path / "run"), stream, record)
    assert not (tmp_path / "run").exists()


def test_secret_looking_values_never_reach_the_file(tmp_path):
    decision = rr.write(str(tmp_path), "steps", step(args={"db": {"password": "hunter2", "host": "db"},
                                                           "api_token": "t0k"}))
    text = (tmp_path / "steps.jsonl").read_text()
    assert "hunter2" not in text and "t0k" not in text
    assert sorted(decision["masked"]) == ["args.api_token", "args.db.password"]
    assert lines(tmp_path / "steps.jsonl")[0]["args"]["db"]["host"] == "db"


def test_run_json_merges_apps_and_is_unchanged_when_nothing_new(tmp_path):
    rr.write(str(tmp_path), "run", {"run_id": "R", "started": 0,
                                    "apps": {"vcci": {"release": "v2", "result": "running"}}})
    rr.write(str(tmp_path), "run", {"apps": {"vcci": {"result": "ok"}, "cbam": {"release": "v2"}}})
    again = rr.write(str(tmp_path), "run", {"apps": {"cbam": {"release": "v2"}}})
    doc = json.loads((tmp_path / "run.json").read_text())
    assert doc["apps"] == {"vcci": {"release": "v2", "result": "ok"}, "cbam": {"release": "v2"}}
    assert doc["started"] == "1970-01-01T00:00:00Z"
    assert again["changed"] is False


def test_parallel_writers_lose_no_line(tmp_path):
    def writer(n):
        for i in range(50):
            rr.write(str(tmp_path), "steps", step(app=f"app{n}", index=i), key=f"{n}:{i}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = lines(tmp_path / "steps.jsonl")
    assert len(records) == 200 and len({r["key"] for r in records}) == 200

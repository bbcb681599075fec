"""The load generator: steady rate, every response recorded, honest summary."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rehearsal.apps.process import DemoAppProcess, free_loopback_address
from rehearsal.load import LoadGenerator, main_load, summarize

REPO_ROOT = Path(__file__).resolve().parents[3]
CAT1 = "/api/v1/calculator/category1"
BODY = {"items": [{"category": "metals", "spend": 1000}]}


@pytest.fixture(scope="module")
def good_app():
    with DemoAppProcess("vcci", "v1") as app:
        yield app


@pytest.fixture(scope="module")
def faulty_app():
    with DemoAppProcess("vcci", "v2", env={"FAULT_ERROR_RATIO": "0.2"}) as app:
        yield app


def test_sends_rps_times_duration_requests_per_host_and_records_versions(good_app):
    gen = LoadGenerator(good_app.url, ["a.example", "b.example"], rps=40, duration=2, path=CAT1, method="POST",
                        body=BODY).start()
    summary = gen.wait()
    assert summary["requests"] == 160
    assert summary["by_host"] == {"a.example": 80, "b.example": 80}
    assert summary["by_status"] == {"200": 160}
    assert summary["by_version"] == {"v1": 160}
    assert summary["failed"] == 0
    assert 70 <= summary["achieved_rps"] <= 90  # 2 hosts x 40 rps
    assert summary["latency_ms"]["p50"] <= summary["latency_ms"]["p95"] <= summary["latency_ms"]["p99"]


def test_schedule_stays_steady_when_the_backend_is_slow():
    with DemoAppProcess("vcci", env={"FAULT_LATENCY_MS": "400"}) as slow:
        gen = LoadGenerator(slow.url, rps=20, duration=2, path=CAT1, method="POST", body=BODY).start()
        summary = gen.wait()
    # Open loop: 20 rps are sent although each answer takes 0.4 s.
    assert summary["requests"] == 40 and summary["failed"] == 0
    assert summary["latency_ms"]["p50"] >= 400
    assert summary["max_schedule_lag_ms"] < 200
    offsets = [r["t"] for r in gen.results]
    assert offsets[-1] - offsets[0] == pytest.approx(1.95, abs=0.2)


def test_counts_5xx_as_failed_and_measures_the_error_ratio(faulty_app):
    summary = LoadGenerator(faulty_app.url, rps=100, duration=4, path=CAT1, method="POST", body=BODY).start().wait()
    assert summary["requests"] == 400
    assert summary["failed"] == summary["by_status"]["500"]
    assert 0.15 <= summary["failed_ratio"] <= 0.25


def test_connection_errors_are_recorded_as_status_0():
    host, port = free_loopback_address()  # nothing listens here
    summary = LoadGenerator(f"http://{host}:{port}", rps=10, duration=1, timeout=1).start().wait()
    assert summary["by_status"] == {"0": 10}
    assert summary["failed"] == 10
    assert "ConnectionRefusedError" in summary["first_errors"][0]


def test_stop_ends_the_run_early_and_summary_can_cover_a_time_window(good_app):
    gen = LoadGenerator(good_app.url, rps=50, duration=30, path=CAT1, method="POST", body=BODY).start()
    time.sleep(1.5)
    started = time.monotonic()
    summary = gen.stop()
    assert time.monotonic() - started < 5
    assert 50 <= summary["requests"] <= 100
    window = gen.summary(since=0.0, until=1.0)
    assert window["requests"] == 50
    assert sum(s["requests"] for s in gen.per_second()) == summary["requests"]


def test_summarize_uses_nearest_rank_percentiles():
    records = [{"offset_s": i / 100, "host": "h", "status": 200, "latency_ms": float(i + 1), "version": "v1",
                "lag_ms": 0.0} for i in range(100)]
    summary = summarize(records)
    assert summary["latency_ms"]["p50"] == 50.0
    assert summary["latency_ms"]["p95"] == 95.0
    assert summary["latency_ms"]["p99"] == 99.0


def test_cli_prints_summary_and_writes_every_response_as_jsonl(good_app, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    rc = main_load(["--url", good_app.url, "--host", "vcci.local", "--rps", "20", "--duration", "1",
                    "--path", CAT1, "--method", "POST", "--body", json.dumps(BODY), "--output", str(out)])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["requests"] == 20
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 20
    assert {line["status"] for line in lines} == {200}
    assert {line["version"] for line in lines} == {"v1"}


def test_cli_fail_on_error_exits_1_when_requests_failed(faulty_app):
    proc = subprocess.run([sys.executable, "-m", "rehearsal.load", "--url", faulty_app.url, "--rps", "50",
                           "--duration", "1", "--path", CAT1, "--method", "POST", "--body", json.dumps(BODY),
                           "--fail-on-error"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["failed"] > 0


def test_cli_rejects_a_body_that_is_not_json(good_app, capsys):
    assert main_load(["--url", good_app.url, "--body", "{oops"]) == 2
    assert "ERROR" in capsys.readouterr().err


def test_per_host_overrides_send_each_host_its_own_request_and_record_the_pod(good_app):
    gen = LoadGenerator(good_app.url, ["calc.local", "other.local"], rps=10, duration=1, path=CAT1, method="POST",
                        body=BODY, per_host={"other.local": {"path": "/nowhere", "method": "GET"}}).start()
    gen.wait()
    statuses = {(r["host"], r["status"]) for r in gen.results}
    assert statuses == {("calc.local", 200), ("other.local", 404)}
    assert gen.summary()["by_pod"] == {good_app.address: 20}


def test_unknown_per_host_keys_are_rejected_naming_the_allowed_ones(good_app):
    with pytest.raises(ValueError, match="allowed: path, method, body"):
        LoadGenerator(good_app.url, ["a"], per_host={"a": {"url": "/x"}})

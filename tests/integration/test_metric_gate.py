"""greenlang.launch.metric_gate against a real Prometheus scraping a controllable exporter (1 s scrapes).

The behaviours that need exact, switchable metrics live here (no data, errors starting mid-poll, `for`
windows, baseline ratios, accepted inconclusive, the query timeout). A healthy and a faulty release judged from real app
pods under load, and Prometheus stopping mid-gate, are tested on the rehearsal stack in
test_rollout_modules_on_stack.py.

Each test gives its own app name to the exporter, so error rates of one test never leak
into the rate window of another.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from module_runner import run_module, run_play
from prometheus_fixture import PROMETHEUS, Exporter, PrometheusServer

pytestmark = pytest.mark.skipif(not os.access(PROMETHEUS, os.X_OK), reason="prometheus binary not installed")


def error_rate(app: str) -> str:
    return (f'sum(rate(demo_requests_total{{app="{app}",code="500"}}[5s])) / '
            f'sum(rate(demo_requests_total{{app="{app}"}}[5s]))')


@pytest.fixture(scope="module")
def exporter():
    exp = Exporter().start()
    yield exp
    exp.stop()


@pytest.fixture(scope="module")
def prometheus(exporter, tmp_path_factory):
    server = PrometheusServer(str(tmp_path_factory.mktemp("prometheus")), [exporter.address]).start()
    yield server
    server.stop()


def start_app(exporter, prometheus, app, **kw):
    exporter.set(app, **kw)
    prometheus.wait_for(error_rate(app))


def gate_args(prometheus, app, **kw):
    args = {"url": prometheus.url, "checks": [{"name": "error_rate", "query": error_rate(app), "max": 0.01}]}
    args.update(kw)
    return args


def test_interval_in_words_is_rejected_naming_the_parameter(prometheus):
    result = run_module("greenlang.launch.metric_gate", gate_args(prometheus, "any", interval="5 minutes"))
    assert result["failed"] and result["msg"].startswith("interval:")


def test_stopped_prometheus_passes_only_when_inconclusive_is_explicitly_accepted(exporter, tmp_path):
    # That it fails by default is shown on the real stack (test_rollout_modules_on_stack.py).
    server = PrometheusServer(str(tmp_path), [exporter.address]).start()
    server.stop()
    args = {"url": server.url, "retries": 1, "backoff": 0.1, "timeout": 2, "inconclusive": "pass",
            "checks": [{"name": "error_rate", "query": error_rate("any"), "max": 0.01}]}
    accepted = run_module("greenlang.launch.metric_gate", args)
    assert not accepted.get("failed")
    assert accepted["verdict"] == "inconclusive" and accepted["passed"] is True
    assert "Connection refused" in accepted["checks"][0]["reason"]


def test_hung_prometheus_is_inconclusive_after_the_timeout_given_not_ansibles_default():
    # A listening socket that never answers: connections succeed (kernel backlog), replies never come,
    # as behind a hung proxy. With timeout 1 and no retry the gate must give up in about a second.
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    try:
        url = f"http://127.0.0.1:{hung.getsockname()[1]}"
        result = run_module("greenlang.launch.metric_gate", {
            "url": url, "timeout": 1, "retries": 0,
            "checks": [{"name": "error_rate", "query": error_rate("any"), "max": 0.01}]})
    finally:
        hung.close()
    assert result["failed"] and result["verdict"] == "inconclusive"
    assert "timed out" in result["checks"][0]["reason"]
    assert result["elapsed"] < 3, "the query waited longer than its 1 s timeout (the transport default is 10 s)"


@pytest.mark.parametrize("status", [401, 403])
def test_prometheus_refusing_the_token_fails_the_gate_even_with_inconclusive_pass(status):
    # An authenticating proxy in front of Prometheus, as in production: it refuses the token.
    seen = []

    class Refusing(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(self.headers.get("Authorization"))
            self.send_response(status)
            self.send_header("Content-Length", "12")
            self.end_headers()
            self.wfile.write(b"unauthorized")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        result = run_module("greenlang.launch.metric_gate", {
            "url": f"http://127.0.0.1:{server.server_address[1]}", "token": "expired-token", "retries": 2,
            "backoff": 0.1, "inconclusive": "pass", "interval": 1, "duration": 5,
            "checks": [{"name": "error_rate", "query": error_rate("any"), "max": 0.01}]})
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert result["failed"] is True and result["passed"] is False
    assert (result["verdict"], result["rounds"]) == ("error", 1)
    assert f"HTTP {status}" in result["checks"][0]["reason"] and "error_rate" in result["msg"]
    assert seen == ["Bearer expired-token"], "refused credentials are not retried"
    assert "expired-token" not in json.dumps(result), "the token is no_log"


def test_no_data_for_the_query_is_inconclusive(exporter, prometheus):
    result = run_module("greenlang.launch.metric_gate", gate_args(prometheus, "never-deployed"))
    assert result["failed"] and result["verdict"] == "inconclusive"
    assert result["checks"][0]["reason"] in ("no data", "value is NaN")


def _module_running(name: str) -> bool:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if name.encode() in fh.read():
                    return True
        except OSError:
            continue
    return False


def test_errors_starting_mid_poll_abort_the_gate_long_before_its_duration(exporter, prometheus):
    start_app(exporter, prometheus, "turns-bad", error_ratio=0.0)

    def break_app_once_gate_runs():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _module_running("AnsiballZ_metric_gate"):
            time.sleep(0.2)
        time.sleep(4)  # let the gate see a few healthy rounds first
        exporter.set("turns-bad", error_ratio=0.3)

    breaker = threading.Thread(target=break_app_once_gate_runs, daemon=True)
    breaker.start()
    result = run_module("greenlang.launch.metric_gate",
                        gate_args(prometheus, "turns-bad", interval=1, duration=120))
    breaker.join(5)
    assert result["failed"] and result["verdict"] == "fail"
    assert result["stopped"] == "failure_limit reached"
    verdicts = [e["verdict"] for e in result["evaluations"]]
    assert verdicts[0] == "pass" and verdicts[-1] == "fail"
    assert result["elapsed"] < 60, "early abort must not wait for the 120 s duration"


def test_for_window_breach_trigger_fires_only_on_sustained_errors(exporter, prometheus):
    start_app(exporter, prometheus, "sustained", error_ratio=0.2)
    start_app(exporter, prometheus, "calm", error_ratio=0.0)
    time.sleep(5)  # a full 4 s window of data for both

    def trigger(app):
        return {"url": prometheus.url, "checks": [{"name": "errors_sustained", "query": error_rate(app),
                                                   "max": 0.05, "for": "4s", "step": "1s", "mode": "breach"}]}

    play = run_play([
        {"name": "sustained", "greenlang.launch.metric_gate": trigger("sustained")},
        {"name": "calm", "greenlang.launch.metric_gate": trigger("calm")},
    ])
    fired = play["sustained"]
    assert fired["failed"] and fired["verdict"] == "fail"
    assert fired["checks"][0]["window"]["breaches"] == 4
    assert "all 4 consecutive" in fired["checks"][0]["reason"]
    calm = play["calm"]
    assert not calm.get("failed") and calm["checks"][0]["window"]["breaches"] == 0


def test_baseline_ratio_compares_canary_with_stable_latency(exporter, prometheus):
    exporter.set("stable-lat", latency=0.1)
    exporter.set("canary-slow", latency=0.3)
    exporter.set("canary-ok", latency=0.2)
    prometheus.wait_for('demo_latency_p95_seconds{app="canary-ok"}')

    def ratio(app):
        return {"url": prometheus.url, "checks": [{
            "name": "p95_vs_stable", "query": f'max(demo_latency_p95_seconds{{app="{app}"}})',
            "baseline_query": 'max(demo_latency_p95_seconds{app="stable-lat"})', "max_ratio": 2.5}]}

    play = run_play([
        {"name": "slow", "greenlang.launch.metric_gate": ratio("canary-slow")},
        {"name": "ok", "greenlang.launch.metric_gate": ratio("canary-ok")},
        {"name": "slow again", "greenlang.launch.metric_gate": ratio("canary-slow")},
        {"name": "ok again", "greenlang.launch.metric_gate": ratio("canary-ok")},
        {"name": "slow in check mode", "greenlang.launch.metric_gate": ratio("canary-slow"), "check_mode": True},
        {"name": "ok in check mode", "greenlang.launch.metric_gate": ratio("canary-ok"), "check_mode": True},
    ])
    assert play["slow"]["failed"] and play["slow"]["checks"][0]["ratio"] == pytest.approx(3.0)
    assert "max_ratio 2.5" in play["slow"]["msg"]
    assert not play["ok"].get("failed") and play["ok"]["checks"][0]["ratio"] == pytest.approx(2.0)

    # Read-only: never changed, and the same verdict on a second run and in check mode.
    for name in ("slow", "ok"):
        runs = [play[name], play[f"{name} again"], play[f"{name} in check mode"]]
        assert [r["changed"] for r in runs] == [False, False, False], name
        assert len({(r["verdict"], r["passed"], bool(r.get("failed"))) for r in runs}) == 1, name
        assert [r["checks"][0]["ratio"] for r in runs] == pytest.approx([runs[0]["checks"][0]["ratio"]] * 3)

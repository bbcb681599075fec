"""Load-test gate (against a real loopback HTTP server) and circuit-breaker drill logic."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from ansible_collections.greenlang.launch.plugins.module_utils import breaker_drill as b
from ansible_collections.greenlang.launch.plugins.module_utils import load_gate as lg


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()

    def do_GET(self):  # noqa: N802
        delay = self.server.delays.get(self.path, 0)
        time.sleep(delay)
        status = 500 if self.path == "/fail" and next(self.server.counter) % 5 == 0 else 200
        body = b'{"ok": true}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-App-Version", self.headers.get("X-Want", "v1"))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    import itertools

    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.delays = {"/slow": 0.06, "/fast": 0.005}
    srv.counter = itertools.count()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_open_loop_run_sends_the_asked_rate_and_measures_latency(server):
    run = lg.LoadRun([{"name": "v2", "url": server, "path": "/slow"}, {"name": "v1", "url": server, "path": "/fast"}],
                     rps=40, duration=2)
    summary = run.run()
    assert summary["v2"]["requests"] == 80 and summary["v1"]["requests"] == 80
    # The server sleeps 60 ms on /slow: its P95 cannot be under that (how far over depends on the machine).
    assert summary["v2"]["p95_ms"] >= 60 and summary["v1"]["p95_ms"] >= 5
    record, ratio = lg.evaluate(summary, 40, {"v2": {"max_p95_ms": 30}}, "cbam", "v2", "v1")
    assert record["verdict"] == "NO-GO"
    assert "v2.p95_ms" in record["reason"]
    assert ratio == round(summary["v2"]["p95_ms"] / summary["v1"]["p95_ms"], 3)


def test_server_errors_count_against_the_error_ratio(server):
    summary = lg.LoadRun([{"name": "app", "url": server, "path": "/fail", "method": "POST", "body": {"a": 1}}],
                         rps=50, duration=1).run()
    assert summary["app"]["failed"] == 10 and summary["app"]["by_status"] == {"200": 40, "500": 10}
    record, _ = lg.evaluate(summary, 50, {"app": {"max_error_ratio": 0.05}}, "vcci")
    assert record["verdict"] == "NO-GO" and "app.error_ratio 0.2" in record["reason"]


def test_nothing_listening_is_nogo_not_a_crash():
    summary = lg.LoadRun([{"name": "gone", "url": "http://127.0.0.1:9"}], rps=5, duration=0.4, timeout=1).run()
    assert summary["gone"]["error_ratio"] == 1.0 and summary["gone"]["p95_ms"] is None
    assert lg.evaluate(summary, 5, {}, "vcci")[0]["verdict"] == "NO-GO"


def _summary(p95, rps=10.0, err=0.0, units=100):
    return {"p95_ms": p95, "p99_ms": p95, "error_ratio": err, "achieved_rps": rps, "units_ok": units, "requests": 100}


@pytest.mark.parametrize("ratio, verdict, phrase", [(2.4, "GO", "all criteria met"), (2.7, "GO", "GO with monitoring"),
                                                    (3.2, "NO-GO", "p95_ratio_v2_vs_v1")])
def test_v2_over_v1_latency_ratio_bands(ratio, verdict, phrase):
    record, measured = lg.evaluate({"v2": _summary(100 * ratio), "v1": _summary(100)}, 10, {}, "cbam", "v2", "v1")
    assert (record["verdict"], measured) == (verdict, ratio)
    assert phrase in record["reason"]


def test_a_run_that_could_not_reach_its_rate_is_nogo():
    record, _ = lg.evaluate({"app": _summary(10, rps=5)}, 10, {}, "vcci")
    assert record["verdict"] == "NO-GO" and "app.achieved_rps 5 (needs >= 9.0)" in record["reason"]


def test_units_target_such_as_10000_shipments():
    record, _ = lg.evaluate({"cbam": _summary(10, units=9900)}, 10, {"cbam": {"min_units": 10000}}, "cbam")
    assert record["verdict"] == "NO-GO" and "cbam.units_ok 9900" in record["reason"]


def test_bad_configuration_names_the_parameter():
    with pytest.raises(lg.LoadConfigError, match=r"targets\[0\].url 'ftp://x'"):
        lg.LoadRun([{"name": "a", "url": "ftp://x"}], 1, 1)
    with pytest.raises(lg.LoadConfigError, match="rate 0"):
        lg.LoadRun([{"name": "a", "url": "http://x"}], 0, 1)
    with pytest.raises(lg.LoadConfigError, match="baseline 'v0': not one of the targets"):
        lg.evaluate({"v2": _summary(1)}, 10, {}, "cbam", "v2", "v0")


# ---- breaker drill ---------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


def detailed(state):
    return 200, {"circuit_breakers": {"database": {"state": state}, "cache": {"state": "closed"}}}, 0.01


def test_watch_records_the_states_each_pod_goes_through():
    clock = Clock()
    script = {"a": ["closed", "closed", "open", "open"], "b": ["closed", "open"]}

    def fetch(url):
        states = script[url]
        return detailed(states.pop(0) if len(states) > 1 else states[0])
    out = b.watch(["a", "b"], "database", "open", 10, 1, fetch, clock, clock.sleep)
    assert out["reached"] is True
    assert out["pods"]["a"]["seen"] == ["closed", "open"] and out["pods"]["a"]["reached_after_s"] == 2
    assert out["pods"]["b"]["reached_after_s"] == 1


def test_watch_times_out_with_what_it_saw():
    clock = Clock()
    out = b.watch(["a"], "database", "closed", 5, 1, lambda u: detailed("open"), clock, clock.sleep)
    assert out["reached"] is False and out["elapsed_s"] == 5 and out["pods"]["a"]["seen"] == ["open"]


def test_unreachable_pods_and_503_bodies():
    clock = Clock()
    answers = [(0, {"error": "refused"}, 0), (503, {"circuit_breakers": {"database": {"state": "open"}}}, 0)]
    out = b.watch(["a"], "database", "open", 5, 1, lambda u: answers.pop(0), clock, clock.sleep)
    assert out["reached"] and out["pods"]["a"]["seen"] == ["unreachable", "open"]


def test_a_breaker_that_never_closes_is_nogo_with_the_reason():
    opened = {"reached": True, "elapsed_s": 3, "pods": {"a": {"seen": ["closed", "open"]}}}
    stuck = {"reached": False, "elapsed_s": 20, "pods": {"a": {"seen": ["open"]}}}
    record = b.evaluate([{"name": "erp_connector", "opened": opened, "half_opened": None, "closed": stuck,
                          "probes": [{"name": "hotspots", "url": "a", "status": 200, "expect_status": 200,
                                      "seconds": 0.01, "ok": True}]}])
    assert record["verdict"] == "NO-GO"
    assert "breaker erp_connector never closed (timed out after 20 s; states seen: open)" in record["reason"]


def test_full_cycle_is_go_and_failed_fallback_is_nogo():
    ok = {"reached": True, "elapsed_s": 1, "pods": {}}
    good = {"name": "database", "opened": ok, "half_opened": ok, "closed": ok, "probes": []}
    assert b.evaluate([good])["verdict"] == "GO"
    bad_probe = {"name": "calc", "url": "a", "status": 200, "expect_status": 503, "seconds": 4.0, "ok": False}
    record = b.evaluate([dict(good, probes=[bad_probe])])
    assert record["verdict"] == "NO-GO" and "calc on a answered 200 in 4.0 s (expected 503)" in record["reason"]


def test_probe_checks_status_and_speed():
    results = b.probe(["http://p"], [{"path": "/x", "expect_status": 503, "max_seconds": 1}],
                      call=lambda url, p: (503, None, 0.2))
    assert results[0]["ok"] is True and results[0]["url"] == "http://p"
    with pytest.raises(b.DrillError, match=r"probes\[0\]"):
        b.probe(["u"], [{"path": "/x"}])


def test_breaker_state_reads_the_demo_app_body():
    body = json.loads('{"circuit_breakers": {"cache": {"state": "half_open", "consecutive_failures": 3}}}')
    assert b.breaker_state(body, "cache") == "half_open"
    assert b.breaker_state(body, "database") is None

"""Real Prometheus scraping real demo app processes: the numbers the launch gates read."""

from __future__ import annotations

import os
import socket
import time

import pytest

from rehearsal.load import LoadGenerator
from rehearsal.services.postgres import free_port
from rehearsal.services.prometheus import PrometheusError, PrometheusServer
from tests.stack.integration.stack_fixtures import prometheus, run_app  # noqa: F401 - fixtures

CAT1 = "/api/v1/calculator/category1"
BODY = {"items": [{"category": "metals", "spend": 1000}]}


def target(app, pod: str, namespace: str = "vcci") -> dict:
    return {"targets": [app.address], "labels": {"app": app.app, "version": app.version, "pod": pod,
                                                  "namespace": namespace}}


def error_ratio(version: str, window: str = "10s") -> str:
    sel = f'app="vcci",version="{version}"'
    return (f'(sum(rate(http_requests_total{{{sel},code=~"5.."}}[{window}])) or vector(0)) / '
            f'sum(rate(http_requests_total{{{sel}}}[{window}]))')


def test_error_ratio_of_a_faulty_version_is_measured_within_10s_of_traffic(prometheus, run_app):  # noqa: F811
    good = run_app("vcci", "ratio-v1")
    bad = run_app("vcci", "ratio-v2", FAULT_ERROR_RATIO=0.2)
    prometheus.set_targets([target(good, "vcci-v1-a"), target(bad, "vcci-v2-a")])
    prometheus.wait_for_targets()
    loads = [LoadGenerator(app.url, rps=50, duration=10, path=CAT1, method="POST", body=BODY).start()
             for app in (good, bad)]
    for load in loads:
        load.wait()
    time.sleep(1.5)  # one more scrape after the last request
    bad_ratio = prometheus.query_value(error_ratio("ratio-v2"))
    good_ratio = prometheus.query_value(error_ratio("ratio-v1"))
    print(f"measured error ratio: ratio-v2 {bad_ratio:.4f}, ratio-v1 {good_ratio:.4f}")
    assert bad_ratio == pytest.approx(0.2, abs=0.05)
    assert good_ratio == 0.0
    assert loads[1].summary()["failed_ratio"] == pytest.approx(0.2, abs=0.05)  # the client saw the same


def test_p95_latency_from_the_histogram_reflects_added_latency(prometheus, run_app):  # noqa: F811
    slow = run_app("vcci", "slow-v2", FAULT_LATENCY_MS=300)
    prometheus.set_targets([target(slow, "vcci-slow")])
    prometheus.wait_for_targets()
    LoadGenerator(slow.url, rps=20, duration=5, path=CAT1, method="POST", body=BODY).start().wait()
    time.sleep(1.5)
    p95 = prometheus.query_value('histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket'
                                 '{app="vcci",version="slow-v2"}[10s])))')
    assert 0.3 <= p95 <= 0.5


def test_cache_hit_ratio_is_available_per_version(prometheus, run_app):  # noqa: F811
    app = run_app("vcci", "cache-v1")
    prometheus.set_targets([target(app, "vcci-cache")])
    prometheus.wait_for_targets()
    LoadGenerator(app.url, rps=20, duration=3, path=CAT1, method="POST", body=BODY).start().wait()
    time.sleep(1.5)
    hits = prometheus.query_value('sum(cache_hits_total{version="cache-v1"})')
    misses = prometheus.query_value('sum(cache_misses_total{version="cache-v1"})')
    assert (hits, misses) == (59.0, 1.0)


def test_removed_targets_stop_being_scraped_and_queries_then_return_no_data(prometheus, run_app):  # noqa: F811
    app = run_app("vcci", "gone-v1")
    prometheus.set_targets([target(app, "vcci-gone")])
    prometheus.wait_for_targets()
    assert prometheus.query_value('app_info{version="gone-v1"}') == 1.0
    prometheus.set_targets([])
    deadline = time.monotonic() + 15
    while prometheus.targets() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert prometheus.targets() == []
    # A gate must be able to tell "no data" (None) from "zero". The series goes as soon as
    # Prometheus writes its staleness marker when the scrape loop stops (well before the
    # 30 s lookback would hide it); under load that can lag the target list by a few seconds.
    deadline = time.monotonic() + 10
    value = prometheus.query_value('app_info{version="gone-v1"}')
    while value is not None and time.monotonic() < deadline:
        time.sleep(0.2)
        value = prometheus.query_value('app_info{version="gone-v1"}')
    assert value is None


def test_bad_promql_raises_with_prometheus_error_message(prometheus):  # noqa: F811
    with pytest.raises(PrometheusError, match="bad_data"):
        prometheus.query("sum(rate(")


def test_stop_leaves_no_process_and_frees_the_port(tmp_path):
    server = PrometheusServer(tmp_path / "p", free_port()).start()
    pid = int(server.pid_file.read_text())
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do; TIME_WAIT is not a leftover
        s.bind(("127.0.0.1", server.port))
        s.listen()


def test_a_port_in_use_makes_start_fail_with_the_log_tail(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = PrometheusServer(tmp_path / "p", busy.getsockname()[1])
        with pytest.raises(PrometheusError, match="address already in use"):
            server.start(timeout=10)
    assert not server.is_running()

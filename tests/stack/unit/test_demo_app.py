"""The demo app that rehearsal pods run: endpoints, metrics, fault knobs, graceful shutdown.

Every test starts the real process (python -m rehearsal.apps.demo_app) on its own loopback
address and talks HTTP to it.
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time

import pytest
import requests

from rehearsal.apps.demo_app import ROUTES
from rehearsal.apps.process import DemoAppProcess

SAMPLE_BODIES = {
    ("vcci", "/api/v1/calculator/category1"): {"items": [{"category": "metals", "spend": 1000}]},
    ("vcci", "/api/v1/calculator/category4"): {"items": [{"mode": "road", "tonnes": 10, "distance_km": 500}]},
    ("vcci", "/api/v1/calculator/category6"): {"items": [{"mode": "air_short", "distance_km": 800,
                                                          "passengers": 2}]},
    ("vcci", "/api/v1/hotspots"): None,
    ("vcci", "/api/v1/reports/generate"): {"period": "2025", "activities": {
        "category4": [{"mode": "rail", "tonnes": 5, "distance_km": 100}]}},
    ("cbam", "/api/v1/calculate"): {"imports": [{"cn_code": "7208", "quantity": 100},
                                                {"cn_code": "2523", "quantity": 50}]},
    ("csrd", "/api/v1/intake"): {"datapoints": [{"code": "E1-6_scope1", "value": 100, "unit": "tCO2e"}]},
    ("csrd", "/api/v1/materiality"): {"topics": [{"topic": "E1", "impact": {"scale": 4, "scope": 4,
                                                                             "irremediability": 3, "likelihood": 1},
                                                  "financial": {"magnitude": 2, "likelihood": 0.5}}]},
    ("csrd", "/api/v1/calculate"): {"datapoints": [{"code": "E1-6_scope1", "value": 100},
                                                   {"code": "E1-6_scope3", "value": 900},
                                                   {"code": "E1-6_net_revenue_meur", "value": 10}]},
    ("csrd", "/api/v1/pipeline/run"): {"company": "ACME", "period": "2025",
                                       "datapoints": [{"code": "E1-6_scope1", "value": 100}],
                                       "topics": [{"topic": "E1", "impact": {"scale": 5}}]},
}
CAT1 = "/api/v1/calculator/category1"
CAT1_BODY = SAMPLE_BODIES[("vcci", CAT1)]

# Text exposition format 0.0.4: name{label="value",...} value
SAMPLE_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? '
                         r'([-+]?(?:[0-9.]+(?:[eE][-+]?[0-9]+)?|Inf|NaN))$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict, float]]:
    """Parse exposition text strictly: every non-comment line must be a valid sample."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE_LINE.match(line)
        assert match, f"not a valid sample line: {line!r}"
        samples.append((match.group(1), dict(LABEL.findall(match.group(2) or "")), float(match.group(3))))
    return samples


def value(samples, name: str, **labels) -> float:
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == w for k, w in labels.items()))


def post(app: DemoAppProcess, path: str, body, session=None) -> requests.Response:
    return (session or requests).post(app.url + path, json=body, timeout=10)


@pytest.fixture(scope="module")
def vcci():
    with DemoAppProcess("vcci", "v1") as app:
        yield app


# ---- endpoints -------------------------------------------------------------------------------
def test_health_endpoints_answer_and_every_response_carries_the_version_header(vcci):
    for path, status in (("/health/live", 200), ("/health/ready", 200), ("/health/detailed", 200),
                         ("/metrics", 200), ("/no/such/route", 404)):
        resp = requests.get(vcci.url + path, timeout=5)
        assert resp.status_code == status, path
        assert resp.headers["X-App-Version"] == "v1", path
    # Even the HTTP layer's own error replies (here to an unknown method) carry it.
    with socket.create_connection((vcci.host, vcci.port), timeout=5) as sock:
        sock.sendall(b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = sock.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 501")
    assert "X-App-Version: v1" in reply


def test_detailed_health_reports_database_cache_four_breakers_and_version(vcci):
    detail = requests.get(vcci.url + "/health/detailed", timeout=5).json()
    assert detail["version"] == "v1" and detail["app"] == "vcci"
    assert detail["database"]["status"] == "unconfigured"
    assert detail["cache"]["status"] == "up"
    assert len(detail["circuit_breakers"]) == 4
    assert {b["state"] for b in detail["circuit_breakers"].values()} == {"closed"}
    assert detail["status"] == "healthy"


def test_category1_emissions_are_spend_times_factor_and_identical_on_repeat(vcci):
    first = post(vcci, CAT1, {"items": [{"category": "metals", "spend": 1000}, {"category": "services",
                                                                               "spend": 500}]})
    second = post(vcci, CAT1, {"items": [{"category": "metals", "spend": 1000}, {"category": "services",
                                                                                "spend": 500}]})
    assert first.status_code == 200
    assert first.json()["total_kg_co2e"] == pytest.approx(1000 * 0.95 + 500 * 0.12)
    assert first.content == second.content


@pytest.mark.parametrize("app", ["vcci", "cbam", "csrd"])
def test_each_app_serves_its_runbook_endpoints_and_404s_the_others(run_app, app):
    proc = run_app(app)
    with requests.Session() as s:
        for (method, path) in ROUTES[app]:
            resp = s.request(method, proc.url + path, json=SAMPLE_BODIES[(app, path)], timeout=10)
            assert resp.status_code == 200, (path, resp.text)
            assert resp.headers["Content-Type"] == "application/json"
        foreign = [(m, p) for other in ROUTES if other != app for (m, p) in ROUTES[other]
                   if (m, p) not in ROUTES[app]]
        for method, path in foreign:
            resp = s.request(method, proc.url + path, json={}, timeout=10)
            assert resp.status_code == 404, path
            assert "error" in resp.json()


def test_cbam_certificates_cover_embedded_emissions_at_default_values(run_app):
    proc = run_app("cbam")
    result = post(proc, "/api/v1/calculate", SAMPLE_BODIES[("cbam", "/api/v1/calculate")]).json()
    assert result["total_embedded_t_co2e"] == pytest.approx(100 * 2.1 + 50 * 0.9)
    assert result["total_cost_eur"] == pytest.approx((100 * 2.1 + 50 * 0.9) * 80.0)


def test_csrd_pipeline_runs_ten_agents_and_repeats_the_same_report_hash(run_app):
    proc = run_app("csrd")
    body = SAMPLE_BODIES[("csrd", "/api/v1/pipeline/run")]
    runs = [post(proc, "/api/v1/pipeline/run", body).json() for _ in range(3)]
    assert len(runs[0]["agents"]) == 10
    assert {r["report_hash"] for r in runs} == {runs[0]["report_hash"]}


def test_bad_input_is_rejected_with_422_naming_the_field(vcci):
    resp = post(vcci, CAT1, {"items": [{"category": "unobtainium", "spend": 5}]})
    assert resp.status_code == 422
    assert "items[0].category" in resp.json()["error"] and "metals" in resp.json()["error"]
    assert requests.post(vcci.url + CAT1, data=b"{not json", timeout=5).status_code == 400


def test_wrong_method_on_a_known_route_is_405(vcci):
    assert requests.get(vcci.url + CAT1, timeout=5).status_code == 405


# ---- metrics ---------------------------------------------------------------------------------
def test_metrics_pass_promtool_and_count_requests_by_code_route_and_version(run_app):
    proc = run_app("vcci", "v7")
    with requests.Session() as s:
        for _ in range(5):
            post(proc, CAT1, CAT1_BODY, s)
        for _ in range(2):
            post(proc, CAT1, {"items": [{"category": "nope", "spend": 1}]}, s)
        s.get(proc.url + "/nowhere", timeout=5)
        text = s.get(proc.url + "/metrics", timeout=5).text
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    samples = parse_metrics(text)
    base = {"app": "vcci", "version": "v7"}
    assert value(samples, "http_requests_total", code="200", route=CAT1, **base) == 5
    assert value(samples, "http_requests_total", code="422", route=CAT1, **base) == 2
    assert value(samples, "http_requests_total", code="404", route="unmatched", **base) == 1
    assert value(samples, "http_request_duration_seconds_count", route=CAT1, **base) == 7
    assert value(samples, "http_request_duration_seconds_bucket", route=CAT1, le="+Inf", **base) == 7
    les = [lab["le"] for n, lab, _ in samples if n == "http_request_duration_seconds_bucket" and lab["route"] == CAT1]
    assert {"0.005", "0.5", "1.0", "2.5", "+Inf"} <= set(les)
    # Health probes and scrapes are not user traffic and must not dilute the ratios.
    assert not [lab for n, lab, _ in samples if n == "http_requests_total" and lab["route"].startswith("/health")]


def test_repeated_requests_are_served_from_cache_and_counted_as_hits(run_app):
    proc = run_app("vcci")
    with requests.Session() as s:
        for _ in range(10):
            post(proc, CAT1, CAT1_BODY, s)
        samples = parse_metrics(s.get(proc.url + "/metrics", timeout=5).text)
    assert value(samples, "cache_misses_total", app="vcci", version="v1") == 1
    assert value(samples, "cache_hits_total", app="vcci", version="v1") == 9


# ---- fault knobs -----------------------------------------------------------------------------
def test_error_ratio_fault_fails_that_fraction_of_400_requests(run_app):
    proc = run_app("vcci", FAULT_ERROR_RATIO=0.2)
    with requests.Session() as s:
        codes = [post(proc, CAT1, CAT1_BODY, s).status_code for _ in range(400)]
        samples = parse_metrics(s.get(proc.url + "/metrics", timeout=5).text)
    ratio = codes.count(500) / len(codes)
    assert 0.15 <= ratio <= 0.25, ratio
    assert set(codes) == {200, 500}
    assert value(samples, "http_requests_total", code="500") == codes.count(500)


def test_latency_fault_adds_the_configured_delay(run_app):
    proc = run_app("vcci", FAULT_LATENCY_MS=300)
    started = time.monotonic()
    assert post(proc, CAT1, CAT1_BODY).status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    requests.get(proc.url + "/health/live", timeout=5)
    assert time.monotonic() - started < 0.3  # probes are not slowed down


def test_nondeterministic_fault_gives_different_outputs_for_identical_requests(run_app):
    proc = run_app("csrd", FAULT_NONDETERMINISTIC=1)
    body = SAMPLE_BODIES[("csrd", "/api/v1/pipeline/run")]
    hashes = {post(proc, "/api/v1/pipeline/run", body).json()["report_hash"] for _ in range(5)}
    assert len(hashes) > 1


def test_output_drift_fault_raises_results_by_that_fraction_against_a_good_release(run_app):
    good, drifted = run_app("cbam", "v1"), run_app("cbam", "v2", FAULT_OUTPUT_DRIFT=0.03)
    body = SAMPLE_BODIES[("cbam", "/api/v1/calculate")]
    v1 = post(good, "/api/v1/calculate", body).json()["total_embedded_t_co2e"]
    v2 = post(drifted, "/api/v1/calculate", body).json()["total_embedded_t_co2e"]
    assert v2 / v1 == pytest.approx(1.03, abs=1e-4)


def test_readiness_fault_keeps_ready_failing_while_live_succeeds(run_app):
    proc = run_app("vcci", FAULT_READINESS_FAIL=1)
    for _ in range(3):
        assert requests.get(proc.url + "/health/ready", timeout=5).status_code == 503
        time.sleep(0.2)
    assert requests.get(proc.url + "/health/live", timeout=5).status_code == 200


def test_crash_fault_exits_with_code_1_after_the_given_seconds(run_app):
    proc = run_app("vcci", FAULT_CRASH_AFTER_S=1)
    started = time.monotonic()
    assert proc.wait(timeout=10) == 1
    assert 0.5 <= time.monotonic() - started < 5
    assert "FAULT_CRASH_AFTER_S" in proc.output


def test_forced_open_breaker_shows_in_health_fails_readiness_and_routes_needing_it(run_app):
    proc = run_app("vcci", FAULT_BREAKER_OPEN="erp_connector")
    detail = requests.get(proc.url + "/health/detailed", timeout=5).json()
    assert detail["circuit_breakers"]["erp_connector"]["state"] == "open"
    assert requests.get(proc.url + "/health/ready", timeout=5).status_code == 503
    assert requests.get(proc.url + "/api/v1/hotspots", timeout=5).status_code == 503  # needs the ERP connector
    assert post(proc, CAT1, CAT1_BODY).status_code == 200  # does not


def test_cache_down_fault_fails_api_calls_with_503_but_keeps_pod_ready(run_app):
    proc = run_app("vcci", FAULT_DEPENDENCY_DOWN="cache")
    assert requests.get(proc.url + "/health/detailed", timeout=5).json()["cache"]["status"] == "down"
    assert post(proc, CAT1, CAT1_BODY).status_code == 503
    assert requests.get(proc.url + "/health/ready", timeout=5).status_code == 200


def test_database_down_fault_fails_api_calls_and_readiness(run_app):
    proc = run_app("cbam", FAULT_DEPENDENCY_DOWN="database")
    detail = requests.get(proc.url + "/health/detailed", timeout=5).json()
    assert detail["database"]["status"] == "down" and detail["status"] == "unhealthy"
    assert post(proc, "/api/v1/calculate", SAMPLE_BODIES[("cbam", "/api/v1/calculate")]).status_code == 503
    assert requests.get(proc.url + "/health/ready", timeout=5).status_code == 503


def test_bad_knob_value_exits_2_naming_the_variable():
    proc = DemoAppProcess("vcci", env={"FAULT_ERROR_RATIO": "lots"})
    with pytest.raises(RuntimeError, match="FAULT_ERROR_RATIO"):
        proc.start()
    assert proc.proc.returncode == 2


# ---- graceful shutdown -----------------------------------------------------------------------
def test_sigterm_finishes_the_request_in_flight_then_refuses_connections_and_exits_0(run_app):
    proc = run_app("vcci", FAULT_LATENCY_MS=1500, SHUTDOWN_DELAY_S=0.3)
    result = {}

    def slow_request():
        try:
            resp = post(proc, CAT1, CAT1_BODY)
            result["status"], result["body"] = resp.status_code, resp.json()
        except requests.RequestException as exc:
            result["error"] = exc

    worker = threading.Thread(target=slow_request)
    worker.start()
    time.sleep(0.4)  # the request is now sleeping inside the app
    proc.terminate()
    time.sleep(0.1)
    assert requests.get(proc.url + "/health/ready", timeout=5).status_code == 503  # draining: not ready
    worker.join(10)
    assert result.get("status") == 200, result
    assert result["body"]["total_kg_co2e"] == 950.0
    assert proc.wait(timeout=10) == 0
    with pytest.raises(OSError), socket.create_connection((proc.host, proc.port), timeout=2):
        pass


def test_sigterm_closes_idle_keepalive_connections_without_losing_requests(run_app):
    proc = run_app("vcci", SHUTDOWN_DELAY_S=1.5)
    with requests.Session() as s:
        assert post(proc, CAT1, CAT1_BODY, s).status_code == 200  # leaves an idle keep-alive connection
        proc.terminate()
        statuses = []
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:  # still inside the shutdown delay: served, told to close
            resp = post(proc, CAT1, CAT1_BODY, s)
            statuses.append(resp.status_code)
            assert resp.headers.get("Connection") == "close"
        assert statuses and set(statuses) == {200}
    assert proc.wait(timeout=10) == 0

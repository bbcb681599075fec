"""Check evaluation, windows, polling with early abort, inconclusive handling and baseline ratios.

Prometheus answers come from a scripted stand-in returning API-shaped ``data`` dicts,
so each scenario (a breach on the third round, a half-empty window) is exact and
instant; tests/integration/test_metric_gate.py runs the same logic against a real
Prometheus.
"""

import math

import pytest
from ansible_collections.greenlang.launch.plugins.module_utils import gate as g
from ansible_collections.greenlang.launch.plugins.module_utils.promql import (
    PrometheusAuthError,
    PrometheusQueryError,
    PrometheusUnavailable,
)


def vector(*values):
    return {"resultType": "vector", "result": [{"metric": {"i": str(i)}, "value": [1000.0, str(v)]}
                                               for i, v in enumerate(values)]}


def matrix(points):
    return {"resultType": "matrix", "result": [{"metric": {}, "values": [[t, str(v)] for t, v in points]}]}


class ScriptedPrometheus:
    """Answers per query: a value, a list of values consumed one per call, or an exception."""

    def __init__(self, answers, ranges=None):
        self.answers = answers
        self.ranges = ranges or {}
        self.calls = []

    def query(self, promql, at=None):
        self.calls.append(("query", promql))
        answer = self.answers[promql]
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, Exception):
            raise answer
        if answer is None:
            return vector()
        if isinstance(answer, tuple):
            return vector(*answer)
        return vector(answer)

    def query_range(self, promql, start, end, step):
        self.calls.append(("query_range", promql, start, end, step))
        answer = self.ranges[promql]
        if isinstance(answer, Exception):
            raise answer
        # Points are given as values from oldest to newest, ending at `end`.
        n = len(answer)
        return matrix([(end - (n - 1 - i) * step, v) for i, v in enumerate(answer) if v is not None])


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def wall(self):
        return 1_700_000_000.0 + self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def run_gate(client, checks, **kw):
    t = FakeTime()
    gate = g.Gate(client, checks, clock=t.clock, wall=t.wall, sleep=t.sleep, **kw)
    return gate.run(), t


# ----------------------------------------------------------------------------- durations and config

@pytest.mark.parametrize("text, seconds", [(30, 30.0), ("30", 30.0), ("30s", 30.0), ("5m", 300.0), ("1m30s", 90.0),
                                           ("500ms", 0.5), ("1h", 3600.0), (2.5, 2.5)])
def test_durations_accept_seconds_and_prometheus_units(text, seconds):
    assert g.parse_duration(text, "interval") == seconds


@pytest.mark.parametrize("bad", ["5 minutes", "-3", "m5", True, "nan"])
def test_bad_durations_name_the_parameter(bad):
    with pytest.raises(g.GateConfigError) as e:
        g.parse_duration(bad, "interval")
    assert e.value.param == "interval"


def test_check_without_threshold_is_rejected_with_its_name():
    with pytest.raises(g.GateConfigError) as e:
        g.Check({"name": "errors", "query": "up"})
    assert "errors" in str(e.value) and "min, max" in str(e.value)


def test_baseline_query_without_max_ratio_is_rejected():
    with pytest.raises(g.GateConfigError) as e:
        g.Check({"name": "p95", "query": "a", "baseline_query": "b"})
    assert "max_ratio" in str(e.value)


def test_unknown_check_key_is_rejected_listing_allowed_keys():
    with pytest.raises(g.GateConfigError) as e:
        g.Check({"name": "x", "query": "a", "max": 1, "maximum": 2})
    assert "maximum" in str(e.value) and "max_ratio" in str(e.value)


def test_duplicate_check_names_are_rejected():
    with pytest.raises(g.GateConfigError) as e:
        g.Gate(ScriptedPrometheus({}), [{"name": "a", "query": "q", "max": 1}, {"name": "a", "query": "r", "max": 1}])
    assert e.value.param == "checks"


# ----------------------------------------------------------------------------- thresholds

@pytest.mark.parametrize("value, verdict", [(0.0009, "pass"), (0.001, "pass"), (0.0011, "fail")])
def test_max_threshold_is_inclusive(value, verdict):
    result, _ = run_gate(ScriptedPrometheus({"err": value}), [{"name": "err", "query": "err", "max": 0.001}])
    assert result["verdict"] == verdict
    assert result["checks"][0]["value"] == pytest.approx(value)


def test_min_threshold_fails_below():
    result, _ = run_gate(ScriptedPrometheus({"hits": 0.80}), [{"name": "cache_hit", "query": "hits", "min": 0.85}])
    assert result["verdict"] == "fail"
    assert "0.8 < min 0.85" in result["checks"][0]["reason"]
    assert "cache_hit" in result["msg"] and "0.8 < min 0.85" in result["msg"]


def test_infinite_value_is_a_measurement_that_breaches():
    result, _ = run_gate(ScriptedPrometheus({"p95": float("inf")}), [{"name": "p95", "query": "p95", "max": 0.5}])
    assert result["verdict"] == "fail"
    assert result["checks"][0]["value"] == "inf"


# ----------------------------------------------------------------------------- inconclusive and errors

def test_no_data_is_inconclusive_and_fails_closed():
    result, _ = run_gate(ScriptedPrometheus({"err": None}), [{"name": "err", "query": "err", "max": 0.01}])
    assert result["verdict"] == "inconclusive" and result["passed"] is False
    assert result["checks"][0]["reason"] == "no data"


def test_nan_is_inconclusive():
    result, _ = run_gate(ScriptedPrometheus({"err": float("nan")}), [{"name": "err", "query": "err", "max": 0.01}])
    assert result["verdict"] == "inconclusive" and not result["passed"]
    assert result["checks"][0]["value"] == "nan"


def test_unreachable_prometheus_is_inconclusive():
    client = ScriptedPrometheus({"err": PrometheusUnavailable("cannot reach http://x: refused")})
    result, _ = run_gate(client, [{"name": "err", "query": "err", "max": 0.01}])
    assert result["verdict"] == "inconclusive" and not result["passed"]
    assert "refused" in result["checks"][0]["reason"]


def test_inconclusive_pass_must_be_explicit_and_then_passes():
    client = ScriptedPrometheus({"err": None})
    result, _ = run_gate(client, [{"name": "err", "query": "err", "max": 0.01}], inconclusive="pass")
    assert result["passed"] is True and result["verdict"] == "inconclusive"
    assert "inconclusive accepted" in result["msg"]


def test_rejected_query_is_an_error_even_when_inconclusive_passes():
    client = ScriptedPrometheus({"bad(": PrometheusQueryError("parse error", "bad_data", 400)})
    result, _ = run_gate(client, [{"name": "typo", "query": "bad(", "max": 1}], inconclusive="pass")
    assert result["verdict"] == "error" and not result["passed"]


def test_refused_credentials_are_an_error_even_when_inconclusive_passes():
    client = ScriptedPrometheus({"err": PrometheusAuthError("HTTP 403 from http://x: credentials refused",
                                                            "unauthorized", 403)})
    result, _ = run_gate(client, [{"name": "err", "query": "err", "max": 0.01}], inconclusive="pass")
    assert (result["verdict"], result["passed"]) == ("error", False)
    assert "403" in result["checks"][0]["reason"]


def test_refused_credentials_stop_a_polling_gate_at_the_first_round_whatever_inconclusive_says():
    client = ScriptedPrometheus({}, ranges={"err": PrometheusAuthError("HTTP 401", "unauthorized", 401)})
    result, t = run_gate(client, [{"name": "err", "query": "err", "max": 0.05, "for": "5m", "step": "1m",
                                   "mode": "breach"}], interval=2, duration=60, inconclusive="pass",
                         inconclusive_limit=10)
    assert (result["verdict"], result["passed"], result["rounds"]) == ("error", False, 1)
    assert result["stopped"] == "failure_limit reached" and t.now == 0


def test_query_returning_several_series_is_an_error_asking_to_aggregate():
    client = ScriptedPrometheus({"err": (0.1, 0.2)})
    result, _ = run_gate(client, [{"name": "err", "query": "err", "max": 1}])
    assert result["verdict"] == "error"
    assert "aggregate" in result["checks"][0]["reason"]


def test_fail_outranks_inconclusive_in_a_round():
    client = ScriptedPrometheus({"a": 5, "b": None})
    result, _ = run_gate(client, [{"name": "a", "query": "a", "max": 1}, {"name": "b", "query": "b", "max": 1}])
    assert result["verdict"] == "fail"
    assert [c["verdict"] for c in result["checks"]] == ["fail", "inconclusive"]


# ----------------------------------------------------------------------------- baseline ratio

def test_baseline_ratio_within_limit_passes():
    client = ScriptedPrometheus({"canary": 0.9, "stable": 0.4})
    result, _ = run_gate(client, [{"name": "p95_ratio", "query": "canary", "baseline_query": "stable",
                                   "max_ratio": 2.5}])
    assert result["verdict"] == "pass"
    assert result["checks"][0]["ratio"] == pytest.approx(2.25)
    assert result["checks"][0]["baseline"] == pytest.approx(0.4)


def test_baseline_ratio_above_limit_fails_with_numbers():
    client = ScriptedPrometheus({"canary": 1.2, "stable": 0.4})
    result, _ = run_gate(client, [{"name": "p95_ratio", "query": "canary", "baseline_query": "stable",
                                   "max_ratio": 2.5}])
    assert result["verdict"] == "fail"
    assert "ratio 3 (= 1.2 / baseline 0.4) > max_ratio 2.5" in result["checks"][0]["reason"]


def test_baseline_without_data_is_inconclusive():
    client = ScriptedPrometheus({"canary": 1.0, "stable": None})
    result, _ = run_gate(client, [{"name": "r", "query": "canary", "baseline_query": "stable", "max_ratio": 2}])
    assert result["verdict"] == "inconclusive"


@pytest.mark.parametrize("value, baseline, ratio", [(0, 0, 1.0), (1, 0, math.inf), (3, 2, 1.5)])
def test_ratio_of_zero_baseline(value, baseline, ratio):
    assert g.ratio_of(value, baseline) == ratio


# ----------------------------------------------------------------------------- windows (for)

def test_hold_window_passes_only_when_every_evaluation_holds():
    client = ScriptedPrometheus({}, ranges={"err": [0.0, 0.0, 0.0, 0.0, 0.0]})
    result, _ = run_gate(client, [{"name": "err", "query": "err", "max": 0.01, "for": "5m", "step": "1m"}])
    assert result["verdict"] == "pass"
    call = client.calls[0]
    assert call[0] == "query_range" and call[4] == 60.0 and call[3] - call[2] == 240.0
    assert result["checks"][0]["window"]["expected"] == 5


def test_hold_window_fails_on_a_single_breach():
    client = ScriptedPrometheus({}, ranges={"err": [0.0, 0.2, 0.0, 0.0, 0.0]})
    result, _ = run_gate(client, [{"name": "err", "query": "err", "max": 0.01, "for": "5m", "step": "1m"}])
    assert result["verdict"] == "fail"
    assert "breached at 1 of 5" in result["checks"][0]["reason"]


def test_hold_window_with_missing_points_is_inconclusive():
    client = ScriptedPrometheus({}, ranges={"err": [None, None, 0.0, 0.0, 0.0]})
    result, _ = run_gate(client, [{"name": "err", "query": "err", "max": 0.01, "for": 300, "step": 60}])
    assert result["verdict"] == "inconclusive"
    assert "only 3 of 5" in result["checks"][0]["reason"]


def test_breach_trigger_fires_only_on_consecutive_breaches():
    sustained = ScriptedPrometheus({}, ranges={"err": [0.06, 0.07, 0.06, 0.08, 0.09]})
    result, _ = run_gate(sustained, [{"name": "err", "query": "err", "max": 0.05, "for": "5m", "step": "1m",
                                      "mode": "breach"}])
    assert result["verdict"] == "fail"
    assert "all 5 consecutive" in result["checks"][0]["reason"]


def test_breach_trigger_ignores_a_spike_that_recovers():
    spiky = ScriptedPrometheus({}, ranges={"err": [0.06, 0.07, 0.01, 0.08, 0.09]})
    result, _ = run_gate(spiky, [{"name": "err", "query": "err", "max": 0.05, "for": "5m", "step": "1m",
                                  "mode": "breach"}])
    assert result["verdict"] == "pass"
    assert result["checks"][0]["window"]["breaches"] == 4


@pytest.mark.parametrize("window", [[0.06, None, 0.07, 0.08, 0.09], [None, 0.07, 0.06, 0.08, 0.09],
                                    [0.06, 0.07, 0.06, 0.08, None], [0.06, float("nan"), 0.06, 0.08, 0.09]])
def test_breach_trigger_with_a_gap_in_a_breaching_window_is_inconclusive_not_a_pass(window):
    # A scrape gap (or a canary whose series went stale) is no evidence the breach stopped.
    gappy = ScriptedPrometheus({}, ranges={"err": window})
    check = {"name": "err", "query": "err", "max": 0.05, "for": "5m", "step": "1m", "mode": "breach"}
    result, _ = run_gate(gappy, [check])
    assert (result["verdict"], result["passed"]) == ("inconclusive", False)
    c = result["checks"][0]
    assert (c["window"]["breaches"], c["window"]["missing"]) == (4, 1)
    assert "4 evaluations with data but 1 of 5 have no data" in c["reason"]
    accepted, _ = run_gate(ScriptedPrometheus({}, ranges={"err": window}), [check], inconclusive="pass")
    assert accepted["passed"] and accepted["verdict"] == "inconclusive", "passes only when explicitly accepted"


def test_breach_trigger_with_a_gap_and_a_recovered_evaluation_is_not_sustained():
    # A measured evaluation within threshold breaks the streak, whatever the gaps.
    recovered = ScriptedPrometheus({}, ranges={"err": [0.06, None, 0.01, 0.08, 0.09]})
    result, _ = run_gate(recovered, [{"name": "err", "query": "err", "max": 0.05, "for": "5m", "step": "1m",
                                      "mode": "breach"}])
    assert result["verdict"] == "pass"
    assert "not sustained" in result["checks"][0]["reason"]


def test_breach_trigger_with_no_data_is_inconclusive():
    empty = ScriptedPrometheus({}, ranges={"err": []})
    result, _ = run_gate(empty, [{"name": "err", "query": "err", "max": 0.05, "for": "5m", "step": "1m",
                                  "mode": "breach"}])
    assert result["verdict"] == "inconclusive"


def test_window_step_defaults_to_the_gate_interval():
    client = ScriptedPrometheus({}, ranges={"err": [0, 0, 0]})
    run_gate(client, [{"name": "err", "query": "err", "max": 1, "for": "6s"}], interval=2)
    assert client.calls[0][4] == 2.0


def test_window_baseline_ratio_is_per_point():
    client = ScriptedPrometheus({}, ranges={"canary": [1.0, 1.0, 3.0], "stable": [1.0, 1.0, 1.0]})
    result, _ = run_gate(client, [{"name": "r", "query": "canary", "baseline_query": "stable", "max_ratio": 2.5,
                                   "for": 3, "step": 1}])
    assert result["verdict"] == "fail"
    assert result["checks"][0]["ratio"] == pytest.approx(3.0)


# ----------------------------------------------------------------------------- polling

def test_polling_aborts_early_at_failure_limit():
    client = ScriptedPrometheus({"err": [0.0, 0.0, 0.5, 0.0]})
    result, t = run_gate(client, [{"name": "err", "query": "err", "max": 0.01}], interval=2, duration=60)
    assert result["verdict"] == "fail"
    assert result["rounds"] == 3 and result["stopped"] == "failure_limit reached"
    assert t.now == pytest.approx(4.0), "the failure at the third round (t=4 s) must end the gate"


def test_failure_limit_counts_failed_rounds_not_consecutive_ones():
    client = ScriptedPrometheus({"err": [0.5, 0.0, 0.5, 0.0, 0.5, 0.0]})
    result, _ = run_gate(client, [{"name": "err", "query": "err", "max": 0.01}], interval=1, duration=60,
                         failure_limit=3)
    assert result["verdict"] == "fail" and result["rounds"] == 5 and result["failed_rounds"] == 3


def test_polling_stops_after_success_after_consecutive_passes():
    client = ScriptedPrometheus({"err": [0.5, 0.0, 0.0, 0.0, 0.5]})
    result, t = run_gate(client, [{"name": "err", "query": "err", "max": 0.01}], interval=2, duration=60,
                         failure_limit=2, success_after=3)
    assert result["passed"] and result["rounds"] == 4
    assert result["stopped"] == "success_after reached"


def test_polling_runs_for_the_whole_duration_when_nothing_decides_earlier():
    client = ScriptedPrometheus({"err": [0.0]})
    result, t = run_gate(client, [{"name": "err", "query": "err", "max": 0.01}], interval=2, duration=10)
    assert result["passed"] and result["rounds"] == 6 and result["stopped"] == "duration elapsed"
    assert [e["elapsed"] for e in result["evaluations"]] == [0, 2, 4, 6, 8, 10]


def test_polling_sleep_accounts_for_time_spent_querying():
    t = FakeTime()

    class SlowPrometheus(ScriptedPrometheus):
        def query(self, promql, at=None):
            t.now += 0.5
            return super().query(promql, at)

    gate = g.Gate(SlowPrometheus({"err": [0.0]}), [{"name": "err", "query": "err", "max": 1}], interval=2,
                  duration=4, clock=t.clock, wall=t.wall, sleep=t.sleep)
    result = gate.run()
    assert t.sleeps == [1.5, 1.5]
    assert [e["elapsed"] for e in result["evaluations"]] == [0.5, 2.5, 4.5]


def test_polling_stops_inconclusive_at_inconclusive_limit():
    client = ScriptedPrometheus({"err": [0.0, None, 0.0, None]})
    result, _ = run_gate(client, [{"name": "err", "query": "err", "max": 0.01}], interval=1, duration=30,
                         failure_limit=2, inconclusive_limit=2)
    assert result["verdict"] == "inconclusive" and not result["passed"]
    assert result["rounds"] == 4 and result["stopped"] == "inconclusive_limit reached"


def test_first_inconclusive_round_stops_the_gate_by_default():
    client = ScriptedPrometheus({"err": [None, 0.0]})
    result, _ = run_gate(client, [{"name": "err", "query": "err", "max": 0.01}], interval=1, duration=30,
                         failure_limit=3)
    assert result["rounds"] == 1 and result["verdict"] == "inconclusive" and not result["passed"]


def test_gate_started_before_canary_data_waits_for_it_and_still_aborts_on_the_first_breach():
    # Right after a traffic shift the canary has no samples yet; then it turns out bad.
    client = ScriptedPrometheus({"err": [None, None, None, 0.0, 0.3, 0.0]})
    result, t = run_gate(client, [{"name": "err", "query": "err", "max": 0.01}], interval=2, duration=60,
                         failure_limit=1, inconclusive_limit=10)
    assert result["verdict"] == "fail" and result["rounds"] == 5
    assert result["inconclusive_rounds"] == 3 and t.now == pytest.approx(8.0)


def test_gate_that_never_measures_fails_closed_even_below_the_limit():
    client = ScriptedPrometheus({"err": [None]})
    result, _ = run_gate(client, [{"name": "err", "query": "err", "max": 0.01}], interval=2, duration=6,
                         inconclusive_limit=10)
    assert result["rounds"] == 4 and result["verdict"] == "inconclusive" and not result["passed"]
    assert result["stopped"] == "duration elapsed"


def test_some_inconclusive_rounds_below_the_limit_do_not_fail_a_measured_gate():
    client = ScriptedPrometheus({"err": [None, 0.0, 0.0]})
    result, _ = run_gate(client, [{"name": "err", "query": "err", "max": 0.01}], interval=2, duration=4,
                         inconclusive_limit=2)
    assert result["passed"] and result["verdict"] == "pass" and result["inconclusive_rounds"] == 1


def test_message_names_the_failed_check_its_numbers_and_query():
    client = ScriptedPrometheus({"sum(errors)": 0.052})
    result, _ = run_gate(client, [{"name": "error_rate", "query": "sum(errors)", "max": 0.001}])
    assert "error_rate" in result["msg"] and "0.052 > max 0.001" in result["msg"] and "sum(errors)" in result["msg"]


# ----------------------------------------------------------------------------- gaps from the trial (issue 17)
def test_an_accepted_inconclusive_verdict_is_counted_as_inconclusive_in_the_message():
    client = ScriptedPrometheus({"err": None})
    result, _ = run_gate(client, [{"name": "err", "query": "err", "max": 0.01}], inconclusive="pass")
    assert result["verdict"] == "inconclusive"
    assert "1 inconclusive (1 accepted as pass" in result["msg"] and "0 inconclusive" not in result["msg"]
    assert result["inconclusive_rounds"] == 1 and result["accepted_inconclusive_rounds"] == 1


@pytest.mark.parametrize("url", ["ftp://prometheus:9090", "prometheus:9090", "", "http://", "file:///etc/passwd"])
def test_a_url_that_is_not_http_is_a_configuration_error_not_an_outage(url):
    from ansible_collections.greenlang.launch.plugins.module_utils.promql import PrometheusClient

    with pytest.raises(ValueError, match="url: expected the Prometheus base URL with http:// or https://"):
        PrometheusClient(url)


@pytest.mark.parametrize("option, value", [("retries", -1), ("backoff", -0.5), ("timeout", 0)])
def test_negative_retries_backoff_or_a_zero_timeout_are_refused_naming_the_option(option, value):
    from ansible_collections.greenlang.launch.plugins.module_utils.promql import PrometheusClient

    with pytest.raises(ValueError, match=rf"^{option}={value!r}: must be"):
        PrometheusClient("http://127.0.0.1:9090", **{option: value})

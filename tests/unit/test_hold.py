"""The hold loop: early end on a sustained breach, progress at least every 30 s, failing closed, health checks.

Prometheus answers come from a scripted stand-in whose values change with the (fake) clock, so a breach
that starts at 40 s of a 10-minute hold is exact and instant; tests/integration/test_hold_on_stack.py holds
against the rehearsal stack's real Prometheus.
"""

import pytest
from ansible_collections.greenlang.launch.plugins.module_utils import hold as h
from ansible_collections.greenlang.launch.plugins.module_utils.promql import PrometheusUnavailable


class FakeTime:
    def __init__(self):
        self.now = 0.0

    def clock(self):
        return self.now

    def wall(self):
        return 1_700_000_000.0 + self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.now += max(seconds, 0.001)


class TimedPrometheus:
    """``series(t)`` gives the value at fake time t (None = no data); raises when it is an exception."""

    def __init__(self, t, series):
        self.t, self.series = t, series

    def _value(self, at):
        v = self.series(at - 1_700_000_000.0)
        if isinstance(v, Exception):
            raise v
        return v

    def query(self, promql, at=None):
        v = self._value(self.t.wall())
        return {"resultType": "vector", "result": [] if v is None else [{"metric": {}, "value": [0, str(v)]}]}

    def query_range(self, promql, start, end, step):
        points, ts = [], start
        while ts <= end + 1e-9:
            v = self._value(ts)
            if v is not None:
                points.append([ts, str(v)])
            ts += step
        return {"resultType": "matrix", "result": [{"metric": {}, "values": points}] if points else []}


ERRORS = {"name": "error_rate", "query": "errors", "max": 0.05, "for": "30s", "mode": "breach"}


def hold(series, duration=600, interval=10, triggers=(ERRORS,), **kw):
    t = FakeTime()
    lines = []
    result = h.Hold(TimedPrometheus(t, series), list(triggers), duration, interval=interval, report=lines.append,
                    clock=t.clock, wall=t.wall, sleep=t.sleep, **kw).run()
    return result, lines, t


def test_sustained_breach_ends_the_hold_early_with_the_measured_value():
    result, lines, t = hold(lambda s: 0.3 if s >= 40 else 0.001)
    assert result["outcome"] == "triggered" and not result["passed"]
    # breach from 40 s; the 30 s window (3 evaluations 10 s apart, as metric_gate counts) all breach at 60 s
    assert t.now == pytest.approx(60, abs=0.01)
    assert "error_rate" in result["reason"] and "0.3 > max 0.05" in result["reason"]
    assert "TRIGGERED" in lines[-1] and "error_rate 0.3" in lines[-1]


def test_a_spike_shorter_than_the_window_does_not_trigger():
    result, _, t = hold(lambda s: 0.3 if 100 <= s < 120 else 0.001, duration=300)
    assert result["outcome"] == "held" and t.now == pytest.approx(300, abs=0.01)


def test_progress_is_printed_at_least_every_30_seconds_even_with_a_longer_interval():
    result, lines, t = hold(lambda s: 0.001, duration=300, interval=60)
    stamps = [line.split("]")[1].split("/")[0].strip() for line in lines]
    assert result["outcome"] == "held"
    assert stamps[:3] == ["0s", "30s", "1m00s"] and stamps[-1] == "5m00s"
    assert len(lines) >= 300 // 30
    assert all("error_rate 0.001 (max 0.05" in line for line in lines)
    assert result["rounds"] == 6  # 0, 60, ..., 300


def test_progress_line_names_app_step_elapsed_total_and_each_value():
    _, lines, _ = hold(lambda s: 0.002, duration=60, label="cbam step 7 (pause 1m)")
    assert lines[0].startswith("[cbam step 7 (pause 1m)] 0s/1m00s:")
    assert "error_rate 0.002 (max 0.05, breached 0/3)" in lines[0]


def test_unreachable_prometheus_fails_closed_after_the_limit():
    result, _, t = hold(lambda s: PrometheusUnavailable("connection refused") if s >= 20 else 0.001,
                        inconclusive_limit=3)
    assert result["outcome"] == "inconclusive" and not result["passed"]
    assert "failing closed" in result["reason"] and "connection refused" in result["reason"]
    assert t.now == pytest.approx(40, abs=0.01)  # rounds at 20, 30, 40


def test_no_data_is_no_breach_by_default_and_unmeasured_when_asked():
    held, _, _ = hold(lambda s: None, duration=60)
    assert held["outcome"] == "held"
    closed, _, _ = hold(lambda s: None, duration=60, no_data="fail", inconclusive_limit=2)
    assert closed["outcome"] == "inconclusive"


def test_health_checks_failing_for_their_window_trigger_and_a_recovery_resets_it():
    t = FakeTime()
    answers = {"n": 0}

    def probe(check):
        answers["n"] += 1
        # fails from 30 s, recovers once at 60 s, then fails for good
        ok = t.now < 30 or 60 <= t.now < 70
        return ok, "HTTP 200" if ok else "HTTP 503"

    result = h.Hold(None, [], 600, interval=10, health_checks=[{"name": "ready", "url": "http://x/health/ready"}],
                    health_for=60, probe=probe, clock=t.clock, wall=t.wall, sleep=t.sleep).run()
    assert result["outcome"] == "triggered"
    assert "health checks failing for 1m00s" in result["reason"] and "HTTP 503" in result["reason"]
    assert t.now == pytest.approx(130, abs=0.01)  # failing again from 70 s, for 60 s


@pytest.mark.parametrize("kw,param", [({"progress_interval": 31}, "progress_interval"),
                                      ({"interval": 0}, "interval"),
                                      ({"inconclusive_limit": 0}, "inconclusive_limit"),
                                      ({"no_data": "ignore"}, "no_data")])
def test_bad_settings_are_refused_naming_the_parameter(kw, param):
    with pytest.raises(h.HoldConfigError) as e:
        h.Hold(None, [ERRORS], 60, **kw)
    assert e.value.param == param


def test_check_mode_duration_zero_evaluates_once_without_waiting():
    result, lines, t = hold(lambda s: 0.001, duration=0)
    assert result["rounds"] == 1 and t.now == 0 and result["outcome"] == "held"

"""In-process pieces of the demo app: fault schedule, circuit breaker, knob validation, metrics text."""

from __future__ import annotations

import random
import time

import pytest

from rehearsal.apps import calculations as calc
from rehearsal.apps.demo_app import Breaker, Config, ConfigError, ErrorSchedule
from rehearsal.apps.metrics import Registry


@pytest.mark.parametrize("ratio", [0.001, 0.05, 0.2, 0.5, 1.0])
def test_error_schedule_hits_the_configured_ratio_over_a_few_thousand_requests(ratio):
    schedule = ErrorSchedule(ratio, random.Random(7))
    failures = sum(schedule.should_fail() for _ in range(5000))
    assert abs(failures - ratio * 5000) <= 1


def test_error_schedule_with_ratio_zero_never_fails():
    schedule = ErrorSchedule(0.0, random.Random(1))
    assert not any(schedule.should_fail() for _ in range(1000))


def test_breaker_opens_after_three_failures_half_opens_after_cooldown_and_closes_on_success():
    breaker = Breaker()
    breaker.COOLDOWN_S = 0.2
    for _ in range(2):
        breaker.record(False)
    assert breaker.state == "closed"
    breaker.record(False)
    assert breaker.state == "open"
    time.sleep(0.25)
    assert breaker.state == "half_open"
    breaker.record(True)
    assert breaker.state == "closed"


@pytest.mark.parametrize(("env", "variable"), [
    ({"APP_NAME": "billing"}, "APP_NAME"),
    ({"APP_NAME": "vcci", "PORT": "http"}, "PORT"),
    ({"APP_NAME": "vcci", "FAULT_ERROR_RATIO": "1.5"}, "FAULT_ERROR_RATIO"),
    ({"APP_NAME": "vcci", "FAULT_BREAKER_OPEN": "customs_registry"}, "FAULT_BREAKER_OPEN"),
    ({"APP_NAME": "cbam", "FAULT_DEPENDENCY_DOWN": "dns"}, "FAULT_DEPENDENCY_DOWN"),
])
def test_invalid_knobs_are_rejected_naming_the_variable_and_allowed_values(env, variable):
    with pytest.raises(ConfigError, match=variable):
        Config.from_env(env)


def test_metrics_escape_label_values_and_keep_histograms_cumulative():
    reg = Registry()
    reg.describe("c_total", "counter", "help")
    reg.describe("h_seconds", "histogram", "help")
    reg.inc("c_total", (("route", 'a"b\\c\nd'),))
    for v in (0.001, 0.3, 3.0, 30.0):
        reg.observe("h_seconds", (), v)
    text = reg.render()
    assert 'c_total{route="a\\"b\\\\c\\nd"} 1' in text
    assert 'h_seconds_bucket{le="0.005"} 1' in text
    assert 'h_seconds_bucket{le="0.5"} 2' in text
    assert 'h_seconds_bucket{le="10.0"} 3' in text
    assert 'h_seconds_bucket{le="+Inf"} 4' in text
    assert "h_seconds_count 4" in text


def test_drift_applies_to_every_computed_quantity_of_a_calculation():
    ref = calc.builtin_reference("csrd")
    body = {"datapoints": [{"code": "E1-6_scope1", "value": 100}, {"code": "E1-6_scope3", "value": 900}]}
    plain = calc.csrd_calculate(body, ref, lambda x: x)
    drifted = calc.csrd_calculate(body, ref, lambda x: x * 1.03)
    assert drifted["total_t_co2e"] == pytest.approx(plain["total_t_co2e"] * 1.03)
    assert drifted["scope1_t_co2e"] == pytest.approx(103.0)

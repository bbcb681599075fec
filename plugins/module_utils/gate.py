# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Metric gates: checks evaluated against Prometheus, once or polled.

A *check* is a PromQL query that must return a single number, compared with
``min`` / ``max`` and optionally with a baseline query (``value / baseline <=
max_ratio``). With ``for`` the check looks at a window of consecutive
evaluations (one every ``step``) through ``query_range``:

* ``mode: hold`` (gates): every evaluation in the window must pass; a window not
  yet full of data is *inconclusive*.
* ``mode: breach`` (rollback triggers): the check fails only when every
  evaluation in the window breaches, i.e. the breach is sustained. One
  evaluation in the window that passes proves it was not sustained (pass). An
  evaluation without data (a scrape gap, a pod whose series went stale, NaN) proves
  nothing either way. So a window whose measured points all breach but which has
  gaps is *inconclusive*, not "not sustained". Otherwise a scrape gap, or a crashing
  canary that stops reporting, would make a sustained breach pass.

Verdicts: ``pass``, ``fail``, ``inconclusive`` (no data, NaN, Prometheus
unreachable) and ``error`` (Prometheus rejected the query or the credentials,
or the query returned more than one series). A gate fails closed: inconclusive
counts as a failure unless the caller explicitly accepts it; error always fails.

Clocks and sleep are injected so polling is unit-tested without waiting.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re
import time

from ansible_collections.greenlang.launch.plugins.module_utils.promql import (
    PrometheusQueryError,
    PrometheusUnavailable,
    instant_values,
    range_values,
)

PASS = "pass"
FAIL = "fail"
INCONCLUSIVE = "inconclusive"
ERROR = "error"
# Worst first: the overall verdict of several is the first of these present.
SEVERITY = (FAIL, ERROR, INCONCLUSIVE, PASS)
MODES = ("hold", "breach")
CHECK_KEYS = ("name", "query", "min", "max", "baseline_query", "max_ratio", "for", "step", "mode")

_DURATION_RE = re.compile(r"^\s*((?:\d+(?:\.\d+)?(?:ms|s|m|h|d)\s*)+)\s*$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class GateConfigError(ValueError):
    """Bad gate or check configuration; ``param`` names the parameter at fault (failed_step validation)."""

    step = "validation"

    def __init__(self, param, msg):
        super(GateConfigError, self).__init__("{0}: {1}".format(param, msg))
        self.param = param
        self.where = param


def parse_duration(value, param):
    """Seconds from a number or a Prometheus-style duration ("500ms", "30s", "5m", "1m30s")."""
    if isinstance(value, bool):
        raise GateConfigError(param, "expected a duration such as 30, '30s' or '5m', got {0!r}".format(value))
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip()
        try:
            seconds = float(text)
        except ValueError:
            if not _DURATION_RE.match(text):
                raise GateConfigError(
                    param, "expected a duration such as 30, '30s' or '5m', got {0!r}".format(value)) from None
            seconds = sum(float(n) * _UNIT[u] for n, u in _DURATION_PART.findall(text))
    if seconds < 0 or math.isnan(seconds) or math.isinf(seconds):
        raise GateConfigError(param, "must be a finite, non-negative duration, got {0!r}".format(value))
    return seconds


def _number(value, param):
    if value is None:
        return None
    if isinstance(value, bool):
        raise GateConfigError(param, "expected a number, got {0!r}".format(value))
    try:
        return float(value)
    except (TypeError, ValueError):
        raise GateConfigError(param, "expected a number, got {0!r}".format(value)) from None


class Check(object):
    """One validated check."""

    def __init__(self, spec, index=0, default_step=10.0):
        where = "checks[{0}]".format(index)
        if not isinstance(spec, dict):
            raise GateConfigError(where, "must be a dict with at least name and query")
        unknown = sorted(set(spec) - set(CHECK_KEYS))
        if unknown:
            raise GateConfigError(where, "unknown key(s) {0}; allowed: {1}".format(", ".join(unknown),
                                                                                   ", ".join(CHECK_KEYS)))
        self.name = spec.get("name") or "check{0}".format(index)
        where = "checks[{0}] ({1})".format(index, self.name)
        self.query = spec.get("query")
        if not self.query or not isinstance(self.query, str):
            raise GateConfigError(where + ".query", "a PromQL expression is required")
        self.min = _number(spec.get("min"), where + ".min")
        self.max = _number(spec.get("max"), where + ".max")
        self.baseline_query = spec.get("baseline_query")
        self.max_ratio = _number(spec.get("max_ratio"), where + ".max_ratio")
        if (self.baseline_query is None) != (self.max_ratio is None):
            raise GateConfigError(where + ".baseline_query", "baseline_query and max_ratio go together")
        if self.min is None and self.max is None and self.max_ratio is None:
            raise GateConfigError(where, "needs min, max, or baseline_query with max_ratio")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise GateConfigError(where + ".min", "min {0} is above max {1}".format(self.min, self.max))
        self.for_seconds = parse_duration(spec["for"], where + ".for") if spec.get("for") is not None else None
        self.step = parse_duration(spec["step"], where + ".step") if spec.get("step") is not None else default_step
        if self.step <= 0:
            raise GateConfigError(where + ".step", "must be positive")
        self.mode = spec.get("mode") or "hold"
        if self.mode not in MODES:
            raise GateConfigError(where + ".mode", "must be one of {0}, got {1!r}".format(", ".join(MODES), self.mode))

    @property
    def window_points(self):
        """How many consecutive evaluations ``for`` spans (at least one)."""
        if self.for_seconds is None:
            return 1
        return max(1, int(round(self.for_seconds / self.step)))

    def judge(self, value, baseline=None):
        """(verdict, ratio, reason) for one evaluation."""
        if value is None or math.isnan(value):
            return INCONCLUSIVE, None, "no data" if value is None else "value is NaN"
        if self.min is not None and value < self.min:
            return FAIL, None, "{0} < min {1}".format(_fmt(value), _fmt(self.min))
        if self.max is not None and value > self.max:
            return FAIL, None, "{0} > max {1}".format(_fmt(value), _fmt(self.max))
        ratio = None
        if self.max_ratio is not None:
            if baseline is None or math.isnan(baseline):
                return INCONCLUSIVE, None, "baseline has no data" if baseline is None else "baseline is NaN"
            ratio = ratio_of(value, baseline)
            if ratio > self.max_ratio:
                return FAIL, ratio, "ratio {0} (= {1} / baseline {2}) > max_ratio {3}".format(
                    _fmt(ratio), _fmt(value), _fmt(baseline), _fmt(self.max_ratio))
        return PASS, ratio, "within thresholds"

    def describe(self):
        out = {"name": self.name, "query": self.query, "min": self.min, "max": self.max}
        if self.max_ratio is not None:
            out.update({"baseline_query": self.baseline_query, "max_ratio": self.max_ratio})
        if self.for_seconds is not None:
            out.update({"for_seconds": self.for_seconds, "step_seconds": self.step, "mode": self.mode,
                        "window_points": self.window_points})
        return out


def ratio_of(value, baseline):
    """value / baseline; 0/0 counts as equal (1.0), x/0 as infinitely worse."""
    if baseline == 0:
        return 1.0 if value == 0 else float("inf")
    return value / baseline


def _fmt(x):
    if x is None:
        return "none"
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return str(x)
    return "{0:.6g}".format(x)


def worst(verdicts):
    for v in SEVERITY:
        if v in verdicts:
            return v
    return PASS


def _json_number(x):
    """Results go through JSON: NaN/Inf become strings rather than invalid JSON."""
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return None if x is None else str(x)
    return x


# --------------------------------------------------------------------------- one evaluation of one check

def _single_instant(client, query):
    series = instant_values(client.query(query))
    if not series:
        return None
    if len(series) > 1:
        raise PrometheusQueryError("query returned {0} series ({1}); aggregate it (sum, max, ...) so it returns "
                                   "one".format(len(series), ", ".join(str(s[0]) for s in series[:3])), "multiple")
    return series[0][1]


def _single_range(client, query, start, end, step):
    series = range_values(client.query_range(query, start, end, step))
    if not series:
        return []
    if len(series) > 1:
        raise PrometheusQueryError("query returned {0} series; aggregate it (sum, max, ...) so it returns "
                                   "one".format(len(series)), "multiple")
    return series[0][1]


def evaluate_check(client, check, now):
    """Evaluate ``check`` at wall-clock time ``now``; returns the check's result dict."""
    result = check.describe()
    try:
        if check.for_seconds is None:
            value = _single_instant(client, check.query)
            baseline = _single_instant(client, check.baseline_query) if check.baseline_query else None
            verdict, ratio, reason = check.judge(value, baseline)
            result.update({"value": value, "baseline": baseline, "ratio": ratio})
        else:
            verdict, reason = _evaluate_window(client, check, now, result)
    except PrometheusUnavailable as e:
        verdict, reason = INCONCLUSIVE, "Prometheus unavailable: {0}".format(e)
    except PrometheusQueryError as e:
        verdict, reason = ERROR, str(e)
    result["verdict"] = verdict
    result["reason"] = reason
    for key in ("value", "baseline", "ratio"):
        result[key] = _json_number(result.get(key))
    return result


def _evaluate_window(client, check, now, result):
    n = check.window_points
    start = now - (n - 1) * check.step
    points = _single_range(client, check.query, start, now, check.step)
    baselines = {}
    if check.baseline_query:
        baselines = dict(_single_range(client, check.baseline_query, start, now, check.step))
    verdicts = []
    for ts, value in points[-n:]:
        verdicts.append((ts, value) + check.judge(value, baselines.get(ts) if check.baseline_query else None))
    present = [v for v in verdicts if v[2] != INCONCLUSIVE]
    breaches = [v for v in present if v[2] == FAIL]
    missing = n - len(present)
    last = verdicts[-1] if verdicts else None
    result.update({
        "value": last[1] if last else None,
        "baseline": baselines.get(last[0]) if last and check.baseline_query else None,
        "ratio": last[3] if last else None,
        "window": {"expected": n, "with_data": len(present), "missing": missing, "breaches": len(breaches),
                   "values": [_json_number(v[1]) for v in verdicts]},
    })
    if check.mode == "breach":
        if not present:
            return INCONCLUSIVE, "no data in the last {0} evaluations".format(n)
        if len(breaches) < len(present):
            # A measured evaluation within thresholds: the breach was not sustained, whatever the gaps.
            return PASS, "breached at {0} of {1} evaluations, not sustained".format(len(breaches), n)
        if missing:
            return INCONCLUSIVE, ("breached at all {0} evaluations with data but {1} of {2} have no data (last: {3}): "
                                  "cannot tell whether the breach was sustained".format(
                                      len(breaches), missing, n, breaches[-1][4]))
        return FAIL, "breached at all {0} consecutive evaluations (last: {1})".format(n, breaches[-1][4])
    if breaches:
        return FAIL, "breached at {0} of {1} evaluations (last: {2})".format(len(breaches), n, breaches[-1][4])
    if len(present) < n:
        return INCONCLUSIVE, "only {0} of {1} evaluations have data".format(len(present), n)
    return PASS, "held for all {0} evaluations".format(n)


# --------------------------------------------------------------------------- rounds and polling

def evaluate_round(client, checks, now, inconclusive="fail"):
    results = [evaluate_check(client, c, now) for c in checks]
    verdict = worst([r["verdict"] for r in results])
    return {"at": now, "verdict": verdict, "passed": counts_as_pass(verdict, inconclusive), "checks": results}


def counts_as_pass(verdict, inconclusive="fail"):
    return verdict == PASS or (verdict == INCONCLUSIVE and inconclusive == "pass")


class Gate(object):
    """Evaluate checks once, or every ``interval`` seconds for up to ``duration`` seconds.

    Polling stops early once ``failure_limit`` rounds have failed (fast detection),
    once ``inconclusive_limit`` rounds could not measure (unless inconclusive is
    accepted), or once ``success_after`` consecutive rounds have passed. When
    ``duration`` runs out first, the gate passes if neither limit was reached and
    at least one round passed on real measurements (or inconclusive is accepted).
    Keeping the two limits apart lets a gate that starts right after a traffic
    shift wait a few rounds for the first canary samples and still abort on the
    first real breach.
    """

    def __init__(self, client, checks, interval=10.0, duration=0.0, failure_limit=1, success_after=None,
                 inconclusive="fail", inconclusive_limit=1, clock=time.monotonic, wall=time.time,
                 sleep=time.sleep):
        if not checks:
            raise GateConfigError("checks", "at least one check is required")
        if interval <= 0:
            raise GateConfigError("interval", "must be positive, got {0}".format(interval))
        if duration < 0:
            raise GateConfigError("duration", "must not be negative, got {0}".format(duration))
        if failure_limit is None or failure_limit < 1:
            raise GateConfigError("failure_limit", "must be 1 or more, got {0}".format(failure_limit))
        if inconclusive_limit is None or inconclusive_limit < 1:
            raise GateConfigError("inconclusive_limit", "must be 1 or more, got {0}".format(inconclusive_limit))
        if success_after is not None and success_after < 1:
            raise GateConfigError("success_after", "must be 1 or more, got {0}".format(success_after))
        if inconclusive not in ("fail", "pass"):
            raise GateConfigError("inconclusive", "must be fail or pass, got {0!r}".format(inconclusive))
        self.client = client
        self.checks = [c if isinstance(c, Check) else Check(c, i, default_step=interval)
                       for i, c in enumerate(checks)]
        names = [c.name for c in self.checks]
        dupes = sorted(set(n for n in names if names.count(n) > 1))
        if dupes:
            raise GateConfigError("checks", "check names must be unique, repeated: {0}".format(", ".join(dupes)))
        self.interval = float(interval)
        self.duration = float(duration)
        self.failure_limit = int(failure_limit)
        self.inconclusive_limit = int(inconclusive_limit)
        self.success_after = success_after
        self.inconclusive = inconclusive
        self.clock, self.wall, self.sleep = clock, wall, sleep

    def run(self):
        started = self.clock()
        deadline = started + self.duration
        # +1: a round at t=0 and one at every interval up to and including the deadline.
        max_rounds = int(self.duration // self.interval) + 1
        rounds = []
        failures = inconclusives = accepted = passes = streak = 0
        stopped = "single evaluation" if self.duration == 0 else "duration elapsed"
        for i in range(max_rounds):
            r = evaluate_round(self.client, self.checks, self.wall(), self.inconclusive)
            r["elapsed"] = round(self.clock() - started, 3)
            rounds.append(r)
            if r["verdict"] in (FAIL, ERROR):
                failures += 1
                streak = 0
            elif not r["passed"]:
                inconclusives += 1
                streak = 0
            else:
                passes += 1
                streak += 1
                # inconclusive: pass lets such a round count as passed; it is still reported as inconclusive.
                accepted += r["verdict"] == INCONCLUSIVE
            if failures >= self.failure_limit:
                stopped = "failure_limit reached" if self.duration else stopped
                break
            if inconclusives >= self.inconclusive_limit:
                stopped = "inconclusive_limit reached" if self.duration else stopped
                break
            if self.success_after and streak >= self.success_after:
                stopped = "success_after reached" if self.duration else stopped
                break
            next_at = started + (i + 1) * self.interval
            if next_at > deadline + 1e-9:
                break
            self.sleep(max(0.0, next_at - self.clock()))
        return self._summary(rounds, failures, inconclusives, passes, stopped, self.clock() - started, accepted)

    def _summary(self, rounds, failures, inconclusives, passes, stopped, elapsed, accepted=0):
        failed_rounds = [r for r in rounds if not r["passed"]]
        passed = False
        if failures >= self.failure_limit:
            bad = [r for r in failed_rounds if r["verdict"] in (FAIL, ERROR)]
            verdict, deciding = worst([r["verdict"] for r in bad]), bad[-1]
        elif inconclusives >= self.inconclusive_limit or passes == 0:
            # Could not measure often enough, or never: fail closed.
            verdict, deciding = INCONCLUSIVE, failed_rounds[-1]
        else:
            passed, deciding = True, rounds[-1]
            # Say so when the last measurement could not be made and the caller accepted that.
            verdict = INCONCLUSIVE if deciding["verdict"] == INCONCLUSIVE else PASS
        return {
            "verdict": verdict,
            "passed": passed,
            "checks": deciding["checks"],
            "evaluations": [{"at": r["at"], "elapsed": r["elapsed"], "verdict": r["verdict"],
                             "failed_checks": [c["name"] for c in r["checks"] if c["verdict"] != PASS]}
                            for r in rounds],
            "rounds": len(rounds),
            "failed_rounds": failures,
            "inconclusive_rounds": inconclusives + accepted,
            "accepted_inconclusive_rounds": accepted,
            "stopped": stopped,
            "elapsed": round(elapsed, 3),
            "msg": self._message(passed, verdict, deciding, len(rounds), failures, inconclusives, accepted),
        }

    def _message(self, passed, verdict, deciding, n_rounds, failures, inconclusives, accepted=0):
        counts = "{0} failed (limit {1}), {2} inconclusive{3} (limit {4})".format(
            failures, self.failure_limit, inconclusives + accepted,
            " ({0} accepted as pass)".format(accepted) if accepted else "", self.inconclusive_limit)
        if passed:
            return "metric gate passed{0}: {1} check(s) over {2} evaluation(s), {3}".format(
                " (inconclusive accepted)" if verdict == INCONCLUSIVE else "", len(self.checks), n_rounds, counts)
        bad = ["{0}: {1} [{2}] {3}".format(c["name"], c["verdict"], c["reason"], c["query"])
               for c in deciding["checks"] if c["verdict"] != PASS]
        return "metric gate {0} after {1} evaluation(s), {2}: {3}".format(verdict, n_rounds, counts, "; ".join(bad))

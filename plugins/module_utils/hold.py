# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""A hold: wait a duration while the rollback triggers watch, and say how it is going.

Every ``interval`` the trigger checks (metric_gate checks, normally ``mode: breach`` with a ``for``
window: "error rate above 5 % for 5 consecutive minutes") are evaluated with the gate module util's
own ``evaluate_round``, and the HTTP health checks are probed. The hold ends early, *triggered*, when:

* a trigger check fails (its breach was sustained for its whole window) or errors (Prometheus rejected
  the query or the credentials: a trigger that cannot be asked must not let a hold pass);
* every health check has failed on every probe for ``health_for`` seconds;
* the triggers could not be measured (Prometheus unreachable, or no data when ``no_data='fail'``) on
  ``inconclusive_limit`` rounds in a row: the hold fails closed.

"No data" (no series for the new version yet, for example at weight 0) is not a breach; by default it
is no evidence either way (``no_data='pass'``), while Prometheus being unreachable always counts as
unmeasured. Progress lines go to ``report`` at the first round, at least every ``progress_interval``
seconds and at the end. Clocks, sleep and the HTTP probe are injected for unit tests.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.greenlang.launch.plugins.module_utils.gate import (
    ERROR,
    FAIL,
    INCONCLUSIVE,
    PASS,
    Check,
    GateConfigError,
    _fmt,
    evaluate_round,
)

MAX_PROGRESS_INTERVAL = 30.0


class HoldConfigError(GateConfigError):
    pass


def fmt_duration(seconds):
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return "{0}h{1:02d}m{2:02d}s".format(h, m, s)
    if m:
        return "{0}m{1:02d}s".format(m, s)
    return "{0}s".format(s)


def _unmeasured(check_result, no_data):
    """Whether a check's inconclusive verdict means 'could not measure' (vs. 'nothing to measure yet')."""
    if check_result["verdict"] != INCONCLUSIVE:
        return False
    reason = check_result.get("reason") or ""
    if reason.startswith("Prometheus unavailable"):
        return True
    return no_data == "fail"


def describe_check(c):
    """'error_rate 0.0012 (max 0.05, breached 0/5)' for a progress line."""
    limits = []
    if c.get("max") is not None:
        limits.append("max " + _fmt(c["max"]))
    if c.get("min") is not None:
        limits.append("min " + _fmt(c["min"]))
    if c.get("max_ratio") is not None:
        limits.append("max_ratio " + _fmt(c["max_ratio"]))
    window = c.get("window")
    if window:
        limits.append("breached {0}/{1}".format(window["breaches"], window["expected"]))
    value = c.get("value")
    shown = "no data" if value is None else (value if isinstance(value, str) else _fmt(value))
    text = "{0} {1} ({2})".format(c["name"], shown, ", ".join(limits))
    if c["verdict"] not in (PASS,):
        text += " " + c["verdict"].upper()
    return text


class Hold(object):
    def __init__(self, client, triggers, duration, interval=10.0, progress_interval=30.0, health_checks=None,
                 health_for=180.0, inconclusive_limit=3, no_data="pass", label="hold", probe=None, report=None,
                 clock=time.monotonic, wall=time.time, sleep=time.sleep):
        if duration < 0:
            raise HoldConfigError("duration", "must not be negative, got {0}".format(duration))
        if interval <= 0:
            raise HoldConfigError("interval", "must be positive, got {0}".format(interval))
        if not 0 < progress_interval <= MAX_PROGRESS_INTERVAL:
            raise HoldConfigError("progress_interval", "must be above 0 and at most {0:g} s, got {1}".format(
                MAX_PROGRESS_INTERVAL, progress_interval))
        if inconclusive_limit is None or inconclusive_limit < 1:
            raise HoldConfigError("inconclusive_limit", "must be 1 or more, got {0}".format(inconclusive_limit))
        if no_data not in ("pass", "fail"):
            raise HoldConfigError("no_data", "must be pass or fail, got {0!r}".format(no_data))
        if health_for < 0:
            raise HoldConfigError("health_for", "must not be negative, got {0}".format(health_for))
        self.checks = [c if isinstance(c, Check) else Check(c, i, default_step=interval)
                       for i, c in enumerate(triggers or [])]
        names = [c.name for c in self.checks] + [h.get("name") for h in health_checks or []]
        dupes = sorted(set(n for n in names if names.count(n) > 1))
        if dupes:
            raise HoldConfigError("triggers", "names must be unique, repeated: {0}".format(", ".join(dupes)))
        for i, h in enumerate(health_checks or []):
            if not h.get("name") or not h.get("url"):
                raise HoldConfigError("health_checks[{0}]".format(i), "needs name and url")
        if health_checks and probe is None:
            raise HoldConfigError("health_checks", "no probe given")
        self.client = client
        self.health_checks = list(health_checks or [])
        self.duration, self.interval = float(duration), float(interval)
        self.progress_interval = float(progress_interval)
        self.health_for = float(health_for)
        self.inconclusive_limit = int(inconclusive_limit)
        self.no_data = no_data
        self.label = label
        self.probe = probe
        self.report = report or (lambda line: None)
        self.clock, self.wall, self.sleep = clock, wall, sleep

    # ------------------------------------------------------------------ one round
    def _probe_health(self, now, state):
        results = []
        for h in self.health_checks:
            ok, detail = self.probe(h)
            results.append({"name": h["name"], "url": h["url"], "ok": bool(ok), "detail": detail})
        if results and not any(r["ok"] for r in results):
            if state["health_failing_since"] is None:
                state["health_failing_since"] = now
        else:
            state["health_failing_since"] = None
        return results

    def _evaluate(self, started, state):
        now = self.clock()
        round_ = {"elapsed": round(now - started, 3), "checks": [], "health": []}
        if self.checks:
            r = evaluate_round(self.client, self.checks, self.wall(), "pass")
            round_["checks"] = r["checks"]
        round_["health"] = self._probe_health(now, state)
        failed = [c for c in round_["checks"] if c["verdict"] in (FAIL, ERROR)]
        unmeasured = [c for c in round_["checks"] if _unmeasured(c, self.no_data)]
        if failed:
            round_["verdict"] = "triggered"
            round_["reason"] = "; ".join("{0}: {1} [{2}]".format(c["name"], c["verdict"], c["reason"]) for c in failed)
        elif (state["health_failing_since"] is not None
              and now - state["health_failing_since"] >= self.health_for):
            round_["verdict"] = "triggered"
            round_["reason"] = "health checks failing for {0} (limit {1}): {2}".format(
                fmt_duration(now - state["health_failing_since"]), fmt_duration(self.health_for),
                "; ".join("{0} {1}".format(h["name"], h["detail"]) for h in round_["health"]))
        elif unmeasured:
            round_["verdict"] = INCONCLUSIVE
            round_["reason"] = "; ".join("{0}: {1}".format(c["name"], c["reason"]) for c in unmeasured)
        else:
            round_["verdict"] = PASS
            round_["reason"] = "within thresholds"
        return round_

    def progress_line(self, round_, elapsed, final=None):
        parts = [describe_check(c) for c in round_["checks"]]
        parts += ["{0} {1}".format(h["name"], "ok" if h["ok"] else "FAILING (" + str(h["detail"]) + ")")
                  for h in round_["health"]]
        head = "[{0}] {1}/{2}".format(self.label, fmt_duration(elapsed), fmt_duration(self.duration))
        if final:
            head += " " + final
        return head + (": " + "; ".join(parts) if parts else ": no triggers configured")

    # ------------------------------------------------------------------ the hold
    def run(self):
        started = self.clock()
        deadline = started + self.duration
        state = {"health_failing_since": None}
        rounds = streak = 0
        next_round = next_progress = started
        outcome, reason, last = "held", None, None
        # Bounded: one iteration per round or progress line, plus the round at the deadline.
        max_iterations = int(self.duration / self.interval) + int(self.duration / self.progress_interval) + 4
        for _round in range(max_iterations):
            now = self.clock()
            if now >= next_round - 1e-9:
                last = self._evaluate(started, state)
                rounds += 1
                if last["verdict"] == "triggered":
                    outcome, reason = "triggered", last["reason"]
                    break
                streak = streak + 1 if last["verdict"] == INCONCLUSIVE else 0
                if streak >= self.inconclusive_limit:
                    outcome = "inconclusive"
                    reason = ("could not measure the rollback triggers on {0} round(s) in a row (limit {1}), "
                              "failing closed: {2}".format(streak, self.inconclusive_limit, last["reason"]))
                    break
                if now >= deadline - 1e-9:
                    break
                next_round = min(started + rounds * self.interval, deadline)
            if now >= next_progress - 1e-9:
                self.report(self.progress_line(last, now - started))
                next_progress = now + self.progress_interval
            self.sleep(max(0.0, min(next_round, next_progress) - self.clock()))
        elapsed = self.clock() - started
        if outcome == "held":
            final = "held, no trigger fired"
            msg = "{0}: held {1} ({2} evaluation(s)), no rollback trigger fired".format(
                self.label, fmt_duration(elapsed), rounds)
        else:
            final = outcome.upper()
            msg = "{0}: {1} after {2} of {3}: {4}".format(
                self.label, outcome, fmt_duration(elapsed), fmt_duration(self.duration), reason)
        self.report(self.progress_line(last, elapsed, final))
        return {
            "outcome": outcome,
            "passed": outcome == "held",
            "triggered": outcome == "triggered",
            "reason": reason,
            "msg": msg,
            "checks": last["checks"],
            "health": last["health"],
            "rounds": rounds,
            "elapsed": round(elapsed, 3),
            "duration": self.duration,
        }

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The launch plan: validation of ``launch_plan.<app>`` and where a run resumes.

A plan's ``steps`` are one-verb dicts (``- set_weight: 10``). ``plan_errors`` returns one message per
problem, each naming the path in the inventory (``launch_plan.cbam.steps[5].gate``), so run_plan refuses a
bad plan before anything changes. ``resume_point`` decides, from what the strategy role read in the
cluster (its ``<strategy>_state``), which step a run starts at (docs/roles/run_plan.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.greenlang.launch.plugins.module_utils.gate import GateConfigError, parse_duration

VERBS = ("backup", "migrate", "deploy", "smoke_test", "set_weight", "gate", "parity", "pause", "promote", "switch",
         "validate")
STRATEGIES = ("canary", "blue_green", "rolling")
PROVIDERS = ("gateway_api", "ingress_nginx", "openshift_route")
DICT_VERBS = ("backup", "migrate", "deploy", "smoke_test", "parity", "promote", "switch", "validate")


def step_verb(step):
    """(verb, argument) of one step dict."""
    (verb, arg), = step.items()
    return verb, arg


def _weight(value):
    if isinstance(value, bool):
        raise ValueError
    number = float(value)
    if not number.is_integer() or not 0 <= number <= 100:
        raise ValueError
    return int(number)


def plan_errors(plan, app, gates=None):
    """Messages naming each problem of ``launch_plan.<app>`` (empty when the plan is runnable)."""
    where = "launch_plan.{0}".format(app)
    if not isinstance(plan, dict):
        return ["{0}: expected a dict (release, strategy, traffic, steps, ...), got {1}".format(
            where, type(plan).__name__)]
    gates = gates if isinstance(gates, dict) else {}
    errors = []
    if plan.get("release") in (None, ""):
        errors.append("{0}.release: required (the new version's image tag)".format(where))
    strategy = plan.get("strategy")
    if strategy not in STRATEGIES:
        errors.append("{0}.strategy: must be one of {1}, got {2!r}".format(where, ", ".join(STRATEGIES), strategy))
    traffic = plan.get("traffic")
    if strategy in ("canary", "blue_green"):
        if not isinstance(traffic, dict):
            errors.append("{0}.traffic: required for strategy {1}: {{provider, name, stable, canary}}".format(
                where, strategy))
        else:
            if traffic.get("provider") not in PROVIDERS:
                errors.append("{0}.traffic.provider: must be one of {1}, got {2!r}".format(
                    where, ", ".join(PROVIDERS), traffic.get("provider")))
            for key in ("name", "stable", "canary"):
                if not traffic.get(key):
                    errors.append("{0}.traffic.{1}: required".format(where, key))
    steps = plan.get("steps")
    if not isinstance(steps, list) or not steps:
        errors.append("{0}.steps: a non-empty list of one-verb steps is required".format(where))
        return errors
    last_weight = None
    for i, step in enumerate(steps):
        at = "{0}.steps[{1}]".format(where, i)
        if not isinstance(step, dict) or len(step) != 1:
            errors.append("{0}: a step is a dict with exactly one verb ({1}), got {2!r}".format(
                at, ", ".join(VERBS), step))
            continue
        verb, arg = step_verb(step)
        if verb not in VERBS:
            errors.append("{0}: unknown verb {1!r} (verbs: {2})".format(at, verb, ", ".join(VERBS)))
            continue
        at = "{0}.{1}".format(at, verb)
        if verb in DICT_VERBS and arg is not None and not isinstance(arg, dict):
            errors.append("{0}: expected a dict of arguments (or {{}}), got {1!r}".format(at, arg))
        if verb == "set_weight":
            try:
                weight = _weight(arg)
            except (TypeError, ValueError):
                errors.append("{0}: expected an integer from 0 to 100, got {1!r}".format(at, arg))
                continue
            if last_weight is not None and weight < last_weight:
                errors.append("{0}: {1} is below the earlier set_weight {2}; a plan only ramps up (the way down is "
                              "abort)".format(at, weight, last_weight))
            last_weight = weight
        elif verb == "gate":
            names = [arg] if isinstance(arg, str) else arg
            if not isinstance(names, list) or not names:
                errors.append("{0}: expected a list of gate names from launch_gates, got {1!r}".format(at, arg))
                continue
            unknown = [n for n in names if n not in gates]
            if unknown:
                errors.append("{0}: unknown gate(s) {1} (defined in launch_gates: {2})".format(
                    at, ", ".join(repr(n) for n in unknown), ", ".join(sorted(gates)) or "none"))
        elif verb == "pause":
            try:
                parse_duration(arg, at)
            except GateConfigError as e:
                errors.append(str(e))
        elif verb == "promote" and strategy == "blue_green":
            errors.append("{0}: blue_green switches; use a switch step".format(at))
        elif verb == "switch" and strategy in ("canary", "rolling"):
            errors.append("{0}: switch is blue_green's; {1} uses promote".format(at, strategy))
    return errors


def resume_point(plan, state):
    """Where a run of ``plan`` starts given the strategy's state: {start, reason, phase, weight}."""
    steps = plan.get("steps") or []
    verbs = [step_verb(s) for s in steps]
    state = state or {}
    phase = state.get("phase") or "absent"
    release = state.get("release")
    stable_release = state.get("stable_release")
    weight = float(state.get("weight") or 0)
    target = str(plan.get("release"))
    out = {"start": 0, "phase": phase, "weight": weight, "reason": "starting from the first step ({0})".format(phase)}
    finishers = [i for i, (v, _a) in enumerate(verbs) if v in ("promote", "switch")]
    if phase == "promoted" and str(stable_release) == target:
        start = finishers[-1] + 1 if finishers else len(steps)
        out.update(start=start, reason="{0} already serves {1} (promoted): only the steps after step {2} run".format(
            state.get("app") or "the app", target, start - 1))
        return out
    if phase == "ramping" and str(release) == target:
        ramps = [(i, _weight(a)) for i, (v, a) in enumerate(verbs) if v == "set_weight"]
        at_or_below = [i for i, w in ramps if w <= weight + 1e-9]
        if ramps:
            start = at_or_below[-1] if at_or_below else ramps[0][0]
            out.update(start=start, reason="{0} runs at {1:g} % already: resuming at step {2} (set_weight {3}); "
                       "steps before it are done".format(target, weight, start, verbs[start][1]))
            return out
    if phase in ("ramping", "deployed") and str(release) == target:
        deploys = [i for i, (v, _a) in enumerate(verbs) if v == "deploy"]
        if deploys:
            out.update(start=deploys[0], reason="{0} is deployed already: resuming at step {1} (deploy)".format(
                target, deploys[0]))
    return out


CHECK_KEYS = ("name", "query", "min", "max", "baseline_query", "max_ratio", "for", "step", "mode")


def gate_check(pair):
    """A metric_gate check from a ``launch_gates`` entry and its name ([definition, name])."""
    definition, name = pair
    check = dict((k, v) for k, v in (definition or {}).items() if k in CHECK_KEYS and v is not None)
    check["name"] = name
    return check


def record_checks(checks):
    """metric_gate / hold check results as run records: {name, query, value, threshold, op, verdict}."""
    out = []
    for c in checks or []:
        if c.get("max_ratio") is not None:
            op, threshold = "ratio<=", c["max_ratio"]
        elif c.get("max") is not None:
            op, threshold = "<=", c["max"]
        else:
            op, threshold = ">=", c.get("min")
        out.append({"name": c.get("name"), "query": c.get("query"), "value": c.get("value"), "threshold": threshold,
                    "op": op, "verdict": c.get("verdict"), "reason": c.get("reason")})
    return out

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Go/no-go records of the week gates, in the ``decisions`` stream format of CONTRACT.md.

``{gate, app, criteria: [{name, measured, threshold, op, met}], verdict: GO|NO-GO, decided_by,
decided_at, reason}``. A "GO with known issues" (test gate) or "GO with monitoring" (load gate)
is a GO whose ``reason`` says so; the known issues are listed in the reason and returned beside
the record by the modules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import operator

GO = "GO"
NO_GO = "NO-GO"
OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}


def utc_now():
    """ISO 8601 UTC with a trailing Z, second precision (the records' time format)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def criterion(name, measured, op, threshold):
    """One criterion; a criterion that could not be measured (None) is not met: gates fail closed."""
    if op not in OPS:
        raise ValueError("op %r: expected one of %s" % (op, ", ".join(OPS)))
    met = measured is not None and bool(OPS[op](measured, threshold))
    return {"name": name, "measured": measured, "threshold": threshold, "op": op, "met": met}


def decision(gate, app, criteria, verdict, reason, decided_by="automatic", decided_at=None):
    if verdict not in (GO, NO_GO):
        raise ValueError("verdict %r: expected GO or NO-GO" % (verdict,))
    return {"gate": gate, "app": app, "criteria": list(criteria), "verdict": verdict,
            "decided_by": decided_by, "decided_at": decided_at or utc_now(), "reason": reason}


def unmet(criteria):
    """Human-readable list of the criteria not met, with their numbers."""
    return ["%s %s (needs %s %s)" % (c["name"], "not measured" if c["measured"] is None else c["measured"],
                                     c["op"], c["threshold"]) for c in criteria if not c["met"]]


def decide(gate, app, criteria=(), decisions=(), decided_by="automatic"):
    """A decision from explicit criteria ({name, measured, op, threshold}) and earlier decisions.

    Each earlier decision becomes the criterion ``<gate>:<app>`` (its verdict must be GO); the reason
    quotes the NO-GO ones, and the GO ones whose reason qualifies them ("GO with ...").
    """
    built = []
    for i, c in enumerate(criteria):
        if not isinstance(c, dict) or not c.get("name") or "op" not in c or "threshold" not in c:
            raise ValueError("criteria[%d]: expected a mapping with name, measured, op and threshold" % i)
        built.append(criterion(c["name"], c.get("measured"), c["op"], c["threshold"]))
    notes = []
    for i, d in enumerate(decisions):
        if not isinstance(d, dict) or d.get("verdict") not in (GO, NO_GO) or not d.get("gate"):
            raise ValueError("decisions[%d]: expected a decision record with gate and verdict GO or NO-GO" % i)
        name = "%s:%s" % (d["gate"], d.get("app", "all"))
        built.append(criterion(name, d["verdict"], "==", GO))
        if d["verdict"] == NO_GO or str(d.get("reason", "")).startswith("GO with"):
            notes.append("%s %s: %s" % (name, d["verdict"], d.get("reason", "")))
    if not built:
        raise ValueError("criteria, decisions: nothing to decide on")
    failed = unmet(built)
    if failed:
        reason = "not met: " + "; ".join(failed) + ("; " + " | ".join(notes) if notes else "")
        return decision(gate, app, built, NO_GO, reason, decided_by)
    reason = "all %d criteria met" % len(built) + ("; " + " | ".join(notes) if notes else "")
    return decision(gate, app, built, GO, reason, decided_by)

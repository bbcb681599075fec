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

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Test-execution gate (runbook risk R1) from JUnit XML reports such as pytest's ``--junitxml``.

The runbook's rule, thresholds being parameters: a failure ratio under ``go_below`` (5 %) is GO;
up to ``nogo_above`` (10 %) is GO with the failures listed as known issues ("non-critical");
above it is NO-GO (critical, delay). A failing test whose name matches one of ``critical_tests``
is NO-GO whatever the ratio. Failures and errors both count as failed; skipped tests are not
executed and are left out of the ratio. No executed test at all is NO-GO (fails closed).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import xml.etree.ElementTree as ET  # nosec B405 - reports come from the project's own CI runs

from ansible_collections.greenlang.launch.plugins.module_utils.gate_record import GO, NO_GO, criterion, decision

MAX_LISTED = 50  # known issues listed in a record; the count is always complete


class JUnitError(ValueError):
    """A report that cannot be read; the message names the file."""


def _cases(root):
    if root.tag == "testcase":
        return [root]
    return list(root.iter("testcase"))


def parse_junit(text, source="report"):
    """Test cases of one JUnit XML document: [{id, outcome: passed|failed|error|skipped, message}]."""
    try:
        root = ET.fromstring(text)  # nosec B314
    except ET.ParseError as exc:
        raise JUnitError("%s: not JUnit XML (%s)" % (source, exc)) from None
    if root.tag not in ("testsuites", "testsuite", "testcase"):
        raise JUnitError("%s: root element <%s>, expected <testsuites> or <testsuite>" % (source, root.tag))
    cases = []
    for case in _cases(root):
        name = case.get("name", "?")
        classname = case.get("classname", "")
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            child = case.find(tag)
            if child is not None:
                outcome = "failed" if tag == "failure" else tag
                message = (child.get("message") or (child.text or "")).strip().splitlines()[:1]
                message = message[0][:200] if message else ""
                break
        cases.append({"id": "%s::%s" % (classname, name) if classname else name, "outcome": outcome,
                      "message": message, "source": source})
    return cases


def evaluate(cases, go_below=0.05, nogo_above=0.10, critical_tests=(), app="all"):
    """The gate's decision record plus the known issues (failed tests) it lists."""
    if not 0 <= go_below <= nogo_above <= 1:
        raise ValueError("thresholds: expected 0 <= go_below (%s) <= nogo_above (%s) <= 1" % (go_below, nogo_above))
    executed = [c for c in cases if c["outcome"] != "skipped"]
    failed = [c for c in executed if c["outcome"] in ("failed", "error")]
    ratio = round(len(failed) / float(len(executed)), 4) if executed else None
    critical = [c for c in failed if any(fnmatch.fnmatchcase(c["id"], p) for p in critical_tests)]
    criteria = [
        criterion("tests_executed", len(executed), ">", 0),
        criterion("failure_ratio", ratio, "<=", nogo_above),
        criterion("critical_tests_failed", len(critical), "==", 0),
    ]
    summary = "%d of %d executed tests failed (%s)" % (
        len(failed), len(executed), "n/a" if ratio is None else "%.1f %%" % (ratio * 100))
    known = ["%s: %s" % (c["id"], c["message"]) if c["message"] else c["id"] for c in failed]
    listed = "; ".join(known[:MAX_LISTED])
    if len(known) > MAX_LISTED:
        listed += " (+%d more)" % (len(known) - MAX_LISTED)
    if not executed:
        verdict, reason = NO_GO, "no executed test in the reports"
    elif critical:
        verdict, reason = NO_GO, "%s; critical tests failed: %s" % (summary, ", ".join(c["id"] for c in critical))
    elif ratio > nogo_above:
        verdict, reason = NO_GO, "%s, above %.1f %%: critical, delay" % (summary, nogo_above * 100)
    elif ratio >= go_below:
        verdict, reason = GO, "GO with known issues: %s (%.1f-%.1f %%): %s" % (
            summary, go_below * 100, nogo_above * 100, listed)
    else:
        verdict, reason = GO, summary + (": " + listed if known else "")
    record = decision("test_execution", app, criteria, verdict, reason)
    counts = {"total": len(cases), "executed": len(executed), "failed": len(failed),
              "skipped": len(cases) - len(executed), "failure_ratio": ratio}
    return record, known, counts

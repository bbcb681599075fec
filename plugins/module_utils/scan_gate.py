# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Security gate (runbook risk R7) from scanner reports in their own formats.

Formats: ``pip-audit`` JSON (``pip-audit -f json``), ``bandit`` JSON (``bandit -f json``), ``trivy`` JSON
(``trivy ... -f json``, vulnerabilities, misconfigurations and secrets) and SARIF 2.1.0 (any tool).
Every finding becomes ``{tool, id, aliases, severity, title, location}`` with severity one of
CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN.

Rules: a CRITICAL finding is NO-GO; a HIGH finding is NO-GO unless it is accepted (by id or alias,
with a reason); MEDIUM, LOW and UNKNOWN are listed. pip-audit's JSON carries no severity: its
findings get ``pip_audit_severity`` (HIGH by default, so a known vulnerability needs a decision).
SARIF severity comes from the rule's or result's ``security-severity`` score (CVSS bands: 9.0
critical, 7.0 high, 4.0 medium, above 0 low), else from ``level`` (error HIGH, warning MEDIUM,
note LOW).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.greenlang.launch.plugins.module_utils.gate_record import GO, NO_GO, criterion, decision

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
FORMATS = ("auto", "pip-audit", "bandit", "trivy", "sarif")


class ScanReportError(ValueError):
    """A report that cannot be read as its format; the message names the file."""


def _severity(value):
    value = str(value or "").upper()
    return value if value in SEVERITIES else "UNKNOWN"


def detect_format(doc):
    if isinstance(doc, dict):
        if "runs" in doc and ("$schema" in doc or "version" in doc):
            return "sarif"
        if "Results" in doc or "SchemaVersion" in doc or "ArtifactName" in doc:
            return "trivy"
        if "results" in doc and ("metrics" in doc or "generated_at" in doc):
            return "bandit"
        if "dependencies" in doc:
            return "pip-audit"
    if isinstance(doc, list) and all(isinstance(d, dict) and "vulns" in d for d in doc):
        return "pip-audit"  # pip-audit before 2.0 wrote the dependency list alone
    return None


def _pip_audit(doc, default_severity):
    deps = doc.get("dependencies", []) if isinstance(doc, dict) else doc
    for dep in deps:
        for vuln in dep.get("vulns") or []:
            yield {"tool": "pip-audit", "id": vuln.get("id", "?"), "aliases": list(vuln.get("aliases") or []),
                   "severity": default_severity, "title": (vuln.get("description") or "")[:200],
                   "location": "%s %s" % (dep.get("name", "?"), dep.get("version", "")),
                   "fix": ", ".join(vuln.get("fix_versions") or [])}


def _bandit(doc):
    for res in doc.get("results") or []:
        cwe = (res.get("issue_cwe") or {}).get("id")
        yield {"tool": "bandit", "id": res.get("test_id", "?"), "aliases": ["CWE-%s" % cwe] if cwe else [],
               "severity": _severity(res.get("issue_severity")), "title": res.get("issue_text", ""),
               "location": "%s:%s" % (res.get("filename", "?"), res.get("line_number", "?")), "fix": ""}


def _trivy(doc):
    for result in doc.get("Results") or []:
        target = result.get("Target", "?")
        for v in result.get("Vulnerabilities") or []:
            yield {"tool": "trivy", "id": v.get("VulnerabilityID", "?"), "aliases": [],
                   "severity": _severity(v.get("Severity")), "title": v.get("Title") or v.get("Description", "")[:200],
                   "location": "%s: %s %s" % (target, v.get("PkgName", "?"), v.get("InstalledVersion", "")),
                   "fix": v.get("FixedVersion", "")}
        for m in result.get("Misconfigurations") or []:
            if m.get("Status", "FAIL") != "FAIL":
                continue
            yield {"tool": "trivy", "id": m.get("ID") or m.get("AVDID", "?"),
                   "aliases": [m["AVDID"]] if m.get("AVDID") else [],
                   "severity": _severity(m.get("Severity")), "title": m.get("Title", ""), "location": target,
                   "fix": m.get("Resolution", "")}
        for s in result.get("Secrets") or []:
            yield {"tool": "trivy", "id": s.get("RuleID", "?"), "aliases": [],
                   "severity": _severity(s.get("Severity")), "title": s.get("Title", "secret"),
                   "location": "%s:%s" % (target, s.get("StartLine", "?")), "fix": ""}


def _sarif_severity(score, level):
    try:
        score = float(score)
    except (TypeError, ValueError):
        score = None
    if score is not None:
        if score >= 9.0:
            return "CRITICAL"
        if score >= 7.0:
            return "HIGH"
        if score >= 4.0:
            return "MEDIUM"
        return "LOW" if score > 0 else "UNKNOWN"
    return {"error": "HIGH", "warning": "MEDIUM", "note": "LOW"}.get(level, "UNKNOWN")


def _sarif(doc):
    for run in doc.get("runs") or []:
        driver = (run.get("tool") or {}).get("driver") or {}
        tool = driver.get("name", "sarif")
        rules = {r.get("id"): r for r in driver.get("rules") or []}
        for res in run.get("results") or []:
            rule = rules.get(res.get("ruleId"), {})
            score = (res.get("properties") or {}).get("security-severity",
                                                      (rule.get("properties") or {}).get("security-severity"))
            level = res.get("level") or (rule.get("defaultConfiguration") or {}).get("level", "warning")
            loc = ((res.get("locations") or [{}])[0].get("physicalLocation") or {})
            where = (loc.get("artifactLocation") or {}).get("uri", "?")
            line = (loc.get("region") or {}).get("startLine")
            yield {"tool": tool, "id": res.get("ruleId", "?"), "aliases": [],
                   "severity": _sarif_severity(score, level), "title": (res.get("message") or {}).get("text", "")[:200],
                   "location": "%s:%s" % (where, line) if line else where, "fix": ""}


def parse_report(text, fmt="auto", source="report", pip_audit_severity="HIGH"):
    """Findings of one report; ``fmt`` one of FORMATS."""
    if fmt not in FORMATS:
        raise ScanReportError("%s: format %r, expected one of %s" % (source, fmt, ", ".join(FORMATS)))
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ScanReportError("%s: not JSON (%s)" % (source, exc)) from None
    found = detect_format(doc) if fmt == "auto" else fmt
    if found is None:
        raise ScanReportError("%s: not a pip-audit, bandit, Trivy or SARIF report; set its format" % source)
    try:
        if found == "pip-audit":
            findings = list(_pip_audit(doc, _severity(pip_audit_severity)))
        elif found == "bandit":
            findings = list(_bandit(doc))
        elif found == "trivy":
            findings = list(_trivy(doc))
        else:
            findings = list(_sarif(doc))
    except (AttributeError, TypeError) as exc:
        raise ScanReportError("%s: not a valid %s report (%s)" % (source, found, exc)) from None
    for f in findings:
        f["source"] = source
    return found, findings


def check_accepted(accepted):
    """``accepted``: [{id, reason}], each with a non-empty reason (a risk acceptance says why)."""
    out = {}
    for i, item in enumerate(accepted or []):
        if not isinstance(item, dict) or not item.get("id"):
            raise ValueError("accepted[%d]: expected a mapping with id and reason" % i)
        if not str(item.get("reason") or "").strip():
            raise ValueError("accepted[%d] (%s): reason is required to accept a finding" % (i, item["id"]))
        out[str(item["id"])] = str(item["reason"]).strip()
    return out


def _label(f):
    return "%s %s %s (%s)" % (f["severity"], f["tool"], f["id"], f["location"])


def evaluate(findings, accepted=None, app="all"):
    """Decision record plus the findings sorted into blocking, accepted and listed."""
    accepted = check_accepted(accepted)
    blocking, accepted_found, listed = [], [], []
    for f in findings:
        reason = next((accepted[k] for k in [f["id"]] + f["aliases"] if k in accepted), None)
        if f["severity"] == "CRITICAL":
            f["accepted_reason"] = None  # a CRITICAL finding is never accepted: it is fixed
            blocking.append(f)
        elif f["severity"] == "HIGH":
            if reason:
                f["accepted_reason"] = reason
                accepted_found.append(f)
            else:
                blocking.append(f)
        else:
            listed.append(f)
    count = {s: sum(1 for f in findings if f["severity"] == s) for s in SEVERITIES}
    criteria = [
        criterion("critical_findings", count["CRITICAL"], "==", 0),
        criterion("unaccepted_high_findings", sum(1 for f in blocking if f["severity"] == "HIGH"), "==", 0),
    ]
    if blocking:
        verdict = NO_GO
        reason = "%d blocking finding(s): %s" % (len(blocking), "; ".join(_label(f) for f in blocking[:20]))
    else:
        verdict = GO
        reason = "no CRITICAL or unaccepted HIGH finding"
        if accepted_found:
            reason += "; accepted HIGH: " + "; ".join(
                "%s: %s" % (_label(f), f["accepted_reason"]) for f in accepted_found)
        if listed:
            reason += "; listed: %d MEDIUM, %d LOW, %d UNKNOWN" % (count["MEDIUM"], count["LOW"], count["UNKNOWN"])
    record = decision("security", app, criteria, verdict, reason)
    return record, {"blocking": blocking, "accepted": accepted_found, "listed": listed, "counts": count}

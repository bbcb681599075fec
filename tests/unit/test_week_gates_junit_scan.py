"""Test-execution and security gates: the runbook's thresholds and rules on real report formats."""

import json

import pytest
from ansible_collections.greenlang.launch.plugins.module_utils import junit_gate as j
from ansible_collections.greenlang.launch.plugins.module_utils import scan_gate as s


def junit(passed, failed, errors=0, skipped=0, failed_name="test_fail"):
    api = 'classname="tests.test_api"'
    cases = [f'<testcase {api} name="test_ok_{i}" time="0.01"/>' for i in range(passed)]
    cases += [f'<testcase {api} name="{failed_name}_{i}"><failure message="assert 1 == 2">tb</failure></testcase>'
              for i in range(failed)]
    cases += [f'<testcase classname="tests.test_db" name="test_err_{i}"><error message="fixture broke"/></testcase>'
              for i in range(errors)]
    cases += [f'<testcase {api} name="test_skip_{i}"><skipped message="no gpu"/></testcase>' for i in range(skipped)]
    suite = f'<testsuite name="pytest" tests="{len(cases)}">{"".join(cases)}</testsuite>'
    return f'<?xml version="1.0"?><testsuites>{suite}</testsuites>'.encode()


@pytest.mark.parametrize("failed, verdict, phrase", [
    (4, "GO", "4 of 100"),                      # 4 % < 5 %
    (5, "GO", "GO with known issues"),          # 5 % is in the 5-10 % band
    (10, "GO", "GO with known issues"),         # 10 % still GO with known issues
    (12, "NO-GO", "critical, delay"),           # the planted 12 %
])
def test_failure_ratio_bands_follow_the_runbook(failed, verdict, phrase):
    record, known, counts = j.evaluate(j.parse_junit(junit(100 - failed, failed)))
    assert record["verdict"] == verdict
    assert phrase in record["reason"]
    assert counts["failure_ratio"] == failed / 100
    assert len(known) == failed


def test_known_issues_name_the_failed_tests_and_their_message():
    record, known, _ = j.evaluate(j.parse_junit(junit(93, 6, errors=1)))
    assert "tests.test_api::test_fail_0: assert 1 == 2" in known
    assert "tests.test_db::test_err_0: fixture broke" in known
    assert "tests.test_api::test_fail_5" in record["reason"]


def test_skipped_tests_do_not_count_as_executed():
    _, _, counts = j.evaluate(j.parse_junit(junit(90, 5, skipped=50)))
    assert counts["executed"] == 95 and counts["skipped"] == 50
    assert counts["failure_ratio"] == round(5 / 95, 4)


def test_a_failed_critical_test_is_nogo_at_a_low_ratio():
    record, _, _ = j.evaluate(j.parse_junit(junit(99, 1, failed_name="test_payment")),
                              critical_tests=["tests.test_api::test_payment*"])
    assert record["verdict"] == "NO-GO" and "critical tests failed" in record["reason"]


def test_thresholds_are_parameters():
    record, _, _ = j.evaluate(j.parse_junit(junit(97, 3)), go_below=0.01, nogo_above=0.02)
    assert record["verdict"] == "NO-GO"
    with pytest.raises(ValueError, match="go_below"):
        j.evaluate([], go_below=0.2, nogo_above=0.1)


def test_no_executed_test_fails_closed():
    record, _, _ = j.evaluate(j.parse_junit(junit(0, 0, skipped=3)))
    assert record["verdict"] == "NO-GO" and record["criteria"][0]["met"] is False


def test_unreadable_report_names_the_file():
    with pytest.raises(j.JUnitError, match="ci/unit.xml: not JUnit XML"):
        j.parse_junit(b"<testsuite", source="ci/unit.xml")
    with pytest.raises(j.JUnitError, match="root element <html>"):
        j.parse_junit(b"<html/>", source="x")


def test_record_has_the_decisions_stream_fields():
    record, _, _ = j.evaluate(j.parse_junit(junit(10, 0)), app="cbam")
    assert set(record) == {"gate", "app", "criteria", "verdict", "decided_by", "decided_at", "reason"}
    assert record["decided_at"].endswith("Z") and record["app"] == "cbam"
    assert set(record["criteria"][0]) == {"name", "measured", "threshold", "op", "met"}


# ---- security ---------------------------------------------------------------------------------
PIP_AUDIT = {"dependencies": [
    {"name": "requests", "version": "2.19.0", "vulns": [
        {"id": "PYSEC-2018-28", "fix_versions": ["2.20.0"], "aliases": ["CVE-2018-18074"], "description": "leak"}]},
    {"name": "idna", "version": "3.7", "vulns": []}], "fixes": []}
BANDIT = {"generated_at": "2026-06-01T00:00:00Z", "metrics": {}, "errors": [], "results": [
    {"filename": "app/db.py", "line_number": 12, "issue_severity": "MEDIUM", "issue_confidence": "HIGH",
     "issue_text": "Possible SQL injection", "test_id": "B608", "issue_cwe": {"id": 89}},
    {"filename": "app/util.py", "line_number": 3, "issue_severity": "LOW", "issue_confidence": "HIGH",
     "issue_text": "subprocess import", "test_id": "B404"}]}
TRIVY = {"SchemaVersion": 2, "ArtifactName": "registry/cbam:v2", "Results": [
    {"Target": "cbam:v2 (debian 12)", "Vulnerabilities": [
        {"VulnerabilityID": "CVE-2024-0001", "PkgName": "openssl", "InstalledVersion": "3.0.1",
         "FixedVersion": "3.0.2", "Severity": "CRITICAL", "Title": "remote code execution"},
        {"VulnerabilityID": "CVE-2024-0002", "PkgName": "zlib", "InstalledVersion": "1.2", "Severity": "LOW"}],
     "Misconfigurations": [{"ID": "DS002", "Title": "root user", "Severity": "HIGH", "Status": "FAIL"},
                           {"ID": "DS005", "Title": "ok", "Severity": "HIGH", "Status": "PASS"}]}]}
SARIF = {"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "runs": [{
    "tool": {"driver": {"name": "CodeQL", "rules": [
        {"id": "py/sql-injection", "properties": {"security-severity": "8.8"}},
        {"id": "py/weak-crypto", "properties": {"security-severity": "9.1"}},
        {"id": "py/unused-import", "defaultConfiguration": {"level": "note"}}]}},
    "results": [
        {"ruleId": "py/sql-injection", "message": {"text": "query built from user input"},
         "locations": [{"physicalLocation": {"artifactLocation": {"uri": "app/q.py"}, "region": {"startLine": 7}}}]},
        {"ruleId": "py/unused-import", "message": {"text": "unused"}}]}]}


@pytest.mark.parametrize("doc, fmt", [(PIP_AUDIT, "pip-audit"), (BANDIT, "bandit"), (TRIVY, "trivy"),
                                      (SARIF, "sarif"), (PIP_AUDIT["dependencies"], "pip-audit")])
def test_each_format_is_recognised_from_its_content(doc, fmt):
    assert s.parse_report(json.dumps(doc))[0] == fmt


def test_findings_get_their_severity_from_each_format():
    sev = {f["id"]: f["severity"] for doc in (PIP_AUDIT, BANDIT, TRIVY, SARIF)
           for f in s.parse_report(json.dumps(doc))[1]}
    assert sev == {"PYSEC-2018-28": "HIGH", "B608": "MEDIUM", "B404": "LOW", "CVE-2024-0001": "CRITICAL",
                   "CVE-2024-0002": "LOW", "DS002": "HIGH", "py/sql-injection": "HIGH", "py/unused-import": "LOW"}


def test_a_critical_finding_is_nogo_even_when_listed_as_accepted():
    findings = s.parse_report(json.dumps(TRIVY))[1]
    record, out = s.evaluate(findings, accepted=[{"id": "CVE-2024-0001", "reason": "we like it"},
                                                 {"id": "DS002", "reason": "runs as uid 10001 via securityContext"}])
    assert record["verdict"] == "NO-GO"
    assert "CRITICAL trivy CVE-2024-0001" in record["reason"]
    assert [f["id"] for f in out["accepted"]] == ["DS002"]


def test_high_findings_block_unless_accepted_by_id_or_alias():
    findings = s.parse_report(json.dumps(PIP_AUDIT))[1] + s.parse_report(json.dumps(BANDIT))[1]
    record, _ = s.evaluate(findings)
    assert record["verdict"] == "NO-GO" and "PYSEC-2018-28" in record["reason"]
    record, out = s.evaluate(findings, accepted=[{"id": "CVE-2018-18074", "reason": "no proxy auth used (SEC-9)"}])
    assert record["verdict"] == "GO"
    assert "no proxy auth used" in record["reason"] and "1 MEDIUM, 1 LOW" in record["reason"]
    assert [f["id"] for f in out["listed"]] == ["B608", "B404"]


def test_sarif_security_severity_bands():
    assert s._sarif_severity("9.1", "warning") == "CRITICAL"
    assert s._sarif_severity("7.0", None) == "HIGH"
    assert s._sarif_severity(None, "warning") == "MEDIUM"
    assert s._sarif_severity(None, "error") == "HIGH"


def test_an_acceptance_needs_a_reason():
    with pytest.raises(ValueError, match=r"accepted\[0\] \(CVE-1\): reason is required"):
        s.evaluate([], accepted=[{"id": "CVE-1", "reason": " "}])


def test_unknown_report_says_to_set_its_format():
    with pytest.raises(s.ScanReportError, match="scan.json: not a pip-audit, bandit, Trivy or SARIF report"):
        s.parse_report('{"hello": 1}', source="scan.json")


# ---- combined decisions ------------------------------------------------------------------------
def test_week_decision_is_nogo_when_one_gate_is_and_quotes_its_reason():
    from ansible_collections.greenlang.launch.plugins.module_utils.gate_record import decide

    tests, _, _ = j.evaluate(j.parse_junit(junit(88, 12)))
    security, _ = s.evaluate([])
    record = decide("week2-go", "all", [{"name": "backups_verified", "measured": 3, "op": "==", "threshold": 3}],
                    [tests, security])
    assert record["verdict"] == "NO-GO"
    assert "test_execution:all NO-GO (needs == GO)" in record["reason"] and "12.0 %" in record["reason"]


def test_week_decision_keeps_go_with_known_issues_visible():
    from ansible_collections.greenlang.launch.plugins.module_utils.gate_record import decide

    tests, _, _ = j.evaluate(j.parse_junit(junit(93, 7)))
    record = decide("week2-go", "all", decisions=[tests])
    assert record["verdict"] == "GO" and "GO with known issues" in record["reason"]
    unmeasured = decide("backup", "vcci", [{"name": "verified", "measured": None, "op": "==", "threshold": True}])
    assert unmeasured["verdict"] == "NO-GO" and "verified not measured" in unmeasured["reason"]

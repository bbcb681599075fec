#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: scan_gate
short_description: Go/no-go on security scanner reports (pip-audit, bandit, Trivy, SARIF)
version_added: 0.1.0
description:
  - Reads scanner reports in their own JSON formats, pip-audit (C(pip-audit -f json)), bandit (C(bandit -f json)),
    Trivy (C(trivy image -f json), vulnerabilities, misconfigurations and secrets) and SARIF 2.1.0 from any tool,
    and decides with the runbook's rule for risk R7.
  - A CRITICAL finding is NO-GO and cannot be accepted. A HIGH finding is NO-GO unless its id (or one of its
    aliases, such as a CVE of a PYSEC advisory) is listed in O(accepted) with a reason. MEDIUM, LOW and UNKNOWN
    findings are listed.
  - pip-audit's JSON has no severity; its findings get O(pip_audit_severity). SARIF severities come from the
    C(security-severity) property (9.0 and above CRITICAL, 7.0 HIGH, 4.0 MEDIUM, above 0 LOW), else from the result
    level (error HIGH, warning MEDIUM, note LOW).
  - Returns a decision record in the collection's C(decisions) format; writes nothing.
author:
  - GreenLang platform engineering (@greenlang)
options:
  reports:
    description:
      - Reports to read. Each item is a path, or a mapping with C(path) and C(format).
      - C(format) is one of C(auto) (default, detected from the content), C(pip-audit), C(bandit), C(trivy), C(sarif).
    type: list
    elements: raw
    required: true
  accepted:
    description:
      - HIGH findings accepted as risks, each C({id, reason}). C(reason) is required. CRITICAL findings are never
        accepted.
    type: list
    elements: dict
    default: []
  pip_audit_severity:
    description:
      - Severity given to pip-audit findings, which carry none.
    type: str
    choices: [CRITICAL, HIGH, MEDIUM, LOW]
    default: HIGH
  app:
    description:
      - App the decision is about.
    type: str
    default: all
  fail_on_nogo:
    description:
      - Fail the task when the verdict is NO-GO.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - greenlang.launch.read_only_attributes
seealso:
  - module: greenlang.launch.launch_record
"""

EXAMPLES = r"""
- name: Security gate over this week's scans
  greenlang.launch.scan_gate:
    reports:
      - /var/lib/ci/scans/pip-audit.json
      - /var/lib/ci/scans/bandit.json
      - {path: /var/lib/ci/scans/trivy-cbam.json, format: trivy}
      - /var/lib/ci/scans/codeql.sarif
    accepted:
      - id: CVE-2024-3651
        reason: "idna DoS needs attacker-controlled hostnames; not reachable in cbam (SEC-112)"
  register: security
"""

RETURN = r"""
decision:
  description: Decision record (gate C(security)) with criteria C(critical_findings) and C(unaccepted_high_findings).
  returned: success
  type: dict
verdict:
  description: C(GO) or C(NO-GO).
  returned: success
  type: str
blocking:
  description: Findings that make it NO-GO, each C({tool, id, aliases, severity, title, location, fix, source}).
  returned: success
  type: list
  elements: dict
accepted:
  description: HIGH findings accepted, with C(accepted_reason).
  returned: success
  type: list
  elements: dict
listed:
  description: MEDIUM, LOW and UNKNOWN findings.
  returned: success
  type: list
  elements: dict
counts:
  description: Findings per severity.
  returned: success
  type: dict
formats:
  description: Format read from each report, by path.
  returned: success
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.validation import check_type_path
from ansible_collections.greenlang.launch.plugins.module_utils.scan_gate import (
    FORMATS,
    ScanReportError,
    evaluate,
    parse_report,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            reports=dict(type="list", elements="raw", required=True),
            accepted=dict(type="list", elements="dict", default=[]),
            pip_audit_severity=dict(type="str", default="HIGH", choices=["CRITICAL", "HIGH", "MEDIUM", "LOW"]),
            app=dict(type="str", default="all"),
            fail_on_nogo=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not p["reports"]:
        module.fail_json(msg="reports: at least one report is required")
    findings, formats = [], {}
    for i, item in enumerate(p["reports"]):
        spec = item if isinstance(item, dict) else {"path": item}
        path, fmt = spec.get("path"), spec.get("format", "auto")
        if not path:
            module.fail_json(msg="reports[%d]: expected a path or a mapping with path" % i)
        if fmt not in FORMATS:
            module.fail_json(msg="reports[%d].format %r: expected one of %s" % (i, fmt, ", ".join(FORMATS)))
        path = check_type_path(path)  # an item may be a mapping, so the spec cannot say type=path
        if not os.path.isfile(path):
            module.fail_json(msg="reports[%d]: %s does not exist or is not a file" % (i, path))
        with open(path, "rb") as fh:
            try:
                formats[path], found = parse_report(fh.read().decode("utf-8", "replace"), fmt, path,
                                                    p["pip_audit_severity"])
            except ScanReportError as exc:
                module.fail_json(msg="reports[%d]: %s" % (i, exc))
        findings.extend(found)
    try:
        record, sorted_findings = evaluate(findings, p["accepted"], p["app"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    result = dict(changed=False, decision=record, verdict=record["verdict"], formats=formats, **sorted_findings)
    if p["fail_on_nogo"] and record["verdict"] == "NO-GO":
        module.fail_json(msg="NO-GO: %s" % record["reason"], **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: junit_gate
short_description: Go/no-go on test execution from JUnit XML reports
version_added: 0.1.0
description:
  - Reads JUnit XML reports (for example pytest's C(--junitxml)) and decides with the runbook's rule for risk R1.
  - A failure ratio (failed and errored tests over executed tests; skipped tests are not executed) under
    O(go_below) is GO; from O(go_below) up to O(nogo_above) is GO with the failed tests listed as known issues;
    above O(nogo_above) is NO-GO (critical, delay the launch).
  - A failed test matching one of O(critical_tests) is NO-GO whatever the ratio. Reports without any executed
    test are NO-GO (the gate fails closed).
  - Returns a decision record in the collection's C(decisions) format (see M(greenlang.launch.launch_record));
    it writes nothing, so it never changes anything and behaves the same in check mode.
author:
  - GreenLang platform engineering (@greenlang)
options:
  reports:
    description:
      - Paths of JUnit XML files on the host the module runs on. Every file must exist and parse.
    type: list
    elements: path
    required: true
  go_below:
    description:
      - Failure ratio (0 to 1) under which the verdict is a plain GO.
    type: float
    default: 0.05
  nogo_above:
    description:
      - Failure ratio (0 to 1) above which the verdict is NO-GO.
    type: float
    default: 0.10
  critical_tests:
    description:
      - Shell-style patterns of test ids (C(classname::name)) whose failure is NO-GO at any ratio.
    type: list
    elements: str
    default: []
  app:
    description:
      - App the decision is about (C(all) for the whole suite).
    type: str
    default: all
  fail_on_nogo:
    description:
      - Fail the task when the verdict is NO-GO (the message is the reason).
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - greenlang.launch.read_only_attributes
seealso:
  - module: greenlang.launch.launch_record
"""

EXAMPLES = r"""
- name: Decide on the test run of week 1
  greenlang.launch.junit_gate:
    reports:
      - /var/lib/ci/reports/unit.xml
      - /var/lib/ci/reports/integration.xml
    critical_tests: ["tests/integration/test_payments*"]
  register: tests

- name: Show the decision
  ansible.builtin.debug:
    msg: "{{ tests.decision.verdict }}: {{ tests.decision.reason }}"
"""

RETURN = r"""
decision:
  description: Decision record (gate C(test_execution)) with criteria C(tests_executed), C(failure_ratio),
    C(critical_tests_failed).
  returned: success
  type: dict
  sample: {"gate": "test_execution", "app": "all", "verdict": "NO-GO", "decided_by": "automatic",
           "decided_at": "2026-06-01T08:00:00Z",
           "reason": "12 of 100 executed tests failed (12.0 %), above 10.0 %: critical, delay",
           "criteria": [{"name": "failure_ratio", "measured": 0.12, "threshold": 0.1, "op": "<=", "met": false}]}
verdict:
  description: C(GO) or C(NO-GO).
  returned: success
  type: str
known_issues:
  description: The failed tests, each its id then the first line of its message.
  returned: success
  type: list
  elements: str
counts:
  description: C(total), C(executed), C(failed), C(skipped), C(failure_ratio).
  returned: success
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils.junit_gate import JUnitError, evaluate, parse_junit


def main():
    module = AnsibleModule(
        argument_spec=dict(
            reports=dict(type="list", elements="path", required=True),
            go_below=dict(type="float", default=0.05),
            nogo_above=dict(type="float", default=0.10),
            critical_tests=dict(type="list", elements="str", default=[]),
            app=dict(type="str", default="all"),
            fail_on_nogo=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not p["reports"]:
        module.fail_json(msg="reports: at least one JUnit XML file is required")
    cases = []
    for path in p["reports"]:
        if not os.path.isfile(path):
            module.fail_json(msg="reports: %s does not exist or is not a file" % path)
        with open(path, "rb") as fh:
            try:
                cases.extend(parse_junit(fh.read(), source=path))
            except JUnitError as exc:
                module.fail_json(msg="reports: %s" % exc)
    try:
        record, known, counts = evaluate(cases, p["go_below"], p["nogo_above"], p["critical_tests"], p["app"])
    except ValueError as exc:
        module.fail_json(msg="go_below/nogo_above: %s" % exc)
    result = dict(changed=False, decision=record, verdict=record["verdict"], known_issues=known, counts=counts)
    if p["fail_on_nogo"] and record["verdict"] == "NO-GO":
        module.fail_json(msg="NO-GO: %s" % record["reason"], **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: gate_decision
short_description: Go/no-go from measured criteria and from earlier decisions
version_added: 0.1.0
description:
  - Builds a decision record in the collection's C(decisions) format (see M(greenlang.launch.launch_record)) from
    criteria measured elsewhere (for example that every backup was verified by a test restore) and from earlier
    decision records (for example the week's gates for the week's go/no-go).
  - Every criterion must be met and every earlier decision must be GO for a GO. A criterion without a measured
    value is not met (fails closed). The reason lists what was not met, and quotes NO-GO decisions and GO decisions
    with qualifications (C(GO with known issues), C(GO with monitoring)).
  - Computes only; writes nothing; behaves the same in check mode.
author:
  - GreenLang platform engineering (@greenlang)
options:
  gate:
    description: Gate name of the decision, for example C(week2-go).
    type: str
    required: true
  app:
    description: App the decision is about.
    type: str
    default: all
  criteria:
    description: Criteria, each C({name, measured, op, threshold}); C(op) one of C(<), C(<=), C(>), C(>=), C(==).
    type: list
    elements: dict
    default: []
  decisions:
    description: Earlier decision records; each must be GO.
    type: list
    elements: dict
    default: []
  decided_by:
    description: Who decided (an approver's name, or C(automatic)).
    type: str
    default: automatic
  fail_on_nogo:
    description: Fail the task when the verdict is NO-GO.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - greenlang.launch.read_only_attributes
"""

EXAMPLES = r"""
- name: Week 1 go/no-go for week 2
  greenlang.launch.gate_decision:
    gate: week2-go
    decisions:
      - "{{ test_gate_decision }}"
      - "{{ security_gate_decision }}"
      - "{{ breaker_drill_decision }}"
    criteria:
      - {name: backups_verified, measured: 3, op: "==", threshold: 3}
  register: week2_go
"""

RETURN = r"""
decision:
  description: The decision record.
  returned: success
  type: dict
verdict:
  description: C(GO) or C(NO-GO).
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils.gate_record import decide


def main():
    module = AnsibleModule(
        argument_spec=dict(
            gate=dict(type="str", required=True),
            app=dict(type="str", default="all"),
            criteria=dict(type="list", elements="dict", default=[]),
            decisions=dict(type="list", elements="dict", default=[]),
            decided_by=dict(type="str", default="automatic"),
            fail_on_nogo=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        record = decide(p["gate"], p["app"], p["criteria"], p["decisions"], p["decided_by"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    result = dict(changed=False, decision=record, verdict=record["verdict"])
    if p["fail_on_nogo"] and record["verdict"] == "NO-GO":
        module.fail_json(msg="NO-GO: %s" % record["reason"], **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

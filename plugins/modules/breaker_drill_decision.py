#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: breaker_drill_decision
short_description: Go/no-go of a circuit-breaker drill from its watched phases
version_added: 0.1.0
description:
  - Turns the phases of a circuit-breaker drill (results of M(greenlang.launch.breaker_watch)) into a decision
    record in the collection's C(decisions) format, gate C(circuit_breakers). Runbook risk R4.
  - Each breaker must have opened after its fault, passed its fallback probes, half-opened (where the drill
    expects it) and closed after recovery; any phase that timed out is NO-GO, the reason naming the breaker, the
    phase and the states seen.
  - Computes only; behaves the same in check mode.
author:
  - GreenLang platform engineering (@greenlang)
options:
  breakers:
    description:
      - One entry per drilled breaker, C({name, opened, half_opened, closed, probes}); C(opened), C(half_opened)
        and C(closed) are registered M(greenlang.launch.breaker_watch) results (C(half_opened) omitted or null when
        the fault cannot produce a half-open state), C(probes) the probe results of the C(opened) phase.
    type: list
    elements: dict
    required: true
  app:
    description: App drilled.
    type: str
    default: vcci
  fail_on_nogo:
    description: Fail the task when the verdict is NO-GO.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - greenlang.launch.read_only_attributes
"""

EXAMPLES = r"""
- name: Decide on the drill
  greenlang.launch.breaker_drill_decision:
    app: vcci
    breakers:
      - name: database
        opened: "{{ db_opened }}"
        half_opened: "{{ db_half_opened }}"
        closed: "{{ db_closed }}"
        probes: "{{ db_opened.probes }}"
"""

RETURN = r"""
decision:
  description: Decision record; criteria C(<breaker>.opened), C(<breaker>.half_opened), C(<breaker>.closed),
    C(<breaker>.fallback_probes_failed).
  returned: success
  type: dict
verdict:
  description: C(GO) or C(NO-GO).
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils.breaker_drill import DrillError, evaluate


def main():
    module = AnsibleModule(
        argument_spec=dict(
            breakers=dict(type="list", elements="dict", required=True),
            app=dict(type="str", default="vcci"),
            fail_on_nogo=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    for i, b in enumerate(p["breakers"]):
        if not b.get("name"):
            module.fail_json(msg="breakers[%d]: name is required" % i)
    try:
        record = evaluate(p["breakers"], p["app"])
    except DrillError as exc:
        module.fail_json(msg=str(exc))
    result = dict(changed=False, decision=record, verdict=record["verdict"])
    if p["fail_on_nogo"] and record["verdict"] == "NO-GO":
        module.fail_json(msg="NO-GO: %s" % record["reason"], **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

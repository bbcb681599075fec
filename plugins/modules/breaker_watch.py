#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: breaker_watch
short_description: Wait until a circuit breaker reports a state on every pod, and probe what the pods serve
version_added: 0.1.0
description:
  - Polls C(<url>/health/detailed) of every pod in O(urls) until each reports O(breaker) in state O(until)
    (C(closed), C(open) or C(half_open)) or O(timeout) passes, and records the states each pod went through.
    A C(503) answer is read too (an unhealthy pod still describes its breakers).
  - Then runs O(probes) against every pod, to check what the pod serves while the breaker is in that state (the
    fallback), for example that requests not needing the failed dependency still answer C(200) and that those
    needing it fail fast with C(503).
  - One phase of a circuit-breaker drill (the role C(greenlang.launch.breaker_drill) composes the phases); read-only,
    so it behaves the same in check mode.
author:
  - GreenLang platform engineering (@greenlang)
options:
  urls:
    description: Base URLs of the pods, for example C(http://10.1.2.3:8080).
    type: list
    elements: str
    required: true
  breaker:
    description: Breaker name as C(/health/detailed) reports it (C(circuit_breakers.<name>)).
    type: str
    required: true
  until:
    description: State to wait for.
    type: str
    choices: [closed, open, half_open]
    required: true
  timeout:
    description: Longest wait in seconds.
    type: float
    default: 30
  interval:
    description: Seconds between polls.
    type: float
    default: 0.5
  probes:
    description:
      - Requests sent to every pod once the state is reached (also when it is not, to say what was served).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Label in the results.
        type: str
      method:
        description: HTTP method.
        type: str
        default: GET
      path:
        description: Request path.
        type: str
        required: true
      body:
        description: JSON body.
        type: raw
      expect_status:
        description: Status the pod must answer.
        type: int
        required: true
      max_seconds:
        description: Slowest acceptable answer (a breaker that is open fails fast).
        type: float
        default: 2
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: The factor_service breaker opens and the hotspots endpoint still serves
  greenlang.launch.breaker_watch:
    urls: ["http://10.1.2.3:8080"]
    breaker: factor_service
    until: open
    timeout: 30
    probes:
      - {name: hotspots still served, path: /api/v1/hotspots, expect_status: 200}
      - {name: calculator fails fast, method: POST, path: /api/v1/calculator/category1,
         body: {items: [{category: metals, spend: 1000}]}, expect_status: 503, max_seconds: 1}
  register: opened
"""

RETURN = r"""
reached:
  description: Whether every pod reported the state within the timeout.
  returned: success
  type: bool
elapsed_s:
  description: Seconds watched.
  returned: success
  type: float
pods:
  description: Per URL, C(seen) (states in order, C(unreachable) when it did not answer), C(reached_after_s),
    C(last_status).
  returned: success
  type: dict
probes:
  description: Per probe and pod, C(name), C(url), C(status), C(expect_status), C(seconds), C(ok).
  returned: success
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils.breaker_drill import DrillError, probe, watch

PROBE_SPEC = dict(
    name=dict(type="str"),
    method=dict(type="str", default="GET"),
    path=dict(type="str", required=True),
    body=dict(type="raw"),
    expect_status=dict(type="int", required=True),
    max_seconds=dict(type="float", default=2.0),
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            urls=dict(type="list", elements="str", required=True),
            breaker=dict(type="str", required=True),
            until=dict(type="str", required=True, choices=["closed", "open", "half_open"]),
            timeout=dict(type="float", default=30.0),
            interval=dict(type="float", default=0.5),
            probes=dict(type="list", elements="dict", default=[], options=PROBE_SPEC),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = watch(p["urls"], p["breaker"], p["until"], p["timeout"], p["interval"])
        result["probes"] = probe(p["urls"], p["probes"])
    except DrillError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()

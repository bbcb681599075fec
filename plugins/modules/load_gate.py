#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: load_gate
short_description: Run steady HTTP load against one or more targets and go/no-go on latency and errors
version_added: 0.1.0
description:
  - Sends O(rate) requests per second to every target in O(targets) at the same time for O(duration), open loop
    (requests leave on schedule whatever the latency of earlier ones), over keep-alive connections, and records
    every response. Runbook risks R2 and R6.
  - Decides on each target's error ratio (5xx and connection errors), P95 and P99 latency, processed units (for
    example CBAM shipments, O(targets[].units_per_request) per request) and the achieved rate (a run that could not
    send at O(rate) is NO-GO, it measured something else).
  - With O(candidate) and O(baseline) the candidate's P95 over the baseline's P95 (measured over the same seconds)
    is judged with the runbook's rule, under O(go_ratio) GO, up to O(nogo_ratio) GO with monitoring, above NO-GO.
  - The generator is the standard library's, so the module runs on any controller or execution environment.
  - Generating load is an action on the targets, so check mode sends nothing and returns C(skipped).
author:
  - GreenLang platform engineering (@greenlang)
options:
  targets:
    description:
      - What to load. Each target is a mapping.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name used in criteria and results (for example C(cbam_v2)).
        type: str
        required: true
      url:
        description: Base URL to connect to, for example the ingress C(http://127.0.0.1:8080) or a pod address.
        type: str
        required: true
      path:
        description: Request path. Defaults to the path of O(targets[].url) or C(/).
        type: str
      method:
        description: HTTP method.
        type: str
        choices: [GET, POST, PUT, HEAD]
        default: GET
      headers:
        description: Extra request headers, for example C(Host) for an ingress or a canary header.
        type: dict
      body:
        description: Request body; a mapping or list is sent as JSON.
        type: raw
      units_per_request:
        description: Units one request processes (for example 100 shipments per CBAM request).
        type: int
        default: 1
      max_p95_ms:
        description: Highest acceptable P95 latency in milliseconds.
        type: float
      max_p99_ms:
        description: Highest acceptable P99 latency in milliseconds.
        type: float
      max_error_ratio:
        description: Highest acceptable ratio of failed requests (5xx or no answer).
        type: float
        default: 0.001
      min_units:
        description: Units that must be processed successfully during the run (for example C(10000) shipments).
        type: int
  rate:
    description: Requests per second sent to each target.
    type: float
    required: true
  duration:
    description: How long to send, in seconds.
    type: float
    required: true
  timeout:
    description: Per-request timeout in seconds.
    type: float
    default: 10
  candidate:
    description: Target name whose P95 is compared with O(baseline)'s (for example the new version).
    type: str
  baseline:
    description: Target name of the comparison's baseline (for example the version in production).
    type: str
  go_ratio:
    description: P95 ratio under which the comparison is a plain GO.
    type: float
    default: 2.5
  nogo_ratio:
    description: P95 ratio above which the comparison is NO-GO.
    type: float
    default: 3.0
  min_rate_ratio:
    description: Share of O(rate) the run must achieve for its figures to count.
    type: float
    default: 0.9
  app:
    description: App the decision is about.
    type: str
    required: true
  gate:
    description: Gate name in the decision record.
    type: str
    default: load_test
  fail_on_nogo:
    description: Fail the task when the verdict is NO-GO.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  platform:
    platforms: posix
  check_mode:
    support: full
    details: Sends no request in check mode.
  diff_mode:
    support: none
seealso:
  - module: greenlang.launch.launch_record
"""

EXAMPLES = r"""
- name: CBAM v2 beside v1, 10,000 shipments in under 60 s
  greenlang.launch.load_gate:
    app: cbam
    rate: 20
    duration: 50
    targets:
      - name: cbam_v2
        url: http://ingress.staging.greenlang.example
        path: /api/v1/calculate
        method: POST
        headers: {Host: cbam.staging.greenlang.example, X-Canary: always}
        body: {imports: "{{ lookup('ansible.builtin.file', 'shipments-100.json') | from_json }}"}
        units_per_request: 100
        min_units: 10000
        max_p95_ms: 500
      - name: cbam_v1
        url: http://ingress.staging.greenlang.example
        path: /api/v1/calculate
        method: POST
        headers: {Host: cbam.staging.greenlang.example, X-Canary: never}
        body: {imports: "{{ lookup('ansible.builtin.file', 'shipments-100.json') | from_json }}"}
    candidate: cbam_v2
    baseline: cbam_v1
  register: load
"""

RETURN = r"""
decision:
  description: Decision record (gate O(gate)); criteria per target C(<name>.achieved_rps), C(<name>.error_ratio),
    C(<name>.p95_ms), C(<name>.p99_ms), C(<name>.units_ok) and C(p95_ratio_<candidate>_vs_<baseline>).
  returned: success and not in check mode
  type: dict
verdict:
  description: C(GO) or C(NO-GO).
  returned: success and not in check mode
  type: str
summary:
  description: Per target C(requests), C(failed), C(error_ratio), C(p50_ms), C(p95_ms), C(p99_ms), C(max_ms),
    C(achieved_rps), C(units_ok), C(by_status), C(max_lag_ms), C(errors).
  returned: success and not in check mode
  type: dict
p95_ratio:
  description: Candidate P95 over baseline P95, when both were given.
  returned: success and not in check mode
  type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils.load_gate import LoadConfigError, LoadRun, evaluate

TARGET_SPEC = dict(
    name=dict(type="str", required=True),
    url=dict(type="str", required=True),
    path=dict(type="str"),
    method=dict(type="str", default="GET", choices=["GET", "POST", "PUT", "HEAD"]),
    headers=dict(type="dict"),
    body=dict(type="raw"),
    units_per_request=dict(type="int", default=1),
    max_p95_ms=dict(type="float"),
    max_p99_ms=dict(type="float"),
    max_error_ratio=dict(type="float", default=0.001),
    min_units=dict(type="int"),
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            targets=dict(type="list", elements="dict", required=True, options=TARGET_SPEC),
            rate=dict(type="float", required=True),
            duration=dict(type="float", required=True),
            timeout=dict(type="float", default=10.0),
            candidate=dict(type="str"),
            baseline=dict(type="str"),
            go_ratio=dict(type="float", default=2.5),
            nogo_ratio=dict(type="float", default=3.0),
            min_rate_ratio=dict(type="float", default=0.9),
            app=dict(type="str", required=True),
            gate=dict(type="str", default="load_test"),
            fail_on_nogo=dict(type="bool", default=False),
        ),
        required_together=[("candidate", "baseline")],
        supports_check_mode=True,
    )
    p = module.params
    names = [t["name"] for t in p["targets"]]
    for which in ("candidate", "baseline"):
        if p[which] and p[which] not in names:
            module.fail_json(msg="%s %r: expected one of the target names (%s)" % (which, p[which], ", ".join(names)))
    try:
        run = LoadRun(p["targets"], p["rate"], p["duration"], timeout=p["timeout"])
    except LoadConfigError as exc:
        module.fail_json(msg=str(exc))
    if module.check_mode:
        module.exit_json(changed=False, skipped=True,
                         msg="check mode: would send %s req/s for %s s to %s"
                         % (p["rate"], p["duration"], ", ".join(names)))
    summary = run.run()
    spec = dict((t["name"], t) for t in p["targets"])
    try:
        record, ratio = evaluate(summary, p["rate"], spec, p["app"], p["candidate"], p["baseline"], p["go_ratio"],
                                 p["nogo_ratio"], p["min_rate_ratio"], p["gate"])
    except LoadConfigError as exc:
        module.fail_json(msg=str(exc))
    result = dict(changed=False, decision=record, verdict=record["verdict"], summary=summary, p95_ratio=ratio)
    if p["fail_on_nogo"] and record["verdict"] == "NO-GO":
        module.fail_json(msg="NO-GO: %s" % record["reason"], **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: metric_gate
short_description: Decide from live Prometheus metrics whether a rollout step is safe
version_added: 0.1.0
description:
  - Evaluates one or more checks against the Prometheus HTTP API (C(/api/v1/query) and C(/api/v1/query_range)).
  - A check is a PromQL query that returns one number, compared with O(checks[].min) and/or O(checks[].max),
    and optionally with a baseline query as a ratio (for example canary P95 / stable P95 <= 2.5).
  - With O(checks[].for) a check looks at a window of consecutive evaluations through C(query_range). In
    C(mode=hold) every evaluation in the window must pass (a gate); in C(mode=breach) the check fails only
    when every evaluation in the window breaches (a rollback trigger such as "error rate above 5 % for 5
    consecutive minutes"). In C(mode=breach) a window whose measured evaluations all breach but which has
    evaluations without data (a scrape gap) is C(inconclusive), not a pass. One measured evaluation within
    thresholds makes it a pass (not sustained).
  - Without O(duration) the checks are evaluated once. With O(duration) they are evaluated every
    O(interval); polling stops as soon as O(failure_limit) evaluation rounds have failed (early abort, which
    is what makes detection fast), O(inconclusive_limit) rounds could not measure, or O(success_after)
    consecutive rounds have passed.
  - A gate fails closed. No data, NaN, or Prometheus unreachable makes a check C(inconclusive), which fails
    the gate unless O(inconclusive=pass). A query Prometheus rejects, one returning more than one series, or
    credentials refused (HTTP 401, 403 or 407) is an C(error) and always fails, so a wrong token never passes
    a gate.
  - Read-only; it runs in check mode as well and never reports C(changed).
author:
  - GreenLang platform engineering (@greenlang)
extends_documentation_fragment:
  - greenlang.launch.http_client
options:
  url:
    description:
      - Base URL of the Prometheus server, for example C(http://prometheus.monitoring:9090). Only C(http://) and
        C(https://) are accepted; anything else is a configuration error, never an unreachable server.
    type: str
    required: true
    aliases: [prometheus_url]
  checks:
    description:
      - The checks to evaluate. Every check must pass for the round to pass.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name used in results and failure messages. Must be unique within the gate.
        type: str
        required: true
      query:
        description:
          - PromQL expression returning a single series or scalar (aggregate with C(sum), C(max), ...).
        type: str
        required: true
      min:
        description:
          - The value must be at least this.
        type: float
      max:
        description:
          - The value must be at most this.
        type: float
      baseline_query:
        description:
          - PromQL expression for the baseline the value is compared with, for example the stable version's P95.
          - Requires O(checks[].max_ratio).
        type: str
      max_ratio:
        description:
          - The value divided by the baseline must be at most this. A baseline of 0 gives a ratio of 1 when the
            value is 0 too, and infinity otherwise.
        type: float
      for:
        description:
          - Window the condition must hold (or, with C(mode=breach), must breach) for, as consecutive
            evaluations one O(checks[].step) apart, read with C(query_range).
          - A number of seconds or a Prometheus duration such as C(30s), C(5m), C(1m30s).
        type: raw
      step:
        description:
          - Spacing of the evaluations inside a O(checks[].for) window. Defaults to O(interval).
        type: raw
      mode:
        description:
          - C(hold) for gates, C(breach) for rollback triggers. Only matters with O(checks[].for).
        type: str
        choices: [hold, breach]
        default: hold
  interval:
    description:
      - Time between evaluation rounds when polling. Number of seconds or duration string.
    type: raw
    default: 10s
  duration:
    description:
      - How long to keep evaluating. C(0) evaluates once. Number of seconds or duration string.
    type: raw
    default: 0
  failure_limit:
    description:
      - Stop and fail as soon as this many evaluation rounds have failed.
    type: int
    default: 1
  inconclusive_limit:
    description:
      - Stop and fail (as C(inconclusive)) as soon as this many rounds could not measure, unless
        O(inconclusive=pass).
      - Raise it for a gate that starts right after a traffic shift, so it waits a few rounds for the canary's
        first samples while still aborting on the first real breach.
      - Whatever the limit, a polling gate in which no round measured successfully fails as C(inconclusive).
    type: int
    default: 1
  success_after:
    description:
      - Stop and pass as soon as this many consecutive rounds have passed. When unset, polling runs for the
        whole O(duration) and passes if fewer than O(failure_limit) rounds failed.
    type: int
  inconclusive:
    description:
      - What an inconclusive round (no data, NaN, Prometheus unreachable) counts as.
      - The safe default is C(fail); C(pass) must be chosen explicitly.
    type: str
    choices: [fail, pass]
    default: fail
  fail_on_breach:
    description:
      - Fail the task when the gate does not pass. With C(false) the task succeeds and the verdict is in the
        result, for a later task to act on.
    type: bool
    default: true
  token:
    description:
      - Bearer token sent as C(Authorization) header.
    type: str
  username:
    description:
      - User for HTTP basic authentication. Mutually exclusive with O(token).
    type: str
  password:
    description:
      - Password for HTTP basic authentication.
    type: str
  retries:
    description:
      - Extra attempts on transport errors and HTTP 429/502/503/504 before a check is inconclusive. C(0) or more.
      - HTTP 401, 403 and 407 are not retried.
    type: int
    default: 2
  backoff:
    description:
      - Seconds before the first retry; doubled for each further retry. C(0) or more.
    type: float
    default: 0.5
notes:
  - Polling time is bounded by O(duration) plus one round; each round runs one or two queries per check.
  - The PromQL client and the evaluation live in the collection's C(promql) and C(gate) module utils, so
    other modules and reports can reuse them.
seealso:
  - name: Prometheus HTTP API
    description: The query endpoints this module calls.
    link: https://prometheus.io/docs/prometheus/latest/querying/api/
"""

EXAMPLES = r"""
- name: Gate the 10 % step of the vcci canary on error rate and latency
  greenlang.launch.metric_gate:
    url: "{{ prometheus_url }}"
    interval: 2s
    duration: 60s
    failure_limit: 1
    success_after: 10
    checks:
      - name: error_rate
        query: >-
          sum(rate(http_requests_total{app="vcci",version="canary",code=~"5.."}[30s]))
          / sum(rate(http_requests_total{app="vcci",version="canary"}[30s]))
        max: 0.001
      - name: p95_latency_seconds
        query: >-
          histogram_quantile(0.95, sum by (le)
          (rate(http_request_duration_seconds_bucket{app="vcci",version="canary"}[1m])))
        max: 0.5

- name: CBAM v2 latency within 2.5x of v1
  greenlang.launch.metric_gate:
    url: "{{ prometheus_url }}"
    checks:
      - name: cbam_p95_ratio
        query: >-
          histogram_quantile(0.95, sum by (le)
          (rate(http_request_duration_seconds_bucket{app="cbam",version="v2"}[5m])))
        baseline_query: >-
          histogram_quantile(0.95, sum by (le)
          (rate(http_request_duration_seconds_bucket{app="cbam",version="v1"}[5m])))
        max_ratio: 2.5

- name: Rollback trigger - error rate above 5 % for 5 consecutive minutes
  greenlang.launch.metric_gate:
    url: "{{ prometheus_url }}"
    fail_on_breach: false
    checks:
      - name: sustained_errors
        query: sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))
        max: 0.05
        for: 5m
        step: 1m
        mode: breach
  register: trigger

- name: Roll back when the trigger fired
  ansible.builtin.debug:
    msg: "rolling back: {{ trigger.msg }}"
  when: trigger.verdict == 'fail'
"""

RETURN = r"""
verdict:
  description: Overall verdict, C(pass), C(fail), C(error) or C(inconclusive).
  returned: always
  type: str
  sample: fail
passed:
  description: Whether the gate passed (C(inconclusive) counts only when O(inconclusive=pass)).
  returned: always
  type: bool
  sample: false
msg:
  description: What was decided and why, naming the failed checks with their measured numbers.
  returned: always
  type: str
  sample: "metric gate fail after 3 evaluation(s), 1 failed (limit 1), 0 inconclusive (limit 1): error_rate: fail
    [0.052 > max 0.001] ..."
checks:
  description: Every check of the deciding round (the last failed one, else the last one).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name.
      type: str
    query:
      description: The PromQL query.
      type: str
    verdict:
      description: C(pass), C(fail), C(inconclusive) or C(error).
      type: str
    reason:
      description: The measured numbers against the threshold, or why nothing could be measured.
      type: str
    value:
      description: Measured value (the last point of the window with O(checks[].for)); NaN and infinities as strings.
      type: raw
    min:
      description: Lower threshold.
      type: float
    max:
      description: Upper threshold.
      type: float
    baseline:
      description: Measured baseline value, with O(checks[].baseline_query).
      type: raw
    ratio:
      description: value / baseline, with O(checks[].baseline_query).
      type: raw
    max_ratio:
      description: Ratio threshold, with O(checks[].baseline_query).
      type: float
    window:
      description: With O(checks[].for), points expected (C(expected)), with data (C(with_data)), without data
        (C(missing)), breaching (C(breaches)), and the values.
      type: dict
  sample:
    - name: error_rate
      query: sum(rate(http_requests_total{code=~"5.."}[30s])) / sum(rate(http_requests_total[30s]))
      verdict: fail
      reason: 0.052 > max 0.001
      value: 0.052
      min: null
      max: 0.001
evaluations:
  description: One entry per evaluation round, with its wall-clock time, seconds since start, verdict and failed checks.
  returned: always
  type: list
  elements: dict
  sample:
    - {at: 1732390000.1, elapsed: 0.0, verdict: pass, failed_checks: []}
    - {at: 1732390002.1, elapsed: 2.0, verdict: fail, failed_checks: [error_rate]}
rounds:
  description: Number of evaluation rounds.
  returned: always
  type: int
  sample: 2
failed_rounds:
  description: Number of rounds that failed (C(fail) or C(error)).
  returned: always
  type: int
  sample: 1
inconclusive_rounds:
  description: Number of rounds that could not measure (not counted when O(inconclusive=pass)).
  returned: always
  type: int
  sample: 0
stopped:
  description: Why evaluation stopped.
  returned: always
  type: str
  sample: failure_limit reached
elapsed:
  description: Seconds spent evaluating.
  returned: always
  type: float
  sample: 2.03
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils.failure import fail_validation
from ansible_collections.greenlang.launch.plugins.module_utils.gate import Gate, GateConfigError, parse_duration
from ansible_collections.greenlang.launch.plugins.module_utils.http_options import (
    http_client_argument_spec,
    http_client_problems,
)
from ansible_collections.greenlang.launch.plugins.module_utils.promql import PrometheusClient

# A dict literal because "for" is a keyword.
CHECK_SPEC = {
    "name": dict(type="str", required=True),
    "query": dict(type="str", required=True),
    "min": dict(type="float"),
    "max": dict(type="float"),
    "baseline_query": dict(type="str"),
    "max_ratio": dict(type="float"),
    "for": dict(type="raw"),
    "step": dict(type="raw"),
    "mode": dict(type="str", choices=["hold", "breach"], default="hold"),
}


def argument_spec():
    return dict(
        url=dict(type="str", required=True, aliases=["prometheus_url"]),
        checks=dict(type="list", elements="dict", required=True, options=CHECK_SPEC),
        interval=dict(type="raw", default="10s"),
        duration=dict(type="raw", default=0),
        failure_limit=dict(type="int", default=1),
        inconclusive_limit=dict(type="int", default=1),
        success_after=dict(type="int"),
        inconclusive=dict(type="str", choices=["fail", "pass"], default="fail"),
        fail_on_breach=dict(type="bool", default=True),
        token=dict(type="str", no_log=True),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        retries=dict(type="int", default=2),
        backoff=dict(type="float", default=0.5),
        **http_client_argument_spec()
    )


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("token", "username")],
        required_together=[("username", "password")],
        supports_check_mode=True,
    )
    p = module.params
    problems = http_client_problems(p)
    if problems:
        fail_validation(module, "; ".join(problems))
    try:
        interval = parse_duration(p["interval"], "interval")
        duration = parse_duration(p["duration"], "duration")
        client = PrometheusClient(p["url"], token=p["token"], username=p["username"], password=p["password"],
                                  ca_path=p["ca_path"], validate_certs=p["validate_certs"], timeout=p["timeout"],
                                  retries=p["retries"], backoff=p["backoff"], headers=p["headers"])
        # Keep only the keys the user set, so Check applies its own defaults.
        checks = [dict((k, v) for k, v in c.items() if v is not None) for c in p["checks"]]
        gate = Gate(client, checks, interval=interval, duration=duration, failure_limit=p["failure_limit"],
                    success_after=p["success_after"], inconclusive=p["inconclusive"],
                    inconclusive_limit=p["inconclusive_limit"])
    except (GateConfigError, ValueError) as e:
        fail_validation(module, str(e))
    result = gate.run()
    result["changed"] = False
    if not result["passed"] and p["fail_on_breach"]:
        result["failed_step"] = "gate"
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

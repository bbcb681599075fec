#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: hold
short_description: Hold a rollout step for a while, with the rollback triggers watching and progress shown
version_added: 0.1.0
description:
  - Waits O(duration) while evaluating the rollback triggers every O(interval), and ends early, failing, as soon as
    one fires. This is how a rollout step is held (the runbook's "hold 30 minutes") with its automatic rollback
    rules ("error rate above 5 % for 5 consecutive minutes").
  - O(triggers) are metric_gate checks (same keys, same evaluation code), by default in C(mode=breach), normally
    with a O(triggers[].for) window, so a trigger fires only when every evaluation of its window breaches.
  - O(health_checks) are probed over HTTP every O(interval); when every one of them has failed on every probe for
    O(health_for), the hold is triggered ("health checks failing for 3 consecutive minutes").
  - Fails closed. A trigger whose query Prometheus rejects, or whose credentials are refused, fires at once; when
    the triggers cannot be measured (Prometheus unreachable) on O(inconclusive_limit) rounds in a row the hold
    ends as C(inconclusive) and fails. No data for a query (for example no traffic on the new version yet) is no
    breach and does not count, unless O(no_data=fail).
  - Prints a progress line through Ansible's display at the start, at least every O(progress_interval) seconds
    (at most 30) and at the end, with the app, the step, elapsed and total time, and the last measured value of
    every trigger against its threshold, so an operator following C(ansible-playbook) or an AWX job sees the hold.
  - Runs on the controller (an action plugin); nothing is changed, C(changed) is always false. In check mode it
    does not wait; the triggers are evaluated once and reported, and a trigger that would fire is a warning.
author:
  - GreenLang platform engineering (@greenlang)
options:
  duration:
    description:
      - How long to hold. Seconds, or a duration such as C(30m), C(90s), C(1m30s).
    type: raw
    required: true
  url:
    description:
      - Base URL of the Prometheus server. Required when O(triggers) are given.
    type: str
    aliases: [prometheus_url]
  triggers:
    description:
      - Rollback triggers, each a metric_gate check (C(name), C(query), C(min), C(max), C(baseline_query),
        C(max_ratio), C(for), C(step), C(mode)). C(step) defaults to O(interval), C(mode) to C(breach).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name used in progress lines and messages; unique.
        type: str
        required: true
      query:
        description: PromQL returning one series or a scalar.
        type: str
        required: true
      min:
        description: Breach when the value is below this.
        type: float
      max:
        description: Breach when the value is above this.
        type: float
      baseline_query:
        description: PromQL of a baseline the value is compared with as a ratio; needs O(triggers[].max_ratio).
        type: str
      max_ratio:
        description: Breach when value / baseline is above this.
        type: float
      for:
        description: Window the breach must be sustained for (consecutive evaluations O(triggers[].step) apart).
        type: raw
      step:
        description: Spacing of the evaluations in the window; defaults to O(interval).
        type: raw
      mode:
        description: C(breach) fires only on a breach sustained over the whole window; C(hold) on any breach in it.
        type: str
        choices: [breach, hold]
        default: breach
  health_checks:
    description:
      - HTTP checks probed every O(interval), for example C(/health/ready) through the ingress.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name used in progress lines; unique among triggers and health checks.
        type: str
        required: true
      url:
        description: URL to GET.
        type: str
        required: true
      headers:
        description: Request headers, for example C(Host).
        type: dict
        default: {}
      status:
        description: Expected HTTP status.
        type: int
        default: 200
      timeout:
        description: Seconds to wait for an answer.
        type: float
        default: 5
  health_for:
    description:
      - How long every health check must have been failing for the hold to be triggered.
    type: raw
    default: 3m
  interval:
    description:
      - Time between evaluations of the triggers and health checks.
    type: raw
    default: 10s
  progress_interval:
    description:
      - Seconds between progress lines; above 0 and at most 30.
    type: raw
    default: 30
  inconclusive_limit:
    description:
      - Rounds in a row the triggers may be unmeasurable before the hold fails closed.
    type: int
    default: 3
  no_data:
    description:
      - What a trigger query without data counts as. C(pass) (no evidence of a breach) or C(fail) (unmeasured,
        counting towards O(inconclusive_limit)).
    type: str
    choices: [pass, fail]
    default: pass
  app:
    description: App name shown in progress lines.
    type: str
    default: ""
  step:
    description: Step shown in progress lines, for example C(step 7 pause 30m).
    type: str
    default: ""
  fail_on_trigger:
    description:
      - Fail the task when a trigger fires or the hold is inconclusive. With C(false) the task succeeds and
        RV(outcome) says what happened.
    type: bool
    default: true
  token:
    description: Bearer token for Prometheus.
    type: str
  username:
    description: User for HTTP basic authentication to Prometheus.
    type: str
  password:
    description: Password for HTTP basic authentication to Prometheus.
    type: str
  ca_path:
    description: PEM file of CA certificates for HTTPS.
    type: path
  validate_certs:
    description: Verify TLS certificates (Prometheus and health checks).
    type: bool
    default: true
  headers:
    description: Extra headers for Prometheus requests.
    type: dict
  timeout:
    description: Seconds to wait for one Prometheus request.
    type: float
    default: 10
  retries:
    description: Extra attempts on Prometheus transport errors and HTTP 429/502/503/504.
    type: int
    default: 2
  backoff:
    description: Seconds before the first retry; doubled for each further retry.
    type: float
    default: 0.5
notes:
  - The evaluation is the metric_gate module util's (C(gate.evaluate_round)); the hold loop lives in the C(hold)
    module util, unit-tested with injected clocks.
seealso:
  - module: greenlang.launch.metric_gate
  - module: ansible.builtin.pause
"""

EXAMPLES = r"""
- name: Hold cbam at 50 % for 30 minutes under the runbook's rollback triggers
  greenlang.launch.hold:
    app: cbam
    step: "step 8 (pause 30m) at 50 %"
    duration: 30m
    interval: 30s
    url: "{{ launch_prometheus_url }}"
    triggers:
      - name: error_rate
        query: >-
          sum(rate(http_requests_total{namespace="cbam",version="v2",code=~"5.."}[1m]))
          / sum(rate(http_requests_total{namespace="cbam",version="v2"}[1m]))
        max: 0.05
        for: 5m
      - name: p95_latency_ms
        query: >-
          1000 * histogram_quantile(0.95, sum by (le)
          (rate(http_request_duration_seconds_bucket{namespace="cbam",version="v2"}[1m])))
        max: 2000
        for: 5m
    health_checks:
      - name: health_ready
        url: "{{ launch_ingress_url }}/health/ready"
        headers: {Host: cbam.example.com}
    health_for: 3m
"""

RETURN = r"""
outcome:
  description: C(held) (the whole duration, no trigger), C(triggered) or C(inconclusive).
  returned: always
  type: str
  sample: triggered
passed:
  description: Whether the hold ran its whole duration without a trigger.
  returned: always
  type: bool
triggered:
  description: Whether a trigger (or the health checks) ended the hold.
  returned: always
  type: bool
reason:
  description: The trigger(s) that fired with their measured numbers, or why nothing could be measured.
  returned: always
  type: str
  sample: "error_rate: fail [breached at all 3 consecutive evaluations (last: 0.3 > max 0.05)]"
msg:
  description: One line saying what happened.
  returned: always
  type: str
checks:
  description: The triggers' results of the last evaluation (as metric_gate returns checks).
  returned: always
  type: list
  elements: dict
measured:
  description: The last measured value of each trigger against its threshold, as printed.
  returned: always
  type: list
  elements: str
  sample: ["error_rate 0.0012 (max 0.05, breached 0/5)"]
health:
  description: The last probe of each health check, C(name), C(url), C(ok), C(detail).
  returned: always
  type: list
  elements: dict
rounds:
  description: Evaluation rounds made.
  returned: always
  type: int
elapsed:
  description: Seconds held.
  returned: always
  type: float
duration:
  description: Seconds asked for.
  returned: always
  type: float
"""

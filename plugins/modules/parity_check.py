#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: parity_check
short_description: Send the same requests to two versions, or N times to one, and compare the answers
version_added: 0.1.0
description:
  - Sends every request of a corpus to a O(baseline) and a O(candidate) and compares the responses, to prove a new
    version gives the same answers as the old one (for example CBAM v1 against v2).
  - Without O(candidate), sends the corpus O(repeat) times to the baseline and compares every run with the first,
    to prove results are reproducible (for example the CSRD pipeline run 10 times).
  - Responses are compared by status code and body. JSON bodies are compared semantically (key order does not
    matter, C(1) equals C(1.0)), skipping O(ignore_paths) and allowing numbers to differ within O(tolerance) /
    O(relative_tolerance). Non-JSON bodies, or all bodies with O(compare=bytes), must be byte-identical.
  - Reports the parity ratio, the first O(max_diffs) differences in readable form, and latency p50/p95 per side
    with the candidate/baseline ratio. Fails when parity is below O(min_parity), or the p95 latency ratio is above
    O(max_latency_ratio) when set.
  - The corpus requests are sent in check mode too, and the module never reports C(changed); use requests that do
    not change state.
author:
  - GreenLang platform engineering (@greenlang)
extends_documentation_fragment:
  - greenlang.launch.http_client
options:
  baseline:
    description:
      - The reference version.
    type: dict
    required: true
    suboptions:
      url:
        description:
          - Base URL the request paths are appended to, for example C(http://127.1.0.5:8080).
        type: str
        required: true
      host:
        description:
          - Host header to send, to reach a virtual host through an address or an ingress.
        type: str
      headers:
        description:
          - Headers sent with every request to this target.
        type: dict
  candidate:
    description:
      - The version under test. Omit it to check reproducibility of O(baseline) with O(repeat).
    type: dict
    suboptions:
      url:
        description:
          - Base URL the request paths are appended to.
        type: str
        required: true
      host:
        description:
          - Host header to send.
        type: str
      headers:
        description:
          - Headers sent with every request to this target.
        type: dict
  corpus:
    description:
      - Requests given inline. Each has C(path) (starting with C(/)) and optionally C(method) (default C(GET)),
        C(body) (objects and lists are sent as JSON), C(headers) and C(name).
      - Paths and bodies may be in any language; a path is percent-encoded as UTF-8 on the wire (existing C(%XX)
        escapes and URL delimiters are kept), a body is sent as UTF-8.
      - Give exactly one of O(corpus) and O(corpus_file).
    type: list
    elements: dict
  corpus_file:
    description:
      - File of requests, one JSON object per line with the same keys as O(corpus). Blank lines and lines starting
        with C(#) are skipped. Read on the host the module runs on. Mutually exclusive with O(corpus).
    type: path
  repeat:
    description:
      - How many times the corpus is sent. Must be at least 2 without O(candidate).
    type: int
    default: 1
  ignore_paths:
    description:
      - Locations in the JSON responses not to compare, and everything below them.
      - JSON pointer (V(/meta/generated_at), with V(*) for any key or index) or JMESPath path syntax
        (V(meta.generated_at), V(results[*].id), V(results[].id), V(*.trace_id)).
    type: list
    elements: str
    default: []
    aliases: [ignore]
  tolerance:
    description:
      - Absolute difference allowed between two numbers.
    type: float
    default: 0
  relative_tolerance:
    description:
      - Relative difference allowed between two numbers (as in Python's C(math.isclose)).
    type: float
    default: 0
  compare:
    description:
      - C(json) compares JSON bodies semantically; C(bytes) requires byte-identical bodies.
    type: str
    choices: [json, bytes]
    default: json
  min_parity:
    description:
      - Fraction of comparisons (0.0 to 1.0) that must match.
    type: float
    default: 1.0
  max_latency_ratio:
    description:
      - Fail when candidate p95 latency divided by baseline p95 latency is above this. Needs O(candidate).
    type: float
  max_diffs:
    description:
      - How many mismatching requests to report in RV(diffs).
    type: int
    default: 10
notes:
  - O(headers) go to both targets; a target's own C(headers) win on the same name, a request's C(headers) win
    over both.
"""

EXAMPLES = r"""
- name: CBAM v2 answers exactly like v1 (timestamps and ids aside), and is at most 2.5x slower
  greenlang.launch.parity_check:
    baseline:
      url: "http://{{ cbam_v1_address }}:8080"
    candidate:
      url: "http://{{ cbam_v2_address }}:8080"
    corpus_file: files/cbam-parity-corpus.jsonl
    ignore_paths:
      - /meta/generated_at
      - results[*].request_id
    tolerance: 0.000001
    max_latency_ratio: 2.5

- name: CSRD report generation is reproducible (10 runs, bit-identical)
  greenlang.launch.parity_check:
    baseline:
      url: "{{ ingress_url }}"
      host: csrd.greenlang.example
    corpus:
      - method: POST
        path: /api/v1/reports/generate
        body: {company_id: demo-001, year: 2024}
    repeat: 10
    compare: bytes
"""

RETURN = r"""
passed:
  description: Whether parity (and latency ratio, when set) met the thresholds.
  returned: always
  type: bool
  sample: true
msg:
  description: The decision with its numbers, and the first difference when it failed.
  returned: always
  type: str
  sample: "parity 1.0000 over 40 comparisons (candidate vs baseline)"
requests_sent:
  description: HTTP requests sent, both sides together.
  returned: always
  type: int
  sample: 80
comparisons:
  description: Response pairs compared.
  returned: always
  type: int
  sample: 40
mismatches:
  description: Response pairs that differed.
  returned: always
  type: int
  sample: 0
transport_errors:
  description: Requests that got no HTTP response (refused, timed out); each makes its comparison a mismatch.
  returned: always
  type: int
  sample: 0
parity:
  description: Matching comparisons divided by comparisons (0.0 when nothing could be compared).
  returned: always
  type: float
  sample: 1.0
diffs:
  description: The first O(max_diffs) mismatching requests with their differences in readable form.
  returned: always
  type: list
  elements: dict
  sample:
    - request: POST /api/v1/calculate
      index: 3
      round: 1
      differences: ["/emissions/total_tco2e: 12.5 != 12.7 (difference 0.2)"]
latency:
  description: Latency per side (count, p50_ms, p95_ms, max_ms) and, with a candidate, p50_ratio and p95_ratio.
  returned: always
  type: dict
  sample:
    baseline: {count: 40, p50_ms: 12.1, p95_ms: 20.3, max_ms: 25.0}
    candidate: {count: 40, p50_ms: 14.0, p95_ms: 30.1, max_ms: 31.2}
    p50_ratio: 1.157
    p95_ratio: 1.483
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils.failure import fail_step, fail_validation
from ansible_collections.greenlang.launch.plugins.module_utils.http_options import (
    http_client_argument_spec,
    http_client_problems,
)
from ansible_collections.greenlang.launch.plugins.module_utils.parity import (
    ParityConfigError,
    ParityRun,
    Target,
    load_corpus,
)

TARGET_SPEC = dict(
    url=dict(type="str", required=True),
    host=dict(type="str"),
    headers=dict(type="dict"),
)


def argument_spec():
    return dict(
        baseline=dict(type="dict", required=True, options=TARGET_SPEC),
        candidate=dict(type="dict", options=TARGET_SPEC),
        corpus=dict(type="list", elements="dict"),
        corpus_file=dict(type="path"),
        repeat=dict(type="int", default=1),
        ignore_paths=dict(type="list", elements="str", default=[], aliases=["ignore"]),
        tolerance=dict(type="float", default=0),
        relative_tolerance=dict(type="float", default=0),
        compare=dict(type="str", choices=["json", "bytes"], default="json"),
        min_parity=dict(type="float", default=1.0),
        max_latency_ratio=dict(type="float"),
        max_diffs=dict(type="int", default=10),
        **http_client_argument_spec()
    )


def _target(spec, param, shared_headers=None):
    headers = dict(shared_headers or {}, **(spec.get("headers") or {}))
    return Target(spec["url"], host=spec.get("host"), headers=headers, param=param)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), required_one_of=[("corpus", "corpus_file")],
                           mutually_exclusive=[("corpus", "corpus_file")], supports_check_mode=True)
    p = module.params
    problems = http_client_problems(p)
    if problems:
        fail_validation(module, "; ".join(problems))
    try:
        corpus = load_corpus(p["corpus_file"], p["corpus"])
        run = ParityRun(
            corpus,
            _target(p["baseline"], "baseline", p["headers"]),
            _target(p["candidate"], "candidate", p["headers"]) if p["candidate"] else None,
            repeat=p["repeat"], ignore=p["ignore_paths"], abs_tol=p["tolerance"], rel_tol=p["relative_tolerance"],
            compare=p["compare"], min_parity=p["min_parity"], max_latency_ratio=p["max_latency_ratio"],
            max_diffs=p["max_diffs"], timeout=p["timeout"], validate_certs=p["validate_certs"],
            ca_path=p["ca_path"],
        )
    except ParityConfigError as e:
        fail_step(module, e)
    result = run.run()
    result["changed"] = False
    if not result["passed"]:
        result.setdefault("failed_step", "parity")
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

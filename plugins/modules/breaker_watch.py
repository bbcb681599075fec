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
    description:
      - Base URLs of the pods, for example C(http://10.1.2.3:8080). Either O(urls) or O(deployment).
    type: list
    elements: str
  deployment:
    description:
      - Discover the pods instead, through the Kubernetes API, the pods of the Deployment's current template (the
        ReplicaSet whose revision is the Deployment's), not terminating, with an address; waits up to O(timeout)
        for one. The pod IPs must be reachable from where the module runs.
    type: dict
    suboptions:
      namespace:
        description: Namespace.
        type: str
        required: true
      name:
        description: Deployment name.
        type: str
        required: true
      port:
        description: Port of the pods' HTTP server.
        type: int
        default: 8080
      kubeconfig:
        description: Kubeconfig path; default the client's (C(KUBECONFIG), C(~/.kube/config) or in-cluster).
        type: path
      context:
        description: Kubeconfig context.
        type: str
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
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - greenlang.launch.read_only_attributes
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
urls:
  description: Pod URLs watched.
  returned: success
  type: list
  elements: str
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
from ansible_collections.greenlang.launch.plugins.module_utils.breaker_drill import (
    DrillError,
    discover_pod_urls,
    probe,
    watch,
)

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    HAS_K8S = True
except ImportError:
    HAS_K8S = False

PROBE_SPEC = dict(
    name=dict(type="str"),
    method=dict(type="str", default="GET"),
    path=dict(type="str", required=True),
    body=dict(type="raw"),
    expect_status=dict(type="int", required=True),
    max_seconds=dict(type="float", default=2.0),
)


def kube_reader(spec):
    """read(kind, namespace, name=None, labels=None) over the Kubernetes API, objects as plain dicts."""
    if spec.get("kubeconfig") or spec.get("context"):
        k8s_config.load_kube_config(config_file=spec.get("kubeconfig"), context=spec.get("context"))
    else:
        try:
            k8s_config.load_kube_config()
        except k8s_config.ConfigException:
            k8s_config.load_incluster_config()
    api = k8s_client.ApiClient()
    apps, core = k8s_client.AppsV1Api(api), k8s_client.CoreV1Api(api)

    def read(kind, namespace, name=None, labels=None):
        if kind == "Deployment":
            return api.sanitize_for_serialization(apps.read_namespaced_deployment(name, namespace))
        lister = apps.list_namespaced_replica_set if kind == "ReplicaSet" else core.list_namespaced_pod
        return api.sanitize_for_serialization(lister(namespace, label_selector=labels or ""))["items"]
    return read


def main():
    module = AnsibleModule(
        argument_spec=dict(
            urls=dict(type="list", elements="str"),
            deployment=dict(type="dict", options=dict(
                namespace=dict(type="str", required=True),
                name=dict(type="str", required=True),
                port=dict(type="int", default=8080),
                kubeconfig=dict(type="path"),
                context=dict(type="str"),
            )),
            breaker=dict(type="str", required=True),
            until=dict(type="str", required=True, choices=["closed", "open", "half_open"]),
            timeout=dict(type="float", default=30.0),
            interval=dict(type="float", default=0.5),
            probes=dict(type="list", elements="dict", default=[], options=PROBE_SPEC),
        ),
        required_one_of=[("urls", "deployment")],
        mutually_exclusive=[("urls", "deployment")],
        supports_check_mode=True,
    )
    p = module.params
    urls = p["urls"]
    try:
        if p["deployment"]:
            if not HAS_K8S:
                module.fail_json(msg="deployment: the kubernetes Python client is required to discover pods")
            d = p["deployment"]
            try:
                urls = discover_pod_urls(kube_reader(d), d["namespace"], d["name"], d["port"], p["timeout"])
            except k8s_client.exceptions.ApiException as exc:
                module.fail_json(msg="deployment %s/%s: %s %s" % (d["namespace"], d["name"], exc.status, exc.reason))
        result = watch(urls, p["breaker"], p["until"], p["timeout"], p["interval"])
        result["probes"] = probe(urls, p["probes"])
        result["urls"] = urls
    except DrillError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()

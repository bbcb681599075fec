#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cluster_preflight
short_description: Check a Kubernetes cluster is ready for a rollout (API, nodes, Secrets, quota headroom)
version_added: 0.1.0
description:
  - Runs every check it is given and reports each as a row (C(check), C(target), C(passed), C(detail)); it never
    stops at the first problem, so one run lists everything that is missing.
  - C(/readyz?verbose) of the API server, and the Nodes (at least one Ready and schedulable; the others named).
  - O(secrets) present by name. Only names and key names are reported; values never leave the module.
  - O(capacity) ResourceQuota headroom for the pods a rollout adds beside the running ones (canary and blue-green
    a full copy of the stable Deployment's replicas, rolling its C(maxSurge)), per resource the quota limits
    (pods, requests and limits of cpu and memory). Usage comes from the quota's C(status.used), or, where the
    cluster keeps none, from the namespace's running pods.
  - Read-only; runs in check mode as in a normal run and never reports C(changed). With O(fail_on_missing) the
    task fails when a check does not pass (the rows are returned either way).
author:
  - GreenLang platform engineering (@greenlang)
options:
  readyz:
    description: Check the API server's C(/readyz) and the Nodes.
    type: bool
    default: true
  secrets:
    description: Secrets that must exist.
    type: list
    elements: dict
    default: []
    suboptions:
      namespace:
        description: Namespace of the Secret.
        type: str
        required: true
      name:
        description: Name of the Secret.
        type: str
        required: true
  capacity:
    description: Rollouts whose new pods must fit in the namespace's ResourceQuotas.
    type: list
    elements: dict
    default: []
    suboptions:
      app:
        description: App name, for the report.
        type: str
        required: true
      namespace:
        description: Namespace the new pods go to.
        type: str
        required: true
      deployment:
        description: The stable Deployment the new version copies (replicas, pod template requests).
        type: str
        required: true
      strategy:
        description: How the rollout adds pods.
        type: str
        required: true
        choices: [canary, blue_green, rolling]
  fail_on_missing:
    description: Fail the task when any check does not pass.
    type: bool
    default: false
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
requirements:
  - "python >= 3.9"
  - "kubernetes >= 24.2.0"
seealso:
  - module: greenlang.launch.launch_lease
"""

EXAMPLES = r"""
- name: Check the cluster before the launch
  greenlang.launch.cluster_preflight:
    secrets:
      - {namespace: cbam, name: cbam-database}
    capacity:
      - {app: cbam, namespace: cbam, deployment: cbam-api, strategy: canary}
  register: cluster_checks

- name: Show what is missing
  ansible.builtin.debug:
    msg: "{{ cluster_checks.checks | rejectattr('passed') | map(attribute='detail') | list }}"
"""

RETURN = r"""
checks:
  description: One row per check.
  returned: always
  type: list
  elements: dict
  contains:
    check: {description: "What was checked (C(kubernetes api), C(kubernetes nodes), C(secret present), C(quota
      headroom)).", type: str}
    target: {description: What it was checked on., type: str}
    passed: {description: Whether it passed., type: bool}
    detail: {description: The measured facts or what is missing., type: str}
  sample:
    - check: secret present
      target: cbam/cbam-database
      passed: false
      detail: "MISSING: Secret cbam/cbam-database not found"
passed:
  description: Whether every check passed.
  returned: always
  type: bool
missing:
  description: The detail of every check that did not pass.
  returned: always
  type: list
  elements: str
"""

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils.preflight import (
    PreflightError,
    node_rows,
    quota_rows,
    row,
    secret_row,
)
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException

try:
    from kubernetes.client.rest import ApiException
    from kubernetes.dynamic.exceptions import DynamicApiError, NotFoundError

    HAS_KUBERNETES = True
except ImportError:  # AnsibleK8SModule fails with a clear message when the kubernetes library is missing
    HAS_KUBERNETES = False

PREFLIGHT_ARGS = dict(
    readyz=dict(type="bool", default=True),
    # names of Secrets to look for, not secret values
    secrets=dict(type="list", elements="dict", default=[], no_log=False, options=dict(
        namespace=dict(type="str", required=True), name=dict(type="str", required=True))),
    capacity=dict(type="list", elements="dict", default=[], options=dict(
        app=dict(type="str", required=True), namespace=dict(type="str", required=True),
        deployment=dict(type="str", required=True),
        strategy=dict(type="str", required=True, choices=["canary", "blue_green", "rolling"]))),
    fail_on_missing=dict(type="bool", default=False),
)


def _error(exc):
    return "{0} {1}".format(getattr(exc, "status", ""), getattr(exc, "reason", "") or exc).strip()


def _get_readyz(api):
    """(status, body) of GET /readyz?verbose, with the client's credentials, on old and new kubernetes clients."""
    if hasattr(api, "param_serialize"):  # kubernetes >= 31 (openapi-generator 7)
        params = api.param_serialize(method="GET", resource_path="/readyz", query_params=[("verbose", "true")],
                                     auth_settings=["BearerToken"])
        response = api.call_api(*params, _request_timeout=10)
        response.read()
        return response.status, (response.data or b"").decode("utf-8", "replace")
    try:
        response = api.call_api("/readyz", "GET", query_params=[("verbose", "true")], auth_settings=["BearerToken"],
                                _preload_content=False, _request_timeout=10)
        return response[1], response[0].data.decode("utf-8", "replace")
    except ApiException as exc:
        body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else str(exc.body or "")
        return exc.status, body


def readyz_row(k8s):
    api = k8s.client.client
    url = api.configuration.host
    try:
        status, body = _get_readyz(api)
    except Exception as exc:  # connection refused, TLS, timeout: the API is not usable, which is the finding
        return row("kubernetes api", url, False, "unreachable: {0}".format(exc))
    failing = [line.strip() for line in body.splitlines() if line.startswith("[-]")]
    if status == 200 and not failing:
        return row("kubernetes api", url, True, "/readyz ok")
    return row("kubernetes api", url, False, "/readyz answered {0}{1}".format(
        status, (": " + ", ".join(failing)) if failing else ": " + body.strip()[:200]))


def _get(k8s, kind, api_version, name, namespace=None):
    try:
        return k8s.resource(kind, api_version).get(name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None


def _list(k8s, kind, api_version, namespace=None):
    return k8s.resource(kind, api_version).get(namespace=namespace).to_dict().get("items") or []


def run_checks(module, k8s):
    p = module.params
    rows = []
    if p["readyz"]:
        rows.append(readyz_row(k8s))
        try:
            rows.extend(node_rows(_list(k8s, "Node", "v1")))
        except DynamicApiError as exc:
            rows.append(row("kubernetes nodes", "cluster", False, "cannot list Nodes: {0}".format(_error(exc))))
    for item in p["secrets"]:
        try:
            secret = _get(k8s, "Secret", "v1", item["name"], item["namespace"])
            rows.append(secret_row(item["namespace"], item["name"], secret))
        except DynamicApiError as exc:
            rows.append(row("secret present", "{0}/{1}".format(item["namespace"], item["name"]), False,
                            "cannot read: {0}".format(_error(exc))))
        secret = None  # drop the object (and its values) at once
    for item in p["capacity"]:
        target = "{0} ({1})".format(item["namespace"], item["app"])
        try:
            deployment = _get(k8s, "Deployment", "apps/v1", item["deployment"], item["namespace"])
            quotas = _list(k8s, "ResourceQuota", "v1", item["namespace"])
            pods = _list(k8s, "Pod", "v1", item["namespace"]) if quotas else []
            rows.extend(quota_rows(item["namespace"], item["app"], quotas, deployment, item["strategy"], pods))
        except DynamicApiError as exc:
            rows.append(row("quota headroom", target, False, "cannot read: {0}".format(_error(exc))))
        except PreflightError as exc:
            rows.append(row("quota headroom", target, False, str(exc)))
    return rows


def main():
    args = copy.deepcopy(AUTH_ARG_SPEC)
    args.update(PREFLIGHT_ARGS)
    module = AnsibleK8SModule(module_class=AnsibleModule, argument_spec=args, supports_check_mode=True)
    try:
        k8s = get_api_client(module)
    except CoreException as e:
        if module.params["fail_on_missing"]:
            module.fail_from_exception(e)
        problem = "cannot connect: {0}".format(e)
        module.exit_json(changed=False, passed=False, missing=[problem],
                         checks=[row("kubernetes api", "cluster", False, problem)])
    rows = run_checks(module, k8s)
    missing = [r["detail"] if r["target"] in r["detail"] else "{0}: {1}".format(r["target"], r["detail"])
               for r in rows if not r["passed"]]
    result = dict(changed=False, checks=rows, passed=not missing, missing=missing)
    if missing and module.params["fail_on_missing"]:
        module.fail_json(msg="cluster pre-flight: {0} check(s) did not pass: {1}".format(
            len(missing), "; ".join(missing)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_weight
short_description: Set or read the share of traffic sent to a canary
version_added: 0.1.0
description:
  - Moves traffic between a stable and a canary Service by writing the traffic object the cluster's router reads,
    agentless, through the Kubernetes API.
  - C(gateway_api) writes the C(backendRefs) weights of a Gateway API C(HTTPRoute) (C(gateway.networking.k8s.io/v1)),
    in every rule that references the stable Service, or only in the rules named by O(rules). A rule that references
    the canary but not the stable Service (for example a header-matched rule for testers) is left alone.
  - For C(gateway_api) the weight is the canary's real share of a rule's traffic, its weight divided by the sum of
    all the rule's C(backendRefs) weights, so another backend in the rule counts. Writes keep other backends'
    weights and give the stable backend the rest of O(weight_total).
  - C(ingress_nginx) writes a separate canary C(Ingress) annotated C(nginx.ingress.kubernetes.io/canary=true) and
    C(nginx.ingress.kubernetes.io/canary-weight), creating it from the primary Ingress when absent (same hosts,
    paths and class, stable Service replaced by the canary Service). The primary Ingress is only read; canary
    annotations on it would be ignored by ingress-nginx.
  - C(openshift_route) writes C(spec.to) (the stable Service) and C(spec.alternateBackends) weights of an OpenShift
    C(Route) (C(route.openshift.io/v1)). Other C(alternateBackends) count and keep their weights, as other
    backendRefs do for C(gateway_api).
  - The weight is the canary's share out of O(weight_total) (100 by default, so a percentage). The stable backend
    gets O(weight_total) minus that.
  - Reports C(changed) only when the object is written; supports check mode and diff mode.
author:
  - GreenLang platform engineering (@greenlang)
options:
  provider:
    description:
      - Which traffic object to write.
    type: str
    required: true
    choices: [gateway_api, ingress_nginx, openshift_route]
  name:
    description:
      - Name of the C(HTTPRoute), of the primary C(Ingress), or of the C(Route).
    type: str
    required: true
  namespace:
    description:
      - Namespace of the traffic object(s).
    type: str
    default: default
  stable_backend:
    description:
      - Name of the Service that serves the stable version.
    type: str
    required: true
  canary_backend:
    description:
      - Name of the Service that serves the canary version.
    type: str
    required: true
  action:
    description:
      - C(set) moves the canary to O(weight).
      - C(advance) moves it to the first of O(steps) above the current weight. At or above the last step it never
        lowers the weight. Nothing is written, RV(schedule_complete) is true, and a weight above the last step
        gives a warning.
      - C(promote) sends it everything (O(weight_total)); with O(fold=true), see O(fold).
      - C(abort) sends it nothing (0); the canary backend stays in place at weight 0, ready for a retry.
      - C(read) changes nothing and returns the current weight.
    type: str
    choices: [set, advance, promote, abort, read]
    default: set
  weight:
    description:
      - Canary weight for O(action=set), from 0 to O(weight_total).
    type: int
  steps:
    description:
      - Increasing weights for O(action=advance), for example V([10, 25, 50, 100]).
    type: list
    elements: int
  weight_total:
    description:
      - What the weights are out of. At most 256 for C(openshift_route) and 1000000 for C(gateway_api).
      - For C(ingress_nginx) it is written as C(nginx.ingress.kubernetes.io/canary-weight-total) when not 100, and it
        must be at least 100. ingress-nginx only honours a C(canary-weight-total) above 100 and uses 100 otherwise.
        When reading a canary Ingress, a C(canary-weight-total) of 100 or less is likewise taken as 100.
    type: int
    default: 100
  fold:
    description:
      - With O(action=promote), remove the canary from routing and give the stable backend all traffic. Use it once
        the stable workload runs the canary's version (the canary has been folded into stable). The canary
        C(backendRef) or C(alternateBackends) entry is removed, or the canary Ingress deleted.
    type: bool
    default: false
  rules:
    description:
      - C(gateway_api) only. Rules to shift, by C(name) or by zero-based index. By default every rule that
        references O(stable_backend). A rule named here must reference O(stable_backend).
    type: list
    elements: str
  canary_port:
    description:
      - C(gateway_api) only. Port of the canary C(backendRef) when it has to be added. Defaults to the stable one's.
    type: int
  canary_ingress_name:
    description:
      - C(ingress_nginx) only. Name of the canary Ingress. Defaults to O(name) followed by C(-canary).
    type: str
  create_canary:
    description:
      - C(ingress_nginx) only. Create the canary Ingress from the primary when it does not exist.
    type: bool
    default: true
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
requirements:
  - "python >= 3.9"
  - "kubernetes >= 24.2.0"
  - "PyYAML >= 3.11"
notes:
  - Writes replace the whole object with the C(resourceVersion) that was read, so a concurrent change makes the
    API answer 409 Conflict; the module then reads again and retries (up to 3 times).
seealso:
  - name: Gateway API HTTPRoute
    description: backendRefs weights.
    link: https://gateway-api.sigs.k8s.io/reference/spec/#httpbackendref
  - name: ingress-nginx canary annotations
    description: Why the canary must be a separate Ingress.
    link: https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/#canary
"""

EXAMPLES = r"""
- name: Send 10 % of vcci traffic to the green deployment
  greenlang.launch.canary_weight:
    provider: gateway_api
    name: vcci
    namespace: greenlang
    stable_backend: vcci-blue
    canary_backend: vcci-green
    weight: 10

- name: Advance the CBAM canary one step along the ramp
  greenlang.launch.canary_weight:
    provider: ingress_nginx
    name: cbam-ingress
    namespace: greenlang
    stable_backend: cbam-v1
    canary_backend: cbam-v2
    action: advance
    steps: [10, 50, 100]
  register: step

- name: Abort - everything back to stable
  greenlang.launch.canary_weight:
    provider: openshift_route
    name: csrd
    namespace: greenlang
    stable_backend: csrd-stable
    canary_backend: csrd-canary
    action: abort

- name: After the stable Deployment runs the new version, fold the canary away
  greenlang.launch.canary_weight:
    provider: gateway_api
    name: vcci
    namespace: greenlang
    stable_backend: vcci-blue
    canary_backend: vcci-green
    action: promote
    fold: true
"""

RETURN = r"""
previous_weight:
  description: Canary weight before the task, out of RV(weight_total); null when no canary Ingress existed.
  returned: always
  type: raw
  sample: 10
weight:
  description: Canary weight after the task (0 after a fold). Fractional when read from relative weights.
  returned: always
  type: raw
  sample: 25
weight_total:
  description: What the weights are out of.
  returned: always
  type: int
  sample: 100
operation:
  description: What was (or, in check mode, would be) done to the object, C(none), C(replace), C(create) or
    C(delete).
  returned: always
  type: str
  sample: replace
kind:
  description: Kind of the object written.
  returned: always
  type: str
  sample: HTTPRoute
object:
  description: The object as written (as the API returned it), or as it would be written in check mode; the current
    object when nothing changed; the deleted object after a fold deleted it.
  returned: always
  type: dict
rules:
  description:
    - Per-rule (C(gateway_api)) or per-route (C(openshift_route)) raw weights after the task.
    - C(weight) is the canary's share of the rule, out of RV(weight_total). C(other_weight), present when other
      backendRefs of the rule carry weight, is their sum.
  returned: always
  type: list
  elements: dict
  sample: [{index: 0, name: api, stable_weight: 75, canary_weight: 25, weight: 25}]
schedule_complete:
  description: With O(action=advance), whether the canary was already at or above the last of O(steps), so
    nothing was changed.
  returned: when O(action=advance)
  type: bool
  sample: false
"""

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils.failure import StepError, fail_step, fail_validation
from ansible_collections.greenlang.launch.plugins.module_utils.k8s_update import read_plan_write
from ansible_collections.greenlang.launch.plugins.module_utils.names import k8s_name_problem
from ansible_collections.greenlang.launch.plugins.module_utils.traffic_weights import WeightError, plan
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException

try:
    from kubernetes.dynamic.exceptions import ConflictError, DynamicApiError, NotFoundError
    HAS_KUBERNETES = True
except ImportError:
    # AnsibleK8SModule fails with a clear message when the kubernetes library is missing.
    HAS_KUBERNETES = False

KINDS = {
    "gateway_api": ("HTTPRoute", "gateway.networking.k8s.io/v1"),
    "ingress_nginx": ("Ingress", "networking.k8s.io/v1"),
    "openshift_route": ("Route", "route.openshift.io/v1"),
}
MAX_ATTEMPTS = 3

CANARY_ARGS = dict(
    provider=dict(type="str", required=True, choices=list(KINDS)),
    name=dict(type="str", required=True),
    namespace=dict(type="str", default="default"),
    stable_backend=dict(type="str", required=True),
    canary_backend=dict(type="str", required=True),
    action=dict(type="str", default="set", choices=["set", "advance", "promote", "abort", "read"]),
    weight=dict(type="int"),
    steps=dict(type="list", elements="int"),
    weight_total=dict(type="int", default=100),
    fold=dict(type="bool", default=False),
    rules=dict(type="list", elements="str"),
    canary_port=dict(type="int"),
    canary_ingress_name=dict(type="str"),
    create_canary=dict(type="bool", default=True),
)


def _get(client, resource, name, namespace):
    try:
        return client.get(resource, name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None


def _clean(obj):
    """The object without server bookkeeping that only adds noise to diffs."""
    if obj is None:
        return {}
    out = copy.deepcopy(obj)
    out.get("metadata", {}).pop("managedFields", None)
    return out


def _api_error(step, e, what):
    """A StepError from a Kubernetes API error: status and reason, never the raw response with its headers."""
    body = getattr(e, "body", "") or ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    detail = (body[:500] + "...") if len(body) > 500 else body
    status, reason = getattr(e, "status", "?"), getattr(e, "reason", "") or ""
    return StepError(step, "HTTP %s %s%s" % (status, reason, (": " + detail) if detail else ""), what)


def _read_objects(module, client, resource, kind, canary_name):
    p = module.params
    what = "{0} {1}/{2}".format(kind, p["namespace"], p["name"])
    try:
        main = _get(client, resource, p["name"], p["namespace"])
        if main is None:
            raise StepError("read", "not found (parameter name)", what)
        if p["provider"] == "ingress_nginx":
            return {"primary": main, "canary": _get(client, resource, canary_name, p["namespace"])}
        return {"route": main}
    except DynamicApiError as e:
        raise _api_error("read", e, what) from e


def _write(client, resource, decision, namespace):
    op = decision["operation"]
    if op == "replace":
        return client.replace(resource, decision["after"], namespace=namespace).to_dict()
    if op == "create":
        return client.create(resource, decision["after"], namespace=namespace).to_dict()
    if op == "delete":
        name = decision["before"]["metadata"]["name"]
        client.delete(resource, name=name, namespace=namespace)
        return decision["before"]
    return decision["after"]


# Which name rule each parameter follows (the API server's): Services are RFC 1035 labels.
NAME_RULES = (("name", "subdomain"), ("namespace", "label"), ("stable_backend", "service"),
              ("canary_backend", "service"), ("canary_ingress_name", "subdomain"))


def check_names(params):
    """Messages for the names the API server would reject, each naming its parameter, before any API call."""
    errors = []
    for param, kind in NAME_RULES:
        if param == "canary_ingress_name" and params.get(param) is None:
            continue
        value = params.get(param)
        problem = k8s_name_problem(value, kind)
        if problem:
            shown = value if len(value or "") <= 60 else "%s... (%d characters)" % (value[:40], len(value))
            errors.append("{0}={1!r} {2}".format(param, shown, problem))
    return errors


def execute(module, client):
    p = module.params
    kind, api_version = KINDS[p["provider"]]
    canary_name = p["canary_ingress_name"] or "{0}-canary".format(p["name"])
    resource = client.resource(kind, api_version)
    what = "{0} {1}/{2}".format(kind, p["namespace"], p["name"])
    state = {}

    def read():
        state["objects"] = _read_objects(module, client, resource, kind, canary_name)
        return state["objects"]

    def decide(objects):
        try:
            return plan(p["provider"], objects, p["action"], p["stable_backend"], p["canary_backend"],
                        weight=p["weight"], steps=p["steps"], weight_total=p["weight_total"], rules=p["rules"],
                        canary_port=p["canary_port"], fold=p["fold"], create_canary=p["create_canary"],
                        canary_name=canary_name)
        except WeightError as e:
            raise StepError("plan", str(e)) from e

    def write(decision):
        try:
            return _write(client, resource, decision, p["namespace"])
        except ConflictError:
            raise
        except DynamicApiError as e:
            raise _api_error("write", e, "{0} of {1}".format(decision["operation"], what)) from e

    try:
        update = read_plan_write(read, decide, write, ConflictError, attempts=MAX_ATTEMPTS,
                                 check_mode=module.check_mode, describe=what)
    except StepError as e:
        fail_step(module, e)
    objects, decision = update.state, update.decision
    written = update.written
    if written is None:
        written = decision["after"] if decision["after"] is not None else decision["before"]

    if p["provider"] == "ingress_nginx":
        stray = [k for k in (objects["primary"].get("metadata", {}).get("annotations") or {})
                 if k.startswith("nginx.ingress.kubernetes.io/canary")]
        if stray:
            module.warn("primary Ingress {0} carries {1}; ingress-nginx ignores canary annotations on the primary "
                        "Ingress, so they have no effect and were left alone".format(p["name"], ", ".join(stray)))

    changed = decision["operation"] != "none"
    result = {
        "changed": changed,
        "previous_weight": decision["previous_weight"],
        "weight": decision["weight"],
        "weight_total": p["weight_total"],
        "operation": decision["operation"],
        "kind": kind,
        "object": _clean(written),
        "rules": decision["detail"],
    }
    if "schedule_complete" in decision:
        result["schedule_complete"] = decision["schedule_complete"]
    if decision.get("warning"):
        module.warn(decision["warning"])
    if module._diff:
        result["diff"] = {"before": _clean(decision["before"]), "after": _clean(decision["after"])}
    module.exit_json(**result)


def main():
    args = copy.deepcopy(AUTH_ARG_SPEC)
    args.update(CANARY_ARGS)
    module = AnsibleK8SModule(
        module_class=AnsibleModule,
        argument_spec=args,
        required_if=[("action", "set", ["weight"]), ("action", "advance", ["steps"])],
        supports_check_mode=True,
    )
    errors = check_names(module.params)
    if errors:
        fail_validation(module, "; ".join(errors) + ". Nothing was read or written.")
    try:
        client = get_api_client(module)
        execute(module, client)
    except CoreException as e:
        module.fail_from_exception(e)


if __name__ == "__main__":
    main()

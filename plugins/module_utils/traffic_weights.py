# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Weight arithmetic for canary traffic shifting, on plain Kubernetes object dicts.

Nothing here talks to a cluster: every function takes the object(s) as read from
the API and returns what to write. The module (``canary_weight``) does the I/O.

Three providers are understood:

``gateway_api``
    ``HTTPRoute.spec.rules[].backendRefs[].weight`` -- relative weights, 1 when
    omitted (Gateway API v1 HTTPBackendRef reference). The canary's weight is its
    real share of the rule's traffic: canary / (sum of every backendRef's weight),
    so a third backend in the rule counts.
``ingress_nginx``
    A *separate* canary Ingress annotated ``nginx.ingress.kubernetes.io/canary:
    "true"`` and ``canary-weight`` (out of ``canary-weight-total``, default 100).
    ingress-nginx ignores canary annotations on the primary Ingress, so the
    primary is only ever read, never written. Its balancer
    (rootfs/etc/nginx/lua/balancer.lua) routes to the canary when
    ``math.random(total) <= canary-weight`` with ``total`` the annotation only
    when it is above 100 and 100 otherwise: a ``canary-weight-total`` of 100 or
    less means 100.
``openshift_route``
    ``Route.spec.to`` and ``spec.alternateBackends[]`` weights, 0-256, 100
    when omitted (OpenShift Route API reference).

A "weight" here is the canary's share expressed out of ``weight_total``
(100 by default, so it reads as a percentage).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

PROVIDERS = ("gateway_api", "ingress_nginx", "openshift_route")
ACTIONS = ("set", "advance", "promote", "abort", "read")

NGINX_PREFIX = "nginx.ingress.kubernetes.io/"
NGINX_CANARY = NGINX_PREFIX + "canary"
NGINX_WEIGHT = NGINX_PREFIX + "canary-weight"
NGINX_WEIGHT_TOTAL = NGINX_PREFIX + "canary-weight-total"
# Annotations that would turn a copied Ingress into something other than a plain
# weighted canary, or that only describe the object they were read from.
_NGINX_CANARY_KEYS = ("canary", "canary-weight", "canary-weight-total", "canary-by-header",
                      "canary-by-header-value", "canary-by-header-pattern", "canary-by-cookie")
_NOT_COPIED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)

GATEWAY_MAX_WEIGHT = 1000000  # HTTPBackendRef.weight maximum
# ingress-nginx's balancer.lua: `if weightTotal ~= nil and weightTotal > 100 then ... end`, else 100.
NGINX_MIN_WEIGHT_TOTAL = 100
OPENSHIFT_MAX_WEIGHT = 256  # RouteTargetReference.weight maximum
GATEWAY_DEFAULT_WEIGHT = 1
OPENSHIFT_DEFAULT_WEIGHT = 100


class WeightError(ValueError):
    """Bad input; ``param`` names the module parameter at fault."""

    def __init__(self, param, msg):
        super(WeightError, self).__init__("{0}: {1}".format(param, msg))
        self.param = param


# --------------------------------------------------------------------------- weights

def max_weight_total(provider):
    if provider == "openshift_route":
        return OPENSHIFT_MAX_WEIGHT
    if provider == "gateway_api":
        return GATEWAY_MAX_WEIGHT
    return None


def validate_weight_total(weight_total, provider):
    if isinstance(weight_total, bool) or not isinstance(weight_total, int) or weight_total < 1:
        raise WeightError("weight_total", "must be a positive integer, got {0!r}".format(weight_total))
    if provider == "ingress_nginx" and weight_total < NGINX_MIN_WEIGHT_TOTAL:
        raise WeightError("weight_total", "must be at least {0} for provider ingress_nginx, got {1}: ingress-nginx "
                                          "ignores a canary-weight-total of 100 or less and uses 100, so canary-weight "
                                          "would be read as a percentage".format(NGINX_MIN_WEIGHT_TOTAL, weight_total))
    limit = max_weight_total(provider)
    if limit is not None and weight_total > limit:
        raise WeightError("weight_total", "must be between 1 and {0} for provider {1}, got {2}".format(
            limit, provider, weight_total))


def validate_weight(weight, weight_total, param="weight"):
    if isinstance(weight, bool) or not isinstance(weight, int):
        raise WeightError(param, "must be an integer between 0 and {0}, got {1!r}".format(weight_total, weight))
    if weight < 0 or weight > weight_total:
        raise WeightError(param, "must be between 0 and {0} (weight_total), got {1}".format(weight_total, weight))


def validate_steps(steps, weight_total):
    if not steps:
        raise WeightError("steps", "must be a non-empty list of weights, e.g. [10, 25, 50, 100]")
    for s in steps:
        validate_weight(s, weight_total, param="steps")
    if any(steps[i + 1] <= steps[i] for i in range(len(steps) - 1)):
        raise WeightError("steps", "must be strictly increasing, got {0}".format(list(steps)))


def next_step(current, steps):
    """The first step above ``current``; ``current`` itself when it is at or past the last step.

    ``advance`` never lowers the weight: a canary already above the schedule (someone set
    60 by hand on a [10, 25, 50] ramp) stays where it is rather than going back to 50.
    """
    for s in steps:
        # current may be fractional when read from relative weights (e.g. 1:2).
        if s > current + 1e-9:
            return s
    return current


def schedule_complete(current, steps):
    """Whether ``current`` is at or past the last step, so ``advance`` has nothing left to do."""
    return (current or 0) >= steps[-1] - 1e-9


def target_weight(action, current, weight_total, weight=None, steps=None):
    """The weight an action leads to, given the current one (None when no canary exists)."""
    if action == "set":
        if weight is None:
            raise WeightError("weight", "is required when action=set")
        validate_weight(weight, weight_total)
        return weight
    if action == "advance":
        if steps is None:
            raise WeightError("steps", "is required when action=advance")
        validate_steps(steps, weight_total)
        return next_step(current or 0, steps)
    if action == "promote":
        return weight_total
    if action == "abort":
        return 0
    if action == "read":
        return current
    raise WeightError("action", "must be one of {0}, got {1!r}".format(", ".join(ACTIONS), action))


def _as_number(value, default, where):
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise WeightError("name", "{0} has a non-integer weight {1!r}".format(where, value)) from None


def _display(weight):
    """Whole weights as ints, fractional ones rounded to 2 decimals (for results and messages)."""
    if weight is None:
        return None
    rounded = round(weight, 2)
    return int(rounded) if rounded == int(rounded) else rounded


# --------------------------------------------------------------------------- Gateway API HTTPRoute

def _ref_name(ref):
    return ref.get("name")


def _is_service_ref(ref):
    # backendRefs default to core Service; other kinds are someone else's business.
    return ref.get("group", "") in ("", "core") and ref.get("kind", "Service") == "Service"


def _find_ref(refs, name):
    for i, ref in enumerate(refs):
        if _ref_name(ref) == name and _is_service_ref(ref):
            return i
    return None


def _route_name(route):
    return (route.get("metadata") or {}).get("name")


def select_rules(route, stable, canary, rules=None):
    """Indexes of the HTTPRoute rules to shift.

    ``rules`` lists rule names (HTTPRouteRule ``name``) or zero-based indexes; by
    default every rule with a backendRef to the stable Service is chosen (with or
    without the canary one). A rule that references the canary but not the stable
    Service -- say a header-matched rule that sends testers to the canary -- is not
    a weighted split of the app's traffic: it is left alone, and naming it in
    ``rules`` is an error.
    """
    spec_rules = (route.get("spec") or {}).get("rules") or []

    def refs_of(i):
        return spec_rules[i].get("backendRefs") or []

    if rules:
        chosen = []
        for sel in rules:
            sel_s = str(sel)
            idx = None
            for i, rule in enumerate(spec_rules):
                if rule.get("name") == sel_s:
                    idx = i
                    break
            if idx is None and sel_s.isdigit() and int(sel_s) < len(spec_rules):
                idx = int(sel_s)
            if idx is None:
                names = [r.get("name") for r in spec_rules if r.get("name")]
                raise WeightError("rules", "no rule named or numbered {0!r} in HTTPRoute {1} ({2} rules{3})".format(
                    sel_s, _route_name(route), len(spec_rules), ", named " + ", ".join(names) if names else ""))
            if _find_ref(refs_of(idx), stable) is None:
                what = ("only canary_backend {0!r}, so it is not a weighted split of the app's traffic".format(canary)
                        if _find_ref(refs_of(idx), canary) is not None else
                        "neither it nor canary_backend {0!r}".format(canary))
                raise WeightError("rules", "rule {0!r} of HTTPRoute {1} has no backendRef to stable_backend {2!r}; it "
                                           "references {3}".format(sel_s, _route_name(route), stable, what))
            if idx not in chosen:
                chosen.append(idx)
        return chosen
    chosen = [i for i in range(len(spec_rules)) if _find_ref(refs_of(i), stable) is not None]
    if not chosen:
        canary_only = [i for i in range(len(spec_rules)) if _find_ref(refs_of(i), canary) is not None]
        hint = (" (rule(s) {0} reference only canary_backend {1!r} and are left alone)".format(
            ", ".join(str(spec_rules[i].get("name") or i) for i in canary_only), canary) if canary_only else "")
        raise WeightError("stable_backend", "no rule of HTTPRoute {0} has a backendRef to stable_backend {1!r}{2}; "
                                            "check stable_backend and canary_backend, or name the rules to shift in "
                                            "rules".format(_route_name(route), stable, hint))
    return chosen


def _rule_weights(refs, stable, canary, where):
    """(stable index, canary index, stable weight, canary weight, weight of every other backendRef)."""
    si, ci = _find_ref(refs, stable), _find_ref(refs, canary)
    sw = cw = other = 0
    for i, r in enumerate(refs):
        w = _as_number(r.get("weight"), GATEWAY_DEFAULT_WEIGHT, where)
        if i == si:
            sw = w
        elif i == ci:
            cw = w
        else:
            other += w
    return si, ci, sw, cw, other


def rule_share(canary, stable, other, weight_total):
    """The canary's real share of a rule's traffic, scaled to weight_total (0 when no weight at all)."""
    total = canary + stable + other
    if total <= 0:
        return 0.0
    return canary * weight_total / float(total)


def httproute_read(route, stable, canary, weight_total=100, rules=None):
    """Per-rule weights and the route's canary weight (the largest over the chosen rules).

    A rule's canary weight is the canary's share of everything the rule sends:
    canary / (stable + canary + other backendRefs), scaled to ``weight_total``.
    """
    detail = []
    for idx in select_rules(route, stable, canary, rules):
        rule = route["spec"]["rules"][idx]
        sw, cw, other = _rule_weights(rule.get("backendRefs") or [], stable, canary,
                                      "HTTPRoute rule {0}".format(idx))[2:]
        d = {"index": idx, "name": rule.get("name"), "stable_weight": sw, "canary_weight": cw,
             "weight": _display(rule_share(cw, sw, other, weight_total))}
        if other:
            d["other_weight"] = other
        detail.append(d)
    current = max(rule_share(d["canary_weight"], d["stable_weight"], d.get("other_weight", 0), weight_total)
                  for d in detail)
    return current, detail


def httproute_apply(route, stable, canary, weight, weight_total=100, rules=None, canary_port=None, fold=False):
    """A copy of ``route`` with the canary at ``weight`` in every chosen rule.

    The rule's weights are made to add up to ``weight_total``: canary ``weight``,
    other backendRefs unchanged, stable the rest. So the canary's real share is
    exactly ``weight / weight_total``; when the other backends' weights leave less
    than ``weight`` for the canary, that is an error naming ``weight``.

    A missing canary backendRef is added (a copy of the stable one, renamed, with
    ``canary_port`` if given) unless the weight is 0. ``fold`` removes the canary
    backendRefs and gives the stable backend ``weight_total`` (others unchanged).
    """
    new = copy.deepcopy(route)
    for idx in select_rules(route, stable, canary, rules):
        refs = new["spec"]["rules"][idx].setdefault("backendRefs", [])
        si, ci, _sw, _cw, other = _rule_weights(refs, stable, canary, "HTTPRoute rule {0}".format(idx))
        if fold:
            refs[si]["weight"] = weight_total
            if ci is not None:
                del refs[ci]
            continue
        if ci is None and weight == 0:
            # 0 % to a canary that is not there: only make sure the stable backend still gets traffic.
            if refs[si].get("weight") == 0 and other == 0:
                refs[si]["weight"] = weight_total
            continue
        if other > weight_total:
            raise WeightError("weight_total", "rule {0} of HTTPRoute {1} sends weight {2} to other backends, more "
                                              "than weight_total {3}; raise weight_total".format(
                                                  idx, _route_name(route), other, weight_total))
        if weight + other > weight_total:
            raise WeightError("weight", "rule {0} of HTTPRoute {1} also sends weight {2} to other backends, so out "
                                        "of weight_total {3} the canary can get at most {4}, not {5}; lower those "
                                        "weights or raise weight_total".format(
                                            idx, _route_name(route), other, weight_total,
                                            weight_total - other, weight))
        if ci is None:
            ref = copy.deepcopy(refs[si])
            ref["name"] = canary
            if canary_port is not None:
                ref["port"] = canary_port
            refs.append(ref)
            ci = len(refs) - 1
        refs[si]["weight"] = weight_total - weight - other
        refs[ci]["weight"] = weight
    return new


# --------------------------------------------------------------------------- ingress-nginx

def _annotations(obj):
    return (obj.get("metadata") or {}).get("annotations") or {}


def nginx_effective_total(annotated_total):
    """The total ingress-nginx really divides by: the annotation when above 100, else 100 (balancer.lua)."""
    return annotated_total if annotated_total > NGINX_MIN_WEIGHT_TOTAL else NGINX_MIN_WEIGHT_TOTAL


def ingress_read(canary_ingress, weight_total=100):
    """Canary share of a canary Ingress as ingress-nginx applies it, scaled to weight_total (None: no canary).

    ingress-nginx sends a request to the canary when ``math.random(total) <= weight``
    (a uniform integer in 1..total), with ``total`` the ``canary-weight-total``
    annotation only when above 100 and 100 otherwise. So the share is
    ``min(max(weight, 0), total) / total`` with that total: ``canary-weight: 25``
    with ``canary-weight-total: 50`` is 25 %, not 50 %.
    """
    if canary_ingress is None:
        return None
    ann = _annotations(canary_ingress)
    if str(ann.get(NGINX_CANARY, "")).lower() != "true":
        return 0.0
    name = canary_ingress.get("metadata", {}).get("name")
    w = _as_number(ann.get(NGINX_WEIGHT), 0, "Ingress {0} {1}".format(name, NGINX_WEIGHT))
    total = nginx_effective_total(_as_number(ann.get(NGINX_WEIGHT_TOTAL), 100,
                                             "Ingress {0} {1}".format(name, NGINX_WEIGHT_TOTAL)))
    return min(max(w, 0), total) * weight_total / float(total)


def primary_has_canary_annotations(primary):
    return [k for k in _annotations(primary) if k.startswith(NGINX_PREFIX + "canary")]


def _rename_backends(spec, stable, canary):
    """Point every backend of an Ingress spec that names the stable Service at the canary one."""
    hits = 0
    backends = []
    if spec.get("defaultBackend"):
        backends.append(spec["defaultBackend"])
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            if path.get("backend"):
                backends.append(path["backend"])
    for backend in backends:
        svc = backend.get("service") or {}
        if svc.get("name") == stable:
            svc["name"] = canary
            hits += 1
    return hits


def ingress_build_canary(primary, stable, canary, canary_name, weight, weight_total=100):
    """A canary Ingress derived from the primary: same hosts, paths and class, canary Service, weighted."""
    meta = primary.get("metadata") or {}
    spec = copy.deepcopy(primary.get("spec") or {})
    if _rename_backends(spec, stable, canary) == 0:
        raise WeightError("stable_backend", "primary Ingress {0} has no backend for Service {1!r}".format(
            meta.get("name"), stable))
    annotations = {k: v for k, v in _annotations(primary).items()
                   if k not in _NOT_COPIED_ANNOTATIONS
                   and not (k.startswith(NGINX_PREFIX) and k[len(NGINX_PREFIX):] in _NGINX_CANARY_KEYS)}
    # TLS secrets stay with the primary: ingress-nginx serves them from there for the whole host.
    spec.pop("tls", None)
    new = {
        "apiVersion": primary.get("apiVersion", "networking.k8s.io/v1"),
        "kind": "Ingress",
        "metadata": {"name": canary_name, "namespace": meta.get("namespace"), "annotations": annotations},
        "spec": spec,
    }
    if meta.get("labels"):
        new["metadata"]["labels"] = dict(meta["labels"])
    return ingress_apply(new, weight, weight_total)


def ingress_apply(canary_ingress, weight, weight_total=100):
    """A copy of the canary Ingress with canary=true and the weight annotations set."""
    new = copy.deepcopy(canary_ingress)
    ann = new.setdefault("metadata", {}).setdefault("annotations", {})
    if ann is None:
        ann = new["metadata"]["annotations"] = {}
    ann[NGINX_CANARY] = "true"
    ann[NGINX_WEIGHT] = str(weight)
    if weight_total != 100 or NGINX_WEIGHT_TOTAL in ann:
        ann[NGINX_WEIGHT_TOTAL] = str(weight_total)
    return new


# --------------------------------------------------------------------------- OpenShift Route

def _route_backends(route):
    """[(holder, key), ...] for spec.to and every alternateBackends entry, Service kind only."""
    spec = route.get("spec") or {}
    out = []
    if spec.get("to"):
        out.append(spec["to"])
    out.extend(spec.get("alternateBackends") or [])
    return out


def _route_find(route, name):
    for b in _route_backends(route):
        if b.get("name") == name and b.get("kind", "Service") == "Service":
            return b
    return None


def route_read(route, stable, canary, weight_total=100):
    name = route.get("metadata", {}).get("name")
    s, c = _route_find(route, stable), _route_find(route, canary)
    if s is None and c is None:
        raise WeightError("stable_backend", "Route {0} sends traffic to neither Service {1!r} nor {2!r}".format(
            name, stable, canary))
    where = "Route {0}".format(name)
    sw = _as_number(s.get("weight"), OPENSHIFT_DEFAULT_WEIGHT, where) if s else 0
    cw = _as_number(c.get("weight"), OPENSHIFT_DEFAULT_WEIGHT, where) if c else 0
    other = _route_other_weight(route, s, c)
    detail = {"stable_weight": sw, "canary_weight": cw}
    if other:
        detail["other_weight"] = other
    # As for an HTTPRoute rule: the canary's real share, other alternateBackends included.
    return rule_share(cw, sw, other, weight_total), detail


def _route_other_weight(route, *mine):
    """Sum of the weights of the Route's backends other than ``mine`` (100 when omitted)."""
    where = "Route {0}".format(route.get("metadata", {}).get("name"))
    return sum(_as_number(b.get("weight"), OPENSHIFT_DEFAULT_WEIGHT, where)
               for b in _route_backends(route) if not any(b is m for m in mine))


def route_apply(route, stable, canary, weight, weight_total=100, fold=False):
    """A copy of the Route with the canary at ``weight``.

    The canary is added to ``alternateBackends`` when missing (unless the weight
    is 0). Other alternateBackends keep their weights and the stable Service gets
    the rest of ``weight_total``, so the canary's real share is ``weight /
    weight_total``. ``fold`` makes the stable Service ``spec.to`` with the whole
    weight and drops the canary from ``alternateBackends``.
    """
    new = copy.deepcopy(route)
    spec = new.setdefault("spec", {})
    to = spec.get("to") or {}
    alternates = spec.get("alternateBackends") or []
    if to.get("name") != stable:
        # The stable Service belongs in spec.to: that is where the router sends traffic
        # when every alternate is at weight 0, so keep it the fallback.
        found = [b for b in alternates if b.get("name") == stable]
        if not found:
            raise WeightError("stable_backend", "Route {0} has no backend for Service {1!r} (spec.to is {2!r})".format(
                route.get("metadata", {}).get("name"), stable, to.get("name")))
        alternates = [b for b in alternates if b.get("name") != stable]
        if to:
            alternates.insert(0, to)
        to = found[0]
    canary_ref = None
    for b in alternates:
        if b.get("name") == canary:
            canary_ref = b
    if fold:
        to["weight"] = weight_total
        alternates = [b for b in alternates if b.get("name") != canary]
    else:
        where = "Route {0}".format(route.get("metadata", {}).get("name"))
        other = sum(_as_number(b.get("weight"), OPENSHIFT_DEFAULT_WEIGHT, where)
                    for b in alternates if b is not canary_ref)
        if (canary_ref is not None or weight > 0) and weight + other > weight_total:
            raise WeightError("weight", "Route {0} also sends weight {1} to other alternateBackends, so out of "
                                        "weight_total {2} the canary can get at most {3}, not {4}; lower those "
                                        "weights or raise weight_total".format(
                                            route.get("metadata", {}).get("name"), other, weight_total,
                                            max(0, weight_total - other), weight))
        if canary_ref is None and weight > 0:
            canary_ref = {"kind": "Service", "name": canary}
            alternates.append(canary_ref)
        if canary_ref is not None:
            canary_ref["weight"] = weight
            to["weight"] = weight_total - weight - other
        elif to.get("weight") == 0 and other == 0:
            # 0 % to an absent canary: just make sure the stable Service still gets traffic.
            to["weight"] = weight_total
    spec["to"] = to
    if alternates:
        spec["alternateBackends"] = alternates
    else:
        spec.pop("alternateBackends", None)
    return new


# --------------------------------------------------------------------------- one entry point

def plan(provider, objects, action, stable, canary, weight=None, steps=None, weight_total=100,
         rules=None, canary_port=None, fold=False, create_canary=True, canary_name=None):
    """Decide what to write.

    ``objects`` holds the current objects: ``{"route": obj}`` for gateway_api and
    openshift_route, ``{"primary": obj, "canary": obj_or_None}`` for ingress_nginx.

    Returns a dict: ``previous_weight`` (None when no canary exists yet),
    ``weight`` (after), ``operation`` (none / replace / create / delete), ``target``
    (which object is written: route or canary), ``before`` and ``after`` objects, and
    ``detail`` (per-rule weights for gateway_api).
    """
    if provider not in PROVIDERS:
        raise WeightError("provider", "must be one of {0}, got {1!r}".format(", ".join(PROVIDERS), provider))
    validate_weight_total(weight_total, provider)
    if not stable:
        raise WeightError("stable_backend", "is required")
    if not canary:
        raise WeightError("canary_backend", "is required")
    if stable == canary:
        raise WeightError("canary_backend", "must differ from stable_backend ({0!r})".format(stable))
    if fold and action != "promote":
        raise WeightError("fold", "is only allowed with action=promote, got action={0}".format(action))

    if provider == "gateway_api":
        before = objects["route"]
        current, detail = httproute_read(before, stable, canary, weight_total, rules)
        new_weight = target_weight(action, current, weight_total, weight, steps)
        stay = _advance_stays(action, current, steps)
        after = before if action == "read" or stay else httproute_apply(
            before, stable, canary, new_weight, weight_total, rules, canary_port, fold)
        if after != before:
            detail = httproute_read(after, stable, canary, weight_total, rules)[1]
        result = {"target": "route", "before": before, "after": after, "detail": detail}
    elif provider == "openshift_route":
        before = objects["route"]
        current, detail = route_read(before, stable, canary, weight_total)
        new_weight = target_weight(action, current, weight_total, weight, steps)
        stay = _advance_stays(action, current, steps)
        after = before if action == "read" or stay else route_apply(
            before, stable, canary, new_weight, weight_total, fold)
        if after != before:
            detail = route_read(after, stable, canary, weight_total)[1]
        result = {"target": "route", "before": before, "after": after, "detail": [detail]}
    else:
        primary, before = objects["primary"], objects.get("canary")
        if canary_name == (primary.get("metadata") or {}).get("name"):
            raise WeightError("canary_ingress_name", "must differ from the primary Ingress name {0!r}: ingress-nginx "
                                                     "ignores canary annotations on the primary".format(canary_name))
        current = ingress_read(before, weight_total)
        new_weight = target_weight(action, current, weight_total, weight, steps)
        stay = _advance_stays(action, current, steps)
        if action == "read" or stay:
            after = before
        elif fold:
            after = None
        elif before is None:
            if new_weight == 0:
                after = None  # nothing to send 0 % to: no canary Ingress is the same traffic
            elif not create_canary:
                raise WeightError("create_canary", "canary Ingress {0} does not exist and create_canary is "
                                                   "false".format(canary_name))
            else:
                after = ingress_build_canary(primary, stable, canary, canary_name, new_weight, weight_total)
        else:
            after = ingress_apply(before, new_weight, weight_total)
        result = {"target": "canary", "before": before, "after": after, "detail": []}

    if fold:
        new_weight = 0
    if result["before"] == result["after"]:
        op = "none"
    elif result["before"] is None:
        op = "create"
    elif result["after"] is None:
        op = "delete"
    else:
        op = "replace"
    result.update({"previous_weight": _display(current), "weight": _display(new_weight), "operation": op})
    if action == "advance":
        result["schedule_complete"] = schedule_complete(current, steps)
        if (current or 0) > steps[-1] + 1e-9:
            result["warning"] = ("canary weight {0} is already above the last step {1} of steps {2}; advance keeps "
                                 "it (it never lowers the weight)".format(_display(current), steps[-1], list(steps)))
    return result


def _advance_stays(action, current, steps):
    """``advance`` from at or past the last step writes nothing: the weight stays as it is."""
    return action == "advance" and schedule_complete(current, steps)


def read_weight(provider, objects, name, stable, canary, canary_name=None, weight_total=100):
    """The canary's share of traffic (what ``plan(..., "read")`` decides) from a namespace's traffic objects.

    ``objects`` is a list as a list call returns it (for ingress_nginx, the Ingresses of the namespace: the
    primary ``name`` and its canary ``canary_name``, default ``<name>-canary``). None when ``name`` is absent.
    """
    by_name = dict(((o.get("metadata") or {}).get("name"), o) for o in objects or [])
    main = by_name.get(name)
    if main is None:
        return None
    canary_name = canary_name or "{0}-canary".format(name)
    found = {"primary": main, "canary": by_name.get(canary_name)} if provider == "ingress_nginx" else {"route": main}
    return plan(provider, found, "read", stable, canary, weight_total=weight_total,
                canary_name=canary_name)["weight"]

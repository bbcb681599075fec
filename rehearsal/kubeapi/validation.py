"""Field validation (422 Invalid) for the kinds the emulator serves.

Mirrors the checks of k8s.io/kubernetes/pkg/apis/*/validation that a launch can trip over: names,
labels, selectors vs. template labels, containers, ports, immutable fields. Messages follow
kube-apiserver's wording so clients and people see the same errors.
"""

from __future__ import annotations

import re

from .errors import FieldError, Raw
from .selectors import SelectorError, label_selector_matches, valid_label_key, valid_label_value

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
               "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
               "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


def name_problem(name: str, rule: str) -> str | None:
    """Why ``name`` is not a valid object name under ``rule`` (subdomain | label | dns1035), or None."""
    if rule == "label":
        if len(name) > 63:
            return "must be no more than 63 characters"
        return None if _LABEL.match(name) else LABEL_MSG
    if rule == "dns1035":
        if len(name) > 63:
            return "must be no more than 63 characters"
        return None if _DNS1035.match(name) else DNS1035_MSG
    if len(name) > 253:
        return "must be no more than 253 characters"
    return None if _SUBDOMAIN.match(name) else SUBDOMAIN_MSG


def _d(obj, *keys):
    """Nested dict lookup that tolerates missing or mistyped levels."""
    cur = obj
    for k in keys:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(k)
    return cur


def validate_metadata(rt, obj: dict, errs: list[FieldError]) -> None:
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not name:
        if not meta.get("generateName"):
            errs.append(FieldError("Required", "metadata.name", detail="name or generateName is required"))
    else:
        why = name_problem(name, rt.name_rule)
        if why:
            errs.append(FieldError("Invalid", "metadata.name", name, why))
    if rt.namespaced and not meta.get("namespace"):
        errs.append(FieldError("Required", "metadata.namespace"))
    _labels(meta.get("labels"), "metadata.labels", errs)
    for key in meta.get("annotations") or {}:
        why = valid_label_key(key)
        if why:
            errs.append(FieldError("Invalid", "metadata.annotations", key, why))


def _labels(labels, field: str, errs: list[FieldError]) -> None:
    for key, value in (labels or {}).items():
        why = valid_label_key(key)
        if why:
            errs.append(FieldError("Invalid", field, key, why))
        if isinstance(value, str):
            why = valid_label_value(value)
            if why:
                errs.append(FieldError("Invalid", field, value, why))


def _ports(ports, field: str, errs: list[FieldError]) -> None:
    for i, p in enumerate(ports or []):
        if not isinstance(p, dict):
            continue
        cp = p.get("containerPort")
        if cp is None:
            errs.append(FieldError("Required", f"{field}[{i}].containerPort"))
        elif not 1 <= cp <= 65535:
            errs.append(FieldError("Invalid", f"{field}[{i}].containerPort", cp,
                                   "must be between 1 and 65535, inclusive"))
        proto = p.get("protocol")
        if proto is not None and proto not in ("TCP", "UDP", "SCTP"):
            errs.append(FieldError("Unsupported", f"{field}[{i}].protocol", proto,
                                   'supported values: "SCTP", "TCP", "UDP"'))


def _containers(containers, field: str, errs: list[FieldError], required: bool) -> None:
    if not containers:
        if required:
            errs.append(FieldError("Required", field))
        return
    seen = set()
    for i, c in enumerate(containers):
        if not isinstance(c, dict):
            continue
        path = f"{field}[{i}]"
        name = c.get("name")
        if not name:
            errs.append(FieldError("Required", f"{path}.name"))
        else:
            why = name_problem(name, "label")
            if why:
                errs.append(FieldError("Invalid", f"{path}.name", name, why))
            if name in seen:
                errs.append(FieldError("Duplicate", f"{path}.name", name))
            seen.add(name)
        if not c.get("image"):
            errs.append(FieldError("Required", f"{path}.image"))
        policy = c.get("imagePullPolicy")
        if policy is not None and policy not in ("Always", "IfNotPresent", "Never"):
            errs.append(FieldError("Unsupported", f"{path}.imagePullPolicy", policy,
                                   'supported values: "Always", "IfNotPresent", "Never"'))
        _ports(c.get("ports"), f"{path}.ports", errs)
        for j, env in enumerate(c.get("env") or []):
            if not isinstance(env, dict):
                continue
            ename = env.get("name")
            if not ename:
                errs.append(FieldError("Required", f"{path}.env[{j}].name"))
            elif not _ENV_NAME.match(ename):
                errs.append(FieldError("Invalid", f"{path}.env[{j}].name", ename,
                                       "a valid environment variable name must consist of alphabetic characters, "
                                       "digits, '_', '-', or '.', and must not start with a digit (e.g. "
                                       "'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for "
                                       "validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"))


def validate_pod_spec(spec, field: str, errs: list[FieldError], restart_policies=("Always", "OnFailure", "Never")):
    if not isinstance(spec, dict):
        errs.append(FieldError("Required", field))
        return
    _containers(spec.get("containers"), f"{field}.containers", errs, required=True)
    _containers(spec.get("initContainers"), f"{field}.initContainers", errs, required=False)
    policy = spec.get("restartPolicy")
    if policy not in restart_policies:
        allowed = ", ".join(f'"{p}"' for p in restart_policies)
        if policy is None:
            errs.append(FieldError("Required", f"{field}.restartPolicy", detail=f"valid values: {allowed}"))
        else:
            errs.append(FieldError("Unsupported", f"{field}.restartPolicy", policy, f"supported values: {allowed}"))
    dns = spec.get("dnsPolicy")
    if dns is not None and dns not in ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"):
        errs.append(FieldError("Unsupported", f"{field}.dnsPolicy", dns,
                               'supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"'))
    grace = spec.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace < 0:
        errs.append(FieldError("Invalid", f"{field}.terminationGracePeriodSeconds", grace,
                               "must be greater than or equal to 0"))


def _non_negative(value, field: str, errs: list[FieldError]) -> None:
    if isinstance(value, int) and value < 0:
        errs.append(FieldError("Invalid", field, value, "must be greater than or equal to 0"))


def _selector_and_template(obj: dict, errs: list[FieldError], kind_word: str,
                           restart_policies=("Always",)) -> None:
    spec = obj.get("spec") or {}
    selector = spec.get("selector")
    template = spec.get("template")
    if selector is None:
        errs.append(FieldError("Required", "spec.selector"))
    elif not (selector.get("matchLabels") or selector.get("matchExpressions")):
        errs.append(FieldError("Invalid", "spec.selector", Raw("v1.LabelSelector{MatchLabels:map[string]string(nil), "
                                                               "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"),
                               f"empty selector is invalid for {kind_word}"))
    if not isinstance(template, dict):
        errs.append(FieldError("Required", "spec.template"))
        return
    labels = _d(template, "metadata", "labels") or {}
    _labels(labels, "spec.template.metadata.labels", errs)
    if selector and (selector.get("matchLabels") or selector.get("matchExpressions")):
        try:
            ok = label_selector_matches(selector, labels)
        except SelectorError as exc:
            errs.append(FieldError("Invalid", "spec.selector", str(selector), str(exc)))
            ok = True
        if not ok:
            rendered = "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items())) + "}"
            errs.append(FieldError("Invalid", "spec.template.metadata.labels", Raw(rendered),
                                   "`selector` does not match template `labels`"))
    validate_pod_spec(template.get("spec"), "spec.template.spec", errs, restart_policies)


def deployment(obj: dict, old: dict | None, errs: list[FieldError]) -> None:
    spec = obj.get("spec") or {}
    _non_negative(spec.get("replicas"), "spec.replicas", errs)
    _non_negative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit", errs)
    _selector_and_template(obj, errs, "deployment")
    strategy = spec.get("strategy") or {}
    stype = strategy.get("type")
    if stype not in (None, "RollingUpdate", "Recreate"):
        errs.append(FieldError("Unsupported", "spec.strategy.type", stype,
                               'supported values: "Recreate", "RollingUpdate"'))
    if stype == "Recreate" and strategy.get("rollingUpdate"):
        errs.append(FieldError("Forbidden", "spec.strategy.rollingUpdate",
                               detail="may not be specified when strategy `type` is 'Recreate'"))
    ru = strategy.get("rollingUpdate") or {}
    if ru.get("maxSurge") in (0, "0%") and ru.get("maxUnavailable") in (0, "0%"):
        errs.append(FieldError("Invalid", "spec.strategy.rollingUpdate.maxUnavailable", ru.get("maxUnavailable"),
                               "may not be 0 when `maxSurge` is 0"))
    _immutable_selector(obj, old, errs)


def replicaset(obj: dict, old: dict | None, errs: list[FieldError]) -> None:
    _non_negative((obj.get("spec") or {}).get("replicas"), "spec.replicas", errs)
    _selector_and_template(obj, errs, "replicaset")
    _immutable_selector(obj, old, errs)


def _immutable_selector(obj: dict, old: dict | None, errs: list[FieldError]) -> None:
    if old is None:
        return
    new_sel, old_sel = _d(obj, "spec", "selector"), _d(old, "spec", "selector")
    if new_sel is not None and old_sel is not None and new_sel != old_sel:
        errs.append(FieldError("Invalid", "spec.selector", str(new_sel), "field is immutable"))


def job(obj: dict, old: dict | None, errs: list[FieldError]) -> None:
    spec = obj.get("spec") or {}
    for key in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds"):
        _non_negative(spec.get(key), f"spec.{key}", errs)
    _selector_and_template(obj, errs, "job", restart_policies=("OnFailure", "Never"))
    if old is not None:
        old_spec = old.get("spec") or {}
        for key in ("selector", "template", "completions"):
            if key in old_spec and spec.get(key) != old_spec.get(key):
                if key == "completions":
                    errs.append(FieldError("Invalid", "spec.completions", spec.get(key), "field is immutable"))
                else:
                    errs.append(FieldError("Invalid", f"spec.{key}", "...", "field is immutable"))


def pod(obj: dict, old: dict | None, errs: list[FieldError]) -> None:
    validate_pod_spec(obj.get("spec"), "spec", errs)
    if old is None:
        return

    def mutable_view(spec):
        spec = dict(spec or {})
        for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
            spec.pop(key, None)
        for key in ("containers", "initContainers"):
            spec[key] = [{k: v for k, v in c.items() if k != "image"} for c in spec.get(key) or []
                         if isinstance(c, dict)]
        return spec

    if mutable_view(obj.get("spec")) != mutable_view(old.get("spec")):
        errs.append(FieldError("Forbidden", "spec", detail="pod updates may not change fields other than "
                               "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                               "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
                               "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it "
                               "was previously negative)"))


def service(obj: dict, old: dict | None, errs: list[FieldError]) -> None:
    spec = obj.get("spec") or {}
    stype = spec.get("type")
    if stype not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        errs.append(FieldError("Unsupported", "spec.type", stype,
                               'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'))
    ports = spec.get("ports") or []
    if not ports and stype != "ExternalName" and spec.get("clusterIP") != "None":
        errs.append(FieldError("Required", "spec.ports"))
    names = set()
    for i, p in enumerate(ports):
        if not isinstance(p, dict):
            continue
        name = p.get("name")
        if len(ports) > 1 and not name:
            errs.append(FieldError("Required", f"spec.ports[{i}].name"))
        if name:
            if name in names:
                errs.append(FieldError("Duplicate", f"spec.ports[{i}].name", name))
            names.add(name)
        port = p.get("port")
        if port is None:
            errs.append(FieldError("Required", f"spec.ports[{i}].port"))
        elif not 1 <= port <= 65535:
            errs.append(FieldError("Invalid", f"spec.ports[{i}].port", port, "must be between 1 and 65535, "
                                   "inclusive"))
        proto = p.get("protocol")
        if proto not in (None, "TCP", "UDP", "SCTP"):
            errs.append(FieldError("Unsupported", f"spec.ports[{i}].protocol", proto,
                                   'supported values: "SCTP", "TCP", "UDP"'))
    _labels(spec.get("selector"), "spec.selector", errs)
    if old is not None:
        old_ip, new_ip = _d(old, "spec", "clusterIP"), spec.get("clusterIP")
        if old_ip and new_ip and old_ip != new_ip:
            errs.append(FieldError("Invalid", "spec.clusterIPs[0]", f"[]string{{\"{new_ip}\"}}",
                                   "may not change once set"))


def _config_keys(obj: dict, errs: list[FieldError], keys=("data", "binaryData")) -> None:
    for section in keys:
        for key in obj.get(section) or {}:
            if not _CONFIG_KEY.match(key) or len(key) > 253:
                errs.append(FieldError("Invalid", f"{section}[{key}]", key,
                                       "a valid config key must consist of alphanumeric characters, '-', '_' or "
                                       "'.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
                                       "validation is '[-._a-zA-Z0-9]+')"))


def configmap(obj: dict, old: dict | None, errs: list[FieldError]) -> None:
    _config_keys(obj, errs)
    if old is not None and old.get("immutable") and (obj.get("data") != old.get("data")):
        errs.append(FieldError("Forbidden", "data", detail="field is immutable when `immutable` is set"))


def secret(obj: dict, old: dict | None, errs: list[FieldError]) -> None:
    _config_keys(obj, errs, ("data",))
    if old is not None and obj.get("type") != old.get("type"):
        errs.append(FieldError("Invalid", "type", obj.get("type"), "field is immutable"))


def ingress(obj: dict, old: dict | None, errs: list[FieldError]) -> None:
    for i, rule in enumerate(_d(obj, "spec", "rules") or []):
        for j, path in enumerate(_d(rule, "http", "paths") or []):
            field = f"spec.rules[{i}].http.paths[{j}]"
            if not isinstance(path, dict):
                continue
            ptype = path.get("pathType")
            if ptype is None:
                errs.append(FieldError("Required", f"{field}.pathType", detail="pathType must be specified"))
            elif ptype not in ("Exact", "Prefix", "ImplementationSpecific"):
                errs.append(FieldError("Unsupported", f"{field}.pathType", ptype,
                                       'supported values: "Exact", "ImplementationSpecific", "Prefix"'))
            if not path.get("backend"):
                errs.append(FieldError("Required", f"{field}.backend"))


def httproute(obj: dict, old: dict | None, errs: list[FieldError]) -> None:
    for i, rule in enumerate(_d(obj, "spec", "rules") or []):
        for j, ref in enumerate(_d(rule, "backendRefs") or []):
            if not isinstance(ref, dict):
                continue
            field = f"spec.rules[{i}].backendRefs[{j}]"
            weight = ref.get("weight")
            if isinstance(weight, int) and not 0 <= weight <= 1000000:
                errs.append(FieldError("Invalid", f"{field}.weight", weight,
                                       "should be between 0 and 1000000"))
            if ref.get("kind", "Service") == "Service" and ref.get("group", "") == "" and ref.get("port") is None:
                errs.append(FieldError("Invalid", field, "object", "Must have port for Service reference"))


def route(obj: dict, old: dict | None, errs: list[FieldError]) -> None:
    spec = obj.get("spec") or {}
    targets = [("spec.to", spec.get("to"))] + [
        (f"spec.alternateBackends[{i}]", t) for i, t in enumerate(spec.get("alternateBackends") or [])]
    for field, target in targets:
        if isinstance(target, dict):
            weight = target.get("weight")
            if isinstance(weight, int) and not 0 <= weight <= 256:
                errs.append(FieldError("Invalid", f"{field}.weight", weight, "must be between 0 and 256"))
    if len(spec.get("alternateBackends") or []) > 3:
        errs.append(FieldError("TooLong", "spec.alternateBackends", detail="must have at most 3 items"))


VALIDATORS = {
    "pods": pod,
    "services": service,
    "configmaps": configmap,
    "secrets": secret,
    "deployments.apps": deployment,
    "replicasets.apps": replicaset,
    "jobs.batch": job,
    "ingresses.networking.k8s.io": ingress,
    "httproutes.gateway.networking.k8s.io": httproute,
    "routes.route.openshift.io": route,
}


def validate(rt, obj: dict, old: dict | None = None) -> list[FieldError]:
    """Everything wrong with ``obj`` (already decoded and defaulted); ``old`` is set on updates."""
    errs: list[FieldError] = []
    validate_metadata(rt, obj, errs)
    fn = VALIDATORS.get(rt.key)
    if fn is not None:
        fn(obj, old, errs)
    return errs

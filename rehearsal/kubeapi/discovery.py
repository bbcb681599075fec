"""API discovery documents: /version, /api, /apis, /apis/<g>/<v>, legacy and aggregated (apidiscovery v2).

Shapes per https://kubernetes.io/docs/concepts/overview/kubernetes-api/#discovery-api
"""

from __future__ import annotations

import hashlib

from .resources import REGISTRY, SUB_VERBS, ResourceType

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

VERSION = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "70d3cc986aa8221cd1dfb1121852688902d3bf53",
    "gitTreeState": "clean", "buildDate": "2024-12-11T17:59:15Z", "goVersion": "go1.23.3", "compiler": "gc",
    "platform": "linux/amd64",
}


def _hash(rt: ResourceType) -> str:
    # Like kube's storageVersionHash: stable per group/version/kind, opaque to clients.
    import base64

    return base64.b64encode(hashlib.sha256(f"{rt.group}/{rt.version}/{rt.kind}".encode()).digest()[:8]).decode()


def _sub_kind(rt: ResourceType, sub: str) -> tuple[str, str, str]:
    if sub == "scale":
        return "autoscaling", "v1", "Scale"
    if sub == "log":
        return "", "v1", "Pod"
    return rt.group, rt.version, rt.kind


def _sub_verbs(sub: str) -> list[str]:
    return ["get"] if sub == "log" else list(SUB_VERBS)


def resource_list(group: str, version: str) -> dict | None:
    types = REGISTRY.in_group_version(group, version)
    if not types:
        return None
    resources = []
    for rt in types:
        entry = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced, "kind": rt.kind,
                 "verbs": sorted(rt.verbs)}
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        entry["storageVersionHash"] = _hash(rt)
        resources.append(entry)
        for sub in rt.subresources:
            g, v, k = _sub_kind(rt, sub)
            sub_entry = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced, "kind": k,
                         "verbs": _sub_verbs(sub)}
            if sub == "scale":
                sub_entry.update({"group": g, "version": v})
            resources.append(sub_entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": types[0].api_version,
            "resources": resources}


def api_versions(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _groups() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for group, version in REGISTRY.group_versions():
        if group:
            groups.setdefault(group, []).append(version)
    return groups


def api_group(name: str) -> dict | None:
    versions = _groups().get(name)
    if not versions:
        return None
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list() -> dict:
    groups = []
    for name in _groups():
        g = api_group(name)
        del g["kind"], g["apiVersion"]
        groups.append(g)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _aggregated_resource(rt: ResourceType) -> dict:
    entry = {
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": sorted(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    subs = []
    for sub in rt.subresources:
        g, v, k = _sub_kind(rt, sub)
        subs.append({"subresource": sub, "responseKind": {"group": g, "version": v, "kind": k},
                     "verbs": _sub_verbs(sub)})
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated(core: bool, api_version: str = "apidiscovery.k8s.io/v2") -> dict:
    """The APIGroupDiscoveryList for /api (core) or /apis (named groups)."""
    items = []
    by_group: dict[str, dict[str, list]] = {}
    for rt in REGISTRY.types:
        if (rt.group == "") != core:
            continue
        by_group.setdefault(rt.group, {}).setdefault(rt.version, []).append(_aggregated_resource(rt))
    for group, versions in by_group.items():
        items.append({
            "metadata": {"name": group, "creationTimestamp": None},
            "versions": [{"version": v, "resources": rs, "freshness": "Current"} for v, rs in versions.items()],
        })
    return {"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items}

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pre-flight judgements on what the cluster returned, as plain data: nodes Ready, Secrets present,
ResourceQuota headroom for the pods a rollout adds. Each function returns check rows
``{check, target, passed, detail}``; the module only reads the objects.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re

_QUANTITY_RE = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_SUFFIX = {
    None: 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60,
}
# Quota resources a new pod's spec counts against, and where the pod's amount comes from.
_POD_RESOURCES = ("pods", "count/pods", "requests.cpu", "cpu", "requests.memory", "memory", "limits.cpu",
                  "limits.memory")


class PreflightError(Exception):
    """Input the checks cannot read (a message naming it)."""


def parse_quantity(value):
    """A Kubernetes resource quantity ("500m", "1Gi", "2", 3) as a float."""
    if isinstance(value, (int, float)):
        return float(value)
    m = _QUANTITY_RE.match(str(value).strip())
    if not m:
        raise PreflightError("not a Kubernetes quantity: {0!r}".format(value))
    number = float(m.group(1) + (m.group(2) or ""))
    return number * _SUFFIX[m.group(3)]


def format_quantity(resource, amount):
    if resource.endswith("cpu") or resource == "cpu":
        return "{0:g}m".format(round(amount * 1000, 3)) if amount < 1 else "{0:g}".format(round(amount, 3))
    if resource.endswith("memory") or resource == "memory":
        return "{0:g}Mi".format(round(amount / 2 ** 20, 1))
    return "{0:g}".format(amount)


def row(check, target, passed, detail):
    return {"check": check, "target": target, "passed": bool(passed), "detail": detail}


def node_rows(nodes):
    """One row for the cluster's nodes: passed when at least one is Ready and schedulable; names the others."""
    ready, not_ready = [], []
    for node in nodes:
        name = node.get("metadata", {}).get("name", "?")
        conditions = {c.get("type"): c for c in (node.get("status") or {}).get("conditions") or []}
        cond = conditions.get("Ready") or {}
        unschedulable = (node.get("spec") or {}).get("unschedulable")
        if cond.get("status") == "True" and not unschedulable:
            ready.append(name)
        else:
            why = "cordoned" if unschedulable else "Ready={0} ({1})".format(
                cond.get("status", "missing"), cond.get("reason") or "no reason")
            not_ready.append("{0}: {1}".format(name, why))
    if not nodes:
        return [row("kubernetes nodes", "cluster", False, "no Node objects: nothing can run the new pods")]
    detail = "{0} of {1} Ready".format(len(ready), len(nodes))
    if not_ready:
        detail += "; not ready: " + ", ".join(not_ready)
    return [row("kubernetes nodes", "cluster", bool(ready), detail)]


def secret_row(namespace, name, secret):
    """``secret`` is None when absent; only its name and key names are looked at, never values."""
    target = "{0}/{1}".format(namespace, name)
    if secret is None:
        return row("secret present", target, False, "MISSING: Secret {0} not found".format(target))
    keys = sorted((secret.get("data") or {}).keys() | (secret.get("stringData") or {}).keys())
    return row("secret present", target, True, "present (keys: {0})".format(", ".join(keys) or "none"))


def pod_amounts(template):
    """What one pod of ``template`` (a PodTemplateSpec) counts against quota, per quota resource name."""
    spec = (template or {}).get("spec") or {}
    totals = {"pods": 1.0, "count/pods": 1.0}
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            amount = 0.0
            for container in spec.get("containers") or []:
                value = ((container.get("resources") or {}).get(kind) or {}).get(resource)
                if value is None and kind == "requests":
                    # Kubernetes defaults a missing request to the limit.
                    value = ((container.get("resources") or {}).get("limits") or {}).get(resource)
                if value is not None:
                    amount += parse_quantity(value)
            totals["{0}.{1}".format(kind, resource)] = amount
    totals["cpu"], totals["memory"] = totals["requests.cpu"], totals["requests.memory"]
    return totals


def added_pods(deployment, strategy):
    """How many pods the rollout adds beside the running ones: canary and blue_green bring up a full copy of the
    Deployment's replicas, rolling surges by maxSurge (25 % by default, rounded up)."""
    spec = deployment.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    if strategy in ("canary", "blue_green"):
        return max(replicas, 1)
    surge = ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxSurge", "25%")
    if isinstance(surge, str) and surge.endswith("%"):
        return int(math.ceil(replicas * float(surge[:-1]) / 100.0))
    return int(surge)


def pod_usage(pods):
    """What the namespace's non-terminated pods use, per quota resource (for quotas whose status is not kept)."""
    used = {}
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for resource, amount in pod_amounts({"spec": pod.get("spec")}).items():
            used[resource] = used.get(resource, 0.0) + amount
    return used


def quota_rows(namespace, app, quotas, deployment, strategy, pods):
    """One row per ResourceQuota of the namespace: passed when hard - used leaves room for the added pods."""
    target = "{0} ({1})".format(namespace, app)
    if deployment is None:
        return [row("quota headroom", target, False,
                    "cannot size the new pods: the stable Deployment was not found")]
    count = added_pods(deployment, strategy)
    per_pod = pod_amounts((deployment.get("spec") or {}).get("template"))
    needed = {resource: amount * count for resource, amount in per_pod.items()}
    if not quotas:
        return [row("quota headroom", target, True,
                    "no ResourceQuota in {0}: nothing limits the {1} new pod(s)".format(namespace, count))]
    counted = None
    rows = []
    for quota in quotas:
        name = quota.get("metadata", {}).get("name", "?")
        hard = (quota.get("status") or {}).get("hard") or (quota.get("spec") or {}).get("hard") or {}
        status_used = (quota.get("status") or {}).get("used") or {}
        short, parts = [], []
        for resource in sorted(hard):
            if resource not in _POD_RESOURCES:
                continue
            limit = parse_quantity(hard[resource])
            if resource in status_used:
                used = parse_quantity(status_used[resource])
            else:  # no quota controller keeps status.used: count the pods ourselves
                counted = pod_usage(pods) if counted is None else counted
                used = counted.get(resource, 0.0)
            want = needed.get(resource, 0.0)
            free = limit - used
            parts.append("{0}: need {1}, free {2} of {3}".format(resource, format_quantity(resource, want),
                                                                 format_quantity(resource, free),
                                                                 format_quantity(resource, limit)))
            if want > free + 1e-9:
                short.append(resource)
        if not parts:
            parts.append("limits nothing a pod uses")
        detail = "{0} new pod(s) ({1}); quota {2}: {3}".format(count, strategy, name, "; ".join(parts))
        if short:
            detail = "NO HEADROOM for " + ", ".join(short) + " - " + detail
        rows.append(row("quota headroom", target, not short, detail))
    return rows

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Circuit-breaker drill (runbook risk R4): watch breakers through ``/health/detailed``, then decide.

``/health/detailed`` answers ``{"circuit_breakers": {name: {"state": closed|open|half_open, ...}}}``
(200, or 503 while the pod is unhealthy: the body is read either way). A drill phase watches one
breaker on every pod URL given until each pod reports the wanted state (``open`` after the fault,
``half_open`` when the cool-down lets a trial through, ``closed`` after recovery), recording the
states seen; probes check what the pod still serves meanwhile (the fallback: requests that do not
need the failed dependency answer, those that do fail fast instead of hanging).

Clock, sleep and fetch are injected so the watch loop is unit-tested without waiting.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import ConnectionError as UrlConnectionError
from ansible.module_utils.urls import open_url
from ansible_collections.greenlang.launch.plugins.module_utils.gate_record import GO, NO_GO, criterion, decision

STATES = ("closed", "open", "half_open")
MAX_TIMEOUT_S = 3600


class DrillError(ValueError):
    """Bad drill input; the message names the parameter."""


def http_call(url, method="GET", body=None, timeout=5.0):
    """(status, parsed JSON or None, seconds). Status 0 when nothing answered."""
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else (body.encode() if body else None)
    started = time.monotonic()
    try:
        resp = open_url(url, data=data, method=method, timeout=timeout,
                        headers={"Content-Type": "application/json"} if data else {})
        status, raw = resp.status, resp.read()
    except HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (URLError, UrlConnectionError, OSError) as exc:
        return 0, {"error": str(exc)}, time.monotonic() - started
    try:
        parsed = json.loads(raw or b"null")
    except ValueError:
        parsed = None
    return status, parsed, time.monotonic() - started


def breaker_state(detail, breaker):
    """The breaker's state in a /health/detailed body, or None when the body has no such breaker."""
    if not isinstance(detail, dict):
        return None
    entry = (detail.get("circuit_breakers") or {}).get(breaker)
    state = entry.get("state") if isinstance(entry, dict) else entry
    return state if state in STATES else None


def watch(urls, breaker, until, timeout, interval=0.5, fetch=None, clock=time.monotonic, sleep=time.sleep):
    """Poll each pod until it reports ``until``; returns {reached, elapsed_s, pods: {url: {...}}}."""
    if until not in STATES:
        raise DrillError("until %r: expected one of %s" % (until, ", ".join(STATES)))
    if not urls:
        raise DrillError("urls: at least one pod URL is required")
    if not 0 < timeout <= MAX_TIMEOUT_S:
        raise DrillError("timeout %r: expected seconds in (0, %d]" % (timeout, MAX_TIMEOUT_S))
    fetch = fetch or (lambda u: http_call(u.rstrip("/") + "/health/detailed"))
    started = clock()
    pods = dict((u, {"seen": [], "reached_after_s": None, "last_status": None}) for u in urls)
    while True:
        for url, pod in pods.items():
            if pod["reached_after_s"] is not None:
                continue
            status, body, dummy_seconds = fetch(url)
            state = breaker_state(body, breaker) if status else None
            pod["last_status"] = status
            label = state or ("unreachable" if not status else "no breaker %s" % breaker)
            if not pod["seen"] or pod["seen"][-1] != label:
                pod["seen"].append(label)
            if state == until:
                pod["reached_after_s"] = round(clock() - started, 2)
        done = all(p["reached_after_s"] is not None for p in pods.values())
        elapsed = clock() - started
        if done or elapsed >= timeout:
            return {"breaker": breaker, "until": until, "reached": done, "elapsed_s": round(elapsed, 2), "pods": pods}
        sleep(min(interval, max(0.0, timeout - elapsed)))


def probe(urls, probes, call=None):
    """Each probe ({name, method, path, body, expect_status, max_seconds}) on each pod URL."""
    def default_call(url, p):
        return http_call(url, p.get("method", "GET"), p.get("body"), float(p.get("max_seconds", 5)))
    call = call or default_call
    results = []
    for i, p in enumerate(probes or []):
        if not isinstance(p, dict) or not p.get("path") or "expect_status" not in p:
            raise DrillError("probes[%d]: expected a mapping with path and expect_status" % i)
        for url in urls:
            status, dummy_body, seconds = call(url.rstrip("/") + p["path"], p)
            limit = float(p.get("max_seconds", 5))
            results.append({"name": p.get("name") or "%s %s" % (p.get("method", "GET"), p["path"]), "url": url,
                            "status": status, "expect_status": int(p["expect_status"]),
                            "seconds": round(seconds, 3), "ok": status == int(p["expect_status"]) and seconds <= limit})
    return results


def evaluate(breakers, app="vcci"):
    """Decision from the drill of each breaker.

    ``breakers``: [{name, opened: watch result, half_opened: watch result or None (not applicable),
    closed: watch result, probes: [probe results]}].
    """
    if not breakers:
        raise DrillError("breakers: nothing was drilled")
    criteria, problems = [], []
    for b in breakers:
        name = b["name"]
        phases = [("opened", b.get("opened")), ("half_opened", b.get("half_opened")), ("closed", b.get("closed"))]
        for phase, result in phases:
            if result is None and phase == "half_opened":
                continue
            reached = bool(result and result.get("reached"))
            measured = result.get("elapsed_s") if result else None
            criteria.append(criterion("%s.%s" % (name, phase), 1 if reached else 0, "==", 1))
            if not reached:
                seen = sorted(set(s for p in ((result or {}).get("pods") or {}).values() for s in p["seen"]))
                problems.append("breaker %s never %s (%s after %s s; states seen: %s)" % (
                    name, phase.replace("_", "-"), "not watched" if result is None else "timed out",
                    measured, ", ".join(seen) or "none"))
        bad = [p for p in b.get("probes") or [] if not p["ok"]]
        criteria.append(criterion("%s.fallback_probes_failed" % name, len(bad), "==", 0))
        for p in bad:
            problems.append("breaker %s: %s on %s answered %s in %s s (expected %s)" % (
                name, p["name"], p["url"], p["status"], p["seconds"], p["expect_status"]))
    if problems:
        return decision("circuit_breakers", app, criteria, NO_GO, "; ".join(problems))
    return decision("circuit_breakers", app, criteria, GO, "every breaker opened, served its fallback and closed: %s"
                    % ", ".join(b["name"] for b in breakers))


REVISION = "deployment.kubernetes.io/revision"


def current_template_pods(deployment, replicasets, pods):
    """Pods (dicts as the API returns them) of the Deployment's current template, not terminating.

    The current ReplicaSet is the one whose revision annotation is the Deployment's, as ``kubectl
    rollout`` reads it; None while the Deployment controller has not caught up with the template.
    """
    meta = deployment.get("metadata") or {}
    status = deployment.get("status") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return None
    rev = (meta.get("annotations") or {}).get(REVISION)
    hashes = [(rs["metadata"].get("labels") or {}).get("pod-template-hash") for rs in replicasets
              if rev and (rs["metadata"].get("annotations") or {}).get(REVISION) == rev]
    if not hashes or not hashes[0]:
        return None
    return [p for p in pods if (p["metadata"].get("labels") or {}).get("pod-template-hash") == hashes[0]
            and not p["metadata"].get("deletionTimestamp") and (p.get("status") or {}).get("podIP")]


def discover_pod_urls(read, namespace, name, port, timeout, clock=time.monotonic, sleep=time.sleep):
    """Base URLs of the current template's pods, waiting (bounded) until at least one has an address.

    ``read(kind, namespace, name=None)`` returns an API object (Deployment) or a list of items.
    """
    deadline = clock() + timeout
    while True:
        deployment = read("Deployment", namespace, name)
        selector = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        labels = ",".join("%s=%s" % kv for kv in sorted(selector.items()))
        found = current_template_pods(deployment, read("ReplicaSet", namespace, labels=labels),
                                      read("Pod", namespace, labels=labels))
        if found:
            return ["http://%s:%d" % (p["status"]["podIP"], port) for p in found]
        if clock() >= deadline:
            raise DrillError("deployment %s/%s: no pod of its current template has an address after %s s"
                             % (namespace, name, timeout))
        sleep(1.0)

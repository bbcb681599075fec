# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Load-test gate (runbook risks R2, R6): steady open-loop HTTP load, then a decision.

The generator is our own, with the standard library only, because it runs inside the module on
the controller (or in the AWX execution environment): it must not depend on the rehearsal
package, which is not shipped, nor on a load tool that would have to be installed on every
controller. Requests to each target leave at fixed intervals (1/rps) whatever the latency of
earlier ones (open loop), from a bounded pool of threads holding keep-alive connections, so a
slow backend shows as latency and errors rather than as a lower send rate. A run whose achieved
rate stays under ``min_rate_ratio`` of the asked rate measured something else and is NO-GO.

Several targets run at the same time (for example CBAM v1 and v2), so the v2/v1 latency ratio
compares the same seconds of the same machine. The runbook's ratio rule: under ``go_ratio``
(2.5x) GO, up to ``nogo_ratio`` (3x) GO with monitoring, above NO-GO.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import json
import math
import socket
import threading
import time

try:
    import http.client as http_client
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported by this collection
    http_client = None

from ansible_collections.greenlang.launch.plugins.module_utils.gate_record import GO, NO_GO, criterion, decision

MAX_WORKERS = 64
MAX_DURATION_S = 3600
MAX_RATE = 2000


class LoadConfigError(ValueError):
    """Bad load-test configuration; the message names the parameter."""


def percentile(sorted_values, pct):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, int(math.ceil(pct / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


def check_target(t, i):
    where = "targets[%d]" % i
    if not isinstance(t, dict) or not t.get("name") or not t.get("url"):
        raise LoadConfigError("%s: expected a mapping with at least name and url" % where)
    parts = urlsplit(t["url"])
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LoadConfigError("%s.url %r: expected an http:// or https:// URL" % (where, t["url"]))
    method = str(t.get("method", "GET")).upper()
    if method not in ("GET", "POST", "PUT", "HEAD"):
        raise LoadConfigError("%s.method %r: expected GET, POST, PUT or HEAD" % (where, method))
    body = t.get("body")
    if body is not None and not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    return {"name": str(t["name"]), "url": t["url"], "method": method, "path": t.get("path") or parts.path or "/",
            "headers": dict(t.get("headers") or {}), "body": body.encode() if isinstance(body, str) else body,
            "units_per_request": int(t.get("units_per_request", 1))}


class LoadRun:
    """Sends ``rps`` requests per second to each target for ``duration`` seconds."""

    def __init__(self, targets, rps, duration, timeout=10.0, workers=None, clock=time.monotonic):
        if not 0 < rps <= MAX_RATE:
            raise LoadConfigError("rate %r: expected a number of requests per second in (0, %d]" % (rps, MAX_RATE))
        if not 0 < duration <= MAX_DURATION_S:
            raise LoadConfigError("duration %r: expected seconds in (0, %d]" % (duration, MAX_DURATION_S))
        if not targets:
            raise LoadConfigError("targets: at least one target is required")
        self.targets = [check_target(t, i) for i, t in enumerate(targets)]
        names = [t["name"] for t in self.targets]
        if len(set(names)) != len(names):
            raise LoadConfigError("targets: names must be unique, got %s" % ", ".join(names))
        self.rps, self.duration, self.timeout, self.clock = float(rps), float(duration), float(timeout), clock
        wanted = workers or int(math.ceil(rps * len(self.targets) * max(self.timeout, 0.5) / 4.0)) + 2
        self.workers = max(2, min(MAX_WORKERS, wanted))
        self.records = []
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self._queue = collections.deque()
        self._done = False

    def _connect(self, target):
        parts = urlsplit(target["url"])
        cls = http_client.HTTPSConnection if parts.scheme == "https" else http_client.HTTPConnection
        return cls(parts.hostname, parts.port, timeout=self.timeout)

    def _send(self, conns, target):
        key = target["name"]
        for attempt in (0, 1):
            conn = conns.get(key)
            fresh = conn is None
            if fresh:
                conn = conns[key] = self._connect(target)
            try:
                headers = dict(target["headers"])
                if target["body"]:
                    headers["Content-Type"] = "application/json"
                conn.request(target["method"], target["path"], body=target["body"], headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conns.pop(key, None)
                return resp.status, resp.getheader("X-App-Version"), None
            except (http_client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                conns.pop(key, None)
                if fresh or attempt:  # a reused keep-alive connection closed under us: resend once
                    return 0, None, "%s: %s" % (type(exc).__name__, exc)
            except (OSError, http_client.HTTPException, socket.timeout) as exc:
                conn.close()
                conns.pop(key, None)
                return 0, None, "%s: %s" % (type(exc).__name__, exc)
        return 0, None, "unreachable"  # pragma: no cover

    def _worker(self):
        conns = {}
        while True:
            with self._cond:
                while not self._queue and not self._done:
                    self._cond.wait(0.5)
                if not self._queue:
                    break
                target, scheduled = self._queue.popleft()
            started = self.clock()
            status, version, error = self._send(conns, target)
            ended = self.clock()
            with self._lock:
                self.records.append({"target": target["name"], "status": status, "version": version, "error": error,
                                     "latency_ms": (ended - started) * 1000.0, "lag_ms": (started - scheduled) * 1000.0,
                                     "offset_s": scheduled - self._t0})
        for conn in conns.values():
            conn.close()

    def run(self, progress=None, progress_every=30.0):
        """Blocks for about ``duration`` (plus the last responses, bounded by ``timeout``)."""
        self._t0 = self.clock()
        threads = [threading.Thread(target=self._worker, name="load-%d" % i) for i in range(self.workers)]
        for th in threads:
            th.daemon = True
            th.start()
        total = int(self.rps * self.duration)
        interval = 1.0 / self.rps
        next_report = progress_every
        for n in range(total):
            due = self._t0 + n * interval
            delay = due - self.clock()
            if delay > 0:
                time.sleep(delay)
            with self._cond:
                for target in self.targets:
                    self._queue.append((target, due))
                self._cond.notify(len(self.targets))
            if progress and self.clock() - self._t0 >= next_report:
                next_report += progress_every
                progress(self.clock() - self._t0, self.duration, self.summary())
        with self._cond:
            self._done = True
            self._cond.notify_all()
        for th in threads:
            th.join(self.timeout + 5)
        self.elapsed = self.clock() - self._t0
        return self.summary()

    def summary(self):
        with self._lock:
            records = list(self.records)
        out = {}
        for target in self.targets:
            out[target["name"]] = summarize([r for r in records if r["target"] == target["name"]],
                                            target["units_per_request"], getattr(self, "elapsed", None))
        return out


def summarize(records, units_per_request=1, elapsed=None):
    latencies = sorted(r["latency_ms"] for r in records if r["status"])
    failed = [r for r in records if r["status"] == 0 or r["status"] >= 500]
    ok = len(records) - len(failed)
    by_status = {}
    for r in records:
        by_status[str(r["status"])] = by_status.get(str(r["status"]), 0) + 1
    span = elapsed if elapsed else (max(r["offset_s"] for r in records) if records else 0)

    def rnd(v):
        return None if v is None else round(v, 1)
    return {"requests": len(records), "failed": len(failed),
            "error_ratio": round(len(failed) / float(len(records)), 6) if records else None,
            "p50_ms": rnd(percentile(latencies, 50)), "p95_ms": rnd(percentile(latencies, 95)),
            "p99_ms": rnd(percentile(latencies, 99)), "max_ms": rnd(latencies[-1] if latencies else None),
            "achieved_rps": round(len(records) / span, 2) if span else None,
            "units_ok": ok * units_per_request, "by_status": by_status,
            "max_lag_ms": rnd(max((r["lag_ms"] for r in records), default=None)),
            "errors": sorted(set(r["error"] for r in failed if r["error"]))[:5]}


def evaluate(summaries, rps, targets_spec, app, candidate=None, baseline=None, go_ratio=2.5, nogo_ratio=3.0,
             min_rate_ratio=0.9, gate="load_test"):
    """Decision record from the per-target summaries.

    ``targets_spec``: {name: {max_p95_ms, max_p99_ms, max_error_ratio, min_units}} (each optional).
    With ``candidate`` and ``baseline`` (target names) the candidate's P95 over the baseline's P95
    is judged with the ratio rule.
    """
    if not 1 <= go_ratio <= nogo_ratio:
        raise LoadConfigError("ratio thresholds: expected 1 <= go_ratio (%s) <= nogo_ratio (%s)"
                              % (go_ratio, nogo_ratio))
    criteria = []
    for name, s in summaries.items():
        spec = targets_spec.get(name, {})
        criteria.append(criterion("%s.achieved_rps" % name, s["achieved_rps"], ">=", round(rps * min_rate_ratio, 2)))
        criteria.append(criterion("%s.error_ratio" % name, s["error_ratio"], "<=", spec.get("max_error_ratio", 0.001)))
        for key in ("p95_ms", "p99_ms"):
            limit = spec.get("max_" + key)
            if limit is not None:
                criteria.append(criterion("%s.%s" % (name, key), s[key], "<=", limit))
        if spec.get("min_units"):
            criteria.append(criterion("%s.units_ok" % name, s["units_ok"], ">=", spec["min_units"]))
    ratio = None
    if candidate and baseline:
        for which, name in (("candidate", candidate), ("baseline", baseline)):
            if name not in summaries:
                raise LoadConfigError("%s %r: not one of the targets (%s)" % (which, name, ", ".join(summaries)))
        c, b = summaries[candidate]["p95_ms"], summaries[baseline]["p95_ms"]
        ratio = round(c / b, 3) if c is not None and b else None
        criteria.append(criterion("p95_ratio_%s_vs_%s" % (candidate, baseline), ratio, "<=", nogo_ratio))
    failed = [c for c in criteria if not c["met"]]
    numbers = "; ".join("%s: %d req, %s errors, P95 %s ms, P99 %s ms, %s rps" % (
        n, s["requests"], s["error_ratio"], s["p95_ms"], s["p99_ms"], s["achieved_rps"]) for n, s in summaries.items())
    if failed:
        verdict = NO_GO
        reason = "not met: " + ", ".join("%s %s (needs %s %s)" % (c["name"], c["measured"], c["op"], c["threshold"])
                                         for c in failed) + " [" + numbers + "]"
    elif ratio is not None and ratio >= go_ratio:
        verdict = GO
        reason = "GO with monitoring: %s P95 is %.2fx %s (%.1f-%.1fx) [%s]" % (
            candidate, ratio, baseline, go_ratio, nogo_ratio, numbers)
    else:
        verdict = GO
        reason = "all criteria met" + (" (P95 ratio %.2fx)" % ratio if ratio is not None else "") + " [" + numbers + "]"
    return decision(gate, app, criteria, verdict, reason), ratio

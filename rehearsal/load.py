"""Steady (open-loop) HTTP load through one ingress URL, recording every response.

Library::

    gen = LoadGenerator("http://127.0.0.1:8080", ["vcci.rehearsal.local"], rps=50, duration=30,
                        path="/api/v1/calculator/category1", method="POST",
                        body={"items": [{"category": "metals", "spend": 1000}]}).start()
    ...                       # switch traffic meanwhile
    summary = gen.wait()      # or gen.stop() to end early
    assert summary["failed"] == 0
    gen.summary(since=5, until=10)   # the same figures for a time window of the run
    gen.per_second()                 # requests, failures and versions second by second

Several apps through one ingress: ``hosts=["vcci.local", "cbam.local"], per_host={"cbam.local":
{"path": "/api/v1/calculate", "body": {...}}}``. Each record holds t, offset_s (scheduled), host,
status, latency_ms, lag_ms, version (X-App-Version), pod (X-Served-By), error, retried.

CLI: ``python -m rehearsal load --url URL --host H [--host H2] --rps N --duration S
[--path P --method POST --body JSON|@file] [--output results.jsonl] [--fail-on-error]``.

Requests for each Host header leave at fixed intervals (1/rps) whatever the latency of
earlier ones (open loop), from a pool of worker threads holding keep-alive connections,
so a slow or failing backend shows up as latency and errors, not as a lower send rate.
A response is "failed" when it is a connection error (status 0) or a 5xx. A request
that fails on a reused keep-alive connection before any response byte arrives is
re-sent once on a new connection, as browsers and HTTP client libraries do; such
records carry ``retried: true``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import queue
import sys
import threading
import time
from urllib.parse import urlsplit

_STALE_CONNECTION_ERRORS = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                            ConnectionAbortedError)


def _percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(records: list[dict]) -> dict:
    """Counts by status / version / host, failures and latency percentiles of some records."""
    by_status: dict[str, int] = {}
    by_version: dict[str, int] = {}
    by_host: dict[str, int] = {}
    by_pod: dict[str, int] = {}
    latencies, errors = [], []
    failed = retried = 0
    for rec in records:
        by_status[str(rec["status"])] = by_status.get(str(rec["status"]), 0) + 1
        version = rec["version"] or "none"
        by_version[version] = by_version.get(version, 0) + 1
        by_host[rec["host"]] = by_host.get(rec["host"], 0) + 1
        if rec.get("pod"):
            by_pod[rec["pod"]] = by_pod.get(rec["pod"], 0) + 1
        retried += bool(rec.get("retried"))
        if rec["status"] == 0 or rec["status"] >= 500:
            failed += 1
            if rec.get("error") and len(errors) < 5:
                errors.append(rec["error"])
        if rec["status"]:
            latencies.append(rec["latency_ms"])
    latencies.sort()
    span = (max(r["offset_s"] for r in records) - min(r["offset_s"] for r in records)) if records else 0.0
    return {
        "requests": len(records), "failed": failed,
        "failed_ratio": round(failed / len(records), 6) if records else None,
        "by_status": dict(sorted(by_status.items())), "by_version": dict(sorted(by_version.items())),
        "by_host": dict(sorted(by_host.items())), "by_pod": dict(sorted(by_pod.items())), "retried": retried,
        "latency_ms": {"p50": _percentile(latencies, 50), "p95": _percentile(latencies, 95),
                       "p99": _percentile(latencies, 99), "max": latencies[-1] if latencies else None,
                       "mean": round(sum(latencies) / len(latencies), 3) if latencies else None},
        "max_schedule_lag_ms": max((r["lag_ms"] for r in records), default=None),
        "span_s": round(span, 3), "first_errors": errors,
    }


class LoadGenerator:
    def __init__(self, url: str, hosts: list[str] | None = None, rps: float = 10.0, duration: float = 10.0, *,
                 path: str | None = None, method: str = "GET", body=None, headers: dict | None = None,
                 workers: int | None = None, timeout: float = 5.0, output: str | None = None,
                 record_bodies: bool = False, per_host: dict[str, dict] | None = None):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url: expected http://host[:port][/path], got {url!r}")
        if rps <= 0 or duration <= 0:
            raise ValueError("rps and duration must be positive")
        self.scheme, self.address = parts.scheme, (parts.hostname, parts.port or (443 if parts.scheme == "https"
                                                                                  else 80))
        self.path = path or (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.hosts = list(hosts) if hosts else [parts.netloc]
        self.rps, self.duration, self.method, self.timeout = float(rps), float(duration), method.upper(), timeout
        if body is not None and not isinstance(body, str | bytes):
            body = json.dumps(body)
        self.body = body.encode() if isinstance(body, str) else body
        self.headers = {"Content-Type": "application/json", "User-Agent": "rehearsal-load", **(headers or {})}
        # Per-Host request overrides, e.g. {"cbam.local": {"path": "/api/v1/calculate", "body": {...}}}.
        self._requests = {host: self._request_for((per_host or {}).get(host, {})) for host in self.hosts}
        total_rps = self.rps * len(self.hosts)
        self.workers = workers or max(8, min(128, math.ceil(total_rps / 2)))
        self.output, self.record_bodies = output, record_bodies
        self._records: list[dict] = []
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._t0 = 0.0
        self._wall0 = 0.0

    def _request_for(self, override: dict) -> tuple[str, str, bytes | None]:
        unknown = set(override) - {"path", "method", "body"}
        if unknown:
            raise ValueError(f"per_host: unknown keys {sorted(unknown)}; allowed: path, method, body")
        body = override.get("body", self.body)
        if body is not None and not isinstance(body, str | bytes):
            body = json.dumps(body)
        return (override.get("method", self.method).upper(), override.get("path", self.path),
                body.encode() if isinstance(body, str) else body)

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> LoadGenerator:
        if self._threads:
            raise RuntimeError("already started")
        self._t0, self._wall0 = time.monotonic(), time.time()
        self._threads = [threading.Thread(target=self._worker, name=f"load-{i}", daemon=True)
                         for i in range(self.workers)]
        self._threads.insert(0, threading.Thread(target=self._schedule, name="load-scheduler", daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> dict:
        """Stop sending now; requests in flight finish. Returns the summary."""
        self._stop.set()
        return self.wait()

    def wait(self, timeout: float | None = None) -> dict:
        """Block until the run is over (duration + request timeout at most by default)."""
        limit = timeout if timeout is not None else self.duration + self.timeout * 2 + 5
        deadline = time.monotonic() + limit
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.output:
            self.write_jsonl(self.output)
        return self.summary()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    # ---- results -----------------------------------------------------------------------------
    @property
    def results(self) -> list[dict]:
        with self._lock:
            return sorted(self._records, key=lambda r: r["offset_s"])

    def summary(self, since: float | None = None, until: float | None = None, host: str | None = None) -> dict:
        """Summary of the records sent in [since, until) seconds after start (all when omitted)."""
        records = [r for r in self.results
                   if (since is None or r["offset_s"] >= since) and (until is None or r["offset_s"] < until)
                   and (host is None or r["host"] == host)]
        out = summarize(records)
        out.update({"url": f"{self.scheme}://{self.address[0]}:{self.address[1]}{self.path}", "method": self.method,
                    "hosts": self.hosts, "rps_per_host": self.rps, "duration_s": self.duration})
        if since is None and until is None and host is None:
            last_sent = max((r["t"] for r in records), default=self._wall0) - self._wall0
            out["achieved_rps"] = round(len(records) / max(last_sent, 1e-9), 2) if records else 0.0
        return out

    def per_second(self) -> list[dict]:
        """Requests, failures and versions seen in each second of the run (for ramp checks)."""
        buckets: dict[int, dict] = {}
        for rec in self.results:
            b = buckets.setdefault(int(rec["offset_s"]), {"second": int(rec["offset_s"]), "requests": 0, "failed": 0,
                                                          "by_version": {}})
            b["requests"] += 1
            b["failed"] += rec["status"] == 0 or rec["status"] >= 500
            version = rec["version"] or "none"
            b["by_version"][version] = b["by_version"].get(version, 0) + 1
        return [buckets[k] for k in sorted(buckets)]

    def write_jsonl(self, path: str) -> None:
        with open(path, "w") as fh:
            for rec in self.results:
                fh.write(json.dumps(rec) + "\n")

    # ---- threads -----------------------------------------------------------------------------
    def _schedule(self) -> None:
        """Put (scheduled offset, host) on the queue at fixed intervals, hosts interleaved."""
        interval = 1.0 / self.rps
        per_host = int(self.rps * self.duration)
        stagger = interval / len(self.hosts)
        try:
            for i in range(per_host):
                for h, host in enumerate(self.hosts):
                    due = i * interval + h * stagger
                    delay = due - (time.monotonic() - self._t0)
                    if delay > 0 and self._stop.wait(delay):
                        return
                    if self._stop.is_set():
                        return
                    self._queue.put((due, host))
        finally:
            for _ in range(self.workers):
                self._queue.put(None)

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return cls(*self.address, timeout=self.timeout)

    def _worker(self) -> None:
        conn, used = None, False
        while True:
            item = self._queue.get()
            if item is None:
                break
            due, host = item
            sent = time.monotonic()
            record = {"t": round(self._wall0 + (sent - self._t0), 6), "offset_s": round(due, 6), "host": host,
                      "status": 0, "latency_ms": None, "lag_ms": round((sent - self._t0 - due) * 1000, 3),
                      "version": None, "pod": None, "error": None, "retried": False}
            for attempt in (1, 2):
                if conn is None:
                    conn, used = self._connect(), False
                try:
                    method, path, body = self._requests[host]
                    conn.request(method, path, body=body, headers={**self.headers, "Host": host})
                    resp = conn.getresponse()
                    data = resp.read()
                except _STALE_CONNECTION_ERRORS as exc:
                    conn.close()
                    stale, conn = used, None
                    if stale and attempt == 1:  # the server closed an idle keep-alive connection: resend once
                        record["retried"] = True
                        continue
                    record["error"] = f"{type(exc).__name__}: {exc}"
                    break
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    conn = None
                    record["error"] = f"{type(exc).__name__}: {exc}"
                    break
                used = True
                record["status"] = resp.status
                record["version"] = resp.getheader("X-App-Version")
                record["pod"] = resp.getheader("X-Served-By")
                if self.record_bodies:
                    record["body"] = data.decode("utf-8", "replace")
                if resp.status >= 500:
                    record["error"] = data[:200].decode("utf-8", "replace")
                if resp.will_close:
                    conn.close()
                    conn = None
                break
            record["latency_ms"] = round((time.monotonic() - sent) * 1000, 3)
            with self._lock:
                self._records.append(record)
        if conn is not None:
            conn.close()


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m rehearsal load",
                                     description="Send steady traffic through one URL and summarise the responses.")
    parser.add_argument("--url", required=True, help="ingress URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--host", action="append", default=[], help="Host header (repeat for several apps)")
    parser.add_argument("--rps", type=float, default=10.0, help="requests per second per host (default 10)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of traffic (default 10)")
    parser.add_argument("--path", help="request path (default: the URL's path)")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", help="JSON body, or @file to read it from a file")
    parser.add_argument("--header", action="append", default=[], help="extra header NAME:VALUE (repeatable)")
    parser.add_argument("--workers", type=int, help="worker threads (default: enough for 0.5 s latency)")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-request timeout in seconds")
    parser.add_argument("--output", help="write every response as JSON lines to this file")
    parser.add_argument("--fail-on-error", action="store_true", help="exit 1 when any request failed")
    return parser.parse_args(argv)


def main_load(argv: list[str]) -> int:
    args = _parse_args(argv)
    body = args.body
    try:
        if body and body.startswith("@"):
            with open(body[1:]) as fh:
                body = fh.read()
        if body:
            json.loads(body)
        headers = dict(h.split(":", 1) for h in args.header)
        gen = LoadGenerator(args.url, args.host, args.rps, args.duration, path=args.path, method=args.method,
                            body=body, headers={k.strip(): v.strip() for k, v in headers.items()},
                            workers=args.workers, timeout=args.timeout, output=args.output)
    except (OSError, ValueError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    gen.start()
    try:
        summary = gen.wait()
    except KeyboardInterrupt:
        summary = gen.stop()
    print(json.dumps(summary, indent=2))
    return 1 if args.fail_on_error and summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main_load(sys.argv[1:]))

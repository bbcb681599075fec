# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Parity runs: send the same requests to two versions (or N times to one) and compare.

A corpus is a list of requests ``{method, path, body, headers}``, inline or from a
JSON-lines file. Every response is compared with its counterpart (candidate vs
baseline, or run N vs run 1 with ``repeat``) by status code and body: semantically
for JSON (see json_parity), byte for byte otherwise or when ``compare=bytes``.
HTTP goes through ``ansible.module_utils.urls`` (its ``Request`` class) because this runs on the
managed node.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

from ansible.module_utils.six.moves.http_cookiejar import CookieJar
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import Request, make_context
from ansible_collections.greenlang.launch.plugins.module_utils.json_parity import JsonDiff, latency_summary

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
REQUEST_KEYS = ("method", "path", "body", "headers", "name")
COMPARE_MODES = ("json", "bytes")


class ParityConfigError(ValueError):
    """A parameter is wrong (failed_step validation); nothing was sent."""

    step = "validation"

    def __init__(self, param, msg):
        super(ParityConfigError, self).__init__("{0}: {1}".format(param, msg))
        self.param = param
        self.where = param


# --------------------------------------------------------------------------- corpus

def normalise_request(entry, where):
    if not isinstance(entry, dict):
        raise ParityConfigError(where, "each request must be an object with at least 'path', got {0!r}".format(entry))
    unknown = sorted(set(entry) - set(REQUEST_KEYS))
    if unknown:
        raise ParityConfigError(where, "unknown key(s) {0}; allowed: {1}".format(
            ", ".join(unknown), ", ".join(REQUEST_KEYS)))
    path = entry.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ParityConfigError(where, "'path' must start with '/', got {0!r}".format(path))
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise ParityConfigError(where, "'path' must not contain control characters, got {0!r}".format(path))
    method = str(entry.get("method") or "GET").upper()
    if method not in METHODS:
        raise ParityConfigError(where, "'method' must be one of {0}, got {1!r}".format(", ".join(METHODS), method))
    headers = entry.get("headers") or {}
    if not isinstance(headers, dict):
        raise ParityConfigError(where, "'headers' must be an object, got {0!r}".format(headers))
    headers = {str(k): str(v) for k, v in headers.items()}
    body = entry.get("body")
    data = None
    if body is not None:
        if isinstance(body, (dict, list, bool, int, float)):
            data = json.dumps(body, sort_keys=True).encode("utf-8")
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
        else:
            data = str(body).encode("utf-8")
    return {"method": method, "path": encode_path(path), "data": data, "headers": headers,
            "name": entry.get("name") or "{0} {1}".format(method, path)}


def encode_path(path):
    """The path (and query) as it goes on the wire: text in any language is percent-encoded as UTF-8, while
    existing escapes and URL delimiters are kept, so /api/v1/report?q=Müller becomes /api/v1/report?q=M%C3%BCller."""
    return quote(path, safe="/?&=%:@!$'()*+,;~#[]")


def load_corpus(path=None, inline=None):
    """Requests from a JSON-lines file (blank lines and '#' comments skipped) and/or an inline list."""
    if path is None and not inline:
        raise ParityConfigError("corpus", "give corpus (a list of requests) or corpus_file")
    if path is not None and inline:
        raise ParityConfigError("corpus", "give corpus or corpus_file, not both (the requests would be combined)")
    out = []
    if path is not None:
        try:
            with open(path, "rb") as fh:
                lines = fh.read().decode("utf-8").splitlines()
        except (IOError, OSError) as e:
            raise ParityConfigError("corpus_file", "cannot read {0}: {1}".format(path, e)) from e
        except UnicodeDecodeError as e:
            raise ParityConfigError("corpus_file", "{0} is not UTF-8: {1}".format(path, e)) from e
        for no, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            where = "corpus_file {0} line {1}".format(path, no)
            try:
                entry = json.loads(text)
            except ValueError as e:
                raise ParityConfigError(where, "not valid JSON: {0}".format(e)) from e
            out.append(normalise_request(entry, where))
    for i, entry in enumerate(inline or []):
        out.append(normalise_request(entry, "corpus[{0}]".format(i)))
    if not out:
        raise ParityConfigError("corpus_file", "{0} holds no requests".format(path))
    return out


# --------------------------------------------------------------------------- transport

class Target(object):
    def __init__(self, url, host=None, headers=None, param="baseline"):
        if not url or "://" not in str(url):
            raise ParityConfigError(param + ".url",
                                    "must be a base URL like http://10.0.0.5:8080, got {0!r}".format(url))
        self.url = str(url).rstrip("/")
        self.host = host
        self.headers = dict(headers or {})
        self.param = param

    def describe(self):
        return {"url": self.url, "host": self.host}


class Response(object):
    __slots__ = ("status", "body", "elapsed", "error")

    def __init__(self, status=None, body=b"", elapsed=None, error=None):
        self.status, self.body, self.elapsed, self.error = status, body, elapsed, error


class Http(object):
    """One reusable HTTP sender.

    The TLS context is built once: ``open_url`` builds one per call, which costs tens
    of milliseconds and would swamp the latencies being measured. Every request gets
    a fresh cookie jar so nothing one target sets leaks into the next request.
    """

    def __init__(self, timeout=10, validate_certs=True, ca_path=None):
        context = make_context(cafile=ca_path, validate_certs=validate_certs)
        self.request = Request(timeout=timeout, validate_certs=validate_certs, follow_redirects="none",
                               use_netrc=False, context=context)

    def __call__(self, url, data, headers, method):
        return self.request.open(method, url, data=data, headers=headers, cookies=CookieJar())


def send(target, request, http, clock=time.monotonic):
    headers = dict(target.headers)
    headers.update(request["headers"])
    if target.host:
        # urllib keeps an explicit Host header, so a request can reach a virtual host by address.
        headers["Host"] = target.host
    started = clock()
    try:
        resp = http(target.url + request["path"], request["data"], headers, request["method"])
        body = resp.read()
        status = getattr(resp, "status", None) or resp.getcode()
    except HTTPError as e:
        # Non-2xx answers are answers: they take part in the comparison.
        status = e.code
        try:
            body = e.read()
        except Exception:
            body = b""
    except (URLError, UrlsConnectionError, OSError) as e:
        return Response(error="{0}".format(getattr(e, "reason", e)), elapsed=None)
    return Response(status=status, body=body or b"", elapsed=clock() - started)


# --------------------------------------------------------------------------- comparison

def _decode_json(body):
    try:
        return True, json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False, None


def compare_responses(left, right, differ, mode="json", limit=20):
    """Readable differences between two responses; empty when they are in parity."""
    if left.error or right.error:
        return ["request failed: left: {0}; right: {1}".format(left.error or "ok", right.error or "ok")]
    out = []
    if left.status != right.status:
        out.append("status: {0} != {1}".format(left.status, right.status))
    if mode == "bytes":
        if left.body != right.body:
            out.append(_bytes_difference(left.body, right.body))
        return out
    lj, lv = _decode_json(left.body)
    rj, rv = _decode_json(right.body)
    if lj and rj:
        out.extend(d.readable() for d in differ.diff(lv, rv, limit=limit))
    elif lj != rj:
        out.append("body: {0} is JSON, {1} is not".format("left" if lj else "right", "right" if lj else "left"))
    elif left.body != right.body:
        out.append(_bytes_difference(left.body, right.body))
    return out


def _bytes_difference(a, b):
    offset = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
    return "body: {0} bytes vs {1} bytes, first difference at byte {2}".format(len(a), len(b), offset)


# --------------------------------------------------------------------------- a run

class ParityRun(object):
    """Send the corpus ``repeat`` times and compare.

    With a candidate, every (request, round) pair baseline/candidate is one comparison.
    Without one, ``repeat`` must be 2 or more and rounds 2..N are compared with round 1.
    """

    def __init__(self, corpus, baseline, candidate=None, repeat=1, ignore=(), abs_tol=0.0, rel_tol=0.0,
                 compare="json", min_parity=1.0, max_latency_ratio=None, max_diffs=10, timeout=10,
                 validate_certs=True, ca_path=None, clock=time.monotonic):
        if compare not in COMPARE_MODES:
            raise ParityConfigError("compare", "must be one of {0}, got {1!r}".format(
                ", ".join(COMPARE_MODES), compare))
        if repeat < 1:
            raise ParityConfigError("repeat", "must be 1 or more, got {0}".format(repeat))
        if candidate is None and repeat < 2:
            raise ParityConfigError("repeat", "must be 2 or more when no candidate is given (reproducibility mode)")
        if not 0.0 <= min_parity <= 1.0:
            raise ParityConfigError("min_parity", "must be between 0.0 and 1.0, got {0}".format(min_parity))
        if max_latency_ratio is not None and (candidate is None or max_latency_ratio <= 0):
            raise ParityConfigError("max_latency_ratio", "needs a candidate and a positive value")
        if abs_tol < 0:
            raise ParityConfigError("tolerance", "must not be negative, got {0}".format(abs_tol))
        if rel_tol < 0:
            raise ParityConfigError("relative_tolerance", "must not be negative, got {0}".format(rel_tol))
        if max_diffs < 0:
            raise ParityConfigError("max_diffs", "must not be negative, got {0}".format(max_diffs))
        try:
            self.differ = JsonDiff(ignore, abs_tol, rel_tol)
        except ValueError as e:
            raise ParityConfigError("ignore_paths", str(e)) from e
        self.corpus = corpus
        self.baseline, self.candidate = baseline, candidate
        self.repeat = repeat
        self.compare = compare
        self.min_parity = min_parity
        self.max_latency_ratio = max_latency_ratio
        self.max_diffs = max_diffs
        self.http = Http(timeout=timeout, validate_certs=validate_certs, ca_path=ca_path)
        self.clock = clock

    def _send(self, target, request):
        return send(target, request, self.http, self.clock)

    def run(self):
        sent = 0
        comparisons = mismatches = errors = 0
        diffs = []
        lat = {"baseline": [], "candidate": []}
        first = {}
        for rnd in range(self.repeat):
            for idx, req in enumerate(self.corpus):
                left = self._send(self.baseline, req)
                sent += 1
                lat["baseline"].append(left.elapsed)
                if self.candidate is not None:
                    right = self._send(self.candidate, req)
                    sent += 1
                    lat["candidate"].append(right.elapsed)
                    ref = left
                else:
                    if rnd == 0:
                        first[idx] = left
                        errors += 1 if left.error else 0
                        continue
                    ref, right = first[idx], left
                errors += (1 if left.error else 0) + (1 if self.candidate is not None and right.error else 0)
                comparisons += 1
                found = compare_responses(ref, right, self.differ, self.compare)
                if found:
                    mismatches += 1
                    if len(diffs) < self.max_diffs:
                        diffs.append({"request": req["name"], "index": idx, "round": rnd + 1, "differences": found})
        return self._summary(sent, comparisons, mismatches, errors, diffs, lat)

    def _summary(self, sent, comparisons, mismatches, errors, diffs, lat):
        parity = (comparisons - mismatches) / float(comparisons) if comparisons else 0.0
        latency = {"baseline": latency_summary(lat["baseline"])}
        if self.candidate is not None:
            latency["candidate"] = latency_summary(lat["candidate"])
            for q in ("p50", "p95"):
                b, c = latency["baseline"][q + "_ms"], latency["candidate"][q + "_ms"]
                latency[q + "_ratio"] = round(c / b, 3) if b and c is not None else None
        reasons = []
        if parity < self.min_parity:
            reasons.append("parity {0:.4f} below min_parity {1} ({2} of {3} comparisons differ)".format(
                parity, self.min_parity, mismatches, comparisons))
        if self.max_latency_ratio is not None:
            ratio = latency.get("p95_ratio")
            if ratio is None or ratio > self.max_latency_ratio:
                reasons.append("candidate/baseline p95 latency ratio {0} above max_latency_ratio {1}".format(
                    ratio, self.max_latency_ratio))
        passed = not reasons
        mode = "candidate vs baseline" if self.candidate is not None else "reproducibility ({0} runs)".format(
            self.repeat)
        if passed:
            msg = "parity {0:.4f} over {1} comparisons ({2})".format(parity, comparisons, mode)
        else:
            msg = "parity check failed ({0}): {1}".format(mode, "; ".join(reasons))
            if diffs:
                msg += "; first difference: {0}: {1}".format(diffs[0]["request"], diffs[0]["differences"][0])
        return {
            "passed": passed,
            "msg": msg,
            "requests_sent": sent,
            "comparisons": comparisons,
            "mismatches": mismatches,
            "transport_errors": errors,
            "parity": round(parity, 6),
            "diffs": diffs,
            "latency": latency,
        }

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Semantic JSON comparison for parity checks, and latency percentiles.

Two documents are equal when they hold the same data: object key order does not
matter, ``1`` equals ``1.0``, numbers may differ within a tolerance, and chosen
paths (timestamps, request ids) are ignored.

Ignore paths are written either as a JSON pointer (RFC 6901, ``/meta/generated_at``,
with ``*`` accepted as "any key or index") or in JMESPath's path subset
(``meta.generated_at``, ``results[*].id``, ``results[].id``, ``*.trace``,
``"dotted.key".x``). Why hand-written: a JMESPath engine evaluates an expression
to *values*, while the diff needs to ask whether a *location* is ignored; and
module utils cannot count on jmespath being installed on the managed node.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math

WILDCARD = object()


class PathSyntaxError(ValueError):
    pass


# --------------------------------------------------------------------------- paths

def parse_path(expr):
    """A list of segments (str key, int index, or WILDCARD) from a pointer or JMESPath-lite path."""
    if not isinstance(expr, str) or not expr.strip():
        raise PathSyntaxError("ignore path must be a non-empty string, got {0!r}".format(expr))
    if expr.startswith("/"):
        # Pointer tokens are taken verbatim: keys may contain spaces.
        return _parse_pointer(expr)
    return _parse_jmespath(expr.strip())


def _parse_pointer(expr):
    segments = []
    for raw in expr.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        segments.append(WILDCARD if token == "*" else _KeyOrIndex(token))
    return segments


class _KeyOrIndex(str):
    """A JSON pointer token: a key of an object, or (when all digits) an index of an array."""


def _parse_jmespath(expr):
    segments = []
    i, n = 0, len(expr)
    expect_name = True
    while i < n:
        ch = expr[i]
        if ch == ".":
            if expect_name:
                raise PathSyntaxError("unexpected '.' at position {0} in {1!r}".format(i, expr))
            expect_name = True
            i += 1
        elif ch == "[":
            end = expr.find("]", i)
            if end < 0:
                raise PathSyntaxError("unclosed '[' at position {0} in {1!r}".format(i, expr))
            inner = expr[i + 1:end].strip()
            if inner in ("", "*"):
                segments.append(WILDCARD)
            elif inner.isdigit():
                segments.append(int(inner))
            else:
                raise PathSyntaxError("only [n], [*] and [] are supported, got [{0}] in {1!r}".format(inner, expr))
            expect_name = False
            i = end + 1
        elif ch == '"':
            end = i + 1
            while end < n and expr[end] != '"':
                end += 2 if expr[end] == "\\" else 1
            if end >= n:
                raise PathSyntaxError("unclosed quote at position {0} in {1!r}".format(i, expr))
            segments.append(json.loads(expr[i:end + 1]))
            expect_name = False
            i = end + 1
        else:
            if not expect_name:
                raise PathSyntaxError("expected '.' or '[' at position {0} in {1!r}".format(i, expr))
            end = i
            while end < n and expr[end] not in ".[\"":
                end += 1
            name = expr[i:end].strip()
            segments.append(WILDCARD if name == "*" else name)
            expect_name = False
            i = end
    if expect_name and segments:
        raise PathSyntaxError("path {0!r} ends with '.'".format(expr))
    return segments


def _segment_matches(pattern, actual):
    if pattern is WILDCARD:
        return True
    if isinstance(pattern, _KeyOrIndex):
        return str(actual) == pattern if isinstance(actual, int) else actual == pattern
    if isinstance(pattern, int):
        return isinstance(actual, int) and actual == pattern
    return isinstance(actual, str) and actual == pattern


def path_ignored(path, patterns):
    """True when ``path`` (a list of keys and indexes) is at or below one of ``patterns``."""
    for pattern in patterns:
        if len(pattern) <= len(path) and all(_segment_matches(pattern[i], path[i]) for i in range(len(pattern))):
            return True
    return False


def to_pointer(path):
    if not path:
        return "/"
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


# --------------------------------------------------------------------------- diff

class Difference(object):
    __slots__ = ("path", "kind", "left", "right", "note")

    def __init__(self, path, kind, left=None, right=None, note=""):
        self.path, self.kind, self.left, self.right, self.note = path, kind, left, right, note

    @property
    def pointer(self):
        return to_pointer(self.path)

    def readable(self):
        p = self.pointer
        if self.kind == "added":
            return "{0}: only on the right: {1}".format(p, _short(self.right))
        if self.kind == "removed":
            return "{0}: only on the left: {1}".format(p, _short(self.left))
        if self.kind == "type":
            return "{0}: {1} {2} vs {3} {4}".format(p, _type_name(self.left), _short(self.left),
                                                    _type_name(self.right), _short(self.right))
        note = " ({0})".format(self.note) if self.note else ""
        return "{0}: {1} != {2}{3}".format(p, _short(self.left), _short(self.right), note)

    def as_dict(self):
        return {"path": self.pointer, "kind": self.kind, "left": self.left, "right": self.right,
                "text": self.readable()}

    def __repr__(self):
        return "Difference({0})".format(self.readable())


def _type_name(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _short(v, limit=80):
    text = json.dumps(v, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def numbers_equal(a, b, abs_tol=0.0, rel_tol=0.0):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    try:
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)
    except OverflowError:  # huge ints against floats
        return False


class JsonDiff(object):
    """Compare JSON documents; ``diff`` returns the list of Differences (empty when equal)."""

    def __init__(self, ignore=(), abs_tol=0.0, rel_tol=0.0):
        if abs_tol < 0 or rel_tol < 0:
            raise ValueError("tolerances must not be negative")
        self.patterns = [parse_path(p) for p in ignore or ()]
        self.abs_tol = float(abs_tol)
        self.rel_tol = float(rel_tol)

    def diff(self, left, right, limit=None):
        out = []
        self._walk(left, right, [], out, limit)
        return out

    def equal(self, left, right):
        return not self.diff(left, right, limit=1)

    def _full(self, out, limit):
        return limit is not None and len(out) >= limit

    def _walk(self, a, b, path, out, limit):
        if self._full(out, limit) or (path and path_ignored(path, self.patterns)):
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                if self._full(out, limit):
                    return
                sub = path + [key]
                if path_ignored(sub, self.patterns):
                    continue
                if key not in b:
                    out.append(Difference(sub, "removed", left=a[key]))
                elif key not in a:
                    out.append(Difference(sub, "added", right=b[key]))
                else:
                    self._walk(a[key], b[key], sub, out, limit)
        elif isinstance(a, list) and isinstance(b, list):
            for i in range(max(len(a), len(b))):
                if self._full(out, limit):
                    return
                sub = path + [i]
                if path_ignored(sub, self.patterns):
                    continue
                if i >= len(b):
                    out.append(Difference(sub, "removed", left=a[i]))
                elif i >= len(a):
                    out.append(Difference(sub, "added", right=b[i]))
                else:
                    self._walk(a[i], b[i], sub, out, limit)
        elif _is_number(a) and _is_number(b):
            if not numbers_equal(a, b, self.abs_tol, self.rel_tol):
                note = "difference {0:.6g}".format(abs(b - a)) if not (self.abs_tol or self.rel_tol) else \
                    "difference {0:.6g} exceeds tolerance (abs {1:g}, rel {2:g})".format(
                        abs(b - a), self.abs_tol, self.rel_tol)
                out.append(Difference(path, "changed", a, b, note))
        elif _type_name(a) != _type_name(b):
            out.append(Difference(path, "type", a, b))
        elif a != b:
            out.append(Difference(path, "changed", a, b))


# --------------------------------------------------------------------------- latency

def percentile(values, q):
    """The q-th percentile (0-100), interpolating linearly between ranks; None for no data.

    Same definition as numpy's default and ``statistics.quantiles(method="inclusive")``,
    written out because the latter only yields whole-number cut points.
    """
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    q = min(100.0, max(0.0, float(q)))
    pos = (len(data) - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def latency_summary(seconds):
    """p50/p95/max in milliseconds from a list of durations in seconds."""
    ms = [s * 1000.0 for s in seconds if s is not None]
    if not ms:
        return {"count": 0, "p50_ms": None, "p95_ms": None, "max_ms": None}
    return {"count": len(ms), "p50_ms": round(percentile(ms, 50), 3), "p95_ms": round(percentile(ms, 95), 3),
            "max_ms": round(max(ms), 3)}

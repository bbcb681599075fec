# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""A small client for the Prometheus HTTP API (``/api/v1/query`` and ``/api/v1/query_range``).

Module utils run on the managed node, which may not have ``requests`` or a
Prometheus client library, so the transport is Ansible's own
``ansible.module_utils.urls`` (its ``Request`` class). Response shapes follow the Prometheus
HTTP API reference (https://prometheus.io/docs/prometheus/latest/querying/api/).

Two kinds of failure are kept apart, because a gate treats them differently:

* ``PrometheusUnavailable`` -- Prometheus could not be asked (connection refused,
  timeout, 5xx, a reply that is not the API's JSON) even after the retries. A
  gate cannot measure: its verdict is *inconclusive*.
* ``PrometheusQueryError`` -- Prometheus answered and rejected the query
  (``bad_data``, ``execution`` ...). Retrying will not help; the gate is
  misconfigured, its verdict is *error*.
* ``PrometheusAuthError`` (a ``PrometheusQueryError``) -- HTTP 401, 403 or 407: the
  credentials are wrong or missing. That is a misconfiguration too, never an outage:
  it is not retried, and a gate's verdict is *error*, which fails the gate even
  with ``inconclusive: pass``. A wrong token must never let a gate pass.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import socket
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import urlencode
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import Request, make_context

# 5xx other than these come from a query Prometheus could not execute (e.g. 500 internal
# error on a bad regexp is reported as 422 in current releases); 502-504 are the proxy /
# overload answers worth retrying.
RETRY_STATUSES = (429, 502, 503, 504)


class PrometheusError(Exception):
    pass


class PrometheusUnavailable(PrometheusError):
    """Prometheus could not be reached or did not answer sensibly."""


class PrometheusQueryError(PrometheusError):
    """Prometheus rejected the query; ``error_type`` is the API's errorType."""

    def __init__(self, msg, error_type=None, status=None):
        super(PrometheusQueryError, self).__init__(msg)
        self.error_type = error_type
        self.status = status


class PrometheusAuthError(PrometheusQueryError):
    """Prometheus (or a proxy in front of it) refused the credentials: HTTP 401, 403 or 407."""


AUTH_STATUSES = (401, 403, 407)


class PrometheusClient(object):
    """Query one Prometheus server.

    ``retries`` extra attempts are made on transport errors and 429/502/503/504,
    sleeping ``backoff * 2**attempt`` seconds between them. ``sleep`` is injectable
    so the retry policy can be unit-tested without waiting.
    """

    def __init__(self, url, token=None, username=None, password=None, ca_path=None, validate_certs=True,
                 timeout=10, retries=2, backoff=0.5, headers=None, sleep=time.sleep):
        scheme = str(url or "").split("://", 1)[0].lower() if "://" in str(url or "") else ""
        if scheme not in ("http", "https") or not str(url).split("://", 1)[1].strip("/"):
            # A configuration error, never an outage: with inconclusive: pass an outage would let the gate pass.
            raise ValueError("url: expected the Prometheus base URL with http:// or https://, e.g. "
                             "http://prometheus:9090, got {0!r}".format(url))
        for name, value, low in (("timeout", timeout, 0.001), ("retries", retries, 0), ("backoff", backoff, 0)):
            if value is None or float(value) < low:
                raise ValueError("{0}={1!r}: must be {2}".format(name, value, "more than 0" if low else "0 or more"))
        if token and (username or password):
            raise ValueError("token and username/password are mutually exclusive")
        self.url = url.rstrip("/")
        self.token = token
        self.username = username
        self.password = password
        self.ca_path = ca_path
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.headers = dict(headers or {})
        self.sleep = sleep
        # One TLS context for all queries: open_url would build (and load CA files) every call.
        self._http = Request(timeout=timeout, validate_certs=validate_certs, url_username=username,
                             url_password=password, force_basic_auth=bool(username), use_netrc=False,
                             context=make_context(cafile=ca_path, validate_certs=validate_certs))
        self.requests_made = 0

    # ------------------------------------------------------------------ API calls
    def query(self, promql, at=None):
        """Instant query; returns the API's ``data`` dict (resultType, result)."""
        params = {"query": promql}
        if at is not None:
            params["time"] = _fmt_time(at)
        return self._call("/api/v1/query", params)

    def query_range(self, promql, start, end, step):
        """Range query between two Unix times with ``step`` seconds; returns ``data``."""
        if step <= 0:
            raise ValueError("step must be positive, got {0!r}".format(step))
        params = {"query": promql, "start": _fmt_time(start), "end": _fmt_time(end), "step": _fmt_time(step)}
        return self._call("/api/v1/query_range", params)

    # ------------------------------------------------------------------ transport
    def _call(self, path, params):
        body = urlencode(params)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        headers.update(self.headers)
        if self.token:
            headers["Authorization"] = "Bearer {0}".format(self.token)
        last = None
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff * (2 ** (attempt - 1)))
            try:
                return self._once(self.url + path, body, headers)
            except PrometheusUnavailable as e:
                last = e
        raise PrometheusUnavailable("{0} (after {1} attempt{2})".format(
            last, self.retries + 1, "" if self.retries == 0 else "s"))

    def _once(self, url, body, headers):
        # POST with a form body is part of the API and keeps long PromQL out of URL limits.
        self.requests_made += 1
        status = None
        try:
            resp = self._http.open("POST", url, data=body, headers=headers)
            status = getattr(resp, "status", None) or resp.getcode()
            raw = resp.read()
        except HTTPError as e:
            status = e.code
            try:
                raw = e.read()
            except Exception:
                raw = b""
            if status in RETRY_STATUSES:
                raise PrometheusUnavailable("HTTP {0} from {1}".format(status, url)) from e
            if status in AUTH_STATUSES:
                raise PrometheusAuthError(
                    "HTTP {0} from {1}: credentials refused, check token / username / password".format(status, url),
                    "unauthorized", status) from e
        except (URLError, UrlsConnectionError, socket.timeout, OSError) as e:
            reason = getattr(e, "reason", e)
            raise PrometheusUnavailable("cannot reach {0}: {1}".format(url, reason)) from e
        try:
            doc = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
        except (ValueError, UnicodeDecodeError):
            raise PrometheusUnavailable("HTTP {0} from {1} is not Prometheus API JSON".format(status, url)) from None
        if not isinstance(doc, dict) or "status" not in doc:
            raise PrometheusUnavailable("HTTP {0} from {1} is not Prometheus API JSON".format(status, url))
        if doc["status"] != "success":
            raise PrometheusQueryError("Prometheus rejected the query ({0}): {1}".format(
                doc.get("errorType"), doc.get("error")), doc.get("errorType"), status)
        data = doc.get("data")
        if not isinstance(data, dict) or "resultType" not in data:
            raise PrometheusUnavailable("HTTP {0} from {1}: response has no data.resultType".format(status, url))
        return data


def _fmt_time(value):
    return "{0:.3f}".format(float(value))


def sample_value(text):
    """A sample's string value as float; Prometheus writes NaN / +Inf / -Inf literally."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def instant_values(data):
    """[(labels, value)] from an instant-query ``data`` (vector or scalar)."""
    rtype, result = data.get("resultType"), data.get("result")
    if rtype == "vector":
        return [(s.get("metric") or {}, sample_value(s["value"][1])) for s in result or []]
    if rtype == "scalar":
        return [({}, sample_value(result[1]))]
    if rtype == "matrix":
        # A range selector in an instant query (e.g. `metric[5m]`); use each series' last point.
        return [(s.get("metric") or {}, sample_value(s["values"][-1][1])) for s in result or [] if s.get("values")]
    raise PrometheusQueryError("unsupported resultType {0!r} (expected vector or scalar)".format(rtype), "bad_data")


def range_values(data):
    """[(labels, [(timestamp, value), ...])] from a range-query ``data`` (matrix)."""
    if data.get("resultType") != "matrix":
        raise PrometheusQueryError("unsupported resultType {0!r} for a range query".format(data.get("resultType")),
                                   "bad_data")
    return [(s.get("metric") or {}, [(float(t), sample_value(v)) for t, v in s.get("values") or []])
            for s in data.get("result") or []]


def is_number(value):
    return value is not None and not math.isnan(value)

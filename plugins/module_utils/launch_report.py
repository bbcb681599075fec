# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The launch report: a run's records and Prometheus's figures over the run's time range, as tables.

Three layers, so each can be tested on its own:

* :func:`load_run` reads a run directory (the run records of the collection's CONTRACT: ``run.json``,
  ``steps.jsonl``, ``rollbacks.jsonl``, ``decisions.jsonl`` or ``decisions/*.json``, ``artifacts.jsonl``)
  and scrubs every string on the way in (see :func:`scrub`).
* :func:`collect` asks Prometheus (``promql.PrometheusClient``) for each app's figures over
  [start, end]: instant queries at ``end`` over a ``[<end - start>s]`` range for the totals, so
  Prometheus does the arithmetic (``increase``, ``histogram_quantile``), and range queries for the
  series the plots draw. A series Prometheus does not have is ``None`` with a status saying why,
  never a number.
* :func:`build_report` turns records and measurements into the report document (every table, every
  number) that the renderers in ``launch_report_render`` and ``launch_report_plots`` draw.

Secrets: the report reads no secret. Records carry none by contract; as a second line, every record
string is scrubbed (URL credentials, ``password=...``, bearer tokens, token-like URL path segments)
and values under secret-like keys are replaced, before anything else sees them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import contextlib
import datetime
import glob
import hashlib
import json
import math
import os
import re
import time

from ansible_collections.greenlang.launch.plugins.module_utils.promql import (
    PrometheusError,
    PrometheusQueryError,
    PrometheusUnavailable,
    sample_value,
)
from ansible_collections.greenlang.launch.plugins.module_utils.run_records import latest_by_key

REPORT_SCHEMA = 1
NO_DATA = "no data"
MET = "met"
MISSED = "missed"
REDACTED = "(redacted)"
DEFAULT_APPS = ("vcci", "cbam", "csrd")
STREAMS = ("steps", "rollbacks", "decisions", "artifacts")

# The figures of the targets table: key -> (label, unit). Units drive formatting.
METRICS = (
    ("availability_requests", "Availability (successful requests)", "ratio"),
    ("availability_ready", "Availability (time with ready pods)", "ratio"),
    ("p50_seconds", "P50 latency", "seconds"),
    ("p95_seconds", "P95 latency", "seconds"),
    ("p99_seconds", "P99 latency", "seconds"),
    ("error_rate", "Error rate (5xx)", "ratio"),
    ("throughput_rps", "Throughput", "rps"),
    ("cache_hit_ratio", "Cache hit rate", "ratio"),
    ("new_vs_stable_p95_ratio", "P95 new / P95 stable", "factor"),
)
METRIC_KEYS = tuple(m[0] for m in METRICS)
METRIC_LABELS = dict((m[0], m[1]) for m in METRICS)
METRIC_UNITS = dict((m[0], m[2]) for m in METRICS)

# The runbook's targets: post-deployment validation (error < 0.1 %, P95 < 500 ms, P99 < 1 s, cache hit
# > 85 %), availability as the complement of the error target, CBAM v2 latency < 2.5x v1.
DEFAULT_TARGETS = {
    "default": {
        "availability_requests": {"min": 0.999},
        "availability_ready": {"min": 0.999},
        "p95_seconds": {"max": 0.5},
        "p99_seconds": {"max": 1.0},
        "error_rate": {"max": 0.001},
        "cache_hit_ratio": {"min": 0.85},
    },
    "cbam": {"new_vs_stable_p95_ratio": {"max": 2.5}},
}

# PromQL templates. $app is the app, $range the report's range ("3600s"), $window the rate window of the
# plotted series, $quantile 0.5/0.95/0.99. The names follow the usual Prometheus conventions (what the
# rehearsal apps expose); override any of them with the module's `queries` option.
DEFAULT_QUERIES = {
    "requests": 'sum(increase(http_requests_total{app="$app"}[$range]))',
    "errors": 'sum(increase(http_requests_total{app="$app",code=~"5.."}[$range]))',
    "latency_quantile": ('histogram_quantile($quantile, sum by (le) '
                         '(increase(http_request_duration_seconds_bucket{app="$app"}[$range])))'),
    "cache_hits": 'sum(increase(cache_hits_total{app="$app"}[$range]))',
    "cache_misses": 'sum(increase(cache_misses_total{app="$app"}[$range]))',
    "ready": 'max(app_ready{app="$app"})',
    "ready_samples": 'app_ready{app="$app"}',
    "requests_by_version": 'sum by (version) (increase(http_requests_total{app="$app"}[$range]))',
    "errors_by_version": 'sum by (version) (increase(http_requests_total{app="$app",code=~"5.."}[$range]))',
    "p95_by_version": ('histogram_quantile(0.95, sum by (version, le) '
                       '(increase(http_request_duration_seconds_bucket{app="$app"}[$range])))'),
    "request_rate_series": 'sum by (version) (rate(http_requests_total{app="$app"}[$window]))',
    "error_rate_series": 'sum by (version) (rate(http_requests_total{app="$app",code=~"5.."}[$window]))',
    "p95_series": ('histogram_quantile(0.95, sum by (version, le) '
                   '(rate(http_request_duration_seconds_bucket{app="$app"}[$window])))'),
}
QUANTILES = (("p50_seconds", "0.5"), ("p95_seconds", "0.95"), ("p99_seconds", "0.99"))
MAX_POINTS = 400  # points per plotted series: enough for a smooth line, small enough for report.json
MAX_READY_POINTS = 10000  # Prometheus refuses a range query of more than 11,000 points per series
DEFAULT_SCRAPE_INTERVAL = 15.0


class ReportError(ValueError):
    """Bad input to the report; ``param`` names the option at fault."""

    def __init__(self, param, msg):
        super(ReportError, self).__init__("{0}: {1}".format(param, msg))
        self.param = param


# ---------------------------------------------------------------------------------------------- times

_ISO_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(\.\d+)?)?\s*(Z|[+-]\d\d:?\d\d)?$")
_COMPACT_RE = re.compile(r"^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$")  # launch_run_id


def parse_time(value, param="time"):
    """Unix seconds from an ISO 8601 time (``...Z`` or an offset; no zone means UTC), a run id
    (``20260601T120000Z``) or a number of Unix seconds."""
    if isinstance(value, bool) or value is None or value == "":
        raise ReportError(param, "expected an ISO 8601 UTC time such as 2026-06-01T12:00:00Z, got {0!r}".format(value))
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    m = _COMPACT_RE.match(text)
    if m:
        return float(calendar.timegm(tuple(int(g) for g in m.groups()) + (0, 0, 0)))
    m = _ISO_RE.match(text)
    if not m:
        raise ReportError(param, "expected an ISO 8601 UTC time such as 2026-06-01T12:00:00Z, got {0!r}".format(value))
    y, mo, d, h, mi = (int(g) for g in m.groups()[:5])
    s = int(m.group(6) or 0)
    frac = float(m.group(7) or 0)
    seconds = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) + frac
    zone = m.group(8)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return float(seconds)


def fmt_time(seconds):
    """ISO 8601 UTC with a trailing Z (whole seconds, or milliseconds when there are any)."""
    if seconds is None:
        return None
    dt = datetime.datetime.fromtimestamp(round(float(seconds), 3), tz=datetime.timezone.utc)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += ".{0:03d}".format(dt.microsecond // 1000)
    return text + "Z"


def _time_or_none(value, warnings, where):
    if value in (None, ""):
        return None
    try:
        return parse_time(value, where)
    except ReportError as e:
        warnings.append(str(e))
        return None


# ------------------------------------------------------------------------------------------- scrubbing

_SECRET_KEY_RE = re.compile(r"(?i)(pass(word|wd|phrase)?$|pwd|secret|token|api[_-]?key|access[_-]?key|credential|"
                            r"private[_-]?key|dsn|webhook|authorization|cookie|session[_-]?id)")
_URL_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s'\"]+@")
_URL_QUERY_RE = re.compile(r"(?i)(\bhttps?://[^\s'\"?#]+)\?[^\s'\"#]*")
_KEY_VALUE_RE = re.compile(r"(?i)\b(\w*(?:password|passwd|pwd|secret|token|api_?key|access_?key)\w*)"
                           r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&'\"}]+)")
_AUTH_RE = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}")
_URL_RE = re.compile(r"(?i)\bhttps?://[^\s'\"<>]+")
_TOKEN_SEGMENT_RE = re.compile(r"^(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}$")


def _scrub_url_path(match):
    url = match.group(0)
    scheme, dummy_sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    if not slash:
        return url
    segments = [REDACTED if _TOKEN_SEGMENT_RE.match(seg) else seg for seg in path.split("/")]
    return "{0}://{1}/{2}".format(scheme, host, "/".join(segments))


def scrub_text(text):
    """``text`` without credentials: URL user info, query strings, ``password=...``-style pairs,
    bearer / basic tokens and token-like URL path segments (a Slack webhook's secret part)."""
    if not isinstance(text, str) or not text:
        return text
    text = _URL_USERINFO_RE.sub(lambda m: m.group(1) + REDACTED + "@", text)
    text = _URL_QUERY_RE.sub(lambda m: m.group(1) + "?" + REDACTED, text)
    text = _KEY_VALUE_RE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    text = _AUTH_RE.sub(lambda m: m.group(1) + " " + REDACTED, text)
    return _URL_RE.sub(_scrub_url_path, text)


def scrub(value, key=None):
    """A copy of a record value with every string scrubbed and values under secret-like keys replaced."""
    if key is not None and isinstance(key, str) and _SECRET_KEY_RE.search(key) and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, dict):
        return dict((k, scrub(v, k)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


# --------------------------------------------------------------------------------------------- records


def _read_jsonl(path, warnings):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path, "r", encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                warnings.append("{0}:{1}: not JSON ({2}); line skipped".format(os.path.basename(path), number, e))
                continue
            if not isinstance(row, dict):
                warnings.append("{0}:{1}: not a JSON object; line skipped".format(os.path.basename(path), number))
                continue
            rows.append(scrub(row))
    return rows


def load_run(run_dir):
    """The run records of ``run_dir`` (scrubbed): {run, steps, rollbacks, decisions, artifacts, warnings}.

    Missing files are empty streams (a run that failed early wrote little); a line that is not a JSON
    object is skipped with a warning, so one torn line never costs the whole report.
    """
    warnings = []
    records = {"run": {}, "warnings": warnings}
    if run_dir is None:
        for stream in STREAMS:
            records[stream] = records[stream + "_history"] = []
        return records
    if not os.path.isdir(run_dir):
        raise ReportError("run_dir", "{0} is not a directory".format(run_dir))
    run_json = os.path.join(run_dir, "run.json")
    if os.path.exists(run_json):
        try:
            with open(run_json, "r", encoding="utf-8") as fh:
                run = json.load(fh)
            records["run"] = scrub(run) if isinstance(run, dict) else {}
        except ValueError as e:
            warnings.append("run.json: not JSON ({0})".format(e))
    else:
        warnings.append("run.json: missing; run metadata (environment, user, versions) unknown")
    for stream in STREAMS:
        # Every line is an event (the weight history needs them all); a table shows the last line per key
        # (a step recorded ok and later undone is undone), as the run-record contract says.
        records[stream + "_history"] = _read_jsonl(os.path.join(run_dir, stream + ".jsonl"), warnings)
        records[stream] = latest_by_key(records[stream + "_history"])
    # go_no_go also writes one file per decision; read them when the stream is absent.
    if not records["decisions"]:
        for path in sorted(glob.glob(os.path.join(run_dir, "decisions", "*.json"))):
            try:
                with open(path, "r", encoding="utf-8") as fh:
                    doc = json.load(fh)
            except ValueError as e:
                warnings.append("decisions/{0}: not JSON ({1})".format(os.path.basename(path), e))
                continue
            if isinstance(doc, dict):
                records["decisions"].append(scrub(doc))
        records["decisions_history"] = list(records["decisions"])
    return records


def run_apps(records, apps=None):
    """The apps of the report, in launch order: ``apps`` if given, else run.json's, else those the records
    name, else the triple launch's three."""
    if apps:
        return list(apps)
    planned = (records.get("run") or {}).get("apps_planned")
    found = [a for a in planned if isinstance(a, str)] if isinstance(planned, list) else []
    found += [a for a in (records.get("run") or {}).get("apps") or {} if a not in found]
    first = {}
    for stream in ("steps", "rollbacks", "decisions", "artifacts"):
        for row in records.get(stream) or []:
            app = row.get("app")
            if isinstance(app, str) and app and app not in found:
                found.append(app)
            started = _t(row.get("started") or row.get("decided_at"))
            if app and started is not None:
                first[app] = min(first.get(app, started), started)
    for app, info in ((records.get("run") or {}).get("apps") or {}).items():
        started = _t((info or {}).get("started")) if isinstance(info, dict) else None
        if started is not None:
            first[app] = min(first.get(app, started), started)
    if not found:
        return list(DEFAULT_APPS)
    # Launch order: run.json is written with sorted keys, so order by when each app started; apps that never
    # started (the wave stopped before them) keep the launch's order after those that did.
    known = found if isinstance(planned, list) else (
        [a for a in DEFAULT_APPS if a in found] + [a for a in found if a not in DEFAULT_APPS])
    return sorted(known, key=lambda a: (first.get(a, float("inf")), known.index(a)))


def resolve_range(records, start=None, end=None, now=None):
    """(start, end, source) of the report: explicit times first, else run.json's started / ended, else
    the first and last record; an unfinished run ends now."""
    now = time.time() if now is None else now
    run = records.get("run") or {}
    warnings = records.setdefault("warnings", [])
    s = parse_time(start, "start") if start not in (None, "") else None
    e = parse_time(end, "end") if end not in (None, "") else None
    source = "given"
    if s is None:
        s = _time_or_none(run.get("started"), warnings, "run.json started")
        source = "run.json" if s is not None else source
    if s is None:
        times = [t for t in (_record_times(records)) if t is not None]
        if times:
            s, source = min(times), "records"
    if s is None:
        raise ReportError("start", "no start time: give start (or report_start), or a run_dir whose run.json has "
                                   "'started'")
    if e is None:
        e = _time_or_none(run.get("ended"), warnings, "run.json ended")
    if e is None:
        times = [t for t in _record_times(records) if t is not None]
        # A run that started and has not ended is still going: its report runs up to now.
        e = now if source == "run.json" or not times else max(times)
    if e <= s:
        raise ReportError("end", "end {0} is not after start {1}".format(fmt_time(e), fmt_time(s)))
    return s, e, source


def _record_times(records):
    warnings = []
    for row in records.get("steps") or []:
        yield _time_or_none(row.get("started"), warnings, "")
        yield _time_or_none(row.get("ended"), warnings, "")
    for row in records.get("rollbacks") or []:
        yield _time_or_none(row.get("started"), warnings, "")
        yield _time_or_none(row.get("stable_at"), warnings, "")
    for row in records.get("decisions") or []:
        yield _time_or_none(row.get("decided_at"), warnings, "")


# ---------------------------------------------------------------------------------------- measurements


def _render(template, **values):
    out = template
    for key in sorted(values, key=len, reverse=True):  # $range before $r..., longest names first
        out = out.replace("$" + key, str(values[key]))
    return out


def _measure(value, query, status="ok", detail=None):
    return {"value": value, "status": status, "query": query, "detail": detail}


def _finite(value):
    return value is not None and not math.isnan(value) and not math.isinf(value)


class _Asker(object):
    """Runs queries, remembering the first outage so the rest of a report does not wait on retries."""

    def __init__(self, client):
        self.client = client
        self.outage = None if client is not None else "no Prometheus URL given"
        self.queries = 0

    def instant(self, query, at):
        """[(labels, value)] or raises _NoData with the reason."""
        data = self._call(lambda: self.client.query(query, at=at))
        rtype, result = data.get("resultType"), data.get("result") or []
        if rtype == "scalar":
            return [({}, sample_value(result[1]))]
        if rtype == "vector":
            return [(s.get("metric") or {}, sample_value(s["value"][1])) for s in result]
        if rtype == "matrix":
            return [(s.get("metric") or {}, [(float(t), sample_value(v)) for t, v in s.get("values") or []])
                    for s in result]
        raise _NoData("error", "unsupported resultType {0!r}".format(rtype))

    def range(self, query, start, end, step):
        data = self._call(lambda: self.client.query_range(query, start, end, step))
        return [(s.get("metric") or {}, [(float(t), sample_value(v)) for t, v in s.get("values") or []])
                for s in data.get("result") or []]

    def _call(self, fn):
        if self.outage:
            raise _NoData("unavailable", self.outage)
        self.queries += 1
        try:
            return fn()
        except PrometheusUnavailable as e:
            self.outage = "Prometheus unavailable: {0}".format(e)
            raise _NoData("unavailable", self.outage) from None
        except PrometheusQueryError as e:
            raise _NoData("error", "query rejected: {0}".format(e)) from None
        except PrometheusError as e:
            raise _NoData("error", str(e)) from None


class _NoData(Exception):
    def __init__(self, status, detail):
        super(_NoData, self).__init__(detail)
        self.status = status
        self.detail = detail


def _single(asker, query, at):
    """One number from an instant query, as a measurement dict (None with a reason when there is none)."""
    try:
        rows = asker.instant(query, at)
    except _NoData as e:
        return _measure(None, query, e.status, e.detail)
    if not rows:
        return _measure(None, query, NO_DATA, "no series in range")
    if len(rows) > 1:
        return _measure(None, query, "error", "{0} series returned, expected one (aggregate with sum)".format(
            len(rows)))
    value = rows[0][1]
    if not _finite(value):
        return _measure(None, query, NO_DATA, "value is {0}".format(value))
    return _measure(value, query)


def _by_label(asker, query, at, label):
    try:
        rows = asker.instant(query, at)
    except _NoData as e:
        return {}, e.detail
    out = {}
    for labels, value in rows:
        out[labels.get(label, "")] = value if _finite(value) else None
    return out, None


def _range_by_label(asker, query, start, end, step, label):
    try:
        rows = asker.range(query, start, end, step)
    except _NoData as e:
        return {}, e.detail
    return dict((labels.get(label, ""), points) for labels, points in rows), None


def plot_step(start, end, scrape_interval):
    """Seconds between plotted points: at most MAX_POINTS points, never finer than the scrape interval."""
    return float(max(scrape_interval, math.ceil((end - start) / MAX_POINTS)))


def rate_window(step, scrape_interval):
    """rate() window of the plotted series: at least four scrapes, so every point has samples to rate."""
    return int(math.ceil(max(4 * scrape_interval, 2 * step)))


def detect_scrape_interval(asker, apps, end, queries):
    """The scrape interval, read from the spacing of raw samples (median gap), else the default."""
    gaps = []
    for app in apps:
        query = _render(queries["ready_samples"], app=app) + "[5m]"
        try:
            rows = asker.instant(query, end)
        except _NoData:
            continue
        for _labels, points in rows:
            if isinstance(points, list):
                times = [t for t, _v in points]
                gaps.extend(b - a for a, b in zip(times, times[1:], strict=False) if b > a)
    if not gaps:
        return DEFAULT_SCRAPE_INTERVAL, "default (no raw samples found)"
    gaps.sort()
    return float(round(gaps[len(gaps) // 2], 3)), "measured"


def collect(client, apps, start, end, versions=None, queries=None, version_label="version", scrape_interval=None):
    """Measure each app over [start, end]. ``versions`` maps app -> (stable, new) version label values.

    Returns {"scrape_interval", "scrape_interval_source", "step", "window", "queries_run", "outage",
    "apps": {app: {"metrics": {key: measurement}, "by_version": {...}, "series": {...}}}}.
    """
    queries = dict(DEFAULT_QUERIES, **(queries or {}))
    versions = versions or {}
    asker = _Asker(client)
    if client is not None:
        # One cheap probe: an unreachable Prometheus is known after one timeout, not forty.
        with contextlib.suppress(_NoData):
            asker.instant("vector(1)", end)
    if scrape_interval is None:
        scrape_interval, interval_source = detect_scrape_interval(asker, apps, end, queries)
    else:
        interval_source = "given"
    seconds = int(math.ceil(end - start))
    rng = "{0}s".format(seconds)
    step = plot_step(start, end, scrape_interval)
    window = rate_window(step, scrape_interval)
    out = {"scrape_interval": scrape_interval, "scrape_interval_source": interval_source, "step": step,
           "window": window, "range": rng, "apps": {}}
    for app in apps:
        stable, new = versions.get(app, (None, None))
        out["apps"][app] = _collect_app(asker, queries, app, start, end, rng, step, window, scrape_interval,
                                        version_label, stable, new)
    out["queries_run"] = asker.queries
    out["outage"] = asker.outage
    return out


def _collect_app(asker, queries, app, start, end, rng, step, window, scrape_interval, label, stable, new):
    q = dict((k, _render(v, app=app, range=rng, window="{0}s".format(window))) for k, v in queries.items())
    m = {}
    m["requests"] = _single(asker, q["requests"], end)
    m["errors"] = _single(asker, q["errors"], end)
    if m["errors"]["value"] is None and m["errors"]["status"] == NO_DATA and m["requests"]["value"] is not None:
        # Counters by code appear with their first response: no 5xx series while requests were counted
        # means no 5xx response was counted.
        m["errors"] = _measure(0.0, q["errors"], "ok", "no 5xx series in range: none counted")
    for key, quantile in QUANTILES:
        m[key] = _single(asker, _render(q["latency_quantile"], quantile=quantile), end)
    m["cache_hits"] = _single(asker, q["cache_hits"], end)
    m["cache_misses"] = _single(asker, q["cache_misses"], end)
    m["ready"] = _ready_share(asker, q["ready"], start, end, scrape_interval)

    by_version = {}
    requests_v, detail = _by_label(asker, q["requests_by_version"], end, label)
    errors_v, dummy_detail = _by_label(asker, q["errors_by_version"], end, label)
    p95_v, dummy_detail = _by_label(asker, q["p95_by_version"], end, label)
    for version in sorted(requests_v):
        reqs = requests_v.get(version)
        errs = errors_v.get(version, 0.0 if reqs is not None else None)
        by_version[version] = {"requests": reqs, "errors": errs, "p95_seconds": p95_v.get(version)}
    series = {"step": step, "window": window}
    series["request_rate"], dummy_detail = _range_by_label(asker, q["request_rate_series"], start, end, step, label)
    series["error_rate"], dummy_detail = _range_by_label(asker, q["error_rate_series"], start, end, step, label)
    series["p95_seconds"], dummy_detail = _range_by_label(asker, q["p95_series"], start, end, step, label)
    return {"metrics": m, "by_version": by_version, "by_version_detail": detail, "series": series,
            "stable": stable, "new": new}


def _ready_share(asker, query, start, end, scrape_interval):
    """Share of [start, end] (at scrape-interval resolution) in which at least one pod reported ready.

    A point without a sample counts as not ready (nobody could scrape a ready pod then); no sample at all
    in the range is no data.
    """
    step = max(float(scrape_interval), (end - start) / MAX_READY_POINTS)
    try:
        rows = asker.range(query, start, end, step)
    except _NoData as e:
        return _measure(None, query, e.status, e.detail)
    points = [v for _labels, values in rows for _t, v in values]
    expected = int(math.floor((end - start) / step)) + 1
    if not points:
        return _measure(None, query, NO_DATA, "no series in range")
    ready = sum(1 for v in points if _finite(v) and v >= 1)
    m = _measure(ready / float(expected), query, "ok",
                 "{0} of {1} points ready ({2} with a sample), step {3:g}s".format(ready, expected, len(points), step))
    m.update(points_expected=expected, points_ready=ready, points_with_sample=len(points), step=step)
    return m


# ----------------------------------------------------------------------------------------- the report


def _ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def derive_metrics(measured, seconds, stable=None, new=None):
    """The targets table's figures from the raw measurements: {key: {value, status, detail, query}}."""
    mm = measured["metrics"]
    requests, errors = mm["requests"]["value"], mm["errors"]["value"]
    out = {}
    error_rate = _ratio(errors, requests)
    why = _why(mm["requests"], mm["errors"]) if error_rate is None else None
    if error_rate is None and requests == 0:
        why = "no requests in range"
    out["error_rate"] = _derived(error_rate, why, "errors / requests", mm["errors"]["query"])
    out["availability_requests"] = _derived(None if error_rate is None else 1.0 - error_rate, why,
                                            "1 - error rate (share of requests answered without a 5xx)",
                                            mm["requests"]["query"])
    ready = mm["ready"]
    out["availability_ready"] = _derived(ready["value"], None if ready["value"] is not None else ready["detail"],
                                         ready.get("detail"), ready["query"])
    for key, _q in QUANTILES:
        out[key] = _derived(mm[key]["value"], mm[key]["detail"], None, mm[key]["query"])
    throughput = None if requests is None or seconds <= 0 else requests / float(seconds)
    out["throughput_rps"] = _derived(throughput, _why(mm["requests"]), "requests / range seconds",
                                     mm["requests"]["query"])
    hits, misses = mm["cache_hits"]["value"], mm["cache_misses"]["value"]
    hit_ratio = _ratio(hits, None if hits is None or misses is None else hits + misses)
    hit_why = _why(mm["cache_hits"], mm["cache_misses"]) if hit_ratio is None else None
    if hit_ratio is None and hits is not None and misses is not None:
        hit_why = "no cache lookups in range"
    out["cache_hit_ratio"] = _derived(hit_ratio, hit_why, "hits / (hits + misses)", mm["cache_hits"]["query"])
    by_version = measured.get("by_version") or {}
    p95_new = (by_version.get(new) or {}).get("p95_seconds") if new else None
    p95_stable = (by_version.get(stable) or {}).get("p95_seconds") if stable else None
    ratio = _ratio(p95_new, p95_stable)
    if ratio is None:
        ratio_why = "needs P95 of both the stable ({0}) and the new ({1}) version".format(stable or "?", new or "?")
    else:
        ratio_why = None
    out["new_vs_stable_p95_ratio"] = _derived(ratio, ratio_why, "P95 {0} / P95 {1}".format(new, stable), None)
    return out


def _why(*measurements):
    for m in measurements:
        if m["value"] is None:
            return m["detail"] or m["status"]
    return None


def _derived(value, why, how, query):
    if value is None or not _finite(value):
        return {"value": None, "status": NO_DATA, "detail": why or NO_DATA, "how": how, "query": query}
    return {"value": value, "status": "ok", "detail": None, "how": how, "query": query}


def targets_for(app, targets):
    """The app's targets: the ``default`` entry overlaid with the app's own, validated."""
    merged = {}
    for scope in ("default", app):
        for key, spec in ((targets or {}).get(scope) or {}).items():
            where = "targets.{0}.{1}".format(scope, key)
            if key not in METRIC_KEYS:
                raise ReportError(where, "unknown metric; allowed: {0}".format(", ".join(METRIC_KEYS)))
            if spec is None:  # an app may drop a default target
                merged.pop(key, None)
                continue
            if not isinstance(spec, dict) or set(spec) - {"min", "max"} or not spec:
                raise ReportError(where, "expected {min: <number>} or {max: <number>}")
            clean = {}
            for bound, number in spec.items():
                if isinstance(number, bool):
                    raise ReportError(where + "." + bound, "expected a number, got {0!r}".format(number))
                try:
                    clean[bound] = float(number)
                except (TypeError, ValueError):
                    raise ReportError(where + "." + bound, "expected a number, got {0!r}".format(number)) from None
            merged[key] = clean
    return merged


def judge(value, spec):
    """met / missed / no data for one target; ``max`` is met at or below it, ``min`` at or above it."""
    if value is None:
        return NO_DATA
    if "min" in spec and value < spec["min"]:
        return MISSED
    if "max" in spec and value > spec["max"]:
        return MISSED
    return MET


def target_rows(app, figures, targets):
    rows = []
    spec_by_key = targets_for(app, targets)
    for key in METRIC_KEYS:
        fig = figures.get(key)
        spec = spec_by_key.get(key)
        if fig is None or (spec is None and fig["value"] is None and key == "new_vs_stable_p95_ratio"):
            continue
        row = {"metric": key, "label": METRIC_LABELS[key], "unit": METRIC_UNITS[key], "value": fig["value"],
               "detail": fig["detail"], "how": fig["how"], "query": fig["query"]}
        if spec:
            row["op"], row["threshold"] = (">=", spec["min"]) if "min" in spec else ("<=", spec["max"])
            if "min" in spec and "max" in spec:
                row["op"], row["threshold"] = "between", [spec["min"], spec["max"]]
            row["verdict"] = judge(fig["value"], spec)
        else:
            row["op"], row["threshold"], row["verdict"] = None, None, None
        rows.append(row)
    return rows


def versions_of(app, records):
    """(stable, new) version of an app from run.json: previous and release."""
    info = ((records.get("run") or {}).get("apps") or {}).get(app) or {}
    return info.get("previous"), info.get("release")


def version_rows(measured, stable, new):
    rows = []
    for version, fig in sorted((measured.get("by_version") or {}).items()):
        role = "new" if version == new else "stable" if version == stable else "other"
        if stable is None and new and version != new:
            role = "stable"
        rows.append({"version": version, "role": role, "requests": fig["requests"], "errors": fig["errors"],
                     "error_rate": _ratio(fig["errors"], fig["requests"]), "p95_seconds": fig["p95_seconds"]})
    return rows


def _t(value):
    try:
        return parse_time(value) if value not in (None, "") else None
    except ReportError:
        return None


def step_rows(app, steps):
    rows = []
    for row in steps:
        if row.get("app") != app:
            continue
        started, ended = _t(row.get("started")), _t(row.get("ended"))
        checks = []
        for check in row.get("checks") or []:
            if isinstance(check, dict):
                checks.append({"name": check.get("name"), "query": check.get("query"),
                               "value": _num_or_none(check.get("value")), "threshold": check.get("threshold"),
                               "op": check.get("op"), "verdict": check.get("verdict")})
        rows.append({"app": app, "index": row.get("index"), "verb": row.get("verb"), "args": row.get("args"),
                     "status": row.get("status"), "started": fmt_time(started), "ended": fmt_time(ended),
                     "duration_s": None if started is None or ended is None else round(ended - started, 3),
                     "weight": _num_or_none(row.get("weight")), "checks": checks, "reason": row.get("reason")})
    # Plan order: an undone step stays where it ran in the plan, its times say when it was undone.
    rows.sort(key=lambda r: (r["index"] if isinstance(r["index"], (int, float)) else float("inf"),
                             _t(r["started"]) or 0))
    return rows


def _num_or_none(value):
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if _finite(number) else None


def rollback_rows(rollbacks, app=None):
    rows = []
    for row in rollbacks:
        if app is not None and row.get("app") != app:
            continue
        started, stable_at = _t(row.get("started")), _t(row.get("stable_at"))
        tts = _num_or_none(row.get("time_to_stable_s"))
        if tts is None and started is not None and stable_at is not None:
            tts = round(stable_at - started, 3)
        rows.append({"app": row.get("app"), "type": row.get("type"), "reason": row.get("reason"),
                     "started": fmt_time(started), "stable_at": fmt_time(stable_at), "time_to_stable_s": tts})
    rows.sort(key=lambda r: _t(r["started"]) or 0)
    return rows


def decision_rows(decisions):
    seen, rows = set(), []
    for row in decisions:
        decided = _t(row.get("decided_at"))
        key = (row.get("gate"), row.get("app"), decided)
        if key in seen:
            continue
        seen.add(key)
        criteria = [{"name": c.get("name"), "measured": c.get("measured"), "threshold": c.get("threshold"),
                     "op": c.get("op"), "met": c.get("met")} for c in row.get("criteria") or [] if isinstance(c, dict)]
        rows.append({"gate": row.get("gate"), "app": row.get("app"), "verdict": row.get("verdict"),
                     "decided_by": row.get("decided_by"), "decided_at": fmt_time(decided),
                     "reason": row.get("reason"), "criteria": criteria})
    rows.sort(key=lambda r: _t(r["decided_at"]) or 0)
    return rows


def artifact_rows(artifacts, kind):
    rows = []
    for row in artifacts:
        if row.get("kind") != kind:
            continue
        if kind == "backup":
            rows.append({"app": row.get("app"), "file": row.get("file"), "size": _num_or_none(row.get("size")),
                         "sha256": row.get("sha256"), "verified": row.get("verified")})
        else:
            rows.append({"app": row.get("app"), "file": row.get("file"), "schema_before": row.get("schema_before"),
                         "schema_after": row.get("schema_after")})
    return rows


def weight_points(app, steps, rollbacks, start):
    """[(t, weight %)] of the new version from every step line (not only the last per key): 0 at start, each
    step's weight when it ended, 0 when a traffic rollback started."""
    points = []
    for row in steps:
        if row.get("app") != app or _num_or_none(row.get("weight")) is None:
            continue
        t = _t(row.get("ended")) or _t(row.get("started"))
        if t is not None:
            points.append((t, float(row["weight"])))
    for row in rollbacks:
        if row.get("app") == app and row.get("type") == "traffic" and _t(row.get("started")) is not None:
            points.append((_t(row["started"]), 0.0))
    if not points:
        return []
    points.sort(key=lambda p: p[0])
    return [(start, 0.0)] + points if points[0][0] > start else points


def _series_doc(points_by_version):
    return dict((version, [[t, v if _finite(v) else None] for t, v in points])
                for version, points in sorted(points_by_version.items()))


def error_ratio_series(measured):
    """Per version [(t, 5xx share)]: error rate / request rate at each point; a point without request rate
    is a gap, a point with requests but no 5xx series is 0."""
    series = measured.get("series") or {}
    out = {}
    for version, points in (series.get("request_rate") or {}).items():
        errors = dict((t, v) for t, v in (series.get("error_rate") or {}).get(version, []))
        ratio = []
        for t, total in points:
            err = errors.get(t, 0.0)
            ratio.append((t, err / total if _finite(total) and total > 0 and _finite(err) else None))
        out[version] = ratio
    return out


def build_report(records, measured, start, end, targets=None, meta=None):
    """The report document: every table and every number, JSON-serialisable."""
    meta = dict(meta or {})
    apps = meta.pop("apps", None) or run_apps(records)
    run = records.get("run") or {}
    seconds = end - start
    report = {
        "schema": REPORT_SCHEMA,
        "title": meta.get("title") or "Launch report",
        "run": {"run_id": run.get("run_id"), "environment": run.get("environment"),
                "started": fmt_time(_t(run.get("started"))), "ended": fmt_time(_t(run.get("ended"))),
                "user": run.get("user"), "collection_version": run.get("collection_version"),
                "result": _run_result(run, records)},
        "generator": {"collection_version": meta.get("collection_version"), "prometheus_url": scrub_text(
            _strip_userinfo(meta.get("prometheus_url")))},
        "range": {"start": fmt_time(start), "end": fmt_time(end), "seconds": round(seconds, 3),
                  "promql_range": measured.get("range"),
                  "source": meta.get("range_source"), "scrape_interval_s": measured.get("scrape_interval"),
                  "scrape_interval_source": measured.get("scrape_interval_source"),
                  "plot_step_s": measured.get("step"), "rate_window_s": measured.get("window")},
        "prometheus": {"outage": measured.get("outage"), "queries_run": measured.get("queries_run")},
        "apps": {},
        "decisions": decision_rows(records.get("decisions") or []),
        "rollbacks": rollback_rows(records.get("rollbacks") or []),
        "backups": artifact_rows(records.get("artifacts") or [], "backup"),
        "migrations": artifact_rows(records.get("artifacts") or [], "migration"),
        "warnings": list(records.get("warnings") or []),
        "targets_used": targets if targets is not None else DEFAULT_TARGETS,
    }
    if measured.get("outage"):
        report["warnings"].append(measured["outage"] + " -- every Prometheus figure says 'no data'")
    for app in apps:
        stable, new = versions_of(app, records)
        info = ((run.get("apps") or {}).get(app)) or {}
        m = (measured.get("apps") or {}).get(app) or _empty_measurement()
        figures = derive_metrics(m, seconds, stable, new)
        steps = step_rows(app, records.get("steps") or [])
        rollbacks = rollback_rows(records.get("rollbacks") or [], app)
        promoted = [s for s in steps if s["verb"] in ("promote", "switch") and s["status"] == "ok"]
        report["apps"][app] = {
            "release": info.get("release"), "previous": info.get("previous"), "strategy": info.get("strategy"),
            "result": info.get("result") or _app_result(steps, rollbacks),
            "measured": dict((k, {"value": v["value"], "status": v["status"], "detail": v["detail"],
                                  "query": v["query"]}) for k, v in m["metrics"].items()),
            "figures": figures,
            "targets": target_rows(app, figures, targets if targets is not None else DEFAULT_TARGETS),
            "versions": version_rows(m, stable, new),
            "steps": steps,
            "rollbacks": rollbacks,
            "gate_windows": [{"started": s["started"], "ended": s["ended"], "status": s["status"],
                              "args": s["args"]} for s in steps if s["verb"] == "gate" and s["started"]],
            "aborts": [{"at": r["started"], "reason": r["reason"], "type": r["type"]} for r in rollbacks],
            "promotions": [{"at": s["ended"] or s["started"], "verb": s["verb"]} for s in promoted],
            "series": {
                "step_s": (m.get("series") or {}).get("step"),
                "weight": [[t, w] for t, w in weight_points(
                    app, records.get("steps_history") or records.get("steps") or [],
                    records.get("rollbacks") or [], start)],
                "request_rate": _series_doc((m.get("series") or {}).get("request_rate") or {}),
                "error_ratio": _series_doc(error_ratio_series(m)),
                "p95_seconds": _series_doc((m.get("series") or {}).get("p95_seconds") or {}),
            },
        }
    report["summary"] = summarize(report)
    return report


def _empty_measurement():
    none = _measure(None, None, NO_DATA, "not measured")
    keys = ("requests", "errors", "cache_hits", "cache_misses", "ready") + tuple(k for k, _q in QUANTILES)
    return {"metrics": dict((k, dict(none)) for k in keys), "by_version": {}, "series": {}}


def _strip_userinfo(url):
    if not url:
        return url
    return _URL_USERINFO_RE.sub(lambda m: m.group(1), url)


def _app_result(steps, rollbacks):
    if rollbacks:
        return "rolled back"
    if any(s["status"] == "failed" for s in steps):
        return "failed"
    if steps and all(s["status"] in ("ok", "skipped") for s in steps):
        return "ok"
    return "not run" if not steps else "unknown"


def _run_result(run, records):
    if run.get("result"):
        return run["result"]
    results = [((run.get("apps") or {}).get(a) or {}).get("result") for a in (run.get("apps") or {})]
    if any(r in ("failed", "rolled back", "rolled_back", "aborted") for r in results) or records.get("rollbacks"):
        return "failed"
    if run.get("ended") and results and all(r == "ok" for r in results):
        return "ok"
    return None


def summarize(report):
    out = {"apps": {}, "missed": [], "no_data": []}
    for app, doc in report["apps"].items():
        counts = {MET: 0, MISSED: 0, NO_DATA: 0}
        for row in doc["targets"]:
            if row["verdict"] in counts:
                counts[row["verdict"]] += 1
            if row["verdict"] == MISSED:
                out["missed"].append("{0} {1}".format(app, row["label"]))
            elif row["verdict"] == NO_DATA:
                out["no_data"].append("{0} {1}".format(app, row["label"]))
        out["apps"][app] = dict(counts, result=doc["result"], aborts=len(doc["aborts"]))
    out["decisions"] = ["{0} {1}: {2}".format(d["gate"], d["app"] or "", d["verdict"]) for d in report["decisions"]]
    return out


def content_digest(report, images):
    """sha256 of what the report says (without when it was generated) and of its images."""
    doc = dict((k, v) for k, v in report.items() if k not in ("generated_at", "content_sha256"))
    h = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode("utf-8"))
    for name in sorted(images):
        h.update(name.encode("utf-8"))
        h.update(images[name])
    return h.hexdigest()

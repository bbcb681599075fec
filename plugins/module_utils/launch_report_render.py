# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The launch report as text: ``report.html`` (one self-contained file), ``report.md`` and ``report.json``.

The HTML has inline CSS, its images as ``data:`` URIs and a Content-Security-Policy that allows nothing
else, so it renders the same offline, attached to a change ticket or opened years later, and a resource
that tried to load from the network would be blocked (and show as a console error) rather than fetched.
Every string from the records is HTML-escaped.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import time

from ansible_collections.greenlang.launch.plugins.module_utils.launch_report import (
    MET,
    MISSED,
    NO_DATA,
    content_digest,
    fmt_time,
)

try:
    from html import escape as _escape
except ImportError:  # pragma: no cover - Python 2 has cgi.escape only
    from cgi import escape as _escape


def esc(value):
    return _escape("" if value is None else str(value), quote=True)


def fmt_value(value, unit):
    """A measured number for people: ratios in %, seconds in ms, rates in req/s; None is 'no data'."""
    if value is None:
        return NO_DATA
    if unit == "ratio":
        pct = value * 100.0
        return "{0:.3f} %".format(pct) if abs(pct) < 1 or pct > 99 else "{0:.2f} %".format(pct)
    if unit == "seconds":
        ms = value * 1000.0
        return "{0:.1f} ms".format(ms) if ms < 100 else "{0:.0f} ms".format(ms)
    if unit == "rps":
        return "{0:.2f} req/s".format(value)
    if unit == "factor":
        return "{0:.2f}x".format(value)
    if unit == "count":
        return "{0:.0f}".format(value)
    return "{0:g}".format(value)


def fmt_target(row):
    if row.get("op") is None:
        return "-"
    unit = row["unit"]
    if row["op"] == "between":
        return "{0} .. {1}".format(fmt_value(row["threshold"][0], unit), fmt_value(row["threshold"][1], unit))
    return "{0} {1}".format(row["op"], fmt_value(row["threshold"], unit))


def fmt_number(value, digits=4):
    if value is None:
        return NO_DATA
    if isinstance(value, float):
        return "{0:.{1}g}".format(value, digits)
    return str(value)


def fmt_args(args):
    if args is None or args == {} or args == []:
        return ""
    if isinstance(args, (dict, list)):
        return json.dumps(args, sort_keys=True, separators=(", ", ": "))
    return str(args)


def fmt_check(check):
    value = fmt_number(check.get("value"))
    threshold = check.get("threshold")
    op = check.get("op") or ""
    verdict = check.get("verdict") or ""
    text = "{0}: {1}".format(check.get("name") or "check", value)
    if threshold is not None:
        text += " ({0} {1})".format(op, fmt_number(threshold) if isinstance(threshold, float) else threshold)
    if verdict:
        text += " " + verdict
    return text


def fmt_size(size):
    if size is None:
        return NO_DATA
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return "{0:.0f} {1}".format(size, unit) if unit == "B" else "{0:.1f} {1}".format(size, unit)
        size /= 1024.0
    return str(size)


def fmt_seconds(value):
    return NO_DATA if value is None else "{0:.1f} s".format(value)


def _verdict_text(verdict):
    return {MET: "met", MISSED: "MISSED", NO_DATA: NO_DATA}.get(verdict, "-")


# ------------------------------------------------------------------------------------------------ rows
# Each table is built once as (headers, rows of plain strings, per-row CSS class) and drawn by both renderers.


def table_run(report):
    run, rng, gen = report["run"], report["range"], report["generator"]
    rows = [
        ("Run", run.get("run_id") or "(no run records)"),
        ("Environment", run.get("environment") or "unknown"),
        ("Result", run.get("result") or "unknown"),
        ("Run by", run.get("user") or "unknown"),
        ("Range", "{0} to {1} ({2:.0f} s, from {3})".format(
            rng["start"], rng["end"], rng["seconds"], rng.get("source") or "?")),
        ("Collection version (run)", run.get("collection_version") or "unknown"),
        ("Collection version (report)", gen.get("collection_version") or "unknown"),
        ("Prometheus", gen.get("prometheus_url") or "none"),
        ("Scrape interval / plot step", "{0} s ({1}) / {2} s, rate window {3} s".format(
            fmt_number(rng.get("scrape_interval_s")), rng.get("scrape_interval_source") or "?",
            fmt_number(rng.get("plot_step_s")), fmt_number(rng.get("rate_window_s")))),
    ]
    return ("Item", "Value"), list(rows), [None] * len(rows)


def table_apps(report):
    rows, classes = [], []
    for app, doc in report["apps"].items():
        s = report["summary"]["apps"][app]
        rows.append((app, doc.get("strategy") or "-", "{0} -> {1}".format(doc.get("previous") or "?",
                                                                          doc.get("release") or "?"),
                     doc.get("result") or "unknown", str(s[MET]), str(s[MISSED]), str(s[NO_DATA])))
        classes.append("bad" if s[MISSED] or doc.get("aborts") else None)
    return ("App", "Strategy", "Versions", "Result", "Targets met", "Missed", "No data"), rows, classes


def table_targets(doc):
    rows, classes = [], []
    for row in doc["targets"]:
        rows.append((row["label"], fmt_value(row["value"], row["unit"]), fmt_target(row),
                     _verdict_text(row["verdict"]), row["detail"] or row["how"] or ""))
        classes.append({MET: "good", MISSED: "bad", NO_DATA: "nodata"}.get(row["verdict"]))
    return ("Metric", "Measured", "Target", "Verdict", "Notes"), rows, classes


def table_versions(doc):
    rows = [(v["version"], v["role"], fmt_value(v["requests"], "count"), fmt_value(v["errors"], "count"),
             fmt_value(v["error_rate"], "ratio"), fmt_value(v["p95_seconds"], "seconds")) for v in doc["versions"]]
    return ("Version", "Role", "Requests", "5xx", "Error rate", "P95"), rows, [None] * len(rows)


def table_steps(doc):
    rows, classes = [], []
    for s in doc["steps"]:
        rows.append((fmt_number(s["index"]), s["verb"] or "?", fmt_args(s["args"]), s["status"] or "?",
                     s["started"] or "-", s["ended"] or "-", fmt_seconds(s["duration_s"]),
                     "-" if s["weight"] is None else "{0:g} %".format(s["weight"]),
                     "; ".join(fmt_check(c) for c in s["checks"]), s["reason"] or ""))
        classes.append({"failed": "bad", "undone": "muted", "skipped": "muted"}.get(s["status"]))
    return ("#", "Step", "Args", "Status", "Started", "Ended", "Took", "Weight", "Gate checks", "Reason"), rows, classes


def table_rollbacks(rollbacks, with_app=True):
    rows = []
    for r in rollbacks:
        row = (r["type"] or "?", r["reason"] or "", r["started"] or "-", r["stable_at"] or "-",
               fmt_seconds(r["time_to_stable_s"]))
        rows.append(((r["app"] or "?",) + row) if with_app else row)
    headers = ("Type", "Reason", "Started", "Stable at", "Time to stable")
    return ((("App",) + headers) if with_app else headers), rows, ["bad"] * len(rows)


def table_decisions(report):
    rows, classes = [], []
    for d in report["decisions"]:
        criteria = "; ".join("{0}: {1} ({2} {3}) {4}".format(
            c.get("name"), fmt_number(c.get("measured")), c.get("op") or "", fmt_number(c.get("threshold")),
            "met" if c.get("met") else "NOT met" if c.get("met") is False else "") for c in d["criteria"])
        rows.append((d["gate"] or "?", d["app"] or "-", d["verdict"] or "?", d["decided_by"] or "?",
                     d["decided_at"] or "-", criteria, d["reason"] or ""))
        classes.append("good" if d["verdict"] == "GO" else "bad")
    return ("Gate", "App", "Verdict", "Decided by", "Decided at", "Criteria", "Reason"), rows, classes


def table_backups(report):
    rows = [(b["app"] or "?", b["file"] or "?", fmt_size(b["size"]), b["sha256"] or "-",
             "yes" if b["verified"] else "NO" if b["verified"] is False else "unknown") for b in report["backups"]]
    classes = [None if b["verified"] else "bad" for b in report["backups"]]
    return ("App", "File", "Size", "sha256", "Verified"), rows, classes


def table_migrations(report):
    rows = [(m["app"] or "?", m["file"] or "-", fmt_number(m["schema_before"]), fmt_number(m["schema_after"]))
            for m in report["migrations"]]
    return ("App", "Migration", "Schema before", "Schema after"), rows, [None] * len(rows)


# ------------------------------------------------------------------------------------------- markdown


def _md_cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(table):
    headers, rows, _classes = table
    if not rows:
        return "_none_\n"
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def render_markdown(report, image_dir="plots"):
    out = ["# {0}".format(report["title"]), ""]
    out += [md_table(table_run(report)), "## Apps", "", md_table(table_apps(report))]
    if report["summary"]["missed"]:
        out += ["**Targets missed:** " + ", ".join(report["summary"]["missed"]), ""]
    out += ["![overview]({0}/overview.png)".format(image_dir), ""] if image_dir else []
    for app, doc in report["apps"].items():
        out += ["## {0}".format(app), ""]
        for abort in doc["aborts"]:
            out += ["**Aborted at {0}** ({1}): {2}".format(abort["at"], abort["type"], abort["reason"] or ""), ""]
        out += ["### Targets", "", md_table(table_targets(doc)), "### Versions", "", md_table(table_versions(doc))]
        out += ["![{0}]({1}/{0}.png)".format(app, image_dir), ""] if image_dir else []
        out += ["### Timeline", "", md_table(table_steps(doc))]
        if doc["rollbacks"]:
            out += ["### Rollbacks", "", md_table(table_rollbacks(doc["rollbacks"], with_app=False))]
    out += ["## Go/no-go decisions", "", md_table(table_decisions(report))]
    out += ["## Backups", "", md_table(table_backups(report)), "## Migrations", "", md_table(table_migrations(report))]
    if report["warnings"]:
        out += ["## Warnings", ""] + ["- " + _md_cell(w) for w in report["warnings"]] + [""]
    out += ["Generated {0}; every number is in report.json with the query that measured it.".format(
        report.get("generated_at") or "")]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------------------- HTML

CSS = """
body{font:14px/1.45 "DejaVu Sans",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;color:#1d1d1f;
padding:0 16px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:30px 0 8px;border-bottom:2px solid #ddd;
padding-bottom:3px}h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 14px;width:100%;font-size:12.5px}
th,td{border:1px solid #d6d6d6;padding:4px 7px;text-align:left;vertical-align:top}
th{background:#f2f2f4}tr.good td.v{background:#e3f5e6;color:#14602a;font-weight:bold}
tr.bad td.v{background:#fde2e2;color:#a40012;font-weight:bold}tr.nodata td.v{background:#f3f3f3;color:#666}
tr.bad td:first-child{border-left:4px solid #c62828}tr.muted td{color:#888}
.badge{display:inline-block;padding:2px 9px;border-radius:10px;font-weight:bold;font-size:13px}
.badge.ok{background:#e3f5e6;color:#14602a}.badge.bad{background:#fde2e2;color:#a40012}
.badge.unknown{background:#eee;color:#555}
.abort{background:#fde2e2;border-left:5px solid #c62828;padding:8px 12px;margin:8px 0;font-weight:bold}
.promote{background:#e3f5e6;border-left:5px solid #2e7d32;padding:8px 12px;margin:8px 0}
img{max-width:100%;border:1px solid #e2e2e2;margin:6px 0}
.warn{background:#fff7d6;border-left:5px solid #e0a800;padding:6px 12px}
code,.mono{font-family:"DejaVu Sans Mono",monospace;font-size:11.5px;word-break:break-all}
details{margin:6px 0}summary{cursor:pointer;color:#444}
"""
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def html_table(table, verdict_column=None, mono_columns=()):
    headers, rows, classes = table
    if not rows:
        return "<p><em>none</em></p>\n"
    out = ["<table><thead><tr>" + "".join("<th>{0}</th>".format(esc(h)) for h in headers) + "</tr></thead><tbody>"]
    for row, cls in zip(rows, classes, strict=True):
        cells = []
        for i, cell in enumerate(row):
            attrs = []
            if i == verdict_column:
                attrs.append('class="v"')
            elif i in mono_columns:
                attrs.append('class="mono"')
            cells.append("<td{0}>{1}</td>".format(" " + " ".join(attrs) if attrs else "", esc(cell)))
        out.append('<tr{0}>{1}</tr>'.format(' class="{0}"'.format(cls) if cls else "", "".join(cells)))
    out.append("</tbody></table>")
    return "\n".join(out) + "\n"


def _img(images, name, alt):
    data = images.get(name)
    if not data:
        return ""
    return '<img alt="{0}" src="data:image/png;base64,{1}">\n'.format(esc(alt), base64.b64encode(data).decode("ascii"))


def _badge(result):
    cls = "ok" if result == "ok" else "unknown" if result in (None, "unknown", "not run") else "bad"
    return '<span class="badge {0}">{1}</span>'.format(cls, esc(result or "unknown"))


def render_html(report, images):
    run = report["run"]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta http-equiv="Content-Security-Policy" content="{0}">'.format(CSP),
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<link rel="icon" href="data:,">',
           "<title>{0} {1}</title>".format(esc(report["title"]), esc(run.get("run_id") or "")),
           "<style>{0}</style></head><body>".format(CSS)]
    out.append("<h1>{0} {1}</h1>".format(esc(report["title"]), _badge(run.get("result"))))
    out.append("<p>{0}, {1} to {2}</p>".format(esc(run.get("environment") or "environment unknown"),
                                               esc(report["range"]["start"]), esc(report["range"]["end"])))
    for warning in report["warnings"]:
        out.append('<p class="warn">{0}</p>'.format(esc(warning)))
    out.append(html_table(table_run(report)))
    out.append("<h2>Apps</h2>")
    out.append(html_table(table_apps(report)))
    if report["summary"]["missed"]:
        out.append('<p class="abort">Targets missed: {0}</p>'.format(esc(", ".join(report["summary"]["missed"]))))
    out.append(_img(images, "overview.png", "overview of the launch: steps, weights and error rates of every app"))
    for app, doc in report["apps"].items():
        out.append('<h2 id="app-{0}">{0} {1}</h2>'.format(esc(app), _badge(doc.get("result"))))
        out.append("<p>{0}: {1} &rarr; {2}</p>".format(
            esc(doc.get("strategy") or "strategy unknown"), esc(doc.get("previous") or "?"),
            esc(doc.get("release") or "?")))
        for abort in doc["aborts"]:
            out.append('<p class="abort">Aborted at {0} ({1} rollback): {2}</p>'.format(
                esc(abort["at"]), esc(abort["type"]), esc(abort["reason"] or "no reason recorded")))
        for promo in doc["promotions"]:
            out.append('<p class="promote">{0} at {1}</p>'.format(esc(promo["verb"]), esc(promo["at"])))
        out.append("<h3>Targets</h3>")
        out.append(html_table(table_targets(doc), verdict_column=3))
        out.append("<h3>Versions</h3>")
        out.append(html_table(table_versions(doc)))
        out.append(_img(images, "{0}.png".format(app), "{0}: weight, error rate and P95 over time".format(app)))
        out.append("<h3>Timeline</h3>")
        out.append(html_table(table_steps(doc), mono_columns=(2,)))
        if doc["rollbacks"]:
            out.append("<h3>Rollbacks</h3>")
            out.append(html_table(table_rollbacks(doc["rollbacks"], with_app=False)))
    out.append("<h2>Go/no-go decisions</h2>")
    out.append(html_table(table_decisions(report), verdict_column=2))
    out.append("<h2>Rollbacks</h2>")
    out.append(html_table(table_rollbacks(report["rollbacks"])))
    out.append("<h2>Backups</h2>")
    out.append(html_table(table_backups(report), mono_columns=(1, 3)))
    out.append("<h2>Migrations</h2>")
    out.append(html_table(table_migrations(report)))
    out.append("<h2>How each number was measured</h2><details><summary>PromQL per app</summary>")
    for app, doc in report["apps"].items():
        rows = [(key, m["status"], m["query"] or "", m["detail"] or "") for key, m in sorted(doc["measured"].items())]
        out.append("<h3>{0}</h3>".format(esc(app)))
        out.append(html_table((("Measurement", "Status", "Query", "Notes"), rows, [None] * len(rows)),
                              mono_columns=(2,)))
    out.append("</details>")
    out.append("<p><small>Generated {0}. Every number is in report.json.</small></p>".format(
        esc(report.get("generated_at") or "")))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def render_json(report):
    return json.dumps(report, indent=2, sort_keys=True, default=str) + "\n"


# ---------------------------------------------------------------------------------------------- files

FILES = {"html": "report.html", "md": "report.md", "json": "report.json"}


def _read(path):
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except (IOError, OSError):
        return None


def _write_atomic(path, data):
    tmp = "{0}.tmp-{1}".format(path, os.getpid())
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def write_outputs(dest, report, images, formats=("html", "md", "json"), check_mode=False, now=None):
    """Write the report files into ``dest`` unless they already say the same (same content digest).

    Returns {"changed", "paths", "digest", "before_md", "after_md"}; in check mode nothing is written.
    """
    digest = content_digest(report, images)
    paths = dict((fmt, os.path.join(dest, FILES[fmt])) for fmt in formats)
    image_paths = dict((name, os.path.join(dest, "plots", name)) for name in images)
    old_json = _read(os.path.join(dest, FILES["json"]))
    old_digest = None
    if old_json:
        try:
            old_digest = json.loads(old_json.decode("utf-8")).get("content_sha256")
        except (ValueError, AttributeError, UnicodeDecodeError):
            old_digest = None
    everything_there = all(os.path.exists(p) for p in list(paths.values()) + list(image_paths.values()))
    before_md = _read(os.path.join(dest, FILES["md"]))
    result = {"paths": dict(paths, plots=image_paths), "digest": digest,
              "before_md": before_md.decode("utf-8", "replace") if before_md else ""}
    if old_digest == digest and everything_there and "json" in formats:
        result.update(changed=False, after_md=result["before_md"])
        return result
    report = dict(report, generated_at=fmt_time(time.time() if now is None else now), content_sha256=digest)
    markdown = render_markdown(report, image_dir="plots" if images else None)
    result.update(changed=True, after_md=markdown)
    if check_mode:
        return result
    if not os.path.isdir(dest):
        os.makedirs(dest, 0o755)
    if images:
        if not os.path.isdir(os.path.join(dest, "plots")):
            os.makedirs(os.path.join(dest, "plots"), 0o755)
        for name, data in images.items():
            _write_atomic(image_paths[name], data)
    texts = {"html": lambda: render_html(report, images), "md": lambda: markdown, "json": lambda: render_json(report)}
    # report.json last: its digest is what says "this report is complete" on the next run.
    for fmt in sorted(formats, key=lambda f: f == "json"):
        _write_atomic(paths[fmt], texts[fmt]().encode("utf-8"))
    return result

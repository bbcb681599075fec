# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The launch report's figures, drawn with matplotlib (Agg backend, PNG bytes) from the report document.

* :func:`app_figure`: one app over the run's range. Top panel: 5xx share of the stable and the new version;
  bottom panel: their P95. The new version's traffic weight (from the run records) is overlaid on both as a
  shaded step area on the right axis; the measured share of requests the new version answered is a dotted
  line beside it. Gate windows are shaded, an abort (rollback) is a red line with its reason, a promotion a
  green one. Targets are dashed lines. A gap in a series stays a gap.
* :func:`overview_figure`: the apps on one time axis: each app's steps as a lane (colour = status), go/no-go
  decisions, aborts and promotions; the new versions' weights; each app's 5xx share.

Images carry no timestamp or software tag, so the same report draws the same bytes (idempotent files).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import io

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    HAS_MATPLOTLIB = True
    MATPLOTLIB_IMPORT_ERROR = None
except ImportError as e:  # the module reports it with missing_required_lib
    HAS_MATPLOTLIB = False
    MATPLOTLIB_IMPORT_ERROR = e

from ansible_collections.greenlang.launch.plugins.module_utils.launch_report import parse_time, targets_for

ROLE_COLOURS = {"stable": "#1f77b4", "new": "#d62728", "other": "#7f7f7f"}
STATUS_COLOURS = {"ok": "#2ca02c", "failed": "#d62728", "undone": "#9e9e9e", "skipped": "#d9d9d9"}
APP_COLOURS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#bcbd22")
WEIGHT_COLOUR = "#6a3d9a"
GATE_COLOUR = {"ok": "#ffe08a", "failed": "#f4a6a6"}
DPI = 100


def _dt(seconds):
    return datetime.datetime.fromtimestamp(float(seconds), tz=datetime.timezone.utc)


def _t(text):
    return parse_time(text) if text else None


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _xy(points, scale=1.0):
    """Datetimes and values of [[t, v|None]]; None becomes NaN so the line breaks at a gap."""
    xs = [_dt(t) for t, _v in points]
    ys = [float("nan") if v is None else v * scale for _t2, v in points]
    return xs, ys


def _time_axis(ax, start, end):
    ax.set_xlim(_dt(start), _dt(end))
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10, tz=datetime.timezone.utc)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=datetime.timezone.utc))


def _role_of(doc):
    return dict((row["version"], row["role"]) for row in doc.get("versions") or [])


def _label(ax, at, text, colour, right_half):
    """A label at the top of a vertical mark, on the side of the mark where the plot has room."""
    ax.annotate(text, (_dt(at), 1.0), xycoords=("data", "axes fraction"), xytext=(-4 if right_half else 4, -12),
                textcoords="offset points", color=colour, fontsize=8, fontweight="bold", va="top",
                ha="right" if right_half else "left")


def _marks(ax, doc, label_top=False, start=None, end=None):
    """Gate windows, aborts and promotions of one app on one axis."""
    middle = None if start is None or end is None else start + (end - start) * 0.55
    for gate in doc.get("gate_windows") or []:
        start, end = _t(gate["started"]), _t(gate.get("ended")) or _t(gate["started"])
        ax.axvspan(_dt(start), _dt(max(end, start + 0.5)), color=GATE_COLOUR.get(gate["status"], "#eeeeee"),
                   alpha=0.6, lw=0, zorder=0)
    for abort in doc.get("aborts") or []:
        if abort.get("at"):
            at = _t(abort["at"])
            ax.axvline(_dt(at), color="#b00020", lw=2, zorder=5)
            if label_top:
                reason = abort.get("reason") or ""
                reason = reason if len(reason) <= 60 else reason[:57] + "..."
                _label(ax, at, "abort: " + reason, "#b00020", middle is not None and at > middle)
    for promo in doc.get("promotions") or []:
        if promo.get("at"):
            at = _t(promo["at"])
            ax.axvline(_dt(at), color="#1b7f3b", lw=2, zorder=5)
            if label_top:
                _label(ax, at, promo.get("verb") or "promote", "#1b7f3b", middle is not None and at > middle)


def _weight_overlay(ax, doc, measured_share, end):
    twin = ax.twinx()
    weight = doc["series"].get("weight") or []
    if weight:
        xs, ys = _xy(weight + [[max(end, weight[-1][0]), weight[-1][1]]])
        twin.fill_between(xs, ys, step="post", color=WEIGHT_COLOUR, alpha=0.10, lw=0)
        twin.step(xs, ys, where="post", color=WEIGHT_COLOUR, lw=1.2, alpha=0.8, label="new version weight (plan)")
    if measured_share:
        xs, ys = _xy(measured_share)
        twin.plot(xs, ys, color=WEIGHT_COLOUR, lw=1, ls=":", label="share answered by new version")
    twin.set_ylim(0, 105)
    twin.set_ylabel("traffic to new version %", color=WEIGHT_COLOUR, fontsize=8)
    twin.tick_params(axis="y", labelsize=7, colors=WEIGHT_COLOUR)
    return twin


def _measured_share(doc):
    """[[t, % of requests answered by the new version]] from the request-rate series."""
    roles = _role_of(doc)
    rates = doc["series"].get("request_rate") or {}
    new = [v for v, r in roles.items() if r == "new" and v in rates]
    if not new:
        return []
    totals = {}
    for _version, points in rates.items():
        for t, v in points:
            if v is not None:
                totals[t] = totals.get(t, 0.0) + v
    out = []
    for t, v in rates[new[0]]:
        total = totals.get(t)
        out.append([t, None if v is None or not total else 100.0 * v / total])
    return out


def _no_data(ax, text="no data"):
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#888888", fontsize=11)


def app_figure(report, app):
    """PNG bytes of one app's figure."""
    doc = report["apps"][app]
    start, end = _t(report["range"]["start"]), _t(report["range"]["end"])
    roles = _role_of(doc)
    targets = targets_for(app, report.get("targets_used"))
    fig, (ax_err, ax_p95) = plt.subplots(2, 1, figsize=(10, 5.6), sharex=True)
    title = "{0}: {1} {2} -> {3}".format(app, doc.get("strategy") or "", doc.get("previous") or "?",
                                         doc.get("release") or "?")
    fig.suptitle("{0}   [{1}]".format(title, doc.get("result") or "unknown"), fontsize=11, fontweight="bold")
    share = _measured_share(doc)
    for ax, key, scale, ylabel, target_key in ((ax_err, "error_ratio", 100.0, "5xx share %", "error_rate"),
                                               (ax_p95, "p95_seconds", 1000.0, "P95 ms", "p95_seconds")):
        _marks(ax, doc, label_top=ax is ax_err, start=start, end=end)
        twin = _weight_overlay(ax, doc, share, end)
        peak = 0.0
        for version, points in sorted((doc["series"].get(key) or {}).items()):
            values = [v * scale for _t2, v in points if v is not None]
            if not values:
                continue
            peak = max([peak] + values)
            role = roles.get(version, "other")
            xs, ys = _xy(points, scale)
            ax.plot(xs, ys, color=ROLE_COLOURS.get(role, "#7f7f7f"), lw=1.6, label="{0} ({1})".format(version, role),
                    zorder=3)
        top = peak * 1.25 if peak > 0 else 1.0
        spec = targets.get(target_key) or {}
        if "max" in spec:
            target = spec["max"] * scale
            # A target far above the data would flatten the lines that matter; name it instead of drawing it.
            if target <= 2.5 * max(peak, 1e-12):
                top = max(top, target * 1.15)
                ax.axhline(target, color="#444444", ls="--", lw=1, label="target {0:g}".format(target), zorder=2)
            else:
                ax.plot([], [], color="#444444", ls="--", lw=1, label="target {0:g} (off scale)".format(target))
        if peak == 0.0 and not any(v is not None for pts in (doc["series"].get(key) or {}).values()
                                   for _t2, v in pts):
            _no_data(ax)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.set_ylim(0, top)
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.grid(True, alpha=0.25)
        handles, labels = ax.get_legend_handles_labels()
        h2, l2 = twin.get_legend_handles_labels()
        if handles or h2:
            ax.legend(handles + h2, labels + l2, loc="upper left", fontsize=7, framealpha=0.85, ncol=3,
                      bbox_to_anchor=(0.0, 0.9) if ax is ax_err else (0.0, 1.0))
    _time_axis(ax_p95, start, end)
    ax_p95.set_xlabel("UTC (shaded: gate windows; red: abort; green: promote)", fontsize=8)
    # Fixed margins rather than tight_layout, which draws the whole figure once more to measure it.
    fig.subplots_adjust(left=0.07, right=0.925, top=0.92, bottom=0.1, hspace=0.1)
    return _png(fig)


def _combined_error_ratio(doc):
    rates = doc["series"].get("request_rate") or {}
    ratios = doc["series"].get("error_ratio") or {}
    totals, errors = {}, {}
    for version, points in rates.items():
        ratio = dict((t, r) for t, r in ratios.get(version) or [])
        for t, v in points:
            if v is None:
                continue
            totals[t] = totals.get(t, 0.0) + v
            errors[t] = errors.get(t, 0.0) + v * (ratio.get(t) or 0.0)
    return [[t, errors[t] / totals[t] if totals[t] > 0 else None] for t in sorted(totals)]


def overview_figure(report):
    """PNG bytes of the overview: every app on one time axis."""
    apps = list(report["apps"])
    start, end = _t(report["range"]["start"]), _t(report["range"]["end"])
    fig, (ax_lanes, ax_weight, ax_err) = plt.subplots(
        3, 1, figsize=(10, 2.2 + 1.1 * len(apps) + 3.2), sharex=True,
        gridspec_kw={"height_ratios": [max(1, len(apps)) * 0.6 + 0.6, 1.2, 1.2]})
    fig.suptitle("{0}: {1}".format(report.get("title") or "Launch report", ", ".join(apps)), fontsize=11,
                 fontweight="bold")
    for lane, app in enumerate(apps):
        doc = report["apps"][app]
        y = len(apps) - lane
        for step in doc.get("steps") or []:
            s, e = _t(step["started"]), _t(step["ended"]) or _t(step["started"])
            if s is None:
                continue
            width = max(e - s, (end - start) / 400.0) / 86400.0
            ax_lanes.broken_barh([(mdates.date2num(_dt(s)), width)], (y - 0.35, 0.7),
                                 facecolors=STATUS_COLOURS.get(step["status"], "#cccccc"), edgecolor="white", lw=0.5)
            if e - s >= (end - start) / 25.0:  # label the steps wide enough to carry their verb
                ax_lanes.text(_dt(s + (e - s) / 2.0), y, step["verb"] or "", ha="center", va="center", fontsize=7,
                              color="white", clip_on=True)
        for abort in doc.get("aborts") or []:
            if abort.get("at"):
                ax_lanes.plot([_dt(_t(abort["at"]))], [y], marker="X", color="#b00020", ms=11, zorder=5)
        for promo in doc.get("promotions") or []:
            if promo.get("at"):
                ax_lanes.plot([_dt(_t(promo["at"]))], [y], marker="^", color="#1b7f3b", ms=10, zorder=5)
        colour = APP_COLOURS[lane % len(APP_COLOURS)]
        weight = doc["series"].get("weight") or []
        if weight:
            xs, ys = _xy(weight + [[end, weight[-1][1]]])
            ax_weight.step(xs, ys, where="post", color=colour, lw=1.6, label=app)
        combined = _combined_error_ratio(doc)
        if any(v is not None for _t2, v in combined):
            xs, ys = _xy(combined, 100.0)
            ax_err.plot(xs, ys, color=colour, lw=1.4, label=app)
    for decision in report.get("decisions") or []:
        if decision.get("decided_at"):
            at = _dt(_t(decision["decided_at"]))
            go = decision.get("verdict") == "GO"
            for ax in (ax_lanes, ax_weight, ax_err):
                ax.axvline(at, color="#1b7f3b" if go else "#b00020", ls="--", lw=1)
            ax_lanes.annotate("{0} {1}".format(decision.get("gate") or "go/no-go", decision.get("verdict") or "?"),
                              (at, len(apps) + 0.55), fontsize=7, rotation=0, xytext=(3, 0),
                              textcoords="offset points", color="#1b7f3b" if go else "#b00020")
    ax_lanes.set_yticks(range(len(apps), 0, -1))
    ax_lanes.set_yticklabels(apps)
    ax_lanes.set_ylim(0.4, len(apps) + 0.9)
    ax_lanes.set_ylabel("steps", fontsize=9)
    ax_lanes.grid(True, axis="x", alpha=0.25)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in STATUS_COLOURS.values()]
    ax_lanes.legend(handles, list(STATUS_COLOURS), loc="upper right", fontsize=7, ncol=4, framealpha=0.85)
    ax_weight.set_ylabel("new version %", fontsize=9)
    ax_weight.set_ylim(-2, 105)
    ax_err.set_ylabel("5xx share %", fontsize=9)
    ax_err.set_ylim(bottom=0)
    for ax in (ax_weight, ax_err):
        ax.grid(True, alpha=0.25)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize=7, ncol=len(apps), framealpha=0.85)
        else:
            _no_data(ax)
    _time_axis(ax_err, start, end)
    ax_err.set_xlabel("UTC (X: abort; triangle: promote; dashed: go/no-go)", fontsize=8)
    fig.subplots_adjust(left=0.08, right=0.975, top=0.94, bottom=0.07, hspace=0.08)
    return _png(fig)


def all_figures(report):
    """{"overview.png": bytes, "<app>.png": bytes, ...}. A figure that cannot be drawn is left out with a
    warning in the report: the report of a launch (often a failed one) must still be written."""
    images = {}
    jobs = [("overview.png", lambda: overview_figure(report))]
    jobs += [("{0}.png".format(app), lambda app=app: app_figure(report, app)) for app in report["apps"]]
    for name, draw in jobs:
        try:
            images[name] = draw()
        except Exception as e:  # noqa: BLE001 - any drawing failure costs one figure, not the report
            plt.close("all")
            report.setdefault("warnings", []).append("figure {0} could not be drawn: {1}: {2}".format(
                name, type(e).__name__, e))
    return images

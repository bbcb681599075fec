#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: launch_report
short_description: Write the launch report of a run (HTML, Markdown, JSON) from its records and Prometheus
version_added: 0.1.0
description:
  - Reads a run's records (C(run.json), C(steps.jsonl), C(rollbacks.jsonl), C(decisions.jsonl) or
    C(decisions/*.json), C(artifacts.jsonl), as the collection's run-record contract defines them) and asks
    Prometheus for each app's figures over the run's time range.
  - Writes C(report.html) (one self-contained file, inline CSS and PNG images, no network), C(report.md) (for
    Slack, an issue or a change ticket, images linked from C(plots/)) and C(report.json) (every number, with
    the PromQL that measured it).
  - "Per app: availability (share of requests answered without a 5xx, and share of time with a ready pod),
    P50/P95/P99 latency, error rate, throughput and cache hit rate, each against its target (met or
    missed); the stable and new versions side by side; every step with its start, end, weight and gate
    checks; rollbacks with reason and time to stable. Also the go/no-go decisions, backups (file, size,
    sha256, verified), migrations (schema before and after), environment, versions, who ran it and the
    collection version."
  - A figure Prometheus has no series for is C(no data), never a number. Prometheus unreachable is a warning
    in the report, not a failure; the report is still written, every Prometheus figure saying C(no data).
  - Secrets are never read. Record strings are scrubbed on the way in (URL credentials and query strings,
    C(password=...) pairs, bearer tokens, token-like URL path segments) and values under secret-like keys
    (password, token, secret, dsn, webhook, ...) are replaced by C((redacted)).
  - Idempotent for a closed time range; the files are rewritten only when what they say changes (a digest of
    the content, without the generation time, is kept in C(report.json)). Check mode computes the report and
    shows the Markdown diff without writing.
author:
  - GreenLang platform engineering (@greenlang)
requirements:
  - matplotlib >= 3.8 (on the host that runs the module) when O(plots=true)
options:
  run_dir:
    description:
      - The run's records directory, C(<launch_state_dir>/runs/<launch_run_id>).
      - Gives the time range (run.json C(started)/C(ended); an unfinished run ends now), the apps and their
        versions. Without it, give O(start) (and O(end)) and O(dest); the report then has no timeline.
    type: path
  start:
    description:
      - Start of the report's range, ISO 8601 UTC (C(2026-06-01T12:00:00Z)) or Unix seconds. Overrides run.json.
    type: str
  end:
    description:
      - End of the report's range, like O(start). Defaults to run.json's C(ended), else now.
    type: str
  dest:
    description:
      - Directory the report files are written to; created when missing. Defaults to O(run_dir).
    type: path
  apps:
    description:
      - Apps to report on, in order. Defaults to run.json's apps, else the apps the records name, else
        C(vcci), C(cbam), C(csrd).
    type: list
    elements: str
  prometheus_url:
    description:
      - Base URL of the Prometheus HTTP API. Without it every Prometheus figure is C(no data).
      - User info in the URL is used to authenticate but never written to the report.
    type: str
    aliases: [url]
  token:
    description:
      - Bearer token for Prometheus. Mutually exclusive with O(username).
    type: str
  username:
    description:
      - User for HTTP basic authentication to Prometheus.
    type: str
  password:
    description:
      - Password for HTTP basic authentication to Prometheus.
    type: str
  ca_path:
    description:
      - PEM file with the CA certificate(s) of the Prometheus server.
    type: path
  validate_certs:
    description:
      - Verify Prometheus's TLS certificate.
    type: bool
    default: true
  headers:
    description:
      - Extra HTTP headers for Prometheus (a tenant header, for example).
    type: dict
  timeout:
    description:
      - Seconds to wait for one Prometheus request.
    type: float
    default: 10
  retries:
    description:
      - Extra attempts on transport errors and HTTP 429/502/503/504. After the first outage the report stops
        asking, so an unreachable Prometheus costs one timeout, not one per figure.
    type: int
    default: 2
  targets:
    description:
      - "Targets per app, C({<app or default>: {<metric>: {min|max: number}}}); an app's entry overlays C(default),
        and C(null) drops a default target for that app."
      - "Metrics: C(availability_requests), C(availability_ready), C(p50_seconds), C(p95_seconds), C(p99_seconds),
        C(error_rate), C(throughput_rps), C(cache_hit_ratio), C(new_vs_stable_p95_ratio). Ratios are fractions
        (C(0.001) is 0.1 %)."
      - "Default: the runbook's post-deployment validation for every app (error rate <= 0.001, P95 <= 0.5 s,
        P99 <= 1 s, cache hit >= 0.85, availability >= 0.999) and CBAM's v2 latency <= 2.5 x v1."
    type: dict
  queries:
    description:
      - PromQL templates replacing the defaults by name (C(requests), C(errors), C(latency_quantile),
        C(cache_hits), C(cache_misses), C(ready), C(ready_samples), C(requests_by_version), C(errors_by_version),
        C(p95_by_version), C(request_rate_series), C(error_rate_series), C(p95_series)).
      - "Placeholders: C($app), C($range) (the report's range, e.g. C(3600s)), C($window) (rate window of the
        plotted series), C($quantile). The C(*_by_version) and C(*_series) queries group by O(version_label)."
    type: dict
  version_label:
    description:
      - Label whose value is the version that answered (the release tag), used to tell stable from new.
    type: str
    default: version
  scrape_interval:
    description:
      - Prometheus's scrape interval (seconds or a duration such as C(15s)). Read from the spacing of raw samples
        when not given.
    type: raw
  title:
    description:
      - Title of the report.
    type: str
    default: Launch report
  formats:
    description:
      - Which files to write. C(json) carries the digest that makes reruns idempotent.
    type: list
    elements: str
    choices: [html, md, json]
    default: [html, md, json]
  plots:
    description:
      - Draw the figures (needs matplotlib). Without them the report has tables only.
    type: bool
    default: true
  collection_version:
    description:
      - Version of the collection that writes the report, shown beside the run's own.
    type: str
notes:
  - Runs where the records and Prometheus are reachable, normally the controller (C(delegate_to=localhost)).
  - The logic lives in the collection's C(launch_report), C(launch_report_render) and C(launch_report_plots)
    module utils; the PromQL client is C(promql).
seealso:
  - name: Prometheus HTTP API
    description: The query endpoints the report calls.
    link: https://prometheus.io/docs/prometheus/latest/querying/api/
"""

EXAMPLES = r"""
- name: Report of the launch that just ran
  greenlang.launch.launch_report:
    run_dir: "{{ launch_run_dir }}"
    prometheus_url: "{{ launch_prometheus_url }}"
  delegate_to: localhost
  register: report

- name: Report on any time range (no run records)
  greenlang.launch.launch_report:
    start: "2026-06-01T08:00:00Z"
    end: "2026-06-01T12:00:00Z"
    apps: [vcci, cbam, csrd]
    dest: /var/lib/greenlang-launch/reports/2026-06-01-morning
    prometheus_url: https://prometheus.greenlang.example
    token: "{{ vault_prometheus_token }}"
    targets:
      default: {error_rate: {max: 0.001}, p95_seconds: {max: 0.5}}
      csrd: {p95_seconds: {max: 2.0}}
"""

RETURN = r"""
dest:
  description: Directory the report is in.
  returned: always
  type: str
  sample: /var/lib/greenlang-launch/runs/20260601T120000Z
paths:
  description: Paths of the files (C(html), C(md), C(json), and C(plots), a dict of image paths).
  returned: always
  type: dict
  sample: {html: /runs/20260601T120000Z/report.html, md: /runs/20260601T120000Z/report.md}
range:
  description: The report's time range (C(start), C(end), C(seconds), C(source)) and measurement resolution.
  returned: always
  type: dict
summary:
  description: Per app the count of targets met, missed and without data, its result and its number of aborts;
    the missed targets and those without data as C(<app> <metric>) strings; the decisions.
  returned: always
  type: dict
  sample:
    apps: {cbam: {met: 5, missed: 2, "no data": 0, result: rolled back, aborts: 1}}
    missed: [cbam Error rate (5xx), cbam Availability (successful requests)]
    no_data: []
    decisions: ["after-vcci vcci: GO"]
targets:
  description: Per app the targets table (metric, value, op, threshold, verdict met/missed/no data).
  returned: always
  type: dict
warnings_in_report:
  description: What the report could not read or measure (torn record lines, Prometheus outage).
  returned: always
  type: list
  elements: str
digest:
  description: sha256 of the report's content (without its generation time).
  returned: always
  type: str
msg:
  description: One line saying where the report is and what it found.
  returned: always
  type: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.six.moves.urllib.parse import urlsplit
from ansible_collections.greenlang.launch.plugins.module_utils.gate import GateConfigError, parse_duration
from ansible_collections.greenlang.launch.plugins.module_utils.launch_report import (
    DEFAULT_QUERIES,
    DEFAULT_TARGETS,
    ReportError,
    build_report,
    collect,
    load_run,
    resolve_range,
    run_apps,
    targets_for,
    versions_of,
)
from ansible_collections.greenlang.launch.plugins.module_utils.launch_report_plots import (
    HAS_MATPLOTLIB,
    MATPLOTLIB_IMPORT_ERROR,
    all_figures,
)
from ansible_collections.greenlang.launch.plugins.module_utils.launch_report_render import write_outputs
from ansible_collections.greenlang.launch.plugins.module_utils.promql import PrometheusClient


def argument_spec():
    return dict(
        run_dir=dict(type="path"),
        start=dict(type="str"),
        end=dict(type="str"),
        dest=dict(type="path"),
        apps=dict(type="list", elements="str"),
        prometheus_url=dict(type="str", aliases=["url"]),
        token=dict(type="str", no_log=True),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        ca_path=dict(type="path"),
        validate_certs=dict(type="bool", default=True),
        headers=dict(type="dict"),
        timeout=dict(type="float", default=10),
        retries=dict(type="int", default=2),
        targets=dict(type="dict"),
        queries=dict(type="dict"),
        version_label=dict(type="str", default="version"),
        scrape_interval=dict(type="raw"),
        title=dict(type="str", default="Launch report"),
        formats=dict(type="list", elements="str", choices=["html", "md", "json"], default=["html", "md", "json"]),
        plots=dict(type="bool", default=True),
        collection_version=dict(type="str"),
    )


def _check_options(p):
    if not p["run_dir"] and not p["start"]:
        raise ReportError("run_dir", "give run_dir (a run's records) or start (and end) for a time range")
    if not p["dest"] and not p["run_dir"]:
        raise ReportError("dest", "required when run_dir is not given")
    unknown = sorted(set(p["queries"] or {}) - set(DEFAULT_QUERIES))
    if unknown:
        raise ReportError("queries", "unknown name(s) {0}; allowed: {1}".format(
            ", ".join(unknown), ", ".join(sorted(DEFAULT_QUERIES))))
    for name, text in (p["queries"] or {}).items():
        if not isinstance(text, str) or not text.strip():
            raise ReportError("queries." + name, "expected a PromQL template string")
    if not isinstance(p["targets"], (dict, type(None))):
        raise ReportError("targets", "expected a dict")


def main():
    module = AnsibleModule(argument_spec=argument_spec(), mutually_exclusive=[("token", "username")],
                           required_together=[("username", "password")], supports_check_mode=True)
    p = module.params
    # A password in the URL's user info is a secret like O(password): keep it out of every result.
    userinfo_password = urlsplit(p["prometheus_url"] or "").password
    if userinfo_password:
        module.no_log_values.add(userinfo_password)
    if p["plots"] and not HAS_MATPLOTLIB:
        module.fail_json(msg=missing_required_lib("matplotlib (or set plots=false)"),
                         exception="".join(traceback.format_exception_only(type(MATPLOTLIB_IMPORT_ERROR),
                                                                           MATPLOTLIB_IMPORT_ERROR)))
    try:
        _check_options(p)
        targets = DEFAULT_TARGETS if p["targets"] is None else p["targets"]
        records = load_run(p["run_dir"])
        apps = run_apps(records, p["apps"])
        for app in apps:
            targets_for(app, targets)  # refuse a bad target before asking Prometheus anything
        start, end, source = resolve_range(records, p["start"], p["end"])
        scrape_interval = None
        if p["scrape_interval"] not in (None, ""):
            scrape_interval = parse_duration(p["scrape_interval"], "scrape_interval")
            if scrape_interval <= 0:
                raise ReportError("scrape_interval", "must be positive")
        client = None
        if p["prometheus_url"]:
            client = PrometheusClient(p["prometheus_url"], token=p["token"], username=p["username"],
                                      password=p["password"], ca_path=p["ca_path"],
                                      validate_certs=p["validate_certs"], timeout=p["timeout"],
                                      retries=p["retries"], headers=p["headers"])
    except (ReportError, GateConfigError, ValueError) as e:
        module.fail_json(msg=str(e))
    versions = dict((app, versions_of(app, records)) for app in apps)
    measured = collect(client, apps, start, end, versions=versions, queries=p["queries"],
                       version_label=p["version_label"], scrape_interval=scrape_interval)
    report = build_report(records, measured, start, end, targets=targets,
                          meta={"apps": apps, "title": p["title"], "collection_version": p["collection_version"],
                                "prometheus_url": p["prometheus_url"], "range_source": source})
    images = all_figures(report) if p["plots"] else {}
    dest = p["dest"] or p["run_dir"]
    try:
        written = write_outputs(dest, report, images, formats=p["formats"], check_mode=module.check_mode)
    except (IOError, OSError) as e:
        module.fail_json(msg="dest: cannot write the report into {0}: {1}".format(dest, e))
    summary = report["summary"]
    msg = "launch report {0} in {1}: {2} target(s) missed{3}, {4} without data".format(
        "written" if written["changed"] and not module.check_mode else
        "would be written" if written["changed"] else "unchanged", dest, len(summary["missed"]),
        " ({0})".format(", ".join(summary["missed"])) if summary["missed"] else "", len(summary["no_data"]))
    result = dict(changed=written["changed"], dest=dest, paths=written["paths"], range=report["range"],
                  summary=summary, digest=written["digest"], warnings_in_report=report["warnings"], msg=msg,
                  targets=dict((app, doc["targets"]) for app, doc in report["apps"].items()))
    if module._diff and written["changed"]:
        result["diff"] = {"before": written["before_md"], "after": written["after_md"],
                          "before_header": dest + "/report.md", "after_header": dest + "/report.md"}
    module.exit_json(**result)


if __name__ == "__main__":
    main()

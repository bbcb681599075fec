"""The launch report's tables from synthetic run records and synthetic Prometheus series (with gaps), and a run
with no data at all. ``SyntheticPrometheus`` answers the two HTTP API calls the report makes from series given as
[(t, value or None)]; None is a gap (no sample), as Prometheus leaves a point out when it has none. The real
Prometheus is exercised in tests/integration/test_report_on_stack.py.
"""

from __future__ import annotations

import json
import math
import os

import pytest
from ansible_collections.greenlang.launch.plugins.module_utils import launch_report as lr
from ansible_collections.greenlang.launch.plugins.module_utils import launch_report_plots as plots
from ansible_collections.greenlang.launch.plugins.module_utils import launch_report_render as render
from ansible_collections.greenlang.launch.plugins.module_utils import run_records
from ansible_collections.greenlang.launch.plugins.module_utils.promql import PrometheusClient

T0 = lr.parse_time("2026-06-01T12:00:00Z")
END = T0 + 300


def at(seconds: float) -> str:
    return lr.fmt_time(T0 + seconds)


class SyntheticPrometheus:
    """Answers ``query`` / ``query_range`` like the HTTP API's ``data``, from canned results.

    ``instant``: {query substring: [(labels, value)]}; ``ranges``: {query substring: [(labels, fn(t) -> v|None)]}.
    The longest matching substring wins; a query nothing matches has no series.
    """

    def __init__(self, instant=None, ranges=None, scrape=1.0):
        self.instant, self.ranges, self.scrape = instant or {}, ranges or {}, scrape
        self.asked = []

    def _match(self, table, query):
        keys = [k for k in table if k in query]
        return table[max(keys, key=len)] if keys else []

    def query(self, promql, at=None):
        self.asked.append(promql)
        if promql == "vector(1)":
            return {"resultType": "vector", "result": [{"metric": {}, "value": [at, "1"]}]}
        if promql.endswith("[5m]"):  # raw samples: spacing tells the scrape interval
            times = [END - 10 + i * self.scrape for i in range(int(10 / self.scrape))]
            return {"resultType": "matrix", "result": [{"metric": {"app": "x"}, "values": [[t, "1"] for t in times]}]}
        return {"resultType": "vector",
                "result": [{"metric": labels, "value": [at, repr(float(v))]} for labels, v in self._match(
                    self.instant, promql)]}

    def query_range(self, promql, start, end, step):
        self.asked.append(promql)
        result = []
        for labels, fn in self._match(self.ranges, promql):
            n = int(math.floor((end - start) / step)) + 1
            values = [[start + i * step, repr(float(fn(start + i * step)))] for i in range(n)
                      if fn(start + i * step) is not None]
            if values:
                result.append({"metric": labels, "values": values})
        return {"resultType": "matrix", "result": result}


def healthy_and_faulty():
    """vcci healthy; cbam with a bad v2 (30 % errors for 20 s at 10 %), no cache series; ready gaps in cbam."""
    v = {"version": "v1"}, {"version": "v2"}
    return SyntheticPrometheus(
        instant={
            'http_requests_total{app="vcci"}[': [({}, 30000)],
            'sum(increase(http_requests_total{app="vcci",code=~"5.."}': [({}, 3)],
            'histogram_quantile(0.5, sum by (le) (increase(http_request_duration_seconds_bucket{app="vcci"}':
                [({}, 0.012)],
            'histogram_quantile(0.95, sum by (le) (increase(http_request_duration_seconds_bucket{app="vcci"}':
                [({}, 0.048)],
            'histogram_quantile(0.99, sum by (le) (increase(http_request_duration_seconds_bucket{app="vcci"}':
                [({}, 0.2)],
            'cache_hits_total{app="vcci"}': [({}, 900)],
            'cache_misses_total{app="vcci"}': [({}, 100)],
            'sum by (version) (increase(http_requests_total{app="vcci"}[': [(v[0], 10000), (v[1], 20000)],
            'sum(increase(http_requests_total{app="cbam"}[': [({}, 20000)],
            'sum(increase(http_requests_total{app="cbam",code=~"5.."}': [({}, 150)],
            'histogram_quantile(0.95, sum by (le) (increase(http_request_duration_seconds_bucket{app="cbam"}':
                [({}, 0.3)],
            'histogram_quantile(0.99, sum by (le) (increase(http_request_duration_seconds_bucket{app="cbam"}':
                [({}, float("nan"))],  # no observations in the top buckets' range: NaN, not a number
            'sum by (version) (increase(http_requests_total{app="cbam"}[': [(v[0], 19500), (v[1], 500)],
            'sum by (version) (increase(http_requests_total{app="cbam",code=~"5.."}': [(v[1], 150)],
            'histogram_quantile(0.95, sum by (version, le) (increase(http_request_duration_seconds_bucket{app="cbam"}':
                [(v[0], 0.04), (v[1], 0.12)],
        },
        ranges={
            'max(app_ready{app="vcci"})': [({}, lambda t: 1)],
            # cbam: a 30-point gap (nobody ready to scrape) and 10 points reporting not ready.
            'max(app_ready{app="cbam"})': [({}, lambda t: None if T0 + 100 <= t < T0 + 130 else
                                             0 if T0 + 200 <= t < T0 + 210 else 1)],
            'rate(http_requests_total{app="cbam"}[': [
                (v[0], lambda t: 90.0 if T0 + 130 <= t <= T0 + 150 else 100.0),
                (v[1], lambda t: 10.0 if T0 + 130 <= t <= T0 + 150 else None)],
            'rate(http_requests_total{app="cbam",code=~"5.."}[': [
                (v[1], lambda t: 3.0 if T0 + 130 <= t <= T0 + 150 else None)],
            'rate(http_request_duration_seconds_bucket{app="cbam"}[': [
                (v[0], lambda t: 0.04), (v[1], lambda t: 0.12 if T0 + 130 <= t <= T0 + 150 else None)],
        })


def write_run(run_dir, *, with_secrets=False):
    run_records.write(str(run_dir), "run", {
        "run_id": "20260601T120000Z", "environment": "rehearsal", "started": at(0), "ended": at(300), "user": "alice",
        "collection_version": "0.1.0", "apps": {
            "vcci": {"release": "v2", "previous": "v1", "strategy": "blue_green", "result": "ok"},
            "cbam": {"release": "v2", "previous": "v1", "strategy": "canary", "result": "rolled back"},
            "csrd": {"release": "v2", "previous": "v1", "strategy": "rolling", "result": "not run"}}})

    def step(app, index, verb, args, s, e, weight, status="ok", **extra):
        run_records.write(str(run_dir), "steps", dict(app=app, index=index, verb=verb, args=args, status=status,
                                                      started=at(s), ended=at(e), weight=weight, **extra),
                          key=f"{app}:{index}:{verb}")

    step("vcci", 0, "backup", {"test_restore": True}, 2, 10, None)
    step("vcci", 1, "set_weight", 10, 12, 14, 10)
    step("vcci", 2, "gate", ["error_rate"], 14, 40, 10, checks=[
        {"name": "error_rate", "query": "q", "value": 0.0002, "threshold": 0.001, "op": "<=", "verdict": "pass"}])
    step("vcci", 3, "switch", {}, 60, 62, 100)
    step("cbam", 0, "deploy", {}, 120, 128, 0)
    step("cbam", 1, "set_weight", 10, 128, 130, 10)
    step("cbam", 2, "gate", ["error_rate"], 130, 150, 10, status="failed",
         reason="error_rate 0.30 > max 0.001" + (" postgresql://cbam:hunter2secret@db/cbam" if with_secrets else ""),
         checks=[{"name": "error_rate", "query": "q", "value": 0.3, "threshold": 0.001, "op": "<=",
                  "verdict": "fail"}])
    step("cbam", 1, "set_weight", 10, 150, 152, 0, status="undone")  # same key: the table shows it undone
    run_records.write(str(run_dir), "rollbacks", {"app": "cbam", "reason": "gate error_rate failed: 0.30 > 0.001",
                                                  "type": "traffic", "started": at(150), "stable_at": at(153)})
    run_records.write(str(run_dir), "decisions", {
        "gate": "after-vcci", "app": "vcci", "verdict": "GO", "decided_by": "alice", "decided_at": at(100),
        "reason": "all met", "criteria": [{"name": "error_rate", "measured": 0.0001, "threshold": 0.001,
                                           "op": "<=", "met": True}]})
    run_records.write(str(run_dir), "artifacts", {"kind": "backup", "app": "vcci", "file": "/b/vcci.dump",
                                                  "size": 2048, "sha256": "ab" * 32, "verified": True})
    run_records.write(str(run_dir), "artifacts", {"kind": "migration", "app": "vcci", "file": "0002_x.sql",
                                                  "schema_before": "0001", "schema_after": "0002"})


@pytest.fixture
def report(tmp_path):
    write_run(tmp_path)
    records = lr.load_run(str(tmp_path))
    start, end, source = lr.resolve_range(records)
    prom = healthy_and_faulty()
    measured = lr.collect(prom, lr.run_apps(records), start, end,
                          versions={a: lr.versions_of(a, records) for a in lr.run_apps(records)})
    return lr.build_report(records, measured, start, end, meta={"range_source": source})


def rows(report, app):
    return {r["metric"]: r for r in report["apps"][app]["targets"]}


# -- the targets table -----------------------------------------------------------------------------------------


def test_targets_table_marks_each_target_met_missed_or_no_data(report):
    vcci, cbam = rows(report, "vcci"), rows(report, "cbam")
    assert vcci["error_rate"]["value"] == pytest.approx(3 / 30000) and vcci["error_rate"]["verdict"] == "met"
    assert vcci["availability_requests"]["value"] == pytest.approx(1 - 3 / 30000)
    assert vcci["p95_seconds"]["verdict"] == "met" and vcci["p99_seconds"]["verdict"] == "met"
    assert vcci["cache_hit_ratio"]["value"] == pytest.approx(0.9) and vcci["cache_hit_ratio"]["verdict"] == "met"
    assert vcci["throughput_rps"]["value"] == pytest.approx(100.0) and vcci["throughput_rps"]["verdict"] is None
    assert cbam["error_rate"]["value"] == pytest.approx(150 / 20000) and cbam["error_rate"]["verdict"] == "missed"
    assert cbam["availability_requests"]["verdict"] == "missed"
    # NaN from histogram_quantile and a cache with no series: "no data", no number.
    assert cbam["p99_seconds"]["value"] is None and cbam["p99_seconds"]["verdict"] == "no data"
    assert cbam["cache_hit_ratio"]["value"] is None and cbam["cache_hit_ratio"]["verdict"] == "no data"
    # CBAM's own target: v2 latency within 2.5x of v1 (0.12 / 0.04 = 3x).
    assert cbam["new_vs_stable_p95_ratio"]["value"] == pytest.approx(3.0)
    assert cbam["new_vs_stable_p95_ratio"]["verdict"] == "missed"
    assert "new_vs_stable_p95_ratio" not in vcci or vcci["new_vs_stable_p95_ratio"]["verdict"] is None
    assert report["summary"]["apps"]["cbam"]["missed"] >= 3


def test_no_5xx_series_while_requests_were_counted_is_zero_errors_not_no_data(tmp_path):
    prom = SyntheticPrometheus(instant={'sum(increase(http_requests_total{app="vcci"}[': [({}, 500)]})
    measured = lr.collect(prom, ["vcci"], T0, END)
    report = lr.build_report(lr.load_run(None), measured, T0, END)
    assert rows(report, "vcci")["error_rate"]["value"] == 0.0
    assert rows(report, "vcci")["error_rate"]["verdict"] == "met"


def test_ready_time_counts_a_gap_in_the_series_as_not_ready(report):
    ready = report["apps"]["cbam"]["measured"]["ready"]
    # 301 points at 1 s: 30 without a sample (gap) and 10 reporting 0 are not ready.
    assert rows(report, "cbam")["availability_ready"]["value"] == pytest.approx(261 / 301)
    assert "261 of 301 points ready (271 with a sample)" in ready["detail"]
    assert rows(report, "vcci")["availability_ready"]["value"] == 1.0


def test_targets_can_be_overridden_per_app_and_dropped(tmp_path):
    targets = {"default": {"error_rate": {"max": 0.01}}, "cbam": {"error_rate": None, "p95_seconds": {"max": 0.2}}}
    records = lr.load_run(None)
    measured = lr.collect(healthy_and_faulty(), ["vcci", "cbam"], T0, END)
    report = lr.build_report(records, measured, T0, END, targets=targets)
    assert rows(report, "vcci")["error_rate"]["threshold"] == 0.01
    assert rows(report, "cbam")["error_rate"]["verdict"] is None  # dropped for cbam
    assert rows(report, "cbam")["p95_seconds"]["verdict"] == "missed"


@pytest.mark.parametrize("targets, where", [
    ({"default": {"latency": {"max": 1}}}, "targets.default.latency"),
    ({"cbam": {"error_rate": {"below": 1}}}, "targets.cbam.error_rate"),
    ({"cbam": {"error_rate": {"max": "a lot"}}}, "targets.cbam.error_rate.max"),
])
def test_a_bad_target_is_refused_naming_it(targets, where):
    with pytest.raises(lr.ReportError) as err:
        lr.targets_for("cbam", targets)
    assert err.value.param == where


# -- versions, timeline, rollbacks, decisions, backups, migrations, run ----------------------------------------


def test_versions_table_puts_stable_and_new_side_by_side(report):
    versions = {v["version"]: v for v in report["apps"]["cbam"]["versions"]}
    assert versions["v1"]["role"] == "stable" and versions["v2"]["role"] == "new"
    assert versions["v2"]["error_rate"] == pytest.approx(150 / 500)
    assert versions["v1"]["errors"] == 0.0 and versions["v1"]["error_rate"] == 0.0  # no 5xx series for v1


def test_timeline_shows_the_last_record_per_step_with_gate_checks(report):
    steps = report["apps"]["cbam"]["steps"]
    assert [(s["index"], s["verb"], s["status"]) for s in steps] == [
        (0, "deploy", "ok"), (1, "set_weight", "undone"), (2, "gate", "failed")]
    gate = steps[2]
    assert gate["duration_s"] == 20 and gate["weight"] == 10 and gate["reason"].startswith("error_rate 0.30")
    assert gate["checks"] == [{"name": "error_rate", "query": "q", "value": 0.3, "threshold": 0.001, "op": "<=",
                               "verdict": "fail"}]
    # The weight history uses every line: 0 -> 10 (set_weight ended) -> 0 (abort), not only the undone record.
    weights = [w for _t, w in report["apps"]["cbam"]["series"]["weight"]]
    assert weights == [0, 0, 10, 10, 0, 0]
    assert report["apps"]["cbam"]["gate_windows"] == [{"started": at(130), "ended": at(150), "status": "failed",
                                                       "args": ["error_rate"]}]
    assert report["apps"]["vcci"]["promotions"] == [{"at": at(62), "verb": "switch"}]


def test_rollbacks_table_has_reason_and_time_to_stable_even_when_not_recorded(report):
    (rollback,) = report["rollbacks"]
    assert rollback["reason"] == "gate error_rate failed: 0.30 > 0.001" and rollback["time_to_stable_s"] == 3.0
    assert report["apps"]["cbam"]["aborts"] == [{"at": at(150), "reason": rollback["reason"], "type": "traffic"}]
    assert report["apps"]["cbam"]["result"] == "rolled back"


def test_decisions_table_reads_the_stream_or_else_the_decision_files(report, tmp_path):
    assert [(d["gate"], d["verdict"], d["decided_by"]) for d in report["decisions"]] == [("after-vcci", "GO", "alice")]
    files_only = tmp_path / "files-only"
    (files_only / "decisions").mkdir(parents=True)
    (files_only / "decisions" / "001-after-vcci.json").write_text(json.dumps(
        {"gate": "after-vcci", "app": "vcci", "verdict": "NO-GO", "decided_at": at(5), "criteria": [],
         "reason": "error rate 0.2 % > 0.1 %"}))
    decisions = lr.decision_rows(lr.load_run(str(files_only))["decisions"])
    assert decisions[0]["verdict"] == "NO-GO" and decisions[0]["reason"] == "error rate 0.2 % > 0.1 %"


def test_backups_and_migrations_tables(report):
    assert report["backups"] == [{"app": "vcci", "file": "/b/vcci.dump", "size": 2048, "sha256": "ab" * 32,
                                  "verified": True}]
    assert report["migrations"] == [{"app": "vcci", "file": "0002_x.sql", "schema_before": "0001",
                                     "schema_after": "0002"}]
    headers, table, _ = render.table_backups(report)
    assert table == [("vcci", "/b/vcci.dump", "2.0 KiB", "ab" * 32, "yes")]


def test_run_table_has_environment_versions_user_and_collection_version(report):
    assert report["run"]["environment"] == "rehearsal" and report["run"]["user"] == "alice"
    assert report["run"]["collection_version"] == "0.1.0" and report["run"]["result"] == "failed"
    assert report["range"]["source"] == "run.json" and report["range"]["seconds"] == 300
    _headers, table, _ = render.table_apps(report)
    assert table[1][:4] == ("cbam", "canary", "v1 -> v2", "rolled back")
    assert table[2][:4] == ("csrd", "rolling", "v1 -> v2", "not run")


def test_plotted_series_keep_gaps_as_gaps(report):
    ratio = dict((t, v) for t, v in report["apps"]["cbam"]["series"]["error_ratio"]["v2"])
    assert ratio[T0 + 140] == pytest.approx(0.3)
    assert T0 + 200 not in ratio  # v2 had no samples then: no point, not a zero
    p95 = dict((t, v) for t, v in report["apps"]["cbam"]["series"]["p95_seconds"]["v2"])
    assert set(p95) == {T0 + s for s in range(130, 151)}


# -- a run with no data at all -------------------------------------------------------------------------------


def test_a_run_with_no_data_at_all_still_gets_a_report_with_no_number_made_up(tmp_path):
    empty = tmp_path / "run"
    empty.mkdir()
    records = lr.load_run(str(empty))
    start, end, _source = lr.resolve_range(records, start=at(0), end=at(60))
    measured = lr.collect(SyntheticPrometheus(), lr.run_apps(records), start, end)
    report = lr.build_report(records, measured, start, end)
    assert list(report["apps"]) == ["vcci", "cbam", "csrd"]
    for app, doc in report["apps"].items():
        assert all(f["value"] is None for f in doc["figures"].values()), app
        assert {r["verdict"] for r in doc["targets"]} <= {"no data", None}, app
        assert doc["steps"] == [] and doc["result"] == "not run"
    assert "run.json: missing; run metadata (environment, user, versions) unknown" in report["warnings"]
    images = plots.all_figures(report)
    result = render.write_outputs(str(tmp_path / "out"), report, images)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| Error rate (5xx) | no data | <= 0.100 % | no data |" in md
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.count(">no data<") >= 15 and result["changed"]
    assert json.loads((tmp_path / "out" / "report.json").read_text())["apps"]["cbam"]["figures"]["error_rate"][
        "value"] is None


def test_an_unreachable_prometheus_is_asked_once_and_said_in_the_report(tmp_path):
    client = PrometheusClient("http://127.0.0.1:1", timeout=2, retries=0)
    measured = lr.collect(client, ["vcci", "cbam"], T0, END)
    assert measured["queries_run"] == 1 and "cannot reach" in measured["outage"]
    report = lr.build_report(lr.load_run(None), measured, T0, END)
    assert any("Prometheus unavailable" in w for w in report["warnings"])
    assert all(r["verdict"] in ("no data", None) for r in report["apps"]["vcci"]["targets"])


# -- secrets, files, idempotence -------------------------------------------------------------------------------


@pytest.mark.parametrize("text, secret", [
    ("connect to postgresql://cbam:hunter2secret@db:5432/cbam failed", "hunter2secret"),
    ("host=db password=s3cr3t-pw dbname=cbam", "s3cr3t-pw"),
    ("PGPASSWORD='quoted secret' pg_dump", "quoted secret"),
    ("curl -H 'Authorization: Bearer abcdef0123456789'", "abcdef0123456789"),
    ("posted to https://hooks.slack.com/services/T0001/B0002/Xq7bT3mK9pR2vL5nW8cY1dF4", "Xq7bT3mK9pR2vL5nW8cY1dF4"),
    ("GET https://status.example/api?api_key=k-123456&x=1", "k-123456"),
    ("token: tkn_998877", "tkn_998877"),
])
def test_scrub_removes_credentials_from_record_text(text, secret):
    scrubbed = lr.scrub_text(text)
    assert secret not in scrubbed and lr.REDACTED in scrubbed


def test_scrub_keeps_what_is_not_a_secret():
    text = 'gate error_rate failed: 0.3 > max 0.001 (sum(rate(http_requests_total{code=~"5.."}[5s])))'
    assert lr.scrub_text(text) == text
    assert lr.scrub_text("GET http://127.0.0.1:18080/api/v1/hotspots") == "GET http://127.0.0.1:18080/api/v1/hotspots"
    assert lr.scrub({"args": {"password": "x", "weight": 10, "webhook_url": "https://h"}}) == {
        "args": {"password": lr.REDACTED, "weight": 10, "webhook_url": lr.REDACTED}}


def test_secrets_in_records_reach_no_output_file(tmp_path):
    run_dir = tmp_path / "run"
    write_run(run_dir, with_secrets=True)
    # A record written around the launch_record module (which masks secret keys itself) with a raw secret.
    with open(run_dir / "steps.jsonl", "a") as fh:
        fh.write(json.dumps({"app": "cbam", "index": 9, "verb": "smoke_test", "status": "ok",
                             "args": {"headers": {"Authorization": "Bearer zz-token-4242424242"}, "dsn": "x"}}) + "\n")
    records = lr.load_run(str(run_dir))
    start, end, _ = lr.resolve_range(records)
    report = lr.build_report(records, lr.collect(None, ["cbam"], start, end), start, end,
                             meta={"prometheus_url": "https://reporter:url-secret-77@prom.example:9090"})
    out = tmp_path / "out"
    render.write_outputs(str(out), report, {})  # text only: what a figure draws is rasterised anyway
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (b"hunter2secret", b"zz-token-4242424242", b"url-secret-77"):
                assert secret not in data, (secret, path)
    assert report["generator"]["prometheus_url"] == "https://prom.example:9090"


def test_files_are_rewritten_only_when_the_report_says_something_new(report, tmp_path):
    images = {"cbam.png": plots.app_figure(report, "cbam")}
    assert images["cbam.png"] == plots.app_figure(report, "cbam")  # same report, same bytes: reruns can be idempotent
    first = render.write_outputs(str(tmp_path), report, images, now=1)
    mtimes = {p: os.stat(p).st_mtime_ns for p in (first["paths"]["html"], first["paths"]["json"])}
    again = render.write_outputs(str(tmp_path), report, images, now=2)
    assert first["changed"] and not again["changed"]
    assert {p: os.stat(p).st_mtime_ns for p in mtimes} == mtimes
    changed = dict(report, title="Launch report (revised)")
    checked = render.write_outputs(str(tmp_path), changed, images, check_mode=True)
    assert checked["changed"] and "(revised)" in checked["after_md"] and "(revised)" not in checked["before_md"]
    assert {p: os.stat(p).st_mtime_ns for p in mtimes} == mtimes  # check mode wrote nothing


def test_html_is_self_contained_and_escapes_record_text(report, tmp_path):
    report["apps"]["cbam"]["steps"][2]["reason"] = '<script>alert("x")</script>'
    html = render.render_html(report, {name: b"\x89PNG fake" for name in ("overview.png", "vcci.png", "cbam.png",
                                                                           "csrd.png")})
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'http-equiv="Content-Security-Policy"' in html and "default-src 'none'" in html
    assert html.count("data:image/png;base64,") == 4
    assert 'src="http' not in html and 'href="http' not in html


def test_markdown_tables_escape_pipes(report):
    report["apps"]["cbam"]["steps"][2]["reason"] = "a | b"
    md = render.render_markdown(report)
    assert "a \\| b" in md


@pytest.mark.parametrize("value, expected", [
    ("2026-06-01T12:00:00Z", T0), ("2026-06-01T12:00:00.250Z", T0 + 0.25), ("2026-06-01T14:00:00+02:00", T0),
    ("20260601T120000Z", T0), (T0, T0), (str(T0), T0), ("2026-06-01 12:00", T0),
])
def test_times_in_every_form_the_records_use(value, expected):
    assert lr.parse_time(value) == pytest.approx(expected)


def test_range_of_an_unfinished_run_ends_now(tmp_path):
    run_records.write(str(tmp_path), "run", {"run_id": "r", "started": at(0)})
    start, end, source = lr.resolve_range(lr.load_run(str(tmp_path)), now=T0 + 42)
    assert (start, end, source) == (T0, T0 + 42, "run.json")
    with pytest.raises(lr.ReportError, match="^end: "):
        lr.resolve_range(lr.load_run(str(tmp_path)), end=at(-5))


def test_a_torn_record_line_is_skipped_with_a_warning(tmp_path):
    write_run(tmp_path)
    with open(tmp_path / "steps.jsonl", "a") as fh:
        fh.write('{"app": "cbam", "index": 4, "ver\n')
    records = lr.load_run(str(tmp_path))
    assert any(w.startswith("steps.jsonl:") and "line skipped" in w for w in records["warnings"])
    assert len(records["steps"]) == 7


def test_apps_come_in_launch_order_even_from_a_sorted_run_json(tmp_path):
    run_records.write(str(tmp_path), "run", {"run_id": "r", "started": at(0), "apps_planned": ["vcci", "cbam", "csrd"],
                                             "apps": {"cbam": {"result": "rolled back"}, "vcci": {"result": "ok"}}})
    assert lr.run_apps(lr.load_run(str(tmp_path))) == ["vcci", "cbam", "csrd"]
    other = tmp_path / "other"
    run_records.write(str(other), "run", {"run_id": "r", "apps": {"csrd": {}, "cbam": {}, "vcci": {}}})
    run_records.write(str(other), "steps", {"app": "cbam", "index": 0, "verb": "deploy", "status": "ok",
                                            "started": at(50)})
    run_records.write(str(other), "steps", {"app": "vcci", "index": 0, "verb": "deploy", "status": "ok",
                                            "started": at(10)})
    assert lr.run_apps(lr.load_run(str(other))) == ["vcci", "cbam", "csrd"]


def test_a_figure_that_cannot_be_drawn_costs_that_figure_not_the_report(report):
    report["apps"]["cbam"]["series"]["weight"] = [["not a time", 10]]
    images = plots.all_figures(report)
    assert "cbam.png" not in images and "vcci.png" in images and "overview.png" not in images
    assert any(w.startswith("figure cbam.png could not be drawn") for w in report["warnings"])

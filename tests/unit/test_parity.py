"""Parity runs (corpus loading, sending, comparing) against real local HTTP servers."""

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from ansible_collections.greenlang.launch.plugins.module_utils import parity as par


class App:
    """A tiny JSON API. ``answer(method, path, body, headers) -> (status, doc_or_bytes)``."""

    def __init__(self, answer, delay=0.0):
        self.answer = answer
        self.delay = delay
        self.seen = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                app.seen.append({"method": self.command, "path": self.path, "body": body,
                                 "headers": dict(self.headers)})
                if app.delay:
                    time.sleep(app.delay)
                status, doc = app.answer(self.command, self.path, body, self.headers)
                raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def apps():
    started = []

    def make(answer, delay=0.0):
        app = App(answer, delay)
        started.append(app)
        return app

    yield make
    for app in started:
        app.close()


def calculator(version, scale=1.0):
    def answer(method, path, body, headers):
        if path.startswith("/missing"):
            return 404, {"error": "not found"}
        qty = json.loads(body)["qty"] if body else 1
        return 200, {"version": version, "generated_at": time.time(), "result": {"co2e": round(qty * 2.5 * scale, 6)}}
    return answer


CORPUS = [par.normalise_request({"method": "POST", "path": "/calc", "body": {"qty": q}}, "c") for q in range(1, 6)]


def run(baseline, candidate=None, corpus=CORPUS, **kw):
    return par.ParityRun(corpus, par.Target(baseline.url),
                         par.Target(candidate.url, param="candidate") if candidate else None, **kw).run()


# ----------------------------------------------------------------------------- corpus

def test_corpus_file_is_json_lines_with_comments_and_blank_lines(tmp_path):
    f = tmp_path / "corpus.jsonl"
    f.write_text('# CBAM sample\n{"method": "post", "path": "/calc", "body": {"qty": 1}}\n\n{"path": "/health"}\n')
    corpus = par.load_corpus(str(f))
    assert [(r["method"], r["path"]) for r in corpus] == [("POST", "/calc"), ("GET", "/health")]
    assert corpus[0]["data"] == b'{"qty": 1}' and corpus[0]["headers"]["Content-Type"] == "application/json"


def test_corpus_file_error_names_file_and_line(tmp_path):
    f = tmp_path / "corpus.jsonl"
    f.write_text('{"path": "/ok"}\n{"path": /bad}\n')
    with pytest.raises(par.ParityConfigError) as e:
        par.load_corpus(str(f))
    assert "line 2" in str(e.value) and str(f) in str(e.value)


def test_request_path_must_be_absolute():
    with pytest.raises(par.ParityConfigError) as e:
        par.load_corpus(inline=[{"path": "calc"}])
    assert "corpus[0]" in str(e.value) and "'/'" in str(e.value)


def test_unknown_request_key_is_rejected():
    with pytest.raises(par.ParityConfigError) as e:
        par.load_corpus(inline=[{"path": "/x", "query": "a=1"}])
    assert "query" in str(e.value)


def test_empty_corpus_file_is_an_error(tmp_path):
    f = tmp_path / "empty.jsonl"
    f.write_text("# nothing\n")
    with pytest.raises(par.ParityConfigError) as e:
        par.load_corpus(str(f))
    assert e.value.param == "corpus_file"


# ----------------------------------------------------------------------------- two targets

def test_identical_versions_are_in_full_parity(apps):
    v1, v2 = apps(calculator("v1")), apps(calculator("v2"))
    result = run(v1, v2, ignore=["version", "generated_at"])
    assert result["passed"] and result["parity"] == 1.0
    assert result["requests_sent"] == 10 and result["comparisons"] == 5 and result["mismatches"] == 0
    assert [json.loads(s["body"])["qty"] for s in v2.seen] == [1, 2, 3, 4, 5]


def test_drifting_version_reports_readable_differences(apps):
    v1, v2 = apps(calculator("v1")), apps(calculator("v2", scale=1.01))
    result = run(v1, v2, ignore=["/version", "/generated_at"], max_diffs=2)
    assert not result["passed"] and result["mismatches"] == 5 and result["parity"] == 0.0
    assert len(result["diffs"]) == 2
    assert result["diffs"][0]["request"] == "POST /calc"
    assert result["diffs"][0]["differences"] == ["/result/co2e: 2.5 != 2.525 (difference 0.025)"]
    assert "below min_parity 1.0" in result["msg"] and "/result/co2e" in result["msg"]


def test_numeric_tolerance_absorbs_small_drift(apps):
    v1, v2 = apps(calculator("v1")), apps(calculator("v2", scale=1.0001))
    assert run(v1, v2, ignore=["version", "generated_at"], abs_tol=0.01)["passed"]
    assert not run(v1, v2, ignore=["version", "generated_at"])["passed"]


def test_min_parity_below_one_accepts_some_mismatches(apps):
    v1 = apps(calculator("v1"))
    v2 = apps(lambda m, p, b, h: calculator("v1", 2.0 if json.loads(b)["qty"] == 5 else 1.0)(m, p, b, h))
    result = run(v1, v2, ignore=["generated_at"], min_parity=0.8)
    assert result["parity"] == 0.8 and result["passed"]
    assert not run(v1, v2, ignore=["generated_at"], min_parity=0.81)["passed"]


def test_status_code_difference_is_a_mismatch(apps):
    ok = apps(lambda m, p, b, h: (200, {"a": 1}))
    broken = apps(lambda m, p, b, h: (500, {"a": 1}))
    result = run(ok, broken)
    assert result["diffs"][0]["differences"] == ["status: 200 != 500"]


def test_unreachable_candidate_counts_as_mismatch_and_transport_error(apps):
    v1 = apps(calculator("v1"))
    down = apps(calculator("v2"))
    down.close()
    result = run(v1, down, ignore=["version", "generated_at"], timeout=2)
    assert result["parity"] == 0.0 and result["transport_errors"] == 5
    assert result["diffs"][0]["differences"][0].startswith("request failed: left: ok; right:")


def test_host_header_and_target_headers_are_sent(apps):
    app = apps(lambda m, p, b, h: (200, {"host": h["Host"], "tenant": h.get("X-Tenant")}))
    corpus = par.load_corpus(inline=[{"path": "/who"}])
    target = par.Target(app.url, host="cbam.greenlang.example", headers={"X-Tenant": "t1"})
    result = par.ParityRun(corpus, target, target).run()
    assert result["passed"]
    assert app.seen[0]["headers"]["Host"] == "cbam.greenlang.example"
    assert app.seen[0]["headers"]["X-Tenant"] == "t1"


def test_latency_per_side_and_ratio(apps):
    fast = apps(lambda m, p, b, h: (200, {"a": 1}))
    slow = apps(lambda m, p, b, h: (200, {"a": 1}), delay=0.05)
    result = run(fast, slow, max_latency_ratio=100)
    lat = result["latency"]
    assert lat["baseline"]["count"] == lat["candidate"]["count"] == 5
    assert lat["candidate"]["p50_ms"] >= 50 > lat["baseline"]["p50_ms"]
    assert lat["p95_ratio"] > 1
    strict = run(fast, slow, max_latency_ratio=1.0)
    assert not strict["passed"] and "max_latency_ratio" in strict["msg"]


def test_bytes_mode_requires_identical_bodies(apps):
    a = apps(lambda m, p, b, h: (200, b'{"a": 1, "b": 2}'))
    b = apps(lambda m, p, b_, h: (200, b'{"b": 2, "a": 1}'))
    assert run(a, b)["passed"]
    result = run(a, b, compare="bytes")
    assert not result["passed"]
    assert "first difference at byte 2" in result["diffs"][0]["differences"][0]


def test_non_json_bodies_compare_as_bytes(apps):
    a = apps(lambda m, p, b, h: (200, b"plain text"))
    b = apps(lambda m, p, b_, h: (200, b"plain texT"))
    result = run(a, b)
    assert result["mismatches"] == 5 and "first difference at byte 9" in result["diffs"][0]["differences"][0]


# ----------------------------------------------------------------------------- reproducibility

def test_repeat_against_one_deterministic_target_passes(apps):
    app = apps(lambda m, p, b, h: (200, {"report": {"total": 42.0, "rows": [1, 2, 3]}}))
    result = run(app, repeat=10)
    assert result["passed"] and result["requests_sent"] == 50 and result["comparisons"] == 45
    assert "candidate" not in result["latency"]


def test_repeat_detects_non_deterministic_output(apps):
    counter = itertools.count()
    app = apps(lambda m, p, b, h: (200, {"report": {"total": 42.0, "nonce": next(counter) % 2}}))
    result = run(app, repeat=3)
    assert not result["passed"]
    assert result["diffs"][0]["round"] == 2
    assert result["diffs"][0]["differences"] == ["/report/nonce: 0 != 1 (difference 1)"]


def test_repeat_below_two_without_candidate_is_rejected(apps):
    app = apps(calculator("v1"))
    with pytest.raises(par.ParityConfigError) as e:
        run(app, repeat=1)
    assert e.value.param == "repeat"


@pytest.mark.parametrize("kw, param", [({"tolerance": -1}, "tolerance"), ({"ignore": ["a..b"]}, "ignore_paths"),
                                       ({"min_parity": 1.5}, "min_parity"), ({"compare": "xml"}, "compare")])
def test_bad_options_name_the_parameter(apps, kw, param):
    app = apps(calculator("v1"))
    if "tolerance" in kw:
        kw = {"abs_tol": kw["tolerance"]}
    with pytest.raises(par.ParityConfigError) as e:
        run(app, app, **kw)
    assert e.value.param == param


# ----------------------------------------------------------------------------- any language (issue 17)
def test_paths_and_bodies_in_any_language_reach_the_server_percent_encoded(apps):
    app = apps(lambda m, path, body, h: (200, {"path": path, "body": body.decode("utf-8")}))
    corpus = par.load_corpus(inline=[
        {"path": "/api/v1/suppliers?name=Müller GmbH", "method": "POST", "body": {"note": "Überprüfung 检查"}},
        {"path": "/api/v1/报告/2025"},
        {"path": "/already%20encoded?q=a%2Fb"},
    ])
    result = par.ParityRun(corpus, par.Target(app.url), par.Target(app.url, param="candidate")).run()
    assert result["passed"], result
    assert sorted({seen["path"] for seen in app.seen}) == ["/already%20encoded?q=a%2Fb",
                                                          "/api/v1/%E6%8A%A5%E5%91%8A/2025",
                                                          "/api/v1/suppliers?name=M%C3%BCller%20GmbH"]
    [posted] = {seen["body"] for seen in app.seen if seen["method"] == "POST"}
    assert json.loads(posted) == {"note": "Überprüfung 检查"}


def test_a_control_character_in_a_path_is_a_configuration_error():
    with pytest.raises(par.ParityConfigError, match="control characters"):
        par.load_corpus(inline=[{"path": "/a\r\nHost: evil"}])


def test_corpus_and_corpus_file_together_are_refused(tmp_path):
    f = tmp_path / "c.jsonl"
    f.write_text('{"path": "/a"}\n')
    with pytest.raises(par.ParityConfigError, match="not both"):
        par.load_corpus(str(f), [{"path": "/b"}])

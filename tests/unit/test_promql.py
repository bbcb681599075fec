"""The Prometheus HTTP API client, against a real local HTTP server speaking the API's JSON."""

import base64
import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from ansible_collections.greenlang.launch.plugins.module_utils import promql as p


class FakeApi:
    """Serves scripted replies in order (the last one repeats) and records every request."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.requests = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                api.requests.append({"path": self.path, "form": {k: v[0] for k, v in form.items()},
                                     "headers": dict(self.headers)})
                reply = api.replies.pop(0) if len(api.replies) > 1 else api.replies[0]
                status, body, delay = reply if len(reply) == 3 else reply + (0,)
                if delay:
                    time.sleep(delay)
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError):  # the client gave up (timeout test)
                    self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


OK_VECTOR = {"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {"job": "app"}, "value": [1700000000.0, "0.25"]}]}}
OK_MATRIX = {"status": "success", "data": {"resultType": "matrix", "result": [
    {"metric": {}, "values": [[1700000000, "1"], [1700000001, "NaN"], [1700000002, "+Inf"]]}]}}


def closed_port_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def test_instant_query_posts_the_promql_and_returns_the_sample():
    with FakeApi([(200, OK_VECTOR)]) as api:
        data = p.PrometheusClient(api.url).query('sum(rate(x{code=~"5.."}[1m]))')
    assert api.requests[0]["path"] == "/api/v1/query"
    assert api.requests[0]["form"]["query"] == 'sum(rate(x{code=~"5.."}[1m]))'
    assert p.instant_values(data) == [({"job": "app"}, 0.25)]


def test_range_query_sends_start_end_step_and_parses_nan_and_inf():
    with FakeApi([(200, OK_MATRIX)]) as api:
        data = p.PrometheusClient(api.url).query_range("up", 100.0, 160.0, 30)
    form = api.requests[0]["form"]
    assert api.requests[0]["path"] == "/api/v1/query_range"
    assert (form["start"], form["end"], form["step"]) == ("100.000", "160.000", "30.000")
    (labels, points), = p.range_values(data)
    assert points[0] == (1700000000.0, 1.0)
    assert points[1][1] != points[1][1]  # NaN
    assert points[2][1] == float("inf")


def test_bearer_token_is_sent():
    with FakeApi([(200, OK_VECTOR)]) as api:
        p.PrometheusClient(api.url, token="s3cret").query("up")
    assert api.requests[0]["headers"]["Authorization"] == "Bearer s3cret"


def test_basic_auth_is_sent():
    with FakeApi([(200, OK_VECTOR)]) as api:
        p.PrometheusClient(api.url, username="gate", password="pw").query("up")
    expected = "Basic " + base64.b64encode(b"gate:pw").decode()
    assert api.requests[0]["headers"]["Authorization"] == expected


def test_token_and_basic_auth_together_are_refused():
    with pytest.raises(ValueError):
        p.PrometheusClient("http://127.0.0.1:9", token="t", username="u", password="x")


def test_rejected_query_raises_query_error_without_retrying():
    bad = {"status": "error", "errorType": "bad_data", "error": "parse error at char 4"}
    sleeps = []
    with FakeApi([(400, bad)]) as api, pytest.raises(p.PrometheusQueryError) as e:
        p.PrometheusClient(api.url, retries=3, sleep=sleeps.append).query("sum(")
    assert e.value.error_type == "bad_data" and "parse error" in str(e.value)
    assert len(api.requests) == 1 and sleeps == []


def test_503_is_retried_with_exponential_backoff_then_succeeds():
    sleeps = []
    with FakeApi([(503, b"overloaded"), (503, b"overloaded"), (200, OK_VECTOR)]) as api:
        data = p.PrometheusClient(api.url, retries=3, backoff=0.25, sleep=sleeps.append).query("up")
    assert len(api.requests) == 3
    assert sleeps == [0.25, 0.5]
    assert p.instant_values(data)[0][1] == 0.25


def test_unreachable_server_is_unavailable_after_all_attempts():
    sleeps = []
    client = p.PrometheusClient(closed_port_url(), retries=2, backoff=0.1, sleep=sleeps.append)
    with pytest.raises(p.PrometheusUnavailable) as e:
        client.query("up")
    assert client.requests_made == 3 and sleeps == [0.1, 0.2]
    assert "after 3 attempts" in str(e.value)


def test_slow_server_times_out_as_unavailable():
    with FakeApi([(200, OK_VECTOR, 1.0)]) as api:
        client = p.PrometheusClient(api.url, timeout=0.3, retries=0)
        started = time.monotonic()
        with pytest.raises(p.PrometheusUnavailable) as e:
            client.query("up")
        assert time.monotonic() - started < 0.9
    assert "timed out" in str(e.value)


def test_timeout_is_what_decides_how_long_a_slow_answer_is_awaited():
    # The same 1 s answer is awaited with a 3 s timeout: the parameter, not a transport default
    # (Ansible's Request waits 10 s unless told otherwise), sets the limit in both directions.
    with FakeApi([(200, OK_VECTOR, 1.0)]) as api:
        data = p.PrometheusClient(api.url, timeout=3, retries=0).query("up")
    assert p.instant_values(data)[0][1] == 0.25


def test_non_api_reply_is_unavailable():
    with FakeApi([(200, b"<html>login</html>")]) as api, pytest.raises(p.PrometheusUnavailable) as e:
        p.PrometheusClient(api.url, retries=0).query("up")
    assert "not Prometheus API JSON" in str(e.value)


@pytest.mark.parametrize("status", [401, 403, 407])
def test_refused_credentials_are_an_auth_error_not_retried_and_not_unavailable(status):
    sleeps = []
    with FakeApi([(status, b"unauthorized")]) as api, pytest.raises(p.PrometheusAuthError) as e:
        p.PrometheusClient(api.url, token="wrong", retries=3, sleep=sleeps.append).query("up")
    assert not isinstance(e.value, p.PrometheusUnavailable)
    assert isinstance(e.value, p.PrometheusQueryError) and e.value.status == status
    assert str(status) in str(e.value) and "token" in str(e.value)
    assert len(api.requests) == 1 and sleeps == [], "a wrong token does not get better by retrying"


def test_wrong_token_fails_the_gate_even_when_inconclusive_is_accepted():
    from ansible_collections.greenlang.launch.plugins.module_utils.gate import Gate

    with FakeApi([(401, b"unauthorized")]) as api:
        client = p.PrometheusClient(api.url, token="wrong", retries=2, sleep=lambda s: None)
        result = Gate(client, [{"name": "error_rate", "query": "up", "max": 1}], inconclusive="pass").run()
    assert (result["verdict"], result["passed"]) == ("error", False)
    assert "401" in result["checks"][0]["reason"] and "error_rate" in result["msg"]


def test_scalar_result_is_one_value():
    assert p.instant_values({"resultType": "scalar", "result": [1.0, "42"]}) == [({}, 42.0)]

"""greenlang.launch.parity_check through ansible-playbook against small local CBAM-like HTTP services.

These services answer with volatile fields (request id, timestamp, version); the demo apps of the rehearsal
stack, where the other parity behaviours are tested (test_rollout_modules_on_stack.py), do not.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from module_runner import run_play

FACTORS = {"steel": 1.85, "aluminium": 8.6, "cement": 0.62}


class CbamService:
    """POST /api/v1/calculate -> embedded emissions, plus a request id and a timestamp that differ every time."""

    def __init__(self, version: str):
        self.version = version
        self.hosts: list[str] = []
        svc = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                svc.hosts.append(self.headers.get("Host", ""))
                doc = svc.calculate(body)
                raw = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True)
        self.thread.start()

    def calculate(self, body: dict) -> dict:
        lines = []
        for item in body.get("shipments", []):
            lines.append({"product": item["product"], "tco2e": round(item["tonnes"] * FACTORS[item["product"]], 6)})
        return {"version": self.version, "request_id": str(uuid.uuid4()), "calculated_at": time.time(),
                "lines": lines, "total_tco2e": round(sum(x["tco2e"] for x in lines), 6)}

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def services():
    started: list[CbamService] = []

    def make(*args, **kw):
        svc = CbamService(*args, **kw)
        started.append(svc)
        return svc

    yield make
    for svc in started:
        svc.close()


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "cbam-corpus.jsonl"
    lines = ["# CBAM parity corpus"]
    for i, product in enumerate(["steel", "aluminium", "cement", "steel", "aluminium"]):
        lines.append(json.dumps({"method": "POST", "path": "/api/v1/calculate",
                                 "body": {"shipments": [{"product": product, "tonnes": 10 + i}]}}))
    path.write_text("\n".join(lines) + "\n")
    return str(path)


IGNORE = ["version", "request_id", "/calculated_at"]


def test_volatile_fields_are_ignored_so_equal_results_are_in_parity_whatever_the_host(services, corpus_file):
    # Same code, drift, tolerance, check mode and reproducibility run against real app pods through the
    # rehearsal stack's ingress (test_rollout_modules_on_stack.py); these services add fields that differ
    # on every answer (request id, timestamp, version), which the demo apps do not have.
    v1, v2_same = services("v1"), services("v2")
    args = {"baseline": {"url": v1.url}, "candidate": {"url": v2_same.url, "host": "cbam-v2.greenlang.example"},
            "corpus_file": corpus_file, "max_latency_ratio": 50}
    play = run_play([
        {"name": "ignored", "greenlang.launch.parity_check": dict(args, ignore_paths=IGNORE)},
        {"name": "not ignored", "greenlang.launch.parity_check": args},
        {"name": "ignored again", "greenlang.launch.parity_check": dict(args, ignore_paths=IGNORE)},
        {"name": "not ignored again", "greenlang.launch.parity_check": args},
        {"name": "ignored in check mode", "greenlang.launch.parity_check": dict(args, ignore_paths=IGNORE),
         "check_mode": True},
        {"name": "not ignored in check mode", "greenlang.launch.parity_check": args, "check_mode": True},
    ])
    same = play["ignored"]
    assert not same.get("failed"), same.get("msg")
    assert same["parity"] == 1.0 and same["requests_sent"] == 10 and same["mismatches"] == 0
    assert same["changed"] is False
    assert same["latency"]["baseline"]["count"] == same["latency"]["candidate"]["count"] == 5
    assert same["latency"]["p95_ratio"] > 0
    assert "cbam-v2.greenlang.example" in v2_same.hosts

    volatile = play["not ignored"]
    assert volatile["failed"] is True and volatile["mismatches"] == 5
    assert any(d.startswith("/request_id: ") for d in volatile["diffs"][0]["differences"])

    # Read-only: never changed, and the same verdict on a second run and in check mode.
    for name in ("ignored", "not ignored"):
        runs = [play[name], play[f"{name} again"], play[f"{name} in check mode"]]
        assert [r["changed"] for r in runs] == [False, False, False], name
        assert len({(bool(r.get("failed")), r["parity"], r["mismatches"], r["requests_sent"]) for r in runs}) == 1, \
            [(r.get("failed"), r["parity"], r["mismatches"]) for r in runs]


def test_reproducibility_without_a_candidate_needs_at_least_two_runs(services):
    steady = services("v1")
    corpus = [{"method": "POST", "path": "/api/v1/calculate",
               "body": {"shipments": [{"product": "cement", "tonnes": 3}]}}]
    result = run_play([{"name": "one run only", "greenlang.launch.parity_check": {
        "baseline": {"url": steady.url}, "corpus": corpus}}])["one run only"]
    assert result["failed"] and result["msg"].startswith("repeat:")

"""The local Slack / status-page stand-in records what the launch notified."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from rehearsal.apps.process import free_loopback_address
from rehearsal.services.webhook import WebhookReceiver

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def receiver():
    with WebhookReceiver(0) as rec:
        yield rec


def test_slack_post_is_answered_ok_and_recorded_with_its_json(receiver):
    resp = requests.post(receiver.url + "/slack/T000/B000/XXX", json={"text": "vcci: go"}, timeout=5)
    assert resp.status_code == 200 and resp.text == "ok"
    [record] = requests.get(receiver.url + "/_received", timeout=5).json()
    assert record["method"] == "POST" and record["path"] == "/slack/T000/B000/XXX"
    assert record["body"] == {"text": "vcci: go"}
    assert record["headers"]["Content-Type"] == "application/json"
    assert abs(record["time"] - time.time()) < 10


def test_statuspage_incident_gets_an_id_and_echoes_its_fields(receiver):
    incident = {"incident": {"name": "cbam rollback", "status": "investigating", "body": "error rate 7 %"}}
    first = requests.post(receiver.url + "/statuspage/v1/pages/p1/incidents", json=incident, timeout=5)
    second = requests.post(receiver.url + "/statuspage/v1/pages/p1/incidents", json=incident, timeout=5)
    assert first.status_code == 201
    assert first.json()["name"] == "cbam rollback" and first.json()["status"] == "investigating"
    assert first.json()["id"] != second.json()["id"]
    update = requests.patch(receiver.url + f"/statuspage/v1/pages/p1/incidents/{first.json()['id']}",
                            json={"incident": {"status": "resolved"}}, timeout=5)
    assert update.status_code == 200 and update.json()["status"] == "resolved"
    assert [r["method"] for r in receiver.received("/statuspage")] == ["POST", "POST", "PATCH"]


def test_received_can_be_filtered_and_cleared(receiver):
    requests.post(receiver.url + "/slack/a", json={"text": "1"}, timeout=5)
    requests.post(receiver.url + "/statuspage/b", json={"incident": {"name": "x"}}, timeout=5)
    assert len(requests.get(receiver.url + "/_received?prefix=/slack", timeout=5).json()) == 1
    assert requests.delete(receiver.url + "/_received", timeout=5).json() == {"cleared": 2}
    assert requests.get(receiver.url + "/_received", timeout=5).json() == []


def test_unknown_paths_are_recorded_but_answered_404(receiver):
    assert requests.post(receiver.url + "/hooks/typo", json={}, timeout=5).status_code == 404
    assert receiver.received()[0]["path"] == "/hooks/typo"


def test_configured_failure_status_is_returned_until_reset(receiver):
    requests.put(receiver.url + "/_config", json={"fail_status": 500}, timeout=5)
    assert requests.post(receiver.url + "/slack/x", json={"text": "t"}, timeout=5).status_code == 500
    requests.put(receiver.url + "/_config", json={"fail_status": 0}, timeout=5)
    assert requests.post(receiver.url + "/slack/x", json={"text": "t"}, timeout=5).status_code == 200
    assert len(receiver.received()) == 2  # failed deliveries are still visible


def test_cli_serves_until_sigterm_and_exits_0():
    host, port = free_loopback_address()
    proc = subprocess.Popen([sys.executable, "-m", "rehearsal.services.webhook", "--host", host, "--port", str(port)],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "listening" in proc.stdout.readline()
        assert requests.post(f"http://{host}:{port}/slack/x", json={"text": "hi"}, timeout=5).text == "ok"
    finally:
        proc.terminate()
        assert proc.wait(10) == 0

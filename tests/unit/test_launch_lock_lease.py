"""The launch lock's decisions on the Lease found (module_utils/launch_lease.py)."""

import os
import subprocess
import sys

import pytest
from ansible_collections.greenlang.launch.plugins.module_utils.launch_lease import (
    LeaseError,
    controller_process,
    decide_acquire,
    decide_release,
    decide_renew,
    describe,
    format_time,
    parse_time,
    process_alive,
)

NOW = parse_time("2026-06-07T10:00:00Z")


def lease(holder, renewed_ago, duration=15, acquired_ago=None):
    return {"metadata": {"name": "l", "namespace": "launch", "resourceVersion": "7"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                     "acquireTime": format_time(NOW - (acquired_ago if acquired_ago is not None else renewed_ago)),
                     "renewTime": format_time(NOW - renewed_ago), "leaseTransitions": 2}}


def test_times_read_back_as_written_and_offsets_count():
    assert parse_time(format_time(NOW + 0.25)) == pytest.approx(NOW + 0.25)
    assert parse_time("2026-06-07T12:00:00+02:00") == NOW
    with pytest.raises(LeaseError, match="cannot read the time"):
        parse_time("yesterday")


def test_no_lease_is_created_for_the_holder():
    action, body, view, _ = decide_acquire(None, "l", "launch", "alice run 1", 15, NOW)
    assert action == "create" and view is None
    assert body["spec"]["holderIdentity"] == "alice run 1" and body["spec"]["leaseDurationSeconds"] == 15


def test_a_lease_another_holder_renews_is_refused_naming_the_holder_and_since_when():
    action, body, view, msg = decide_acquire(lease("bob run 0", 3, acquired_ago=600), "l", "launch", "alice", 15, NOW)
    assert action == "refuse" and body is None
    assert "'bob run 0' since 2026-06-07T09:50:00Z" in msg and "last renewed 3.0 s ago" in msg
    assert view["expired"] is False


def test_an_expired_lease_is_taken_over_with_the_previous_holder_named():
    found = lease("bob run 0", 16, acquired_ago=600)
    action, body, view, msg = decide_acquire(found, "l", "launch", "alice", 15, NOW)
    assert action == "takeover" and view["expired"]
    assert body["spec"]["holderIdentity"] == "alice" and body["spec"]["leaseTransitions"] == 3
    assert body["metadata"]["resourceVersion"] == "7", "the write must be conditional on what was read"
    assert "taken over from 'bob run 0'" in msg and "16.0 s without renewal" in msg


def test_the_holders_own_lease_is_renewed_not_refused():
    action, body, _, _ = decide_acquire(lease("alice", 5), "l", "launch", "alice", 15, NOW)
    assert action == "renew" and parse_time(body["spec"]["renewTime"]) == NOW


def test_renewal_stops_once_the_lease_is_no_longer_ours():
    assert decide_renew(lease("alice", 2), "alice", NOW)["spec"]["renewTime"] == format_time(NOW)
    assert decide_renew(lease("bob", 2), "alice", NOW) is None
    assert decide_renew(None, "alice", NOW) is None


def test_release_deletes_only_our_lease():
    assert decide_release(lease("alice", 1), "alice", NOW)[0] == "delete"
    action, view, msg = decide_release(lease("bob", 1), "alice", NOW)
    assert action == "keep" and "held by 'bob'" in msg
    assert decide_release(None, "alice", NOW)[0] == "none"


def test_describe_says_when_it_expires():
    view = describe(lease("bob", 5, duration=15), NOW)
    assert view["expires_at"] == "2026-06-07T10:00:10Z" and view["seconds_since_renewal"] == 5.0


def test_the_renewer_follows_a_process_and_notices_it_is_gone():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        pid, start = controller_process(child.pid)  # no ansible-playbook above it: the fallback is our parent
        assert pid == os.getppid()
        from ansible_collections.greenlang.launch.plugins.module_utils.launch_lease import process_start
        child_start = process_start(child.pid)
        assert process_alive(child.pid, child_start)
        assert not process_alive(child.pid, child_start + 1), "a recycled pid has another start time"
    finally:
        child.kill()
        child.wait()
    assert not process_alive(child.pid, child_start)

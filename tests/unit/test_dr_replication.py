"""plugins/module_utils/pg_replication.py: the decisions (pre-checks), LSN arithmetic and the data-directory
files that fence a node. The steps against real servers run in tests/integration/test_dr_failover.py."""

from __future__ import annotations

import os

import pytest
from ansible_collections.greenlang.launch.plugins.module_utils import pg_replication as pr

DURABLE = {"full_page_writes": "on", "wal_log_hints": "on", "data_checksums": "off", "fsync": "on",
           "synchronous_commit": "on", "synchronous_standby_names": "FIRST 1 (pg_a, pg_b)", "cluster_name": "pg_b"}


def primary(current="0/5000000", sync_state="sync", state="streaming", replay="0/5000000", flush="0/5000000",
            settings=None):
    rows = [] if state is None else [{"application_name": "pg_b", "state": state, "sync_state": sync_state,
                                      "sent_lsn": flush, "write_lsn": flush, "flush_lsn": flush, "replay_lsn": replay,
                                      "client_addr": "127.0.0.2"}]
    return {"in_recovery": False, "role": "primary", "current_lsn": current, "replication": rows,
            "settings": dict(DURABLE, cluster_name="pg_a", **(settings or {}))}


def standby(replay="0/5000000", settings=None):
    return {"in_recovery": True, "role": "standby", "receive_lsn": replay, "replay_lsn": replay, "replay_paused": False,
            "settings": dict(DURABLE, **(settings or {})), "replication": [], "receiver": {"status": "streaming"}}


def test_lsn_arithmetic_matches_postgres_notation():
    assert pr.lsn_to_int("16/B374D848") == (0x16 << 32) + 0xB374D848
    assert pr.int_to_lsn(pr.lsn_to_int("16/B374D848")) == "16/B374D848"
    assert pr.lsn_to_int(None) is None
    with pytest.raises(ValueError):
        pr.lsn_to_int("not-an-lsn")


def test_synchronous_candidate_is_accepted_even_when_replay_lags():
    report = pr.precheck("switchover", primary(current="0/9000000", replay="0/5000000"), standby("0/5000000"),
                         "pg_b", max_lag_bytes=1024)
    assert report["sync_state"] == "sync"
    assert report["lag_bytes"] == 0x4000000


def test_async_candidate_past_the_lag_limit_is_refused_with_how_far_behind():
    with pytest.raises(pr.Refused) as info:
        pr.precheck("failover", primary(current="0/6400000", replay="0/5000000", sync_state="async"),
                    standby("0/5000000"), "pg_b", max_lag_bytes=1 << 20)
    text = str(info.value)
    assert "20971520 bytes" in text and "20.0 MiB" in text and "max_lag_bytes 1048576" in text
    assert "primary keeps serving" in text and "force" in text
    assert info.value.details["lag_bytes"] == 20971520


def test_async_candidate_past_the_limit_is_accepted_when_forced_with_a_warning():
    report = pr.precheck("failover", primary(current="0/6400000", replay="0/5000000", sync_state="async"),
                         standby("0/5000000"), "pg_b", max_lag_bytes=1 << 20, force=True)
    assert report["forced"] and any("accepted because forced" in w for w in report["warnings"])


def test_async_candidate_within_the_limit_passes():
    report = pr.precheck("switchover", primary(current="0/5000100", replay="0/5000000", sync_state="async"),
                         standby("0/5000000"), "pg_b", max_lag_bytes=1 << 20)
    assert report["lag_bytes"] == 0x100 and report["warnings"] == []


def test_switchover_refuses_a_candidate_that_is_not_streaming():
    with pytest.raises(pr.Refused, match=r"not streaming from the primary \(not connected\)"):
        pr.precheck("switchover", primary(state=None), standby(), "pg_b", max_lag_bytes=1 << 20)
    with pytest.raises(pr.Refused, match=r"\(catchup\)"):
        pr.precheck("switchover", primary(state="catchup"), standby(), "pg_b", max_lag_bytes=1 << 20)


def test_a_candidate_that_is_already_primary_is_refused():
    with pytest.raises(pr.Refused, match="not a standby"):
        pr.precheck("switchover", primary(), primary(), "pg_b", max_lag_bytes=0)


def test_switchover_needs_the_primary():
    with pytest.raises(pr.Refused, match="switchover needs the primary"):
        pr.precheck("switchover", None, standby(), "pg_b", max_lag_bytes=0)


def test_failover_without_primary_accepts_a_configured_synchronous_standby():
    report = pr.precheck("failover", None, standby(), "pg_b", max_lag_bytes=0)
    assert report["sync_state"] == "sync (configured)" and not report["primary_reachable"]


def test_failover_without_primary_refuses_an_async_standby_whose_loss_cannot_be_measured():
    with pytest.raises(pr.Refused, match="cannot be measured"):
        pr.precheck("failover", None, standby(settings={"synchronous_standby_names": ""}), "pg_b", max_lag_bytes=0)


def test_rewind_settings_are_reported_and_can_be_required():
    no_hints = standby(settings={"wal_log_hints": "off"})
    report = pr.precheck("switchover", primary(), no_hints, "pg_b", max_lag_bytes=0)
    assert any("neither wal_log_hints nor data_checksums" in w for w in report["warnings"])
    with pytest.raises(pr.Refused, match="cannot be rewound"):
        pr.precheck("switchover", primary(), no_hints, "pg_b", max_lag_bytes=0, require_rewind=True)
    assert pr.rewind_ready({"full_page_writes": "on", "wal_log_hints": "off", "data_checksums": "on"})[0]


@pytest.mark.parametrize(("value", "name", "expected"), [
    ("FIRST 1 (pg_a, pg_b)", "pg_b", True), ("ANY 1 (pg_c)", "pg_b", False), ("*", "pg_b", True),
    ('"pg_b"', "pg_b", True), ("", "pg_b", False), ("pg_a,pg_b", "pg_b", True)])
def test_configured_synchronous_reads_synchronous_standby_names(value, name, expected):
    assert pr.configured_synchronous({"synchronous_standby_names": value}, name) is expected


def test_standby_config_is_written_once_and_wins_over_earlier_conninfo(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "postgresql.auto.conf").write_text("primary_conninfo = 'host=old'\nwork_mem = '8MB'\n")
    info = pr.conninfo("10.0.2.10", 5432, "postgres", "s3cr'et", "pg_a")
    assert pr.write_standby_config(str(data), info) is True
    assert pr.write_standby_config(str(data), info) is False  # idempotent
    text = (data / "postgresql.auto.conf").read_text()
    assert (data / "standby.signal").exists()
    assert text.splitlines()[-1] == "primary_conninfo = " + pr.quote_conf(info)
    assert "work_mem = '8MB'" in text and "password='s3cr''et'" in info
    other = pr.conninfo("10.0.3.10", 5432, "postgres", None, "pg_a")
    assert pr.write_standby_config(str(data), other) is True
    assert text.count(pr.AUTO_CONF_MARK) == 1
    assert (data / "postgresql.auto.conf").read_text().count(pr.AUTO_CONF_MARK) == 1
    assert (oct(os.stat(data / "postgresql.auto.conf").st_mode)[-3:]) == "600"


def test_fence_refuses_a_missing_data_directory(tmp_path):
    with pytest.raises(pr.DRError, match="not there"):
        pr.fence(str(tmp_path / "gone"), "/usr/lib/postgresql/15/bin", "postgres", "host=x")


def test_fence_check_mode_says_what_it_would_do_and_changes_nothing(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    report = pr.fence(str(data), "/usr/lib/postgresql/15/bin", "postgres", "host=x", check_mode=True)
    assert report["changed"] and report["actions"] == ["write standby.signal and primary_conninfo"]
    assert not (data / "standby.signal").exists()


def test_postmaster_pid_treats_a_missing_or_dead_pid_as_not_running(tmp_path):
    assert pr.postmaster_pid(str(tmp_path)) is None
    (tmp_path / "postmaster.pid").write_text("999999999\n")
    assert pr.postmaster_pid(str(tmp_path)) is None
    (tmp_path / "postmaster.pid").write_text(f"{os.getpid()}\n")
    assert pr.postmaster_pid(str(tmp_path)) == os.getpid()


def test_human_bytes_and_timed_reports():
    assert pr.human_bytes(512) == "512 bytes" and pr.human_bytes(3 << 20) == "3.0 MiB"
    out = pr.timed({"started": 1700000000.0, "ended": 1700000001.25})
    assert out["started"] == "2023-11-14T22:13:20.000Z" and out["elapsed_s"] == 1.25


def test_drop_auto_setting_removes_only_that_setting(tmp_path):
    auto = tmp_path / "postgresql.auto.conf"
    auto.write_text("synchronous_standby_names = ''\nwork_mem = '8MB'\n")
    assert pr.drop_auto_setting(str(tmp_path), "synchronous_standby_names") is True
    assert auto.read_text() == "work_mem = '8MB'\n"
    assert pr.drop_auto_setting(str(tmp_path), "synchronous_standby_names") is False

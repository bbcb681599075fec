"""dr_failover on a real PostgreSQL 15 pair and a real BIND 9 (rehearsal/services/dr_pair.py), through
ansible-playbook as an operator runs it. Each test starts its own pair and stops it; every wait is bounded.

- after fencing, the old primary accepts 0 writes, also after it is restarted;
- a failover refused for lag leaves the primary serving, the standby a standby, DNS unchanged, and says why;
- a crash failover (SIGKILL of the postmaster) loses no acknowledged commit in sync mode, switches the DNS
  name, and the old primary is rewound and streams again;
- the DR drill playbook switches over and back, writing its steps to the run's records;
- the role's molecule scenario passes (long tier).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from rehearsal.services.dr_pair import DrPairRun
from rehearsal.services.dr_writer import TABLE, DrWriter, admin_credentials
from tests.integration.module_runner import run_play
from tests.integration.pg_fixtures import REPO, run_role

PG_BIN = "/usr/lib/postgresql/15/bin"


def nodes(env: dict) -> dict:
    port = int(env["DR_DATABASE_PORT"])
    return {env[f"DR_{r}_NAME"]: {"host": env[f"DR_{r}_HOST"], "port": port, "data_dir": env[f"DR_{r}_DATA_DIR"],
                                  "server_options": env[f"DR_{r}_SERVER_OPTIONS"]} for r in ("PRIMARY", "STANDBY")}


def role_vars(env: dict, mode: str, primary: str, candidate: str, **extra) -> dict:
    return {"dr_failover_mode": mode, "dr_failover_nodes": nodes(env), "dr_failover_primary": primary,
            "dr_failover_candidate": candidate, "dr_failover_login_password": env["POSTGRES_PASSWORD"],
            "dr_failover_dns_server": env["DNS_SERVER"], "dr_failover_dns_port": int(env["DNS_PORT"]),
            "dr_failover_dns_zone": env["DNS_ZONE"], "dr_failover_dns_record": env["DR_DATABASE_HOST"] + ".",
            "dr_failover_dns_ttl": 1, "dr_failover_dns_key_name": env["DNS_TSIG_KEY_NAME"],
            "dr_failover_dns_key_secret": env["DNS_TSIG_KEY_SECRET"], **extra}


def connect(env: dict, host: str, **kw):
    user, password = admin_credentials(env)
    return psycopg.connect(host=host, port=int(env["DR_DATABASE_PORT"]), user=user, password=password,
                           dbname="postgres", autocommit=True, connect_timeout=5, **kw)


def in_recovery(env: dict, host: str) -> bool:
    with connect(env, host) as db:
        return db.execute("SELECT pg_is_in_recovery()").fetchone()[0]


def resolve(env: dict) -> str:
    from ansible_collections.greenlang.launch.plugins.module_utils.pg_replication import resolve as dns_resolve

    return dns_resolve(env["DR_DATABASE_HOST"], env["DNS_SERVER"], int(env["DNS_PORT"]))


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception:  # not ready yet: retried until the deadline
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout}s")


def try_write(env: dict, host: str) -> str:
    """'ok' when a write on ``host`` commits, else the error the client got."""
    try:
        with connect(env, host) as db:
            db.execute("CREATE TABLE IF NOT EXISTS fence_probe (i int)")
            db.execute("INSERT INTO fence_probe VALUES (1)")
        return "ok"
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


@pytest.fixture
def sync_pair():
    with DrPairRun("sync", prefix="greenlang-it-dr-sync-") as pair:
        yield pair
    assert pair.leftovers == []


@pytest.fixture
def async_pair():
    with DrPairRun("async", prefix="greenlang-it-dr-async-") as pair:
        yield pair
    assert pair.leftovers == []


def test_fenced_old_primary_accepts_no_write_also_after_a_restart(sync_pair):
    env = sync_pair.env
    old, new = env["DR_PRIMARY_HOST"], env["DR_STANDBY_HOST"]
    assert try_write(env, old) == "ok"
    fence = {"name": "fence", "greenlang.launch.pg_replication_fence": {
        "data_dir": env["DR_PRIMARY_DATA_DIR"], "node": {"host": old, "port": int(env["DR_DATABASE_PORT"]),
                                                         "name": env["DR_PRIMARY_NAME"]},
        "new_primary": {"host": new, "port": int(env["DR_DATABASE_PORT"]), "name": env["DR_STANDBY_NAME"]},
        "login_password": env["POSTGRES_PASSWORD"]}}
    first = run_play([fence], diff=True)["fence"]
    assert first.get("changed") is True, first
    assert first["report"]["stopped_by"] == "fast" and first["report"]["detached_standbys"] == ["pg_b"]
    assert first["report"]["cluster_state"] == "shut down" and first["report"]["shutdown_checkpoint_lsn"]
    assert first["diff"]["before"]["running"] and not first["diff"]["after"]["running"]
    assert env["POSTGRES_PASSWORD"] not in json.dumps(first)
    assert "Connection refused" in try_write(env, old) or "could not connect" in try_write(env, old)
    again = run_play([fence])["fence"]
    assert again.get("changed") is False, again  # fenced already: left alone

    # Restarted by hand (as systemd or a rebooting host would): it comes back as a read-only standby.
    subprocess.run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/pg_ctl", "-D", env["DR_PRIMARY_DATA_DIR"], "-w",
                    "-t", "60", "-l", env["DR_PRIMARY_DATA_DIR"] + "/server.log", "-o",
                    env["DR_PRIMARY_SERVER_OPTIONS"], "start"], check=True, timeout=90, capture_output=True)
    assert in_recovery(env, old) is True
    attempts = [try_write(env, old) for _ in range(5)]
    assert all("read-only transaction" in a for a in attempts), attempts


def test_failover_refused_for_lag_leaves_the_primary_serving_and_says_how_far_behind(async_pair, tmp_path):
    env = async_pair.env
    old, new = env["DR_PRIMARY_HOST"], env["DR_STANDBY_HOST"]
    with connect(env, new) as db:
        db.execute("SELECT pg_wal_replay_pause()")
    with connect(env, old) as db:
        db.execute("CREATE TABLE lag_filler AS SELECT g, md5(g::text) AS m FROM generate_series(1, 60000) g")
    proc = run_role("dr_failover", role_vars(env, "failover", "pg_a", "pg_b", dr_failover_max_lag_bytes=1048576),
                    tmp_path / "refused")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-4000:]
    assert "asynchronous standby" in output and "behind the primary (max_lag_bytes 1048576)" in output
    assert "Nothing was changed: the primary keeps serving" in output
    assert in_recovery(env, old) is False and try_write(env, old) == "ok"
    assert in_recovery(env, new) is True
    assert resolve(env) == old
    assert not Path(env["DR_PRIMARY_DATA_DIR"], "standby.signal").exists()
    assert env["POSTGRES_PASSWORD"] not in output and env["DNS_TSIG_KEY_SECRET"] not in output


def test_crash_failover_loses_no_acknowledged_commit_and_the_old_primary_streams_again(sync_pair, tmp_path):
    env = sync_pair.env
    old, new = env["DR_PRIMARY_HOST"], env["DR_STANDBY_HOST"]
    writer = DrWriter(env, rate=50).start()
    try:
        wait_until(lambda: len(writer.snapshot()) > 50, 30, "50 acknowledged commits")
        pid = int(Path(env["DR_PRIMARY_DATA_DIR"], "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        proc = run_role("dr_failover", role_vars(env, "failover", "pg_a", "pg_b"), tmp_path / "failover",
                        timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        wait_until(lambda: any(a[3] == new and a[1] > killed_at for a in writer.snapshot()), 30,
                   "a commit acknowledged by the new primary")
    finally:
        writer.stop()
    acked_on_old = [a[0] for a in writer.acks if a[3] == old]
    with connect(env, new) as db:
        present = {r[0] for r in db.execute(f"SELECT seq FROM {TABLE}").fetchall()}
    assert [s for s in acked_on_old if s not in present] == []  # RPO 0
    assert resolve(env) == new
    assert in_recovery(env, new) is False and in_recovery(env, old) is True
    with connect(env, new) as db:
        rows = db.execute("SELECT application_name, state, sync_state FROM pg_stat_replication").fetchall()
        verified = db.execute("SELECT count(*) FROM greenlang_dr_check WHERE server = 'pg_b'").fetchone()[0]
    assert rows == [("pg_a", "streaming", "sync")]
    assert verified == 1
    assert "failover pg_a -> pg_b" in proc.stdout and "rejoin" in proc.stdout


def test_dr_drill_switches_over_and_back_and_records_every_step(sync_pair, tmp_path):
    env = sync_pair.env
    run_dir = tmp_path / "runs"
    proc = subprocess.run([str(Path(os.sys.executable).parent / "ansible-playbook"), "playbooks/dr-drill.yml",
                           "-l", "rehearsal", "-e", f"launch_run_dir={run_dir}", "-e", "launch_run_id=drill-test"],
                          cwd=REPO, env={**os.environ, **env, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                                         "ANSIBLE_NOCOLOR": "1"},
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "switchover pg_a -> pg_b" in proc.stdout and "switchover pg_b -> pg_a" in proc.stdout
    steps = [json.loads(line) for line in (run_dir / "steps.jsonl").read_text().splitlines()]
    verbs = [s["verb"] for s in steps]
    expected = ["dr_precheck", "dr_fence", "dr_promote", "dr_switch_clients", "dr_verify_write", "dr_rejoin"]
    assert verbs == expected * 2
    assert all(s["status"] == "ok" and s["started"].endswith("Z") and s["elapsed_s"] >= 0 for s in steps)
    assert steps[0]["checks"][0]["verdict"] == "pass"
    run = json.loads((run_dir / "run.json").read_text())
    assert run["apps"]["database"]["result"] == "ok" and len(run["dr_drill"]) == 2
    assert resolve(env) == env["DR_PRIMARY_HOST"] and in_recovery(env, env["DR_PRIMARY_HOST"]) is False
    with connect(env, env["DR_PRIMARY_HOST"]) as db:
        assert db.execute("SELECT sync_state FROM pg_stat_replication").fetchall() == [("sync",)]
    text = (run_dir / "steps.jsonl").read_text() + proc.stdout
    assert env["POSTGRES_PASSWORD"] not in text and env["DNS_TSIG_KEY_SECRET"] not in text


@pytest.mark.slow
def test_molecule_scenario_switches_over_verifies_and_refuses_a_repeat():
    """`molecule test -s dr_failover`: its own pair (create), check mode, a switchover (converge), then verify
    (DNS answers pg_b, pg_b primary with pg_a streaming from it synchronously, a repeat refused at pre-check)."""
    from tests.integration.test_molecule_pg_roles import assert_passed, molecule_test

    flat = assert_passed(molecule_test("dr_failover"), "dr_failover")
    for step in ("create", "check", "converge", "destroy"):
        assert re.search(rf"dr_failover\W+{step}\W+Executed: Successful", flat), step

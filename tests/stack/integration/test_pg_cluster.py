"""rehearsal.services.postgres: a local PostgreSQL 15 cluster other parts of the rehearsal stack build on."""

from __future__ import annotations

import shutil
import subprocess
import time

import psycopg
import pytest

from rehearsal.services.postgres import PostgresCluster, free_port, scratch_dir


@pytest.fixture
def root():
    path = scratch_dir("greenlang-it-cluster-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _postgres_pids(data_dir) -> list[str]:
    out = subprocess.run(["pgrep", "-f", f"postgres.*-D {data_dir}"], capture_output=True, text=True, check=False)
    return out.stdout.split()


def test_cluster_serves_password_clients_on_loopback_and_replicates_to_a_standby(root):
    primary = PostgresCluster(root / "primary", free_port())
    standby = None
    try:
        primary.init().start()
        primary.create_database("vcci", owner="vcci", owner_password="pw-1")
        with psycopg.connect(host="127.0.0.1", port=primary.port, user="vcci", password="pw-1", dbname="vcci") as c:
            c.execute("CREATE TABLE t (i int)")
            c.execute("INSERT INTO t SELECT generate_series(1, 50)")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(host="127.0.0.1", port=primary.port, user="vcci", password="wrong", dbname="vcci")
        assert primary.execute("SHOW listen_addresses")[0][0] == "127.0.0.1"

        standby = primary.add_standby(root / "standby", free_port())
        deadline = time.monotonic() + 30
        rows = None
        while time.monotonic() < deadline:
            rows = standby.execute("SELECT count(*) FROM t", "vcci")[0][0]
            if rows == 50:
                break
            time.sleep(0.2)
        assert rows == 50
        assert standby.execute("SELECT pg_is_in_recovery()")[0][0] is True
    finally:
        if standby:
            standby.stop()
        primary.stop()
    assert not primary.is_running()
    assert _postgres_pids(primary.data_dir) == [] and _postgres_pids(root / "standby") == []


def test_init_refuses_a_directory_the_postgres_user_cannot_reach(tmp_path):
    from rehearsal.services.postgres import PostgresError

    with pytest.raises(PostgresError, match="cannot write"):
        PostgresCluster(tmp_path / "data", free_port()).init()

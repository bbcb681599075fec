"""The rehearsal stack's PostgreSQL from a state dir the ``postgres`` OS user cannot reach.

A checkout in root's home or under ``mktemp -d`` (mode 0700) puts ``.rehearsal/`` behind a directory
only root can traverse; PostgreSQL runs as its own OS user, so the stack runs its clusters from a
runtime directory under /tmp that the state dir links to, and ``down`` removes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from rehearsal.testing import StackRun


def _postgres_user_can_enter(path: Path) -> bool:
    return subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(path)],
                          capture_output=True, timeout=30, check=False).returncode == 0


def test_stack_serves_postgres_from_a_0700_parent_and_down_removes_its_runtime_dir():
    parent = Path(tempfile.mkdtemp(prefix="greenlang-it-0700-", dir="/tmp"))  # mkdtemp: mode 0700, root
    run = StackRun(apps=False).prepare()
    shutil.rmtree(run.state_dir)
    run.state_dir = parent / "checkout" / ".rehearsal"
    run.state_dir.mkdir(parents=True)
    try:
        assert (parent.stat().st_mode & 0o777) == 0o700
        assert not _postgres_user_can_enter(parent)
        run.up()
        link = run.state_dir / "postgres"
        data_dir = Path(os.readlink(link))
        with psycopg.connect(run.env["POSTGRES_ADMIN_DSN"], connect_timeout=10) as conn:
            assert conn.execute("SHOW data_directory").fetchone()[0] == str(data_dir)
        with psycopg.connect(run.env["VCCI_DATABASE_DSN"], connect_timeout=10) as conn:
            assert conn.execute("SELECT current_database()").fetchone()[0] == "vcci"
        # The state dir's path is inside the runtime path: `down` finds the servers by it.
        assert str(run.state_dir) in str(data_dir)
    finally:
        left = run.down()
        parent_exists = parent.exists()
        shutil.rmtree(parent, ignore_errors=True)
    assert left == []
    assert parent_exists
    assert not data_dir.exists() and not link.is_symlink()


def test_stack_with_dr_serves_a_synchronous_standby_and_a_tsig_zone_and_down_removes_both(monkeypatch):
    from rehearsal.services.dr_writer import CachingResolver
    from rehearsal.testing import free_ports

    monkeypatch.setenv("REHEARSAL_DR", "sync")
    monkeypatch.setenv("REHEARSAL_DNS_PORT", str(free_ports(1)[0]))
    run = StackRun(apps=False, prefix="greenlang-it-dr-stack-")
    try:
        run.up()
        env = run.env
        assert env["DR_MODE"] == "sync" and env["DNS_TSIG_KEY_ALGORITHM"] == "hmac-sha256"
        resolver = CachingResolver(env["DNS_SERVER"], int(env["DNS_PORT"]))
        assert resolver.address(env["DR_DATABASE_HOST"]) == env["DR_PRIMARY_HOST"]
        with psycopg.connect(env["POSTGRES_ADMIN_DSN"], connect_timeout=10) as conn:
            rows = conn.execute("SELECT application_name, state, sync_state FROM pg_stat_replication").fetchall()
            settings = dict(conn.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                                         (["fsync", "full_page_writes", "synchronous_commit", "wal_log_hints"],)))
        assert rows == [("pg_b", "streaming", "sync")]
        assert set(settings.values()) == {"on"}
        standby_dir = Path(env["DR_STANDBY_DATA_DIR"])
        named_dir = run.state_dir / "bind"
        assert (named_dir / "named.conf").exists()
    finally:
        left = run.down()
    assert left == []
    assert not standby_dir.exists()

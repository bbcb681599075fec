"""The backup, restore and migrate roles against a real PostgreSQL 15, run with ansible-playbook.

The runbook's promise under test: "backup BEFORE migrations; if failure: STOP, restore from backup",
with "data loss: none".
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest

from rehearsal.services.postgres import PG_BIN
from tests.integration import pg_fixtures
from tests.integration.pg_fixtures import APP_PASSWORD, databases, db_state, db_vars, manifests, run_role, seed_app_db

pg = pg_fixtures.pg  # fixtures: a PostgreSQL 15 for this module, a fresh backup directory per test
backup_dir = pg_fixtures.backup_dir

HALF_FAILING_MIGRATION = """
CREATE TABLE audit_log (id serial PRIMARY KEY, note text NOT NULL);
INSERT INTO audit_log (note) VALUES ('migration 2 started');
ALTER TABLE orders ADD COLUMN discount numeric(12,2) NOT NULL DEFAULT 0;
UPDATE orders SET amount = amount * 2 WHERE id % 2 = 0;
DELETE FROM orders WHERE id % 5 = 0;
UPDATE schema_version SET version = 2;
SELECT * FROM table_that_does_not_exist;
CREATE INDEX orders_discount_idx ON orders (discount);
"""

GOOD_MIGRATION = """
BEGIN;
ALTER TABLE orders ADD COLUMN discount numeric(12,2) NOT NULL DEFAULT 0;
UPDATE schema_version SET version = 2;
COMMIT;
"""


def psql_command(pg, db: str, sql_file: Path) -> tuple[list[str], dict]:
    """A migration command as an app would run it: psql -f, stop at the first error, no outer transaction."""
    env = {k: str(v) for k, v in pg.env(db).items()}
    return [str(PG_BIN / "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-f", str(sql_file)], env


def migrate_vars(pg, db: str, backup_dir: Path, sql_file: Path, **extra) -> dict:
    argv, env = psql_command(pg, db, sql_file)
    return {
        "migrate_app": db, "migrate_environment": "rehearsal", "migrate_release": "2.0.0",
        "migrate_command": argv, "migrate_command_env": env,
        "migrate_backup_dir": str(backup_dir), "migrate_backup_key_tables": ["orders", "customers"],
        "migrate_schema_version_query": "SELECT version FROM schema_version",
        **db_vars(pg, "migrate", db), **extra,
    }


@pytest.fixture
def work(tmp_path):
    return tmp_path


# ---------------------------------------------------------------------------------------------
# backup
# ---------------------------------------------------------------------------------------------
def test_backup_writes_a_verified_archive_whose_manifest_matches_it(pg, backup_dir, work):
    seed_app_db(pg, "vcci")
    result = run_role("backup", {"backup_app": "vcci", "backup_environment": "rehearsal", "backup_release": "2.0.0",
                                 "backup_dir": str(backup_dir), "backup_key_tables": ["orders", "customers"],
                                 "backup_test_restore": True, **db_vars(pg, "backup", "vcci")}, work)
    assert result.returncode == 0, result.stdout + result.stderr
    [manifest] = manifests(backup_dir)
    archive = backup_dir / manifest["archive"]
    assert manifest["name"].startswith("vcci_rehearsal_") and archive.name.endswith(".dump")
    assert manifest["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert manifest["size_bytes"] == archive.stat().st_size
    assert manifest["row_counts"] == {"orders": 2000, "customers": 300}
    assert manifest["verification"]["test_restore"]["row_counts"] == {"orders": 2000, "customers": 300}
    assert manifest["verified"] is True
    assert manifest["release"] == "2.0.0" and manifest["server_version"].startswith("15.")
    assert "vcci__verify" not in databases(pg), "the scratch database of the test restore is dropped"
    text = "".join(p.read_text() for p in backup_dir.glob("*.json")) + result.stdout + result.stderr
    assert pg.password not in text


def test_backup_in_the_runbook_sql_gz_format_restores_to_the_same_data(pg, backup_dir, work):
    seed_app_db(pg, "cbam")
    before = db_state(pg, "cbam")
    result = run_role("backup", {"backup_app": "cbam", "backup_environment": "rehearsal", "backup_format": "plain_gz",
                                 "backup_compress_level": 6, "backup_dir": str(backup_dir),
                                 "backup_key_tables": ["orders"], **db_vars(pg, "backup", "cbam")}, work / "b")
    assert result.returncode == 0, result.stdout + result.stderr
    [manifest] = manifests(backup_dir)
    assert manifest["archive"].endswith(".sql.gz")
    subprocess.run(["gzip", "-t", str(backup_dir / manifest["archive"])], check=True)

    pg.execute("DROP TABLE orders CASCADE", "cbam")
    result = run_role("restore", {"restore_app": "cbam", "restore_environment": "rehearsal",
                                  "restore_dir": str(backup_dir), **db_vars(pg, "restore", "cbam")}, work / "r")
    assert result.returncode == 0, result.stdout + result.stderr
    assert db_state(pg, "cbam") == before


def test_retention_keeps_the_newest_backups_and_a_second_run_adds_a_new_file(pg, backup_dir, work):
    seed_app_db(pg, "csrd", orders=100)
    variables = {"backup_app": "csrd", "backup_environment": "rehearsal", "backup_dir": str(backup_dir),
                 "backup_retention_keep_last": 2, **db_vars(pg, "backup", "csrd")}
    names = []
    for run in range(3):
        result = run_role("backup", variables, work / str(run))
        assert result.returncode == 0, result.stdout + result.stderr
        names.append(manifests(backup_dir)[-1]["name"])
    assert len(set(names)) == 3, "every run is a new point in time, so a new file"
    kept = [m["name"] for m in manifests(backup_dir)]
    assert kept == names[1:]
    assert sorted(p.name for p in backup_dir.iterdir()) == sorted(
        [n + ".dump" for n in names[1:]] + [n + ".manifest.json" for n in names[1:]])


# ---------------------------------------------------------------------------------------------
# restore
# ---------------------------------------------------------------------------------------------
def test_restore_swaps_the_backup_in_and_keeps_the_replaced_database(pg, backup_dir, work):
    seed_app_db(pg, "vcci")
    before = db_state(pg, "vcci")
    result = run_role("backup", {"backup_app": "vcci", "backup_environment": "rehearsal",
                                 "backup_dir": str(backup_dir), "backup_key_tables": ["orders"],
                                 **db_vars(pg, "backup", "vcci")}, work / "b")
    assert result.returncode == 0, result.stdout + result.stderr
    pg.execute("DELETE FROM orders WHERE id <= 1500", "vcci")

    result = run_role("restore", {"restore_app": "vcci", "restore_environment": "rehearsal",
                                  "restore_dir": str(backup_dir), **db_vars(pg, "restore", "vcci")}, work / "r")
    assert result.returncode == 0, result.stdout + result.stderr
    assert db_state(pg, "vcci") == before
    assert "Restored vcci from vcci_rehearsal_" in result.stdout and "s end to end" in result.stdout
    [previous] = [d for d in databases(pg) if d.startswith("vcci__pre_restore_")]
    with pytest.raises(Exception, match="not currently accepting connections"):
        pg.execute("SELECT 1", previous)  # kept aside: apps cannot reach the stale copy by mistake
    pg.execute(f'ALTER DATABASE "{previous}" WITH ALLOW_CONNECTIONS true')
    assert pg.execute("SELECT count(*) FROM orders", previous)[0][0] == 500
    assert pg.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'vcci'")[0][0] == "vcci"
    pg.drop_database(previous)


class ReconnectingClients:
    """App clients that keep querying the database and reconnect at once whenever their session ends (bounded)."""

    def __init__(self, pg, db: str, count: int = 4, max_seconds: float = 120):
        self.pg, self.db, self.stop, self.max_seconds = pg, db, threading.Event(), max_seconds
        self.seen: list[int] = []  # orders counted, in time order
        self.connects = 0
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                with psycopg.connect(host=self.pg.host, port=self.pg.port, user=self.db, password=APP_PASSWORD,
                                     dbname=self.db, connect_timeout=5, autocommit=True) as conn:
                    self.connects += 1
                    while not self.stop.is_set() and time.monotonic() < deadline:
                        self.seen.append(conn.execute("SELECT count(*) FROM orders").fetchone()[0])
                        time.sleep(0.02)
            except psycopg.Error:
                time.sleep(0.01)  # reconnect right away, as a pool does

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)


def test_restore_swaps_in_while_clients_keep_reconnecting(pg, backup_dir, work):
    seed_app_db(pg, "csrd")
    before = db_state(pg, "csrd")
    result = run_role("backup", {"backup_app": "csrd", "backup_environment": "rehearsal",
                                 "backup_dir": str(backup_dir), "backup_key_tables": ["orders"],
                                 **db_vars(pg, "backup", "csrd")}, work / "b")
    assert result.returncode == 0, result.stdout + result.stderr
    pg.execute("DELETE FROM orders WHERE id > 100", "csrd")

    with ReconnectingClients(pg, "csrd") as clients:
        deadline = time.monotonic() + 30
        while clients.connects < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert clients.connects >= 4, "the clients are connected before the restore starts"
        result = run_role("restore", {"restore_app": "csrd", "restore_environment": "rehearsal",
                                      "restore_dir": str(backup_dir), **db_vars(pg, "restore", "csrd")}, work / "r")
        deadline = time.monotonic() + 30
        while (not clients.seen or clients.seen[-1] != 2000) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert result.returncode == 0, result.stdout + result.stderr
    assert db_state(pg, "csrd") == before, "the data is the restored data"
    assert clients.seen[0] == 100 and clients.seen[-1] == 2000, "clients were served before and after the swap"
    assert clients.connects > 4, "the swap ended their sessions and they reconnected to the restored database"
    for d in databases(pg):
        if d.startswith("csrd__pre_restore_"):
            pg.drop_database(d)


def test_restore_refuses_a_named_backup_that_is_not_verified_unless_told(pg, backup_dir, work):
    seed_app_db(pg, "vcci", orders=300)
    result = run_role("backup", {"backup_app": "vcci", "backup_environment": "rehearsal",
                                 "backup_dir": str(backup_dir), "backup_key_tables": ["orders"],
                                 **db_vars(pg, "backup", "vcci")}, work / "b")
    assert result.returncode == 0, result.stdout + result.stderr
    [manifest] = manifests(backup_dir)
    # As if its test restore had not passed: the backup role leaves it like this until it does.
    manifest.update(verified=False, pending_checks=["test_restore"])
    (backup_dir / (manifest["name"] + ".manifest.json")).write_text(json.dumps(manifest))
    pg.execute("DELETE FROM orders", "vcci")
    variables = {"restore_app": "vcci", "restore_environment": "rehearsal", "restore_dir": str(backup_dir),
                 "restore_backup_name": manifest["name"], **db_vars(pg, "restore", "vcci")}
    refused = run_role("restore", variables, work / "refused")
    assert refused.returncode != 0
    assert f"backup {manifest['name']} is not verified (pending checks: test_restore)" in refused.stdout
    assert "restore_allow_unverified" in refused.stdout
    assert pg.execute("SELECT count(*) FROM orders", "vcci")[0][0] == 0, "nothing was restored"

    allowed = run_role("restore", {**variables, "restore_allow_unverified": True}, work / "allowed")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert pg.execute("SELECT count(*) FROM orders", "vcci")[0][0] == 300
    for d in databases(pg):
        if d.startswith("vcci__pre_restore_"):
            pg.drop_database(d)


@pytest.mark.parametrize("damage", ["corrupted", "truncated"])
def test_restore_refuses_a_damaged_archive_and_leaves_the_live_database_alone(pg, backup_dir, work, damage):
    seed_app_db(pg, "cbam")
    result = run_role("backup", {"backup_app": "cbam", "backup_environment": "rehearsal",
                                 "backup_dir": str(backup_dir), **db_vars(pg, "backup", "cbam")}, work / "b")
    assert result.returncode == 0, result.stdout + result.stderr
    [manifest] = manifests(backup_dir)
    archive = backup_dir / manifest["archive"]
    data = bytearray(archive.read_bytes())
    if damage == "corrupted":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) * 2 // 3]
    archive.write_bytes(bytes(data))
    pg.execute("INSERT INTO customers (name, country) VALUES ('after backup', 'DE')", "cbam")
    live = db_state(pg, "cbam")

    result = run_role("restore", {"restore_app": "cbam", "restore_environment": "rehearsal",
                                  "restore_dir": str(backup_dir), **db_vars(pg, "restore", "cbam")}, work / "r")
    assert result.returncode != 0
    assert "does not match its manifest, refusing it" in result.stdout
    assert str(archive) in result.stdout
    assert db_state(pg, "cbam") == live
    assert [d for d in databases(pg) if d.startswith("cbam__")] == []


# ---------------------------------------------------------------------------------------------
# migrate
# ---------------------------------------------------------------------------------------------
def test_migration_failing_halfway_leaves_the_database_exactly_as_before(pg, backup_dir, work):
    seed_app_db(pg, "vcci")
    before = db_state(pg, "vcci")
    sql = work / "0002_half_failing.sql"
    sql.write_text(HALF_FAILING_MIGRATION)

    result = run_role("migrate", migrate_vars(pg, "vcci", backup_dir, sql), work / "m")
    assert result.returncode != 0
    out = result.stdout
    assert "MIGRATION FAILED for vcci/rehearsal" in out
    assert "table_that_does_not_exist" in out, out[-4000:]
    assert "Restored: vcci from backup vcci_rehearsal_" in out, "the report says what was restored"
    assert "Schema version before: 1, now: 1" in out
    assert db_state(pg, "vcci") == before, "schema and data equal their pre-migration state"
    # The half-migrated database is kept aside for forensics, with the statements that did commit.
    [kept] = [d for d in databases(pg) if d.startswith("vcci__pre_restore_")]
    pg.execute(f'ALTER DATABASE "{kept}" WITH ALLOW_CONNECTIONS true')
    assert pg.execute("SELECT version FROM schema_version", kept)[0][0] == 2
    pg.drop_database(kept)


def _backup_taken(pg, db: str, backup_dir: Path, work: Path) -> dict:
    """A verified backup of ``db`` by the backup role, as its backup_result describes it."""
    result = run_role("backup", {"backup_app": db, "backup_environment": "rehearsal", "backup_release": "2.0.0",
                                 "backup_dir": str(backup_dir), "backup_key_tables": ["orders", "customers"],
                                 **db_vars(pg, "backup", db)}, work / "backup")
    assert result.returncode == 0, result.stdout + result.stderr
    [manifest] = manifests(backup_dir)
    return {"name": manifest["name"], "path": str(backup_dir / manifest["archive"]),
            "manifest_path": str(backup_dir / f"{manifest['name']}.manifest.json"), "manifest": manifest,
            "directory": str(backup_dir), "host": "localhost"}


def test_a_verified_backup_taken_just_before_is_the_way_back_and_no_second_one_is_made(pg, backup_dir, work):
    seed_app_db(pg, "vcci")
    before = db_state(pg, "vcci")
    taken = _backup_taken(pg, "vcci", backup_dir, work)
    sql = work / "0002_half_failing.sql"
    sql.write_text(HALF_FAILING_MIGRATION)
    result = run_role("migrate", migrate_vars(pg, "vcci", backup_dir, sql, migrate_backup_taken=taken), work / "m")
    assert result.returncode != 0
    assert f"The way back is {taken['name']}" in result.stdout
    assert f"Restored: vcci from backup {taken['name']}" in result.stdout
    assert [m["name"] for m in manifests(backup_dir)] == [taken["name"]], "no second backup"
    assert db_state(pg, "vcci") == before
    for kept in [d for d in databases(pg) if d.startswith("vcci__pre_restore_")]:
        pg.drop_database(kept)


def test_a_backup_of_another_database_is_not_taken_as_the_way_back(pg, backup_dir, work):
    seed_app_db(pg, "cbam")
    seed_app_db(pg, "csrd")
    other = _backup_taken(pg, "csrd", backup_dir, work)
    sql = work / "0002_good.sql"
    sql.write_text(GOOD_MIGRATION)
    result = run_role("migrate", migrate_vars(pg, "cbam", backup_dir, sql, migrate_backup_taken=other), work / "m")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The way back is" not in result.stdout
    assert sorted(m["app"] for m in manifests(backup_dir)) == ["cbam", "csrd"], "migrate took its own backup"


def test_successful_migration_records_schema_versions_and_keeps_its_backup(pg, backup_dir, work):
    seed_app_db(pg, "cbam")
    sql = work / "0002_good.sql"
    sql.write_text(GOOD_MIGRATION)
    result = run_role("migrate", migrate_vars(pg, "cbam", backup_dir, sql, migrate_expected_schema_version="2",
                                              migrate_verify_queries=[
                                                  "SELECT count(*) = 2000 FROM orders WHERE discount = 0"]),
                      work / "m")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "schema version 1\n" in result.stdout.replace("        ", "") or "schema version 1" in result.stdout
    assert "-> 2 in" in result.stdout.replace("\n", " ").replace("        ", "")
    [manifest] = manifests(backup_dir)
    assert manifest["release"] == "2.0.0" and manifest["verified"]
    assert pg.execute("SELECT version FROM schema_version", "cbam")[0][0] == 2


def test_migration_reaching_the_wrong_schema_version_is_rolled_back(pg, backup_dir, work):
    seed_app_db(pg, "csrd")
    before = db_state(pg, "csrd")
    sql = work / "0002_good.sql"
    sql.write_text(GOOD_MIGRATION)
    result = run_role("migrate", migrate_vars(pg, "csrd", backup_dir, sql, migrate_expected_schema_version="3"),
                      work / "m")
    assert result.returncode != 0
    assert "schema version after the migration is 2, expected 3" in result.stdout
    assert db_state(pg, "csrd") == before
    for d in databases(pg):
        if d.startswith("csrd__pre_restore_"):
            pg.drop_database(d)


def test_command_migration_never_prints_its_environment_even_at_debug_verbosity(pg, backup_dir, work):
    seed_app_db(pg, "csrd")
    sql = work / "0002_half_failing.sql"
    sql.write_text(HALF_FAILING_MIGRATION)
    variables = migrate_vars(pg, "csrd", backup_dir, sql)
    assert variables["migrate_command_env"]["PGPASSWORD"] == pg.password  # psql needs it to reach the database
    result = run_role("migrate", variables, work / "m", verbosity=3)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "table_that_does_not_exist" in out, "the command did connect: the environment reached it"
    assert pg.password not in out
    for d in databases(pg):
        if d.startswith("csrd__pre_restore_"):
            pg.drop_database(d)


def _mount_tmpfs(path: Path, options: str) -> None:
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here to simulate the disk ({proc.stderr.strip()})")


@pytest.mark.parametrize("disk", ["read-only", "full"])
def test_unusable_backup_directory_stops_the_play_before_the_migration(pg, work, disk):
    seed_app_db(pg, "vcci", orders=20000)
    before = db_state(pg, "vcci")
    mnt = Path(tempfile.mkdtemp(prefix="greenlang-it-disk-", dir="/tmp"))
    _mount_tmpfs(mnt, "ro,size=1m" if disk == "read-only" else "size=256k")
    try:
        marker = work / "migration-ran"
        variables = migrate_vars(pg, "vcci", mnt, work / "unused.sql")
        variables["migrate_command"] = ["touch", str(marker)]
        # With the free-space check off, the full disk must still be caught while writing.
        variables["backup_free_space_ratio"] = 0
        result = run_role("migrate", variables, work / "m")
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
        shutil.rmtree(mnt, ignore_errors=True)
    assert result.returncode != 0
    assert "BACKUP FAILED for vcci/rehearsal" in result.stdout
    assert f"localhost:{mnt}" in result.stdout
    expected = "Read-only file system" if disk == "read-only" else "No space left on device"
    assert expected in result.stdout
    assert not marker.exists(), "the migration must not start without a backup"
    assert db_state(pg, "vcci") == before


def test_production_refuses_to_migrate_without_backup_unless_the_loud_variable_is_set(pg, backup_dir, work):
    seed_app_db(pg, "cbam")
    marker = work / "migration-ran"
    variables = migrate_vars(pg, "cbam", backup_dir, work / "unused.sql", launch_environment="production",
                             migrate_environment="production", migrate_backup=False)
    variables["migrate_command"] = ["touch", str(marker)]
    refused = run_role("migrate", variables, work / "refused")
    assert refused.returncode != 0
    assert "Refusing to migrate cbam in production without a backup" in refused.stdout
    assert not marker.exists()

    variables["migrate_i_understand_skipping_backup_loses_the_way_back"] = True
    allowed = run_role("migrate", variables, work / "allowed")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "WITHOUT A BACKUP" in allowed.stdout
    assert marker.exists()
    assert list(backup_dir.iterdir()) == []


def test_check_mode_reports_the_plan_and_changes_nothing(pg, backup_dir, work):
    seed_app_db(pg, "csrd")
    before = db_state(pg, "csrd")
    sql = work / "0002_half_failing.sql"
    sql.write_text(HALF_FAILING_MIGRATION)
    result = run_role("migrate", migrate_vars(pg, "csrd", backup_dir, sql), work / "m", check=True)
    assert result.returncode == 0, result.stdout + result.stderr
    flat = " ".join(result.stdout.split())
    assert "Would migrate csrd/rehearsal database csrd to release 2.0.0 (schema version now 1)" in flat
    assert f"back up to localhost:{backup_dir} first" in flat and str(sql) in flat
    assert list(backup_dir.iterdir()) == []
    assert db_state(pg, "csrd") == before


def _role_vars(pg, work, role: str) -> dict:
    variables = {f"{role}_app": "vcci", f"{role}_environment": "rehearsal", **db_vars(pg, role, "vcci")}
    variables[f"{role}_dir" if role != "migrate" else "migrate_backup_dir"] = str(work / "backups-not-created")
    if role == "migrate":
        variables["migrate_command"] = ["touch", str(work / "migration-ran")]
    return variables


NAMES = [("backup", "backup_database.name"), ("backup", "backup_app"), ("backup", "backup_environment"),
         ("migrate", "migrate_database.name"), ("migrate", "migrate_app"), ("migrate", "migrate_environment"),
         ("restore", "restore_app"), ("restore", "restore_environment"), ("restore", "restore_database.name")]


@pytest.mark.parametrize("role,variable", NAMES)
def test_an_empty_required_name_fails_first_naming_the_variable(pg, work, role, variable):
    variables = _role_vars(pg, work, role)
    if variable.endswith(".name"):
        variables[variable.split(".")[0]]["name"] = ""
    else:
        variables[variable] = ""
    result = run_role(role, variables, work / role)
    assert result.returncode != 0
    flat = " ".join(result.stdout.split())
    assert f'{variable}="" is empty. Nothing was done.' in flat, flat[-2000:]
    assert "ok=1 changed=0" in flat, "it fails right after the argument spec check, before anything else runs"
    assert not (work / "backups-not-created").exists() and not (work / "migration-ran").exists()


@pytest.mark.parametrize("role,variable", [(r, v.split(".")[0]) for r, v in NAMES if not v.endswith("_app")]
                         + [(r, f"{r}_app") for r in ("backup", "migrate", "restore")])
def test_a_missing_required_variable_fails_at_argument_validation_naming_it(pg, work, role, variable):
    variables = _role_vars(pg, work, role)
    del variables[variable]
    result = run_role(role, variables, work / role)
    assert result.returncode != 0
    out = " ".join((result.stdout + result.stderr).split())
    assert "validate_argument_spec" in out or "Validating arguments against arg spec" in out, out[-2000:]
    assert variable in out, out[-2000:]
    assert "ok=0" in out and not (work / "backups-not-created").exists()
    assert not (work / "migration-ran").exists()


def test_backup_without_key_tables_warns_that_no_row_counts_protect_it(pg, backup_dir, work):
    seed_app_db(pg, "cbam", orders=100)
    result = run_role("backup", {"backup_app": "cbam", "backup_environment": "rehearsal", "backup_dir": str(backup_dir),
                                 **db_vars(pg, "backup", "cbam")}, work / "b")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING: backup_key_tables is empty for cbam/rehearsal" in " ".join(result.stdout.split())
    [manifest] = manifests(backup_dir)
    assert manifest["row_counts"] == {} and "no key tables configured" in manifest["warnings"][0]
    result = run_role("restore", {"restore_app": "cbam", "restore_environment": "rehearsal",
                                  "restore_dir": str(backup_dir), **db_vars(pg, "restore", "cbam")}, work / "r")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING: NO ROW COUNTS CHECKED" in " ".join(result.stdout.split())
    for d in databases(pg):
        if d.startswith("cbam__pre_restore_"):
            pg.drop_database(d)


@pytest.mark.parametrize("key_tables", [[], ["orders"]], ids=["pg_dump-waits", "row-count-waits"])
def test_backup_blocked_by_a_lock_fails_within_the_timeout_saying_why(pg, backup_dir, work, key_tables):
    seed_app_db(pg, "vcci", orders=100)
    with pg.connect("vcci", autocommit=False) as locker:
        locker.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")  # a migration's ALTER TABLE, left open
        t0 = time.monotonic()
        result = run_role("backup", {"backup_app": "vcci", "backup_environment": "rehearsal",
                                     "backup_dir": str(backup_dir), "backup_key_tables": key_tables,
                                     "backup_timeout": 8, **db_vars(pg, "backup", "vcci")}, work / "b", timeout=120)
        elapsed = time.monotonic() - t0
        locker.rollback()
    flat = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "BACKUP FAILED for vcci/rehearsal" in flat
    assert "could not lock the table" in flat and "another session holds a conflicting lock" in flat, flat[-2000:]
    assert elapsed < 8 + 40, f"bounded by backup_timeout=8 plus ansible's own start-up, took {elapsed:.0f} s"
    assert [p for p in backup_dir.iterdir()] == [], "no partial archive is left behind"


def test_manifest_never_contains_the_app_password(pg, backup_dir, work):
    seed_app_db(pg, "vcci")
    variables = {"backup_app": "vcci", "backup_environment": "rehearsal", "backup_dir": str(backup_dir),
                 **db_vars(pg, "backup", "vcci")}
    variables["backup_database"].update(user="vcci", password=APP_PASSWORD)
    result = run_role("backup", variables, work)
    assert result.returncode == 0, result.stdout + result.stderr
    [manifest] = manifests(backup_dir)
    assert APP_PASSWORD not in json.dumps(manifest) and APP_PASSWORD not in result.stdout


# ---------------------------------------------------------------------------------------------
# k8s_job mode, against the rehearsal's control plane; the node agent runs the Job's container command
# (psql) for real, in the pod's network namespace, reaching PostgreSQL through the relay of its port.
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def kube(pg, tmp_path):
    from tests.fixtures.kube import start_cluster

    cluster = start_cluster(tmp_path / "kube", relay_ports=(pg.port,))
    try:
        yield cluster
    finally:
        cluster.stop()


def k8s_migrate_vars(pg, kube, db: str, backup_dir: Path, sql_file: Path, **extra) -> dict:
    argv, env = psql_command(pg, db, sql_file)
    variables = migrate_vars(pg, db, backup_dir, sql_file, **extra)
    variables.update(migrate_mode="k8s_job", migrate_command=[], migrate_k8s_image=f"rehearsal/{db}:2.0.0",
                     migrate_k8s_command=argv, migrate_k8s_env=env, migrate_k8s_kubeconfig=str(kube.kubeconfig),
                     migrate_k8s_poll_seconds=1, migrate_timeout=120)
    return variables


def test_k8s_job_migration_runs_in_a_job_and_reaches_the_new_schema(pg, kube, backup_dir, work):
    seed_app_db(pg, "vcci")
    sql = work / "0002_good.sql"
    sql.write_text(GOOD_MIGRATION)
    result = run_role("migrate", k8s_migrate_vars(pg, kube, "vcci", backup_dir, sql,
                                                  migrate_expected_schema_version="2"), work / "m")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Job in namespace default from image rehearsal/vcci:2.0.0" in " ".join(result.stdout.split())
    assert pg.execute("SELECT version FROM schema_version", "vcci")[0][0] == 2
    jobs = subprocess.run(["kubectl", "--kubeconfig", str(kube.kubeconfig), "get", "jobs", "-o", "json"],
                          capture_output=True, text=True, check=True, timeout=60)
    [job] = json.loads(jobs.stdout)["items"]
    assert job["metadata"]["name"].startswith("vcci-migrate-2-0-0-")
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"])


def test_k8s_job_failing_halfway_is_restored_exactly_with_the_job_logs_in_the_report(pg, kube, backup_dir, work):
    seed_app_db(pg, "cbam")
    before = db_state(pg, "cbam")
    sql = work / "0002_half_failing.sql"
    sql.write_text(HALF_FAILING_MIGRATION)
    result = run_role("migrate", k8s_migrate_vars(pg, kube, "cbam", backup_dir, sql), work / "m")
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert "MIGRATION FAILED for cbam/rehearsal" in out
    assert "Check the Job completed" in out
    assert "Job logs:" in out and "table_that_does_not_exist" in out
    assert "Restored: cbam from backup cbam_rehearsal_" in out
    assert db_state(pg, "cbam") == before
    for d in databases(pg):
        if d.startswith("cbam__pre_restore_"):
            pg.drop_database(d)


def _kubectl_json(kube, *args: str) -> dict:
    proc = subprocess.run(["kubectl", "--kubeconfig", str(kube.kubeconfig), *args, "-o", "json"],
                          capture_output=True, text=True, check=True, timeout=60)
    return json.loads(proc.stdout)


def test_k8s_job_migration_keeps_the_database_password_out_of_the_output_and_the_job(pg, kube, backup_dir, work):
    seed_app_db(pg, "csrd")
    sql = work / "0002_good.sql"
    sql.write_text(GOOD_MIGRATION)
    variables = k8s_migrate_vars(pg, kube, "csrd", backup_dir, sql, migrate_expected_schema_version="2")
    assert variables["migrate_k8s_env"]["PGPASSWORD"] == pg.password  # the Job needs it to reach the database
    result = run_role("migrate", variables, work / "m", verbosity=1)
    assert result.returncode == 0, result.stdout + result.stderr
    assert pg.execute("SELECT version FROM schema_version", "csrd")[0][0] == 2, "the Job did get the password"
    assert pg.password not in result.stdout + result.stderr
    [job] = _kubectl_json(kube, "get", "jobs")["items"]
    assert pg.password not in json.dumps(job)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert "env" not in container
    assert container["envFrom"] == [{"secretRef": {"name": job["metadata"]["name"] + "-env"}}]
    assert _kubectl_json(kube, "get", "secrets")["items"] == [], "the Secret is deleted once the Job has run"
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400, "the finished Job is kept a day for its logs"


def test_k8s_job_reads_credentials_from_an_existing_secret(pg, kube, backup_dir, work):
    seed_app_db(pg, "vcci")
    sql = work / "0002_good.sql"
    sql.write_text(GOOD_MIGRATION)
    _, env = psql_command(pg, "vcci", sql)
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "vcci-migrate-db", "namespace": "default"},
              "stringData": env}
    subprocess.run(["kubectl", "--kubeconfig", str(kube.kubeconfig), "apply", "-f", "-"], input=json.dumps(secret),
                   capture_output=True, text=True, check=True, timeout=60)
    variables = k8s_migrate_vars(pg, kube, "vcci", backup_dir, sql, migrate_expected_schema_version="2",
                                 migrate_k8s_env_from_secrets=["vcci-migrate-db"])
    variables["migrate_k8s_env"] = {}
    result = run_role("migrate", variables, work / "m", verbosity=1)
    assert result.returncode == 0, result.stdout + result.stderr
    assert pg.execute("SELECT version FROM schema_version", "vcci")[0][0] == 2
    assert pg.password not in result.stdout + result.stderr
    [job] = _kubectl_json(kube, "get", "jobs")["items"]
    assert job["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [{"secretRef": {"name": "vcci-migrate-db"}}]
    assert [s["metadata"]["name"] for s in _kubectl_json(kube, "get", "secrets")["items"]] == ["vcci-migrate-db"], \
        "a Secret the role did not create is left alone"


def test_k8s_job_exceeding_the_timeout_is_stopped_before_the_restore(pg, kube, backup_dir, work):
    seed_app_db(pg, "cbam")
    before = db_state(pg, "cbam")
    sql = work / "0002_slow.sql"
    sql.write_text("UPDATE schema_version SET version = 2;\nSELECT pg_sleep(600);\n")
    variables = k8s_migrate_vars(pg, kube, "cbam", backup_dir, sql, migrate_timeout=5, migrate_k8s_poll_seconds=1)
    result = run_role("migrate", variables, work / "m", verbosity=1)
    out = " ".join(result.stdout.split())
    assert result.returncode != 0, out
    assert "MIGRATION FAILED for cbam/rehearsal" in out
    assert "DeadlineExceeded" in out or "did not finish within 5 s" in out, out[-3000:]
    assert "Restored: cbam from backup cbam_rehearsal_" in out
    assert db_state(pg, "cbam") == before
    assert pg.password not in result.stdout + result.stderr
    pods = _kubectl_json(kube, "get", "pods", "-l", "app.kubernetes.io/component=migration")["items"]
    assert [p["metadata"]["name"] for p in pods if p.get("status", {}).get("phase") in ("Pending", "Running")] == [], \
        "no migration pod is left running against the restored database"
    assert pg.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' "
                      "AND pid <> pg_backend_pid()")[0][0] == 0
    for d in databases(pg):
        if d.startswith("cbam__pre_restore_"):
            pg.drop_database(d)


def test_the_older_one_value_database_variables_still_work(pg, backup_dir, work):
    """Roles written against backup_db_name/_host/... (before <role>_database) keep working."""
    seed_app_db(pg, "cbam", orders=50)
    old_style = {"backup_db_name": "cbam", "backup_db_host": pg.host, "backup_db_port": pg.port,
                 "backup_db_user": pg.user, "backup_db_password": pg.password, "backup_pg_bin_dir": str(PG_BIN)}
    result = run_role("backup", {"backup_app": "cbam", "backup_environment": "rehearsal",
                                 "backup_dir": str(backup_dir), **old_style}, work / "b")
    assert result.returncode == 0, result.stdout + result.stderr
    [manifest] = manifests(backup_dir)
    assert manifest["database"] == "cbam"
    restore_old = {k.replace("backup_", "restore_"): v for k, v in old_style.items()}
    result = run_role("restore", {"restore_app": "cbam", "restore_environment": "rehearsal",
                                  "restore_dir": str(backup_dir), "restore_keep_previous": False, **restore_old},
                      work / "r")
    assert result.returncode == 0, result.stdout + result.stderr

"""A restore that reports success restored the right database (issue 17), on the rehearsal stack's PostgreSQL.

The three mistakes a tired operator makes, each refused with the live databases exactly as before (schema and
data dumps compared) and no database created; then a property-based test that throws wrong names and mismatched
manifests at every restore entry point (module_utils, the pg_backup_info and pg_restore_archive modules, the
restore role) and checks none of them ever reports success on a database other than the manifest's.

The stack's connection comes from its env file's POSTGRES_* and <APP>_DB_* values only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
from ansible_collections.greenlang.launch.plugins.module_utils import pg_backup as pb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rehearsal.services.postgres import PG_BIN
from tests.integration.module_runner import run_play
from tests.integration.pg_fixtures import run_role

APPS = ("vcci", "cbam", "csrd")


class StackDatabases:
    """The stack's PostgreSQL as its env file describes it."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.admin = {"host": env["POSTGRES_HOST"], "port": int(env["POSTGRES_PORT"]),
                      "user": env["POSTGRES_USER"], "password": env["POSTGRES_PASSWORD"]}

    def entry(self, app: str) -> dict:
        """launch_databases.<app> as the rehearsal inventory builds it from the env file."""
        p = app.upper() + "_DB_"
        return {"name": self.env[p + "NAME"], "host": self.env[p + "HOST"], "port": int(self.env[p + "PORT"]),
                "user": self.env[p + "USER"], "password": self.env[p + "PASSWORD"]}

    def connect(self, db: str = "postgres"):
        return psycopg.connect(dbname=db, autocommit=True, connect_timeout=10, **self.admin)

    def databases(self) -> list[str]:
        with self.connect() as conn:
            return [r[0] for r in conn.execute("SELECT datname FROM pg_database ORDER BY datname")]

    def dump(self, db: str) -> str:
        """Schema and data of ``db`` (pg_dump text without comments and its per-run \\restrict key)."""
        env = {**os.environ, "PGHOST": self.admin["host"], "PGPORT": str(self.admin["port"]),
               "PGUSER": self.admin["user"], "PGPASSWORD": self.admin["password"]}
        out = subprocess.run([str(PG_BIN / "pg_dump"), "--no-password", "-d", db], env=env, check=True,
                             capture_output=True, text=True, timeout=120).stdout
        return "\n".join(line for line in out.splitlines()
                         if line.strip() and not line.startswith("--") and not re.match(r"\\(un)?restrict ", line))

    def state(self) -> dict:
        """Every database's name, and the full dumps of the app databases and the maintenance database."""
        return {"databases": self.databases(), **{db: self.dump(db) for db in (*APPS, "postgres")}}

    def drop(self, db: str) -> None:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    def create_empty(self, db: str) -> None:
        self.drop(db)
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{db}"')


@pytest.fixture(scope="module")
def stack_dbs(rehearsal_stack):
    for name in ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD", "CBAM_DB_NAME",
                 "CBAM_DB_HOST", "CBAM_DB_PORT", "CBAM_DB_USER", "CBAM_DB_PASSWORD", "REHEARSAL_STATE_DIR"):
        assert name in rehearsal_stack.env, f"the stack's env file gives {name}"
    return StackDatabases(rehearsal_stack.env)


@pytest.fixture(scope="module")
def cbam_backup(stack_dbs):
    """A verified backup of the stack's cbam database, taken by the backup role from launch_* variables only."""
    directory = Path(tempfile.mkdtemp(prefix="greenlang-it-restore-safety-", dir="/tmp"))
    work = Path(tempfile.mkdtemp(prefix="greenlang-it-restore-safety-work-"))
    try:
        result = run_role("backup", {"backup_app": "cbam", "launch_environment": "rehearsal",
                                     "launch_databases": {"cbam": stack_dbs.entry("cbam")},
                                     "launch_backup_dir": str(directory), "backup_pg_bin_dir": str(PG_BIN)}, work)
        assert result.returncode == 0, result.stdout + result.stderr
        [manifest_file] = directory.glob("*.manifest.json")
        manifest = json.loads(manifest_file.read_text())
        assert (manifest["app"], manifest["environment"], manifest["database"]) == ("cbam", "rehearsal", "cbam")
        yield directory, manifest
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def restore_vars(stack_dbs, directory: Path, app: str, database: dict, **extra) -> dict:
    return {"restore_app": app, "restore_environment": "rehearsal", "restore_dir": str(directory),
            "restore_database": database, "restore_pg_bin_dir": str(PG_BIN), **extra}


def flat(result) -> str:
    return " ".join((result.stdout + result.stderr).split())


# ---------------------------------------------------------------------------------------------
# the three mistakes from the trial
# ---------------------------------------------------------------------------------------------
def test_restoring_cbams_backup_into_csrd_is_refused_and_touches_nothing(stack_dbs, cbam_backup, tmp_path):
    directory, manifest = cbam_backup
    before = stack_dbs.state()
    result = run_role("restore", restore_vars(stack_dbs, directory, "cbam", stack_dbs.entry("csrd")), tmp_path)
    out = flat(result)
    assert result.returncode != 0, out[-3000:]
    assert "RESTORE REFUSED for cbam/rehearsal into database csrd (restore_database.name)" in out, out[-3000:]
    assert f"backup {manifest['name']} is a backup of database cbam" in out
    assert "not of the target database csrd" in out and "Nothing was created, renamed or dropped" in out
    assert "Restored" not in out
    assert stack_dbs.state() == before


def test_a_typo_in_the_database_name_is_refused_and_creates_nothing(stack_dbs, cbam_backup, tmp_path):
    directory, manifest = cbam_backup
    before = stack_dbs.state()
    typo = dict(stack_dbs.entry("cbam"), name="nosuchdb")
    result = run_role("restore", restore_vars(stack_dbs, directory, "cbam", typo), tmp_path / "typo")
    out = flat(result)
    assert result.returncode != 0
    assert "RESTORE REFUSED" in out and "not of the target database nosuchdb" in out, out[-3000:]
    assert stack_dbs.state() == before
    assert not [d for d in stack_dbs.databases() if d.startswith("nosuchdb")]


def test_a_missing_live_database_is_refused_unless_the_rebuild_is_asked_for(stack_dbs, cbam_backup, tmp_path):
    """The backup matches (it is cbam's), but the live cbam is gone: a rebuild must be asked for by name."""
    directory, manifest = cbam_backup
    live = stack_dbs.dump("cbam")
    with stack_dbs.connect() as conn:
        conn.execute('ALTER DATABASE "cbam" RENAME TO "cbam__parked_by_test"')
    try:
        names_before = stack_dbs.databases()
        variables = restore_vars(stack_dbs, directory, "cbam", stack_dbs.entry("cbam"))
        refused = run_role("restore", variables, tmp_path / "refused")
        out = flat(refused)
        assert refused.returncode != 0
        assert "database cbam (restore_database.name) does not exist" in out, out[-3000:]
        assert "restore_create_database_that_does_not_exist=true" in out
        assert stack_dbs.databases() == names_before, "nothing was created"

        rebuilt = run_role("restore", {**variables, "restore_create_database_that_does_not_exist": True},
                           tmp_path / "rebuilt")
        assert rebuilt.returncode == 0, flat(rebuilt)[-3000:]
        assert stack_dbs.dump("cbam") == live, "the rebuild restored the backup's data"
    finally:
        stack_dbs.drop("cbam")
        with stack_dbs.connect() as conn:
            conn.execute('ALTER DATABASE "cbam__parked_by_test" RENAME TO "cbam"')


def test_pg_restore_archive_with_an_empty_database_is_refused_not_restored_into_postgres(stack_dbs, cbam_backup):
    directory, manifest = cbam_backup
    before = stack_dbs.state()
    login = {"login_host": stack_dbs.admin["host"], "login_port": stack_dbs.admin["port"],
             "login_user": stack_dbs.admin["user"], "login_password": stack_dbs.admin["password"],
             "pg_bin_dir": str(PG_BIN)}
    run = run_play([
        {"name": "empty", "greenlang.launch.pg_restore_archive": {
            "directory": str(directory), "name": manifest["name"], "database": "", **login}},
        {"name": "maintenance", "greenlang.launch.pg_restore_archive": {
            "directory": str(directory), "name": manifest["name"], "database": "postgres",
            "expected_database": "cbam", **login}},
        {"name": "live and not empty", "greenlang.launch.pg_restore_archive": {
            "directory": str(directory), "name": manifest["name"], "database": "cbam", **login}},
    ])
    assert run["empty"]["failed"] and run["empty"]["failed_step"] == "validation"
    assert "database='' is empty" in run["empty"]["msg"]
    assert run["maintenance"]["failed"] and "maintenance or template database" in run["maintenance"]["msg"]
    assert run["live and not empty"]["failed"] and "is not empty" in run["live and not empty"]["msg"]
    assert stack_dbs.state() == before


# ---------------------------------------------------------------------------------------------
# property: no restore entry point ever reports success on a database other than the manifest's
# ---------------------------------------------------------------------------------------------
SCRATCH = "cbam__hyp_scratch"
names = st.one_of(st.sampled_from(["", " ", "cbam", "csrd", "vcci", "postgres", "template1", "nosuchdb", SCRATCH,
                                   "CBAM", "cbam ", "cbam;drop", "dbname=cbam", "postgresql://x/cbam", "x" * 64]),
                  st.text(min_size=0, max_size=12))
app_names = st.one_of(st.sampled_from(["", "cbam", "csrd", "vcci", "cbam.v2", "-x", "rehearsal"]),
                      st.text(max_size=6))
manifest_changes = st.fixed_dictionaries({}, optional={
    "database": st.one_of(st.none(), names), "app": st.one_of(st.none(), app_names),
    "environment": st.one_of(st.none(), st.sampled_from(["", "production", "rehearsal"]))})


def mismatched_copy(directory: Path, manifest: dict, changes: dict, into: Path) -> dict:
    """The backup with its manifest changed (None removes a field), in a directory of its own."""
    into.mkdir(parents=True, exist_ok=True)
    for old in into.iterdir():
        old.unlink()
    os.link(directory / manifest["archive"], into / manifest["archive"])
    changed = dict(manifest)
    for key, value in changes.items():
        if value is None:
            changed.pop(key, None)
        else:
            changed[key] = value
    (into / (manifest["name"] + ".manifest.json")).write_text(json.dumps(changed))
    return changed


def is_the_manifests(changed: dict, database: str, app: str | None = None, environment: str | None = None) -> bool:
    return (changed.get("database") == database and bool(database)
            and (app is None or changed.get("app") == app) and (environment is None or changed.get("environment")
                                                                == environment))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=manifest_changes, target=names, expected=st.one_of(st.none(), names),
       app=st.one_of(st.none(), app_names))
def test_module_utils_restore_never_succeeds_on_another_database(stack_dbs, cbam_backup, tmp_path, changes, target,
                                                                 expected, app):
    directory, manifest = cbam_backup
    copy = mismatched_copy(directory, manifest, changes, tmp_path / "copy")
    stack_dbs.create_empty(SCRATCH)
    before = {db: stack_dbs.dump(db) for db in APPS}
    try:
        result = pb.restore_archive(stack_dbs.admin, str(tmp_path / "copy"), copy, target, pg_bin=str(PG_BIN),
                                    expected_database=expected, app=app, environment="rehearsal")
    except pb.BackupError:
        result = None
    for_database = target if expected is None else expected
    if result is not None:
        assert is_the_manifests(copy, for_database, app, "rehearsal"), (copy, target, expected, app)
        assert target == SCRATCH, "only the fresh, empty database can be restored into"
    assert {db: stack_dbs.dump(db) for db in APPS} == before, "no live database changed"
    stack_dbs.drop(SCRATCH)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=manifest_changes, database=names, app=app_names)
def test_the_modules_never_succeed_on_another_database(stack_dbs, cbam_backup, tmp_path, changes, database, app):
    directory, manifest = cbam_backup
    copy = mismatched_copy(directory, manifest, changes, tmp_path / "copy")
    before = stack_dbs.state()  # taken before the scratch database exists: it is dropped again below
    stack_dbs.create_empty(SCRATCH)
    login = {"login_host": stack_dbs.admin["host"], "login_port": stack_dbs.admin["port"],
             "login_user": stack_dbs.admin["user"], "login_password": stack_dbs.admin["password"]}
    run = run_play([
        {"name": "info", "greenlang.launch.pg_backup_info": {
            "directory": str(tmp_path / "copy"), "app": app, "environment": "rehearsal", "database": database,
            "name": manifest["name"], "allow_unverified": True, "pg_bin_dir": str(PG_BIN)}},
        {"name": "restore", "greenlang.launch.pg_restore_archive": {
            "directory": str(tmp_path / "copy"), "name": manifest["name"], "database": SCRATCH,
            "expected_database": database, "app": app, "environment": "rehearsal", "pg_bin_dir": str(PG_BIN),
            **login}},
    ])
    for task in ("info", "restore"):
        if not run[task].get("failed"):
            assert is_the_manifests(copy, database, app, "rehearsal"), (task, copy, database, app)
        else:
            assert run[task]["failed_step"], run[task]
    stack_dbs.drop(SCRATCH)
    assert stack_dbs.state() == before


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=manifest_changes, database=st.sampled_from(["csrd", "vcci", "nosuchdb", "", "postgres", "cbam"]),
       app=st.sampled_from(["cbam", "csrd", ""]))
def test_the_restore_role_never_succeeds_on_another_database(stack_dbs, cbam_backup, tmp_path, changes, database,
                                                             app):
    directory, manifest = cbam_backup
    copy = mismatched_copy(directory, manifest, changes, tmp_path / "copy")
    before = stack_dbs.state()
    result = run_role("restore", restore_vars(stack_dbs, tmp_path / "copy", app,
                                              dict(stack_dbs.entry("cbam"), name=database),
                                              restore_backup_name=manifest["name"], restore_allow_unverified=True,
                                              restore_keep_previous=False),
                      tmp_path / "role")
    if result.returncode == 0:
        assert is_the_manifests(copy, database, app, "rehearsal"), (copy, database, app)
        assert f"Restored {database} from {manifest['name']}" in flat(result)
        assert stack_dbs.dump("cbam") == before["cbam"], "the right data came back"
        assert [d for d in stack_dbs.databases() if d.startswith("cbam__")] == []
    else:
        assert stack_dbs.state() == before, flat(result)[-2000:]

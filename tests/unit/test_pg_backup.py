"""plugins/module_utils/pg_backup.py: naming, checksums, manifests, selection, retention and stream writing.

These parts need no database; dumping and restoring run against a real PostgreSQL in
tests/integration/test_backup_restore_migrate.py.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
import sys
import time

import pytest
from ansible_collections.greenlang.launch.plugins.module_utils import pg_backup as pb

UTC = datetime.UTC
NOW = datetime.datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def make_backup(directory, name, started, verified=True, content=b"archive bytes", fmt="custom"):
    archive = name + pb.ARCHIVE_SUFFIX[fmt]
    (directory / archive).write_bytes(content)
    manifest = {"name": name, "app": name.split("_")[0], "environment": name.split("_")[1], "format": fmt,
                "archive": archive, "size_bytes": len(content), "sha256": hashlib.sha256(content).hexdigest(),
                "started_at": pb.iso(started), "verified": verified, "verification": {}, "pending_checks": []}
    pb.write_manifest(str(directory), manifest)
    return manifest


def test_backup_name_is_app_env_and_utc_timestamp_and_never_collides(tmp_path):
    local = NOW.astimezone(datetime.timezone(datetime.timedelta(hours=2)))
    assert pb.backup_basename("vcci", "production", local) == "vcci_production_20250601T120000Z"
    (tmp_path / "vcci_production_20250601T120000Z.dump").write_bytes(b"x")
    assert pb.backup_basename("vcci", "production", NOW, str(tmp_path)) == "vcci_production_20250601T120000Z-2"


@pytest.mark.parametrize("bad", ["", "vcci prod", "../etc", "a_b", "-x"])
def test_unsafe_app_or_environment_names_are_refused_naming_the_parameter(bad):
    with pytest.raises(pb.BackupError, match="app="):
        pb.backup_basename(bad, "production", NOW)


def test_pg_dump_command_carries_format_level_jobs_and_snapshot_but_no_password():
    argv = pb.pg_dump_argv("/usr/lib/postgresql/15/bin", "directory", "vcci", 1, jobs=2, output="/b/x.dir",
                           snapshot="00000003-1")
    assert argv[0] == "/usr/lib/postgresql/15/bin/pg_dump"
    assert argv[-5:] == ["-Fd", "-j", "2", "-f", "/b/x.dir"]
    assert "--snapshot" in argv and "00000003-1" in argv and "-Z" in argv
    assert not any("password=" in a.lower() for a in argv)


@pytest.mark.parametrize(("fmt", "level", "message"), [
    ("tar", 1, "format='tar'; allowed: custom, plain_gz, directory"),
    ("custom", 11, "compress_level=11; allowed: 0-9"),
    ("plain_gz", 0, "plain_gz needs compress_level 1-9"),
])
def test_bad_dump_options_fail_with_the_allowed_values(fmt, level, message):
    with pytest.raises(pb.BackupError, match=message.replace("(", r"\(")):
        pb.pg_dump_argv("", fmt, "db", level)


def test_password_goes_to_the_environment_only():
    env = pb.libpq_env({"host": "db", "port": 5433, "user": "backup", "password": "s3cret"})
    assert env["PGPASSWORD"] == "s3cret" and env["PGHOST"] == "db" and env["PGPORT"] == "5433"


def test_stream_to_file_hashes_what_it_writes_and_renames_only_on_success(tmp_path):
    out = tmp_path / "a.dump"
    script = "import sys; sys.stdout.buffer.write(b'x' * 3000000)"
    sha, size = pb.stream_to_file([sys.executable, "-c", script], None, str(out), timeout=60)
    assert size == 3000000 and out.stat().st_size == size
    assert sha == hashlib.sha256(out.read_bytes()).hexdigest()
    assert not (tmp_path / "a.dump.partial").exists()


def test_a_failing_dump_leaves_no_file_that_looks_like_a_backup(tmp_path):
    out = tmp_path / "a.dump"
    script = "import sys; sys.stdout.write('partial'); sys.stderr.write('pg_dump: error: connection lost'); sys.exit(1)"
    with pytest.raises(pb.BackupError, match="pg_dump failed: exit code 1: pg_dump: error: connection lost"):
        pb.stream_to_file([sys.executable, "-c", script], None, str(out), timeout=60)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_while_writing_fails_the_write_step_and_cleans_up(tmp_path):
    # /dev/full answers every write with ENOSPC, like a backup disk that fills up mid-dump.
    (tmp_path / "x.dump.partial").symlink_to("/dev/full")
    script = "import sys; sys.stdout.write('x' * 3000000)"
    with pytest.raises(pb.BackupError, match=r"write failed \(.*x.dump.partial\): No space left on device"):
        pb.stream_to_file([sys.executable, "-c", script], None, str(tmp_path / "x.dump"), timeout=60)
    assert list(tmp_path.iterdir()) == []


def test_a_silent_dump_is_killed_at_the_timeout(tmp_path):
    # pg_dump waiting for a lock writes nothing; the timeout must still hold.
    script = "import sys, time; sys.stdout.write('x'); sys.stdout.flush(); time.sleep(60)"
    t0 = time.monotonic()
    with pytest.raises(pb.BackupError, match=r"pg_dump failed: timed out after 1s with 1 bytes written; the process"
                                             r" was killed"):
        pb.stream_to_file([sys.executable, "-c", script], None, str(tmp_path / "a.dump"), timeout=1)
    assert time.monotonic() - t0 < 10
    assert list(tmp_path.iterdir()) == []


def test_a_dump_that_writes_nothing_says_it_may_be_waiting_for_a_lock(tmp_path):
    script = "import time; time.sleep(60)"
    with pytest.raises(pb.BackupError, match="wrote nothing: waiting for a lock"):
        pb.stream_to_file([sys.executable, "-c", script], None, str(tmp_path / "a.dump"), timeout=1)


def test_pg_dump_waits_for_table_locks_only_as_long_as_allowed():
    argv = pb.pg_dump_argv("", "custom", "vcci", 1, lock_wait_timeout=42)
    assert "--lock-wait-timeout=42s" in argv
    assert not any(a.startswith("--lock-wait-timeout") for a in pb.pg_dump_argv("", "custom", "vcci", 1))


def test_a_lock_timeout_from_pg_dump_is_explained():
    err = [b"pg_dump: error: query failed: ERROR:  canceling statement due to statement timeout\n"
           b"pg_dump: detail: Query was: LOCK TABLE public.orders IN ACCESS SHARE MODE"]
    assert pb._exit_text(1, err, 30).startswith("could not lock the tables within 30s (lock wait timeout): another "
                                               "session holds a conflicting lock")


@pytest.mark.parametrize("bad", ["", "  ", "host=evil dbname=vcci", "postgresql://evil/vcci", "x" * 64])
def test_a_database_that_is_not_a_name_is_refused_before_anything_runs(tmp_path, bad):
    # An empty name would make pg_dump dump the connecting role's default database instead.
    with pytest.raises(pb.BackupError, match="validation failed: database"):
        pb.create_backup({"host": "127.0.0.1", "port": 1}, bad, str(tmp_path), "vcci", "production")
    assert list(tmp_path.iterdir()) == []


def test_preflight_refuses_a_missing_directory_and_too_little_space(tmp_path):
    with pytest.raises(pb.BackupError, match="preflight failed .*does not exist"):
        pb.preflight(str(tmp_path / "nope"))
    with pytest.raises(pb.BackupError, match="bytes free, .* needed"):
        pb.preflight(str(tmp_path), required_bytes=10 ** 18)
    assert pb.preflight(str(tmp_path), 0) > 0
    assert list(tmp_path.iterdir()) == [], "the write probe is removed"


def test_sql_gz_verification_catches_corruption_and_truncation(tmp_path):
    good = tmp_path / "good.sql.gz"
    good.write_bytes(gzip.compress(b"CREATE TABLE t();\n-- PostgreSQL database dump complete\n\n"))
    assert "completion line present" in pb.verify_readable("", str(good), "plain_gz")
    cut = tmp_path / "cut.sql.gz"
    cut.write_bytes(good.read_bytes()[:-12])
    with pytest.raises(pb.BackupError, match="gzip stream is damaged"):
        pb.verify_readable("", str(cut), "plain_gz")
    unfinished = tmp_path / "unfinished.sql.gz"
    unfinished.write_bytes(gzip.compress(b"CREATE TABLE t();\n"))
    with pytest.raises(pb.BackupError, match="no pg_dump completion line"):
        pb.verify_readable("", str(unfinished), "plain_gz")


def test_checksum_mismatch_is_refused_naming_the_file(tmp_path):
    manifest = make_backup(tmp_path, "vcci_production_1", NOW)
    assert pb.verify_checksum(str(tmp_path), manifest).endswith(".dump")
    (tmp_path / manifest["archive"]).write_bytes(b"archive bytez")
    with pytest.raises(pb.BackupError, match=r"checksum failed \(.*vcci_production_1.dump\): .*refusing it"):
        pb.verify_checksum(str(tmp_path), manifest)


def test_directory_archive_checksum_names_the_file_that_changed(tmp_path):
    d = tmp_path / "a.dir"
    d.mkdir()
    (d / "toc.dat").write_bytes(b"toc")
    (d / "3001.dat.gz").write_bytes(b"rows")
    sha, size, files = pb.checksum_archive(str(d), "directory")
    manifest = {"archive": "a.dir", "format": "directory", "sha256": sha, "size_bytes": size, "files": files}
    (d / "3001.dat.gz").write_bytes(b"rowz")
    with pytest.raises(pb.BackupError, match="files that differ: 3001.dat.gz"):
        pb.verify_checksum(str(tmp_path), manifest)


def test_select_picks_the_newest_verified_backup_of_the_right_app(tmp_path):
    make_backup(tmp_path, "vcci_production_1", NOW - datetime.timedelta(days=2))
    make_backup(tmp_path, "vcci_production_2", NOW - datetime.timedelta(days=1))
    make_backup(tmp_path, "vcci_production_3", NOW, verified=False)
    make_backup(tmp_path, "cbam_production_9", NOW)
    assert pb.select_backup(str(tmp_path), "vcci", "production")["name"] == "vcci_production_2"
    with pytest.raises(pb.BackupError, match="backup vcci_production_3 is not verified .*restore_allow_unverified"):
        pb.select_backup(str(tmp_path), "vcci", "production", "vcci_production_3")
    named = pb.select_backup(str(tmp_path), "vcci", "production", "vcci_production_3", allow_unverified=True)
    assert named["name"] == "vcci_production_3"
    with pytest.raises(pb.BackupError, match="belongs to cbam/production"):
        pb.select_backup(str(tmp_path), "vcci", "production", "cbam_production_9")
    with pytest.raises(pb.BackupError, match="no verified backup for csrd/production"):
        pb.select_backup(str(tmp_path), "csrd", "production")


def test_record_check_marks_verified_only_when_nothing_is_pending_or_failed(tmp_path):
    m = make_backup(tmp_path, "vcci_production_1", NOW, verified=False)
    m["pending_checks"] = ["test_restore"]
    pb.write_manifest(str(tmp_path), m)
    failed, changed = pb.record_check(str(tmp_path), m["name"], "test_restore", {"ok": False})
    assert changed and failed["verified"] is False and failed["pending_checks"] == ["test_restore"]
    ok, changed = pb.record_check(str(tmp_path), m["name"], "test_restore", {"ok": True, "seconds": 1})
    assert changed and ok["verified"] is True
    pb.write_manifest(str(tmp_path), ok)
    _, changed_again = pb.record_check(str(tmp_path), m["name"], "test_restore", {"ok": True, "seconds": 1})
    assert changed_again is False


def _manifests(*specs):
    return [{"name": n, "started_at": pb.iso(NOW - datetime.timedelta(days=age)), "verified": v} for n, age, v in specs]


def test_retention_keeps_the_newest_n():
    ms = _manifests(("a", 4, True), ("b", 3, True), ("c", 2, True), ("d", 1, True))
    assert [m["name"] for m in pb.plan_retention(ms, keep_last=2, now=NOW)] == ["b", "a"]


def test_retention_by_age_deletes_only_older_backups():
    ms = _manifests(("old", 40, True), ("recent", 5, True), ("new", 0, True))
    assert [m["name"] for m in pb.plan_retention(ms, max_age_days=30, now=NOW)] == ["old"]


def test_retention_never_deletes_the_only_verified_backup():
    ms = _manifests(("verified_old", 90, True), ("unverified_1", 1, False), ("unverified_2", 0, False))
    doomed = [m["name"] for m in pb.plan_retention(ms, keep_last=1, max_age_days=7, now=NOW)]
    assert "verified_old" not in doomed and doomed == ["unverified_1"]


def test_retention_with_no_rule_deletes_nothing_and_protect_wins():
    ms = _manifests(("a", 400, True), ("b", 300, True))
    assert pb.plan_retention(ms, now=NOW) == []
    assert [m["name"] for m in pb.plan_retention(ms, keep_last=1, now=NOW, protect=["a"])] == []


def test_row_count_comparison_lists_every_difference():
    assert pb.compare_row_counts({"orders": 10, "customers": 3}, {"orders": 10, "customers": 3}) == []
    assert pb.compare_row_counts({"orders": 10}, {"orders": 9, "audit": 1}) == [
        "audit: manifest None, restored 1", "orders: manifest 10, restored 9"]


def test_unreadable_manifests_are_never_restore_candidates(tmp_path):
    make_backup(tmp_path, "vcci_production_1", NOW)
    (tmp_path / "vcci_production_2.manifest.json").write_text("{not json")
    assert [m["name"] for m in pb.list_backups(str(tmp_path), "vcci", "production")] == ["vcci_production_1"]
    with pytest.raises(pb.BackupError, match="not valid JSON"):
        pb.read_manifest(str(tmp_path), "vcci_production_2")
    json.loads((tmp_path / "vcci_production_1.manifest.json").read_text())


# ---------------------------------------------------------------------------------------------
# what a backup is a backup of (issue 17)
# ---------------------------------------------------------------------------------------------
MANIFEST = {"name": "cbam_rehearsal_20260101T000000Z", "app": "cbam", "environment": "rehearsal", "database": "cbam"}


def test_a_backup_restores_only_for_its_own_database_app_and_environment():
    assert pb.check_restore_target(dict(MANIFEST), "cbam", "cbam", "rehearsal")["database"] == "cbam"
    with pytest.raises(pb.BackupError, match="is a backup of database cbam .*not of the target database csrd"):
        pb.check_restore_target(dict(MANIFEST), "csrd")
    with pytest.raises(pb.BackupError, match="is of app cbam, not app=csrd"):
        pb.check_restore_target(dict(MANIFEST), "cbam", app="csrd")
    with pytest.raises(pb.BackupError, match="is of environment rehearsal, not environment=production"):
        pb.check_restore_target(dict(MANIFEST), "cbam", environment="production")


@pytest.mark.parametrize("field", ["app", "environment", "database"])
@pytest.mark.parametrize("value", [None, ""])
def test_a_manifest_that_does_not_say_what_it_is_a_backup_of_is_refused(field, value):
    manifest = dict(MANIFEST)
    if value is None:
        del manifest[field]
    else:
        manifest[field] = value
    with pytest.raises(pb.BackupError, match=f"records no {field}"):
        pb.check_restore_target(manifest, "cbam")


@pytest.mark.parametrize("target, message", [("", "database='' is empty"), ("postgres", "maintenance"),
                                             ("template1", "maintenance"), ("dbname=cbam", "is invalid"),
                                             ("x" * 64, "is invalid")])
def test_empty_maintenance_and_connection_string_targets_are_refused(target, message):
    with pytest.raises(pb.BackupError, match=message):
        pb.check_restore_target(dict(MANIFEST, database=target or "cbam"), target)


def test_empty_app_or_environment_never_means_every_backup(tmp_path):
    make_backup(tmp_path, "vcci_rehearsal_20250101T000000Z", NOW)
    make_backup(tmp_path, "cbam_rehearsal_20250101T000000Z", NOW)
    for app, env in (("", "rehearsal"), ("vcci", ""), (None, "rehearsal")):
        with pytest.raises(pb.BackupError, match="is empty"):
            pb.list_backups(str(tmp_path), app, env)
        with pytest.raises(pb.BackupError, match="is empty"):
            pb.select_backup(str(tmp_path), app, env)
    assert [m["name"] for m in pb.list_backups(str(tmp_path), "vcci", "rehearsal")] == [
        "vcci_rehearsal_20250101T000000Z"]


def test_select_backup_with_a_database_refuses_a_backup_of_another_one(tmp_path):
    manifest = make_backup(tmp_path, "cbam_rehearsal_20250101T000000Z", NOW)
    manifest["database"] = "cbam"
    pb.write_manifest(str(tmp_path), manifest)
    assert pb.select_backup(str(tmp_path), "cbam", "rehearsal", database="cbam")["name"] == manifest["name"]
    with pytest.raises(pb.BackupError, match="not of the target database csrd"):
        pb.select_backup(str(tmp_path), "cbam", "rehearsal", database="csrd")


def test_a_backup_directory_that_is_a_file_is_not_reported_as_missing(tmp_path):
    path = tmp_path / "backups"
    path.write_text("x")
    with pytest.raises(pb.BackupError, match="is not a directory"):
        pb.preflight(str(path))
    with pytest.raises(pb.BackupError, match="does not exist"):
        pb.preflight(str(tmp_path / "missing"))


def test_recording_an_unnamed_check_is_refused(tmp_path):
    make_backup(tmp_path, "vcci_rehearsal_20250101T000000Z", NOW)
    with pytest.raises(pb.BackupError, match="check is empty"):
        pb.record_check(str(tmp_path), "vcci_rehearsal_20250101T000000Z", " ", {"ok": True})


def test_login_options_come_from_a_launch_databases_entry_with_defaults():
    assert pb.login_options({"name": "vcci", "host": "db", "password": "s"}) == {
        "login_host": "db", "login_port": 5432, "login_user": "postgres", "login_password": "s"}
    with pytest.raises(ValueError, match="unknown database keys passwd"):
        pb.login_options({"name": "vcci", "passwd": "s"})

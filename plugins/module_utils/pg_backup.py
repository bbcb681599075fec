# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Verified PostgreSQL backups: pg_dump with a streamed checksum, a JSON manifest, verification,
selection of a backup to restore, retention, and pg_restore into a fresh database.

Plain Python (no Ansible import), so the modules stay thin and the logic is unit-tested directly.
The pg_dump/pg_restore client binaries do the database work; this module only orchestrates them.
community.postgresql's ``postgresql_db`` (state=dump/restore) cannot be used for the dump itself: it
neither checksums while writing nor verifies the archive, and a second pass over the file to hash it
would cost as much time again as the dump's own write.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import gzip
import hashlib
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import threading
import time

try:
    from ansible_collections.greenlang.launch.plugins.module_utils import names
    from ansible_collections.greenlang.launch.plugins.module_utils.failure import StepError
except ImportError:  # plain Python without the collection loader (bench scripts)
    from plugins.module_utils import names
    from plugins.module_utils.failure import StepError

MANIFEST_VERSION = 1
MANIFEST_SUFFIX = ".manifest.json"
FORMATS = ("custom", "plain_gz", "directory")
ARCHIVE_SUFFIX = {"custom": ".dump", "plain_gz": ".sql.gz", "directory": ".dir"}
NAME_RE = names.LAUNCH_NAME_RE
# Databases a restore never writes into: the maintenance database ("" makes libpq pick it) and the templates.
MAINTENANCE_DATABASES = ("postgres", "template0", "template1")
NO_KEY_TABLES_WARNING = ("no key tables configured: the manifest has no row counts, so a restore cannot check that "
                         "the rows survived (set backup_key_tables)")
CHUNK = 1024 * 1024
# pg_dump's plain output ends with this line; a gzip file without it was cut short.
PLAIN_DUMP_TRAILER = b"-- PostgreSQL database dump complete"


class BackupError(StepError):
    """A backup, verification or restore step failed; ``step`` says which one, ``where`` what it touched."""


# ---------------------------------------------------------------------------------------------
# names and time
# ---------------------------------------------------------------------------------------------
def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(ts):
    return ts.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)


def check_name(param, value):
    """An app or environment name; empty means "no value", never "match anything"."""
    problem = names.launch_name_problem(value)
    if problem:
        raise BackupError("validation", "%s=%r %s" % (param, value, problem))
    return value


def check_identifier(param, value, max_length=names.PG_IDENTIFIER_MAX):
    problem = names.pg_identifier_problem(value, max_length)
    if problem:
        raise BackupError("validation", "%s=%r %s" % (param, value if len(str(value)) <= 80 else
                                                      str(value)[:77] + "...", problem))
    return value


def check_directory(step, directory):
    """The backup directory exists and is a directory (a file there is not "missing")."""
    if not os.path.isdir(directory):
        if os.path.lexists(directory):
            raise BackupError(step, "backup directory is not a directory (a file or something else is there)",
                              directory)
        raise BackupError(step, "backup directory does not exist", directory)


def check_database(param, value):
    """A database name, not empty and not a connection string.

    An empty name would make pg_dump dump the connecting role's default database, and pg_dump -d reads a value
    with ``=`` or a ``postgres://`` prefix as connection parameters (another host, another database).
    """
    if not value or not value.strip():
        raise BackupError("validation", "%s is empty: name the database to back up" % param)
    if "=" in value or re.match(r"^postgres(ql)?://", value) or len(value) > 63:
        raise BackupError("validation", "%s=%r is not a database name (no '=', no URI, at most 63 characters)"
                          % (param, value))
    return value


def backup_basename(app, environment, started, directory=None):
    """``<app>_<env>_<UTC timestamp>``; a suffix ``-N`` keeps two backups in one second apart."""
    base = "%s_%s_%s" % (check_name("app", app), check_name("environment", environment),
                         started.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    if directory is None:
        return base
    name, n = base, 1
    while any(os.path.lexists(os.path.join(directory, name + s)) for s in list(ARCHIVE_SUFFIX.values()) +
              [MANIFEST_SUFFIX]):
        n += 1
        name = "%s-%d" % (base, n)
    return name


def manifest_path(directory, name):
    return os.path.join(directory, name + MANIFEST_SUFFIX)


# ---------------------------------------------------------------------------------------------
# checksums
# ---------------------------------------------------------------------------------------------
def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_digest(file_sums):
    """One checksum for a directory-format archive: sha256 over sorted ``name\\0sha\\n`` lines."""
    h = hashlib.sha256()
    for name in sorted(file_sums):
        h.update(("%s\0%s\n" % (name, file_sums[name])).encode())
    return h.hexdigest()


def checksum_archive(path, fmt):
    """(sha256, size, per-file sums or None) of an archive as it is on disk now."""
    if fmt == "directory":
        sums, size = {}, 0
        for entry in sorted(os.listdir(path)):
            full = os.path.join(path, entry)
            sums[entry] = sha256_file(full)
            size += os.path.getsize(full)
        return tree_digest(sums), size, sums
    return sha256_file(path), os.path.getsize(path), None


# ---------------------------------------------------------------------------------------------
# running the client tools
# ---------------------------------------------------------------------------------------------
def libpq_env(conn):
    """Environment for pg_dump/pg_restore/psql: the password goes here, never on a command line."""
    env = dict(os.environ)
    mapping = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD"}
    for key, var in mapping.items():
        if conn.get(key) not in (None, ""):
            env[var] = str(conn[key])
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    return env


def pg_dump_argv(pg_bin, fmt, database, compress_level, jobs=1, output=None, snapshot=None, lock_wait_timeout=None):
    """pg_dump's argv. ``lock_wait_timeout`` (seconds) makes pg_dump fail instead of waiting forever for the
    ACCESS SHARE locks it takes on every table at start (a migration's ACCESS EXCLUSIVE lock, a long ALTER)."""
    if fmt not in FORMATS:
        raise BackupError("validation", "format=%r; allowed: %s" % (fmt, ", ".join(FORMATS)))
    if not 0 <= int(compress_level) <= 9:
        raise BackupError("validation", "compress_level=%r; allowed: 0-9" % (compress_level,))
    argv = [os.path.join(pg_bin, "pg_dump") if pg_bin else "pg_dump", "--no-password", "-d", database,
            "-Z", str(int(compress_level))]
    if snapshot:
        argv += ["--snapshot", snapshot]
    if lock_wait_timeout:
        argv += ["--lock-wait-timeout=%ds" % max(1, int(lock_wait_timeout))]
    if fmt == "custom":
        argv += ["-Fc"]
    elif fmt == "plain_gz":
        # PostgreSQL 15: plain format with -Z>0 writes the whole script gzip-compressed (the runbook's .sql.gz).
        argv += ["-Fp"]
        if int(compress_level) == 0:
            raise BackupError("validation", "format=plain_gz needs compress_level 1-9")
    else:
        argv += ["-Fd", "-j", str(max(1, int(jobs))), "-f", output]
    return argv


def _tool(pg_bin, name):
    return os.path.join(pg_bin, name) if pg_bin else name


def _drain(stream, sink):
    sink.append(stream.read())


def stream_to_file(argv, env, out_path, timeout, step="pg_dump", lock_wait_timeout=None):
    """Run ``argv``, writing its stdout to ``out_path`` while hashing it. Returns (sha256, size).

    The file is written as ``<out_path>.partial`` and renamed only after the tool succeeded and the
    data is fsynced, so a failed dump never leaves a file that looks like a backup. ``timeout`` is a
    watchdog: the tool is killed when it runs longer, whether or not it is writing (a pg_dump waiting
    for a lock writes nothing at all).
    """
    partial = out_path + ".partial"
    h = hashlib.sha256()
    size = 0
    errors = []
    started = time.monotonic()
    deadline = started + timeout
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    except OSError as exc:
        raise BackupError(step, "cannot run %s: %s" % (argv[0], exc)) from exc
    reader = threading.Thread(target=_drain, args=(proc.stderr, errors))
    reader.daemon = True
    reader.start()
    fd = proc.stdout.fileno()
    try:
        try:
            fh = open(partial, "wb")  # noqa: SIM115 - closed by the ``with fh`` right below
        except OSError as exc:
            raise BackupError("write", exc.strerror or str(exc), partial) from exc
        with fh:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BackupError(step, _timeout_text(timeout, size))
                ready = select.select([fd], [], [], min(remaining, 5.0))[0]
                if not ready:
                    continue
                chunk = os.read(fd, CHUNK)
                if not chunk:
                    break
                h.update(chunk)
                size += len(chunk)
                try:
                    fh.write(chunk)
                except OSError as exc:
                    raise BackupError("write", exc.strerror or str(exc), partial) from exc
            try:
                fh.flush()
                os.fsync(fh.fileno())
            except OSError as exc:
                raise BackupError("write", exc.strerror or str(exc), partial) from exc
        try:
            rc = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise BackupError(step, _timeout_text(timeout, size)) from None
        reader.join(timeout=10)
        if rc != 0:
            raise BackupError(step, _exit_text(rc, errors, lock_wait_timeout))
        os.rename(partial, out_path)
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    return h.hexdigest(), size


def _timeout_text(timeout, size):
    text = "timed out after %ss with %d bytes written; the process was killed" % (timeout, size)
    if not size:
        text += " (it wrote nothing: waiting for a lock or an unresponsive server?)"
    return text


def _exit_text(rc, errors, lock_wait_timeout=None):
    text = _stderr_text(errors)
    # pg_dump --lock-wait-timeout runs its LOCK TABLE under a statement_timeout; lock_timeout says "lock timeout".
    if ("LOCK TABLE" in text and "timeout" in text) or "lock timeout" in text or "could not obtain lock" in text:
        return ("could not lock the tables within %ss (lock wait timeout): another session holds a conflicting "
                "lock, for example a migration's ACCESS EXCLUSIVE lock or an open ALTER TABLE; pg_dump exit code %d: "
                "%s" % (lock_wait_timeout, rc, text))
    return "exit code %d: %s" % (rc, text)


def _stderr_text(errors):
    text = b"".join(e for e in errors if e).decode("utf-8", "replace").strip()
    return text[-2000:] or "(no output)"


def run_tool(argv, env, timeout, step, stdin=None, lock_wait_timeout=None):
    """Run a client tool to completion; raise BackupError naming the step on failure. Returns stdout."""
    try:
        proc = subprocess.run(argv, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise BackupError(step, "timed out after %ss; the process was killed" % timeout) from None
    except OSError as exc:
        raise BackupError(step, "cannot run %s: %s" % (argv[0], exc)) from exc
    if proc.returncode != 0:
        raise BackupError(step, _exit_text(proc.returncode, [proc.stderr], lock_wait_timeout))
    return proc.stdout.decode("utf-8", "replace")


# ---------------------------------------------------------------------------------------------
# database session: row counts in the dump's own snapshot
# ---------------------------------------------------------------------------------------------
def connect(conn, database):
    """A DB-API connection (psycopg 3, else psycopg2: the drivers community.postgresql also uses), autocommit."""
    params = dict(host=conn.get("host") or None, port=conn.get("port") or None, user=conn.get("user") or None,
                  password=conn.get("password") or None, dbname=database, connect_timeout=10)
    params = dict((k, v) for k, v in params.items() if v is not None)
    try:
        import psycopg
        error_types = (psycopg.Error,)
        connect_fn = psycopg.connect
    except ImportError:
        try:
            import psycopg2 as psycopg
        except ImportError:
            raise BackupError("connect", "neither psycopg (3) nor psycopg2 is installed on this host") from None
        error_types = (psycopg.Error,)
        connect_fn = psycopg.connect
    try:
        db = connect_fn(**params)
    except error_types as exc:
        raise BackupError("connect", str(exc).strip(), "%s:%s/%s" % (params.get("host", "local"),
                                                                     params.get("port", 5432), database)) from exc
    db.autocommit = True
    return db


def count_rows(cursor, tables):
    """{table: rows} for the given (optionally schema-qualified) table names, as the cursor's snapshot sees them."""
    counts = {}
    for table in tables:
        try:
            # regclass resolves the name through search_path and quotes it safely for the count below.
            cursor.execute("SELECT %s::regclass::text", (table,))
            quoted = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM " + quoted)
            counts[table] = int(cursor.fetchone()[0])
        except Exception as exc:  # the driver's error types differ between psycopg 2 and 3
            text = str(exc).strip().splitlines()[0]
            if "lock timeout" in text:
                text = ("could not lock the table within the lock wait timeout: another session holds a conflicting "
                        "lock, for example a migration's ACCESS EXCLUSIVE lock (%s)" % text)
            raise BackupError("row count", text, table) from exc
    return counts


class SnapshotSession:
    """A read-only REPEATABLE READ transaction whose snapshot pg_dump reuses (``--snapshot``), so the
    manifest's row counts describe exactly the data in the archive even while the app keeps writing.
    """

    def __init__(self, conn, database, lock_wait_timeout=None):
        self.db = connect(conn, database)
        cur = self.db.cursor()
        # Counting a table another session holds ACCESS EXCLUSIVE would otherwise wait forever.
        if lock_wait_timeout:
            cur.execute("SELECT set_config('lock_timeout', %s, false)", ("%ds" % max(1, int(lock_wait_timeout)),))
        cur.execute("SELECT current_setting('server_version'), pg_database_size(current_database())")
        self.server_version, self.database_size = cur.fetchone()
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cur.execute("SELECT pg_export_snapshot()")
        self.snapshot = cur.fetchone()[0]
        self.cursor = cur

    def row_counts(self, tables):
        return count_rows(self.cursor, tables)

    def close(self):
        try:
            self.cursor.execute("COMMIT")
        finally:
            self.db.close()


def database_row_counts(conn, database, tables):
    db = connect(conn, database)
    try:
        return count_rows(db.cursor(), tables)
    finally:
        db.close()


# ---------------------------------------------------------------------------------------------
# preflight, dump, verify
# ---------------------------------------------------------------------------------------------
def preflight(directory, required_bytes=0):
    """The backup directory exists, takes a write, and has ``required_bytes`` free. Returns free bytes."""
    check_directory("preflight", directory)
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=directory)
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise BackupError("preflight", "backup directory is not writable: %s" % (exc.strerror or exc),
                          directory) from exc
    st = os.statvfs(directory)
    free = st.f_bavail * st.f_frsize
    if free < required_bytes:
        raise BackupError("preflight", "backup directory has %d bytes free, %d needed (disk full?)"
                          % (free, required_bytes), directory)
    return free


def verify_readable(pg_bin, path, fmt, mode="list", env=None, timeout=3600):
    """Prove the archive can be read back. Returns a sentence saying what was checked.

    ``list`` reads the table of contents (``pg_restore --list``) or, for .sql.gz, decompresses the whole
    file (gzip CRC) and checks pg_dump's closing line. ``full`` additionally reads every data block of a
    custom/directory archive (``pg_restore -f /dev/null``), which catches truncation after the TOC.
    """
    if fmt == "plain_gz":
        tail = b""
        total = 0
        try:
            with gzip.open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(CHUNK), b""):
                    total += len(chunk)
                    tail = (tail + chunk)[-4096:]
        except (OSError, EOFError, ValueError) as exc:
            raise BackupError("verify", "gzip stream is damaged: %s" % exc, path) from exc
        if PLAIN_DUMP_TRAILER not in tail:
            raise BackupError("verify", "SQL script is incomplete (no pg_dump completion line)", path)
        return "gzip stream intact (%d bytes of SQL) and pg_dump completion line present" % total
    out = run_tool([_tool(pg_bin, "pg_restore"), "--list", path], env, timeout, "verify")
    entries = [line for line in out.splitlines() if line and not line.startswith(";")]
    if not entries:
        raise BackupError("verify", "archive has an empty table of contents", path)
    text = "pg_restore --list read %d TOC entries" % len(entries)
    if mode == "full":
        run_tool([_tool(pg_bin, "pg_restore"), "-f", os.devnull, path], env, timeout, "verify")
        text += "; pg_restore read every data block"
    return text


def create_backup(conn, database, directory, app, environment, release="", fmt="custom", compress_level=1, jobs=1,
                  pg_bin="", verify_mode="list", key_tables=(), pending_checks=None, free_space_ratio=0.0,
                  timeout=6 * 3600, lock_wait_timeout=300):
    """Dump ``database`` into ``directory``, verify it, and write its manifest. Returns the manifest.

    Row counts of ``key_tables`` come from the very snapshot pg_dump uses. The directory must have
    ``free_space_ratio`` x database size free before anything is written. ``pending_checks`` (e.g.
    ["test_restore"]) leaves ``verified`` false until they are recorded with ``record_check``: a backup
    nobody could restore must never be chosen for a restore.

    ``lock_wait_timeout`` (seconds, capped at ``timeout``) bounds the wait for table locks, in the row-count
    session and in pg_dump; ``timeout`` bounds the whole dump, silent or not.
    """
    check_database("database", database)
    check_name("app", app)
    check_name("environment", environment)
    # Below the overall timeout, so a lock wait ends with pg_dump's own clear error rather than the watchdog.
    lock_wait = min(int(lock_wait_timeout or timeout), max(1, int(timeout) - max(1, int(timeout) // 10)))
    if fmt not in FORMATS:
        raise BackupError("validation", "format=%r; allowed: %s" % (fmt, ", ".join(FORMATS)))
    if verify_mode not in ("list", "full"):
        raise BackupError("validation", "verify_mode=%r; allowed: list, full" % (verify_mode,))
    pg_dump_argv(pg_bin, fmt, database, compress_level, jobs, output="-")  # validates level/format early
    if float(free_space_ratio) < 0:
        raise BackupError("validation", "free_space_ratio=%r: must be 0 (no check) or more" % (free_space_ratio,))
    check_directory("preflight", directory)
    started = utc_now()
    t0 = time.monotonic()
    session = SnapshotSession(conn, database, lock_wait_timeout=lock_wait)
    try:
        preflight(directory, int(session.database_size * float(free_space_ratio)))
        row_counts = session.row_counts(key_tables)
        name = backup_basename(app, environment, started, directory)
        archive = name + ARCHIVE_SUFFIX[fmt]
        path = os.path.join(directory, archive)
        env = libpq_env(dict(conn, dbname=database))
        if fmt == "directory":
            partial = path + ".partial"
            try:
                run_tool(pg_dump_argv(pg_bin, fmt, database, compress_level, jobs, output=partial,
                                      snapshot=session.snapshot, lock_wait_timeout=lock_wait), env, timeout,
                         "pg_dump", lock_wait_timeout=lock_wait)
                os.rename(partial, path)
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
            sha, size, files = checksum_archive(path, fmt)
        else:
            argv = pg_dump_argv(pg_bin, fmt, database, compress_level, jobs, snapshot=session.snapshot,
                                lock_wait_timeout=lock_wait)
            sha, size = stream_to_file(argv, env, path, timeout, lock_wait_timeout=lock_wait)
            files = None
    finally:
        session.close()
    dumped = time.monotonic()
    try:
        readable = verify_readable(pg_bin, path, fmt, verify_mode, env, timeout)
    except BackupError:
        remove_archive(path)
        raise
    pending = list(pending_checks or [])
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "name": name,
        "app": app,
        "environment": environment,
        "release": release or "",
        "database": database,
        "db_host": "%s:%s" % (conn.get("host") or "local", conn.get("port") or 5432),
        "server_version": session.server_version,
        "database_size_bytes": int(session.database_size),
        "format": fmt,
        "compress_level": int(compress_level),
        "jobs": int(jobs) if fmt == "directory" else 1,
        "archive": archive,
        "size_bytes": size,
        "sha256": sha,
        "files": files,
        "started_at": iso(started),
        "finished_at": iso(utc_now()),
        "duration_seconds": round(time.monotonic() - t0, 3),
        "dump_seconds": round(dumped - t0, 3),
        "row_counts": row_counts,
        "verification": {"checksum": "sha256 computed while writing", "readable": readable},
        "pending_checks": pending,
        "verified": not pending,
        "warnings": [] if key_tables else [NO_KEY_TABLES_WARNING],
    }
    try:
        write_manifest(directory, manifest)
    except OSError as exc:
        remove_archive(path)
        raise BackupError("write", "cannot write manifest: %s" % (exc.strerror or exc), directory) from exc
    return manifest


def write_manifest(directory, manifest):
    path = manifest_path(directory, manifest["name"])
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.rename(tmp, path)
    return path


def remove_archive(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def record_check(directory, name, check, result):
    """Record a named check (e.g. test_restore) in a manifest; ``verified`` once none is pending.

    ``result`` must carry ``ok`` (bool). Returns (manifest, changed).
    """
    if not check or not str(check).strip():
        raise BackupError("validation", "check is empty: name the check to record, for example test_restore")
    manifest = read_manifest(directory, name)
    old = json.dumps(manifest, sort_keys=True)
    manifest.setdefault("verification", {})[check] = result
    pending = [c for c in manifest.get("pending_checks", []) if c != check]
    if not result.get("ok"):
        pending = sorted(set(pending) | {check})
    manifest["pending_checks"] = pending
    manifest["verified"] = not pending and all(
        v.get("ok", True) for v in manifest["verification"].values() if isinstance(v, dict))
    changed = json.dumps(manifest, sort_keys=True) != old
    return manifest, changed


def compare_row_counts(expected, actual):
    """Differences between two {table: rows} maps, as readable strings (empty list = equal)."""
    diffs = []
    for table in sorted(set(expected) | set(actual)):
        want, got = expected.get(table), actual.get(table)
        if want is None or got is None or int(want) != int(got):
            diffs.append("%s: manifest %s, restored %s" % (table, want, got))
    return diffs


# ---------------------------------------------------------------------------------------------
# catalogue: reading manifests, choosing a backup, retention
# ---------------------------------------------------------------------------------------------
def read_manifest(directory, name):
    path = manifest_path(directory, name)
    try:
        with open(path) as fh:
            return json.load(fh)
    except OSError as exc:
        raise BackupError("manifest", "cannot read: %s" % (exc.strerror or exc), path) from exc
    except ValueError as exc:
        raise BackupError("manifest", "not valid JSON: %s" % exc, path) from exc


def list_backups(directory, app=None, environment=None):
    """Manifests in ``directory`` of one app/environment, oldest first.

    Both names are required: an empty one would match every app's backups (retention would delete them).
    """
    check_name("app", app)
    check_name("environment", environment)
    check_directory("catalogue", directory)
    found = []
    for entry in os.listdir(directory):
        if not entry.endswith(MANIFEST_SUFFIX):
            continue
        try:
            manifest = read_manifest(directory, entry[:-len(MANIFEST_SUFFIX)])
        except BackupError:
            continue  # an unreadable manifest is never a restore candidate
        if manifest.get("app") != app or manifest.get("environment") != environment:
            continue
        found.append(manifest)
    found.sort(key=lambda m: (m.get("started_at", ""), m.get("name", "")))
    return found


def select_backup(directory, app, environment, name=None, allow_unverified=False, database=None):
    """The named backup, or the newest verified one for app/environment.

    A named backup must be verified too (a test restore still pending, or failed, means nobody knows it restores)
    unless ``allow_unverified`` says the caller accepts that risk. With ``database`` (the database the restore is
    for) the chosen backup must be a backup of that database, or it is refused (see check_restore_target).
    """
    check_name("app", app)
    check_name("environment", environment)
    if name:
        manifest = read_manifest(directory, name)
        if manifest.get("app") != app or manifest.get("environment") != environment:
            raise BackupError("select", "backup %s belongs to %s/%s, not %s/%s" % (
                name, manifest.get("app"), manifest.get("environment"), app, environment), directory)
        if not manifest.get("verified") and not allow_unverified:
            raise BackupError("select", "backup %s is not verified (pending checks: %s), refusing it; set "
                              "allow_unverified (role variable restore_allow_unverified) to restore it anyway" % (
                                  name, ", ".join(manifest.get("pending_checks") or []) or "none recorded"), directory)
    else:
        verified = [m for m in list_backups(directory, app, environment) if m.get("verified")]
        if not verified:
            raise BackupError("select", "no verified backup for %s/%s" % (app, environment), directory)
        manifest = verified[-1]
    if database is not None:
        check_restore_target(manifest, database, app, environment)
    return manifest


def check_restore_target(manifest, database, app=None, environment=None):
    """Refuse to restore ``manifest``'s backup for ``database`` unless it is a backup of exactly that database
    (and of ``app``/``environment`` when given). Runs before anything is created, renamed or dropped.

    ``database`` is the database the restored data is for: the live one it replaces (a role restores into a
    scratch copy first and passes the live name here) or the target itself.
    """
    name = manifest.get("name", "?")
    check_identifier("database", database)
    if database in MAINTENANCE_DATABASES:
        raise BackupError("target", "database=%r is PostgreSQL's maintenance or template database, never a "
                          "restore target" % database)
    for field in ("app", "environment", "database"):
        if not isinstance(manifest.get(field), str) or not manifest.get(field):
            raise BackupError("target", "the manifest of backup %s records no %s, so nothing proves what it is a "
                              "backup of; refusing it" % (name, field))
    for param, wanted in (("app", app), ("environment", environment)):
        if wanted is None:
            continue
        check_name(param, wanted)
        if manifest[param] != wanted:
            raise BackupError("target", "backup %s is of %s %s, not %s=%s; refusing it" % (
                name, param, manifest[param], param, wanted))
    if manifest["database"] != database:
        raise BackupError("target", "backup %s is a backup of database %s (app %s, environment %s), not of the "
                          "target database %s; refusing to restore it there" % (
                              name, manifest["database"], manifest["app"], manifest["environment"], database))
    return manifest


def verify_checksum(directory, manifest):
    """Refuse an archive whose bytes differ from what the manifest recorded (damaged, truncated, swapped)."""
    path = os.path.join(directory, manifest["archive"])
    if not os.path.exists(path):
        raise BackupError("checksum", "archive is missing", path)
    sha, size, files = checksum_archive(path, manifest["format"])
    if size != manifest["size_bytes"] or sha != manifest["sha256"]:
        detail = "size %d (manifest %d), sha256 %s (manifest %s)" % (
            size, manifest["size_bytes"], sha, manifest["sha256"])
        if files and manifest.get("files"):
            bad = sorted(f for f in set(files) | set(manifest["files"]) if files.get(f) != manifest["files"].get(f))
            detail += "; files that differ: %s" % ", ".join(bad)
        raise BackupError("checksum", "archive does not match its manifest, refusing it: " + detail, path)
    return path


def plan_retention(manifests, keep_last=0, max_age_days=0, now=None, protect=()):
    """Which backups to delete. Newest first, a backup survives when it is among the newest ``keep_last``
    or younger than ``max_age_days`` (0 disables a rule; both 0 keeps everything). The newest verified
    backup and the names in ``protect`` always survive, so the last way back is never deleted.
    """
    if not keep_last and not max_age_days:
        return []
    now = now or utc_now()
    newest_first = sorted(manifests, key=lambda m: (m.get("started_at", ""), m.get("name", "")), reverse=True)
    verified = [m for m in newest_first if m.get("verified")]
    keep = set(protect)
    if verified:
        keep.add(verified[0]["name"])
    doomed = []
    for index, m in enumerate(newest_first):
        if m["name"] in keep:
            continue
        within_count = bool(keep_last) and index < keep_last
        age_days = (now - parse_iso(m["started_at"])).total_seconds() / 86400.0
        within_age = bool(max_age_days) and age_days <= max_age_days
        # With both rules set a backup must satisfy both; with one, that one.
        rules = [r for r, on in ((within_count, keep_last), (within_age, max_age_days)) if on]
        if not all(rules):
            doomed.append(m)
    return doomed


def delete_backup(directory, manifest):
    remove_archive(os.path.join(directory, manifest["archive"]))
    os.unlink(manifest_path(directory, manifest["name"]))


# ---------------------------------------------------------------------------------------------
# restore
# ---------------------------------------------------------------------------------------------
def check_empty_target(conn, target_db):
    """``target_db`` exists and holds no table, view, sequence or function of its own (a fresh database)."""
    check_identifier("database", target_db)
    if target_db in MAINTENANCE_DATABASES:
        raise BackupError("target", "database=%r is PostgreSQL's maintenance or template database, never a "
                          "restore target" % target_db)
    try:
        db = connect(conn, target_db)
    except BackupError as exc:
        if "does not exist" in str(exc):
            raise BackupError("target", "database %s does not exist; create it empty first (the restore role "
                              "does, beside the live one)" % target_db) from exc
        raise
    try:
        cur = db.cursor()
        cur.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'")
        relations = int(cur.fetchone()[0])
    finally:
        db.close()
    if relations:
        raise BackupError("target", "database %s is not empty (%d relations); a restore only goes into a fresh "
                          "database" % (target_db, relations))


def restore_archive(conn, directory, manifest, target_db, pg_bin="", jobs=1, timeout=6 * 3600,
                    check_row_counts=True, expected_database=None, app=None, environment=None):
    """Restore a checksum-verified archive into the existing, empty ``target_db``; stop at the first error,
    then compare the manifest's row counts with the restored ones.

    The backup must be of ``expected_database`` (default ``target_db``), and of ``app``/``environment`` when
    given; ``target_db`` must exist, be empty and not be a maintenance database. All of that is checked before
    pg_restore runs. Returns {"seconds": restore time, "row_counts": {...}}; raises BackupError on any difference.
    """
    check_identifier("database", target_db)
    check_restore_target(manifest, target_db if expected_database is None else expected_database, app, environment)
    path = verify_checksum(directory, manifest)
    check_empty_target(conn, target_db)
    env = libpq_env(dict(conn, dbname=target_db))
    t0 = time.monotonic()
    if manifest["format"] == "plain_gz":
        psql = [_tool(pg_bin, "psql"), "--no-password", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
                "-d", target_db, "-o", os.devnull]
        gunzip = subprocess.Popen(["gzip", "-dc", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            run_tool(psql, env, timeout, "restore", stdin=gunzip.stdout)
        finally:
            gunzip.stdout.close()
            gunzip_rc = gunzip.wait(timeout=60)
        if gunzip_rc != 0:
            raise BackupError("restore", "gzip -dc failed: %s" % gunzip.stderr.read().decode("utf-8", "replace"), path)
    else:
        argv = [_tool(pg_bin, "pg_restore"), "--no-password", "--exit-on-error", "-d", target_db]
        if int(jobs) > 1:
            argv += ["-j", str(int(jobs))]
        else:
            argv += ["--single-transaction"]
        run_tool(argv + [path], env, timeout, "restore")
    seconds = round(time.monotonic() - t0, 3)
    counts = {}
    if check_row_counts and manifest.get("row_counts"):
        counts = database_row_counts(conn, target_db, sorted(manifest["row_counts"]))
        diffs = compare_row_counts(manifest["row_counts"], counts)
        if diffs:
            raise BackupError("row count check", "restored rows differ from the manifest: " + "; ".join(diffs),
                              target_db)
    return {"seconds": seconds, "row_counts": counts}


# ---------------------------------------------------------------------------------------------
# shared by the modules
# ---------------------------------------------------------------------------------------------
def connection_argument_spec():
    """The login_* / pg_bin_dir options of the modules that connect (doc fragments greenlang.launch.pg_connection
    and greenlang.launch.pg_connection.client_tools)."""
    return dict(
        login_host=dict(type="str", default="localhost"),
        login_port=dict(type="int", default=5432),
        login_user=dict(type="str", default="postgres"),
        login_password=dict(type="str", default="", no_log=True),
        **client_tools_argument_spec()
    )


def backup_scope_argument_spec():
    """app / environment / directory: whose backups, where (doc fragment greenlang.launch.backup_scope)."""
    return dict(
        app=dict(type="str", required=True),
        environment=dict(type="str", required=True),
        directory=dict(type="path", required=True),
    )


def client_tools_argument_spec():
    """pg_bin_dir alone (doc fragment greenlang.launch.pg_connection.client_tools)."""
    return dict(pg_bin_dir=dict(type="path", default=""))


def backup_ref_argument_spec():
    """The directory / name options naming one backup already taken (doc fragment greenlang.launch.pg_backup_ref)."""
    return dict(
        directory=dict(type="path", required=True),
        name=dict(type="str", required=True),
    )


def connection_from_params(params):
    return {"host": params.get("login_host"), "port": params.get("login_port"), "user": params.get("login_user"),
            "password": params.get("login_password")}


DATABASE_DEFAULTS = {"host": "localhost", "port": 5432, "user": "postgres", "password": ""}


def login_options(database):
    """login_* options (for module_defaults group/greenlang.launch.postgresql) from a database dict as the
    inventory's launch_databases.<app> holds it: {name, host, port, user, password}; missing keys get defaults."""
    if not isinstance(database, dict):
        raise ValueError("expected a dict {name, host, port, user, password}, got %s" % type(database).__name__)
    unknown = sorted(set(database) - set(DATABASE_DEFAULTS) - {"name"})
    if unknown:
        raise ValueError("unknown database keys %s; allowed: name, host, port, user, password" % ", ".join(unknown))
    merged = dict(DATABASE_DEFAULTS, **dict((k, v) for k, v in database.items() if v is not None))
    return {"login_host": str(merged["host"]), "login_port": int(merged["port"]), "login_user": str(merged["user"]),
            "login_password": "" if merged["password"] is None else str(merged["password"])}

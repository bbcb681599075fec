# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""PostgreSQL switchover, failover and failback: the decisions and the steps, as plain Python.

The modules pg_replication_check, pg_replication_fence, pg_replication_promote and pg_replication_rejoin
are thin wrappers around this file, and bench/dr.py drives the same functions directly. Why our own
code: community.postgresql has no module that reads replication lag against a candidate, fences a data
directory (standby.signal before any restart), waits for a candidate to hold a given LSN before
pg_promote(), or runs pg_rewind; what it does have (postgresql_query, postgresql_set) is used by the role
for plain SQL.

Decisions are pure functions of status dicts (unit-tested without a server); the steps take a DB-API
connection factory and paths, run the PostgreSQL tools as the data directory's OS user, and return a
report with the measured times.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import pwd
import re
import signal
import subprocess
import time

STANDBY_SIGNAL = "standby.signal"
AUTO_CONF = "postgresql.auto.conf"
AUTO_CONF_MARK = "# greenlang.launch dr_failover"
SYNC_STATES = ("sync", "quorum")


class DRError(Exception):
    """A step failed; ``step`` names it and ``details`` holds what was measured."""

    def __init__(self, step, message, details=None):
        super(DRError, self).__init__(message)
        self.step = step
        self.details = details or {}


class Refused(DRError):
    """A pre-check refused the operation; nothing was changed."""


# ---------------------------------------------------------------------------------------------
# LSNs and sizes
# ---------------------------------------------------------------------------------------------
def lsn_to_int(lsn):
    """'16/B374D848' -> byte position; None stays None."""
    if lsn in (None, ""):
        return None
    hi, dummy_sep, lo = str(lsn).partition("/")
    if not lo or not re.match(r"^[0-9A-Fa-f]+$", hi) or not re.match(r"^[0-9A-Fa-f]+$", lo):
        raise ValueError("not an LSN: %r" % (lsn,))
    return (int(hi, 16) << 32) + int(lo, 16)


def int_to_lsn(value):
    return "%X/%X" % (value >> 32, value & 0xFFFFFFFF)


def human_bytes(n):
    if n is None:
        return "unknown"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= size:
            return "%.1f %s" % (n / float(size), unit)
    return "%d bytes" % n


# ---------------------------------------------------------------------------------------------
# reading a node
# ---------------------------------------------------------------------------------------------
SETTINGS = ("wal_log_hints", "data_checksums", "full_page_writes", "fsync", "synchronous_commit",
            "synchronous_standby_names", "cluster_name", "wal_level", "hot_standby")


def node_status(db):
    """What a node says about itself: role, WAL positions, replication, the settings DR depends on."""
    cur = db.cursor()
    cur.execute("SELECT pg_is_in_recovery()")
    in_recovery = bool(cur.fetchone()[0])
    cur.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", (list(SETTINGS),))
    settings = dict(cur.fetchall())
    cur.execute("SELECT timeline_id FROM pg_control_checkpoint()")
    status = {"in_recovery": in_recovery, "role": "standby" if in_recovery else "primary", "settings": settings,
              "timeline": cur.fetchone()[0], "replication": [], "receiver": None}
    if in_recovery:
        cur.execute("SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text, "
                    "pg_is_wal_replay_paused()")
        status["receive_lsn"], status["replay_lsn"], status["replay_paused"] = cur.fetchone()
        cur.execute("SELECT status, sender_host, sender_port, flushed_lsn::text, latest_end_lsn::text, "
                    "extract(epoch FROM now() - last_msg_receipt_time) FROM pg_stat_wal_receiver")
        row = cur.fetchone()
        if row:
            status["receiver"] = {"status": row[0], "sender_host": row[1], "sender_port": row[2],
                                  "flushed_lsn": row[3], "latest_end_lsn": row[4],
                                  "last_message_age_s": None if row[5] is None else round(float(row[5]), 3)}
    else:
        cur.execute("SELECT pg_current_wal_lsn()::text")
        status["current_lsn"] = cur.fetchone()[0]
        cur.execute("SELECT application_name, state, sync_state, sent_lsn::text, write_lsn::text, flush_lsn::text, "
                    "replay_lsn::text, host(client_addr) FROM pg_stat_replication ORDER BY application_name")
        cols = ("application_name", "state", "sync_state", "sent_lsn", "write_lsn", "flush_lsn", "replay_lsn",
                "client_addr")
        status["replication"] = [dict((cols[i], r[i]) for i in range(len(cols))) for r in cur.fetchall()]
    cur.close()
    return status


def rewind_ready(settings):
    """(ok, reason): pg_rewind needs full_page_writes and wal_log_hints or data checksums."""
    missing = []
    if settings.get("full_page_writes") != "on":
        missing.append("full_page_writes is %s (must be on)" % settings.get("full_page_writes"))
    if settings.get("wal_log_hints") != "on" and settings.get("data_checksums") != "on":
        missing.append("neither wal_log_hints nor data_checksums is on")
    return (not missing, "; ".join(missing))


def configured_synchronous(settings, name):
    """Whether synchronous_standby_names (as this node carries it) names ``name`` (or is '*')."""
    value = settings.get("synchronous_standby_names") or ""
    if not value.strip() or not name:
        return False
    listed = re.sub(r"^\s*(FIRST|ANY)\s+\d+\s*\(|\)\s*$", "", value, flags=re.I)
    names = [n.strip().strip('"') for n in listed.split(",")]
    return name in names or "*" in names


# ---------------------------------------------------------------------------------------------
# pre-checks (pure)
# ---------------------------------------------------------------------------------------------
def precheck(mode, primary, candidate, candidate_name, max_lag_bytes, force=False, require_rewind=False):
    """Decide whether ``candidate`` may take over. Returns the report; raises Refused saying why.

    ``primary`` is the old primary's node_status (None when unreachable: failover only), ``candidate``
    the candidate's. The lag is what the candidate has not replayed of the primary's WAL: promoting it
    would lose what it has not received and wait for what it has not replayed.
    """
    if mode not in ("switchover", "failover"):
        raise Refused("precheck", "mode must be switchover or failover, not %r" % (mode,))
    if not candidate["in_recovery"]:
        raise Refused("precheck", "candidate %s is not a standby (pg_is_in_recovery() is false): "
                      "it is already a primary" % candidate_name)
    report = {"mode": mode, "candidate": candidate_name, "forced": bool(force), "warnings": [],
              "primary_reachable": primary is not None, "lag_bytes": None, "sync_state": None}
    for who, node in (("candidate", candidate), ("primary", primary)):
        if node is None:
            continue
        ok, reason = rewind_ready(node["settings"])
        if not ok:
            text = "%s cannot be rewound later: %s (failback would copy it whole with pg_basebackup)" % (who, reason)
            if require_rewind:
                raise Refused("precheck", text)
            report["warnings"].append(text)
    if primary is None:
        if mode == "switchover":
            raise Refused("precheck", "switchover needs the primary reachable; use mode failover when it is gone")
        synchronous = configured_synchronous(candidate["settings"], candidate["settings"].get("cluster_name"))
        report["sync_state"] = "sync (configured)" if synchronous else "async (configured)"
        if not synchronous and not force:
            raise Refused("precheck", "the primary is unreachable and candidate %s is an asynchronous standby: how "
                          "many acknowledged commits it lacks cannot be measured; set force to promote it anyway"
                          % candidate_name, report)
        return report
    if primary["in_recovery"]:
        raise Refused("precheck", "the node given as primary is itself a standby")
    row = next((r for r in primary["replication"] if r["application_name"] == candidate_name), None)
    if row is None or row["state"] != "streaming":
        state = row["state"] if row else "not connected"
        if mode == "switchover" or not force:
            raise Refused("precheck", "candidate %s is not streaming from the primary (%s)%s" % (
                candidate_name, state, "" if mode == "switchover" else "; set force to promote it anyway"), report)
        report["warnings"].append("candidate %s is not streaming (%s); promoted because forced"
                                  % (candidate_name, state))
    current = lsn_to_int(primary["current_lsn"])
    replayed = lsn_to_int(candidate.get("replay_lsn")) or lsn_to_int(row and row["replay_lsn"]) or 0
    flushed = lsn_to_int(row and row["flush_lsn"])
    report.update({"primary_lsn": primary["current_lsn"], "candidate_replay_lsn": candidate.get("replay_lsn"),
                   "lag_bytes": max(current - replayed, 0),
                   "unflushed_bytes": None if flushed is None else max(current - flushed, 0),
                   "sync_state": row["sync_state"] if row else None})
    if report["sync_state"] not in SYNC_STATES and report["lag_bytes"] > max_lag_bytes:
        text = ("candidate %s is an asynchronous standby %s (%s bytes) behind the primary (max_lag_bytes %s): "
                "promoting it would lose up to that much acknowledged WAL" % (
                    candidate_name, human_bytes(report["lag_bytes"]), report["lag_bytes"], max_lag_bytes))
        if not force:
            raise Refused("precheck", text + "; refused, the primary keeps serving (set force to accept the loss)",
                          report)
        report["warnings"].append(text + "; accepted because forced")
    return report


# ---------------------------------------------------------------------------------------------
# data directory and server process (run as the data directory's owner)
# ---------------------------------------------------------------------------------------------
def as_owner(argv, os_user):
    """Prefix ``argv`` with runuser when running as root (PostgreSQL's tools refuse root)."""
    if os.geteuid() == 0 and os_user and os_user != "root":
        return ["runuser", "-u", os_user, "--"] + list(argv)
    return list(argv)


def run(argv, step, os_user, timeout, env=None):
    full_env = dict(os.environ, **(env or {}))
    try:
        proc = subprocess.run(as_owner(argv, os_user), capture_output=True, text=True, timeout=timeout,
                              env=full_env, check=False)
    except subprocess.TimeoutExpired:
        raise DRError(step, "%s timed out after %ss" % (os.path.basename(argv[0]), timeout)) from None
    except OSError as exc:
        raise DRError(step, "cannot run %s: %s" % (argv[0], exc)) from exc
    if proc.returncode != 0:
        raise DRError(step, "%s failed (rc=%d): %s" % (os.path.basename(argv[0]), proc.returncode,
                                                       (proc.stderr or proc.stdout).strip()[-1500:]))
    return proc.stdout


def postmaster_pid(data_dir):
    try:
        with open(os.path.join(data_dir, "postmaster.pid")) as fh:
            pid = int(fh.readline().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    try:  # a killed postmaster nobody has reaped yet is a zombie: gone for our purposes
        with open("/proc/%d/stat" % pid) as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return None
    except (OSError, IndexError):
        pass
    return pid


def controldata(bin_dir, data_dir, os_user, timeout=30):
    out = run([os.path.join(bin_dir, "pg_controldata"), "-D", data_dir], "pg_controldata", os_user, timeout,
              env={"LC_ALL": "C"})
    return dict((k.strip(), v.strip()) for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line))


def _chown_like(path, data_dir):
    st = os.stat(data_dir)
    if os.geteuid() == 0:
        os.chown(path, st.st_uid, st.st_gid)


def quote_conf(value):
    return "'" + str(value).replace("'", "''") + "'"


def standby_config_state(data_dir, primary_conninfo):
    """(has standby.signal, primary_conninfo as our marked line says) of a data directory."""
    signal_file = os.path.exists(os.path.join(data_dir, STANDBY_SIGNAL))
    current = None
    try:
        with open(os.path.join(data_dir, AUTO_CONF)) as fh:
            lines = fh.read().splitlines()
    except OSError:
        lines = []
    for i, line in enumerate(lines):
        if line == AUTO_CONF_MARK and i + 1 < len(lines):
            current = lines[i + 1]
    wanted = "primary_conninfo = %s" % quote_conf(primary_conninfo)
    return signal_file, current == wanted


def write_standby_config(data_dir, primary_conninfo):
    """standby.signal and primary_conninfo (last in postgresql.auto.conf, so it wins). Returns changed.

    Written with the server stopped or before it restarts: the next start is as a standby, never as a primary.
    """
    has_signal, has_conninfo = standby_config_state(data_dir, primary_conninfo)
    if has_signal and has_conninfo:
        return False
    auto = os.path.join(data_dir, AUTO_CONF)
    try:
        with open(auto) as fh:
            lines = fh.read().splitlines()
    except OSError:
        lines = []
    kept, skip = [], False
    for line in lines:
        if skip:
            skip = False
            continue
        if line == AUTO_CONF_MARK:
            skip = True
            continue
        kept.append(line)
    kept += [AUTO_CONF_MARK, "primary_conninfo = %s" % quote_conf(primary_conninfo)]
    tmp = auto + ".dr-tmp"
    with open(tmp, "w") as fh:
        fh.write("\n".join(kept) + "\n")
    os.chmod(tmp, 0o600)
    _chown_like(tmp, data_dir)
    os.replace(tmp, auto)
    sig = os.path.join(data_dir, STANDBY_SIGNAL)
    if not os.path.exists(sig):
        open(sig, "w").close()
        _chown_like(sig, data_dir)
    return True


def conninfo(host, port, user, password=None, application_name=None, dbname=None):
    parts = [("host", host), ("port", port), ("user", user), ("password", password),
             ("application_name", application_name), ("dbname", dbname)]
    return " ".join("%s=%s" % (k, quote_conf(v)) for k, v in parts if v not in (None, ""))


def start_server(bin_dir, data_dir, os_user, server_options="", log_file=None, timeout=60):
    # Always a log file: without one the server inherits pg_ctl's output pipes and holds them open.
    argv = [os.path.join(bin_dir, "pg_ctl"), "-D", data_dir, "-w", "-t", str(int(timeout)),
            "-l", log_file or os.path.join(data_dir, "server.log")]
    if server_options:
        argv += ["-o", server_options]
    run(argv + ["start"], "start", os_user, timeout + 15)


def stop_server(bin_dir, data_dir, os_user, timeout=30, kill=True):
    """Fast shutdown (standbys get the shutdown checkpoint), then immediate, then SIGKILL. Returns how."""
    if postmaster_pid(data_dir) is None:
        return "not running"
    for mode in ("fast", "immediate"):
        try:
            run([os.path.join(bin_dir, "pg_ctl"), "-D", data_dir, "-m", mode, "-w", "-t", str(int(timeout)), "stop"],
                "stop", os_user, timeout + 10)
            return mode
        except DRError:
            if postmaster_pid(data_dir) is None:
                return mode
    pid = postmaster_pid(data_dir)
    if pid and kill:
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while postmaster_pid(data_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        return "SIGKILL"
    raise DRError("stop", "the server in %s did not stop" % data_dir)


# ---------------------------------------------------------------------------------------------
# the steps
# ---------------------------------------------------------------------------------------------
def _now():
    return time.time()


def fence(data_dir, bin_dir, os_user, new_primary_conninfo, connect=None, timeout=30, check_mode=False):
    """Make the old primary unable to accept writes, now and after any restart.

    standby.signal and primary_conninfo (pointing at the new primary) go in first, then the server stops
    (fast: its standbys receive everything up to the shutdown checkpoint, then lose their sender). A
    restarted old primary comes up as a standby: read-only. Returns the report (changed, actions,
    shutdown_checkpoint_lsn when it shut down cleanly).
    """
    started = _now()
    report = {"data_dir": data_dir, "actions": [], "detached_standbys": [], "started": started}
    running = postmaster_pid(data_dir) is not None
    if not os.path.isdir(data_dir):
        raise DRError("fence", "data directory %s is not there: fence the host another way (power off, "
                      "security group) before promoting" % data_dir)
    if running and connect is not None and not check_mode:
        try:
            db = connect()
            try:
                st = node_status(db)
                report["detached_standbys"] = [r["application_name"] for r in st["replication"]]
                report["was_in_recovery"] = st["in_recovery"]
                if not st["in_recovery"]:
                    # Writes still flow during this checkpoint; the shutdown checkpoint after it has little to
                    # flush, so the stop (the start of the write outage) is short.
                    db.cursor().execute("CHECKPOINT")
                    report["checkpoint_s"] = round(_now() - started, 3)
            finally:
                db.close()
        except Exception as exc:  # an unresponsive primary is fenced by stopping it all the same
            report["status_error"] = str(exc).strip()
    report["fence_started"] = _now()
    has_signal, has_conninfo = standby_config_state(data_dir, new_primary_conninfo)
    if not (has_signal and has_conninfo):
        report["actions"].append("write standby.signal and primary_conninfo")
    if running:
        report["actions"].append("stop the server")
    report["changed"] = bool(report["actions"])
    if check_mode:
        report["ended"] = _now()
        return report
    if not (has_signal and has_conninfo):
        write_standby_config(data_dir, new_primary_conninfo)
    if running:
        report["stopped_by"] = stop_server(bin_dir, data_dir, os_user, timeout)
    if postmaster_pid(data_dir) is not None:
        raise DRError("fence", "the old primary in %s is still running" % data_dir, report)
    control = controldata(bin_dir, data_dir, os_user)
    report["cluster_state"] = control.get("Database cluster state")
    if report["cluster_state"] == "shut down":
        report["shutdown_checkpoint_lsn"] = control.get("Latest checkpoint location")
    report["ended"] = _now()
    return report


def wait_for_lsn(connect, target_lsn, timeout, poll=0.05):
    """Wait until the standby has received (flushed) past ``target_lsn`` and replayed all it received."""
    target = lsn_to_int(target_lsn) if target_lsn else None
    deadline = time.monotonic() + timeout
    last = None
    db = connect()
    try:
        cur = db.cursor()
        while True:
            cur.execute("SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text, "
                        "pg_is_wal_replay_paused()")
            received, replayed, paused = cur.fetchone()
            last = {"receive_lsn": received, "replay_lsn": replayed}
            if paused:
                cur.execute("SELECT pg_wal_replay_resume()")
            rec, rep = lsn_to_int(received) or 0, lsn_to_int(replayed) or 0
            if (target is None or max(rec, rep) > target) and rep >= rec:
                return last
            if time.monotonic() >= deadline:
                raise DRError("promote", "candidate holds %s (replayed %s), the old primary acknowledged up to %s: "
                              "not promoted after %ss" % (received, replayed, target_lsn or "-", timeout), last)
            time.sleep(poll)
    finally:
        db.close()


def promote(connect, expected_lsn=None, timeout=60, release_synchronous=True, check_mode=False):
    """Check the candidate holds everything up to ``expected_lsn``, then pg_promote() and wait for it.

    ``expected_lsn`` is the old primary's shutdown checkpoint (switchover); in a failover of a
    synchronous pair every acknowledged commit was flushed on the candidate, so it is None. With
    ``release_synchronous`` the new primary, which has no standby yet, stops waiting for one
    (synchronous_standby_names = ''), as Patroni's non-strict synchronous mode does; rejoin restores it.
    """
    started = _now()
    db = connect()
    try:
        cur = db.cursor()
        cur.execute("SELECT pg_is_in_recovery()")
        in_recovery = cur.fetchone()[0]
    finally:
        db.close()
    report = {"changed": bool(in_recovery), "started": started, "expected_lsn": expected_lsn}
    if not in_recovery:
        report.update(already_primary=True, ended=_now())
        return report
    if check_mode:
        report["ended"] = _now()
        return report
    report.update(wait_for_lsn(connect, expected_lsn, timeout))
    report["caught_up_s"] = round(_now() - started, 3)
    db = connect()
    try:
        cur = db.cursor()
        cur.execute("SELECT pg_promote(true, %s)", (int(max(timeout, 1)),))
        if not cur.fetchone()[0]:
            raise DRError("promote", "pg_promote() did not finish within %ss" % timeout, report)
        if release_synchronous:
            cur.execute("SELECT setting FROM pg_settings WHERE name = 'synchronous_standby_names'")
            report["synchronous_standby_names_before"] = cur.fetchone()[0]
            if report["synchronous_standby_names_before"]:
                cur.execute("ALTER SYSTEM SET synchronous_standby_names = ''")
                cur.execute("SELECT pg_reload_conf()")
        cur.execute("SELECT pg_current_wal_lsn()::text, timeline_id FROM pg_control_checkpoint()")
        report["promoted_lsn"], report["timeline"] = cur.fetchone()
    finally:
        db.close()
    report["ended"] = _now()
    report["elapsed_s"] = round(report["ended"] - started, 3)
    return report


def restore_synchronous(connect, standby_name):
    """After a standby rejoined: the primary waits for it again (RESET to the configured list)."""
    db = connect()
    try:
        cur = db.cursor()
        cur.execute("ALTER SYSTEM RESET synchronous_standby_names")
        cur.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cur.execute("SELECT sync_state FROM pg_stat_replication WHERE application_name = %s", (standby_name,))
            row = cur.fetchone()
            if row and row[0] in SYNC_STATES:
                return row[0]
            time.sleep(0.05)
        return row[0] if row else None
    finally:
        db.close()


def rejoin(data_dir, bin_dir, os_user, source, node_connect, source_connect, server_options="", log_file=None,
           timeout=120, allow_basebackup=True, check_mode=False, start_command=None):
    """Bring the old primary back as a standby of the new one: pg_rewind, else pg_basebackup.

    ``source`` is {host, port, user, password, application_name}: the new primary, and this node's name
    as its standby. ``node_connect`` / ``source_connect`` open connections to this node (once started)
    and to the new primary. Returns the report.
    """
    started = _now()
    report = {"started": started, "method": None, "changed": True}
    info = conninfo(source["host"], source["port"], source["user"], source.get("password"),
                    source.get("application_name"))
    if postmaster_pid(data_dir) is not None:
        try:
            db = node_connect()
            try:
                st = node_status(db)
            finally:
                db.close()
            receiver = st.get("receiver") or {}
            if st["in_recovery"] and receiver.get("status") == "streaming" and \
                    receiver.get("sender_host") == source["host"] and int(receiver.get("sender_port") or 0) == \
                    int(source["port"]):
                report.update(changed=False, method="none", ended=_now())
                return report
        except Exception:  # not answering: rejoined the long way below
            pass
    if check_mode:
        report["ended"] = _now()
        return report
    stop_server(bin_dir, data_dir, os_user)
    report["stopped_s"] = round(_now() - started, 3)
    db = source_connect()
    try:  # pg_rewind reads the source's timeline from its control file: a fresh promotion needs a checkpoint
        db.cursor().execute("CHECKPOINT")
    finally:
        db.close()
    report["checkpoint_s"] = round(_now() - started, 3)
    env = {"PGPASSWORD": source.get("password") or "", "PGCONNECT_TIMEOUT": "10"}
    # pg_rewind finishes an interrupted (crashed) node's recovery in single-user mode, which refuses
    # standby.signal; single-user mode takes no connections, and the signal is back before any start.
    signal_path = os.path.join(data_dir, STANDBY_SIGNAL)
    if os.path.exists(signal_path):
        os.unlink(signal_path)
    try:
        # --no-sync: pg_rewind leaves the control file "in archive recovery", and a server starting from that
        # state syncs its whole data directory before it replays (recovery_init_sync_method): the same
        # durability, without fsyncing every file twice.
        run([os.path.join(bin_dir, "pg_rewind"), "-D", data_dir, "--no-sync", "--source-server",
             conninfo(source["host"], source["port"], source["user"], dbname="postgres")], "pg_rewind", os_user,
            timeout, env=env)
        report["method"] = "pg_rewind"
    except DRError as exc:
        if not allow_basebackup:
            write_standby_config(data_dir, info)  # still fenced
            raise
        report["rewind_error"] = str(exc)
        _empty_dir(data_dir)
        run([os.path.join(bin_dir, "pg_basebackup"), "-D", data_dir, "-h", source["host"], "-p", str(source["port"]),
             "-U", source["user"], "-X", "stream", "-c", "fast"], "pg_basebackup", os_user, timeout, env=env)
        report["method"] = "pg_basebackup"
    report["rewound_s"] = round(_now() - started, 3)
    # The copy carries the new primary's ALTER SYSTEM synchronous_standby_names = '' (set at its promotion):
    # dropped here, so this node has the configured list again and a later failover sees it as synchronous.
    drop_auto_setting(data_dir, "synchronous_standby_names")
    write_standby_config(data_dir, info)
    if start_command:
        run(["/bin/sh", "-c", start_command], "start", None, timeout)
    else:
        start_server(bin_dir, data_dir, os_user, server_options, log_file)
    report["started_s"] = round(_now() - started, 3)
    deadline = time.monotonic() + timeout
    while True:
        try:
            db = node_connect()
            try:
                st = node_status(db)
            finally:
                db.close()
            if (st.get("receiver") or {}).get("status") == "streaming":
                break
        except Exception as exc:  # starting up: retried until the deadline
            st = {"error": str(exc)}
        if time.monotonic() >= deadline:
            raise DRError("rejoin", "the rejoined node is not streaming after %ss: %s" % (timeout, st), report)
        time.sleep(0.05)
    report["ended"] = _now()
    report["streaming_s"] = round(report["ended"] - started, 3)
    return report


def _empty_dir(path):
    """Remove what is inside ``path`` (the directory itself, its owner and mode stay)."""
    import shutil

    for name in os.listdir(path):
        full = os.path.join(path, name)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        else:
            os.unlink(full)


def os_user_of(data_dir):
    return pwd.getpwuid(os.stat(data_dir).st_uid).pw_name


# ---------------------------------------------------------------------------------------------
# what the modules share
# ---------------------------------------------------------------------------------------------
def connect_opener(host, port, user, password, timeout=5, dbname="postgres"):
    """A function that opens an autocommit DB-API connection (psycopg 3, else psycopg2) to one node."""
    params = dict(host=host, port=int(port), user=user, dbname=dbname, connect_timeout=int(timeout))
    if password:
        params["password"] = password

    def opener():
        try:
            import psycopg as driver
        except ImportError:
            try:
                import psycopg2 as driver
            except ImportError:
                raise DRError("connect", "neither psycopg (3) nor psycopg2 is installed on this host") from None
        try:
            db = driver.connect(**params)
        except driver.Error as exc:
            raise DRError("connect", "%s:%s: %s" % (host, port, str(exc).strip())) from exc
        db.autocommit = True
        return db
    return opener


def node_argument_spec(name_required=False):
    """One node: where clients reach it and its name (application_name / cluster_name)."""
    return dict(type="dict", options=dict(host=dict(type="str", required=True), port=dict(type="int", default=5432),
                                          name=dict(type="str", required=name_required)))


def common_argument_spec():
    return dict(login_user=dict(type="str", default="postgres"),
                login_password=dict(type="str", default="", no_log=True),
                connect_timeout=dict(type="int", default=5),
                pg_bin_dir=dict(type="path", default="/usr/lib/postgresql/15/bin"),
                os_user=dict(type="str", default="postgres"))


def timed(report):
    """started/ended as ISO 8601 UTC and elapsed_s, for run records."""
    out = dict(report)
    for key in ("started", "ended"):
        if isinstance(out.get(key), float):
            out[key] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(out[key])) + ".%03dZ" % (
                int(out[key] * 1000) % 1000)
    if isinstance(report.get("started"), float) and isinstance(report.get("ended"), float):
        out["elapsed_s"] = round(report["ended"] - report["started"], 3)
    return out


def fence_state(data_dir, primary_conninfo=None):
    """{running, standby_signal}: what fencing is about, for diffs."""
    state = {"running": postmaster_pid(data_dir) is not None,
             "standby_signal": os.path.exists(os.path.join(data_dir, STANDBY_SIGNAL))}
    if primary_conninfo is not None:
        state["primary_conninfo_points_at_new_primary"] = standby_config_state(data_dir, primary_conninfo)[1]
    return state


IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def resolve(name, dns_server=None, dns_port=53, timeout=2.0):
    """The IPv4 address of ``name``: asked of ``dns_server`` (dnspython, no cache) or the host's resolver."""
    if not dns_server:
        import socket

        return socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [dns_server]
    resolver.port = int(dns_port)
    resolver.lifetime = timeout
    return resolver.resolve(name, "A")[0].address


def verify_write(name, port, user, password, database, table, note, expected_address=None, dns_server=None,
                 dns_port=53, timeout=30, connect_timeout=5, check_mode=False):
    """Resolve ``name`` until it gives ``expected_address``, then commit a row there and read it back."""
    started = _now()
    deadline = time.monotonic() + timeout
    report = {"started": started, "attempts": 0, "name": name}
    while True:
        report["attempts"] += 1
        try:
            address = resolve(name, dns_server, dns_port)
            report["address"] = address
            if expected_address and address != expected_address:
                raise DRError("verify", "%s resolves to %s, not the new primary %s" % (name, address, expected_address))
            if check_mode:
                break
            db = connect_opener(address, port, user, password, connect_timeout, database)()
            try:
                cur = db.cursor()
                cur.execute("SELECT pg_is_in_recovery(), current_setting('cluster_name')")
                in_recovery, server = cur.fetchone()
                if in_recovery:
                    raise DRError("verify", "%s (%s) is in recovery: a standby, not the new primary" % (name, address))
                cur.execute("CREATE TABLE IF NOT EXISTS %s (id bigserial PRIMARY KEY, at timestamptz NOT NULL "
                            "DEFAULT now(), note text, server text)" % table)
                cur.execute("INSERT INTO %s (note, server) VALUES (%%s, %%s) RETURNING id" % table, (note, server))
                row_id = cur.fetchone()[0]
                cur.execute("SELECT count(*) FROM %s WHERE id = %%s" % table, (row_id,))
                if cur.fetchone()[0] != 1:
                    raise DRError("verify", "row %s written to %s is not there" % (row_id, address))
                report.update(row_id=row_id, server=server)
            finally:
                db.close()
            break
        except Exception as exc:  # stale answer, refused connection, read-only node: retried until the deadline
            report["last_error"] = str(exc).strip()
            if time.monotonic() >= deadline:
                raise DRError("verify", "no write through %s within %ss: %s" % (name, timeout, report["last_error"]),
                              report) from None
            time.sleep(0.2)
    report.pop("last_error", None)
    report["ended"] = _now()
    return report


def sync_state(connect, standby_name):
    """The primary's sync_state for ``standby_name`` (None when it is not connected)."""
    db = connect()
    try:
        cur = db.cursor()
        cur.execute("SELECT sync_state FROM pg_stat_replication WHERE application_name = %s", (standby_name,))
        row = cur.fetchone()
        return row[0] if row else None
    finally:
        db.close()


def drop_auto_setting(data_dir, name):
    """Remove ``name`` from postgresql.auto.conf (what ALTER SYSTEM RESET does, with the server stopped)."""
    auto = os.path.join(data_dir, AUTO_CONF)
    try:
        with open(auto) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return False
    kept = [line for line in lines if not re.match(r"^\s*%s\s*=" % re.escape(name), line)]
    if kept == lines:
        return False
    with open(auto + ".dr-tmp", "w") as fh:
        fh.write("\n".join(kept) + "\n")
    os.chmod(auto + ".dr-tmp", 0o600)
    _chown_like(auto + ".dr-tmp", data_dir)
    os.replace(auto + ".dr-tmp", auto)
    return True

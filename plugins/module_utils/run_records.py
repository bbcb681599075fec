# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Run records: what a launch run did, as JSON lines under ``<launch_run_dir>/``.

Streams (one JSON object per line, appended): ``steps``, ``rollbacks``, ``decisions``, ``artifacts``;
plus ``run.json`` (one object, merged on every write). Field lists follow the collection's run-record
contract (docs/modules/launch_record.md). Readers take the last line per ``key`` when a stream
holds several versions of one record (a step recorded as ``ok`` and later as ``undone``).

Plain Python so the same code validates records in the module, in unit tests and in reports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import errno
import fcntl
import json
import os
import re
import tempfile

STREAMS = ("steps", "rollbacks", "decisions", "artifacts")
RUN = "run"
TIME_FIELDS = ("started", "ended", "stable_at", "decided_at")
REDACTED = "********"
# Keys whose values are never written, whatever the caller passes: a record is read by people and reports.
SECRET_KEY = re.compile(r"(pass(word|wd)?|secret|token|dsn|api[_-]?key|webhook|credential|private[_-]?key)",
                        re.IGNORECASE)

SCHEMAS = {
    "steps": {
        "required": ("app", "index", "verb", "status"),
        "enums": {"status": ("ok", "failed", "skipped", "undone")},
        "ints": ("index",),
        "numbers": ("weight",),
        "lists": ("checks",),
    },
    "rollbacks": {
        "required": ("app", "reason", "type"),
        "enums": {"type": ("traffic", "rollout_undo", "db_restore")},
        "ints": (),
        "numbers": ("time_to_stable_s",),
        "lists": (),
    },
    "decisions": {
        "required": ("gate", "app", "verdict"),
        "enums": {"verdict": ("GO", "NO-GO")},
        "ints": (),
        "numbers": (),
        "lists": ("criteria",),
    },
    "artifacts": {
        "required": ("kind", "app"),
        "enums": {"kind": ("backup", "migration")},
        "ints": ("size",),
        "numbers": (),
        "lists": (),
    },
    RUN: {
        "required": (),
        "enums": {},
        "ints": (),
        "numbers": (),
        "lists": (),
    },
}


class RecordError(ValueError):
    """A record that does not follow its stream's contract; the message names the field."""


def iso_utc(value, field):
    """ISO 8601 UTC with a trailing Z, from epoch seconds, a datetime, or an ISO string."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError("{0}: expected a time, got {1!r}".format(field, value))
    if isinstance(value, (int, float)):
        moment = datetime.datetime.fromtimestamp(float(value), tz=datetime.timezone.utc)
    elif isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    else:
        text = str(value).strip()
        try:
            moment = datetime.datetime.fromtimestamp(float(text), tz=datetime.timezone.utc)
        except ValueError:
            try:
                moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise RecordError("{0}: {1!r} is neither epoch seconds nor an ISO 8601 time".format(
                    field, value)) from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.timezone.utc)
    moment = moment.astimezone(datetime.timezone.utc)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        stamp += ".{0:03d}".format(moment.microsecond // 1000)
    return stamp + "Z"


def redact(value, path=""):
    """(copy of value with secret-looking keys masked, [paths masked])."""
    masked = []
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            where = "{0}.{1}".format(path, k) if path else str(k)
            if SECRET_KEY.search(str(k)) and v not in (None, "", [], {}):
                out[k] = REDACTED
                masked.append(where)
            else:
                out[k], inner = redact(v, where)
                masked.extend(inner)
        return out, masked
    if isinstance(value, list):
        out = []
        for i, v in enumerate(value):
            item, inner = redact(v, "{0}[{1}]".format(path, i))
            out.append(item)
            masked.extend(inner)
        return out, masked
    return value, masked


def normalize(stream, record):
    """The record as it is written: validated, times in UTC ISO form, secrets masked.

    Returns (record, masked_paths). Raises RecordError naming the offending field.
    """
    if stream not in SCHEMAS:
        raise RecordError("stream: must be one of {0}, got {1!r}".format(", ".join(STREAMS + (RUN,)), stream))
    if not isinstance(record, dict):
        raise RecordError("record: expected a dict, got {0}".format(type(record).__name__))
    schema = SCHEMAS[stream]
    out, masked = redact(copy.deepcopy(record))
    missing = [f for f in schema["required"] if out.get(f) in (None, "")]
    if missing:
        raise RecordError("record.{0}: required for stream {1} (required: {2})".format(
            missing[0], stream, ", ".join(schema["required"])))
    for field, allowed in schema["enums"].items():
        if field in out and out[field] not in allowed:
            raise RecordError("record.{0}: must be one of {1}, got {2!r}".format(field, ", ".join(allowed), out[field]))
    for field in schema["ints"]:
        if out.get(field) is not None:
            try:
                if isinstance(out[field], bool) or int(out[field]) != float(out[field]):
                    raise ValueError
                out[field] = int(out[field])
            except (TypeError, ValueError):
                raise RecordError("record.{0}: expected an integer, got {1!r}".format(field, out[field])) from None
    for field in schema["numbers"]:
        if out.get(field) is not None:
            try:
                if isinstance(out[field], bool):
                    raise ValueError
                number = float(out[field])
            except (TypeError, ValueError):
                raise RecordError("record.{0}: expected a number, got {1!r}".format(field, out[field])) from None
            out[field] = int(number) if number.is_integer() else number
    for field in schema["lists"]:
        if out.get(field) is not None and not isinstance(out[field], list):
            raise RecordError("record.{0}: expected a list, got {1}".format(field, type(out[field]).__name__))
    for field in TIME_FIELDS:
        if field in out:
            out[field] = iso_utc(out[field], "record." + field)
    if stream == RUN and isinstance(out.get("apps"), dict) is False and "apps" in out:
        raise RecordError("record.apps: expected a dict of app name to {release, previous, strategy, result}")
    return out, masked


def stream_path(run_dir, stream):
    if stream == RUN:
        return os.path.join(run_dir, "run.json")
    return os.path.join(run_dir, stream + ".jsonl")


def read_stream(run_dir, stream):
    """Every record of a stream in file order ([] when the file does not exist)."""
    path = stream_path(run_dir, stream)
    try:
        with open(path) as fh:
            if stream == RUN:
                return [json.load(fh)]
            return [json.loads(line) for line in fh if line.strip()]
    except IOError as e:
        if e.errno == errno.ENOENT:
            return []
        raise


def latest_by_key(records):
    """The last record per ``key`` (records without a key are kept as they are), in first-seen order."""
    order, last, keyless = [], {}, []
    for rec in records:
        key = rec.get("key")
        if key is None:
            keyless.append(rec)
            continue
        if key not in last:
            order.append(key)
        last[key] = rec
    return [last[k] for k in order] + keyless


def merge(base, update):
    """Deep merge of dicts (run.json): nested dicts merge, anything else replaces."""
    out = copy.deepcopy(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def plan_write(run_dir, stream, record, key=None):
    """Decide what writing ``record`` changes, without writing.

    Returns dict(changed, path, record (as it would be written), before, after, masked).
    For a stream, an identical record with the same ``key`` already present is no change; without a key,
    an identical last record is no change (a retried task does not duplicate its line).
    """
    rec, masked = normalize(stream, record)
    path = stream_path(run_dir, stream)
    if stream == RUN:
        existing = read_stream(run_dir, RUN)
        before = existing[0] if existing else {}
        after = merge(before, rec)
        return {"changed": after != before, "path": path, "record": after, "before": before, "after": after,
                "masked": masked}
    if key is not None:
        rec["key"] = str(key)
    existing = read_stream(run_dir, stream)
    if key is not None:
        current = [r for r in existing if r.get("key") == str(key)]
        same = bool(current) and current[-1] == rec
        before = current[-1] if current else {}
    else:
        same = bool(existing) and existing[-1] == rec
        before = existing[-1] if same else {}
    return {"changed": not same, "path": path, "record": rec, "before": before, "after": rec, "masked": masked}


def _lock(run_dir):
    """The open lock file, exclusively locked; closing it releases the lock."""
    fh = open(os.path.join(run_dir, ".lock"), "a")  # noqa: SIM115 - the caller closes it in a finally
    fcntl.flock(fh, fcntl.LOCK_EX)
    return fh


def write(run_dir, stream, record, key=None, dir_mode=0o750, file_mode=0o640):
    """Validate and write one record; returns plan_write's dict. Safe with concurrent writers (flock)."""
    normalize(stream, record)  # refuse a bad record before creating any directory
    if not os.path.isdir(run_dir):
        os.makedirs(run_dir, dir_mode)
    lock = _lock(run_dir)
    try:
        decision = plan_write(run_dir, stream, record, key)
        if not decision["changed"]:
            return decision
        path = decision["path"]
        if stream == RUN:
            fd, tmp = tempfile.mkstemp(prefix=".run.json.", dir=run_dir)
            with os.fdopen(fd, "w") as fh:
                json.dump(decision["record"], fh, indent=2, sort_keys=True)
                fh.write("\n")
            os.chmod(tmp, file_mode)
            os.rename(tmp, path)
        else:
            line = json.dumps(decision["record"], sort_keys=True, separators=(",", ":")) + "\n"
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, file_mode)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        return decision
    finally:
        lock.close()

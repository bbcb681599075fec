# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The launch lock as a coordination.k8s.io/v1 Lease: what to do with the Lease found, as plain data.

A Lease is held while ``renewTime + leaseDurationSeconds`` is in the future. Acquiring one that another
holder keeps renewing is refused (naming the holder and since when); one whose holder stopped renewing
past its duration is taken over (``leaseTransitions`` + 1, with a warning naming the previous holder);
one held by the same identity is renewed. Release deletes the Lease only when it is ours.

No Kubernetes client here: the module reads and writes, these functions decide.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import os
import re

_TIME_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


class LeaseError(Exception):
    """Bad input (a message naming the parameter)."""


def parse_time(text):
    """Epoch seconds of a Kubernetes MicroTime/Time string (None when empty)."""
    if not text:
        return None
    m = _TIME_RE.match(str(text).strip())
    if not m:
        raise LeaseError("cannot read the time {0!r} (expected RFC 3339, such as "
                         "2026-06-07T10:00:00.000000Z)".format(text))
    base = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    offset = m.group(3) or "Z"
    seconds = (base - datetime.datetime(1970, 1, 1)).total_seconds() + float(m.group(2) or 0)
    if offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        seconds -= sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    return seconds


def format_time(epoch, micro=True):
    """RFC 3339 UTC with a trailing Z: microseconds for Lease MicroTime fields, whole seconds for messages."""
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=epoch)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def describe(lease, now):
    """What a Lease says: holder, since when, last renewal, expiry and whether it has expired (None: no Lease)."""
    if not lease:
        return None
    spec = lease.get("spec") or {}
    duration = int(spec.get("leaseDurationSeconds") or 0)
    renewed = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    acquired = parse_time(spec.get("acquireTime"))
    expires = (renewed or 0) + duration
    holder = spec.get("holderIdentity") or ""
    return {
        "holder": holder,
        "acquired_at": format_time(acquired, micro=False) if acquired is not None else None,
        "renewed_at": format_time(renewed, micro=False) if renewed is not None else None,
        "duration_seconds": duration,
        "expires_at": format_time(expires, micro=False),
        "seconds_since_renewal": round(now - renewed, 1) if renewed is not None else None,
        "expired": not holder or now >= expires,
        "transitions": int(spec.get("leaseTransitions") or 0),
        "resource_version": (lease.get("metadata") or {}).get("resourceVersion"),
    }


def holder_message(view):
    """One line on who holds the lock now, for a read (None: no Lease)."""
    if not view or view["expired"]:
        return "no launch holds the lock"
    return "held by {0!r} since {1}".format(view["holder"], view["acquired_at"])


def new_lease(name, namespace, holder, duration, now, labels=None):
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": int(duration),
                 "acquireTime": format_time(now), "renewTime": format_time(now), "leaseTransitions": 0},
    }


def refusal_message(view, environment_hint=""):
    return (
        "Another launch{0} holds the launch lock: {1!r} since {2} (last renewed {3} s ago; the lease lasts {4} s "
        "and expires at {5} unless renewed). Wait for that launch to finish; if it died, a new run takes the lock "
        "over once the lease has expired.".format(
            environment_hint, view["holder"], view["acquired_at"], view["seconds_since_renewal"],
            view["duration_seconds"], view["expires_at"]))


def decide_acquire(lease, name, namespace, holder, duration, now, labels=None):
    """(action, body, view, message): action is create, renew, takeover or refuse; body the Lease to write."""
    if not holder:
        raise LeaseError("holder must name who takes the lock (for example user@host, pid and run id)")
    if int(duration) < 1:
        raise LeaseError("duration must be at least 1 second, got {0}".format(duration))
    view = describe(lease, now)
    if view is None:
        return "create", new_lease(name, namespace, holder, duration, now, labels), None, "lock taken"
    body = copy.deepcopy(lease)
    spec = body.setdefault("spec", {})
    if view["holder"] == holder:
        spec["renewTime"] = format_time(now)
        spec["leaseDurationSeconds"] = int(duration)
        return "renew", body, view, "lock already ours; renewed"
    if not view["expired"]:
        return "refuse", None, view, refusal_message(view)
    spec.update({"holderIdentity": holder, "leaseDurationSeconds": int(duration), "acquireTime": format_time(now),
                 "renewTime": format_time(now), "leaseTransitions": view["transitions"] + 1})
    body.setdefault("metadata", {}).setdefault("labels", {}).update(labels or {})
    previous = view["holder"] or "(released)"
    message = ("lock taken over from {0!r}, held since {1}, whose lease expired at {2} ({3} s without renewal): "
               "that launch stopped without releasing it; check what it left half done".format(
                   previous, view["acquired_at"], view["expires_at"], view["seconds_since_renewal"]))
    return "takeover", body, view, message


def decide_renew(lease, holder, now):
    """The renewed Lease, or None when it is no longer ours (deleted, or taken over after it expired)."""
    view = describe(lease, now)
    if view is None or view["holder"] != holder:
        return None
    body = copy.deepcopy(lease)
    body["spec"]["renewTime"] = format_time(now)
    return body


def decide_release(lease, holder, now):
    """(action, view, message): delete when ours, keep (with a message) otherwise."""
    view = describe(lease, now)
    if view is None:
        return "none", None, "no lock to release"
    if view["holder"] != holder:
        return "keep", view, "the lock is held by {0!r}, not by {1!r}: left alone".format(view["holder"], holder)
    return "delete", view, "lock released"


def _stat_fields(pid):
    with open("/proc/{0}/stat".format(pid)) as handle:
        return handle.read().rsplit(")", 1)[1].split()


def process_start(pid):
    """The start time of a process in clock ticks since boot (tells a live pid from a recycled one), or None."""
    try:
        return int(_stat_fields(pid)[19])
    except (OSError, IndexError, ValueError):
        return None


def controller_process(start_pid=None):
    """(pid, start) of the ansible-playbook process this module runs under: the outermost ancestor named so (a
    task's worker is a fork of it and carries the same command line, but ends with the task). The renewer
    watches it and stops renewing when it is gone. Without one (a test harness), the parent process."""
    pid = start_pid or os.getppid()
    found = None
    for _level in range(64):
        if pid <= 1:
            break
        try:
            with open("/proc/{0}/cmdline".format(pid), "rb") as handle:
                argv = [part.decode("utf-8", "replace") for part in handle.read().split(b"\0") if part]
            parent = int(_stat_fields(pid)[1])
        except (OSError, IndexError, ValueError):
            break
        if any(os.path.basename(arg).startswith("ansible-playbook") for arg in argv[:3]):
            found = pid
        pid = parent
    pid = found or os.getppid()
    return pid, process_start(pid)


def process_alive(pid, start):
    return pid is not None and process_start(pid) == start

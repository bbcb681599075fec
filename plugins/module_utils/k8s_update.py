# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Optimistic-concurrency updates of Kubernetes objects: read, decide, write, and on a 409 Conflict (another writer
changed the object between our read and our write) read and decide again, a bounded number of times.

Plain Python: the caller passes its read / plan / write functions and the exception type its client raises for a
409, so any module (traffic weights, a blue-green switch, a scale step) reuses the loop with the Kubernetes client
of its choice, and the loop is unit-tested without a cluster. kubernetes.core's own modules do not offer a
read-modify-write with a retry on conflict, which a weight change made beside another controller needs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from ansible_collections.greenlang.launch.plugins.module_utils.failure import StepError
except ImportError:  # plain Python without the collection loader
    from plugins.module_utils.failure import StepError

DEFAULT_ATTEMPTS = 3


class Update(object):
    """What happened: ``state`` as last read, the ``decision`` taken from it, the object ``written`` (None when
    nothing was written: no change needed, or check mode), and how many ``attempts`` it took."""

    def __init__(self, state, decision, written, attempts):
        self.state, self.decision, self.written, self.attempts = state, decision, written, attempts


def read_plan_write(read, plan, write, conflict_errors, attempts=DEFAULT_ATTEMPTS, check_mode=False,
                    describe="the object", unchanged=lambda decision: decision.get("operation") == "none"):
    """Run read() -> state, plan(state) -> decision, write(decision) -> written object.

    ``unchanged(decision)`` true (by default ``decision["operation"] == "none"``) or check mode ends without a write.
    A ``conflict_errors`` exception from write() starts over from a fresh read; after ``attempts`` conflicts a
    StepError (step ``write``) says the object kept changing. Errors of read() and plan() propagate unchanged.
    """
    if int(attempts) < 1:
        raise StepError("validation", "attempts=%r: must be 1 or more" % (attempts,))
    for attempt in range(1, int(attempts) + 1):
        state = read()
        decision = plan(state)
        if check_mode or unchanged(decision):
            return Update(state, decision, None, attempt)
        try:
            return Update(state, decision, write(decision), attempt)
        except conflict_errors:
            continue  # someone else wrote in between: decide again from what is there now
    raise StepError("write", "%s kept changing under us: %d conflicting writes (HTTP 409), each re-read and "
                    "re-planned; nothing of ours was written" % (describe, int(attempts)))

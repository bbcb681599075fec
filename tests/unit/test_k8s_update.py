"""plugins/module_utils/k8s_update.py: the read / plan / write loop that retries on a 409 Conflict.

The loop's Kubernetes behaviour (a real 409 from the API server between read and write) is tested in
tests/integration/test_canary_weight.py; here, its bookkeeping with a store that really changes.
"""

from __future__ import annotations

import pytest
from ansible_collections.greenlang.launch.plugins.module_utils.failure import StepError
from ansible_collections.greenlang.launch.plugins.module_utils.k8s_update import read_plan_write


class Conflict(Exception):
    pass


class Store:
    """An object with a resourceVersion; a write with a stale version is a conflict, as the API server says."""

    def __init__(self, racing_writes=0):
        self.obj = {"weight": 0, "other": 1, "rv": 1}
        self.racing_writes = racing_writes
        self.writes = 0

    def read(self):
        return dict(self.obj)

    def write(self, decision):
        if self.racing_writes:
            self.racing_writes -= 1
            self.obj = dict(self.obj, other=self.obj["other"] + 1, rv=self.obj["rv"] + 1)  # someone else wrote
        if decision["after"]["rv"] != self.obj["rv"]:
            raise Conflict()
        self.writes += 1
        self.obj = dict(decision["after"], rv=self.obj["rv"] + 1)
        return self.obj


def set_weight(weight):
    def plan(state):
        after = dict(state, weight=weight)
        return {"operation": "none" if state["weight"] == weight else "replace", "after": after}
    return plan


def test_a_conflict_is_re_read_and_re_planned_keeping_the_other_writers_change():
    store = Store(racing_writes=2)
    update = read_plan_write(store.read, set_weight(25), store.write, Conflict, describe="HTTPRoute ns/vcci")
    assert update.attempts == 3 and store.writes == 1
    assert store.obj["weight"] == 25 and store.obj["other"] == 3, "the other writer's two changes survive"


def test_conflicts_at_every_attempt_fail_naming_the_object_and_writing_nothing():
    store = Store(racing_writes=3)
    with pytest.raises(StepError, match=r"write failed: HTTPRoute ns/vcci kept changing under us: 3 conflicting"):
        read_plan_write(store.read, set_weight(25), store.write, Conflict, describe="HTTPRoute ns/vcci")
    assert store.writes == 0 and store.obj["weight"] == 0


def test_nothing_to_change_or_check_mode_never_writes():
    store = Store()
    assert read_plan_write(store.read, set_weight(0), store.write, Conflict).written is None
    update = read_plan_write(store.read, set_weight(50), store.write, Conflict, check_mode=True)
    assert update.written is None and update.decision["after"]["weight"] == 50 and store.writes == 0


def test_other_write_errors_propagate_at_once():
    def broken(decision):
        raise RuntimeError("HTTP 422")
    with pytest.raises(RuntimeError, match="422"):
        read_plan_write(Store().read, set_weight(5), broken, Conflict)


def test_attempts_below_one_are_refused():
    with pytest.raises(StepError, match="attempts=0"):
        read_plan_write(Store().read, set_weight(5), Store().write, Conflict, attempts=0)

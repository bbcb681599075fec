"""``rehearsal_stack``: one real rehearsal stack for the whole test session.

Started with ``python -m rehearsal up --no-apps`` (no v1 apps: each test deploys the objects it needs
in a namespace of its own) in a temp state dir under /tmp on free loopback ports, and stopped with
``down`` at the end of the session; teardown fails if a process or port of the stack is left behind.

The fixture yields a :class:`rehearsal.testing.StackRun`: ``env`` (the env file's variables),
``kubeconfig``, ``ingress_url``, ``prometheus_url``, ``state_dir``, ``kubectl(*args, input=None)``
(stdout; raises on failure), ``kubectl_json(*args)`` and ``promql(query)``.

Register with ``pytest_plugins = ["tests.integration.stack_session"]`` or import the fixture.
"""

from __future__ import annotations

import pytest

from rehearsal.testing import StackRun


@pytest.fixture(scope="session")
def rehearsal_stack():
    stack = StackRun(apps=False, prefix="greenlang-test-stack-").up()
    print(f"\n[rehearsal_stack] `up --no-apps` took {stack.up_seconds:.1f} s; ports {stack.ports}")
    try:
        yield stack
    finally:
        leftovers = stack.down()
        print(f"\n[rehearsal_stack] `down` took {stack.down_seconds:.1f} s")
        assert leftovers == [], f"the rehearsal stack left these behind after `down`: {leftovers}"

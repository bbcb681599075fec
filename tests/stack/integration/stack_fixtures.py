"""Fixtures for tests of the rehearsal stack's services (Prometheus, PostgreSQL, demo apps).

Import the ones a module needs: ``from tests.stack.integration.stack_fixtures import prometheus, run_app``.
Every fixture stops what it started.
"""

from __future__ import annotations

import pytest

from rehearsal.apps.process import DemoAppProcess
from rehearsal.services.postgres import free_port
from rehearsal.services.prometheus import PrometheusServer
from tests.integration.pg_fixtures import scratch_cluster


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    """A real Prometheus scraping every second, no targets yet."""
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def postgres():
    """A real PostgreSQL 15 cluster (run as the postgres OS user), destroyed afterwards."""
    with scratch_cluster("greenlang-h3a-pg-") as cluster:
        yield cluster


@pytest.fixture
def run_app():
    """Start demo app processes: ``run_app("vcci", "v2", FAULT_ERROR_RATIO=0.2)``; all stopped afterwards."""
    started: list[DemoAppProcess] = []

    def _run(app: str = "vcci", version: str = "v1", wait: str = "/health/live", **env) -> DemoAppProcess:
        proc = DemoAppProcess(app, version, env={k: str(v) for k, v in env.items()})
        started.append(proc)
        return proc.start(wait=wait)

    yield _run
    for proc in started:
        proc.stop()

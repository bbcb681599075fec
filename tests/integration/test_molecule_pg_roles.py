"""The molecule scenarios of the backup, restore and migrate roles pass (`molecule test -s <role>`).

Two ways a scenario gets its PostgreSQL 15 (molecule/pg-resources/create.yml):

- its own server, started in create and stopped in destroy (no rehearsal stack, or MOLECULE_PG_OWN=1);
- the rehearsal stack's server, found through POSTGRES_HOST/PORT/USER/PASSWORD, which rehearsal/stack.py writes to
  .rehearsal/env (here a server started by the test stands in for the stack's, reached the same way an operator's
  shell reaches it after `. .rehearsal/env`). That server is left running, without the scenario's databases.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rehearsal.services.postgres import free_port
from tests.integration.pg_fixtures import scratch_cluster

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
APP_DB = {"backup": "molecule_vcci", "restore": "molecule_cbam", "migrate": "molecule_csrd"}


def molecule_test(scenario: str, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1"}
    for name in ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD"):
        env.pop(name, None)
    env.pop("MOLECULE_PG_OWN", None)
    env.update(env_overrides)
    return subprocess.run([str(BIN / "molecule"), "test", "-s", scenario], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


def assert_passed(proc: subprocess.CompletedProcess, scenario: str) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert re.search(rf"{scenario}\W+verify\W+Executed: Successful", out), out[-6000:]
    return " ".join(out.split())


def stack_env(pg) -> dict:
    """The POSTGRES_* lines of the stack's env file, for this server."""
    info = pg.conninfo("postgres")
    return {"POSTGRES_HOST": info["host"], "POSTGRES_PORT": str(info["port"]), "POSTGRES_USER": info["user"],
            "POSTGRES_PASSWORD": info["password"]}


@pytest.fixture(scope="module")
def stack_like_pg():
    """A running PostgreSQL reached only through the POSTGRES_* variables, as the rehearsal stack publishes them."""
    with scratch_cluster("greenlang-it-molecule-pg-") as cluster:
        yield cluster


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["backup", "restore", "migrate"])
def test_molecule_scenario_converges_and_verifies_on_its_own_server(scenario):
    flat = assert_passed(molecule_test(scenario, MOLECULE_PG_OWN="1"), scenario)
    assert "Starting a PostgreSQL of our own" in flat


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["backup", "restore", "migrate"])
def test_molecule_scenario_reuses_the_rehearsal_stack_postgres_and_leaves_it_clean(stack_like_pg, scenario):
    pg = stack_like_pg
    flat = assert_passed(molecule_test(scenario, **stack_env(pg)), scenario)
    assert f"Using the rehearsal stack PostgreSQL at {pg.host}:{pg.port}" in flat
    assert pg.is_running(), "a server the scenario did not start is left running"
    left = [r[0] for r in pg.execute("SELECT datname FROM pg_database WHERE datname LIKE 'molecule%'")]
    assert left == [], "the scenario drops the databases it created on the shared server"
    assert pg.password not in flat


@pytest.mark.slow
def test_molecule_scenario_falls_back_to_its_own_server_when_the_stack_does_not_answer():
    dead = {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(free_port()), "POSTGRES_USER": "postgres",
            "POSTGRES_PASSWORD": "unused"}
    flat = assert_passed(molecule_test("backup", **dead), "backup")
    assert "Starting a PostgreSQL of our own (the rehearsal stack PostgreSQL at 127.0.0.1:" in flat

"""The molecule scenarios of the smoke_test, validate, blue_green and rolling roles pass (`molecule test -s <role>`).

Two ways a scenario gets its rehearsal stack (molecule/smoke_test/stack-create.yml):

- the running stack that MOLECULE_REHEARSAL_STATE_DIR names (here the test session's stack), the scenario working
  in a namespace of its own, which destroy deletes, leaving the stack up;
- a stack of its own (`rehearsal up --no-apps` on free ports), brought down by destroy.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rehearsal.testing import processes_referring_to

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def molecule_test(scenario: str, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1"}
    env.pop("MOLECULE_REHEARSAL_STATE_DIR", None)
    env.pop("KUBECONFIG", None)
    env.update(env_overrides)
    return subprocess.run([str(BIN / "molecule"), "test", "-s", scenario], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=2400, check=False)


def assert_passed(proc: subprocess.CompletedProcess, scenario: str) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    for step in ("converge", "idempotence", "verify"):
        assert re.search(rf"{scenario}\W+{step}\W+Executed: Successful", out), f"{step} did not pass:\n{out[-6000:]}"
    return out


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["smoke_test", "validate", "blue_green", "rolling"])
def test_molecule_scenario_converges_idempotently_and_verifies_on_the_shared_stack(rehearsal_stack, scenario):
    namespace = "molecule-" + scenario.replace("_", "-")
    assert_passed(molecule_test(scenario, MOLECULE_REHEARSAL_STATE_DIR=str(rehearsal_stack.state_dir)), scenario)
    assert rehearsal_stack.daemon_pid() is not None, "the shared stack is left up"
    names = rehearsal_stack.kubectl("get", "namespaces", "-o", "name").split()
    assert f"namespace/{namespace}" not in names, "destroy deletes the scenario's namespace"


@pytest.mark.slow
def test_molecule_scenario_starts_and_stops_a_stack_of_its_own():
    out = assert_passed(molecule_test("smoke_test"), "smoke_test")
    assert "Start a rehearsal stack of our own" in out and "Bring the scenario's own stack down" in out
    assert not Path("/tmp/greenlang-molecule-smoke_test").exists(), "destroy removes the scenario directory"
    assert processes_referring_to(Path("/tmp/greenlang-molecule-smoke_test/stack")) == [], "no stack process is left"

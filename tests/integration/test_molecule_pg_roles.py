"""The molecule scenarios of the backup, restore and migrate roles pass (`molecule test -s <role>`).

Each scenario starts its own PostgreSQL 15 in create and stops it in destroy (molecule/pg-resources/).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["backup", "restore", "migrate"])
def test_molecule_scenario_converges_and_verifies(scenario):
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1"}
    env.pop("REHEARSAL_PG_HOST", None)  # always the scenario's own server here
    proc = subprocess.run([str(BIN / "molecule"), "test", "-s", scenario], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    tail = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, tail
    assert re.search(rf"{scenario}\W+verify\W+Executed: Successful", proc.stdout + proc.stderr), tail

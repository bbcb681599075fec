"""The week gates' molecule scenario passes: `molecule test -s week_gates` (converge, idempotence, verify)."""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_week_gates_scenario_converges_idempotently_and_verifies_each_verdict():
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1"}
    proc = subprocess.run([str(BIN / "molecule"), "test", "-s", "week_gates"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    for step in ("converge", "idempotence", "verify"):
        assert re.search(rf"week_gates\W+{step}\W+Executed: Successful", out), out[-6000:]

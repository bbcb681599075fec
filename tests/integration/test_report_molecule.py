"""The report role's molecule scenario passes (`molecule test -s report`): converge, idempotence, verify.

The scenario brings its own Prometheus (Debian's binary, scraping itself) and writes its run records with the
launch_record module; see molecule/report/molecule.yml.
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
def test_molecule_report_scenario_converges_idempotently_and_verifies():
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1"}
    proc = subprocess.run([str(BIN / "molecule"), "test", "-s", "report"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=1800, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert re.search(r"report\W+idempotence\W+Executed: Successful", out), out[-6000:]
    assert re.search(r"report\W+verify\W+Executed: Successful", out), out[-6000:]

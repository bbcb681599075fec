"""The molecule scenarios of run_plan, canary and rollback pass against the session's rehearsal stack.

`molecule test -s <scenario>` with the stack's env (as after `. .rehearsal/env`): destroy, syntax, prepare
(cbam v1 in the scenario's namespace), converge, idempotence (a second converge changes nothing), verify
(through the ingress), destroy.
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
@pytest.mark.parametrize("scenario", ["canary", "run_plan", "rollback"])
def test_molecule_scenario_converges_is_idempotent_and_verifies_on_the_stack(rehearsal_stack, scenario):
    env = {**os.environ, **rehearsal_stack.env, "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
           "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1"}
    env.pop("KUBECONFIG", None)  # kubernetes.core reads K8S_AUTH_KUBECONFIG, from the stack's env
    proc = subprocess.run([str(BIN / "molecule"), "test", "-s", scenario], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=2400, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert re.search(rf"{scenario}\W+idempotence\W+Executed: Successful", out), out[-6000:]
    assert re.search(rf"{scenario}\W+verify\W+Executed: Successful", out), out[-6000:]

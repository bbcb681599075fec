"""Run one greenlang.launch module task through ansible-playbook and return its result.

The task goes through the real Ansible machinery (argument spec, check mode, diff,
no_log, the collection loader), exactly as a role would call it. The json stdout
callback gives the task result as data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


class PlayRun:
    """Per-task results of one play, by task name, plus the raw output for debugging."""

    def __init__(self, results: dict[str, dict], rc: int, stdout: str, stderr: str):
        self.results, self.rc, self.stdout, self.stderr = results, rc, stdout, stderr

    def __getitem__(self, task_name: str) -> dict:
        if task_name not in self.results:
            raise AssertionError(f"task {task_name!r} did not run; ran: {list(self.results)}\n"
                                 f"STDERR:\n{self.stderr[-3000:]}")
        return self.results[task_name]


def run_play(tasks: list[dict], check: bool = False, diff: bool = False, timeout: float = 240,
             env: dict | None = None) -> PlayRun:
    """Run ``tasks`` (each with a unique name) as one play on localhost; failures don't stop the play."""
    tasks = [dict(t, ignore_errors=True) for t in tasks]
    playbook = [{"hosts": "localhost", "gather_facts": False, "connection": "local", "tasks": tasks}]
    with tempfile.TemporaryDirectory(prefix="module-run-") as tmp:
        path = os.path.join(tmp, "play.yml")
        with open(path, "w") as fh:
            json.dump(playbook, fh)  # JSON is YAML
        cmd = [ANSIBLE_PLAYBOOK, "-i", "localhost,", path, "-e", "ansible_python_interpreter=" + sys.executable]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        run_env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
                       ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOCAL_TEMP=tmp,
                       ANSIBLE_NOCOLOR="1")
        run_env.update(env or {})
        proc = subprocess.run(cmd, cwd=str(REPO_ROOT), env=run_env, capture_output=True, text=True, timeout=timeout)
    try:
        out = json.loads(proc.stdout)
        results = {t["task"]["name"]: t["hosts"]["localhost"] for t in out["plays"][0]["tasks"]}
    except (ValueError, KeyError, IndexError) as e:
        raise AssertionError(f"ansible-playbook gave no task results ({e}):\n"
                             f"STDOUT:\n{proc.stdout[-4000:]}\nSTDERR:\n{proc.stderr[-4000:]}") from e
    return PlayRun(results, proc.returncode, proc.stdout, proc.stderr)


def run_module(module: str, args: dict, check: bool = False, diff: bool = False, **kw) -> dict:
    """One task of ``module`` with ``args``; returns its result."""
    return run_play([{"name": "module under test", module: args}], check=check, diff=diff, **kw)["module under test"]

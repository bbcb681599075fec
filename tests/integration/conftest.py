"""Fixtures for integration tests against the rehearsal Kubernetes API emulator.

- ``kube_cluster``: one emulator (``rehearsal.kubeapi.cluster.Cluster``) per test session, in a temp
  dir, stopped at the end.
- ``namespace``: a fresh namespace per test, created and deleted through kubectl.
- ``kubectl``: runs the real /usr/bin/kubectl with ``--kubeconfig`` pointing at the emulator.
- ``ansible_playbook``: runs the venv's real ``ansible-playbook`` against the emulator and returns the
  parsed output of the ``ansible.posix.json`` callback.
- ``wait_until``: polls a condition with a bounded timeout; every wait in these tests goes through it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = REPO_ROOT / ".venv" / "bin"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
ANSIBLE_PLAYBOOK = str(VENV_BIN / "ansible-playbook")
KUBECTL_TIMEOUT = 90  # seconds; a hung kubectl fails the test instead of hanging the run
PLAYBOOK_TIMEOUT = 240


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {last!r})")
        time.sleep(interval)


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> Callable[..., Any]:
    return wait_until


def start_cluster(state_dir: Path, **kwargs: Any):
    """Start an emulator in ``state_dir`` on a free loopback port; the caller must ``stop()`` it."""
    from rehearsal.kubeapi.cluster import Cluster

    cluster = Cluster(state_dir, host="127.0.0.1", port=0, **kwargs)
    cluster.start()
    return cluster


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory):
    cluster = start_cluster(tmp_path_factory.mktemp("kubeapi"))
    try:
        yield cluster
    finally:
        cluster.stop()


@dataclass
class Kubectl:
    """The real kubectl bound to one kubeconfig (and a private discovery cache)."""

    kubeconfig: Path
    cache_dir: Path
    calls: list[list[str]] = field(default_factory=list)

    def __call__(self, *args: str, input: str | None = None, check: bool = True,
                 timeout: float = KUBECTL_TIMEOUT) -> subprocess.CompletedProcess:
        cmd = [KUBECTL, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache_dir), *args]
        self.calls.append(cmd)
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "KUBECONFIG": str(self.kubeconfig)})
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed with rc={proc.returncode}\n"
                                 f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def json(self, *args: str) -> dict:
        """``kubectl get ... -o json`` parsed."""
        return json.loads(self("get", *args, "-o", "json").stdout)

    def apply(self, manifest: dict | list[dict] | str, *args: str) -> subprocess.CompletedProcess:
        return self("apply", "-f", "-", *args, input=_as_yaml(manifest))

    def exists(self, *args: str) -> bool:
        """Whether ``kubectl get <args>`` finds the object (NotFound -> False; other errors fail)."""
        proc = self("get", *args, "-o", "name", check=False)
        if proc.returncode == 0:
            return True
        if "NotFound" in proc.stderr or "not found" in proc.stderr:
            return False
        raise AssertionError(f"kubectl get {' '.join(args)} failed unexpectedly: {proc.stderr}")


def _as_yaml(manifest: dict | list[dict] | str) -> str:
    if isinstance(manifest, str):
        return manifest
    docs = manifest if isinstance(manifest, list) else [manifest]
    return yaml.safe_dump_all(docs, sort_keys=False)


@pytest.fixture(scope="session")
def kubectl(kube_cluster, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(Path(kube_cluster.kubeconfig), tmp_path_factory.mktemp("kubectl-cache"))


def _namespace_name(node_name: str) -> str:
    """A DNS-1123 label from the test name plus a random suffix, at most 63 characters."""
    base = re.sub(r"[^a-z0-9-]+", "-", node_name.lower().removeprefix("test_")).strip("-")
    return f"{base[:50].rstrip('-')}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def namespace(kubectl: Kubectl, request: pytest.FixtureRequest) -> str:
    name = _namespace_name(request.node.name)
    # apply (JSON body) rather than `create namespace`, whose typed client sends a protobuf body: the
    # fixture should not depend on that; test_kubectl_conformance checks `kubectl create` separately.
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name
    finally:
        # Hygiene only: don't block the next test on finalisation of this one's objects.
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


# -- ansible-playbook ---------------------------------------------------------------------------


@dataclass
class PlaybookRun:
    rc: int
    output: dict  # the ansible.posix.json callback's document
    stderr: str

    def results(self, task_name: str) -> list[dict]:
        """The per-host results of every task called ``task_name`` (a task in a loop counts once)."""
        found = [host_result
                 for play in self.output.get("plays", [])
                 for task in play.get("tasks", [])
                 if task["task"]["name"] == task_name
                 for host_result in task["hosts"].values()]
        if not found:
            names = [t["task"]["name"] for p in self.output.get("plays", []) for t in p.get("tasks", [])]
            raise AssertionError(f"no task named {task_name!r} ran; tasks that ran: {names}")
        return found

    def result(self, task_name: str) -> dict:
        (res,) = self.results(task_name)
        return res

    @property
    def stats(self) -> dict:
        return self.output.get("stats", {}).get("localhost", {})


@dataclass
class AnsiblePlaybook:
    kubeconfig: Path
    workdir: Path

    def __call__(self, tasks: list[dict], *extra_args: str, extravars: dict | None = None,
                 expect_rc: int | None = 0) -> PlaybookRun:
        """Run ``tasks`` as one play on localhost; ``expect_rc=None`` accepts any exit status."""
        run_dir = self.workdir / uuid.uuid4().hex[:10]
        run_dir.mkdir(parents=True)
        playbook = run_dir / "playbook.yml"
        play = {"name": "conformance", "hosts": "localhost", "gather_facts": False, "tasks": tasks}
        playbook.write_text(yaml.safe_dump([play], sort_keys=False))
        inventory = run_dir / "inventory.ini"
        inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
        cmd = [ANSIBLE_PLAYBOOK, "-i", str(inventory), str(playbook), *extra_args]
        if extravars:
            cmd += ["-e", json.dumps(extravars)]
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            "ANSIBLE_LOCAL_TEMP": str(run_dir / "tmp"),
            "K8S_AUTH_KUBECONFIG": str(self.kubeconfig),
            "ANSIBLE_NOCOLOR": "1",
        }
        env.pop("KUBECONFIG", None)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT, env=env,
                              cwd=str(REPO_ROOT))
        try:
            output = json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"ansible-playbook printed no JSON (rc={proc.returncode})\n"
                                 f"stdout: {proc.stdout}\nstderr: {proc.stderr}") from exc
        run = PlaybookRun(proc.returncode, output, proc.stderr)
        if expect_rc is not None and proc.returncode != expect_rc:
            raise AssertionError(f"ansible-playbook exited {proc.returncode}, expected {expect_rc}\n"
                                 f"stats: {run.stats}\nstdout: {proc.stdout[-6000:]}\nstderr: {proc.stderr}")
        return run


@pytest.fixture
def ansible_playbook(kube_cluster, tmp_path: Path) -> AnsiblePlaybook:
    return AnsiblePlaybook(Path(kube_cluster.kubeconfig), tmp_path / "ansible")

"""`ansible-builder create` on awx/execution-environment.yml, offline: the file validates and the context is written."""

import subprocess
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILDER = REPO_ROOT / ".venv" / "bin" / "ansible-builder"


def test_ansible_builder_create_writes_the_build_context(tmp_path):
    context = tmp_path / "context"
    proc = subprocess.run([str(BUILDER), "create", "-f", "awx/execution-environment.yml", "-c", str(context)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "no_proxy": "*",
                               "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dockerfile = (context / "Dockerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in dockerfile
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core>=2.18,<2.21 ansible-runner>=2.4,<3"' in dockerfile
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert {c["name"] for c in galaxy["collections"]} == {
        "kubernetes.core", "community.postgresql", "community.general", "amazon.aws", "awx.awx"}
    assert "psycopg[binary]" in (context / "_build" / "requirements.txt").read_text()
    assert "postgresql-client [platform:dpkg]" in (context / "_build" / "bindep.txt").read_text()


def test_ansible_builder_refuses_an_invalid_definition(tmp_path):
    bad = tmp_path / "ee.yml"
    definition = yaml.safe_load((REPO_ROOT / "awx" / "execution-environment.yml").read_text())
    definition["dependencies"]["ansible_core"] = {"package": "ansible-core"}  # v3 wants package_pip
    bad.write_text(yaml.safe_dump(definition))
    proc = subprocess.run([str(BUILDER), "create", "-f", str(bad), "-c", str(tmp_path / "ctx")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0
    assert "ansible_core" in proc.stdout + proc.stderr

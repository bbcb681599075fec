"""The built collection is exactly the collection, and installs like any other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NOT_SHIPPED = ("rehearsal/", "tests/", "bench/", "molecule/", "tools/", ".ci/", ".collections/", ".venv/")


@pytest.fixture(scope="module")
def built_tarball(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("build")
    subprocess.run([BIN / "ansible-galaxy", "collection", "build", str(REPO), "--output-path", str(out)],
                   check=True, capture_output=True, text=True, timeout=120)
    (tarball,) = out.glob("greenlang-launch-*.tar.gz")
    return tarball


def test_built_tarball_holds_the_collection_and_nothing_of_the_rehearsal_or_tests(built_tarball):
    with tarfile.open(built_tarball) as tar:
        names = tar.getnames()
    assert "MANIFEST.json" in names
    assert any(n.startswith("plugins/modules/") for n in names)
    assert any(n.startswith("roles/backup/") for n in names)
    shipped_junk = [n for n in names if n.startswith(NOT_SHIPPED)]
    assert shipped_junk == []


def test_built_tarball_installs_and_its_modules_and_roles_resolve(built_tarball, tmp_path):
    install_dir = tmp_path / "collections"
    # Outside the checkout and without its ansible.cfg: only the installed copy can resolve.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    subprocess.run([BIN / "ansible-galaxy", "collection", "install", str(built_tarball), "-p", str(install_dir)],
                   check=True, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    installed = install_dir / "ansible_collections" / "greenlang" / "launch"
    manifest = json.loads((installed / "MANIFEST.json").read_text())
    assert manifest["collection_info"]["name"] == "launch"

    env["ANSIBLE_COLLECTIONS_PATH"] = str(install_dir)
    doc = subprocess.run([BIN / "ansible-doc", "--json", "greenlang.launch.metric_gate"],
                         check=True, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    info = json.loads(doc.stdout)["greenlang.launch.metric_gate"]
    assert str(installed) in info["doc"]["filename"]
    roles = subprocess.run([BIN / "ansible-doc", "-t", "role", "-l", "greenlang.launch"],
                           check=True, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    for role in ("backup", "restore", "migrate"):
        assert f"greenlang.launch.{role}" in roles.stdout

"""meta/runtime.yml action groups: module_defaults for a group must suit every member (docs/configuration.md).

Ansible passes a group's defaults to every member, and a member that does not take one of them fails with
"Unsupported parameters"; so each group's shared options are checked against each member's documented options.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RUNTIME = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
GROUPS = RUNTIME["action_groups"]
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
SHARED = {
    "postgresql": {"login_host", "login_port", "login_user", "login_password"},
    "http": {"timeout", "validate_certs", "ca_path", "headers"},
}


def members(group: str) -> list[str]:
    return [m for m in GROUPS[group] if isinstance(m, str)]


def documented_options(modules: list[str]) -> dict[str, set[str]]:
    out = subprocess.run([str(Path(sys.executable).parent / "ansible-doc"), "-j", "-t", "module",
                          *[f"greenlang.launch.{m}" for m in modules]], capture_output=True, text=True, check=True,
                         cwd=REPO, timeout=300).stdout
    return {name.split(".")[-1]: set(doc["doc"]["options"]) for name, doc in json.loads(out).items()}


def test_every_module_of_the_collection_is_in_the_launch_group():
    missing = sorted(set(MODULES) - set(members("launch")))
    assert missing == [], f"add {missing} to meta/runtime.yml action_groups.launch"


@pytest.mark.parametrize("group", sorted(SHARED))
def test_every_member_of_a_connection_group_takes_its_shared_options(group):
    options = documented_options(members(group))
    for module, documented in options.items():
        assert SHARED[group] <= documented, f"{module} lacks {sorted(SHARED[group] - documented)}"


def test_the_postgresql_group_covers_community_postgresql():
    [meta] = [m for m in GROUPS["postgresql"] if isinstance(m, dict)]
    assert meta["metadata"]["extend_group"] == ["community.postgresql.all"]

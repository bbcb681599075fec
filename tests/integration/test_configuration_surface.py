"""One configuration surface (issue 10): the roles read the inventory's launch_* variables.

The rehearsal inventory's own play (backup -> migrate -> restore from launch_* only) is in docs/configuration.md
and runs in test_docs_examples.py; here, the production inventory: its launch_backup_dir is where a backup lands.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
PRODUCTION_BACKUP_DIR = Path("/var/backups/greenlang-launch")  # inventories/production/group_vars


def test_production_launch_backup_dir_is_where_the_backup_lands(rehearsal_stack, tmp_path):
    env = rehearsal_stack.env
    # The production inventory as it is, except that its vcci database is the stack's (its real host names
    # do not resolve here) and its vaulted password is the stack's.
    database = {"name": env["VCCI_DB_NAME"], "host": env["VCCI_DB_HOST"], "port": int(env["VCCI_DB_PORT"]),
                "user": env["VCCI_DB_USER"], "password": env["VCCI_DB_PASSWORD"]}
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"launch_databases": {"vcci": database}}))
    extra.chmod(0o600)
    playbook = tmp_path / "backup.yml"
    playbook.write_text("- hosts: production\n  gather_facts: false\n  roles:\n"
                        "    - {role: greenlang.launch.backup, backup_app: vcci}\n")
    existed = PRODUCTION_BACKUP_DIR.exists()
    before = set(PRODUCTION_BACKUP_DIR.iterdir()) if existed else set()
    try:
        result = subprocess.run(
            [ANSIBLE_PLAYBOOK, "-i", str(REPO / "inventories" / "production"), str(playbook), "-e", f"@{extra}"],
            cwd=REPO, env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp")},
            capture_output=True, text=True, timeout=600, check=False)
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        created = sorted(p.name for p in set(PRODUCTION_BACKUP_DIR.iterdir()) - before)
        assert len(created) == 2 and created[0].startswith("vcci_production_"), created
        assert {Path(c).suffix for c in created} == {".dump", ".json"}
        assert database["password"] not in result.stdout + result.stderr
    finally:
        if existed:
            for path in set(PRODUCTION_BACKUP_DIR.iterdir()) - before:
                path.unlink()
        else:
            shutil.rmtree(PRODUCTION_BACKUP_DIR, ignore_errors=True)

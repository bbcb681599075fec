#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pg_backup_info
short_description: Choose a backup written by greenlang.launch.pg_backup and check it is intact
version_added: 0.1.0
description:
  - Lists the backups of an app and environment in O(directory) (from their manifests) and selects one, either the
    one named O(name), or else the newest backup whose manifest says it is verified. A named backup that is not
    verified (a test restore pending or failed) is refused unless O(allow_unverified=true).
  - With O(verify_checksum) (the default) the selected archive's size and sha256 are compared with its
    manifest; a damaged, truncated or replaced archive makes the module fail, naming the file and both checksums.
  - With O(verify_readable) the archive is also read back with C(pg_restore --list) (or a full gzip read).
  - With O(database) (the database a restore is for) the selected backup must be a backup of exactly that database
    according to its manifest, or the module fails naming the backup's database and the target.
  - It reads files only and never connects to PostgreSQL, so it has no C(login_*) options.
  - Never changes anything, so it runs in check mode too.
author:
  - GreenLang platform engineering (@greenlang)
extends_documentation_fragment:
  - greenlang.launch.backup_scope
  - greenlang.launch.pg_connection.client_tools
options:
  database:
    description:
      - Database the restore is for. When given, a backup of any other database is refused, as is a manifest that
        records no database. An empty value is refused.
    type: str
  name:
    description:
      - Backup to select. Empty selects the newest verified backup.
    type: str
    default: ''
  verify_checksum:
    description:
      - Compare the archive's size and sha256 with the manifest and fail on any difference.
    type: bool
    default: true
  verify_readable:
    description:
      - Also read the archive back (C(pg_restore --list), or decompress the whole C(.sql.gz)).
    type: bool
    default: false
  allow_unverified:
    description:
      - Accept a named backup whose manifest is not verified. Without it such a backup is refused, naming its
        pending checks. Never affects the automatic choice, which only considers verified backups.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Newest verified vcci backup, checksum checked
  greenlang.launch.pg_backup_info:
    directory: /var/backups/greenlang
    app: vcci
    environment: production
  register: chosen

- name: A named backup
  greenlang.launch.pg_backup_info:
    directory: /var/backups/greenlang
    app: vcci
    environment: production
    name: vcci_production_20250101T120000Z
    database: vcci
"""

RETURN = r"""
backup:
  description: Manifest of the selected backup.
  returned: success
  type: dict
path:
  description: Path of the selected archive.
  returned: success
  type: str
backups:
  description: >-
    Names of all backups of this app and environment in the directory, oldest first, with C(verified) and
    C(database).
  returned: success
  type: list
  elements: dict
  sample: [{"name": "vcci_production_20250101T120000Z", "verified": true, "database": "vcci"}]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils.failure import StepError, fail_step
from ansible_collections.greenlang.launch.plugins.module_utils.pg_backup import (
    backup_scope_argument_spec,
    client_tools_argument_spec,
    libpq_env,
    list_backups,
    select_backup,
    verify_checksum,
    verify_readable,
)


def argument_spec():
    spec = backup_scope_argument_spec()
    spec.update(client_tools_argument_spec())
    spec.update(
        database=dict(type="str"),
        name=dict(type="str", default=""),
        verify_checksum=dict(type="bool", default=True),
        verify_readable=dict(type="bool", default=False),
        allow_unverified=dict(type="bool", default=False),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    try:
        backups = [dict(name=m["name"], verified=bool(m.get("verified")), database=m.get("database", ""))
                   for m in list_backups(p["directory"], p["app"], p["environment"])]
        manifest = select_backup(p["directory"], p["app"], p["environment"], p["name"] or None,
                                 allow_unverified=p["allow_unverified"], database=p["database"])
        path = os.path.join(p["directory"], manifest["archive"])
        if p["verify_checksum"]:
            verify_checksum(p["directory"], manifest)
        if p["verify_readable"]:
            verify_readable(p["pg_bin_dir"], path, manifest["format"], "list", libpq_env({}))
    except StepError as exc:
        fail_step(module, exc)
    module.exit_json(changed=False, backup=manifest, path=path, backups=backups)


if __name__ == "__main__":
    main()

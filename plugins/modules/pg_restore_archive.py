#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pg_restore_archive
short_description: Restore a backup written by greenlang.launch.pg_backup into an empty database
version_added: 0.1.0
description:
  - Refuses, before anything runs, a backup that is not a backup of O(expected_database) (by default
    O(database) itself) or, when given, of O(app) and O(environment) according to its manifest; a manifest that
    records no app, environment or database; an empty or invalid O(database); PostgreSQL's maintenance and
    template databases (C(postgres), C(template0), C(template1)); a target database that does not exist or is not
    empty. The message names the parameter, the backup's database and the target.
  - Checks the archive's size and sha256 against its manifest first and refuses a damaged or truncated archive.
  - Restores into the existing, empty database O(database) and stops at the first error (C(pg_restore
    --exit-on-error --single-transaction), or C(pg_restore -j) with O(jobs) > 1; C(psql ON_ERROR_STOP
    --single-transaction) for C(.sql.gz)).
  - Then counts the rows of the manifest's key tables in the restored database and fails on any difference.
  - Restoring is an action, not a state, so the module always reports C(changed) outside check mode. The roles
    restore into a fresh database and swap it in only afterwards, so a failed restore leaves the live one untouched.
  - In check mode only the checksum is verified.
author:
  - GreenLang platform engineering (@greenlang)
extends_documentation_fragment:
  - greenlang.launch.pg_connection
  - greenlang.launch.pg_connection.client_tools
  - greenlang.launch.pg_backup_ref
options:
  database:
    description:
      - Existing, empty database to restore into (a PostgreSQL identifier, see P(greenlang.launch.pg_identifier#test)).
    type: str
    required: true
  expected_database:
    description:
      - The database this restore is for, which must be the database the backup was taken of (its manifest's
        C(database)). The roles restore into a fresh scratch database and pass the live database's name here.
      - Defaults to O(database).
    type: str
  app:
    description:
      - When given, the backup's manifest must record this app. An empty value is refused.
    type: str
  environment:
    description:
      - When given, the backup's manifest must record this environment. An empty value is refused.
    type: str
  jobs:
    description:
      - Parallel restore workers (custom and directory formats). C(1) restores in a single transaction.
    type: int
    default: 1
  check_row_counts:
    description:
      - Compare the restored key tables' row counts with the manifest and fail on a difference.
    type: bool
    default: true
  timeout:
    description:
      - Seconds the restore may take.
    type: int
    default: 21600
"""

EXAMPLES = r"""
- name: Restore the chosen backup into a fresh database
  greenlang.launch.pg_restore_archive:
    directory: /var/backups/greenlang
    name: "{{ chosen.backup.name }}"
    database: vcci__restore
    expected_database: vcci
    app: vcci
    environment: production
    jobs: 2
    login_host: db.internal
    login_password: "{{ vault_pg_password }}"
"""

RETURN = r"""
seconds:
  description: Time the restore itself took.
  returned: success and not check mode
  type: float
row_counts:
  description: Row counts of the manifest's key tables in the restored database.
  returned: success and not check mode
  type: dict
path:
  description: Archive that was restored.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils.failure import StepError, fail_step, fail_validation
from ansible_collections.greenlang.launch.plugins.module_utils.pg_backup import (
    backup_ref_argument_spec,
    check_identifier,
    check_restore_target,
    connection_argument_spec,
    connection_from_params,
    read_manifest,
    restore_archive,
    verify_checksum,
)


def argument_spec():
    spec = connection_argument_spec()
    spec.update(backup_ref_argument_spec())
    spec.update(
        database=dict(type="str", required=True),
        expected_database=dict(type="str"),
        app=dict(type="str"),
        environment=dict(type="str"),
        jobs=dict(type="int", default=1),
        check_row_counts=dict(type="bool", default=True),
        timeout=dict(type="int", default=21600),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    if p["jobs"] < 1:
        fail_validation(module, "jobs=%s: must be 1 or more" % p["jobs"])
    if p["timeout"] < 1:
        fail_validation(module, "timeout=%s: must be 1 or more seconds" % p["timeout"])
    expected = p["database"] if p["expected_database"] is None else p["expected_database"]
    diff = dict(before="database %s: as it is\n" % p["database"],
                after="database %s: restored from %s\n" % (p["database"], p["name"]))
    try:
        check_identifier("database", p["database"])
        manifest = read_manifest(p["directory"], p["name"])
        check_restore_target(manifest, expected, p["app"], p["environment"])
        path = verify_checksum(p["directory"], manifest)
        if module.check_mode:
            module.exit_json(changed=True, path=path, diff=diff)
        result = restore_archive(connection_from_params(p), p["directory"], manifest, p["database"],
                                 pg_bin=p["pg_bin_dir"], jobs=p["jobs"], timeout=p["timeout"],
                                 check_row_counts=p["check_row_counts"], expected_database=expected,
                                 app=p["app"], environment=p["environment"])
    except StepError as exc:
        fail_step(module, exc, "restore of %s into database %r" % (p["name"], p["database"]))
    module.exit_json(changed=True, path=path, seconds=result["seconds"], row_counts=result["row_counts"], diff=diff)


if __name__ == "__main__":
    main()

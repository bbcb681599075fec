#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pg_backup
short_description: Back up a PostgreSQL database with pg_dump, verify the archive and write a manifest
version_added: 0.1.0
description:
  - Dumps O(database) with C(pg_dump) into O(directory) as C(<app>_<environment>_<UTC timestamp>) plus the
    format's suffix (C(.dump), C(.sql.gz) or C(.dir)), and writes C(<name>.manifest.json) beside it.
  - The sha256 of the archive is computed while it is written; the file only gets its final name after pg_dump
    succeeded and the data is on disk, so a failed dump never looks like a backup.
  - Before reporting success the archive is read back (C(pg_restore --list), or a full gzip read for
    O(format=plain_gz)). With O(verify=full) every data block of a custom/directory archive is read too.
  - Row counts of O(key_tables) are taken in the same snapshot pg_dump uses (C(pg_dump --snapshot)), so they
    describe exactly the data in the archive even while the application keeps writing.
  - Fails before writing anything when the directory is missing, not writable, or has less than
    O(free_space_ratio) times the database size free. The message says which step failed and where.
  - Every run creates a new backup (a backup is a point in time), so the module always reports C(changed) outside
    check mode. In check mode it only runs the read-only checks and reports the name it would use.
author:
  - GreenLang platform engineering (@greenlang)
extends_documentation_fragment:
  - greenlang.launch.backup_scope
  - greenlang.launch.pg_connection
  - greenlang.launch.pg_connection.client_tools
options:
  release:
    description:
      - Release being deployed when the backup was taken; recorded in the manifest.
    type: str
    default: ''
  database:
    description:
      - Database to dump. An empty value, a connection string (containing C(=)) or a URI is refused,
        because C(pg_dump -d "") would dump the connecting role's default database instead.
    type: str
    required: true
  format:
    description:
      - C(custom) is C(pg_dump -Fc) (restorable selectively and in parallel).
      - C(plain_gz) is the runbook's gzipped SQL script (C(.sql.gz)); restore replays it with C(psql).
      - C(directory) is C(pg_dump -Fd) with O(jobs) parallel workers, the fastest for large databases.
    type: str
    choices: [custom, plain_gz, directory]
    default: custom
  compress_level:
    description:
      - zlib compression level, C(0) (none) to C(9). C(1) is several times faster than gzip's default C(6) for a
        slightly larger archive. O(format=plain_gz) needs at least C(1).
    type: int
    default: 1
  jobs:
    description:
      - Parallel dump workers for O(format=directory); ignored otherwise.
    type: int
    default: 1
  verify:
    description:
      - C(list) reads the archive's table of contents back; C(full) also reads every data block.
    type: str
    choices: [list, full]
    default: list
  key_tables:
    description:
      - Tables (optionally C(schema.table)) whose row counts go into the manifest, for restore checks.
    type: list
    elements: str
    default: []
  pending_checks:
    description:
      - Checks still to be recorded with M(greenlang.launch.pg_backup_manifest) (for example C(test_restore))
        before the backup counts as verified. Until then no restore selects it.
    type: list
    elements: str
    default: []
  free_space_ratio:
    description:
      - Free space the directory needs before the dump starts, as a multiple of the database size
        (C(pg_database_size)). C(0) disables the check; a write error during the dump still fails the module.
        A negative value is refused.
    type: float
    default: 0.5
  timeout:
    description:
      - Seconds the dump and its verification may take. A watchdog enforces it even when pg_dump writes nothing
        (waiting for a lock, an unresponsive server); pg_dump is then killed and the module fails saying so.
    type: int
    default: 21600
  lock_wait_timeout:
    description:
      - Seconds to wait for the table locks the row counts and C(pg_dump --lock-wait-timeout) need, at most
        O(timeout). A session holding a conflicting lock (for example ACCESS EXCLUSIVE from a running migration)
        then fails the backup with a message saying so instead of blocking it.
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Back up the vcci database before the migration
  greenlang.launch.pg_backup:
    app: vcci
    environment: production
    release: "2.0.0"
    database: vcci
    directory: /var/backups/greenlang
    key_tables: [public.emissions, public.suppliers]
    login_host: db.internal
    login_user: backup
    login_password: "{{ vault_backup_password }}"
  register: backup

- name: Runbook-style gzipped SQL script
  greenlang.launch.pg_backup:
    app: cbam
    environment: staging
    database: cbam
    directory: /var/backups/greenlang
    format: plain_gz
    compress_level: 6
"""

RETURN = r"""
name:
  description: Backup name (C(<app>_<environment>_<UTC timestamp>)); archive and manifest file names start with it.
  returned: always
  type: str
  sample: vcci_production_20250101T120000Z
path:
  description: Path of the archive (a directory for O(format=directory)). Empty in check mode.
  returned: always
  type: str
  sample: /var/backups/greenlang/vcci_production_20250101T120000Z.dump
manifest_path:
  description: Path of the JSON manifest. Empty in check mode.
  returned: always
  type: str
manifest:
  description: >-
    The manifest: app, environment, release, database, server_version, format, size_bytes, sha256, started_at,
    finished_at, duration_seconds, row_counts, verification, verified, warnings (for example when no key tables
    were configured, so there are no row counts to check a restore against). Never contains credentials.
  returned: success and not check mode
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils.failure import StepError, fail_step, fail_validation
from ansible_collections.greenlang.launch.plugins.module_utils.pg_backup import (
    FORMATS,
    BackupError,
    backup_basename,
    backup_scope_argument_spec,
    check_database,
    check_directory,
    check_name,
    connection_argument_spec,
    connection_from_params,
    create_backup,
    manifest_path,
    utc_now,
)


def argument_spec():
    spec = connection_argument_spec()
    spec.update(backup_scope_argument_spec())
    spec.update(
        release=dict(type="str", default=""),
        database=dict(type="str", required=True),
        format=dict(type="str", choices=list(FORMATS), default="custom"),
        compress_level=dict(type="int", default=1),
        jobs=dict(type="int", default=1),
        verify=dict(type="str", choices=["list", "full"], default="list"),
        key_tables=dict(type="list", elements="str", default=[], no_log=False),
        pending_checks=dict(type="list", elements="str", default=[]),
        free_space_ratio=dict(type="float", default=0.5),
        timeout=dict(type="int", default=21600),
        lock_wait_timeout=dict(type="int", default=300),
    )
    return spec


def check_mode_plan(module):
    """Read-only version of the preflight: report what a real run would create."""
    p = module.params
    check_database("database", p["database"])
    check_name("app", p["app"])
    check_name("environment", p["environment"])
    directory = p["directory"]
    check_directory("preflight", directory)
    if not os.access(directory, os.W_OK):
        raise BackupError("preflight", "backup directory is not writable", directory)
    name = backup_basename(p["app"], p["environment"], utc_now(), directory)
    return name


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    if not 0 <= p["compress_level"] <= 9:
        fail_validation(module, "compress_level=%s: allowed values are 0-9" % p["compress_level"])
    if p["timeout"] < 1 or p["lock_wait_timeout"] < 1:
        fail_validation(module, "timeout=%s, lock_wait_timeout=%s: both must be 1 or more seconds"
                        % (p["timeout"], p["lock_wait_timeout"]))
    if p["jobs"] < 1:
        fail_validation(module, "jobs=%s: must be 1 or more" % p["jobs"])
    if p["free_space_ratio"] < 0:
        fail_validation(module, "free_space_ratio=%s: must be 0 (no check) or more" % p["free_space_ratio"])
    try:
        if module.check_mode:
            name = check_mode_plan(module)
            module.exit_json(changed=True, name=name, path="", manifest_path="",
                             diff=dict(before="", after="backup %s of database %s in %s (%s)\n"
                                       % (name, p["database"], p["directory"], p["format"])))
        manifest = create_backup(
            connection_from_params(p), p["database"], p["directory"], p["app"], p["environment"],
            release=p["release"], fmt=p["format"], compress_level=p["compress_level"], jobs=p["jobs"],
            pg_bin=p["pg_bin_dir"], verify_mode=p["verify"], key_tables=p["key_tables"],
            pending_checks=p["pending_checks"], free_space_ratio=p["free_space_ratio"], timeout=p["timeout"],
            lock_wait_timeout=p["lock_wait_timeout"])
    except StepError as exc:
        fail_step(module, exc, "backup of database %s to %s" % (p["database"], p["directory"]))
    module.exit_json(changed=True, name=manifest["name"], path=os.path.join(p["directory"], manifest["archive"]),
                     manifest_path=manifest_path(p["directory"], manifest["name"]), manifest=manifest,
                     diff=dict(before="", after="backup %s (%d bytes, sha256 %s)\n"
                               % (manifest["name"], manifest["size_bytes"], manifest["sha256"])))


if __name__ == "__main__":
    main()

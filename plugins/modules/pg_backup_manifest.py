#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pg_backup_manifest
short_description: Record the result of a check (such as a test restore) in a backup's manifest
version_added: 0.1.0
description:
  - Writes O(result) under C(verification.<check>) in the manifest of backup O(name) and recomputes
    C(verified), which is true only when no check is pending and none failed. A backup whose test restore
    failed is therefore never selected for a restore by M(greenlang.launch.pg_backup_info).
  - Idempotent - recording the same result twice reports no change. Supports check mode and diff.
author:
  - GreenLang platform engineering (@greenlang)
extends_documentation_fragment:
  - greenlang.launch.pg_backup_ref
options:
  check:
    description:
      - Name of the check, for example C(test_restore).
    type: str
    required: true
  result:
    description:
      - What the check found. Must contain C(ok) (bool); anything else is kept as evidence.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Mark the backup verified after a test restore matched its row counts
  greenlang.launch.pg_backup_manifest:
    directory: /var/backups/greenlang
    name: "{{ backup.name }}"
    check: test_restore
    result:
      ok: true
      database: vcci_verify
      seconds: 12.5
"""

RETURN = r"""
manifest:
  description: The manifest after the update.
  returned: success
  type: dict
verified:
  description: Whether the backup now counts as verified.
  returned: success
  type: bool
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils.failure import StepError, fail_step, fail_validation
from ansible_collections.greenlang.launch.plugins.module_utils.pg_backup import (
    backup_ref_argument_spec,
    read_manifest,
    record_check,
    write_manifest,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backup_ref_argument_spec(),
            check=dict(type="str", required=True),
            result=dict(type="dict", required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not p["check"].strip():
        fail_validation(module, "check is empty: name the check to record, for example test_restore")
    if not isinstance(p["result"].get("ok"), bool):
        fail_validation(module, "result.ok must be true or false, got %r" % (p["result"].get("ok"),))
    try:
        before = read_manifest(p["directory"], p["name"])
        manifest, changed = record_check(p["directory"], p["name"], p["check"], p["result"])
        if changed and not module.check_mode:
            write_manifest(p["directory"], manifest)
    except (StepError, OSError) as exc:
        fail_step(module, exc, "recording %s for backup %s in %s" % (p["check"], p["name"], p["directory"]))
    module.exit_json(changed=changed, manifest=manifest, verified=manifest["verified"],
                     diff=dict(before=json.dumps(before, indent=2, sort_keys=True) + "\n",
                               after=json.dumps(manifest, indent=2, sort_keys=True) + "\n"))


if __name__ == "__main__":
    main()

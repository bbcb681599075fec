#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pg_backup_retention
short_description: Delete old backups of an app and environment, never the last verified one
version_added: 0.1.0
description:
  - Applies a retention policy to the backups (manifests) of O(app) / O(environment) in O(directory).
  - A backup is kept when it is among the newest O(keep_last) and/or younger than O(max_age_days); when both are
    set it must satisfy both. C(0) disables a rule; with both C(0) nothing is deleted.
  - The newest verified backup and every name in O(protect) are always kept, so retention can never remove the
    only way back.
  - Only the backups whose manifests record exactly O(app) and O(environment) are considered; an empty name is
    refused, so another app's backups are never deleted.
  - Idempotent; check mode and diff report what would be deleted.
author:
  - GreenLang platform engineering (@greenlang)
extends_documentation_fragment:
  - greenlang.launch.backup_scope
options:
  keep_last:
    description:
      - Number of newest backups to keep. C(0) disables this rule.
    type: int
    default: 0
  max_age_days:
    description:
      - Age in days beyond which a backup may be deleted. C(0) disables this rule.
    type: float
    default: 0
  protect:
    description:
      - Backup names that must survive regardless of the policy (for example the one just taken).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Keep the newest 7 backups of vcci and nothing older than 30 days
  greenlang.launch.pg_backup_retention:
    directory: /var/backups/greenlang
    app: vcci
    environment: production
    keep_last: 7
    max_age_days: 30
"""

RETURN = r"""
deleted:
  description: Names of the backups deleted (or that would be, in check mode).
  returned: success
  type: list
  elements: str
kept:
  description: Names of the backups kept, oldest first.
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils.failure import StepError, fail_step, fail_validation
from ansible_collections.greenlang.launch.plugins.module_utils.pg_backup import (
    backup_scope_argument_spec,
    delete_backup,
    list_backups,
    plan_retention,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backup_scope_argument_spec(),
            keep_last=dict(type="int", default=0),
            max_age_days=dict(type="float", default=0),
            protect=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["keep_last"] < 0 or p["max_age_days"] < 0:
        fail_validation(module, "keep_last=%s, max_age_days=%s: both must be 0 (disabled) or more"
                        % (p["keep_last"], p["max_age_days"]))
    try:
        backups = list_backups(p["directory"], p["app"], p["environment"])
        doomed = plan_retention(backups, p["keep_last"], p["max_age_days"], protect=p["protect"])
        if not module.check_mode:
            for manifest in doomed:
                delete_backup(p["directory"], manifest)
    except (StepError, OSError) as exc:
        fail_step(module, exc, "retention in %s" % p["directory"])
    deleted = [m["name"] for m in doomed]
    kept = [m["name"] for m in backups if m["name"] not in deleted]
    module.exit_json(changed=bool(deleted), deleted=deleted, kept=kept,
                     diff=dict(before="\n".join(m["name"] for m in backups) + "\n", after="\n".join(kept) + "\n"))


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pg_replication_promote
short_description: Promote a PostgreSQL standby once it holds everything the old primary acknowledged
version_added: 0.1.0
description:
  - Waits until the candidate has received WAL past O(expected_lsn) (after a switchover, the old primary's
    shutdown checkpoint, which greenlang.launch.pg_replication_fence reports) and replayed all it received,
    then runs C(pg_promote()) and waits for it to finish. A candidate that does not get there within O(timeout)
    is not promoted; the failure names both positions.
  - After a crash failover O(expected_lsn) is empty; a synchronous standby (see greenlang.launch.pg_replication_check)
    holds every acknowledged commit.
  - With O(release_synchronous) the new primary, which has no standby yet, stops waiting for one
    (C(ALTER SYSTEM SET synchronous_standby_names = '')), as Patroni's non-strict synchronous mode does; without
    it every commit waits until a standby rejoins. greenlang.launch.pg_replication_rejoin restores the setting.
  - Idempotent. A candidate that is already a primary is left alone (C(changed=false)).
  - Check mode reports whether it would promote.
author:
  - GreenLang platform engineering (@greenlang)
extends_documentation_fragment:
  - greenlang.launch.pg_replication
options:
  candidate:
    description: The standby to promote.
    type: dict
    required: true
    suboptions:
      host: {description: Its address., type: str, required: true}
      port: {description: Its port., type: int, default: 5432}
      name: {description: Its name., type: str}
  expected_lsn:
    description: WAL position the candidate must have received past before promotion; empty to skip.
    type: str
    default: ''
  timeout:
    description: Seconds to wait for the candidate to catch up, and again for the promotion.
    type: int
    default: 60
  release_synchronous:
    description: Let the new primary commit without a synchronous standby until one rejoins.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Promote pg-b once it holds the old primary's shutdown checkpoint
  greenlang.launch.pg_replication_promote:
    candidate: {host: 10.0.2.10, name: pg_b}
    expected_lsn: "{{ dr_fence.report.shutdown_checkpoint_lsn | default('') }}"
    login_password: "{{ vault_pg_superuser_password }}"
"""

RETURN = r"""
report:
  description: Positions and times.
  returned: always
  type: dict
  sample: {"expected_lsn": "0/5000028", "receive_lsn": "0/50000A0", "replay_lsn": "0/50000A0",
           "promoted_lsn": "0/50001B8", "timeline": 3, "caught_up_s": 0.02, "synchronous_standby_names_before":
           "FIRST 1 (pg_a, pg_b)", "started": "2026-06-01T12:00:00.000Z", "ended": "2026-06-01T12:00:00.300Z",
           "elapsed_s": 0.3}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils import pg_replication as pr


def main():
    spec = pr.common_argument_spec()
    spec.update(candidate=dict(pr.node_argument_spec(), required=True), expected_lsn=dict(type="str", default=""),
                timeout=dict(type="int", default=60), release_synchronous=dict(type="bool", default=True))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    if p["expected_lsn"]:
        try:
            pr.lsn_to_int(p["expected_lsn"])
        except ValueError:
            module.fail_json(msg="expected_lsn must be an LSN like 0/5000028, not %r" % p["expected_lsn"])
    c = p["candidate"]
    connect = pr.connect_opener(c["host"], c["port"], p["login_user"], p["login_password"], p["connect_timeout"])
    try:
        report = pr.promote(connect, p["expected_lsn"] or None, timeout=p["timeout"],
                            release_synchronous=p["release_synchronous"], check_mode=module.check_mode)
    except pr.DRError as exc:
        module.fail_json(msg="promote: %s" % exc, step=exc.step, report=pr.timed(exc.details))
    module.exit_json(changed=report["changed"], report=pr.timed(report),
                     diff=dict(before={"role": "primary" if report.get("already_primary") else "standby"},
                               after={"role": "primary"}))


if __name__ == "__main__":
    main()

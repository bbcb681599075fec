#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pg_replication_fence
short_description: Fence an old PostgreSQL primary so that it never accepts a write again
version_added: 0.1.0
description:
  - Runs on the old primary's host, against its data directory.
  - First writes C(standby.signal) and a C(primary_conninfo) naming the new primary (last in
    C(postgresql.auto.conf)), so that any restart, by hand, by systemd or by the host coming back, starts it as a
    read-only standby. Then stops it (C(pg_ctl stop -m fast), which sends its standbys everything up to the
    shutdown checkpoint and detaches them; C(immediate), then SIGKILL, when that does not finish).
  - When it answers, a CHECKPOINT runs first (writes still flow), so the stop that starts the write outage is
    short, and the standbys it had are listed in RV(report) (C(detached_standbys)).
  - Reports the shutdown checkpoint LSN after a clean stop; the candidate must hold it before promotion
    (O(greenlang.launch.pg_replication_promote#module:expected_lsn)).
  - Idempotent. A stopped node that already carries both files is left alone (C(changed=false)).
  - Check mode reports what it would do; diff mode shows the node's state before and after.
  - A data directory that is not there fails; fence the host another way (power off, security group) first.
author:
  - GreenLang platform engineering (@greenlang)
extends_documentation_fragment:
  - greenlang.launch.pg_replication
options:
  data_dir:
    description: The old primary's data directory.
    type: path
    required: true
  node:
    description: How to reach the old primary (to list its standbys and checkpoint before the stop).
    type: dict
    required: true
    suboptions:
      host: {description: Its address., type: str, required: true}
      port: {description: Its port., type: int, default: 5432}
      name: {description: Its name; the application_name it will stream under as a standby., type: str,
             required: true}
  new_primary:
    description: The node that takes over; the fenced node's C(primary_conninfo) points there.
    type: dict
    required: true
    suboptions:
      host: {description: Its address., type: str, required: true}
      port: {description: Its port., type: int, default: 5432}
      name: {description: Its name., type: str}
  stop_timeout:
    description: Seconds each stop mode may take before the next, harder one.
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: Fence pg-a (standby.signal first, then stop)
  greenlang.launch.pg_replication_fence:
    data_dir: /var/lib/postgresql/15/main
    node: {host: 10.0.1.10, name: pg_a}
    new_primary: {host: 10.0.2.10, name: pg_b}
    login_password: "{{ vault_pg_superuser_password }}"
  become: true
  delegate_to: pg-a.internal
"""

RETURN = r"""
report:
  description: What was done and measured.
  returned: always
  type: dict
  sample: {"actions": ["write standby.signal and primary_conninfo", "stop the server"], "stopped_by": "fast",
           "detached_standbys": ["pg_b"], "cluster_state": "shut down", "shutdown_checkpoint_lsn": "0/5000028",
           "started": "2026-06-01T12:00:00.000Z", "ended": "2026-06-01T12:00:00.412Z", "elapsed_s": 0.412}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils import pg_replication as pr


def main():
    spec = pr.common_argument_spec()
    spec.update(data_dir=dict(type="path", required=True), node=dict(pr.node_argument_spec(True), required=True),
                new_primary=dict(pr.node_argument_spec(), required=True), stop_timeout=dict(type="int", default=30))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    node, new = p["node"], p["new_primary"]
    info = pr.conninfo(new["host"], new["port"], p["login_user"], p["login_password"] or None, node["name"])
    before = pr.fence_state(p["data_dir"], info)
    try:
        report = pr.fence(p["data_dir"], p["pg_bin_dir"], p["os_user"], info,
                          connect=pr.connect_opener(node["host"], node["port"], p["login_user"], p["login_password"],
                                                    p["connect_timeout"]),
                          timeout=p["stop_timeout"], check_mode=module.check_mode)
    except pr.DRError as exc:
        module.fail_json(msg="fence: %s" % exc, step=exc.step, report=pr.timed(exc.details))
    after = before if module.check_mode else pr.fence_state(p["data_dir"], info)
    if module.check_mode and report["changed"]:
        after = dict(before, running=False, standby_signal=True, primary_conninfo_points_at_new_primary=True)
    module.exit_json(changed=report["changed"], report=pr.timed(report), diff=dict(before=before, after=after))


if __name__ == "__main__":
    main()

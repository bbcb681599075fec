#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pg_replication_rejoin
short_description: Bring a former PostgreSQL primary back as a streaming standby (pg_rewind, else pg_basebackup)
version_added: 0.1.0
description:
  - Runs on the former primary's host. Stops it if it runs, CHECKPOINTs the new primary (pg_rewind reads the new
    timeline from its control file), rewinds the data directory with C(pg_rewind) against the new primary
    (which also finishes a crashed node's recovery), and with O(allow_basebackup) falls back to a full
    C(pg_basebackup) when the rewind fails (no C(wal_log_hints), WAL gone). The node gets C(standby.signal) and a
    C(primary_conninfo) naming the new primary, is started, and must be streaming within O(timeout).
  - With O(synchronous) the new primary then waits for it again (C(ALTER SYSTEM RESET synchronous_standby_names)).
  - Idempotent. A node already streaming from the new primary is left alone (C(changed=false)).
  - Check mode reports whether it would rejoin.
author:
  - GreenLang platform engineering (@greenlang)
extends_documentation_fragment:
  - greenlang.launch.pg_replication
options:
  data_dir:
    description: The former primary's data directory.
    type: path
    required: true
  node:
    description: The former primary (to check it streams once started); O(node.name) is its application_name.
    type: dict
    required: true
    suboptions:
      host: {description: Its address., type: str, required: true}
      port: {description: Its port., type: int, default: 5432}
      name: {description: Its name., type: str, required: true}
  new_primary:
    description: The current primary to rewind from and stream from.
    type: dict
    required: true
    suboptions:
      host: {description: Its address., type: str, required: true}
      port: {description: Its port., type: int, default: 5432}
      name: {description: Its name., type: str}
  server_options:
    description: Options for C(pg_ctl start -o) (for servers whose port or address is given on the command line).
    type: str
    default: ''
  log_file:
    description: C(pg_ctl -l) log file; empty leaves logging to the server's configuration.
    type: path
    default: ''
  start_command:
    description:
      - Command that starts the server instead of C(pg_ctl start) (for example C(systemctl start postgresql@15-main)),
        run as root. Empty uses C(pg_ctl).
    type: str
    default: ''
  timeout:
    description: Seconds the rewind (or base backup) may take, and again for the node to stream.
    type: int
    default: 300
  allow_basebackup:
    description: Copy the whole cluster with pg_basebackup when pg_rewind fails.
    type: bool
    default: true
  synchronous:
    description: Make the new primary wait for this standby again once it streams.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Rejoin pg-a as standby of pg-b
  greenlang.launch.pg_replication_rejoin:
    data_dir: /var/lib/postgresql/15/main
    node: {host: 10.0.1.10, name: pg_a}
    new_primary: {host: 10.0.2.10, name: pg_b}
    start_command: systemctl start postgresql@15-main
    login_password: "{{ vault_pg_superuser_password }}"
  become: true
  delegate_to: pg-a.internal
"""

RETURN = r"""
report:
  description: How it rejoined and how long each part took (seconds from the start).
  returned: always
  type: dict
  sample: {"method": "pg_rewind", "checkpoint_s": 0.09, "rewound_s": 0.9, "started_s": 1.4, "streaming_s": 1.6,
           "sync_state": "sync", "started": "2026-06-01T12:00:00.000Z", "ended": "2026-06-01T12:00:01.600Z",
           "elapsed_s": 1.6}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils import pg_replication as pr


def main():
    spec = pr.common_argument_spec()
    spec.update(data_dir=dict(type="path", required=True), node=dict(pr.node_argument_spec(True), required=True),
                new_primary=dict(pr.node_argument_spec(), required=True), server_options=dict(type="str", default=""),
                log_file=dict(type="path", default=""), start_command=dict(type="str", default=""),
                timeout=dict(type="int", default=300), allow_basebackup=dict(type="bool", default=True),
                synchronous=dict(type="bool", default=True))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    node, new = p["node"], p["new_primary"]
    source = dict(host=new["host"], port=new["port"], user=p["login_user"], password=p["login_password"],
                  application_name=node["name"])
    connect = pr.connect_opener(node["host"], node["port"], p["login_user"], p["login_password"], p["connect_timeout"])
    primary = pr.connect_opener(new["host"], new["port"], p["login_user"], p["login_password"], p["connect_timeout"])
    try:
        report = pr.rejoin(p["data_dir"], p["pg_bin_dir"], p["os_user"], source, connect, primary,
                           server_options=p["server_options"], log_file=p["log_file"] or None, timeout=p["timeout"],
                           allow_basebackup=p["allow_basebackup"], check_mode=module.check_mode,
                           start_command=p["start_command"] or None)
        if p["synchronous"] and not module.check_mode:
            report["sync_state"] = pr.sync_state(primary, node["name"])
            if report["sync_state"] not in pr.SYNC_STATES:  # the promotion released it; wait for this one again
                report["sync_state"] = pr.restore_synchronous(primary, node["name"])
                report["changed"] = True
    except pr.DRError as exc:
        module.fail_json(msg="rejoin: %s" % exc, step=exc.step, report=pr.timed(exc.details))
    module.exit_json(changed=report["changed"], report=pr.timed(report),
                     diff=dict(before={"streaming_from": "" if report["changed"] else new["host"]},
                               after={"streaming_from": new["host"]}))


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pg_replication_check
short_description: Decide whether a PostgreSQL standby may take over from its primary
version_added: 0.1.0
description:
  - Reads the old primary (when it answers) and the candidate standby, and refuses the switchover or failover
    when the candidate would lose acknowledged commits or cannot take over, saying why with the measured numbers.
  - The candidate must be a standby. For O(mode=switchover) the primary must answer and list the candidate as
    C(streaming) in C(pg_stat_replication).
  - The lag is the primary's current WAL position minus what the candidate has replayed. An asynchronous
    candidate lagging more than O(max_lag_bytes) is refused unless O(force); a synchronous one (C(sync) or
    C(quorum)) holds every acknowledged commit and is never refused for lag (the promotion waits for replay).
  - With the primary unreachable (O(mode=failover)), a candidate that its own C(synchronous_standby_names)
    names is accepted; an asynchronous one is refused unless O(force), since its loss cannot be measured.
  - Reports whether each node could later be rewound (C(full_page_writes), C(wal_log_hints) or data checksums);
    with O(require_rewind) a node that could not is refused.
  - Never changes anything, so it runs in check mode too.
author:
  - GreenLang platform engineering (@greenlang)
extends_documentation_fragment:
  - greenlang.launch.pg_replication
options:
  mode:
    description:
      - C(switchover) (planned, the primary answers) or C(failover) (the primary is gone or must be replaced).
    type: str
    required: true
    choices: [switchover, failover]
  primary:
    description:
      - The current primary (host, port); an unreachable one is reported as such (failover only).
    type: dict
    required: true
    suboptions:
      host: {description: Address or name clients and standbys use for it., type: str, required: true}
      port: {description: Its port., type: int, default: 5432}
      name: {description: Its name (cluster_name)., type: str}
  candidate:
    description:
      - The standby to promote; O(candidate.name) is its C(application_name) as the primary sees it.
    type: dict
    required: true
    suboptions:
      host: {description: Its address., type: str, required: true}
      port: {description: Its port., type: int, default: 5432}
      name: {description: Its application_name (cluster_name)., type: str, required: true}
  max_lag_bytes:
    description:
      - Largest lag (bytes of WAL not replayed) accepted from an asynchronous candidate.
    type: int
    default: 16777216
  force:
    description:
      - Accept an asynchronous candidate beyond O(max_lag_bytes), one not streaming, or one whose lag cannot be
        measured. Acknowledged commits it lacks are lost.
    type: bool
    default: false
  require_rewind:
    description:
      - Refuse when a node could not be rewound later (failback would need a full pg_basebackup).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Check that pg-b may take over from pg-a
  greenlang.launch.pg_replication_check:
    mode: switchover
    primary: {host: 10.0.1.10, port: 5432, name: pg_a}
    candidate: {host: 10.0.2.10, port: 5432, name: pg_b}
    login_password: "{{ vault_pg_superuser_password }}"
    max_lag_bytes: 1048576
  register: dr_check
"""

RETURN = r"""
report:
  description: The decision's figures.
  returned: always
  type: dict
  sample: {"mode": "switchover", "candidate": "pg_b", "lag_bytes": 120, "sync_state": "sync", "warnings": [],
           "primary_reachable": true, "primary_lsn": "0/3000148", "candidate_replay_lsn": "0/3000060",
           "started": "2026-06-01T12:00:00.000Z", "ended": "2026-06-01T12:00:00.041Z", "elapsed_s": 0.041}
primary_status:
  description: What the primary reported (role, WAL position, pg_stat_replication rows, settings); null if unreachable.
  returned: always
  type: dict
candidate_status:
  description: What the candidate reported (receive and replay LSN, WAL receiver, settings).
  returned: always
  type: dict
refused:
  description: True when the check refused (the module then fails with the reason in C(msg)).
  returned: always
  type: bool
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils import pg_replication as pr


def main():
    spec = pr.common_argument_spec()
    spec.update(mode=dict(type="str", required=True, choices=["switchover", "failover"]),
                primary=dict(pr.node_argument_spec(), required=True),
                candidate=dict(pr.node_argument_spec(name_required=True), required=True),
                max_lag_bytes=dict(type="int", default=16 << 20), force=dict(type="bool", default=False),
                require_rewind=dict(type="bool", default=False))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    if p["max_lag_bytes"] < 0:
        module.fail_json(msg="max_lag_bytes must be 0 or more, not %d" % p["max_lag_bytes"])
    started = time.time()

    def status(node):
        db = pr.connect_opener(node["host"], node["port"], p["login_user"], p["login_password"],
                               p["connect_timeout"])()
        try:
            return pr.node_status(db)
        finally:
            db.close()

    primary_status, primary_error = None, None
    try:
        primary_status = status(p["primary"])
    except pr.DRError as exc:
        primary_error = str(exc)
    try:
        candidate_status = status(p["candidate"])
    except pr.DRError as exc:
        module.fail_json(msg="candidate %s is unreachable: %s" % (p["candidate"]["name"], exc), refused=True,
                         report={}, primary_status=primary_status, candidate_status=None)
    if primary_error and p["mode"] == "switchover":
        module.fail_json(msg="switchover needs the primary: %s (use mode failover when it is gone)" % primary_error,
                         refused=True, report={}, primary_status=None, candidate_status=candidate_status)
    try:
        report = pr.precheck(p["mode"], primary_status, candidate_status, p["candidate"]["name"], p["max_lag_bytes"],
                             force=p["force"], require_rewind=p["require_rewind"])
    except pr.Refused as exc:
        report = pr.timed(dict(exc.details, started=started, ended=time.time()))
        module.fail_json(msg=str(exc), refused=True, report=report,
                         primary_status=primary_status, candidate_status=candidate_status)
    if primary_error:
        report["primary_error"] = primary_error
    for warning in report["warnings"]:
        module.warn(warning)
    module.exit_json(changed=False, refused=False, report=pr.timed(dict(report, started=started, ended=time.time())),
                     primary_status=primary_status, candidate_status=candidate_status)


if __name__ == "__main__":
    main()

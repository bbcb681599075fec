#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pg_replication_verify
short_description: Commit a row through the database's DNS name, as a client would after a switch
version_added: 0.1.0
description:
  - Resolves O(name) (through O(dns_server) when given, else the host's resolver) until it answers
    O(expected_address) or O(timeout) runs out, connects to the address it got, commits one row into O(table)
    (created when missing) and reads it back. The server must not be in recovery.
  - That is the new path clients take; a stale DNS answer, a read-only node or a refused write fails the
    module, naming what was found.
  - Why not community.postgresql.postgresql_query; it connects through the host's resolver only, and a
    verification must ask the DNS server the switch updated, and retry while the old answer is still served.
  - A write, so C(changed=true) when it ran. Check mode resolves the name only.
author:
  - GreenLang platform engineering (@greenlang)
extends_documentation_fragment:
  - greenlang.launch.pg_replication
options:
  name:
    description: The DNS name clients use for the primary.
    type: str
    required: true
  port:
    description: PostgreSQL port at that name.
    type: int
    default: 5432
  expected_address:
    description: The address the name must resolve to (the new primary's); empty accepts any.
    type: str
    default: ''
  dns_server:
    description: IP address of the DNS server to ask; empty uses the host's resolver.
    type: str
    default: ''
  dns_port:
    description: Port of O(dns_server).
    type: int
    default: 53
  database:
    description: Database to write into.
    type: str
    default: postgres
  table:
    description: Table for the verification rows (C(id), C(at), C(note), C(server)).
    type: str
    default: greenlang_dr_check
  note:
    description: Text stored with the row (for example the run id).
    type: str
    default: ''
  timeout:
    description: Seconds to wait for the expected DNS answer and a successful write.
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: Write through db.example.com now that it names pg-b
  greenlang.launch.pg_replication_verify:
    name: db.example.com
    expected_address: 10.0.2.10
    dns_server: 10.0.0.2
    login_password: "{{ vault_pg_superuser_password }}"
"""

RETURN = r"""
report:
  description: What the client saw.
  returned: always
  type: dict
  sample: {"address": "10.0.2.10", "row_id": 12, "server": "pg_b", "attempts": 2, "started": "2026-06-01T12:00:00.000Z",
           "ended": "2026-06-01T12:00:00.900Z", "elapsed_s": 0.9}
"""


from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils import pg_replication as pr


def main():
    spec = pr.common_argument_spec()
    spec.update(name=dict(type="str", required=True), port=dict(type="int", default=5432),
                expected_address=dict(type="str", default=""), dns_server=dict(type="str", default=""),
                dns_port=dict(type="int", default=53), database=dict(type="str", default="postgres"),
                table=dict(type="str", default="greenlang_dr_check"), note=dict(type="str", default=""),
                timeout=dict(type="int", default=30))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    if not pr.IDENTIFIER.match(p["table"]):
        module.fail_json(msg="table must be a plain identifier (letters, digits, _), not %r" % p["table"])
    try:
        report = pr.verify_write(p["name"], p["port"], p["login_user"], p["login_password"], p["database"], p["table"],
                                 p["note"], expected_address=p["expected_address"] or None,
                                 dns_server=p["dns_server"] or None, dns_port=p["dns_port"], timeout=p["timeout"],
                                 connect_timeout=p["connect_timeout"], check_mode=module.check_mode)
    except pr.DRError as exc:
        module.fail_json(msg="verify: %s" % exc, step=exc.step, report=pr.timed(exc.details))
    module.exit_json(changed=not module.check_mode, report=pr.timed(report))


if __name__ == "__main__":
    main()

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How the pg_backup* modules reach PostgreSQL (same names as community.postgresql's login_* options);
    # argument spec: module_utils.pg_backup.connection_argument_spec (login_* + pg_bin_dir).
    DOCUMENTATION = r'''
options:
  login_host:
    description:
      - Host of the PostgreSQL server. An empty string uses the local Unix socket.
    type: str
    default: localhost
  login_port:
    description:
      - Port of the PostgreSQL server.
    type: int
    default: 5432
  login_user:
    description:
      - Role to connect as. It needs read access to every table for a backup and the right to create
        objects for a restore (usually the database owner or a superuser).
    type: str
    default: postgres
  login_password:
    description:
      - Password of O(login_user). Handed to the client tools through the environment (C(PGPASSWORD)),
        never on a command line, and never written to logs or manifests.
    type: str
    default: ''
requirements:
  - psycopg (3) or psycopg2 on the host running the module.
'''

    # The client tools alone (pg_backup_info reads archives but never connects):
    # extends_documentation_fragment greenlang.launch.pg_connection.client_tools
    CLIENT_TOOLS = r'''
options:
  pg_bin_dir:
    description:
      - Directory holding C(pg_dump), C(pg_restore) and C(psql). Empty means the first found on C(PATH).
      - Use the client tools of the server's major version or newer.
    type: path
    default: ''
requirements:
  - PostgreSQL client tools (pg_dump, pg_restore, psql) on the host running the module.
'''

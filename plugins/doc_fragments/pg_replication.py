# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How the pg_replication_* modules reach the nodes and run the server tools.
    DOCUMENTATION = r'''
options:
  login_user:
    description:
      - Role to connect as on every node; a superuser (pg_promote, pg_rewind's source, ALTER SYSTEM).
    type: str
    default: postgres
  login_password:
    description:
      - Password of O(login_user). Never logged; given to the PostgreSQL tools through C(PGPASSWORD).
    type: str
    default: ''
  connect_timeout:
    description:
      - Seconds a connection attempt to a node may take; an unreachable node costs at most this.
    type: int
    default: 5
  pg_bin_dir:
    description:
      - Directory of the server tools (C(pg_ctl), C(pg_controldata), C(pg_rewind), C(pg_basebackup)).
    type: path
    default: /usr/lib/postgresql/15/bin
  os_user:
    description:
      - OS user owning the data directory; the server tools run as this user (through C(runuser) when the
        module runs as root).
    type: str
    default: postgres
requirements:
  - psycopg (3) or psycopg2 on the host running the module.
'''

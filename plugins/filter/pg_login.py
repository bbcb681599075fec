# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The pg_login filter (documented in pg_login.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.greenlang.launch.plugins.module_utils.pg_backup import login_options


def pg_login(database):
    try:
        return login_options(database)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("pg_login: %s" % exc) from exc


class FilterModule(object):
    def filters(self):
        return {"pg_login": pg_login}

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Which backups a module works on: one app's, in one environment, in one directory
    # (argument spec: module_utils.pg_backup.backup_scope_argument_spec).
    DOCUMENTATION = r'''
options:
  app:
    description:
      - Application the backups belong to (first part of a backup's name). Letters, digits, C(.) and C(-),
        not starting with C(.) or C(-), at most 63 characters. An empty value is refused, never read as "any app".
    type: str
    required: true
  environment:
    description:
      - Environment the backups belong to, for example C(production) (second part of a backup's name). Same rule
        as O(app); an empty value is refused, never read as "any environment".
    type: str
    required: true
  directory:
    description:
      - Directory holding the archives and their C(.manifest.json) files. It must exist and be a directory.
    type: path
    required: true
'''

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The options naming one backup, for the modules that act on a backup already taken
    # (argument spec: module_utils.pg_backup.backup_ref_argument_spec).
    DOCUMENTATION = r'''
options:
  directory:
    description:
      - Directory holding the backup and its manifest.
    type: path
    required: true
  name:
    description:
      - Backup name, as returned by M(greenlang.launch.pg_backup) (see M(greenlang.launch.pg_backup_info) to
        choose one).
    type: str
    required: true
'''

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The attributes of a module that only reads and decides (gates, watches, the lock's reader): full check
    # mode, no diff, POSIX controllers. Use after ansible.builtin.action_common_attributes, which describes them.
    DOCUMENTATION = r'''
attributes:
  platform:
    platforms: posix
  check_mode:
    support: full
  diff_mode:
    support: none
'''

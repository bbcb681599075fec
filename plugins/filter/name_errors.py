# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The name_errors filter (documented in name_errors.yml): one message per invalid name, naming its variable."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.greenlang.launch.plugins.module_utils import names


def name_errors(checks):
    if not isinstance(checks, (list, tuple)):
        raise AnsibleFilterError("name_errors expects a list of {name, value, test} dicts, got %s"
                                 % type(checks).__name__)
    try:
        return names.name_errors(checks)
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("name_errors: %s" % exc) from exc


class FilterModule(object):
    def filters(self):
        return {"name_errors": name_errors}

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Name-format tests; each one is documented in the .yml file of the same name beside this one."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.greenlang.launch.plugins.module_utils import names


def _test(problem):
    def test(value, *args, **kwargs):
        try:
            return problem(value, *args, **kwargs) is None
        except (TypeError, ValueError) as exc:
            raise AnsibleFilterError(str(exc)) from exc
    test.__name__ = problem.__name__.replace("_problem", "")
    return test


class TestModule(object):
    def tests(self):
        return dict((kind, _test(problem)) for kind, problem in names.CHECKS.items())

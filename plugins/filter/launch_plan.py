# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.greenlang.launch.plugins.module_utils.gate import GateConfigError, parse_duration
from ansible_collections.greenlang.launch.plugins.module_utils.launch_plan import (
    gate_check,
    plan_errors,
    record_checks,
    resume_point,
)
from ansible_collections.greenlang.launch.plugins.module_utils.run_records import redact


def duration_seconds(value, name="duration"):
    """Seconds of a duration (30, "30s", "5m", "7d"); 0 for an empty value."""
    if value in (None, "", 0, "0"):
        return 0.0
    try:
        return parse_duration(value, name)
    except GateConfigError as e:
        raise AnsibleFilterError(str(e)) from e


def redact_secrets(value):
    """A copy of value whose secret-looking keys (password, token, ...) are masked, at any depth."""
    return redact(value)[0]


class FilterModule(object):
    def filters(self):
        return {
            "plan_errors": plan_errors,
            "plan_resume": resume_point,
            "duration_seconds": duration_seconds,
            "plan_gate_check": gate_check,
            "record_checks": record_checks,
            "redact_secrets": redact_secrets,
        }

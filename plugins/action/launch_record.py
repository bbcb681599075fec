# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin behind greenlang.launch.launch_record (documentation in plugins/modules/launch_record.py).

An action plugin rather than a module: the run directory is the controller's (the report, the notifications
and the next run read it there), and a launch writes a record after every step. A module run costs a Python
start and an AnsiballZ unpack (about 0.3 s each on this kind of machine, 56 times in a rehearsal); writing
here costs milliseconds.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.greenlang.launch.plugins.module_utils.run_records import RecordError, plan_write, write

ARGUMENT_SPEC = dict(
    run_dir=dict(type="path", required=True),
    stream=dict(type="str", required=True, choices=["steps", "rollbacks", "decisions", "artifacts", "run"]),
    record=dict(type="dict", required=True),
    key=dict(type="str", no_log=False),
    dir_mode=dict(type="raw", default="0750"),
    file_mode=dict(type="raw", default="0640"),
)


def _mode(value, name):
    try:
        return int(str(value), 8)
    except ValueError:
        raise AnsibleActionFail("{0}: expected an octal mode such as 0750, got {1!r}".format(name, value)) from None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _validation, p = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        key = p["key"] if p["stream"] != "run" else None
        check_mode = self._task.check_mode or self._play_context.check_mode
        try:
            if check_mode:
                decision = plan_write(p["run_dir"], p["stream"], p["record"], key)
            else:
                decision = write(p["run_dir"], p["stream"], p["record"], key,
                                 dir_mode=_mode(p["dir_mode"], "dir_mode"),
                                 file_mode=_mode(p["file_mode"], "file_mode"))
        except RecordError as e:
            raise AnsibleActionFail(str(e)) from e
        except (IOError, OSError) as e:
            raise AnsibleActionFail("run_dir: cannot write {0}: {1}".format(p["run_dir"], e)) from e
        result.update(changed=decision["changed"], file=decision["path"], record=decision["record"],
                      masked=decision["masked"])
        if self._task.diff or self._play_context.diff:
            result["diff"] = {"before": decision["before"], "after": decision["after"],
                              "before_header": decision["path"], "after_header": decision["path"]}
        for where in decision["masked"]:
            self._display.warning("launch_record: {0} looks like a secret and was written as ********".format(where))
        return result

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""How every greenlang.launch module fails: ``msg`` says what and why, ``failed_step`` says at which step
(``validation`` for bad parameters, before anything is touched), ``where`` what it touched (a path, a URL,
a database), so a role's rescue or an AWX job can report the failure the same way whichever module failed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class StepError(Exception):
    """A step failed; ``step`` says which one, ``where`` what it touched."""

    def __init__(self, step, message, where=None):
        self.step = step
        self.where = where
        self.detail = message
        text = "%s failed" % step
        if where:
            text += " (%s)" % where
        super(StepError, self).__init__("%s: %s" % (text, message))


def fail_step(module, exc, prefix="", **result):
    """``module.fail_json`` for a StepError (or any exception, then ``failed_step`` is ``unexpected``)."""
    step = getattr(exc, "step", "unexpected")
    msg = "%s: %s" % (prefix, exc) if prefix else str(exc)
    module.fail_json(msg=msg, failed_step=step, where=getattr(exc, "where", None) or "", **result)


def fail_validation(module, msg, **result):
    """A parameter is wrong: nothing was done. ``msg`` names the parameter and the allowed values."""
    module.fail_json(msg=msg, failed_step="validation", where="", **result)

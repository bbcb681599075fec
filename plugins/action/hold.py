# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin behind greenlang.launch.hold (documentation in plugins/modules/hold.py).

An action plugin rather than a module: a module runs to completion before Ansible shows anything, and a
production hold lasts 15-30 minutes. Running on the controller, the plugin prints progress through
Ansible's display while it waits, as ansible.builtin.pause prints its countdown.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import open_url
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.greenlang.launch.plugins.module_utils.gate import GateConfigError, parse_duration
from ansible_collections.greenlang.launch.plugins.module_utils.hold import Hold, describe_check
from ansible_collections.greenlang.launch.plugins.module_utils.promql import PrometheusClient
from ansible_collections.greenlang.launch.plugins.modules.metric_gate import CHECK_SPEC

display = Display()

# metric_gate's check options, with breach (rollback trigger) as the default mode.
TRIGGER_SPEC = dict(CHECK_SPEC, mode=dict(type="str", choices=["hold", "breach"], default="breach"))
HEALTH_SPEC = {
    "name": dict(type="str", required=True),
    "url": dict(type="str", required=True),
    "headers": dict(type="dict", default={}),
    "status": dict(type="int", default=200),
    "timeout": dict(type="float", default=5),
}
ARGUMENT_SPEC = dict(
    duration=dict(type="raw", required=True),
    url=dict(type="str", aliases=["prometheus_url"]),
    triggers=dict(type="list", elements="dict", default=[], options=TRIGGER_SPEC),
    health_checks=dict(type="list", elements="dict", default=[], options=HEALTH_SPEC),
    health_for=dict(type="raw", default="3m"),
    interval=dict(type="raw", default="10s"),
    progress_interval=dict(type="raw", default=30),
    inconclusive_limit=dict(type="int", default=3),
    no_data=dict(type="str", choices=["pass", "fail"], default="pass"),
    app=dict(type="str", default=""),
    step=dict(type="str", default=""),
    fail_on_trigger=dict(type="bool", default=True),
    token=dict(type="str", no_log=True),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    ca_path=dict(type="path"),
    validate_certs=dict(type="bool", default=True),
    headers=dict(type="dict"),
    timeout=dict(type="float", default=10),
    retries=dict(type="int", default=2),
    backoff=dict(type="float", default=0.5),
)


def probe(check, validate_certs=True):
    """(ok, detail) of one HTTP health check."""
    try:
        resp = open_url(check["url"], headers=check.get("headers") or {}, timeout=check.get("timeout") or 5,
                        validate_certs=validate_certs, follow_redirects="none")
        status = getattr(resp, "status", None) or resp.getcode()
    except HTTPError as e:
        status = e.code
    except (URLError, OSError, ValueError) as e:
        return False, "no answer: {0}".format(getattr(e, "reason", e))
    expected = check.get("status") or 200
    return status == expected, "HTTP {0}".format(status)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(
            argument_spec=ARGUMENT_SPEC,
            mutually_exclusive=[("token", "username")],
            required_together=[("username", "password")],
        )
        try:
            duration = parse_duration(args["duration"], "duration")
            interval = parse_duration(args["interval"], "interval")
            progress_interval = parse_duration(args["progress_interval"], "progress_interval")
            health_for = parse_duration(args["health_for"], "health_for")
        except (GateConfigError, ValueError) as e:
            raise AnsibleActionFail(str(e)) from e
        if args["triggers"] and not args["url"]:
            raise AnsibleActionFail("url: the Prometheus base URL is required when triggers are given")
        client = None
        if args["url"]:
            try:
                client = PrometheusClient(args["url"], token=args["token"], username=args["username"],
                                          password=args["password"], ca_path=args["ca_path"],
                                          validate_certs=args["validate_certs"], timeout=args["timeout"],
                                          retries=args["retries"], backoff=args["backoff"], headers=args["headers"])
            except ValueError as e:
                raise AnsibleActionFail(str(e)) from e
        label = " ".join(x for x in (args["app"], args["step"]) if x) or "hold"
        triggers = [dict((k, v) for k, v in t.items() if v is not None) for t in args["triggers"]]
        check_mode = self._task.check_mode or self._play_context.check_mode
        try:
            hold = Hold(client, triggers, 0 if check_mode else duration, interval=interval,
                        progress_interval=progress_interval, health_checks=args["health_checks"],
                        health_for=health_for, inconclusive_limit=args["inconclusive_limit"],
                        no_data=args["no_data"], label=label,
                        probe=lambda c: probe(c, args["validate_certs"]), report=display.display)
        except GateConfigError as e:
            raise AnsibleActionFail(str(e)) from e
        if check_mode:
            display.display("[{0}] check mode: would hold {1:g} s with {2} trigger(s) and {3} health check(s); "
                            "evaluating them once".format(label, duration, len(triggers),
                                                          len(args["health_checks"])))
        outcome = hold.run()
        outcome["duration"] = duration
        result.update(outcome)
        result["changed"] = False
        result["check_mode"] = bool(check_mode)
        result["measured"] = [describe_check(c) for c in outcome["checks"]]
        if check_mode:
            result["msg"] = "check mode: would hold {0:g} s; triggers now: {1}".format(
                duration, outcome["reason"] or "none fired")
            if not outcome["passed"]:
                self._display.warning("[{0}] in check mode a trigger would end this hold: {1}".format(
                    label, outcome["reason"]))
        elif not outcome["passed"] and args["fail_on_trigger"]:
            result["failed"] = True
        return result

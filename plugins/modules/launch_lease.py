#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: launch_lease
short_description: Take, renew or release the launch lock (a coordination.k8s.io/v1 Lease)
version_added: 0.1.0
description:
  - One launch at a time per environment. The lock is a C(Lease) in the environment's cluster, the object Kubernetes
    itself uses for leader election; C(kubernetes.core.k8s) cannot take one safely (it patches an existing object
    instead of failing when another writer created it first), so this module creates with a plain POST (409 when
    another run got there first) and writes with the C(resourceVersion) it read (409 when another run wrote
    meanwhile).
  - C(state=acquired) takes the lock. A Lease another holder keeps renewing is refused at once with a message naming
    the holder and since when. A Lease whose holder stopped renewing for longer than its duration is taken over, with
    a warning naming the previous holder. A Lease already held by O(holder) is renewed.
  - C(state=renewing) keeps renewing the Lease every O(renew_interval) while the process O(watch_pid) lives (run it
    with C(async) and C(poll=0)). It stops when that process ends (so a killed launch stops renewing and its Lease
    expires), when the Lease is released or no longer ours, or after O(max_seconds).
  - C(state=released) deletes the Lease when O(holder) holds it, and leaves anyone else's alone.
  - To read the lock without taking it, use M(greenlang.launch.launch_lease_info).
  - Check mode reads and reports what would be done (including a refusal); it writes nothing.
author:
  - GreenLang platform engineering (@greenlang)
options:
  state:
    description: What to do with the lock.
    type: str
    choices: [acquired, renewing, released]
    default: acquired
  name:
    description: Name of the Lease.
    type: str
    default: greenlang-launch
  namespace:
    description: Namespace of the Lease; created by C(state=acquired) when missing.
    type: str
    default: launch
  holder:
    description:
      - Who holds the lock, written as C(spec.holderIdentity) and shown to anyone refused, for example
        C(alice@controller pid 4242 run 20260607T100000Z).
    required: true
    type: str
  duration:
    description:
      - Seconds the Lease stays valid after each renewal (C(spec.leaseDurationSeconds)). A run that dies is taken over
        this long after its last renewal.
    type: int
    default: 120
  renew_interval:
    description: Seconds between renewals in C(state=renewing); keep it well below O(duration).
    type: float
    default: 20
  watch_pid:
    description:
      - Process whose life the renewal follows (C(state=renewing)); C(state=acquired) returns it as RV(controller_pid),
        the ansible-playbook process the module runs under.
    type: int
  watch_start:
    description: Start time of O(watch_pid) as RV(controller_start) returned it, so a recycled pid is not followed.
    type: int
  max_seconds:
    description: Longest time C(state=renewing) runs.
    type: int
    default: 86400
  labels:
    description: Labels put on the Lease when it is created or taken over.
    type: dict
    default: {}
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
requirements:
  - "python >= 3.9"
  - "kubernetes >= 24.2.0"
seealso:
  - module: greenlang.launch.launch_lease_info
  - name: Leases (Kubernetes documentation)
    description: The object and its fields.
    link: https://kubernetes.io/docs/concepts/architecture/leases/
notes:
  - Times compare the controller's clock with the times written in the Lease by other controllers; keep clocks in
    sync (NTP), as for any Lease.
"""

EXAMPLES = r"""
- name: Take the launch lock for this run
  greenlang.launch.launch_lease:
    holder: "{{ lookup('env', 'USER') }}@{{ inventory_hostname }} run {{ launch_run_id }}"
    duration: 120
  register: lock

- name: Keep it renewed in the background while this ansible-playbook runs
  greenlang.launch.launch_lease:
    state: renewing
    holder: "{{ lock.lease.holder }}"
    duration: 120
    renew_interval: 20
    watch_pid: "{{ lock.controller_pid }}"
    watch_start: "{{ lock.controller_start }}"
  async: 86400
  poll: 0

- name: Release it
  greenlang.launch.launch_lease:
    state: released
    holder: "{{ lock.lease.holder }}"
"""

RETURN = r"""
action:
  description: What was (or in check mode would be) done, C(create), C(renew), C(takeover), C(refuse), C(delete),
    C(keep) or C(none); for C(state=renewing), why it stopped (C(controller_gone), C(lost), C(timeout)).
  returned: always
  type: str
  sample: takeover
lease:
  description: The lock as it stands after the task (null when there is none).
  returned: always
  type: dict
  contains:
    holder: {description: Holder identity., type: str}
    acquired_at: {description: When the holder took it (UTC)., type: str}
    renewed_at: {description: Last renewal (UTC)., type: str}
    expires_at: {description: When it expires without renewal (UTC)., type: str}
    duration_seconds: {description: Lease duration., type: int}
    seconds_since_renewal: {description: Age of the last renewal., type: float}
    expired: {description: Whether it has expired., type: bool}
    transitions: {description: How many times it changed hands., type: int}
  sample: {holder: "root@ctl pid 811 run 20260607T100000Z", acquired_at: "2026-06-07T10:00:00Z", expired: false}
previous:
  description: The lock as found before the task, for a takeover the holder that stopped renewing.
  returned: always
  type: dict
controller_pid:
  description: The ansible-playbook process the module ran under (C(state=acquired)).
  returned: always
  type: int
controller_start:
  description: Its start time in clock ticks since boot.
  returned: always
  type: int
renewals:
  description: Renewals written (C(state=renewing)).
  returned: always
  type: int
msg:
  description: What happened, in words.
  returned: always
  type: str
"""

import contextlib
import copy
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils.launch_lease import (
    LeaseError,
    controller_process,
    decide_acquire,
    decide_release,
    decide_renew,
    describe,
    process_alive,
)
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException

try:
    from kubernetes.dynamic.exceptions import ConflictError, NotFoundError

    HAS_KUBERNETES = True
except ImportError:  # AnsibleK8SModule fails with a clear message when the kubernetes library is missing
    HAS_KUBERNETES = False

LEASE_ARGS = dict(
    state=dict(type="str", default="acquired", choices=["acquired", "renewing", "released"]),
    name=dict(type="str", default="greenlang-launch"),
    namespace=dict(type="str", default="launch"),
    holder=dict(type="str", required=True),
    duration=dict(type="int", default=120),
    renew_interval=dict(type="float", default=20),
    watch_pid=dict(type="int"),
    watch_start=dict(type="int"),
    max_seconds=dict(type="int", default=86400),
    labels=dict(type="dict", default={}),
)
MAX_ATTEMPTS = 3


class Leases:
    def __init__(self, module, client):
        self.module, self.p = module, module.params
        self.api = client.resource("Lease", "coordination.k8s.io/v1")
        self.client = client

    def read(self):
        try:
            return self.api.get(name=self.p["name"], namespace=self.p["namespace"]).to_dict()
        except NotFoundError:
            return None

    def ensure_namespace(self):
        namespaces = self.client.resource("Namespace", "v1")
        try:
            namespaces.get(name=self.p["namespace"])
        except NotFoundError:
            with contextlib.suppress(ConflictError):  # another launch created it meanwhile
                namespaces.create({"apiVersion": "v1", "kind": "Namespace",
                                   "metadata": {"name": self.p["namespace"]}})

    def write(self, action, body):
        if action == "create":
            return self.api.create(body, namespace=self.p["namespace"]).to_dict()
        return self.api.replace(body, namespace=self.p["namespace"]).to_dict()


def _result(module, **fields):
    fields.setdefault("controller_pid", None)
    fields.setdefault("controller_start", None)
    fields.setdefault("renewals", 0)
    fields.setdefault("previous", None)
    return fields


def acquire(module, leases):
    p = module.params
    pid, start = controller_process()
    for _attempt in range(MAX_ATTEMPTS):
        lease = leases.read()
        now = time.time()
        action, body, view, msg = decide_acquire(lease, p["name"], p["namespace"], p["holder"], p["duration"], now,
                                                 p["labels"])
        if action == "refuse":
            module.fail_json(**_result(module, action=action, msg=msg, lease=view, previous=view,
                                       controller_pid=pid, controller_start=start))
        if module.check_mode:
            return _result(module, changed=action != "renew", action=action, msg="(check mode) " + msg,
                           lease=describe(body, now), previous=view, controller_pid=pid, controller_start=start)
        if action == "create":
            leases.ensure_namespace()
        try:
            written = leases.write(action, body)
        except ConflictError:
            continue  # another run wrote first: decide again on what it wrote
        if action == "takeover":
            module.warn(msg)
        # Renewing our own lock is a heartbeat, not a change of who holds it: a second run of the role is idempotent.
        return _result(module, changed=action != "renew", action=action, msg=msg,
                       lease=describe(written, time.time()),
                       previous=view, controller_pid=pid, controller_start=start)
    module.fail_json(**_result(module, action="refuse", msg="the launch lock changed under every one of {0} attempts "
                               "to take it: another launch is taking it now".format(MAX_ATTEMPTS),
                               lease=describe(leases.read(), time.time()), controller_pid=pid,
                               controller_start=start))


def renew_loop(module, leases):
    p = module.params
    if p["watch_pid"] is None or p["watch_start"] is None:
        module.fail_json(msg="state=renewing needs watch_pid and watch_start (controller_pid and controller_start "
                             "returned by state=acquired)")
    deadline = time.time() + p["max_seconds"]
    renewals, reason = 0, "timeout"
    while time.time() < deadline:
        if not process_alive(p["watch_pid"], p["watch_start"]):
            reason = "controller_gone"
            break
        lease = leases.read()
        body = decide_renew(lease, p["holder"], time.time())
        if body is None:
            reason = "lost"
            break
        try:
            leases.write("renew", body)
            renewals += 1
        except ConflictError:
            continue  # re-read at once: someone wrote between our read and our write
        time.sleep(p["renew_interval"])
    return _result(module, changed=renewals > 0, action=reason, renewals=renewals,
                   lease=describe(leases.read(), time.time()),
                   msg="stopped renewing after {0} renewal(s): {1}".format(renewals, reason))


def release(module, leases):
    p = module.params
    lease = leases.read()
    action, view, msg = decide_release(lease, p["holder"], time.time())
    if action == "keep":
        module.warn(msg)
    if action == "delete" and not module.check_mode:
        with contextlib.suppress(NotFoundError):
            leases.api.delete(name=p["name"], namespace=p["namespace"])
    after = copy.deepcopy(view) if action == "keep" else None
    return _result(module, changed=action == "delete", action=action, msg=msg, lease=after, previous=view)


def main():
    args = copy.deepcopy(AUTH_ARG_SPEC)
    args.update(LEASE_ARGS)
    module = AnsibleK8SModule(
        module_class=AnsibleModule,
        argument_spec=args,
        supports_check_mode=True,
    )
    if module.params["duration"] < 1:
        module.fail_json(msg="duration must be at least 1 second, got {0}".format(module.params["duration"]))
    if module.params["renew_interval"] <= 0 or module.params["renew_interval"] >= module.params["duration"]:
        module.fail_json(msg="renew_interval must be above 0 and below duration ({0}), got {1}".format(
            module.params["duration"], module.params["renew_interval"]))
    try:
        leases = Leases(module, get_api_client(module))
        state = module.params["state"]
        if state == "acquired":
            result = acquire(module, leases)
        elif state == "renewing":
            result = renew_loop(module, leases)
        else:
            result = release(module, leases)
        module.exit_json(**result)
    except LeaseError as e:
        module.fail_json(msg=str(e))
    except CoreException as e:
        module.fail_from_exception(e)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: launch_lease_info
short_description: Read the launch lock (a coordination.k8s.io/v1 Lease) without taking it
version_added: 0.1.0
description:
  - Reports who holds the launch lock M(greenlang.launch.launch_lease) takes, since when, and whether the holder
    stopped renewing it. Pre-flight uses it to say, before anything starts, that another launch is running.
  - Only reads; a missing Lease or a missing namespace both mean nobody holds the lock.
author:
  - GreenLang platform engineering (@greenlang)
options:
  name:
    description: Name of the Lease.
    type: str
    default: greenlang-launch
  namespace:
    description: Namespace of the Lease.
    type: str
    default: launch
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
  - greenlang.launch.read_only_attributes
requirements:
  - "python >= 3.9"
  - "kubernetes >= 24.2.0"
seealso:
  - module: greenlang.launch.launch_lease
"""

EXAMPLES = r"""
- name: Who holds the launch lock?
  greenlang.launch.launch_lease_info:
    namespace: launch
  register: lock

- name: Stop when another launch is running
  ansible.builtin.assert:
    that: lock.held is false
    fail_msg: "{{ lock.msg }}"
"""

RETURN = r"""
lease:
  description: The lock as found (null when there is none); the fields M(greenlang.launch.launch_lease) returns.
  returned: always
  type: dict
  sample: {holder: "root@ctl pid 811 run 20260607T100000Z", acquired_at: "2026-06-07T10:00:00Z", expired: false}
held:
  description: Whether a holder is renewing it now (a Lease whose holder stopped renewing is not held).
  returned: always
  type: bool
msg:
  description: Who holds it, in words.
  returned: always
  type: str
  sample: "held by 'root@ctl pid 811 run 20260607T100000Z' since 2026-06-07T10:00:00Z"
"""

import contextlib
import copy
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.greenlang.launch.plugins.module_utils.launch_lease import describe, holder_message
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException

# AnsibleK8SModule fails with a clear message when the kubernetes library is missing.
with contextlib.suppress(ImportError):
    from kubernetes.dynamic.exceptions import NotFoundError


def main():
    args = copy.deepcopy(AUTH_ARG_SPEC)
    args.update(name=dict(type="str", default="greenlang-launch"), namespace=dict(type="str", default="launch"))
    module = AnsibleK8SModule(module_class=AnsibleModule, argument_spec=args, supports_check_mode=True)
    try:
        leases = get_api_client(module).resource("Lease", "coordination.k8s.io/v1")
        try:
            found = leases.get(name=module.params["name"], namespace=module.params["namespace"]).to_dict()
        except NotFoundError:
            found = None
        view = describe(found, time.time())
        module.exit_json(changed=False, lease=view, held=bool(view) and not view["expired"], msg=holder_message(view))
    except CoreException as e:
        module.fail_from_exception(e)


if __name__ == "__main__":
    main()

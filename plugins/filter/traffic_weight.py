# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The traffic_weight filter (documented in traffic_weight.yml).

canary_weight's read, as a filter on objects a role has already listed (kubernetes.core.k8s lookup): the
strategy roles read where a rollout stands before and after every step, and a module run per read costs
about half a second; the same decision from objects in hand costs nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.greenlang.launch.plugins.module_utils.traffic_weights import WeightError, read_weight


def traffic_weight(objects, provider, name, stable_backend, canary_backend, canary_ingress_name=None,
                   weight_total=100):
    try:
        return read_weight(provider, objects, name, stable_backend, canary_backend, canary_ingress_name,
                           weight_total)
    except (WeightError, TypeError, KeyError, ValueError) as exc:
        raise AnsibleFilterError("traffic_weight: %s" % exc) from exc


class FilterModule(object):
    def filters(self):
        return {"traffic_weight": traffic_weight}

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The HTTP client options shared by the modules that call HTTP APIs (doc fragment greenlang.launch.http_client)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def http_client_argument_spec():
    return dict(
        timeout=dict(type="float", default=10),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        headers=dict(type="dict"),
    )


def http_client_problems(params):
    """Messages for invalid HTTP client options, each naming its parameter."""
    problems = []
    if params.get("timeout") is None or params["timeout"] <= 0:
        problems.append("timeout=%r: must be more than 0 seconds" % (params.get("timeout"),))
    for key, value in (params.get("headers") or {}).items():
        if any(c in str(key) + str(value) for c in "\r\n\0"):
            problems.append("headers.%s: header names and values must be single-line" % key)
    return problems

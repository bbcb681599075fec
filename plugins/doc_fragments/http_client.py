# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The HTTP client options of the modules that call HTTP APIs (argument spec:
    # module_utils.http_options.http_client_argument_spec); the action group group/greenlang.launch.http sets them
    # once for all of those modules through module_defaults.
    DOCUMENTATION = r'''
options:
  timeout:
    description:
      - Seconds to wait for one HTTP response. Must be more than 0.
    type: float
    default: 10
  validate_certs:
    description:
      - Verify the server's TLS certificate (HTTPS). Turn it off only against a test server.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file with the CA certificate(s) that sign the server's certificate, for a private CA.
    type: path
  headers:
    description:
      - Extra HTTP headers sent with every request, for example a tenant or authentication header of a proxy.
    type: dict
'''

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The name formats the collection checks, written once.

Used by the test plugins (``is greenlang.launch.k8s_name``, ``pg_identifier``, ``launch_name``,
``env_var_name``), the ``name_errors`` filter the roles' first assert uses, and the modules. An empty
string is never a valid name: empty means "no value", not "match anything".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# App and environment names, as backups record them in their file names (<app>_<env>_<UTC time>).
LAUNCH_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*\Z")
LAUNCH_NAME_MAX = 63
LAUNCH_NAME_RULE = "letters, digits, '.' or '-', not starting with '.' or '-', at most %d characters" % LAUNCH_NAME_MAX

# A PostgreSQL database/role/table identifier the roles put in double quotes (NAMEDATALEN - 1 = 63 bytes).
# '"' and NUL could break the quoting; '=' and '://' would turn a database name into a connection string.
PG_IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]*\Z")
PG_IDENTIFIER_MAX = 63

# Kubernetes object names (apimachinery's validation): RFC 1123 label, RFC 1123 subdomain, RFC 1035 label.
K8S_NAME_RULES = {
    "label": (re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z"), 63,
              "lower-case letters, digits and '-', starting and ending with a letter or digit"),
    "subdomain": (re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z"), 253,
                  "lower-case letters, digits, '-' and '.', each dot-separated part starting and ending with a "
                  "letter or digit"),
    "service": (re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z"), 63,
                "lower-case letters, digits and '-', starting with a letter and ending with a letter or digit"),
}

ENV_VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
ENV_VAR_NAME_RULE = "letters, digits and '_', not starting with a digit"


def _is_text(value):
    return isinstance(value, str)


def launch_name_problem(value):
    """None when ``value`` is an app/environment name, else what is wrong with it."""
    if not _is_text(value) or value == "":
        return "is empty" if value in ("", None) else "is not a string"
    if len(value) > LAUNCH_NAME_MAX or not LAUNCH_NAME_RE.match(value):
        return "is invalid: " + LAUNCH_NAME_RULE
    return None


def pg_identifier_rule(max_length=PG_IDENTIFIER_MAX):
    return "up to %d letters, digits, '_', '$' or '-', not starting with a digit, '$' or '-'" % max_length


def pg_identifier_problem(value, max_length=PG_IDENTIFIER_MAX):
    max_length = int(max_length)
    if max_length < 1 or max_length > PG_IDENTIFIER_MAX:
        raise ValueError("max_length=%r: PostgreSQL identifiers are 1 to %d characters"
                         % (max_length, PG_IDENTIFIER_MAX))
    if not _is_text(value) or value == "":
        return "is empty" if value in ("", None) else "is not a string"
    if len(value) > max_length or not PG_IDENTIFIER_RE.match(value):
        return "is invalid: " + pg_identifier_rule(max_length)
    return None


def k8s_name_problem(value, kind="label"):
    if kind not in K8S_NAME_RULES:
        raise ValueError("kind=%r: one of %s" % (kind, ", ".join(sorted(K8S_NAME_RULES))))
    pattern, max_length, rule = K8S_NAME_RULES[kind]
    if not _is_text(value) or value == "":
        return "is empty" if value in ("", None) else "is not a string"
    if len(value) > max_length or not pattern.match(value):
        return "is invalid: %s, at most %d characters" % (rule, max_length)
    return None


def env_var_name_problem(value):
    if not _is_text(value) or value == "":
        return "is empty" if value in ("", None) else "is not a string"
    if not ENV_VAR_NAME_RE.match(value):
        return "is invalid: " + ENV_VAR_NAME_RULE
    return None


CHECKS = {
    "launch_name": launch_name_problem,
    "pg_identifier": pg_identifier_problem,
    "k8s_name": k8s_name_problem,
    "env_var_name": env_var_name_problem,
}


def name_errors(checks):
    """Messages for the failing entries of ``checks``, a list of ``{name, value, test, ...test options}``.

    ``name`` is the variable or parameter being checked, so each message names it; ``test`` is a key of CHECKS.
    """
    errors = []
    for check in checks:
        check = dict(check)
        name, value, test = check.pop("name"), check.pop("value", None), check.pop("test")
        if test not in CHECKS:
            raise ValueError("test=%r for %s: one of %s" % (test, name, ", ".join(sorted(CHECKS))))
        problem = CHECKS[test](value, **check)
        if problem:
            shown = value if not _is_text(value) or len(value) <= 80 else value[:77] + "..."
            errors.append("%s=%s %s" % (name, _quote(shown), problem))
    return errors


def _quote(value):
    if _is_text(value):
        return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
    return repr(value)

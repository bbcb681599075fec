"""plugins/module_utils/names.py and the test/filter plugins built on it, run through a real Jinja
environment of Ansible (the way a role's assert evaluates them)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible_collections.greenlang.launch.plugins.module_utils import names


def render(expression, **variables):
    templar = Templar(loader=DataLoader(), variables=variables)
    return templar.template(trust_as_template("{{ " + expression + " }}"))


@pytest.mark.parametrize("value", ["vcci", "cbam-api-v2", "a", "0", "x" * 63])
def test_k8s_label_accepts_names_the_api_server_accepts(value):
    assert render("value is greenlang.launch.k8s_name", value=value) is True


@pytest.mark.parametrize("value", ["", "VCCI", "-vcci", "vcci-", "cbam_api", "api.v2", "x" * 64, "vcci\n"])
def test_k8s_label_refuses_what_the_api_server_rejects(value):
    assert render("value is greenlang.launch.k8s_name", value=value) is False


def test_k8s_subdomain_allows_dots_and_253_characters():
    assert render("'api.v2' is greenlang.launch.k8s_name('subdomain')") is True
    long_name = ".".join(["a" * 63] * 4)[:253]
    assert render("value is greenlang.launch.k8s_name(kind='subdomain')", value=long_name) is True
    assert render("value is greenlang.launch.k8s_name(kind='subdomain')", value=long_name + "a") is False
    assert render("'api..v2' is greenlang.launch.k8s_name('subdomain')") is False


def test_k8s_service_names_must_start_with_a_letter():
    assert render("'2api' is greenlang.launch.k8s_name('label')") is True
    assert render("'2api' is greenlang.launch.k8s_name('service')") is False


def test_k8s_name_with_unknown_kind_names_the_allowed_kinds():
    with pytest.raises(AnsibleError, match="label, service, subdomain"):
        render("'x' is greenlang.launch.k8s_name('pod')")


@pytest.mark.parametrize("value", ["cbam", "cbam_rehearsal", "_x", "db-1", "a$b", "x" * 63])
def test_pg_identifier_accepts_what_the_roles_quote(value):
    assert render("value is greenlang.launch.pg_identifier", value=value) is True


@pytest.mark.parametrize("value", ["", " ", "1db", "-db", "$db", 'a"b', "dbname=postgres", "postgresql://h/db",
                                   "a b", "x" * 64, "db\n", "caf\u00e9"])
def test_pg_identifier_refuses_empty_connection_strings_and_quote_breakers(value):
    assert render("value is greenlang.launch.pg_identifier", value=value) is False


def test_pg_identifier_max_length_is_an_option():
    assert render("value is greenlang.launch.pg_identifier(max_length=40)", value="x" * 40) is True
    assert render("value is greenlang.launch.pg_identifier(max_length=40)", value="x" * 41) is False
    with pytest.raises(AnsibleError, match="1 to 63"):
        render("'x' is greenlang.launch.pg_identifier(max_length=64)")


@pytest.mark.parametrize("value,valid", [("vcci", True), ("rehearsal", True), ("v1.2-rc", True), ("", False),
                                         (".x", False), ("-x", False), ("csrd_v2", False), ("a/b", False),
                                         ("x" * 64, False), (None, False), (3, False)])
def test_launch_name(value, valid):
    assert render("value is greenlang.launch.launch_name", value=value) is valid


def test_env_var_name_works_as_a_reject_test():
    assert render("names | reject('greenlang.launch.env_var_name') | list",
                  names=["DATABASE_URL", "_X", "2FA", "A-B", ""]) == ["2FA", "A-B", ""]


def test_name_errors_names_each_failing_variable_and_its_rule():
    errors = render("checks | greenlang.launch.name_errors", checks=[
        {"name": "restore_app", "value": "cbam", "test": "launch_name"},
        {"name": "restore_environment", "value": "", "test": "launch_name"},
        {"name": "restore_db_name", "value": "x" * 41, "test": "pg_identifier", "max_length": 40},
        {"name": "canary_service", "value": "2api", "test": "k8s_name", "kind": "service"},
    ])
    assert errors == [
        'restore_environment="" is empty',
        'restore_db_name="%s" is invalid: up to 40 letters, digits, \'_\', \'$\' or \'-\', not starting with a '
        "digit, '$' or '-'" % ("x" * 41),
        'canary_service="2api" is invalid: lower-case letters, digits and \'-\', starting with a letter and ending '
        "with a letter or digit, at most 63 characters",
    ]


def test_name_errors_is_empty_when_all_names_are_valid():
    assert names.name_errors([{"name": "a", "value": "vcci", "test": "launch_name"}]) == []


def test_name_errors_shortens_a_huge_value_in_its_message():
    (message,) = names.name_errors([{"name": "n", "value": "x" * 100000, "test": "launch_name"}])
    assert len(message) < 300 and message.startswith('n="xxx')


def test_name_errors_refuses_an_unknown_test():
    with pytest.raises(AnsibleError, match="test='regex' for n"):
        render("[{'name': 'n', 'value': 'x', 'test': 'regex'}] | greenlang.launch.name_errors")

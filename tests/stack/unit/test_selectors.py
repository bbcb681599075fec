"""Label and field selector syntax and matching, as kube-apiserver implements them."""

import pytest

from rehearsal.kubeapi.selectors import (
    SelectorError,
    field_matcher,
    label_matcher,
    label_selector_matches,
    selector_to_string,
)


def obj(labels=None, **fields):
    o = {"metadata": {"name": fields.pop("name", "x"), "namespace": fields.pop("namespace", "default"),
                      "labels": labels or {}}}
    o.update(fields)
    return o


@pytest.mark.parametrize("selector,labels,expected", [
    ("app=web", {"app": "web"}, True),
    ("app==web", {"app": "web"}, True),
    ("app=web", {"app": "api"}, False),
    ("app!=web", {"app": "api"}, True),
    ("app!=web", {}, True),
    ("app in (web, api)", {"app": "api"}, True),
    ("app in (web,api)", {"app": "db"}, False),
    ("app notin (web,api)", {"app": "db"}, True),
    ("app notin (web,api)", {}, True),
    ("app", {"app": ""}, True),
    ("app", {}, False),
    ("!app", {}, True),
    ("!app", {"app": "x"}, False),
    ("app=web,tier in (fe),!canary", {"app": "web", "tier": "fe"}, True),
    ("app=web,tier in (fe),!canary", {"app": "web", "tier": "fe", "canary": "1"}, False),
    ("example.com/role=x", {"example.com/role": "x"}, True),
    ("rank>2", {"rank": "3"}, True),
    ("rank<2", {"rank": "3"}, False),
])
def test_label_selector_matches_like_kube(selector, labels, expected):
    assert label_matcher(selector)(obj(labels)) is expected


def test_empty_label_selector_selects_everything():
    assert label_matcher("") is None
    assert label_matcher(None) is None


@pytest.mark.parametrize("bad", ["app in (a", "app=(", "-bad-=x", "app=a b", ",", "app in ()"])
def test_malformed_label_selectors_are_rejected(bad):
    with pytest.raises(SelectorError):
        label_matcher(bad)


def test_field_selectors_on_common_and_pod_fields():
    pod = obj(name="p1", spec={"nodeName": "n1"}, status={"phase": "Running"})
    assert field_matcher("metadata.name=p1", "pods")(pod)
    assert field_matcher("metadata.namespace==default,status.phase=Running", "pods")(pod)
    assert not field_matcher("spec.nodeName!=n1", "pods")(pod)
    assert field_matcher("spec.nodeName=", "pods")(obj(spec={}))


def test_unsupported_field_label_is_rejected():
    with pytest.raises(SelectorError, match="field label not supported"):
        field_matcher("spec.replicas=1", "deployments.apps")


def test_label_selector_object_and_its_string_form():
    sel = {"matchLabels": {"app": "web"},
           "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]},
                                {"key": "canary", "operator": "DoesNotExist"}]}
    assert label_selector_matches(sel, {"app": "web", "tier": "fe"})
    assert not label_selector_matches(sel, {"app": "web", "tier": "db"})
    assert selector_to_string(sel) == "app=web,tier in (be,fe),!canary"

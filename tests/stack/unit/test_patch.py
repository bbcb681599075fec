"""Patch semantics the emulator must share with kube-apiserver."""

import pytest

from rehearsal.kubeapi.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from rehearsal.kubeapi.schema import PatchMeta

DEPLOYMENT = PatchMeta.for_definition("io.k8s.api.apps.v1.Deployment")
POD = PatchMeta.for_definition("io.k8s.api.core.v1.Pod")
HTTPROUTE = PatchMeta.for_definition("io.k8s.networking.gateway.v1.HTTPRoute")


def deployment(containers):
    return {"spec": {"template": {"spec": {"containers": containers}}}}


def containers_of(obj):
    return obj["spec"]["template"]["spec"]["containers"]


# -- JSON merge patch (RFC 7386) -----------------------------------------------------
def test_merge_patch_null_deletes_and_maps_merge():
    target = {"a": "b", "c": {"d": "e", "f": "g"}}
    assert merge_patch(target, {"a": "z", "c": {"f": None}}) == {"a": "z", "c": {"d": "e"}}


def test_merge_patch_replaces_lists_whole():
    assert merge_patch({"l": [1, 2, 3]}, {"l": [4]}) == {"l": [4]}


def test_merge_patch_does_not_mutate_its_input():
    target = {"a": {"b": 1}}
    merge_patch(target, {"a": {"b": 2}})
    assert target == {"a": {"b": 1}}


# -- JSON patch (RFC 6902) ------------------------------------------------------------
def test_json_patch_applies_operations_in_order():
    doc = {"spec": {"replicas": 1, "list": ["a"]}}
    out = json_patch(doc, [{"op": "replace", "path": "/spec/replicas", "value": 3},
                           {"op": "add", "path": "/spec/list/-", "value": "b"},
                           {"op": "test", "path": "/spec/replicas", "value": 3}])
    assert out == {"spec": {"replicas": 3, "list": ["a", "b"]}}


def test_json_patch_failed_test_is_422():
    with pytest.raises(PatchError) as exc:
        json_patch({"spec": {"replicas": 1}}, [{"op": "test", "path": "/spec/replicas", "value": 2}])
    assert exc.value.code == 422
    assert "/spec/replicas" in str(exc.value)


def test_json_patch_on_missing_path_is_422():
    with pytest.raises(PatchError) as exc:
        json_patch({}, [{"op": "replace", "path": "/spec/replicas", "value": 2}])
    assert exc.value.code == 422


@pytest.mark.parametrize("bad", [{"op": "add"}, [{"path": "/a"}], ["x"], [{"op": 1, "path": "/a"}]])
def test_json_patch_malformed_documents_are_rejected(bad):
    with pytest.raises(PatchError):
        json_patch({}, bad)


# -- strategic merge patch ---------------------------------------------------------------
def test_strategic_merge_merges_containers_by_name():
    live = deployment([{"name": "web", "image": "web:1", "ports": [{"containerPort": 80}]},
                       {"name": "sidecar", "image": "side:1"}])
    out = strategic_merge_patch(live, deployment([{"name": "web", "image": "web:2"}]), DEPLOYMENT)
    assert containers_of(out) == [{"name": "web", "image": "web:2", "ports": [{"containerPort": 80}]},
                                  {"name": "sidecar", "image": "side:1"}]


def test_strategic_merge_appends_a_container_with_a_new_name():
    out = strategic_merge_patch(deployment([{"name": "a", "image": "a"}]),
                                deployment([{"name": "b", "image": "b"}]), DEPLOYMENT)
    assert [c["name"] for c in containers_of(out)] == ["a", "b"]


def test_strategic_merge_patch_delete_directive_removes_the_keyed_item():
    live = deployment([{"name": "a", "image": "a"}, {"name": "b", "image": "b"}])
    out = strategic_merge_patch(live, deployment([{"name": "a", "$patch": "delete"}]), DEPLOYMENT)
    assert containers_of(out) == [{"name": "b", "image": "b"}]


def test_strategic_merge_patch_replace_directive_replaces_the_list():
    live = deployment([{"name": "a", "image": "a"}, {"name": "b", "image": "b"}])
    out = strategic_merge_patch(live, deployment([{"$patch": "replace"}, {"name": "c", "image": "c"}]),
                                DEPLOYMENT)
    assert containers_of(out) == [{"name": "c", "image": "c"}]


def test_strategic_merge_merges_env_by_name_and_ports_by_container_port():
    live = deployment([{"name": "web", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        "ports": [{"containerPort": 80, "name": "http"}]}])
    patch = deployment([{"name": "web", "env": [{"name": "B", "value": "3"}],
                         "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 9090}]}])
    web = containers_of(strategic_merge_patch(live, patch, DEPLOYMENT))[0]
    assert web["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]
    assert web["ports"] == [{"containerPort": 80, "name": "http", "protocol": "TCP"}, {"containerPort": 9090}]


def test_strategic_merge_replaces_lists_without_a_merge_strategy():
    live = deployment([{"name": "web", "args": ["--a", "--b"]}])
    out = strategic_merge_patch(live, deployment([{"name": "web", "args": ["--c"]}]), DEPLOYMENT)
    assert containers_of(out)[0]["args"] == ["--c"]


def test_strategic_merge_set_element_order_reorders_the_list():
    live = deployment([{"name": "a"}, {"name": "b"}])
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}}}
    assert [c["name"] for c in containers_of(strategic_merge_patch(live, patch, DEPLOYMENT))] == ["b", "a"]


def test_strategic_merge_retain_keys_clears_other_fields():
    live = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert strategic_merge_patch(live, patch, DEPLOYMENT)["spec"]["strategy"] == {"type": "Recreate"}


def test_strategic_merge_null_deletes_a_field_and_map_delete_directive_removes_the_map():
    live = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"strategy": {"type": "Recreate"}}}
    out = strategic_merge_patch(live, {"metadata": {"labels": {"a": None}}, "spec": {"strategy": {"$patch": "delete"}}},
                                DEPLOYMENT)
    assert out == {"metadata": {"labels": {"b": "2"}}, "spec": {}}


def test_strategic_merge_unions_primitive_lists_with_merge_strategy_and_deletes_from_them():
    live = {"metadata": {"finalizers": ["a", "b"]}}
    out = strategic_merge_patch(live, {"metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"]}},
                                POD)
    assert out["metadata"]["finalizers"] == ["b", "c"]


def test_strategic_merge_item_without_its_merge_key_is_an_error():
    with pytest.raises(PatchError):
        strategic_merge_patch(deployment([{"name": "a"}]), deployment([{"image": "x"}]), DEPLOYMENT)


def test_strategic_merge_on_a_type_without_patch_metadata_replaces_lists():
    live = {"spec": {"rules": [{"backendRefs": [{"name": "blue", "weight": 100}]}]}}
    patch = {"spec": {"rules": [{"backendRefs": [{"name": "green", "weight": 100}]}]}}
    assert strategic_merge_patch(live, patch, HTTPROUTE) == patch

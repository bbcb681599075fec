"""The garbage collector on the object store: owner cascades, foreground/orphan deletion, namespaces."""

from __future__ import annotations

import time

import pytest

from tests.stack.unit.controller_helpers import (
    deployment,
    rollout_done,
    running_kube,
    wait_for,
)


@pytest.fixture
def kube():
    yield from running_kube()


def test_deleting_a_deployment_removes_its_replicasets_and_stops_its_pods(kube):
    kube.store.create("deployments.apps", deployment(replicas=2))
    wait_for(lambda: rollout_done(kube), message="rollout")
    pods = kube.items("pods")
    assert all(kube.runtime.logs(p) for p in pods)  # running in the runtime
    kube.store.delete("deployments.apps", "default", "web")
    wait_for(lambda: kube.items("replicasets.apps") == [] and kube.items("pods") == [], message="cascade")
    assert [kube.runtime.logs(p) for p in pods] == ["", ""]  # the runtime stopped them


def test_object_with_a_surviving_owner_is_kept(kube):
    a = kube.store.create("configmaps", {"metadata": {"name": "a", "namespace": "default"}})
    b = kube.store.create("configmaps", {"metadata": {"name": "b", "namespace": "default"}})
    refs = [{"apiVersion": "v1", "kind": "ConfigMap", "name": n["metadata"]["name"], "uid": n["metadata"]["uid"]}
            for n in (a, b)]
    kube.store.create("configmaps", {"metadata": {"name": "child", "namespace": "default", "ownerReferences": refs}})
    kube.store.delete("configmaps", "default", "a")
    time.sleep(1.5)  # more than a GC resync period
    assert kube.get("configmaps", "child") is not None
    kube.store.delete("configmaps", "default", "b")
    wait_for(lambda: kube.get("configmaps", "child") is None, message="child collected")


def test_foreground_deletion_removes_dependents_before_the_owner(kube):
    kube.store.create("deployments.apps", deployment(replicas=1))
    wait_for(lambda: rollout_done(kube), message="rollout")
    order = []
    kube.store.subscribe(lambda ev: ev.type == "DELETED" and order.append(ev.resource))
    # What kube-apiserver does for propagationPolicy=Foreground: finalizer + deletionTimestamp.

    def foreground(d):
        d["metadata"]["finalizers"] = ["foregroundDeletion"]

    kube.edit("deployments.apps", "web", foreground)
    kube.store.mark_deleting("deployments.apps", "default", "web", 0)
    wait_for(lambda: kube.get("deployments.apps", "web") is None, message="owner deleted")
    assert order.index("replicasets.apps") < order.index("deployments.apps")
    assert kube.items("replicasets.apps") == []


def test_deleting_a_namespace_removes_everything_in_it_and_nothing_elsewhere(kube):
    kube.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    shop = deployment()
    shop["metadata"]["namespace"] = "shop"
    kube.store.create("deployments.apps", shop)
    kube.store.create("configmaps", {"metadata": {"name": "settings", "namespace": "shop"}})
    kube.store.create("deployments.apps", deployment(name="keep", replicas=1))
    wait_for(lambda: len(kube.items("pods", "shop")) == 3 and rollout_done(kube, "keep"), message="running")
    kube.store.delete("namespaces", None, "shop")
    wait_for(lambda: not any(kube.items(r, "shop") for r in kube.store.resources()), message="namespace emptied")
    assert kube.get("deployments.apps", "keep") is not None
    assert len(kube.items("pods", "default")) == 1


def test_terminating_namespace_is_emptied_then_removed(kube):
    kube.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tmp"},
                                     "spec": {"finalizers": ["kubernetes"]}})
    kube.store.create("configmaps", {"metadata": {"name": "x", "namespace": "tmp"}})
    phases = []
    kube.store.subscribe(lambda ev: ev.resource == "namespaces" and phases.append(
        (ev.type, (ev.object.get("status") or {}).get("phase"))))
    kube.store.mark_deleting("namespaces", None, "tmp", 0)
    wait_for(lambda: kube.get("namespaces", "tmp", namespace=None) is None, message="namespace removed")
    assert kube.items("configmaps", "tmp") == []
    assert ("MODIFIED", "Terminating") in phases  # shown as Terminating while it is being emptied


def test_namespace_removed_and_re_created_at_once_loses_its_old_objects_and_keeps_its_new_ones(kube):
    kube.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "again"}})
    kube.store.create("configmaps", {"metadata": {"name": "old", "namespace": "again"}})
    kube.store.delete("namespaces", None, "again")
    # Re-created before the collector ran: what the removed namespace held still goes, the new content stays.
    kube.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "again"}})
    kube.store.create("configmaps", {"metadata": {"name": "new", "namespace": "again"}})
    wait_for(lambda: kube.get("configmaps", "old", namespace="again") is None, message="old content collected")
    time.sleep(1.5)  # more than a GC resync period
    assert [c["metadata"]["name"] for c in kube.items("configmaps", "again")] == ["new"]

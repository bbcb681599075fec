"""Namespace deletion over HTTPS, with the controllers running: Terminating, refusals, then gone.

What kube-apiserver and the namespace controller do:
https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/namespace-v1/
"""

import time
import uuid

import pytest

from rehearsal.kubeapi.controllers import ControllerManager
from rehearsal.kubeapi.runtime import SimulatedRuntime
from rehearsal.kubeapi.server import KubeAPIServer
from rehearsal.kubeapi.store import ObjectStore

MERGE = "application/merge-patch+json"
STOP_DELAY = 1.0  # how long a pod takes to stop once told to: the namespace must wait for that


@pytest.fixture(scope="module")
def client(pki, make_client, api_token):
    _ca, cert, key = pki
    store = ObjectStore()
    runtime = SimulatedRuntime(ready_delay=0.05, job_duration=0.05, stop_delay=STOP_DELAY)
    manager = ControllerManager(store, runtime, resync_period=0.1)
    server = KubeAPIServer(store, token=api_token, tls_cert=cert, tls_key=key)
    manager.start()
    server.start()
    try:
        yield make_client(server.url)
    finally:
        server.stop()
        manager.stop()
        runtime.shutdown()


def wait_until(predicate, what: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def new_namespace(client, **metadata) -> str:
    name = f"ns-{uuid.uuid4().hex[:8]}"
    r = client.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                           "metadata": {"name": name, **metadata}})
    assert r.status_code == 201, r.text
    return name


def deployment(name: str, replicas: int = 2) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "web", "image": "rehearsal/vcci:1.0"}]}}}}


def running_pods(client, ns: str) -> list[dict]:
    pods = client.get(f"/api/v1/namespaces/{ns}/pods").json()["items"]
    return [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]


def test_delete_answers_the_namespace_terminating_and_it_goes_once_its_pods_have_stopped(client):
    ns = new_namespace(client)
    assert client.post(f"/apis/apps/v1/namespaces/{ns}/deployments", deployment("web")).status_code == 201
    assert client.post(f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "settings"}}).status_code == 201
    wait_until(lambda: len(running_pods(client, ns)) == 2, "2 running pods")

    r = client.delete(f"/api/v1/namespaces/{ns}")
    assert r.status_code == 200, r.text
    answered = r.json()
    assert (answered["kind"], answered["status"]["phase"]) == ("Namespace", "Terminating")
    assert answered["metadata"]["deletionTimestamp"]

    # While its pods shut down (graceful termination), the namespace is still there, Terminating.
    pods = wait_until(lambda: [p for p in client.get(f"/api/v1/namespaces/{ns}/pods").json()["items"]
                               if p["metadata"].get("deletionTimestamp")], "pods marked for deletion")
    assert pods
    assert client.get(f"/api/v1/namespaces/{ns}").json()["status"]["phase"] == "Terminating"
    assert client.delete(f"/api/v1/namespaces/{ns}").json()["status"]["phase"] == "Terminating"  # repeatable

    wait_until(lambda: client.get(f"/api/v1/namespaces/{ns}").status_code == 404, "namespace gone")
    for path in (f"/apis/apps/v1/namespaces/{ns}/deployments", f"/apis/apps/v1/namespaces/{ns}/replicasets",
                 f"/api/v1/namespaces/{ns}/pods", f"/api/v1/namespaces/{ns}/configmaps"):
        assert client.get(path).json()["items"] == [], path


def test_a_terminating_namespace_refuses_new_content_and_its_own_re_creation(client):
    # A finalizer of someone else's keeps the namespace Terminating until that someone removes it.
    ns = new_namespace(client, finalizers=["example.com/hold"])
    assert client.delete(f"/api/v1/namespaces/{ns}").status_code == 200

    r = client.post(f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "late"}})
    assert r.status_code == 403, r.text
    assert r.json()["reason"] == "Forbidden"
    assert r.json()["message"] == (f'configmaps "late" is forbidden: unable to create new content in namespace '
                                   f"{ns} because it is being terminated")
    r = client.post(f"/apis/apps/v1/namespaces/{ns}/deployments", deployment("late"), params={"dryRun": "All"})
    assert r.status_code == 403

    r = client.post("/api/v1/namespaces", {"metadata": {"name": ns}})
    assert (r.status_code, r.json()["reason"]) == (409, "AlreadyExists")
    assert r.json()["message"] == f'object is being deleted: namespaces "{ns}" already exists'

    # Released by its finalizer's owner, it goes; then the name can be used again.
    r = client.patch(f"/api/v1/namespaces/{ns}", {"metadata": {"finalizers": None}}, MERGE)
    assert r.status_code == 200, r.text
    wait_until(lambda: client.get(f"/api/v1/namespaces/{ns}").status_code == 404, "namespace gone")
    r = client.post("/api/v1/namespaces", {"metadata": {"name": ns}})
    assert (r.status_code, r.json()["status"]["phase"]) == (201, "Active")
    assert client.post(f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "new"}}).status_code == 201


def test_a_label_change_on_a_terminating_namespace_does_not_finish_its_deletion_early(client):
    ns = new_namespace(client)
    assert client.post(f"/apis/apps/v1/namespaces/{ns}/deployments", deployment("web", 1)).status_code == 201
    wait_until(lambda: running_pods(client, ns), "a running pod")
    client.delete(f"/api/v1/namespaces/{ns}")
    r = client.patch(f"/api/v1/namespaces/{ns}", {"metadata": {"labels": {"team": "a"}}}, MERGE)
    assert (r.status_code, r.json()["status"]["phase"]) == (200, "Terminating")
    wait_until(lambda: client.get(f"/api/v1/namespaces/{ns}").status_code == 404, "namespace gone")
    assert client.get(f"/api/v1/namespaces/{ns}/pods").json()["items"] == []


def test_the_default_namespaces_may_not_be_deleted(client):
    for ns in ("default", "kube-system", "kube-public"):
        r = client.delete(f"/api/v1/namespaces/{ns}")
        assert (r.status_code, r.json()["reason"]) == (403, "Forbidden"), ns
        assert r.json()["message"] == f'namespaces "{ns}" is forbidden: this namespace may not be deleted'
        assert client.get(f"/api/v1/namespaces/{ns}").json()["status"]["phase"] == "Active"

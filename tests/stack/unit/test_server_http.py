"""The emulator over real HTTPS: auth, discovery, verbs, errors as kube-apiserver answers them."""

import contextlib
import json
import threading
import time

import pytest
import requests

from rehearsal.kubeapi import store as store_module
from rehearsal.kubeapi.server import KubeAPIServer
from rehearsal.kubeapi.store import ObjectStore

DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
SMP = "application/strategic-merge-patch+json"


def deployment(name, app=None, replicas=1, image="rehearsal/vcci:1.0"):
    app = app or name
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}}


def test_requests_without_or_with_a_wrong_token_get_401_status(server, pki):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
        r = requests.get(server.url + "/api/v1/namespaces", headers=headers, verify=pki[0], timeout=10)
        assert r.status_code == 401
        assert r.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


def test_health_endpoints_need_no_token(server, pki):
    assert requests.get(server.url + "/healthz", verify=pki[0], timeout=10).text == "ok"


def test_seed_namespaces_exist(client):
    names = {n["metadata"]["name"] for n in client.get("/api/v1/namespaces").json()["items"]}
    assert {"default", "kube-system", "kube-public"} <= names


def test_discovery_lists_groups_resources_and_subresources(client):
    assert client.get("/version").json()["minor"] == "32"
    assert client.get("/api").json()["versions"] == ["v1"]
    groups = {g["name"] for g in client.get("/apis").json()["groups"]}
    assert {"apps", "batch", "networking.k8s.io", "gateway.networking.k8s.io", "route.openshift.io"} <= groups
    apps = {r["name"]: r for r in client.get("/apis/apps/v1").json()["resources"]}
    assert apps["deployments"]["shortNames"] == ["deploy"] and apps["deployments"]["namespaced"]
    assert "watch" in apps["deployments"]["verbs"]
    assert (apps["deployments/scale"]["group"], apps["deployments/scale"]["kind"]) == ("autoscaling", "Scale")
    assert "deployments/status" in apps
    core = {r["name"] for r in client.get("/api/v1").json()["resources"]}
    assert {"pods", "pods/log", "services", "endpoints", "configmaps", "secrets", "serviceaccounts", "events",
            "namespaces"} <= core


def test_aggregated_discovery_is_served_when_asked_for(client):
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    r = client.get("/apis", headers={"Accept": accept})
    assert r.headers["Content-Type"].startswith("application/json;g=apidiscovery.k8s.io;v=v2")
    apps = next(i for i in r.json()["items"] if i["metadata"]["name"] == "apps")
    deploy = next(x for x in apps["versions"][0]["resources"] if x["resource"] == "deployments")
    assert {s["subresource"] for s in deploy["subresources"]} == {"status", "scale"}


def test_openapi_v3_documents_patch_types_and_field_validation(client):
    root = client.get("/openapi/v3").json()["paths"]
    doc = client.get(root["apis/apps/v1"]["serverRelativeURL"]).json()
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    assert any(p["name"] == "fieldValidation" for p in patch["parameters"])
    assert "io.k8s.api.apps.v1.Deployment" in doc["components"]["schemas"]
    gw = client.get(root["apis/gateway.networking.k8s.io/v1"]["serverRelativeURL"]).json()
    route_patch = gw["paths"]["/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/httproutes/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" not in route_patch["requestBody"]["content"]


def test_create_get_list_with_defaults_and_label_selector(client):
    r = client.post(DEPLOYS, deployment("alpha", app="shop"))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["metadata"]["generation"] == 1 and created["metadata"]["uid"]
    assert created["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": "25%", "maxSurge": "25%"}
    assert client.post(DEPLOYS, deployment("beta", app="other")).status_code == 201
    got = client.get(f"{DEPLOYS}/alpha").json()
    assert got == created
    listed = client.get(DEPLOYS, params={"labelSelector": "app=shop"}).json()
    assert listed["kind"] == "DeploymentList"
    assert [d["metadata"]["name"] for d in listed["items"]] == ["alpha"]
    assert client.get(DEPLOYS, params={"labelSelector": "app in ("}).status_code == 400


def test_list_paging_with_limit_and_continue(client):
    for i in range(5):
        client.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": f"page-{i}"}, "data": {}})
    names, token = [], None
    for _ in range(10):
        params = {"limit": 2, "labelSelector": ""}
        if token:
            params["continue"] = token
        page = client.get("/api/v1/namespaces/default/configmaps", params=params).json()
        names += [c["metadata"]["name"] for c in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    assert [n for n in names if n.startswith("page-")] == [f"page-{i}" for i in range(5)]


def test_duplicate_create_is_409_already_exists(client):
    client.post(DEPLOYS, deployment("dup"))
    r = client.post(DEPLOYS, deployment("dup"))
    assert r.status_code == 409
    assert r.json()["reason"] == "AlreadyExists"
    assert r.json()["details"] == {"name": "dup", "group": "apps", "kind": "deployments"}


def test_missing_namespace_is_404_and_missing_object_is_404(client):
    r = client.post("/apis/apps/v1/namespaces/nope/deployments", deployment("x"))
    assert (r.status_code, r.json()["message"]) == (404, 'namespaces "nope" not found')
    r = client.get(f"{DEPLOYS}/missing")
    assert (r.status_code, r.json()["reason"]) == (404, "NotFound")
    assert r.json()["message"] == 'deployments.apps "missing" not found'


def test_invalid_objects_are_422_with_causes(client):
    bad = deployment("bad")
    bad["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    del bad["spec"]["template"]["spec"]["containers"][0]["image"]
    r = client.post(DEPLOYS, bad)
    assert r.status_code == 422
    status = r.json()
    assert status["reason"] == "Invalid" and status["details"]["kind"] == "Deployment"
    assert {c["field"] for c in status["details"]["causes"]} == {
        "spec.template.metadata.labels", "spec.template.spec.containers[0].image"}
    r = client.post(DEPLOYS, deployment("Not_A_Name"))
    assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "metadata.name"


def test_wrong_types_and_strict_unknown_fields_are_400(client):
    bad = deployment("typed")
    bad["spec"]["replicas"] = "three"
    r = client.post(DEPLOYS, bad)
    assert r.status_code == 400 and "spec.replicas" in r.json()["message"]
    unknown = deployment("strict")
    unknown["spec"]["bogus"] = True
    r = client.post(DEPLOYS, unknown, params={"fieldValidation": "Strict"})
    assert r.status_code == 400 and 'unknown field "spec.bogus"' in r.json()["message"]
    r = client.post(DEPLOYS, unknown)
    assert r.status_code == 201
    assert r.headers["Warning"] == '299 - "unknown field \\"spec.bogus\\""'
    assert "bogus" not in r.json()["spec"]


def test_update_with_a_stale_resource_version_is_409_conflict(client):
    obj = client.post(DEPLOYS, deployment("conflict")).json()
    first = json.loads(json.dumps(obj))
    first["spec"]["replicas"] = 2
    r = client.put(f"{DEPLOYS}/conflict", first)
    assert r.status_code == 200 and r.json()["metadata"]["generation"] == 2
    obj["spec"]["replicas"] = 3  # still carries the old resourceVersion
    r = client.put(f"{DEPLOYS}/conflict", obj)
    assert (r.status_code, r.json()["reason"]) == (409, "Conflict")


def test_patch_types_merge_json_and_strategic(client):
    client.post(DEPLOYS, deployment("patched"))
    r = client.patch(f"{DEPLOYS}/patched", {"spec": {"replicas": 3}}, MERGE)
    assert r.json()["spec"]["replicas"] == 3
    r = client.patch(f"{DEPLOYS}/patched", [{"op": "replace", "path": "/spec/replicas", "value": 4}], JSON_PATCH)
    assert r.json()["spec"]["replicas"] == 4
    smp = {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "side:1"}]}}}}
    r = client.patch(f"{DEPLOYS}/patched", smp, SMP)
    assert [c["name"] for c in r.json()["spec"]["template"]["spec"]["containers"]] == ["web", "side"]
    assert r.json()["spec"]["template"]["spec"]["containers"][1]["imagePullPolicy"] == "IfNotPresent"
    r = client.patch(f"{DEPLOYS}/patched", [{"op": "test", "path": "/spec/replicas", "value": 9}], JSON_PATCH)
    assert r.status_code == 422
    assert client.patch(f"{DEPLOYS}/missing", {"spec": {}}, MERGE).status_code == 404
    assert client.patch(f"{DEPLOYS}/patched", "{not json", MERGE).status_code == 400
    assert client.patch(f"{DEPLOYS}/patched", {"spec": {}}, "text/plain").status_code == 415


def test_strategic_merge_on_gateway_types_is_415_like_a_crd(client):
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r1"},
             "spec": {"parentRefs": [{"name": "gw"}],
                      "rules": [{"backendRefs": [{"name": "blue", "port": 80, "weight": 90},
                                                 {"name": "green", "port": 80, "weight": 10}]}]}}
    path = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes"
    created = client.post(path, route).json()
    assert created["spec"]["rules"][0]["backendRefs"][0]["kind"] == "Service"
    r = client.patch(f"{path}/r1", {"spec": {"hostnames": ["a"]}}, SMP)
    assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"
    r = client.patch(f"{path}/r1", {"spec": {"rules": [{"backendRefs": [{"name": "green", "port": 80}]}]}}, MERGE)
    assert r.json()["spec"]["rules"][0]["backendRefs"] == [
        {"name": "green", "port": 80, "group": "", "kind": "Service", "weight": 1}]


def test_server_side_apply_creates_then_detects_conflicts(client):
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1", "b": "1"}}
    path = "/api/v1/namespaces/default/configmaps/ssa"
    apply = "application/apply-patch+yaml"
    r = client.patch(path, cm, apply, params={"fieldManager": "alice"})
    assert r.status_code == 201 and r.json()["data"] == {"a": "1", "b": "1"}
    r = client.patch(path, {**cm, "data": {"a": "2"}}, apply, params={"fieldManager": "bob"})
    assert r.status_code == 409 and r.json()["details"]["causes"][0]["field"] == ".data.a"
    r = client.patch(path, {**cm, "data": {"a": "2"}}, apply, params={"fieldManager": "bob", "force": "true"})
    assert r.status_code == 200 and r.json()["data"] == {"a": "2", "b": "1"}
    # alice stops applying b: it is removed, since nobody else manages it
    r = client.patch(path, {**cm, "data": {}}, apply, params={"fieldManager": "alice"})
    assert r.json()["data"] == {"a": "2"}
    assert client.patch(path, cm, apply).status_code == 422  # fieldManager is required


def test_dry_run_validates_and_defaults_but_stores_nothing(client):
    r = client.post(DEPLOYS, deployment("dry"), params={"dryRun": "All"})
    assert r.status_code == 201 and r.json()["spec"]["revisionHistoryLimit"] == 10
    assert client.get(f"{DEPLOYS}/dry").status_code == 404
    bad = deployment("dry")
    del bad["spec"]["selector"]
    assert client.post(DEPLOYS, bad, params={"dryRun": "All"}).status_code == 422
    client.post(DEPLOYS, deployment("drykept"))
    r = client.patch(f"{DEPLOYS}/drykept", {"spec": {"replicas": 7}}, MERGE, params={"dryRun": "All"})
    assert r.json()["spec"]["replicas"] == 7
    assert client.delete(f"{DEPLOYS}/drykept", params={"dryRun": "All"}).status_code == 200
    assert client.get(f"{DEPLOYS}/drykept").json()["spec"]["replicas"] == 1
    assert client.post(DEPLOYS, deployment("x"), params={"dryRun": "Some"}).status_code == 400


def test_status_and_scale_subresources(client):
    client.post(DEPLOYS, deployment("sub", replicas=2))
    obj = client.get(f"{DEPLOYS}/sub").json()
    obj["status"] = {"replicas": 2, "readyReplicas": 2}
    obj["spec"]["replicas"] = 5
    r = client.put(f"{DEPLOYS}/sub/status", obj)
    assert r.json()["status"]["readyReplicas"] == 2 and r.json()["spec"]["replicas"] == 2
    main = client.patch(f"{DEPLOYS}/sub", {"status": {"readyReplicas": 0}}, MERGE).json()
    assert main["status"]["readyReplicas"] == 2
    scale = client.get(f"{DEPLOYS}/sub/scale").json()
    assert (scale["kind"], scale["spec"]["replicas"], scale["status"]["selector"]) == ("Scale", 2, "app=sub")
    r = client.patch(f"{DEPLOYS}/sub/scale", {"spec": {"replicas": 4}}, MERGE)
    assert r.json()["spec"]["replicas"] == 4
    assert client.get(f"{DEPLOYS}/sub").json()["spec"]["replicas"] == 4


def test_generation_moves_on_spec_changes_only(client):
    # metadata.generation counts changes of the desired state: label, annotation and status writes leave it.
    # https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/object-meta/#ObjectMeta
    path = f"{DEPLOYS}/generations"
    assert client.post(DEPLOYS, deployment("generations")).json()["metadata"]["generation"] == 1
    labelled = client.patch(path, {"metadata": {"labels": {"tier": "web"}, "annotations": {"note": "x"}}}, MERGE)
    assert labelled.json()["metadata"]["labels"]["tier"] == "web"
    assert labelled.json()["metadata"]["generation"] == 1
    status = client.patch(f"{path}/status", {"status": {"observedGeneration": 1, "replicas": 1}}, MERGE)
    assert status.json()["status"]["replicas"] == 1
    assert status.json()["metadata"]["generation"] == 1
    obj = status.json()
    obj["status"]["readyReplicas"] = 1
    assert client.put(f"{path}/status", obj).json()["metadata"]["generation"] == 1
    spec = client.patch(path, {"spec": {"replicas": 3}}, MERGE)
    assert (spec.json()["spec"]["replicas"], spec.json()["metadata"]["generation"]) == (3, 2)
    assert client.get(path).json()["metadata"]["generation"] == 2


def test_table_output_for_kubectl_get(client):
    client.post(DEPLOYS, deployment("tabled", replicas=3))
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    table = client.get(DEPLOYS, headers={"Accept": accept}).json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:5] == ["Name", "Ready", "Up-to-date", "Available", "Age"]
    row = next(r for r in table["rows"] if r["cells"][0] == "tabled")
    assert row["cells"][1] == "0/3"
    assert row["object"]["kind"] == "PartialObjectMetadata"


def test_pod_graceful_delete_marks_it_and_unscheduled_pod_goes_at_once(client):
    pods = "/api/v1/namespaces/default/pods"
    for name, node in (("scheduled", "node-1"), ("unscheduled", None)):
        spec = {"containers": [{"name": "c", "image": "busybox:1"}]}
        if node:
            spec["nodeName"] = node
        assert client.post(pods, {"metadata": {"name": name}, "spec": spec}).status_code == 201
    r = client.delete(f"{pods}/scheduled")
    assert r.status_code == 200 and r.json()["metadata"]["deletionTimestamp"]
    assert client.get(f"{pods}/scheduled").json()["metadata"]["deletionGracePeriodSeconds"] == 30
    client.delete(f"{pods}/unscheduled")
    assert client.get(f"{pods}/unscheduled").status_code == 404
    assert client.get(f"{pods}/scheduled/log").text == "log of scheduled\nsecond line\n"
    r = client.delete(f"{pods}/scheduled", json={"gracePeriodSeconds": 0})
    assert client.get(f"{pods}/scheduled").status_code == 404


def test_delete_with_orphan_strips_owner_references(client):
    owner = client.post(DEPLOYS, deployment("owner")).json()
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": "owner-1", "ownerReferences": [
              {"apiVersion": "apps/v1", "kind": "Deployment", "name": "owner", "uid": owner["metadata"]["uid"],
               "controller": True}]},
          "spec": {"selector": {"matchLabels": {"app": "owner"}},
                   "template": {"metadata": {"labels": {"app": "owner"}},
                                "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}
    assert client.post("/apis/apps/v1/namespaces/default/replicasets", rs).status_code == 201
    r = client.delete(f"{DEPLOYS}/owner", json={"propagationPolicy": "Orphan"})
    assert r.status_code == 200 and r.json()["status"] == "Success"
    left = client.get("/apis/apps/v1/namespaces/default/replicasets/owner-1").json()
    assert "ownerReferences" not in left["metadata"]


def test_watch_streams_events_after_the_given_resource_version(client, server):
    listed = client.get(DEPLOYS).json()
    events = []

    def consume():
        with client.session.get(client.url + DEPLOYS, stream=True, timeout=10, verify=client.ca,
                                params={"watch": "true", "resourceVersion": listed["metadata"]["resourceVersion"],
                                        "labelSelector": "app=watched", "timeoutSeconds": "5"}) as r:
            for line in r.iter_lines():
                if line:
                    events.append(json.loads(line))
                if len(events) >= 3:
                    break

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.3)
    client.post(DEPLOYS, deployment("watched"))
    client.patch(f"{DEPLOYS}/watched", {"spec": {"replicas": 2}}, MERGE)
    client.delete(f"{DEPLOYS}/watched")
    t.join(timeout=10)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "watched"), ("MODIFIED", "watched"), ("DELETED", "watched")]


def test_watch_without_resource_version_starts_with_current_objects(client):
    client.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "w-initial"}})
    r = client.get("/api/v1/namespaces/default/configmaps",
                   params={"watch": "1", "fieldSelector": "metadata.name=w-initial", "timeoutSeconds": "1"})
    events = [json.loads(line) for line in r.text.splitlines() if line]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "w-initial")]


def test_watch_from_an_expired_resource_version_reports_410(pki, monkeypatch, api_token, make_client):
    monkeypatch.setattr(store_module, "HISTORY_LIMIT", 3)
    _ca, cert, key = pki
    srv = KubeAPIServer(ObjectStore(), token=api_token, tls_cert=cert, tls_key=key)
    srv.start()
    try:
        c = make_client(srv.url)
        for i in range(6):
            c.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": f"cm{i}"}})
        r = c.get("/api/v1/namespaces/default/configmaps", params={"watch": "true", "resourceVersion": "1"})
        event = json.loads(r.text.splitlines()[0])
        assert event["type"] == "ERROR"
        assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")
    finally:
        srv.stop()


def test_stop_ends_open_watches(pki, api_token, make_client):
    _ca, cert, key = pki
    srv = KubeAPIServer(ObjectStore(), token=api_token, tls_cert=cert, tls_key=key)
    srv.start()
    c = make_client(srv.url)
    done = threading.Event()

    def consume():
        with contextlib.suppress(requests.RequestException):
            c.get("/api/v1/namespaces/default/pods", params={"watch": "true"})
        done.set()

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    time.sleep(0.3)
    started = time.monotonic()
    srv.stop()
    assert done.wait(5)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("method,path,body,code", [
    ("GET", "/apis/apps/v1/namespaces/default/nothings", None, 404),
    ("GET", "/apis/nogroup/v1/things", None, 404),
    ("GET", "/definitely/not/api", None, 404),
    ("POST", "/apis/apps/v1/namespaces/default/deployments/x", b"{}", 405),
    ("PUT", "/apis/apps/v1/namespaces/default/deployments", b"{}", 405),
    ("POST", "/apis/apps/v1/namespaces/default/deployments", b"[1,2", 400),
    ("POST", "/apis/apps/v1/namespaces/default/deployments", b"[]", 400),
    ("POST", "/apis/apps/v1/namespaces/default/deployments", b'{"kind":"Pod"}', 400),
    ("GET", "/api/v1/namespaces/default/pods?limit=abc", None, 400),
    ("GET", "/api/v1/namespaces/default/pods?fieldSelector=spec.foo%3Dx", None, 400),
    ("DELETE", "/api/v1/namespaces/default/pods/p?gracePeriodSeconds=x", None, 400),
    ("GET", "/api/v1/namespaces/default/pods?watch=maybe", None, 400),
])
def test_malformed_requests_get_a_4xx_status(client, method, path, body, code):
    r = client.request(method, path, data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == code, r.text
    assert r.json()["kind"] == "Status" and r.json()["code"] == code

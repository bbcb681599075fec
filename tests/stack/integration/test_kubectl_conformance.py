"""The real kubectl, unchanged, against the rehearsal's real control plane.

kubectl is the one built with the control plane (kube-apiserver v1.36.3, controller manager, scheduler,
etcd); pods run on the node agent's process runtime as the demo app (see ``kube_manifests``). Each test
drives kubectl as a user would and reads the resulting objects back from the API.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.stack.integration.kube_manifests import V1, V2, V3, deployment, job

ROLLOUT_TIMEOUT = "90s"
SIDECAR = "rehearsal/cbam:1.0.0"


def configmap(name: str, labels: dict | None = None, data: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels or {}}, "data": data or {}}


def owned_by(obj: dict, uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def replicasets_of(kubectl, namespace: str, deploy: dict) -> list[dict]:
    items = kubectl.json("replicasets", "-n", namespace)["items"]
    return [rs for rs in items if owned_by(rs, deploy["metadata"]["uid"])]


def revision(obj: dict) -> str | None:
    return obj["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision")


def rollout_status(kubectl, namespace: str, name: str, timeout: str = ROLLOUT_TIMEOUT, check: bool = True):
    return kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, f"--timeout={timeout}",
                   check=check, timeout=120)


def template_image(obj: dict) -> str:
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


# -- apply ----------------------------------------------------------------------------------


def test_apply_creates_then_reports_unchanged_then_configured(kubectl, namespace):
    manifest = deployment("web", replicas=1)

    created = kubectl.apply(manifest, "-n", namespace)
    assert "deployment.apps/web created" in created.stdout

    again = kubectl.apply(manifest, "-n", namespace)
    assert "deployment.apps/web unchanged" in again.stdout

    manifest["spec"]["replicas"] = 2
    changed = kubectl.apply(manifest, "-n", namespace)
    assert "deployment.apps/web configured" in changed.stdout

    obj = kubectl.json("deployment", "web", "-n", namespace)
    assert obj["spec"]["replicas"] == 2
    assert obj["metadata"]["generation"] == 2
    last_applied = json.loads(obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last_applied["spec"]["replicas"] == 2


def test_apply_removes_a_field_dropped_from_the_manifest(kubectl, namespace):
    kubectl.apply(configmap("settings", data={"keep": "1", "drop": "2"}), "-n", namespace)
    kubectl.apply(configmap("settings", data={"keep": "1"}), "-n", namespace)
    assert kubectl.json("configmap", "settings", "-n", namespace)["data"] == {"keep": "1"}


def test_create_namespace_and_configmap_with_typed_commands(kubectl, namespace):
    # kubectl's typed clients (create namespace/configmap/secret ...) send protobuf request bodies.
    ns = "typed-" + namespace[-8:]
    kubectl("create", "namespace", ns)
    try:
        kubectl("create", "configmap", "settings", "--from-literal=mode=live", "-n", ns)
        obj = kubectl.json("configmap", "settings", "-n", ns)
        assert obj["data"] == {"mode": "live"}
        assert kubectl.json("namespace", ns)["status"]["phase"] == "Active"
    finally:
        kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)


# -- get with label selectors ---------------------------------------------------------------


@pytest.fixture
def labelled_configmaps(kubectl, namespace):
    kubectl.apply([
        configmap("a-web", {"app": "a", "tier": "web"}),
        configmap("a-db", {"app": "a", "tier": "db"}),
        configmap("b-cache", {"app": "b", "tier": "cache"}),
        configmap("b-plain", {"app": "b"}),
    ], "-n", namespace)
    return namespace


@pytest.mark.parametrize(("selector", "expected"), [
    ("app=a", {"a-web", "a-db"}),
    ("app==b", {"b-cache", "b-plain"}),
    ("app!=a", {"b-cache", "b-plain"}),
    ("app=a,tier=db", {"a-db"}),
    ("tier in (web,cache)", {"a-web", "b-cache"}),
    ("tier notin (web,cache)", {"a-db", "b-plain"}),
    ("tier", {"a-web", "a-db", "b-cache"}),
    ("!tier", {"b-plain"}),
    ("app in (a),tier!=web", {"a-db"}),
])
def test_get_with_label_selector_returns_exactly_the_matching_objects(kubectl, labelled_configmaps,
                                                                      selector, expected):
    listed = kubectl.json("configmaps", "-n", labelled_configmaps, "-l", selector)
    names = {item["metadata"]["name"] for item in listed["items"]}
    # kube-root-ca.crt (the controller manager publishes it in every namespace) has no labels, so it
    # never matches a selector that requires a label; "!tier" may legitimately include it.
    names.discard("kube-root-ca.crt")
    assert names == expected


# -- patch ----------------------------------------------------------------------------------


def test_patch_merge_adds_a_key_and_keeps_the_others(kubectl, namespace):
    kubectl.apply(configmap("cfg", data={"a": "1", "b": "2"}), "-n", namespace)
    kubectl("patch", "configmap", "cfg", "-n", namespace, "--type", "merge",
            "-p", json.dumps({"data": {"c": "3", "b": None}}))
    assert kubectl.json("configmap", "cfg", "-n", namespace)["data"] == {"a": "1", "c": "3"}


def test_patch_json_applies_operations_in_order(kubectl, namespace):
    kubectl.apply(deployment("web", replicas=1), "-n", namespace)
    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": 2},
        {"op": "add", "path": "/metadata/labels/team", "value": "core"},
        {"op": "add", "path": "/spec/template/spec/containers/0/args", "value": ["--port", "8080"]},
    ]
    kubectl("patch", "deployment", "web", "-n", namespace, "--type", "json", "-p", json.dumps(ops))
    obj = kubectl.json("deployment", "web", "-n", namespace)
    assert obj["spec"]["replicas"] == 2
    assert obj["metadata"]["labels"] == {"app": "web", "team": "core"}
    assert obj["spec"]["template"]["spec"]["containers"][0]["args"] == ["--port", "8080"]


def test_patch_json_with_a_failing_test_op_changes_nothing(kubectl, namespace):
    kubectl.apply(configmap("cfg", data={"a": "1"}), "-n", namespace)
    ops = [{"op": "replace", "path": "/data/a", "value": "2"}, {"op": "test", "path": "/data/a", "value": "9"}]
    proc = kubectl("patch", "configmap", "cfg", "-n", namespace, "--type", "json", "-p", json.dumps(ops),
                   check=False)
    assert proc.returncode != 0
    assert kubectl.json("configmap", "cfg", "-n", namespace)["data"] == {"a": "1"}


def test_patch_strategic_merges_containers_by_name(kubectl, namespace):
    manifest = deployment("web")
    manifest["spec"]["template"]["spec"]["containers"] = [
        {"name": "app", "image": V1, "env": [{"name": "MODE", "value": "live"}]},
        # A second demo app on its own port, so both containers of the pod can run side by side.
        {"name": "sidecar", "image": SIDECAR, "ports": [{"containerPort": 8081}],
         "env": [{"name": "PROXY", "value": "on"}]},
    ]
    kubectl.apply(manifest, "-n", namespace)
    before = kubectl.json("deployment", "web", "-n", namespace)["spec"]["template"]["spec"]["containers"]

    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "env": [{"name": "DEBUG", "value": "1"}]}]}}}}
    kubectl("patch", "deployment", "web", "-n", namespace, "--type", "strategic", "-p", json.dumps(patch))

    after = kubectl.json("deployment", "web", "-n", namespace)["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in after] == ["app", "sidecar"]
    assert after[0] == before[0]
    assert after[1]["image"] == SIDECAR
    assert {e["name"]: e["value"] for e in after[1]["env"]} == {"PROXY": "on", "DEBUG": "1"}


def test_patch_strategic_delete_directive_removes_one_env_entry(kubectl, namespace):
    manifest = deployment("web")
    manifest["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "KEEP", "value": "1"}, {"name": "DROP", "value": "2"}]
    kubectl.apply(manifest, "-n", namespace)
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "env": [{"name": "DROP", "$patch": "delete"}]}]}}}}
    kubectl("patch", "deployment", "web", "-n", namespace, "-p", json.dumps(patch))
    env = kubectl.json("deployment", "web", "-n", namespace)["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "KEEP", "value": "1"}]


# -- rollouts -------------------------------------------------------------------------------


def test_set_image_creates_a_new_replicaset_at_revision_2(kubectl, namespace):
    kubectl.apply(deployment("web", image=V1, replicas=2), "-n", namespace)
    rollout_status(kubectl, namespace, "web")

    kubectl("set", "image", "deployment/web", f"web={V2}", "-n", namespace)
    rollout_status(kubectl, namespace, "web")

    deploy = kubectl.json("deployment", "web", "-n", namespace)
    assert revision(deploy) == "2"
    sets = {revision(rs): rs for rs in replicasets_of(kubectl, namespace, deploy)}
    assert set(sets) == {"1", "2"}
    assert template_image(sets["1"]) == V1
    assert template_image(sets["2"]) == V2
    assert sets["2"]["spec"]["replicas"] == 2
    assert sets["1"]["spec"]["replicas"] == 0  # old ReplicaSet kept, scaled to zero
    assert deploy["status"]["updatedReplicas"] == 2
    pods = kubectl.json("pods", "-n", namespace, "-l", "app=web")["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert {p["spec"]["containers"][0]["image"] for p in live} == {V2}


def test_scale_changes_replicas_and_ready_pods_follow(kubectl, namespace, wait_until):
    kubectl.apply(deployment("web", replicas=1), "-n", namespace)
    rollout_status(kubectl, namespace, "web")

    kubectl("scale", "deployment/web", "--replicas=3", "-n", namespace)
    rollout_status(kubectl, namespace, "web")
    deploy = kubectl.json("deployment", "web", "-n", namespace)
    assert deploy["spec"]["replicas"] == 3
    assert deploy["status"]["readyReplicas"] == 3
    assert deploy["status"]["availableReplicas"] == 3

    def running_pods():
        pods = kubectl.json("pods", "-n", namespace, "-l", "app=web")["items"]
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")]

    wait_until(lambda: len(running_pods()) == 3, 30, "3 pods")
    kubectl("scale", "deployment/web", "--replicas=1", "-n", namespace)
    wait_until(lambda: len(running_pods()) == 1, 30, "scale-down to 1 pod")
    wait_until(lambda: kubectl.json("deployment", "web", "-n", namespace)["status"].get("replicas") == 1, 30,
               "status.replicas == 1")


def test_scale_subresource_reports_replicas(kubectl, namespace):
    kubectl.apply(deployment("web", replicas=2), "-n", namespace)
    scale = json.loads(kubectl("get", "--raw", f"/apis/apps/v1/namespaces/{namespace}/deployments/web/scale").stdout)
    assert scale["kind"] == "Scale"
    assert scale["spec"]["replicas"] == 2


def test_rollout_status_returns_zero_when_the_rollout_completes(kubectl, namespace):
    kubectl.apply(deployment("web", replicas=2), "-n", namespace)
    proc = rollout_status(kubectl, namespace, "web")
    assert proc.returncode == 0
    assert 'deployment "web" successfully rolled out' in proc.stdout


def test_rollout_status_fails_when_progress_deadline_is_exceeded(kubectl, namespace):
    # FAULT_READINESS_FAIL: the demo app answers /health/ready with 503 forever, so the pod never gets ready.
    manifest = deployment("stuck", replicas=1, env={"FAULT_READINESS_FAIL": "1"}, progressDeadlineSeconds=2)
    kubectl.apply(manifest, "-n", namespace)
    proc = rollout_status(kubectl, namespace, "stuck", check=False)
    assert proc.returncode != 0
    assert 'deployment "stuck" exceeded its progress deadline' in proc.stderr
    conditions = {c["type"]: c for c in kubectl.json("deployment", "stuck", "-n", namespace)["status"]["conditions"]}
    assert conditions["Progressing"]["status"] == "False"
    assert conditions["Progressing"]["reason"] == "ProgressDeadlineExceeded"


@pytest.fixture
def three_revisions(kubectl, namespace):
    """Deployment ``web`` rolled out at images V1, V2 and V3 (revisions 1, 2, 3)."""
    kubectl.apply(deployment("web", image=V1, replicas=1), "-n", namespace)
    rollout_status(kubectl, namespace, "web")
    for image in (V2, V3):
        kubectl("set", "image", "deployment/web", f"web={image}", "-n", namespace)
        rollout_status(kubectl, namespace, "web")
    return namespace


def test_rollout_history_lists_every_revision(kubectl, three_revisions):
    proc = kubectl("rollout", "history", "deployment/web", "-n", three_revisions)
    revisions = re.findall(r"^(\d+)\s", proc.stdout, flags=re.MULTILINE)
    assert revisions == ["1", "2", "3"]

    detail = kubectl("rollout", "history", "deployment/web", "-n", three_revisions, "--revision=2")
    assert V2 in detail.stdout


def test_rollout_undo_returns_to_the_previous_revision(kubectl, three_revisions):
    ns = three_revisions
    kubectl("rollout", "undo", "deployment/web", "-n", ns)
    rollout_status(kubectl, ns, "web")
    deploy = kubectl.json("deployment", "web", "-n", ns)
    assert template_image(deploy) == V2
    assert revision(deploy) == "4"  # the reused ReplicaSet moves to a new revision, as kube does
    live = [p for p in kubectl.json("pods", "-n", ns, "-l", "app=web")["items"]
            if not p["metadata"].get("deletionTimestamp")]
    assert {p["spec"]["containers"][0]["image"] for p in live} == {V2}


def test_rollout_undo_to_revision_restores_that_revisions_template(kubectl, three_revisions):
    ns = three_revisions
    kubectl("rollout", "undo", "deployment/web", "-n", ns, "--to-revision=1")
    rollout_status(kubectl, ns, "web")
    deploy = kubectl.json("deployment", "web", "-n", ns)
    assert template_image(deploy) == V1
    current = [rs for rs in replicasets_of(kubectl, ns, deploy) if rs["spec"]["replicas"] > 0]
    assert [template_image(rs) for rs in current] == [V1]


# -- delete ---------------------------------------------------------------------------------


def test_delete_deployment_cascades_to_replicasets_and_pods(kubectl, namespace, wait_until):
    kubectl.apply(deployment("web", replicas=2), "-n", namespace)
    rollout_status(kubectl, namespace, "web")
    assert kubectl.json("replicasets", "-n", namespace)["items"]
    assert kubectl.json("pods", "-n", namespace, "-l", "app=web")["items"]

    kubectl("delete", "deployment", "web", "-n", namespace, "--timeout=60s")
    assert not kubectl.exists("deployment", "web", "-n", namespace)
    wait_until(lambda: not kubectl.json("replicasets", "-n", namespace)["items"], 30, "ReplicaSets to go")
    wait_until(lambda: not kubectl.json("pods", "-n", namespace)["items"], 30, "pods to go")


def test_delete_namespace_waits_until_it_and_everything_in_it_are_gone(kubectl, namespace):
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    kubectl.apply([deployment("web", replicas=2), configmap("settings", data={"k": "v"}), service], "-n", namespace)
    rollout_status(kubectl, namespace, "web")

    # Without --wait=false kubectl waits for the namespace itself to be gone: the namespace controller
    # marks it Terminating, empties it (pods terminate gracefully) and only then removes it.
    proc = kubectl("delete", "namespace", namespace, "--timeout=60s", timeout=90)
    assert f'namespace "{namespace}" deleted' in proc.stdout
    assert not kubectl.exists("namespace", namespace)
    for kind in ("deployments", "replicasets", "pods", "services", "endpoints", "configmaps"):
        assert kubectl.json(kind, "-n", namespace)["items"] == [], kind
    proc = kubectl("create", "configmap", "late", "-n", namespace, check=False)
    assert proc.returncode != 0 and f'namespaces "{namespace}" not found' in proc.stderr


# -- errors ---------------------------------------------------------------------------------


def test_wrong_token_is_rejected_as_unauthorized(kubectl, namespace):
    proc = kubectl("--token", "not-the-token", "get", "configmaps", "-n", namespace, check=False)
    assert proc.returncode != 0
    assert "Unauthorized" in proc.stderr


def test_deployment_without_selector_is_rejected_as_invalid(kubectl, namespace):
    manifest = deployment("noselector")
    del manifest["spec"]["selector"]
    # --validate=false: the request must reach the server, whose 422 is what we check.
    proc = kubectl("create", "-f", "-", "-n", namespace, "--validate=false", input=json.dumps(manifest),
                   check=False)
    assert proc.returncode != 0
    assert 'The Deployment "noselector" is invalid' in proc.stderr
    assert "spec.selector" in proc.stderr
    assert not kubectl.exists("deployment", "noselector", "-n", namespace)


def test_get_of_a_missing_object_reports_not_found(kubectl, namespace):
    proc = kubectl("get", "configmap", "nope", "-n", namespace, check=False)
    assert proc.returncode != 0
    assert 'configmaps "nope" not found' in proc.stderr


def test_server_dry_run_creates_nothing(kubectl, namespace):
    proc = kubectl.apply(deployment("dry"), "-n", namespace, "--dry-run=server")
    assert "deployment.apps/dry created (server dry run)" in proc.stdout
    proc = kubectl.apply(configmap("drycm", data={"a": "1"}), "-n", namespace, "--dry-run=server")
    assert "configmap/drycm created (server dry run)" in proc.stdout
    assert not kubectl.exists("deployment", "dry", "-n", namespace)
    assert not kubectl.exists("configmap", "drycm", "-n", namespace)
    assert not kubectl.json("replicasets", "-n", namespace)["items"]


def test_server_dry_run_of_a_change_leaves_the_object_unchanged(kubectl, namespace):
    kubectl.apply(configmap("cfg", data={"a": "1"}), "-n", namespace)
    before = kubectl.json("configmap", "cfg", "-n", namespace)
    proc = kubectl.apply(configmap("cfg", data={"a": "2"}), "-n", namespace, "--dry-run=server", "-o", "json")
    assert json.loads(proc.stdout)["data"] == {"a": "2"}  # the answer shows what would happen
    after = kubectl.json("configmap", "cfg", "-n", namespace)
    assert after["data"] == {"a": "1"}
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


# -- beyond the basics: commands the launch runbook leans on ---------------------------------


def test_get_prints_the_deployment_table_with_ready_counts(kubectl, namespace):
    kubectl.apply(deployment("web", replicas=2), "-n", namespace)
    rollout_status(kubectl, namespace, "web")
    lines = kubectl("get", "deployment", "web", "-n", namespace).stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert lines[1].split()[:4] == ["web", "2/2", "2", "2"]


def test_wait_for_condition_available_returns_when_the_deployment_is_available(kubectl, namespace):
    kubectl.apply(deployment("web", replicas=2), "-n", namespace)
    proc = kubectl("wait", "--for=condition=Available", "deployment/web", "-n", namespace, "--timeout=60s",
                   timeout=120)
    assert "deployment.apps/web condition met" in proc.stdout
    assert kubectl.json("deployment", "web", "-n", namespace)["status"]["availableReplicas"] == 2


def test_label_and_annotate_update_metadata(kubectl, namespace):
    kubectl.apply(configmap("cfg"), "-n", namespace)
    kubectl("label", "configmap", "cfg", "env=prod", "-n", namespace)
    kubectl("annotate", "configmap", "cfg", "launch/wave=1", "-n", namespace)
    kubectl("label", "configmap", "cfg", "env=staging", "--overwrite", "-n", namespace)
    meta = kubectl.json("configmap", "cfg", "-n", namespace)["metadata"]
    assert meta["labels"] == {"env": "staging"}
    assert meta["annotations"]["launch/wave"] == "1"


def test_diff_exits_1_with_the_change_and_0_without(kubectl, namespace):
    manifest = configmap("cfg", data={"mode": "blue"})
    kubectl.apply(manifest, "-n", namespace)
    same = kubectl("diff", "-f", "-", "-n", namespace, input=json.dumps(manifest), check=False)
    assert same.returncode == 0, same.stderr
    manifest["data"]["mode"] = "green"
    changed = kubectl("diff", "-f", "-", "-n", namespace, input=json.dumps(manifest), check=False)
    assert changed.returncode == 1, changed.stderr
    assert "-  mode: blue" in changed.stdout
    assert "+  mode: green" in changed.stdout
    assert kubectl.json("configmap", "cfg", "-n", namespace)["data"] == {"mode": "blue"}


def test_server_side_apply_detects_a_conflict_with_another_field_manager(kubectl, namespace):
    kubectl.apply(deployment("web", replicas=1), "-n", namespace, "--server-side")
    other = deployment("web", replicas=3)
    proc = kubectl("apply", "-f", "-", "-n", namespace, "--server-side", "--field-manager=launch-tool",
                   input=json.dumps(other), check=False)
    assert proc.returncode != 0
    assert "conflict" in proc.stderr.lower()
    assert ".spec.replicas" in proc.stderr
    assert kubectl.json("deployment", "web", "-n", namespace)["spec"]["replicas"] == 1

    kubectl("apply", "-f", "-", "-n", namespace, "--server-side", "--field-manager=launch-tool",
            "--force-conflicts", input=json.dumps(other))
    obj = kubectl.json("deployment", "web", "-n", namespace, "--show-managed-fields")
    assert obj["spec"]["replicas"] == 3
    assert "launch-tool" in {entry["manager"] for entry in obj["metadata"]["managedFields"]}


def test_explain_describes_a_field_from_the_served_openapi(kubectl):
    proc = kubectl("explain", "deployment.spec.replicas")
    assert "FIELD: replicas <integer>" in proc.stdout
    assert "Number of desired pods" in proc.stdout


def test_logs_of_a_deployment_pod_come_from_the_runtime(kubectl, namespace):
    kubectl.apply(deployment("web", image=V1), "-n", namespace)
    rollout_status(kubectl, namespace, "web")
    proc = kubectl("logs", "deployment/web", "-n", namespace)
    # What the container itself wrote: the demo app's start-up line, with the version from the image tag.
    assert "vcci 1.0.0 listening on http://" in proc.stdout


def test_job_that_exits_0_completes(kubectl, namespace):
    kubectl.apply(job("migrate"), "-n", namespace)
    proc = kubectl("wait", "--for=condition=Complete", "job/migrate", "-n", namespace, "--timeout=60s", timeout=120)
    assert "job.batch/migrate condition met" in proc.stdout
    assert kubectl.json("job", "migrate", "-n", namespace)["status"]["succeeded"] == 1


def test_job_that_exits_non_zero_fails_after_its_backoff_limit(kubectl, namespace):
    kubectl.apply(job("migrate", exit_code=3), "-n", namespace)
    kubectl("wait", "--for=condition=Failed", "job/migrate", "-n", namespace, "--timeout=60s", timeout=120)
    status = kubectl.json("job", "migrate", "-n", namespace)["status"]
    assert status["failed"] == 1
    assert not status.get("succeeded")
    pods = kubectl.json("pods", "-n", namespace, "-l", "job-name=migrate")["items"]
    assert [p["status"]["phase"] for p in pods] == ["Failed"]
    terminated = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 3


def test_service_endpoints_list_the_ready_pods(kubectl, namespace, wait_until):
    kubectl.apply(deployment("web", replicas=2), "-n", namespace)
    kubectl.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                   "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}},
                  "-n", namespace)
    rollout_status(kubectl, namespace, "web")

    def endpoint_ips():
        if not kubectl.exists("endpoints", "web", "-n", namespace):
            return set()
        subsets = kubectl.json("endpoints", "web", "-n", namespace).get("subsets") or []
        return {a["ip"] for s in subsets for a in s.get("addresses") or []}

    pod_ips = {p["status"]["podIP"] for p in kubectl.json("pods", "-n", namespace, "-l", "app=web")["items"]}
    assert len(pod_ips) == 2
    wait_until(lambda: endpoint_ips() == pod_ips, 30, "endpoints to list both ready pods")

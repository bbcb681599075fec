"""The kubernetes.core collection, unchanged, run by the real ansible-playbook against the rehearsal's
real control plane (kube-apiserver, controller manager, scheduler, etcd; pods run on the node agent's
process runtime as the demo app, see ``kube_manifests``).

Every playbook authenticates through ``K8S_AUTH_KUBECONFIG`` (set by the ``ansible_playbook`` fixture);
results come from the ``ansible.posix.json`` callback and the cluster is read back with kubectl.
"""

from __future__ import annotations

import copy

from tests.stack.integration.kube_manifests import V1, V2, deployment, job

WAIT = {"wait": True, "wait_timeout": 90, "wait_sleep": 1}


def configmap(name: str, namespace: str, data: dict | None = None, labels: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
            "data": data or {"a": "1"}}


def test_k8s_apply_with_wait_returns_once_the_deployment_is_available(ansible_playbook, kubectl, namespace):
    run = ansible_playbook([
        {"name": "deploy web", "kubernetes.core.k8s": {
            "state": "present", "apply": True,
            "definition": deployment("web", namespace=namespace, replicas=2), **WAIT}},
    ])
    result = run.result("deploy web")
    assert result["changed"] is True
    assert result["result"]["status"]["readyReplicas"] == 2
    assert result["result"]["status"]["availableReplicas"] == 2

    live = kubectl.json("deployment", "web", "-n", namespace)
    assert live["status"]["readyReplicas"] == 2
    assert live["status"]["observedGeneration"] == live["metadata"]["generation"]


def test_k8s_state_absent_deletes_the_object_and_is_idempotent(ansible_playbook, kubectl, namespace):
    kubectl.apply(deployment("web", namespace=namespace))
    kubectl.apply(configmap("cfg", namespace))
    absent = {"state": "absent", "api_version": "v1", "kind": "ConfigMap", "name": "cfg", "namespace": namespace}
    run = ansible_playbook([
        {"name": "remove cfg", "kubernetes.core.k8s": absent},
        {"name": "remove web", "kubernetes.core.k8s": {
            "state": "absent", "api_version": "apps/v1", "kind": "Deployment", "name": "web",
            "namespace": namespace, **WAIT}},
        {"name": "remove cfg again", "kubernetes.core.k8s": absent},
    ])
    assert run.result("remove cfg")["changed"] is True
    assert run.result("remove web")["changed"] is True
    assert run.result("remove cfg again")["changed"] is False
    assert not kubectl.exists("configmap", "cfg", "-n", namespace)
    assert not kubectl.exists("deployment", "web", "-n", namespace)


def test_k8s_info_with_label_selectors_returns_only_matching_objects(ansible_playbook, kubectl, namespace):
    kubectl.apply([
        configmap("a-web", namespace, labels={"app": "a", "tier": "web"}),
        configmap("a-db", namespace, labels={"app": "a", "tier": "db"}),
        configmap("b-web", namespace, labels={"app": "b", "tier": "web"}),
    ])
    run = ansible_playbook([
        {"name": "app a", "kubernetes.core.k8s_info": {
            "kind": "ConfigMap", "namespace": namespace, "label_selectors": ["app=a"]}},
        {"name": "web tier not app a", "kubernetes.core.k8s_info": {
            "kind": "ConfigMap", "namespace": namespace, "label_selectors": ["tier in (web)", "app!=a"]}},
        {"name": "one by name", "kubernetes.core.k8s_info": {
            "kind": "ConfigMap", "namespace": namespace, "name": "a-db"}},
        {"name": "missing", "kubernetes.core.k8s_info": {
            "kind": "ConfigMap", "namespace": namespace, "name": "nope"}},
    ])

    def names(task: str) -> set[str]:
        return {r["metadata"]["name"] for r in run.result(task)["resources"]}

    assert names("app a") == {"a-web", "a-db"}
    assert names("web tier not app a") == {"b-web"}
    assert names("one by name") == {"a-db"}
    assert run.result("one by name")["resources"][0]["metadata"]["labels"] == {"app": "a", "tier": "db"}
    assert run.result("missing")["resources"] == []


def test_k8s_scale_with_wait_returns_with_the_new_replicas_ready(ansible_playbook, kubectl, namespace):
    kubectl.apply(deployment("web", namespace=namespace, replicas=1))
    run = ansible_playbook([
        {"name": "scale up", "kubernetes.core.k8s_scale": {
            "api_version": "apps/v1", "kind": "Deployment", "name": "web", "namespace": namespace,
            "replicas": 3, **WAIT}},
    ])
    result = run.result("scale up")
    assert result["changed"] is True
    assert result["result"]["spec"]["replicas"] == 3
    assert result["result"]["status"]["readyReplicas"] == 3
    live = kubectl.json("deployment", "web", "-n", namespace)
    assert live["spec"]["replicas"] == 3
    assert live["status"]["readyReplicas"] == 3


def test_k8s_rollback_restores_the_previous_revisions_image(ansible_playbook, kubectl, namespace, wait_until):
    v1 = deployment("web", namespace=namespace, image=V1)
    v2 = copy.deepcopy(v1)
    v2["spec"]["template"]["spec"]["containers"][0]["image"] = V2
    run = ansible_playbook([
        {"name": "release 1", "kubernetes.core.k8s": {"apply": True, "definition": v1, **WAIT}},
        {"name": "release 2", "kubernetes.core.k8s": {"apply": True, "definition": v2, **WAIT}},
        {"name": "roll back", "kubernetes.core.k8s_rollback": {
            "api_version": "apps/v1", "kind": "Deployment", "name": "web", "namespace": namespace}},
    ])
    assert run.result("release 2")["changed"] is True
    rollback = run.result("roll back")
    assert rollback["changed"] is True
    assert rollback["rollback_info"][0]["method"] == "patch"

    def image():
        live = kubectl.json("deployment", "web", "-n", namespace)
        return live["spec"]["template"]["spec"]["containers"][0]["image"]

    assert image() == V1
    kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=90s", timeout=120)

    def live_pod_images():
        pods = kubectl.json("pods", "-n", namespace, "-l", "app=web")["items"]
        return {p["spec"]["containers"][0]["image"] for p in pods if not p["metadata"].get("deletionTimestamp")}

    wait_until(lambda: live_pod_images() == {V1}, 30, "pods back on image V1")


def test_k8s_apply_twice_reports_no_change_the_second_time(ansible_playbook, kubectl, namespace):
    # wait: the Deployment's status settles first; kubernetes.core reports a change when any field,
    # status included, differs between its read and its patch, as it would on a real cluster.
    task = {"apply": True, "definition": deployment("web", namespace=namespace, replicas=1), **WAIT}
    cm_task = {"apply": True, "definition": configmap("cfg", namespace, {"k": "v"})}
    run = ansible_playbook([
        {"name": "first", "kubernetes.core.k8s": task},
        {"name": "first cm", "kubernetes.core.k8s": cm_task},
        {"name": "second", "kubernetes.core.k8s": task},
        {"name": "second cm", "kubernetes.core.k8s": cm_task},
    ])
    assert run.result("first")["changed"] is True
    assert run.result("first cm")["changed"] is True
    assert run.result("second")["changed"] is False
    assert run.result("second cm")["changed"] is False
    assert run.stats["changed"] == 2
    assert kubectl.json("configmap", "cfg", "-n", namespace)["data"] == {"k": "v"}


def test_k8s_check_mode_changes_nothing_in_the_cluster(ansible_playbook, kubectl, namespace):
    kubectl.apply(configmap("existing", namespace, {"a": "1"}))
    before = kubectl.json("configmap", "existing", "-n", namespace)
    run = ansible_playbook([
        {"name": "create deployment", "kubernetes.core.k8s": {
            "apply": True, "definition": deployment("web", namespace=namespace)}},
        {"name": "change configmap", "kubernetes.core.k8s": {
            "apply": True, "definition": configmap("existing", namespace, {"a": "2"})}},
        {"name": "delete configmap", "kubernetes.core.k8s": {
            "state": "absent", "api_version": "v1", "kind": "ConfigMap", "name": "existing",
            "namespace": namespace}},
    ], "--check")
    assert run.result("create deployment")["changed"] is True
    assert run.result("change configmap")["changed"] is True
    assert run.result("delete configmap")["changed"] is True

    assert not kubectl.exists("deployment", "web", "-n", namespace)
    assert not kubectl.json("replicasets", "-n", namespace)["items"]
    after = kubectl.json("configmap", "existing", "-n", namespace)
    assert after["data"] == {"a": "1"}
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def migration_job(name: str, namespace: str, exit_code: int = 0) -> dict:
    return job(name, exit_code, namespace=namespace, message="migration 1.0.0")


def test_k8s_wait_condition_on_a_job_and_k8s_log_of_its_pod(ansible_playbook, namespace):
    run = ansible_playbook([
        {"name": "run migration", "kubernetes.core.k8s": {
            "definition": migration_job("migrate", namespace), **WAIT,
            "wait_condition": {"type": "Complete", "status": "True"}}},
        {"name": "migration log", "kubernetes.core.k8s_log": {
            "namespace": namespace, "label_selectors": ["job-name=migrate"]}},
    ])
    job = run.result("run migration")["result"]
    assert job["status"]["succeeded"] == 1
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"])
    assert "migration 1.0.0 done" in run.result("migration log")["log"]


def test_k8s_wait_condition_fails_the_task_when_the_job_fails(ansible_playbook, kubectl, namespace, wait_until):
    run = ansible_playbook([
        {"name": "run failing migration", "kubernetes.core.k8s": {
            "definition": migration_job("migrate", namespace, exit_code=2), "wait": True, "wait_timeout": 5,
            "wait_sleep": 1, "wait_condition": {"type": "Complete", "status": "True"}}},
    ], expect_rc=2)
    assert run.result("run failing migration")["failed"] is True

    def failed_condition():
        status = kubectl.json("job", "migrate", "-n", namespace).get("status") or {}
        return any(c["type"] == "Failed" and c["status"] == "True" for c in status.get("conditions") or [])

    wait_until(failed_condition, 30, "the Job's Failed condition")
    status = kubectl.json("job", "migrate", "-n", namespace)["status"]
    assert status["failed"] == 1
    assert not status.get("succeeded")


def test_k8s_json_patch_changes_once_then_reports_no_change(ansible_playbook, kubectl, namespace):
    # A ConfigMap: no controller writes to it, so the second run sees exactly what the first left.
    kubectl.apply(configmap("cfg", namespace, {"mode": "blue"}))
    patch = {"api_version": "v1", "kind": "ConfigMap", "name": "cfg", "namespace": namespace,
             "patch": [{"op": "replace", "path": "/data/mode", "value": "green"},
                       {"op": "add", "path": "/metadata/labels", "value": {"wave": "1"}}]}
    run = ansible_playbook([
        {"name": "patch", "kubernetes.core.k8s_json_patch": patch},
        {"name": "patch again", "kubernetes.core.k8s_json_patch": patch},
    ])
    assert run.result("patch")["changed"] is True
    assert run.result("patch again")["changed"] is False
    live = kubectl.json("configmap", "cfg", "-n", namespace)
    assert live["data"] == {"mode": "green"}
    assert live["metadata"]["labels"] == {"wave": "1"}


def test_k8s_server_side_apply_records_its_field_manager_and_is_idempotent(ansible_playbook, kubectl, namespace):
    ssa = {"server_side_apply": {"field_manager": "launch", "force_conflicts": False}}
    task = {"apply": True, "definition": deployment("web", namespace=namespace, replicas=2), **ssa, **WAIT}
    cm_task = {"apply": True, "definition": configmap("cfg", namespace, {"mode": "blue"}), **ssa}
    run = ansible_playbook([
        {"name": "first", "kubernetes.core.k8s": task},
        {"name": "first cm", "kubernetes.core.k8s": cm_task},
        {"name": "second", "kubernetes.core.k8s": task},
        {"name": "second cm", "kubernetes.core.k8s": cm_task},
    ])
    assert run.result("first")["changed"] is True
    assert run.result("first cm")["changed"] is True
    assert run.result("second")["changed"] is False
    assert run.result("second cm")["changed"] is False

    # kubectl hides managedFields unless asked for them.
    live = kubectl.json("deployment", "web", "-n", namespace, "--show-managed-fields")
    assert live["spec"]["replicas"] == 2
    assert live["status"]["readyReplicas"] == 2
    cm = kubectl.json("configmap", "cfg", "-n", namespace, "--show-managed-fields")
    assert cm["data"] == {"mode": "blue"}
    for obj in (live, cm):
        applied = [m for m in obj["metadata"]["managedFields"] if m["manager"] == "launch"]
        assert [m["operation"] for m in applied] == ["Apply"], obj["metadata"]["managedFields"]
        # Server-side apply leaves no client-side last-applied annotation behind.
        assert "kubectl.kubernetes.io/last-applied-configuration" not in (obj["metadata"].get("annotations") or {})
    assert "f:replicas" in applied_fields(live, "launch")["f:spec"]
    assert applied_fields(cm, "launch")["f:data"] == {"f:mode": {}}


def applied_fields(obj: dict, manager: str) -> dict:
    return next(m["fieldsV1"] for m in obj["metadata"]["managedFields"]
                if m["manager"] == manager and m["operation"] == "Apply")

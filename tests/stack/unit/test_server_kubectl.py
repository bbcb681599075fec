"""kubectl v1.32 itself against the emulator: the requests it really sends (protobuf bodies, strict field
validation, OpenAPI-driven apply, Table output) must work."""

import json
import shutil
import subprocess

import pytest

from rehearsal.kubeapi.kubeconfig import write_kubeconfig

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


@pytest.fixture(scope="module")
def kubectl(server, pki, api_token, tmp_path_factory):
    home = tmp_path_factory.mktemp("kubectl-home")
    config = home / "kubeconfig"
    write_kubeconfig(config, server_url=server.url, token=api_token, ca_path=pki[0])

    def run(*args, stdin=None, check=True):
        proc = subprocess.run(["kubectl", "--kubeconfig", str(config), "--cache-dir", str(home / "cache"), *args],
                              input=stdin, capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
        return proc

    return run


MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: kc-web, labels: {app: kc-web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: kc-web}}
  template:
    metadata: {labels: {app: kc-web}}
    spec:
      containers:
      - name: web
        image: rehearsal/vcci:1.0
        env: [{name: MODE, value: "a"}]
"""


def test_kubectl_create_generators_send_protobuf_that_the_server_reads(kubectl):
    kubectl("create", "namespace", "kc-ns")
    kubectl("create", "deployment", "kc-gen", "--image=rehearsal/x:1", "--replicas=3", "--port=8080")
    kubectl("create", "configmap", "kc-cm", "--from-literal=a=b")
    dep = json.loads(kubectl("get", "deploy", "kc-gen", "-o", "json").stdout)
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert (dep["spec"]["replicas"], container["image"], container["ports"][0]["containerPort"]) == (
        3, "rehearsal/x:1", 8080)
    assert json.loads(kubectl("get", "cm", "kc-cm", "-o", "json").stdout)["data"] == {"a": "b"}
    assert "kc-ns" in kubectl("get", "ns", "-o", "name").stdout


def test_kubectl_apply_is_idempotent_and_updates_through_strategic_merge(kubectl):
    assert "created" in kubectl("apply", "-f", "-", stdin=MANIFEST).stdout
    assert "unchanged" in kubectl("apply", "-f", "-", stdin=MANIFEST).stdout
    changed = MANIFEST.replace('value: "a"', 'value: "b"').replace("replicas: 2", "replicas: 4")
    assert "configured" in kubectl("apply", "-f", "-", stdin=changed).stdout
    dep = json.loads(kubectl("get", "deploy", "kc-web", "-o", "json").stdout)
    assert dep["spec"]["replicas"] == 4
    assert dep["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "MODE", "value": "b"}]
    assert dep["metadata"]["generation"] == 2


def test_kubectl_apply_rejects_unknown_fields_like_kube(kubectl):
    bad = MANIFEST.replace("kc-web}}\nspec:", "kc-web}}\nspec:\n  bogus: 1", 1)
    proc = kubectl("apply", "-f", "-", stdin=bad.replace("name: kc-web,", "name: kc-bad,"), check=False)
    assert proc.returncode != 0
    assert 'unknown field "spec.bogus"' in proc.stderr


def test_kubectl_get_prints_server_side_tables_and_filters_by_label(kubectl):
    kubectl("apply", "-f", "-", stdin=MANIFEST)
    out = kubectl("get", "deploy", "-l", "app=kc-web").stdout.splitlines()
    assert out[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert out[1].split()[0] == "kc-web" and len(out) == 2


def test_kubectl_patch_types_and_explain(kubectl):
    kubectl("apply", "-f", "-", stdin=MANIFEST)
    kubectl("patch", "deploy", "kc-web", "--type", "merge", "-p", '{"spec":{"replicas":5}}')
    kubectl("patch", "deploy", "kc-web", "--type", "json", "-p", '[{"op":"replace","path":"/spec/replicas","value":6}]')
    kubectl("patch", "deploy", "kc-web", "-p",
            '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"rehearsal/vcci:2.0"}]}}}}')
    dep = json.loads(kubectl("get", "deploy", "kc-web", "-o", "json").stdout)
    assert dep["spec"]["replicas"] == 6
    assert [c["image"] for c in dep["spec"]["template"]["spec"]["containers"]] == ["rehearsal/vcci:2.0"]
    assert "RollingUpdate" in kubectl("explain", "deployment.spec.strategy").stdout

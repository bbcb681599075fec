"""`python -m rehearsal up`: the real control plane built from source, the node agent, pods
in network namespaces, the traffic plane on EndpointSlices, and a `down` that leaves nothing behind.

One stack for the module (no apps: each test deploys what it needs in its own namespace); the last test
brings it down and checks what is left.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest

from rehearsal.kube.binaries import locate
from rehearsal.testing import StackRun

VERSION = locate().kubernetes_version


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def stack():
    missing = locate().missing()
    assert not missing, f"the control plane is not built ({missing}): run `make setup` (tools/build-kube.sh)"
    run = StackRun(apps=False, prefix="greenlang-test-real-").up()
    try:
        yield run
    finally:
        run.down()


@pytest.fixture
def ns(stack):
    name = f"real-{uuid.uuid4().hex[:8]}"
    stack.kubectl("create", "namespace", name)
    # The ServiceAccount admission plugin refuses pods until the controller manager made "default".
    wait_until(lambda: "default" in stack.kubectl("-n", name, "get", "serviceaccounts", "-o", "name"), 30,
               "the default ServiceAccount")
    yield name
    stack.kubectl("delete", "namespace", name, "--wait=false")


def netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def deployment(name: str, image: str, replicas: int = 2) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{
                         "name": "api", "image": image, "ports": [{"name": "http", "containerPort": 8080}],
                         "env": [{"name": "SHUTDOWN_DELAY_S", "value": "0"}],
                         "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "http"},
                                            "periodSeconds": 1}}]}}}}


def test_kubectl_version_reports_the_built_server_and_client(stack):
    out = json.loads(stack.kubectl("version", "-o", "json"))
    assert out["serverVersion"]["gitVersion"] == VERSION
    assert out["clientVersion"]["gitVersion"] == VERSION
    assert stack.env["PATH"].split(":")[0] == str(locate().kube_bin)  # the env file puts that kubectl first


def test_wrong_token_is_refused_with_401(stack):
    server = json.loads(stack.kubectl("config", "view", "--raw", "-o", "json"))["clusters"][0]["cluster"]
    req = urllib.request.Request(server["server"] + "/api/v1/namespaces",
                                 headers={"Authorization": "Bearer not-the-token"})
    ctx = ssl.create_default_context(cafile=server["certificate-authority"])
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10, context=ctx)
    assert err.value.code == 401


def test_the_node_is_ready_untainted_and_renews_its_lease(stack):
    node = stack.kubectl_json("node", "rehearsal-node")
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"
    assert not [t for t in node["spec"].get("taints") or [] if t["key"].startswith("node.kubernetes.io/")]
    first = stack.kubectl_json("-n", "kube-node-lease", "lease", "rehearsal-node")["spec"]["renewTime"]
    wait_until(lambda: stack.kubectl_json("-n", "kube-node-lease", "lease", "rehearsal-node")["spec"]["renewTime"]
               != first, 30, "a renewed Lease")


def test_kubectl_rollout_scenario_on_the_real_api(stack, ns):
    stack.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(deployment("web", "rehearsal/vcci:v1")))
    stack.kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=120s", timeout=130)
    stack.kubectl("-n", ns, "set", "image", "deployment/web", "api=rehearsal/vcci:v2")
    stack.kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=120s", timeout=130)
    stack.kubectl("-n", ns, "rollout", "undo", "deployment/web", "--to-revision=1")
    stack.kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=120s", timeout=130)
    dep = stack.kubectl_json("-n", ns, "deployment", "web")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "rehearsal/vcci:v1"
    # strategic merge: the env list merges by name, the existing entry stays
    stack.kubectl("-n", ns, "patch", "deployment/web", "--type", "strategic", "-p", json.dumps(
        {"spec": {"template": {"spec": {"containers": [{"name": "api", "env": [{"name": "EXTRA", "value": "1"}]}]}}}}))
    env = stack.kubectl_json("-n", ns, "deployment", "web")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {e["name"] for e in env} == {"SHUTDOWN_DELAY_S", "EXTRA"}
    stack.kubectl("-n", ns, "scale", "deployment/web", "--replicas=3")
    stack.kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=120s", timeout=130)
    pods = [p for p in stack.kubectl_json("-n", ns, "pods")["items"] if not p["metadata"].get("deletionTimestamp")]
    wait_until(lambda: len([p for p in stack.kubectl_json("-n", ns, "pods")["items"]
                            if not p["metadata"].get("deletionTimestamp")]) == 3, 60, "3 pods")
    assert all(p["spec"]["containers"][0]["image"] == "rehearsal/vcci:v1" for p in pods)


def test_pods_get_addresses_on_the_bridge_and_nginx_routes_to_them_from_endpointslices(stack, ns):
    stack.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(deployment("cbam", "rehearsal/cbam:v1")))
    stack.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "cbam"},
         "spec": {"selector": {"app": "cbam"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}))
    host = f"{ns}.rehearsal.test"
    stack.kubectl("-n", ns, "apply", "--server-side", "-f", "-", input=json.dumps(
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "cbam"},
         "spec": {"hostnames": [host], "rules": [{"backendRefs": [{"name": "cbam", "port": 80}]}]}}))
    stack.kubectl("-n", ns, "rollout", "status", "deployment/cbam", "--timeout=120s", timeout=130)
    pod_ips = {p["status"]["podIP"] for p in stack.kubectl_json("-n", ns, "pods")["items"]}
    subnet = json.loads((stack.state_dir / "status.json").read_text())["components"]["kube-apiserver"]["pod_subnet"]
    assert all(ip.startswith(subnet.rsplit(".", 1)[0] + ".") for ip in pod_ips), (pod_ips, subnet)
    stack.pod_ips.update(pod_ips)
    slices = stack.kubectl_json("-n", ns, "endpointslices", "-l", "kubernetes.io/service-name=cbam")["items"]
    assert {a for s in slices for e in s.get("endpoints") or [] for a in e["addresses"]} == pod_ips

    def served_by() -> str | None:
        req = urllib.request.Request(stack.ingress_url + "/health/ready", headers={"Host": host})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.headers.get("X-App-Version") if resp.status == 200 else None
        except OSError:
            return None

    assert wait_until(served_by, 30, "nginx serving the HTTPRoute") == "v1"
    # Prometheus discovers the pods as targets, as before
    query = f'count(up{{namespace="{ns}"}} == 1)'
    # Wait for both: one scraped pod is already a truthy answer.
    assert wait_until(lambda: stack.promql(query) == 2, 60, "Prometheus scraping both pods")


def test_kubectl_logs_reaches_the_node_agent_through_the_api_server(stack, ns):
    stack.kubectl("-n", ns, "run", "hello", "--image=rehearsal/vcci:v1", "--restart=Never", "--command", "--",
                  "python", "-c", "print('hello from the pod', flush=True)")
    wait_until(lambda: stack.kubectl_json("-n", ns, "pod", "hello")["status"].get("phase") == "Succeeded", 60,
               "the pod to succeed")
    assert stack.kubectl("-n", ns, "logs", "hello").strip() == "hello from the pod"


def test_a_failing_job_reports_its_exit_code_and_fails(stack, ns):
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
           "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [{
               "name": "migrate", "image": "rehearsal/vcci:v1",
               "command": ["python", "-c", "import sys; sys.exit(3)"]}]}}}}
    stack.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(job))
    stack.kubectl("-n", ns, "wait", "--for=condition=Failed", "job/migrate", "--timeout=90s", timeout=100)
    (pod,) = stack.kubectl_json("-n", ns, "pods", "-l", "job-name=migrate")["items"]
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


def test_a_deleted_pod_gets_sigterm_and_is_gone_with_its_network_namespace(stack, ns):
    stack.kubectl("-n", ns, "run", "sleeper", "--image=rehearsal/vcci:v1", "--restart=Never")
    stack.kubectl("-n", ns, "wait", "--for=condition=Ready", "pod/sleeper", "--timeout=60s", timeout=70)
    uid = stack.kubectl_json("-n", ns, "pod", "sleeper")["metadata"]["uid"]
    before = netns_names()
    started = time.monotonic()
    stack.kubectl("-n", ns, "delete", "pod", "sleeper", "--timeout=60s", timeout=70)
    assert time.monotonic() - started < 30  # SIGTERM ends the demo app well before its 30 s grace
    after = netns_names()
    assert len(before - after) >= 1, f"pod {uid}: its network namespace was not removed"


def test_down_leaves_no_process_socket_network_namespace_veth_or_bridge(stack):
    leftovers = stack.down()
    assert leftovers == []

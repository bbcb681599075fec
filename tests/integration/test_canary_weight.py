"""greenlang.launch.canary_weight through ansible-playbook against the rehearsal's kube-apiserver.

Uses the shared ``kubectl``, ``namespace`` and ``ansible_playbook`` fixtures of
tests/integration/conftest.py: objects are created and read back with the real kubectl,
the module runs through kubernetes.core's client exactly as against a cluster.
"""

from __future__ import annotations

import json

import pytest

NGX = "nginx.ingress.kubernetes.io/"


def task(label, namespace, **args):
    check = args.pop("check_mode", None)
    diff = args.pop("diff", None)
    t = {"name": label, "greenlang.launch.canary_weight": dict(namespace=namespace, **args), "ignore_errors": True}
    if check is not None:
        t["check_mode"] = check
    if diff is not None:
        t["diff"] = diff
    return t


def backend_weights(route, rule):
    return {r["name"]: r.get("weight") for r in route["spec"]["rules"][rule]["backendRefs"]}


def test_gateway_api_httproute_weights_idempotence_check_mode_and_diff(kubectl, namespace, ansible_playbook):
    kubectl.apply({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "vcci", "namespace": namespace},
        "spec": {"parentRefs": [{"name": "edge"}], "rules": [
            {"name": "api", "matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
             "backendRefs": [{"name": "vcci-stable", "port": 8080}]},
            {"name": "docs", "matches": [{"path": {"type": "PathPrefix", "value": "/docs"}}],
             "backendRefs": [{"name": "docs", "port": 80}]},
            # Testers reach the canary by header: not a weighted split, so never counted or shifted.
            {"name": "testers", "matches": [{"headers": [{"name": "X-Canary", "value": "always"}]}],
             "backendRefs": [{"name": "vcci-canary", "port": 8080}]},
        ]},
    })
    docs_rule_before, testers_rule_before = kubectl.json("httproute", "vcci", "-n", namespace)["spec"]["rules"][1:]
    common = {"provider": "gateway_api", "name": "vcci", "stable_backend": "vcci-stable",
              "canary_backend": "vcci-canary"}
    run = ansible_playbook([
        task("check 10", namespace, weight=10, check_mode=True, **common),
        task("read after check", namespace, action="read", **common),
        task("set 10", namespace, weight=10, diff=True, **common),
        task("set 10 again", namespace, weight=10, **common),
        task("advance", namespace, action="advance", steps=[10, 25, 50, 100], **common),
        task("too much", namespace, weight=150, **common),
    ], expect_rc=None)

    checked = run.result("check 10")
    assert checked["changed"] is True and checked["weight"] == 10
    assert backend_weights(checked["object"], 0) == {"vcci-stable": 90, "vcci-canary": 10}
    assert run.result("read after check")["previous_weight"] == 0, "check mode must not write"

    first = run.result("set 10")
    assert first["changed"] is True and first["previous_weight"] == 0 and first["operation"] == "replace"
    assert first["diff"]["after"]["spec"]["rules"][0]["backendRefs"][1]["name"] == "vcci-canary"
    assert "vcci-canary" not in str(first["diff"]["before"]["spec"]["rules"][0])
    assert run.result("set 10 again")["changed"] is False

    advanced = run.result("advance")
    assert advanced["changed"] and (advanced["previous_weight"], advanced["weight"]) == (10, 25)

    bad = run.result("too much")
    assert bad["failed"] and "weight" in bad["msg"] and "between 0 and 100" in bad["msg"]

    route = kubectl.json("httproute", "vcci", "-n", namespace)
    assert backend_weights(route, 0) == {"vcci-stable": 75, "vcci-canary": 25}
    assert route["spec"]["rules"][1] == docs_rule_before, "a rule without the app's backends is left alone"
    assert route["spec"]["rules"][2] == testers_rule_before, "a canary-only rule is left alone"
    assert [r["name"] for r in advanced["rules"]] == ["api"]


def test_ingress_nginx_canary_is_a_separate_ingress_and_the_primary_is_never_annotated(
        kubectl, namespace, ansible_playbook):
    kubectl.apply({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "vcci-ingress", "namespace": namespace, "annotations": {NGX + "proxy-body-size": "10m"}},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "vcci.example", "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "vcci-stable", "port": {"number": 80}}}}]}}]},
    })
    primary_before = kubectl.json("ingress", "vcci-ingress", "-n", namespace)
    common = {"provider": "ingress_nginx", "name": "vcci-ingress", "stable_backend": "vcci-stable",
              "canary_backend": "vcci-canary"}
    run = ansible_playbook([
        task("check create", namespace, weight=10, check_mode=True, **common),
        task("set 10", namespace, weight=10, **common),
        task("set 10 again", namespace, weight=10, **common),
        task("advance", namespace, action="advance", steps=[10, 25, 50, 100], **common),
        task("total 50", namespace, weight=25, weight_total=50, **common),
    ], expect_rc=None)
    refused = run.result("total 50")
    # Refused while planning, before any write; the message names the parameter and why.
    assert refused["failed"] and refused["failed_step"] == "plan", refused
    assert "weight_total: must be at least 100" in refused["msg"], refused["msg"]
    assert run.result("check create")["changed"] and run.result("check create")["operation"] == "create"
    created = run.result("set 10")
    assert created["changed"] and created["operation"] == "create" and created["previous_weight"] is None
    assert run.result("set 10 again")["changed"] is False
    assert run.result("advance")["weight"] == 25

    canary = kubectl.json("ingress", "vcci-ingress-canary", "-n", namespace)
    ann = canary["metadata"]["annotations"]
    assert ann[NGX + "canary"] == "true" and ann[NGX + "canary-weight"] == "25"
    assert ann[NGX + "proxy-body-size"] == "10m"
    assert canary["spec"]["rules"][0]["host"] == "vcci.example"
    assert canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "vcci-canary"
    primary = kubectl.json("ingress", "vcci-ingress", "-n", namespace)
    assert not [k for k in primary["metadata"].get("annotations", {}) if k.startswith(NGX + "canary")]
    assert primary["metadata"]["resourceVersion"] == primary_before["metadata"]["resourceVersion"]

    folded = ansible_playbook([task("fold", namespace, action="promote", fold=True, **common)]).result("fold")
    assert folded["changed"] and folded["operation"] == "delete" and folded["previous_weight"] == 25
    assert not kubectl.exists("ingress", "vcci-ingress-canary", "-n", namespace)
    assert kubectl.exists("ingress", "vcci-ingress", "-n", namespace)


def test_openshift_route_alternate_backends_with_weight_total_256(kubectl, namespace, ansible_playbook):
    kubectl.apply({
        "apiVersion": "route.openshift.io/v1", "kind": "Route",
        "metadata": {"name": "csrd", "namespace": namespace},
        "spec": {"host": "csrd.example", "to": {"kind": "Service", "name": "csrd-stable"}},
    })
    common = {"provider": "openshift_route", "name": "csrd", "stable_backend": "csrd-stable",
              "canary_backend": "csrd-canary", "weight_total": 256}
    run = ansible_playbook([
        task("set 64", namespace, weight=64, **common),
        task("set 64 again", namespace, weight=64, **common),
        task("check abort", namespace, action="abort", check_mode=True, **common),
        task("missing route", namespace, **dict(common, name="nope", weight=1)),
    ], expect_rc=None)
    assert run.result("set 64")["changed"] and run.result("set 64")["previous_weight"] == 0
    assert run.result("set 64 again")["changed"] is False
    check_abort = run.result("check abort")
    assert check_abort["changed"] and check_abort["weight"] == 0
    assert run.result("missing route")["failed"] and "not found" in run.result("missing route")["msg"]

    route = kubectl.json("route", "csrd", "-n", namespace)
    assert route["spec"]["to"]["weight"] == 192
    assert route["spec"]["alternateBackends"] == [{"kind": "Service", "name": "csrd-canary", "weight": 64}]


# -- 409 Conflict: the object changes between the module's read and its write ------------------------------------


class RacingClient:
    """kubernetes.core's real client, with another writer changing the object just before the module's writes.

    ``race(attempt)`` runs (a real kubectl call) before each of the first ``races`` replaces, so that
    replace carries a resourceVersion that is no longer current and kube-apiserver answers a real 409.
    """

    def __init__(self, client, race, races=1):
        self._client, self._race, self.races_left, self.replaces = client, race, races, 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def replace(self, resource, body, **kw):
        self.replaces += 1
        if self.races_left:
            self.races_left -= 1
            self._race(self.replaces)
        return self._client.replace(resource, body, **kw)


def run_canary_weight_in_process(monkeypatch, capsys, kubeconfig, race, races, **args):
    """canary_weight's main() in this process, its client wrapped in RacingClient; returns (result, client)."""
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.greenlang.launch.plugins.modules import canary_weight

    made = []
    real_get_api_client = canary_weight.get_api_client

    def get_api_client(module):
        made.append(RacingClient(real_get_api_client(module), race, races))
        return made[-1]

    monkeypatch.setattr(canary_weight, "get_api_client", get_api_client)
    capsys.readouterr()
    with patch_module_args(dict(args, kubeconfig=str(kubeconfig))), pytest.raises(SystemExit):
        canary_weight.main()
    return json.loads(capsys.readouterr().out), made[0]


def test_concurrent_change_between_read_and_write_is_retried_keeping_the_other_writers_change(
        kube_cluster, kubectl, namespace, monkeypatch, capsys):
    kubectl.apply({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "vcci", "namespace": namespace},
        "spec": {"parentRefs": [{"name": "edge"}], "rules": [
            {"name": "api", "backendRefs": [{"name": "vcci-stable", "port": 8080, "weight": 90},
                                            {"name": "vcci-canary", "port": 8080, "weight": 10}]}]},
    })

    def other_writer(attempt):
        # Another pipeline adds a rule for the docs and labels the route while canary_weight is deciding.
        kubectl("label", "httproute", "vcci", "-n", namespace, f"touched-by=other-writer-{attempt}", "--overwrite")
        route = kubectl.json("httproute", "vcci", "-n", namespace)
        route["spec"]["rules"].append({"name": f"docs-{attempt}", "backendRefs": [{"name": "docs", "port": 80}]})
        kubectl("replace", "-f", "-", input=json.dumps(route))

    result, client = run_canary_weight_in_process(
        monkeypatch, capsys, kube_cluster.kubeconfig, other_writer, races=1, provider="gateway_api", name="vcci",
        namespace=namespace, stable_backend="vcci-stable", canary_backend="vcci-canary", action="advance",
        steps=[10, 25, 50, 100])

    assert client.replaces == 2, "the first write met a 409 and was retried once"
    assert not result.get("failed"), result.get("msg")
    assert (result["changed"], result["previous_weight"], result["weight"]) == (True, 10, 25)
    route = kubectl.json("httproute", "vcci", "-n", namespace)
    assert backend_weights(route, 0) == {"vcci-stable": 75, "vcci-canary": 25}, "the weight is what was asked"
    assert [r["name"] for r in route["spec"]["rules"]] == ["api", "docs-1"], "the other writer's rule is kept"
    assert route["metadata"]["labels"]["touched-by"] == "other-writer-1", "the other writer's label is kept"
    assert result["object"]["metadata"]["resourceVersion"] == route["metadata"]["resourceVersion"]


def test_object_changing_at_every_attempt_fails_after_three_conflicts_and_writes_nothing_of_its_own(
        kube_cluster, kubectl, namespace, monkeypatch, capsys):
    kubectl.apply({
        "apiVersion": "route.openshift.io/v1", "kind": "Route",
        "metadata": {"name": "csrd", "namespace": namespace},
        "spec": {"host": "csrd.example", "to": {"kind": "Service", "name": "csrd-stable"}},
    })

    def other_writer(attempt):
        kubectl("annotate", "route", "csrd", "-n", namespace, f"other-writer=pass-{attempt}", "--overwrite")

    result, client = run_canary_weight_in_process(
        monkeypatch, capsys, kube_cluster.kubeconfig, other_writer, races=3, provider="openshift_route",
        name="csrd", namespace=namespace, stable_backend="csrd-stable", canary_backend="csrd-canary", weight=10)

    assert client.replaces == 3
    assert result["failed"] is True and "kept changing" in result["msg"] and "3 conflicting writes" in result["msg"]
    route = kubectl.json("route", "csrd", "-n", namespace)
    assert "alternateBackends" not in route["spec"], "no write of the module got through"
    assert route["metadata"]["annotations"]["other-writer"] == "pass-3"

"""greenlang.launch.canary_weight through ansible-playbook against the Kubernetes API emulator.

Uses the shared ``kubectl``, ``namespace`` and ``ansible_playbook`` fixtures of
tests/integration/conftest.py: objects are created and read back with the real kubectl,
the module runs through kubernetes.core's client exactly as against a cluster.
"""

from __future__ import annotations

import pytest

pytest.importorskip("rehearsal.kubeapi.cluster", reason="Kubernetes API emulator not available")

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
        ]},
    })
    docs_rule_before = kubectl.json("httproute", "vcci", "-n", namespace)["spec"]["rules"][1]
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
    assert "vcci-canary" not in str(first["diff"]["before"])
    assert run.result("set 10 again")["changed"] is False

    advanced = run.result("advance")
    assert advanced["changed"] and (advanced["previous_weight"], advanced["weight"]) == (10, 25)

    bad = run.result("too much")
    assert bad["failed"] and "weight" in bad["msg"] and "between 0 and 100" in bad["msg"]

    route = kubectl.json("httproute", "vcci", "-n", namespace)
    assert backend_weights(route, 0) == {"vcci-stable": 75, "vcci-canary": 25}
    assert route["spec"]["rules"][1] == docs_rule_before, "a rule without the app's backends is left alone"


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
    ])
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

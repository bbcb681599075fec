"""The Endpoints controller on the object store: ready/not-ready addresses, ports, service lifecycle."""

from __future__ import annotations

import time

import pytest

from tests.stack.unit.controller_helpers import deployment, running_kube, wait_for


@pytest.fixture
def kube():
    yield from running_kube()


def service(name: str = "web", target_port="http", **spec) -> dict:
    s = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default",
                                                             "labels": {"team": "green"}},
         "spec": {"selector": {"app": "web"},
                  "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": target_port}]}}
    s["spec"].update(spec)
    return s


def subsets(kube, name: str = "web") -> list[dict]:
    ep = kube.get("endpoints", name)
    return (ep or {}).get("subsets") or []


def addresses(kube, field: str = "addresses") -> list[str]:
    return sorted(a["ip"] for s in subsets(kube) for a in s.get(field) or [])


def test_endpoints_list_ready_pods_with_the_named_target_port_resolved(kube):
    kube.store.create("deployments.apps", deployment(replicas=2))
    kube.store.create("services", service())
    wait_for(lambda: len(addresses(kube)) == 2, message="2 ready addresses")
    (subset,) = subsets(kube)
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    pods = {p["status"]["podIP"]: p for p in kube.items("pods")}
    for a in subset["addresses"]:
        pod = pods[a["ip"]]
        assert a["targetRef"] == {"kind": "Pod", "namespace": "default", "name": pod["metadata"]["name"],
                                  "uid": pod["metadata"]["uid"]}
        assert a["nodeName"] == "rehearsal-node"
    assert kube.get("endpoints", "web")["metadata"]["labels"] == {"team": "green"}


def test_unready_pods_are_listed_as_not_ready_addresses(kube):
    kube.store.create("deployments.apps", deployment(replicas=2, image="registry.local/web:never-ready"))
    kube.store.create("services", service(target_port=9000))
    wait_for(lambda: len(addresses(kube, "notReadyAddresses")) == 2, message="2 not-ready addresses")
    assert addresses(kube) == []
    assert subsets(kube)[0]["ports"][0]["port"] == 9000


def test_publish_not_ready_addresses_lists_unready_pods_as_addresses(kube):
    kube.store.create("deployments.apps", deployment(replicas=1, image="registry.local/web:never-ready"))
    kube.store.create("services", service(publishNotReadyAddresses=True))
    wait_for(lambda: len(addresses(kube)) == 1, message="1 address")


def test_endpoints_follow_scale_down_and_disappear_with_the_service(kube):
    kube.store.create("deployments.apps", deployment(replicas=3))
    kube.store.create("services", service())
    wait_for(lambda: len(addresses(kube)) == 3, message="3 addresses")

    def scale(d):
        d["spec"]["replicas"] = 1

    kube.edit("deployments.apps", "web", scale)
    wait_for(lambda: len(addresses(kube)) == 1, message="1 address")
    kube.store.delete("services", "default", "web")
    wait_for(lambda: kube.get("endpoints", "web") is None, message="endpoints deleted")


def test_service_without_selector_keeps_its_hand_written_endpoints(kube):
    svc = service()
    del svc["spec"]["selector"]
    kube.store.create("services", svc)
    manual = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web", "namespace": "default"},
              "subsets": [{"addresses": [{"ip": "10.0.0.9"}], "ports": [{"port": 5432, "protocol": "TCP"}]}]}
    kube.store.create("endpoints", manual)
    kube.store.create("deployments.apps", deployment(replicas=1))
    wait_for(lambda: len(kube.items("pods")) == 1, message="pod")
    time.sleep(0.3)  # a few resyncs
    assert subsets(kube) == manual["subsets"]

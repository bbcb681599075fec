"""Real nginx splitting real traffic between real demo-app processes, configured from cluster objects.

The objects live in the real control plane (kube-apiserver; EndpointSlices kept by the controller
manager); the pods run as processes through the node agent; the traffic plane renders nginx from the
cluster's watched cache (``RealCluster.store``), as the rehearsal stack runs it.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from rehearsal.load import LoadGenerator
from rehearsal.traffic.controller import TrafficPlane
from rehearsal.traffic.render import HTTPROUTES, INGRESSES, ROUTES
from tests.stack.integration.traffic_fixtures import (
    MiniCluster,
    count_versions,
    pod_manifest,
    service_manifest,
    wait_until,
)

REQUESTS = 1000
TOLERANCE = 5.0  # percentage points


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """v1 and v2 of the vcci demo app (one pod each, own Service each, in one namespace) behind one nginx."""
    tmp = tmp_path_factory.mktemp("traffic")
    with MiniCluster(tmp) as mc:
        ns = mc.namespace()
        for track, version in (("blue", "v1"), ("green", "v2")):
            ns.create("pods", pod_manifest(f"vcci-{track}", "vcci", version, labels={"app": "vcci", "track": track}))
            ns.create("services", service_manifest(f"vcci-{track}", {"app": "vcci", "track": track}))
        ns.wait_ready("vcci-blue", "vcci-green")
        wait_until(lambda: ns.ready_addresses("vcci-blue") and ns.ready_addresses("vcci-green"), what="endpoints")
        with TrafficPlane(tmp / "nginx", mc.store) as tp:
            # The traffic plane renders from the watched cache: start once it has both endpoints.
            wait_until(lambda: ns.ready_addresses("vcci-blue", cached=True)
                       and ns.ready_addresses("vcci-green", cached=True), timeout=10, what="endpoints in the cache")
            tp.sync()
            yield ns, tp


@pytest.fixture
def routing(stack):
    """Creates routing objects for one test (through the API) and removes them afterwards; each change is
    served by nginx once the watched cache the traffic plane renders from has it."""
    ns, tp = stack
    created = []

    def create(resource: str, obj: dict) -> None:
        name = obj["metadata"]["name"]
        ns.create(resource, obj)
        created.append((resource, name))
        wait_until(lambda: ns.in_mirror(resource, name), timeout=10, what=f"{resource} {name} in the cache")
        tp.sync()

    yield create
    for resource, name in created:
        ns.delete(resource, name)
        wait_until(lambda r=resource, n=name: not ns.in_mirror(r, n), timeout=10, what=f"{resource} {name} gone")
    tp.sync()


def share_of(counts, version: str) -> float:
    return 100.0 * counts[version] / sum(counts.values())


def ingress(name: str, host: str, svc: str, annotations: dict | None = None) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": svc, "port": {"number": 80}}}}]}}]}}


def test_httproute_90_10_split_is_measured_within_5_points(stack, routing):
    _ns, tp = stack
    routing(HTTPROUTES, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                         "metadata": {"name": "vcci"},
                         "spec": {"hostnames": ["vcci.rehearsal.test"], "rules": [{"backendRefs": [
                             {"name": "vcci-blue", "port": 80, "weight": 90},
                             {"name": "vcci-green", "port": 80, "weight": 10}]}]}})
    counts = count_versions(tp.url, "vcci.rehearsal.test", REQUESTS)
    print(f"HTTPRoute 90/10 over {REQUESTS} requests: {dict(counts)}")
    assert set(counts) == {"v1", "v2"}
    assert abs(share_of(counts, "v2") - 10) <= TOLERANCE


def test_ingress_nginx_canary_weight_10_is_measured_within_5_points(stack, routing):
    _ns, tp = stack
    routing(INGRESSES, ingress("cbam", "cbam.rehearsal.test", "vcci-blue"))
    routing(INGRESSES, ingress("cbam-canary", "cbam.rehearsal.test", "vcci-green",
                               {"nginx.ingress.kubernetes.io/canary": "true",
                                "nginx.ingress.kubernetes.io/canary-weight": "10"}))
    counts = count_versions(tp.url, "cbam.rehearsal.test", REQUESTS)
    print(f"canary Ingress weight 10 over {REQUESTS} requests: {dict(counts)}")
    assert set(counts) == {"v1", "v2"}
    assert abs(share_of(counts, "v2") - 10) <= TOLERANCE


def test_openshift_route_90_10_split_is_measured_within_5_points(stack, routing):
    _ns, tp = stack
    routing(ROUTES, {"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": "csrd"},
                     "spec": {"host": "csrd.rehearsal.test",
                              "to": {"kind": "Service", "name": "vcci-blue", "weight": 90},
                              "alternateBackends": [{"kind": "Service", "name": "vcci-green", "weight": 10}]}})
    counts = count_versions(tp.url, "csrd.rehearsal.test", REQUESTS)
    print(f"Route 90/10 over {REQUESTS} requests: {dict(counts)}")
    assert set(counts) == {"v1", "v2"}
    assert abs(share_of(counts, "v2") - 10) <= TOLERANCE


def test_canary_weight_total_1000_with_weight_100_is_measured_as_10_percent(stack, routing):
    _ns, tp = stack
    routing(INGRESSES, ingress("tot", "tot.rehearsal.test", "vcci-blue"))
    routing(INGRESSES, ingress("tot-canary", "tot.rehearsal.test", "vcci-green",
                               {"nginx.ingress.kubernetes.io/canary": "true",
                                "nginx.ingress.kubernetes.io/canary-weight": "100",
                                "nginx.ingress.kubernetes.io/canary-weight-total": "1000"}))
    counts = count_versions(tp.url, "tot.rehearsal.test", REQUESTS)
    print(f"canary weight 100 of 1000 over {REQUESTS} requests: {dict(counts)}")
    # Read as 100 of the default total of 100, it would send everything to v2.
    assert set(counts) == {"v1", "v2"}
    assert abs(share_of(counts, "v2") - 10) <= TOLERANCE


def test_weight_annotation_on_the_primary_ingress_changes_nothing(stack, routing):
    _ns, tp = stack
    # The primary carries a weight of 50 that the controller must ignore; the canary's own 10 applies.
    routing(INGRESSES, ingress("solo", "solo.rehearsal.test", "vcci-blue",
                               {"nginx.ingress.kubernetes.io/canary-weight": "50"}))
    routing(INGRESSES, ingress("solo-canary", "solo.rehearsal.test", "vcci-green",
                               {"nginx.ingress.kubernetes.io/canary": "true",
                                "nginx.ingress.kubernetes.io/canary-weight": "10"}))
    counts = count_versions(tp.url, "solo.rehearsal.test", REQUESTS)
    print(f"primary weight 50, canary weight 10, over {REQUESTS} requests: {dict(counts)}")
    assert set(counts) == {"v1", "v2"}
    assert abs(share_of(counts, "v2") - 10) <= TOLERANCE


def test_canary_by_header_always_and_never_override_the_weight(stack, routing):
    _ns, tp = stack
    routing(INGRESSES, ingress("hdr", "hdr.rehearsal.test", "vcci-blue"))
    routing(INGRESSES, ingress("hdr-canary", "hdr.rehearsal.test", "vcci-green",
                               {"nginx.ingress.kubernetes.io/canary": "true",
                                "nginx.ingress.kubernetes.io/canary-weight": "50",
                                "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary"}))
    assert count_versions(tp.url, "hdr.rehearsal.test", 100, headers={"X-Canary": "always"}) == {"v2": 100}
    assert count_versions(tp.url, "hdr.rehearsal.test", 100, headers={"X-Canary": "never"}) == {"v1": 100}
    other = count_versions(tp.url, "hdr.rehearsal.test", 200, headers={"X-Canary": "maybe"})
    assert set(other) == {"v1", "v2"}  # any other value falls through to the 50 % weight


def test_canary_by_header_value_routes_only_that_exact_value_to_the_canary(stack, routing):
    _ns, tp = stack
    routing(INGRESSES, ingress("hv", "hv.rehearsal.test", "vcci-blue"))
    routing(INGRESSES, ingress("hv-canary", "hv.rehearsal.test", "vcci-green",
                               {"nginx.ingress.kubernetes.io/canary": "true",
                                "nginx.ingress.kubernetes.io/canary-by-header": "X-Release",
                                "nginx.ingress.kubernetes.io/canary-by-header-value": "v2-preview"}))
    assert count_versions(tp.url, "hv.rehearsal.test", 50, headers={"X-Release": "v2-preview"}) == {"v2": 50}
    assert count_versions(tp.url, "hv.rehearsal.test", 50, headers={"X-Release": "V2-PREVIEW"}) == {"v1": 50}
    assert count_versions(tp.url, "hv.rehearsal.test", 50, headers={"X-Release": "always"}) == {"v1": 50}
    assert count_versions(tp.url, "hv.rehearsal.test", 50) == {"v1": 50}


def test_unknown_host_gets_404_and_healthz_answers(stack):
    _ns, tp = stack
    assert count_versions(tp.url, "nobody.rehearsal.test", 5) == {"status 404": 5}
    assert tp.served_hash() == tp.current_hash


def test_twenty_graceful_reloads_under_load_fail_no_request(stack, routing):
    ns, tp = stack
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "reload"},
             "spec": {"hostnames": ["reload.rehearsal.test"], "rules": [{"backendRefs": [
                 {"name": "vcci-blue", "port": 80, "weight": 50}, {"name": "vcci-green", "port": 80, "weight": 50}]}]}}
    routing(HTTPROUTES, route)
    reloads_before = tp.reloads
    load = LoadGenerator(tp.url, ["reload.rehearsal.test"], rps=60, duration=60, path="/health/live").start()
    try:
        for i in range(20):
            current = ns.get(HTTPROUTES, "reload")
            current["spec"]["rules"][0]["backendRefs"][0]["weight"] = 40 + (i % 2) * 20
            ns.replace(HTTPROUTES, current)
            # The controller notices the change, debounces, renders and reloads on its own.
            wait_until(lambda n=i: tp.reloads >= reloads_before + n + 1, timeout=10, what="reload")
            wait_until(lambda: tp.served_hash() == tp.current_hash, timeout=10, what="new config served")
    finally:
        summary = load.stop()
    print(f"{tp.reloads - reloads_before} reloads under load: {summary['requests']} requests, "
          f"{summary['failed']} failed {summary['first_errors']}, by version {summary['by_version']}")
    assert tp.reloads - reloads_before >= 20
    assert summary["requests"] > 200
    assert summary["failed"] == 0
    assert summary["by_status"] == {"200": summary["requests"]}


def test_reloads_while_slow_requests_are_in_flight_fail_none_of_them(stack, routing):
    ns, tp = stack
    # A pod whose API answers take 1.5 s: every reload happens with requests half-way through nginx.
    ns.create("pods", pod_manifest("vcci-slow", "vcci", "v3", labels={"app": "vcci", "track": "slow"},
                                   env={"FAULT_LATENCY_MS": "1500"}))
    ns.create("services", service_manifest("vcci-slow", {"app": "vcci", "track": "slow"}))
    try:
        ns.wait_ready("vcci-slow")
        wait_until(lambda: ns.ready_addresses("vcci-slow"), what="slow endpoint")
        routing(HTTPROUTES, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                             "metadata": {"name": "slow"},
                             "spec": {"hostnames": ["slow.rehearsal.test"], "rules": [{"backendRefs": [
                                 {"name": "vcci-slow", "port": 80}]}]}})
        # Connection: close on every request, so a request cut by a reload cannot hide behind the load
        # generator's resend of a request that failed on a reused keep-alive connection.
        load = LoadGenerator(tp.url, ["slow.rehearsal.test"], rps=10, duration=40, path="/api/v1/hotspots?top=3",
                             headers={"Connection": "close"}, timeout=10).start()
        reload_windows = []  # (signalled no earlier than, served by) of each reload
        try:
            wait_until(lambda: len(load.results) >= 10, timeout=10, what="slow requests answered")
            for i in range(5):
                current = ns.get(HTTPROUTES, "slow")
                # Another host name on the route: a new configuration, while slow.rehearsal.test keeps its backend.
                current["spec"]["hostnames"] = ["slow.rehearsal.test", f"slow-{i}.rehearsal.test"]
                changed_at = time.time()
                ns.replace(HTTPROUTES, current)
                reloads = tp.reloads
                wait_until(lambda n=reloads: tp.reloads > n, timeout=10, what="reload")
                wait_until(lambda: tp.served_hash() == tp.current_hash, timeout=10, what="new config served")
                reload_windows.append((changed_at, time.time()))
                time.sleep(0.7)
            time.sleep(2)  # the requests in flight at the last reload finish
        finally:
            summary = load.stop()
    finally:
        ns.delete_pod("vcci-slow", grace=0)
        ns.delete("services", "vcci-slow")
    records = [r for r in load.results if r["status"]]
    spanning = [sum(1 for r in records if r["t"] <= start and r["t"] + r["latency_ms"] / 1000 >= end)
                for start, end in reload_windows]
    print(f"5 reloads with 1.5 s requests in flight ({spanning} across each): {summary['requests']} requests, "
          f"{summary['failed']} failed {summary['first_errors']}, p50 {summary['latency_ms']['p50']} ms")
    assert all(n > 0 for n in spanning), spanning  # each reload really had slow requests in flight
    assert summary["latency_ms"]["p50"] >= 1500
    assert summary["failed"] == 0 and summary["retried"] == 0
    assert summary["by_status"] == {"200": summary["requests"]}


def test_stopping_the_traffic_plane_leaves_no_nginx_process(tmp_path, stack):
    ns, _tp = stack
    tp = TrafficPlane(tmp_path / "nginx2", ns.store).start()
    master = int((tmp_path / "nginx2" / "nginx.pid").read_text())
    workers = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    assert workers
    tp.stop()
    for pid in [master, *map(int, workers)]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_nginx_accepts_the_configuration_for_every_routing_feature(tmp_path):
    from rehearsal.traffic.render import ENDPOINTS, SERVICES, render_config

    def svc(name):
        return {"metadata": {"name": name, "namespace": "default"},
                "spec": {"ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}

    def eps(name, ip):
        return {"metadata": {"name": name, "namespace": "default"},
                "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "http", "port": 8080}]}]}

    def canary_pair(host, **ann):
        return [ingress(f"{host}-main", host, "a"),
                ingress(f"{host}-canary", host, "b", {"nginx.ingress.kubernetes.io/canary": "true",
                                                      **{f"nginx.ingress.kubernetes.io/{k}": v
                                                         for k, v in ann.items()}})]

    objects = {
        SERVICES: [svc("a"), svc("b"), svc("c")],
        ENDPOINTS: [eps("a", "127.1.9.1"), eps("b", "127.1.9.2")],  # c has no endpoints
        HTTPROUTES: [{"metadata": {"name": "h", "namespace": "default"}, "spec": {
            "hostnames": ["h.test", "*.wild.test"], "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
                 "backendRefs": [{"name": "a", "port": 80, "weight": 1}, {"name": "b", "port": 80, "weight": 2},
                                 {"name": "c", "port": 80, "weight": 3}, {"name": "x", "port": 80}]},
                {"matches": [{"path": {"type": "Exact", "value": "/exact"}}],
                 "backendRefs": [{"name": "a", "port": 80, "weight": 0}]}]}}],
        INGRESSES: [*canary_pair("w.test", **{"canary-weight": "33", "canary-weight-total": "1000"}),
                    *canary_pair("hv.test", **{"canary-by-header": "X-Release", "canary-by-header-value": "v2.0-rc"}),
                    *canary_pair("hp.test", **{"canary-by-header": "X-Release",
                                               "canary-by-header-pattern": "^v2\\.[0-9]+$", "canary-weight": "5"}),
                    *canary_pair("ck.test", **{"canary-by-cookie": "canary", "canary-by-header": "X-C",
                                               "canary-weight": "100"})],
        ROUTES: [{"metadata": {"name": "r", "namespace": "default"},
                  "spec": {"host": "r.test", "path": "/app", "to": {"kind": "Service", "name": "a", "weight": 3},
                           "alternateBackends": [{"kind": "Service", "name": "b", "weight": 256},
                                                 {"kind": "Service", "name": "c", "weight": 7}]}}],
    }
    for sub in ("logs", "temp"):
        (tmp_path / sub).mkdir()
    conf = tmp_path / "nginx.conf"
    text = render_config(objects, prefix=str(tmp_path), listen="127.0.0.1:1", user="root root")
    for feature in ("server_name h.test;", "server_name *.wild.test;", "location = /exact", "3.3% canary;",
                    '"~^v2\\.0\\-rc$" canary;',
                    '"~^v2\\.[0-9]+$" canary;', "map $cookie_canary", "server_name r.test;", "location /app/",
                    'if ($tp1 = "@500") { return 500; }', 'if ($tp1 = "@503") { return 503; }'):
        assert feature in text, feature
    conf.write_text(text)
    res = subprocess.run(["/usr/sbin/nginx", "-t", "-p", f"{tmp_path}/", "-c", str(conf), "-e",
                          str(tmp_path / "logs" / "error.log")], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr

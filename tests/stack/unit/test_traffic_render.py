"""What the traffic plane renders from HTTPRoutes, canary Ingresses and OpenShift Routes."""

from __future__ import annotations

import re

from rehearsal.traffic.render import (
    ENDPOINTS,
    ENDPOINTSLICES,
    HTTPROUTES,
    INGRESSES,
    ROUTES,
    SERVICE_NAME_LABEL,
    SERVICES,
    Canary,
    Weighted,
    _percentages,
    build_model,
    config_hash,
    render_config,
)
from rehearsal.traffic.render import Cluster as RenderCluster


def service(name: str, port: int = 80) -> dict:
    return {"metadata": {"name": name, "namespace": "default"},
            "spec": {"ports": [{"name": "http", "port": port, "targetPort": "http"}]}}


def endpoints(name: str, *ips: str, not_ready: tuple[str, ...] = ()) -> dict:
    subset = {"ports": [{"name": "http", "port": 8080}]}
    if ips:
        subset["addresses"] = [{"ip": ip} for ip in ips]
    if not_ready:
        subset["notReadyAddresses"] = [{"ip": ip} for ip in not_ready]
    return {"metadata": {"name": name, "namespace": "default"}, "subsets": [subset]}


def httproute(name: str, host: str, refs: list[dict], path: str = "/", created: str = "2026-01-01T00:00:00Z") -> dict:
    return {"metadata": {"name": name, "namespace": "default", "creationTimestamp": created},
            "spec": {"hostnames": [host], "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": path}}],
                                                      "backendRefs": refs}]}}


def ingress(name: str, host: str, svc: str, annotations: dict | None = None, path: str = "/") -> dict:
    return {"metadata": {"name": name, "namespace": "default", "annotations": annotations or {},
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"rules": [{"host": host, "http": {"paths": [
                {"path": path, "pathType": "Prefix",
                 "backend": {"service": {"name": svc, "port": {"number": 80}}}}]}}]}}


def route(name: str, host: str, to: dict, alternates: list[dict] | None = None) -> dict:
    return {"metadata": {"name": name, "namespace": "default"},
            "spec": {"host": host, "to": {"kind": "Service", **to}, "alternateBackends": alternates or []}}


BLUE_GREEN = {
    SERVICES: [service("blue"), service("green")],
    ENDPOINTS: [endpoints("blue", "127.1.0.10", "127.1.0.11"), endpoints("green", "127.1.0.20")],
}


def objects(**extra) -> dict:
    out = {k: list(v) for k, v in BLUE_GREEN.items()}
    for key, value in extra.items():
        out[{"httproutes": HTTPROUTES, "ingresses": INGRESSES, "routes": ROUTES,
             "services": SERVICES, "endpoints": ENDPOINTS}[key]] = value
    return out


def only_location(model, host: str):
    (vh,) = [h for h in model.hosts if h.hostname == host]
    (loc,) = vh.locations
    return loc


def shares(loc) -> list[tuple[str, int]]:
    assert isinstance(loc.action, Weighted)
    return [(t.value, w) for t, w in loc.action.shares]


def render(objs: dict) -> str:
    return render_config(objs, prefix="/tmp/tp", listen="127.0.0.1:8000")


# -- Gateway API HTTPRoute ------------------------------------------------------------------------------------


def test_httproute_weights_split_requests_between_backends_in_proportion():
    objs = objects(httproutes=[httproute("r", "vcci.test", [{"name": "blue", "port": 80, "weight": 90},
                                                           {"name": "green", "port": 80, "weight": 10}])])
    loc = only_location(build_model(objs), "vcci.test")
    assert shares(loc) == [("be_default_blue_80", 90), ("be_default_green_80", 10)]
    conf = render(objs)
    assert re.search(r'split_clients "\$\{request_id\}" \$tp1 \{\s+90% be_default_blue_80;\s+\* be_default_green_80;',
                     conf)
    assert "server 127.1.0.10:8080" in conf and "server 127.1.0.11:8080" in conf and "server 127.1.0.20:8080" in conf


def test_httproute_weight_defaults_to_one_so_unweighted_backends_share_equally():
    objs = objects(httproutes=[httproute("r", "vcci.test", [{"name": "blue", "port": 80},
                                                           {"name": "green", "port": 80}])])
    assert shares(only_location(build_model(objs), "vcci.test")) == [("be_default_blue_80", 1),
                                                                      ("be_default_green_80", 1)]
    assert "50% be_default_blue_80;" in render(objs)


def test_httproute_backend_with_weight_zero_gets_no_traffic():
    objs = objects(httproutes=[httproute("r", "vcci.test", [{"name": "blue", "port": 80, "weight": 0},
                                                           {"name": "green", "port": 80, "weight": 5}])])
    assert shares(only_location(build_model(objs), "vcci.test")) == [("be_default_green_80", 5)]
    conf = render(objs)
    assert "split_clients" not in conf
    assert "proxy_pass http://be_default_green_80;" in conf
    assert "upstream be_default_blue_80" not in conf


def test_httproute_with_all_weights_zero_answers_500():
    objs = objects(httproutes=[httproute("r", "vcci.test", [{"name": "blue", "port": 80, "weight": 0}])])
    assert shares(only_location(build_model(objs), "vcci.test")) == [("@500", 1)]
    assert "return 500;" in render(objs)


def test_httproute_to_a_missing_service_answers_500_for_that_share():
    objs = objects(httproutes=[httproute("r", "vcci.test", [{"name": "blue", "port": 80, "weight": 1},
                                                           {"name": "nope", "port": 80, "weight": 1}])])
    assert shares(only_location(build_model(objs), "vcci.test")) == [("be_default_blue_80", 1), ("@500", 1)]
    assert 'if ($tp1 = "@500") { return 500; }' in render(objs)


def test_backend_without_ready_endpoints_answers_503():
    objs = objects(httproutes=[httproute("r", "vcci.test", [{"name": "green", "port": 80}])])
    objs[ENDPOINTS] = [endpoints("green", not_ready=("127.1.0.20",))]
    assert shares(only_location(build_model(objs), "vcci.test")) == [("@503", 1)]
    conf = render(objs)
    assert "return 503;" in conf
    assert "127.1.0.20" not in conf  # not-ready addresses never receive traffic


def test_httproute_path_prefix_matches_whole_path_elements_only():
    objs = objects(httproutes=[httproute("r", "vcci.test", [{"name": "blue", "port": 80}], path="/api/")])
    conf = render(objs)
    assert "location = /api {" in conf and "location /api/ {" in conf
    assert "location /api {" not in conf  # would also match /apiary


def test_older_httproute_wins_for_the_same_host_and_path():
    older = httproute("old", "vcci.test", [{"name": "blue", "port": 80}], created="2026-01-01T00:00:00Z")
    newer = httproute("new", "vcci.test", [{"name": "green", "port": 80}], created="2026-02-01T00:00:00Z")
    model = build_model(objects(httproutes=[newer, older]))
    assert shares(only_location(model, "vcci.test")) == [("be_default_blue_80", 1)]
    assert any("default/new" in w for w in model.warnings)


# -- ingress-nginx canary -----------------------------------------------------------------------------------


def canary(weight: str | None = "10", **more) -> dict:
    ann = {"nginx.ingress.kubernetes.io/canary": "true"}
    if weight is not None:
        ann["nginx.ingress.kubernetes.io/canary-weight"] = weight
    ann.update({f"nginx.ingress.kubernetes.io/{k.replace('_', '-')}": v for k, v in more.items()})
    return ann


def test_canary_ingress_weight_sends_that_percentage_to_the_canary():
    objs = objects(ingresses=[ingress("main", "cbam.test", "blue"), ingress("can", "cbam.test", "green", canary("10"))])
    loc = only_location(build_model(objs), "cbam.test")
    assert isinstance(loc.action, Canary)
    assert (loc.action.primary.value, loc.action.canary.value) == ("be_default_blue_80", "be_default_green_80")
    assert (loc.action.weight, loc.action.weight_total) == (10, 100)
    assert re.search(r'split_clients "\$\{request_id\}" \$tp1_w \{\s+10% canary;', render(objs))


def test_canary_annotations_on_a_primary_ingress_do_nothing():
    ann = {"nginx.ingress.kubernetes.io/canary-weight": "50",
           "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary"}
    objs = objects(ingresses=[ingress("main", "cbam.test", "blue", ann)])
    assert shares(only_location(build_model(objs), "cbam.test")) == [("be_default_blue_80", 1)]
    conf = render(objs)
    assert "split_clients" not in conf and "$http_x_canary" not in conf


def test_canary_weight_on_the_primary_does_not_override_the_canary_ingress_weight():
    primary_ann = {"nginx.ingress.kubernetes.io/canary-weight": "50",
                   "nginx.ingress.kubernetes.io/canary-weight-total": "200",
                   "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary"}
    objs = objects(ingresses=[ingress("main", "cbam.test", "blue", primary_ann),
                              ingress("can", "cbam.test", "green", canary("10"))])
    loc = only_location(build_model(objs), "cbam.test")
    assert isinstance(loc.action, Canary)
    assert (loc.action.weight, loc.action.weight_total, loc.action.header) == (10, 100, "")
    conf = render(objs)
    assert re.search(r'split_clients "\$\{request_id\}" \$tp1_w \{\s+10% canary;', conf)
    assert "25% canary;" not in conf and "50% canary;" not in conf and "$http_x_canary" not in conf


def test_canary_ingress_without_a_primary_for_its_host_and_path_is_dropped():
    objs = objects(ingresses=[ingress("main", "cbam.test", "blue", path="/api"),
                              ingress("can", "cbam.test", "green", canary("50"), path="/other")])
    model = build_model(objs)
    (vh,) = model.hosts
    assert [loc.path for loc in vh.locations] == ["/api"]
    assert any("has no primary" in w for w in model.warnings)


def test_canary_weight_total_changes_the_denominator():
    objs = objects(ingresses=[ingress("main", "cbam.test", "blue"),
                              ingress("can", "cbam.test", "green", canary("25", canary_weight_total="1000"))])
    loc = only_location(build_model(objs), "cbam.test")
    assert (loc.action.weight, loc.action.weight_total) == (25, 1000)
    assert "2.5% canary;" in render(objs)


def test_canary_weight_total_below_100_is_ignored_as_in_the_controller():
    objs = objects(ingresses=[ingress("main", "cbam.test", "blue"),
                              ingress("can", "cbam.test", "green", canary("10", canary_weight_total="20"))])
    assert only_location(build_model(objs), "cbam.test").action.weight_total == 100
    assert "10% canary;" in render(objs)


def test_canary_weight_at_the_total_sends_everything_to_the_canary():
    objs = objects(ingresses=[ingress("main", "cbam.test", "blue"),
                              ingress("can", "cbam.test", "green", canary("100"))])
    conf = render(objs)
    assert "split_clients" not in conf
    assert re.search(r"map \"\|\|\" \$tp1 \{\s+default be_default_green_80;", conf)


def test_canary_by_header_always_and_never_take_precedence_over_the_weight():
    objs = objects(ingresses=[ingress("main", "cbam.test", "blue"),
                              ingress("can", "cbam.test", "green", canary("10", canary_by_header="X-Canary"))])
    conf = render(objs)
    header_map = re.search(r"map \$http_x_canary \$tp1_h \{(.*?)\}", conf, re.S).group(1)
    assert '"~^always$" canary;' in header_map and '"~^never$" primary;' in header_map
    choice = re.search(r'map "\$tp1_h\|\|\$tp1_w" \$tp1 \{(.*?)\}', conf, re.S).group(1).split("\n")
    entries = [line.strip() for line in choice if line.strip()]
    # header decisions come first, then the weight, then the primary as default
    assert entries == ['"~^canary\\|" be_default_green_80;', '"~^primary\\|" be_default_blue_80;',
                       '"~\\|canary$" be_default_green_80;', "default be_default_blue_80;"]


def test_canary_by_header_value_matches_that_exact_value_only():
    objs = objects(ingresses=[ingress("main", "cbam.test", "blue"),
                              ingress("can", "cbam.test", "green",
                                      canary(None, canary_by_header="X-Release", canary_by_header_value="v2"))])
    conf = render(objs)
    header_map = re.search(r"map \$http_x_release \$tp1_h \{(.*?)\}", conf, re.S).group(1)
    assert '"~^v2$" canary;' in header_map
    assert "always" not in header_map and "never" not in header_map
    assert "split_clients" not in conf  # no weight: header misses go to the primary


def test_canary_without_ready_endpoints_leaves_all_traffic_on_the_primary():
    objs = objects(ingresses=[ingress("main", "cbam.test", "blue"), ingress("can", "cbam.test", "green", canary("50"))])
    objs[ENDPOINTS] = [endpoints("blue", "127.1.0.10")]
    assert shares(only_location(build_model(objs), "cbam.test")) == [("be_default_blue_80", 1)]


def test_primary_ingress_without_ready_endpoints_answers_503_even_with_a_canary():
    objs = objects(ingresses=[ingress("main", "cbam.test", "blue"), ingress("can", "cbam.test", "green", canary("50"))])
    objs[ENDPOINTS] = [endpoints("green", "127.1.0.20")]
    assert shares(only_location(build_model(objs), "cbam.test")) == [("@503", 1)]


# -- OpenShift Route -------------------------------------------------------------------------------------------


def test_route_alternate_backends_split_by_weight():
    objs = objects(routes=[route("r", "csrd.test", {"name": "blue", "weight": 90},
                                 [{"kind": "Service", "name": "green", "weight": 10}])])
    assert shares(only_location(build_model(objs), "csrd.test")) == [("be_default_blue_80", 90),
                                                                      ("be_default_green_80", 10)]
    assert "90% be_default_blue_80;" in render(objs)


def test_route_weight_defaults_to_100_and_caps_at_256():
    objs = objects(routes=[route("r", "csrd.test", {"name": "blue"},
                                 [{"kind": "Service", "name": "green", "weight": 1000}])])
    assert shares(only_location(build_model(objs), "csrd.test")) == [("be_default_blue_80", 100),
                                                                      ("be_default_green_80", 256)]


def test_route_backend_without_endpoints_counts_as_weight_zero():
    objs = objects(routes=[route("r", "csrd.test", {"name": "blue", "weight": 50},
                                 [{"kind": "Service", "name": "green", "weight": 50}])])
    objs[ENDPOINTS] = [endpoints("green", "127.1.0.20")]
    assert shares(only_location(build_model(objs), "csrd.test")) == [("be_default_green_80", 50)]


def test_route_with_all_weights_zero_answers_503():
    objs = objects(routes=[route("r", "csrd.test", {"name": "blue", "weight": 0},
                                 [{"kind": "Service", "name": "green", "weight": 0}])])
    assert shares(only_location(build_model(objs), "csrd.test")) == [("@503", 1)]
    assert "return 503;" in render(objs)


# -- several hosts, hashing --------------------------------------------------------------------------------------


def test_each_host_gets_its_own_server_with_its_own_routes():
    objs = objects(httproutes=[httproute("a", "vcci.test", [{"name": "blue", "port": 80}])],
                   ingresses=[ingress("b", "cbam.test", "green")],
                   routes=[route("c", "csrd.test", {"name": "blue"})])
    model = build_model(objs)
    assert [h.hostname for h in model.hosts] == ["cbam.test", "csrd.test", "vcci.test"]
    conf = render(objs)
    for host in ("vcci.test", "cbam.test", "csrd.test"):
        assert f"server_name {host};" in conf
    assert shares(only_location(model, "cbam.test")) == [("be_default_green_80", 1)]


def test_config_hash_changes_only_when_the_routing_changes():
    objs = objects(httproutes=[httproute("a", "vcci.test", [{"name": "blue", "port": 80, "weight": 50},
                                                           {"name": "green", "port": 80, "weight": 50}])])
    first = config_hash(render(objs))
    assert config_hash(render(objs)) == first
    objs[HTTPROUTES][0]["metadata"]["resourceVersion"] = "99"  # not routing: same config
    assert config_hash(render(objs)) == first
    objs[HTTPROUTES][0]["spec"]["rules"][0]["backendRefs"][1]["weight"] = 60
    assert config_hash(render(objs)) != first


def test_split_percentages_add_up_to_the_weights():
    assert _percentages([90, 10]) == ["90%"]
    assert _percentages([1, 1, 1]) == ["33.33%", "33.34%"]  # the last share takes the rest ("*")
    assert _percentages([1, 999]) == ["0.1%"]


def test_an_object_with_an_unusable_hostname_or_path_is_skipped_not_rendered():
    objs = objects(httproutes=[httproute("bad", "evil.test; include /etc/passwd", [{"name": "blue", "port": 80}]),
                               httproute("bad-path", "ok.test", [{"name": "blue", "port": 80}], path="/a{b}"),
                               httproute("good", "vcci.test", [{"name": "green", "port": 80}])])
    model = build_model(objs)
    assert [h.hostname for h in model.hosts] == ["vcci.test"]
    assert len(model.warnings) == 2
    assert "passwd" not in render(objs).split("# warning")[-1].split("\n", 1)[1]


# -- EndpointSlices (what kube-apiserver's endpointslice controller writes) ---------------------------------


def endpoint_slice(service_name: str, suffix: str, endpoints_: list[tuple[str, bool | None]],
                   port_name: str = "http", port: int = 8080) -> dict:
    eps = []
    for ip, ready in endpoints_:
        ep = {"addresses": [ip]}
        if ready is not None:
            ep["conditions"] = {"ready": ready}
        eps.append(ep)
    return {"metadata": {"name": f"{service_name}-{suffix}", "namespace": "default",
                         "labels": {SERVICE_NAME_LABEL: service_name}},
            "addressType": "IPv4", "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
            "endpoints": eps}


def test_endpointslices_give_the_ready_addresses_of_every_slice_of_the_service():
    objs = {SERVICES: [service("blue")],
            ENDPOINTSLICES: [endpoint_slice("blue", "a", [("10.244.1.2", True), ("10.244.1.3", False)]),
                             endpoint_slice("blue", "b", [("10.244.1.4", None)])]}
    cluster = RenderCluster(objs)
    port = cluster.service_port("default", "blue")
    # ready: false is left out; an endpoint without conditions counts as ready (the API's meaning of unset)
    assert cluster.ready_servers("default", "blue", port) == ("10.244.1.2:8080", "10.244.1.4:8080")


def test_endpointslices_of_another_port_name_or_service_are_not_used():
    objs = {SERVICES: [service("blue")],
            ENDPOINTSLICES: [endpoint_slice("blue", "a", [("10.244.1.2", True)], port_name="metrics"),
                             endpoint_slice("green", "a", [("10.244.1.9", True)])]}
    cluster = RenderCluster(objs)
    assert cluster.ready_servers("default", "blue", cluster.service_port("default", "blue")) == ()


def test_endpointslices_win_over_endpoints_for_the_same_service():
    objs = {SERVICES: [service("blue")], ENDPOINTS: [endpoints("blue", "127.1.0.10")],
            ENDPOINTSLICES: [endpoint_slice("blue", "a", [("10.244.1.2", True)])]}
    cluster = RenderCluster(objs)
    assert cluster.ready_servers("default", "blue", cluster.service_port("default", "blue")) == ("10.244.1.2:8080",)

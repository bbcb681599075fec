"""Weight arithmetic of canary_weight, per provider, on plain object dicts."""

import copy

import pytest
from ansible_collections.greenlang.launch.plugins.module_utils import traffic_weights as tw
from hypothesis import given
from hypothesis import strategies as st

NGX = "nginx.ingress.kubernetes.io/"


def httproute(*rules):
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "vcci", "namespace": "greenlang", "resourceVersion": "7"},
        "spec": {"parentRefs": [{"name": "edge"}], "rules": list(rules)},
    }


def rule(*refs, name=None):
    r = {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": list(refs)}
    if name:
        r["name"] = name
    return r


def ref(name, weight=None, port=8080):
    r = {"name": name, "port": port}
    if weight is not None:
        r["weight"] = weight
    return r


def weights_of(route, idx=0):
    return {r["name"]: r.get("weight") for r in route["spec"]["rules"][idx]["backendRefs"]}


def primary_ingress(annotations=None):
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "vcci-ingress", "namespace": "greenlang", "labels": {"app": "vcci"},
                     "annotations": dict(annotations or {NGX + "proxy-body-size": "10m"})},
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["vcci.example"], "secretName": "vcci-tls"}],
            "rules": [{"host": "vcci.example", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "vcci-stable", "port": {"number": 80}}}},
                {"path": "/docs", "pathType": "Prefix",
                 "backend": {"service": {"name": "docs", "port": {"number": 80}}}},
            ]}}],
        },
    }


def ocp_route(to_weight=None, alternates=()):
    to = {"kind": "Service", "name": "csrd-stable"}
    if to_weight is not None:
        to["weight"] = to_weight
    r = {"apiVersion": "route.openshift.io/v1", "kind": "Route",
         "metadata": {"name": "csrd", "namespace": "greenlang"},
         "spec": {"host": "csrd.example", "to": to}}
    if alternates:
        r["spec"]["alternateBackends"] = [dict(a) for a in alternates]
    return r


# ----------------------------------------------------------------------------- schedule arithmetic

@pytest.mark.parametrize("current, expected", [(0, 10), (None, 10), (9.99, 10), (10, 25), (24, 25), (25, 50),
                                               (50, 100), (100, 100), (60, 100)])
def test_advance_moves_to_first_step_above_current_weight(current, expected):
    assert tw.target_weight("advance", current, 100, steps=[10, 25, 50, 100]) == expected


@pytest.mark.parametrize("current", [50, 60, 99.5])
def test_advance_at_or_past_the_last_step_keeps_the_current_weight(current):
    assert tw.target_weight("advance", current, 100, steps=[10, 25, 50]) == current


@pytest.mark.parametrize("provider", ["gateway_api", "openshift_route", "ingress_nginx"])
def test_advance_from_above_the_schedule_writes_nothing_and_says_so(provider):
    if provider == "gateway_api":
        objects = {"route": httproute(rule(ref("s", 40), ref("c", 60)))}
    elif provider == "openshift_route":
        objects = {"route": {"metadata": {"name": "r"}, "spec": {
            "to": {"kind": "Service", "name": "s", "weight": 40},
            "alternateBackends": [{"kind": "Service", "name": "c", "weight": 60}]}}}
    else:
        objects = {"primary": primary_ingress(), "canary": tw.ingress_apply({"metadata": {"name": "x"}}, 60)}
    d = tw.plan(provider, objects, "advance", "s", "c", steps=[10, 25, 50], canary_name="x")
    assert (d["previous_weight"], d["weight"], d["operation"]) == (60, 60, "none")
    assert d["schedule_complete"] is True and "above the last step 50" in d["warning"]


def test_advance_to_the_last_step_reports_the_schedule_complete_only_when_there():
    route = httproute(rule(ref("s", 75), ref("c", 25)))
    step = tw.plan("gateway_api", {"route": route}, "advance", "s", "c", steps=[10, 25, 50])
    assert (step["weight"], step["schedule_complete"], step.get("warning")) == (50, False, None)
    done = tw.plan("gateway_api", {"route": step["after"]}, "advance", "s", "c", steps=[10, 25, 50])
    assert (done["weight"], done["operation"], done["schedule_complete"]) == (50, "none", True)


def test_advance_rejects_steps_that_do_not_increase():
    with pytest.raises(tw.WeightError) as e:
        tw.target_weight("advance", 0, 100, steps=[10, 50, 25])
    assert e.value.param == "steps"


def test_weight_above_weight_total_names_the_parameter_and_range():
    with pytest.raises(tw.WeightError) as e:
        tw.target_weight("set", 0, 100, weight=101)
    assert e.value.param == "weight"
    assert "between 0 and 100" in str(e.value)


def test_negative_weight_is_rejected():
    with pytest.raises(tw.WeightError):
        tw.validate_weight(-1, 100)


def test_openshift_weight_total_above_256_is_rejected():
    with pytest.raises(tw.WeightError) as e:
        tw.validate_weight_total(300, "openshift_route")
    assert e.value.param == "weight_total" and "256" in str(e.value)


def test_promote_and_abort_go_to_the_ends():
    assert tw.target_weight("promote", 25, 256) == 256
    assert tw.target_weight("abort", 25, 256) == 0


# ----------------------------------------------------------------------------- Gateway API

def test_gateway_set_adds_canary_ref_copied_from_stable():
    route = httproute(rule(ref("vcci-stable")))
    d = tw.plan("gateway_api", {"route": route}, "set", "vcci-stable", "vcci-canary", weight=10)
    assert d["operation"] == "replace"
    assert d["previous_weight"] == 0 and d["weight"] == 10
    assert weights_of(d["after"]) == {"vcci-stable": 90, "vcci-canary": 10}
    assert d["after"]["spec"]["rules"][0]["backendRefs"][1]["port"] == 8080
    assert route["spec"]["rules"][0]["backendRefs"] == [ref("vcci-stable")], "input must not be mutated"


def test_gateway_canary_port_is_used_for_a_new_ref():
    route = httproute(rule(ref("vcci-stable")))
    d = tw.plan("gateway_api", {"route": route}, "set", "vcci-stable", "vcci-canary", weight=10, canary_port=9090)
    assert d["after"]["spec"]["rules"][0]["backendRefs"][1]["port"] == 9090


def test_gateway_same_weight_again_is_no_change():
    route = httproute(rule(ref("vcci-stable", 75), ref("vcci-canary", 25)))
    d = tw.plan("gateway_api", {"route": route}, "set", "vcci-stable", "vcci-canary", weight=25)
    assert d["operation"] == "none" and d["after"] == route


def test_gateway_reads_relative_weights_with_defaults_of_one():
    route = httproute(rule(ref("vcci-stable"), ref("vcci-canary")))
    d = tw.plan("gateway_api", {"route": route}, "read", "vcci-stable", "vcci-canary")
    assert d["previous_weight"] == 50 and d["operation"] == "none"


def test_gateway_weight_total_scales_written_weights():
    route = httproute(rule(ref("vcci-stable", 1000)))
    d = tw.plan("gateway_api", {"route": route}, "set", "vcci-stable", "vcci-canary", weight=125, weight_total=1000)
    assert weights_of(d["after"]) == {"vcci-stable": 875, "vcci-canary": 125}
    assert d["weight"] == 125


def test_gateway_multi_rule_route_shifts_only_rules_that_reference_the_app():
    route = httproute(rule(ref("vcci-stable"), name="api"),
                      rule(ref("docs"), name="docs"),
                      rule(ref("vcci-stable", 100), ref("vcci-canary", 0), name="calc"))
    d = tw.plan("gateway_api", {"route": route}, "set", "vcci-stable", "vcci-canary", weight=25)
    assert weights_of(d["after"], 0) == {"vcci-stable": 75, "vcci-canary": 25}
    assert weights_of(d["after"], 1) == {"docs": None}
    assert weights_of(d["after"], 2) == {"vcci-stable": 75, "vcci-canary": 25}
    assert [r["index"] for r in d["detail"]] == [0, 2]


def test_gateway_rules_selects_by_name_and_by_index():
    route = httproute(rule(ref("vcci-stable", 100), name="api"), rule(ref("vcci-stable", 100), name="calc"))
    by_name = tw.plan("gateway_api", {"route": route}, "set", "vcci-stable", "vcci-canary", weight=10,
                      rules=["calc"])
    assert weights_of(by_name["after"], 0) == {"vcci-stable": 100}
    assert weights_of(by_name["after"], 1) == {"vcci-stable": 90, "vcci-canary": 10}
    by_index = tw.plan("gateway_api", {"route": route}, "set", "vcci-stable", "vcci-canary", weight=10, rules=["0"])
    assert weights_of(by_index["after"], 0) == {"vcci-stable": 90, "vcci-canary": 10}
    assert weights_of(by_index["after"], 1) == {"vcci-stable": 100}


def test_gateway_unknown_rule_is_an_error_naming_rules():
    route = httproute(rule(ref("vcci-stable"), name="api"))
    with pytest.raises(tw.WeightError) as e:
        tw.plan("gateway_api", {"route": route}, "set", "vcci-stable", "vcci-canary", weight=10, rules=["nope"])
    assert e.value.param == "rules" and "api" in str(e.value)


def test_gateway_disagreeing_rules_advance_from_the_largest_weight():
    route = httproute(rule(ref("vcci-stable", 90), ref("vcci-canary", 10)),
                      rule(ref("vcci-stable", 75), ref("vcci-canary", 25)))
    d = tw.plan("gateway_api", {"route": route}, "advance", "vcci-stable", "vcci-canary", steps=[10, 25, 50, 100])
    assert d["previous_weight"] == 25 and d["weight"] == 50
    assert weights_of(d["after"], 0) == weights_of(d["after"], 1) == {"vcci-stable": 50, "vcci-canary": 50}


def test_gateway_abort_keeps_canary_ref_at_zero():
    route = httproute(rule(ref("vcci-stable", 50), ref("vcci-canary", 50)))
    d = tw.plan("gateway_api", {"route": route}, "abort", "vcci-stable", "vcci-canary")
    assert weights_of(d["after"]) == {"vcci-stable": 100, "vcci-canary": 0}


def test_gateway_abort_without_canary_changes_nothing():
    route = httproute(rule(ref("vcci-stable", 1)))
    d = tw.plan("gateway_api", {"route": route}, "abort", "vcci-stable", "vcci-canary")
    assert d["operation"] == "none"


def test_gateway_promote_with_fold_removes_canary_and_gives_stable_everything():
    route = httproute(rule(ref("vcci-stable", 0), ref("vcci-canary", 100)))
    d = tw.plan("gateway_api", {"route": route}, "promote", "vcci-stable", "vcci-canary", fold=True)
    assert weights_of(d["after"]) == {"vcci-stable": 100}
    assert d["previous_weight"] == 100 and d["weight"] == 0
    again = tw.plan("gateway_api", {"route": d["after"]}, "promote", "vcci-stable", "vcci-canary", fold=True)
    assert again["operation"] == "none"


def test_gateway_third_backend_keeps_its_weight_and_canary_gets_its_real_share():
    route = httproute(rule(ref("vcci-stable", 90), ref("vcci-canary", 10), ref("legacy", 5)))
    read = tw.plan("gateway_api", {"route": route}, "read", "vcci-stable", "vcci-canary")
    # 10 of 105: the canary really gets 9.52 % of the rule's requests, not 10 %.
    assert read["previous_weight"] == pytest.approx(9.52)
    assert read["detail"][0]["other_weight"] == 5
    d = tw.plan("gateway_api", {"route": route}, "set", "vcci-stable", "vcci-canary", weight=50)
    assert weights_of(d["after"]) == {"vcci-stable": 45, "vcci-canary": 50, "legacy": 5}
    assert d["weight"] == 50 and d["detail"][0]["weight"] == 50
    again = tw.plan("gateway_api", {"route": d["after"]}, "set", "vcci-stable", "vcci-canary", weight=50)
    assert again["operation"] == "none" and again["previous_weight"] == 50


def test_gateway_canary_weight_that_the_other_backends_leave_no_room_for_is_an_error_naming_weight():
    route = httproute(rule(ref("vcci-stable", 50), ref("vcci-canary", 0), ref("legacy", 20)))
    with pytest.raises(tw.WeightError) as e:
        tw.plan("gateway_api", {"route": route}, "promote", "vcci-stable", "vcci-canary")
    assert e.value.param == "weight" and "at most 80" in str(e.value) and "legacy" not in str(e.value)
    ok = tw.plan("gateway_api", {"route": route}, "set", "vcci-stable", "vcci-canary", weight=80)
    assert weights_of(ok["after"]) == {"vcci-stable": 0, "vcci-canary": 80, "legacy": 20}


def test_gateway_default_rules_skip_a_canary_only_rule_for_testers():
    testers = rule(ref("vcci-canary"), name="testers")
    testers["matches"] = [{"headers": [{"name": "X-Canary", "value": "always"}]}]
    route = httproute(testers, rule(ref("vcci-stable", 100), name="api"))
    read = tw.plan("gateway_api", {"route": route}, "read", "vcci-stable", "vcci-canary")
    assert read["previous_weight"] == 0, "the testers' rule must not count as 100 % canary"
    assert [r["name"] for r in read["detail"]] == ["api"]
    d = tw.plan("gateway_api", {"route": route}, "set", "vcci-stable", "vcci-canary", weight=10)
    assert weights_of(d["after"], 0) == {"vcci-canary": None}, "the testers' rule is left alone"
    assert weights_of(d["after"], 1) == {"vcci-stable": 90, "vcci-canary": 10}


def test_gateway_route_whose_rules_reference_only_the_canary_is_an_error_naming_the_backends():
    route = httproute(rule(ref("vcci-canary"), name="testers"))
    with pytest.raises(tw.WeightError) as e:
        tw.plan("gateway_api", {"route": route}, "read", "vcci-stable", "vcci-canary")
    msg = str(e.value)
    assert e.value.param == "stable_backend"
    assert "'vcci-stable'" in msg and "testers" in msg and "only canary_backend 'vcci-canary'" in msg
    assert "rules" in msg


def test_gateway_naming_a_canary_only_rule_is_an_error_naming_rules():
    route = httproute(rule(ref("vcci-canary"), name="testers"), rule(ref("vcci-stable"), name="api"))
    with pytest.raises(tw.WeightError) as e:
        tw.plan("gateway_api", {"route": route}, "set", "vcci-stable", "vcci-canary", weight=10, rules=["testers"])
    assert e.value.param == "rules" and "only canary_backend" in str(e.value)


def test_gateway_route_without_the_stable_backend_is_an_error():
    route = httproute(rule(ref("other")))
    with pytest.raises(tw.WeightError) as e:
        tw.plan("gateway_api", {"route": route}, "set", "vcci-stable", "vcci-canary", weight=10)
    assert e.value.param == "stable_backend"


def test_fold_without_promote_is_rejected():
    route = httproute(rule(ref("vcci-stable")))
    with pytest.raises(tw.WeightError) as e:
        tw.plan("gateway_api", {"route": route}, "abort", "vcci-stable", "vcci-canary", fold=True)
    assert e.value.param == "fold"


# ----------------------------------------------------------------------------- ingress-nginx

def test_ingress_creates_canary_from_primary_and_leaves_primary_alone():
    primary = primary_ingress()
    before = copy.deepcopy(primary)
    d = tw.plan("ingress_nginx", {"primary": primary, "canary": None}, "set", "vcci-stable", "vcci-canary",
                weight=10, canary_name="vcci-ingress-canary")
    assert d["operation"] == "create" and d["previous_weight"] is None and d["weight"] == 10
    canary = d["after"]
    ann = canary["metadata"]["annotations"]
    assert canary["metadata"]["name"] == "vcci-ingress-canary"
    assert ann[NGX + "canary"] == "true" and ann[NGX + "canary-weight"] == "10"
    assert ann[NGX + "proxy-body-size"] == "10m"
    assert NGX + "canary-weight-total" not in ann
    paths = canary["spec"]["rules"][0]["http"]["paths"]
    assert paths[0]["backend"]["service"]["name"] == "vcci-canary"
    assert paths[1]["backend"]["service"]["name"] == "docs"
    assert canary["spec"]["ingressClassName"] == "nginx"
    assert "tls" not in canary["spec"]
    assert primary == before


def test_ingress_updates_existing_canary_weight():
    canary = tw.ingress_apply({"metadata": {"name": "vcci-ingress-canary"}}, 10)
    d = tw.plan("ingress_nginx", {"primary": primary_ingress(), "canary": canary}, "advance", "vcci-stable",
                "vcci-canary", steps=[10, 25, 50, 100], canary_name="vcci-ingress-canary")
    assert d["operation"] == "replace" and d["previous_weight"] == 10 and d["weight"] == 25
    assert d["after"]["metadata"]["annotations"][NGX + "canary-weight"] == "25"


def test_ingress_weight_total_is_written_and_read_back():
    d = tw.plan("ingress_nginx", {"primary": primary_ingress(), "canary": None}, "set", "vcci-stable",
                "vcci-canary", weight=3, weight_total=1000, canary_name="c")
    ann = d["after"]["metadata"]["annotations"]
    assert ann[NGX + "canary-weight"] == "3" and ann[NGX + "canary-weight-total"] == "1000"
    assert tw.ingress_read(d["after"], 1000) == 3
    assert tw.ingress_read(d["after"], 100) == pytest.approx(0.3)


@pytest.mark.parametrize("total", [1, 50, 99])
def test_ingress_weight_total_below_100_is_rejected_naming_the_parameter(total):
    # ingress-nginx's balancer.lua uses canary-weight-total only when it is above 100.
    for action, kw in (("set", {"weight": 1}), ("read", {})):
        with pytest.raises(tw.WeightError) as e:
            tw.plan("ingress_nginx", {"primary": primary_ingress(), "canary": None}, action, "vcci-stable",
                    "vcci-canary", weight_total=total, canary_name="c", **kw)
        assert e.value.param == "weight_total" and "at least 100" in str(e.value)


@pytest.mark.parametrize("weight, total, percent", [("25", "50", 25), ("50", "50", 50), ("75", "50", 75),
                                                    ("150", "50", 100), ("25", "100", 25), ("25", "200", 12.5),
                                                    ("-5", "100", 0)])
def test_ingress_canary_written_by_someone_else_is_read_as_ingress_nginx_routes_it(weight, total, percent):
    canary = {"metadata": {"name": "c", "annotations": {NGX + "canary": "true", NGX + "canary-weight": weight,
                                                        NGX + "canary-weight-total": total}}}
    assert tw.ingress_read(canary, 100) == pytest.approx(percent)
    d = tw.plan("ingress_nginx", {"primary": primary_ingress(), "canary": canary}, "set", "vcci-stable",
                "vcci-canary", weight=25, canary_name="c")
    ann = d["after"]["metadata"]["annotations"]
    assert (ann[NGX + "canary-weight"], ann[NGX + "canary-weight-total"]) == ("25", "100")
    assert d["previous_weight"] == pytest.approx(percent)
    assert (d["operation"] == "none") == ((weight, total) == ("25", "100"))


def test_ingress_abort_without_canary_creates_nothing():
    d = tw.plan("ingress_nginx", {"primary": primary_ingress(), "canary": None}, "abort", "vcci-stable",
                "vcci-canary", canary_name="c")
    assert d["operation"] == "none" and d["after"] is None


def test_ingress_missing_canary_with_create_disabled_is_an_error():
    with pytest.raises(tw.WeightError) as e:
        tw.plan("ingress_nginx", {"primary": primary_ingress(), "canary": None}, "set", "vcci-stable",
                "vcci-canary", weight=10, create_canary=False, canary_name="c")
    assert e.value.param == "create_canary"


def test_ingress_canary_name_equal_to_primary_is_refused():
    with pytest.raises(tw.WeightError) as e:
        tw.plan("ingress_nginx", {"primary": primary_ingress(), "canary": None}, "set", "vcci-stable",
                "vcci-canary", weight=10, canary_name="vcci-ingress")
    assert e.value.param == "canary_ingress_name"


def test_ingress_canary_annotations_of_primary_are_not_copied():
    primary = primary_ingress({NGX + "canary": "true", NGX + "canary-weight": "50", NGX + "ssl-redirect": "false"})
    d = tw.plan("ingress_nginx", {"primary": primary, "canary": None}, "set", "vcci-stable", "vcci-canary",
                weight=10, canary_name="c")
    ann = d["after"]["metadata"]["annotations"]
    assert ann[NGX + "canary-weight"] == "10" and ann[NGX + "ssl-redirect"] == "false"
    assert tw.primary_has_canary_annotations(primary) == [NGX + "canary", NGX + "canary-weight"]


def test_ingress_fold_deletes_the_canary_ingress():
    canary = tw.ingress_apply({"metadata": {"name": "c"}}, 100)
    d = tw.plan("ingress_nginx", {"primary": primary_ingress(), "canary": canary}, "promote", "vcci-stable",
                "vcci-canary", fold=True, canary_name="c")
    assert d["operation"] == "delete" and d["after"] is None


def test_ingress_primary_without_the_stable_service_is_an_error():
    with pytest.raises(tw.WeightError) as e:
        tw.plan("ingress_nginx", {"primary": primary_ingress(), "canary": None}, "set", "nope", "vcci-canary",
                weight=10, canary_name="c")
    assert e.value.param == "stable_backend"


# ----------------------------------------------------------------------------- OpenShift Route

def test_route_adds_alternate_backend_with_weights():
    d = tw.plan("openshift_route", {"route": ocp_route()}, "set", "csrd-stable", "csrd-canary", weight=10)
    spec = d["after"]["spec"]
    assert spec["to"] == {"kind": "Service", "name": "csrd-stable", "weight": 90}
    assert spec["alternateBackends"] == [{"kind": "Service", "name": "csrd-canary", "weight": 10}]
    assert d["previous_weight"] == 0


def test_route_default_weight_is_100_when_reading():
    route = ocp_route(alternates=[{"kind": "Service", "name": "csrd-canary", "weight": 100}])
    d = tw.plan("openshift_route", {"route": route}, "read", "csrd-stable", "csrd-canary")
    assert d["previous_weight"] == 50


def test_route_weight_total_256():
    route = ocp_route(to_weight=256)
    d = tw.plan("openshift_route", {"route": route}, "set", "csrd-stable", "csrd-canary", weight=64,
                weight_total=256)
    assert d["after"]["spec"]["to"]["weight"] == 192
    assert d["after"]["spec"]["alternateBackends"][0]["weight"] == 64


def test_route_fold_drops_canary_alternate_and_keeps_others():
    route = ocp_route(0, [{"kind": "Service", "name": "csrd-canary", "weight": 100},
                          {"kind": "Service", "name": "other", "weight": 0}])
    d = tw.plan("openshift_route", {"route": route}, "promote", "csrd-stable", "csrd-canary", fold=True)
    assert d["after"]["spec"]["to"]["weight"] == 100
    assert d["after"]["spec"]["alternateBackends"] == [{"kind": "Service", "name": "other", "weight": 0}]


def test_route_other_alternate_backend_keeps_its_weight_and_canary_gets_its_real_share():
    route = ocp_route(90, [{"kind": "Service", "name": "csrd-canary", "weight": 10},
                           {"kind": "Service", "name": "csrd-legacy", "weight": 5}])
    read = tw.plan("openshift_route", {"route": route}, "read", "csrd-stable", "csrd-canary")
    assert read["previous_weight"] == pytest.approx(9.52) and read["detail"][0]["other_weight"] == 5
    d = tw.plan("openshift_route", {"route": route}, "set", "csrd-stable", "csrd-canary", weight=50)
    assert d["after"]["spec"]["to"]["weight"] == 45
    assert [b["weight"] for b in d["after"]["spec"]["alternateBackends"]] == [50, 5]
    assert tw.plan("openshift_route", {"route": d["after"]}, "set", "csrd-stable", "csrd-canary",
                   weight=50)["operation"] == "none"
    with pytest.raises(tw.WeightError) as e:
        tw.plan("openshift_route", {"route": route}, "promote", "csrd-stable", "csrd-canary")
    assert e.value.param == "weight" and "at most 95" in str(e.value)


def test_route_with_stable_as_alternate_moves_it_to_spec_to():
    route = {"metadata": {"name": "csrd"}, "spec": {
        "to": {"kind": "Service", "name": "csrd-canary", "weight": 30},
        "alternateBackends": [{"kind": "Service", "name": "csrd-stable", "weight": 70}]}}
    d = tw.plan("openshift_route", {"route": route}, "set", "csrd-stable", "csrd-canary", weight=30)
    assert d["previous_weight"] == 30
    assert d["after"]["spec"]["to"]["name"] == "csrd-stable"
    assert d["after"]["spec"]["alternateBackends"] == [{"kind": "Service", "name": "csrd-canary", "weight": 30}]


# ----------------------------------------------------------------------------- properties

weights = st.integers(min_value=0, max_value=100)


@given(w=weights, start=weights)
def test_property_gateway_set_then_read_returns_the_weight_and_is_idempotent(w, start):
    route = httproute(rule(ref("s", 100 - start), ref("c", start)))
    d = tw.plan("gateway_api", {"route": route}, "set", "s", "c", weight=w)
    back = tw.plan("gateway_api", {"route": d["after"]}, "set", "s", "c", weight=w)
    assert back["previous_weight"] == w
    assert back["operation"] == "none"
    ws = weights_of(d["after"])
    assert ws["s"] + ws["c"] == 100
    assert (d["operation"] == "none") == (w == start)


@given(total=st.integers(min_value=1, max_value=256), data=st.data())
def test_property_route_weights_always_sum_to_weight_total(total, data):
    w = data.draw(st.integers(min_value=0, max_value=total))
    d = tw.plan("openshift_route", {"route": ocp_route()}, "set", "csrd-stable", "csrd-canary", weight=w,
                weight_total=total)
    spec = d["after"]["spec"]
    if w == 0:
        # 0 to a canary that does not exist: nothing to write, stable keeps everything.
        assert d["operation"] == "none"
    else:
        assert spec["to"]["weight"] + sum(b["weight"] for b in spec["alternateBackends"]) == total
    assert tw.route_read(d["after"], "csrd-stable", "csrd-canary", total)[0] == pytest.approx(w)


def nginx_balancer_share(weight, annotated_total):
    """Fraction of requests ingress-nginx's balancer.lua sends to the canary, by its own rule.

    ``total = 100; if weightTotal > 100 then total = weightTotal end;
    if math.random(total) <= weight then canary``: count the draws 1..total that pick the canary.
    """
    total = annotated_total if annotated_total > 100 else 100
    return sum(1 for draw in range(1, total + 1) if draw <= weight) / total


@given(w=st.integers(min_value=0, max_value=10000), total=st.integers(min_value=1, max_value=10000))
def test_property_ingress_weight_written_is_the_share_ingress_nginx_routes(w, total):
    w = min(w, total)
    objects = {"primary": primary_ingress(), "canary": None}
    try:
        d = tw.plan("ingress_nginx", objects, "set", "vcci-stable", "vcci-canary", weight=w, weight_total=total,
                    canary_name="c")
    except tw.WeightError as e:
        # A total ingress-nginx would not honour is refused, never written.
        assert total < 100 and e.param == "weight_total"
        return
    if d["after"] is None:
        assert w == 0
        return
    ann = d["after"]["metadata"]["annotations"]
    routed = nginx_balancer_share(int(ann[NGX + "canary-weight"]), int(ann.get(NGX + "canary-weight-total", 100)))
    assert routed == pytest.approx(w / total), "what ingress-nginx routes must be what was asked"
    assert tw.ingress_read(d["after"], total) == pytest.approx(w)
    assert tw.ingress_apply(d["after"], w, total) == d["after"]


@given(w=st.integers(min_value=-10, max_value=20000), annotated=st.integers(min_value=1, max_value=20000))
def test_property_ingress_read_matches_the_ingress_nginx_balancer(w, annotated):
    canary = {"metadata": {"name": "c", "annotations": {NGX + "canary": "true", NGX + "canary-weight": str(w),
                                                        NGX + "canary-weight-total": str(annotated)}}}
    assert tw.ingress_read(canary, 100) == pytest.approx(100 * nginx_balancer_share(w, annotated))


@given(stable=st.integers(0, 1000), canary=st.integers(0, 1000), other=st.integers(0, 100), w=weights)
def test_property_gateway_reported_weight_is_the_canarys_real_share(stable, canary, other, w):
    route = httproute(rule(ref("s", stable), ref("c", canary), ref("o", other)))
    read = tw.plan("gateway_api", {"route": route}, "read", "s", "c")
    total = stable + canary + other
    assert read["previous_weight"] == pytest.approx(100 * canary / total if total else 0, abs=0.01)
    try:
        d = tw.plan("gateway_api", {"route": route}, "set", "s", "c", weight=w)
    except tw.WeightError as e:
        assert e.param == "weight" and w + other > 100
        return
    ws = weights_of(d["after"])
    assert ws["o"] == other
    assert ws["c"] / (ws["s"] + ws["c"] + ws["o"]) == pytest.approx(w / 100)


@given(steps=st.lists(weights, min_size=1, max_size=6, unique=True).map(sorted),
       current=st.one_of(weights, st.floats(min_value=0, max_value=100)))
def test_property_advance_never_goes_down_and_never_skips_a_step(steps, current):
    nxt = tw.target_weight("advance", current, 100, steps=steps)
    assert nxt >= current, "advance must never lower the weight"
    if current < steps[-1]:
        assert nxt in steps and nxt > current
        assert not [s for s in steps if current < s < nxt]
    else:
        assert nxt == current, "at or past the last step the weight stays"


# ----------------------------------------------------------------------------- read from listed objects

def test_read_weight_picks_the_named_route_among_the_namespace_objects():
    other = httproute(rule(ref("vcci-stable", 1), ref("vcci-canary", 1)))
    other["metadata"]["name"] = "vcci-preview"
    route = httproute(rule(ref("vcci-stable", 75), ref("vcci-canary", 25)))
    assert tw.read_weight("gateway_api", [other, route], "vcci", "vcci-stable", "vcci-canary") == 25
    assert tw.read_weight("gateway_api", [other], "vcci", "vcci-stable", "vcci-canary") is None


def test_read_weight_of_ingress_nginx_reads_the_canary_ingress_beside_the_primary():
    primary = primary_ingress()
    canary = tw.ingress_build_canary(primary, "vcci-stable", "vcci-canary", "vcci-ingress-canary", 10)
    objects = [primary, canary]
    assert tw.read_weight("ingress_nginx", objects, "vcci-ingress", "vcci-stable", "vcci-canary") == 10
    # No canary Ingress yet: nothing routes to a canary (None, as canary_weight's read says).
    assert tw.read_weight("ingress_nginx", [primary], "vcci-ingress", "vcci-stable", "vcci-canary") is None


def test_read_weight_of_an_openshift_route_with_an_alternate_backend():
    route = ocp_route(to_weight=60, alternates=[{"kind": "Service", "name": "csrd-canary", "weight": 40}])
    assert tw.read_weight("openshift_route", [route], "csrd", "csrd-stable", "csrd-canary") == 40


def test_read_weight_names_a_bad_provider():
    with pytest.raises(tw.WeightError, match="provider"):
        tw.read_weight("istio", [httproute()], "vcci", "a", "b")

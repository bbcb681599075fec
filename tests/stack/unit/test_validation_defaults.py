"""Defaulting and validation of the emulator match kube-apiserver for the kinds a launch uses."""

import copy

from rehearsal.kubeapi import defaults, schema
from rehearsal.kubeapi.resources import REGISTRY
from rehearsal.kubeapi.validation import validate

DEPLOY = REGISTRY.by_key("deployments.apps")


def deployment(**spec_overrides):
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "web", "image": "rehearsal/vcci:1.0"}]}}}}
    obj["spec"].update(spec_overrides)
    return obj


def fields(errors):
    return {(e.field, e.kind) for e in errors}


def test_deployment_defaults_are_kube_apiservers():
    obj = deployment()
    defaults.apply_defaults("deployments.apps", obj)
    spec = obj["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    pod = spec["template"]["spec"]
    assert (pod["restartPolicy"], pod["dnsPolicy"], pod["schedulerName"], pod["terminationGracePeriodSeconds"],
            pod["securityContext"]) == ("Always", "ClusterFirst", "default-scheduler", 30, {})
    c = pod["containers"][0]
    assert (c["imagePullPolicy"], c["terminationMessagePath"], c["terminationMessagePolicy"], c["resources"]) == (
        "IfNotPresent", "/dev/termination-log", "File", {})


def test_image_pull_policy_is_always_for_latest_or_untagged_images():
    for image, policy in [("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.27", "IfNotPresent"),
                          ("registry:5000/nginx", "Always"), ("nginx@sha256:abc", "IfNotPresent")]:
        spec = {"containers": [{"name": "c", "image": image}]}
        defaults.pod_spec(spec)
        assert spec["containers"][0]["imagePullPolicy"] == policy, image


def test_recreate_strategy_gets_no_rolling_update_defaults():
    obj = deployment(strategy={"type": "Recreate"})
    defaults.apply_defaults("deployments.apps", obj)
    assert obj["spec"]["strategy"] == {"type": "Recreate"}


def test_valid_deployment_has_no_errors():
    obj = deployment()
    defaults.apply_defaults("deployments.apps", obj)
    assert validate(DEPLOY, obj) == []


def test_deployment_without_selector_is_invalid():
    obj = deployment()
    del obj["spec"]["selector"]
    defaults.apply_defaults("deployments.apps", obj)
    assert ("spec.selector", "Required") in fields(validate(DEPLOY, obj))


def test_selector_must_match_template_labels():
    obj = deployment(selector={"matchLabels": {"app": "other"}})
    defaults.apply_defaults("deployments.apps", obj)
    errs = validate(DEPLOY, obj)
    assert ("spec.template.metadata.labels", "Invalid") in fields(errs)
    assert "`selector` does not match template `labels`" in errs[0].message()


def test_container_without_image_or_name_is_invalid():
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"] = [{"name": "a"}, {"image": "x"}]
    defaults.apply_defaults("deployments.apps", obj)
    found = fields(validate(DEPLOY, obj))
    assert ("spec.template.spec.containers[0].image", "Required") in found
    assert ("spec.template.spec.containers[1].name", "Required") in found


def test_names_must_be_dns_1123():
    obj = deployment()
    obj["metadata"]["name"] = "Web_1"
    defaults.apply_defaults("deployments.apps", obj)
    assert ("metadata.name", "Invalid") in fields(validate(DEPLOY, obj))
    svc = {"metadata": {"name": "1web", "namespace": "d"}, "spec": {"type": "ClusterIP", "ports": [{"port": 80}]}}
    assert ("metadata.name", "Invalid") in fields(validate(REGISTRY.by_key("services"), svc))


def test_selector_is_immutable_on_update():
    old = deployment()
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "web", "v": "2"}}
    new["spec"]["template"]["metadata"]["labels"]["v"] = "2"
    defaults.apply_defaults("deployments.apps", new)
    assert ("spec.selector", "Invalid") in fields(validate(DEPLOY, new, old))


def test_job_gets_generated_selector_and_rejects_restart_policy_always():
    job = {"metadata": {"name": "migrate", "namespace": "default"},
           "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "m:1"}]}}}}
    defaults.apply_defaults("jobs.batch", job)
    defaults.job_selector(job, "uid-1")
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["completions"], spec["parallelism"]) == (6, 1, 1)
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "uid-1"}}
    assert spec["template"]["metadata"]["labels"]["job-name"] == "migrate"
    errs = validate(REGISTRY.by_key("jobs.batch"), job)
    assert ("spec.template.spec.restartPolicy", "Unsupported") in fields(errs)


def test_service_defaults():
    svc = {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
    defaults.apply_defaults("services", svc)
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["sessionAffinity"] == "None"
    assert svc["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]


def test_decode_reports_unknown_fields_and_wrong_types_and_drops_nulls():
    obj = deployment(replicas="3", bogus=1, paused=None)
    cleaned, found = schema.decode(obj, "io.k8s.api.apps.v1.Deployment")
    assert found.unknown == ["spec.bogus"]
    assert found.type_errors and "spec.replicas" in found.type_errors[0]
    assert "bogus" not in cleaned["spec"] and "paused" not in cleaned["spec"]


def test_decode_accepts_int_or_string_and_quantities():
    obj = deployment(strategy={"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "10%"}})
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": 1, "memory": "64Mi"}}
    cleaned, found = schema.decode(obj, "io.k8s.api.apps.v1.Deployment")
    assert found.type_errors == [] and found.unknown == []
    assert cleaned["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "1"

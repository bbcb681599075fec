"""canary_weight, metric_gate and parity_check on the real rehearsal stack, run through ansible-playbook.

One stack for the session (``rehearsal_stack``: kube-apiserver with the node agent's process pods, nginx configured from
the routing objects, Prometheus scraping the ready pods every second). Each test deploys its own stable and
canary Deployments, Services and routing object in a namespace of its own, and measures what a user would:

- canary_weight: the share of 1,000 requests through INGRESS_URL answered by v2 (X-App-Version);
- metric_gate: verdicts from PromQL on ``http_requests_total`` by version while load runs;
- parity_check: the runbook's cbam and vcci calculator calls sent to two versions through the ingress.

Run with ``-s`` to see the measured splits, error rates and verdicts.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
import uuid

import pytest
import requests
from module_runner import run_module, run_play

from rehearsal.load import LoadGenerator
from rehearsal.scrape_targets import scrape_targets
from rehearsal.services.postgres import free_port
from rehearsal.services.prometheus import PrometheusServer

NGX = "nginx.ingress.kubernetes.io/"
API_CALLS = {  # one runbook API call per app: counted in http_requests_total, unlike probes
    "vcci": ("POST", "/api/v1/calculator/category1", {"items": [{"category": "metals", "spend": 1000}]}),
    "cbam": ("POST", "/api/v1/calculate", {"imports": [{"cn_code": "7208", "quantity": 100}]}),
    "csrd": ("POST", "/api/v1/calculate", {"datapoints": [{"code": "E1-6_scope1", "value": 1}]}),
}
SPLIT_REQUESTS, SPLIT_RPS = 1000, 250  # 1,000 requests in 4 s
SPLIT_TOLERANCE = 5  # percentage points; at n=1000 that is more than 3 standard deviations of a fair split


# -- objects ---------------------------------------------------------------------------------------------------


def app_objects(ns: str, name: str, app: str, version: str, **fault_env) -> list[dict]:
    """A one-replica Deployment of ``rehearsal/<app>:<version>`` (faults as pod env) and its Service."""
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "greenlang"}
    container = {
        "name": "api", "image": f"rehearsal/{app}:{version}", "ports": [{"name": "http", "containerPort": 8080}],
        "env": [{"name": k, "value": str(v)} for k, v in fault_env.items()],
        # Tolerant of one slow answer on a busy machine: a lone probe timeout must not empty the Service.
        "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "http"}, "periodSeconds": 1,
                           "timeoutSeconds": 2, "failureThreshold": 3},
    }
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns, "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                  "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
         "spec": {"selector": {"app.kubernetes.io/name": name},
                  "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
    ]


def http_route(ns: str, name: str, host: str, backends: dict[str, int]) -> dict:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"parentRefs": [{"name": "edge"}], "hostnames": [host],
                     "rules": [{"backendRefs": [{"name": svc, "port": 80, "weight": w}
                                                for svc, w in backends.items()]}]}}


def ingress(ns: str, name: str, hosts: dict[str, str]) -> dict:
    """One (primary) Ingress routing each host to its Service."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name, "namespace": ns},
            "spec": {"ingressClassName": "nginx", "rules": [
                {"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                    "service": {"name": svc, "port": {"number": 80}}}}]}} for host, svc in hosts.items()]}}


def openshift_route(ns: str, name: str, host: str, service: str) -> dict:
    return {"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": name, "namespace": ns},
            "spec": {"host": host, "to": {"kind": "Service", "name": service}}}


# -- stack helpers ------------------------------------------------------------------------------------------------


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def new_namespace(rehearsal_stack, request):
    """Creates namespaces named after the test; deletes them afterwards (without waiting)."""
    created = []

    def make(suffix: str = "") -> str:
        base = request.node.name.removeprefix("test_").replace("_", "-").lower()
        name = f"{base[:40].strip('-[]')}{suffix}-{uuid.uuid4().hex[:6]}"
        name = "".join(c if c.isalnum() or c == "-" else "-" for c in name)
        rehearsal_stack.kubectl("apply", "-f", "-", input=json.dumps(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
        created.append(name)
        return name

    yield make
    for name in created:
        try:
            rehearsal_stack.kubectl("delete", "namespace", name, "--wait=false")
        except Exception as exc:  # hygiene only: the session stack goes down at the end anyway
            print(f"could not delete namespace {name}: {exc}")


def deploy(stack, objects: list[dict]) -> None:
    """Apply with kubectl and wait until every Deployment is rolled out and its Service has an endpoint."""
    stack.kubectl("apply", "-f", "-", input="\n".join(json.dumps(o) for o in objects))
    for obj in objects:
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        if obj["kind"] == "Deployment":
            stack.kubectl("-n", ns, "rollout", "status", f"deployment/{name}", "--timeout=90s", timeout=100)
    for obj in objects:
        if obj["kind"] == "Service":
            ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
            wait_until(lambda ns=ns, name=name: any(
                s.get("addresses") for s in stack.kubectl_json("-n", ns, "endpoints", name).get("subsets") or []),
                30, f"a ready endpoint behind Service {ns}/{name}", interval=0.3)


def served_config(stack) -> str:
    """The configuration hash the traffic plane's nginx serves on a new connection."""
    try:
        return requests.get(stack.ingress_url + "/healthz", timeout=2).headers.get("X-Config-Hash", "")
    except requests.RequestException:
        return ""


def wait_config_changed(stack, before: str, timeout: float = 20) -> str:
    """Wait until nginx serves a configuration other than ``before`` and it has settled (no reload for 1 s)."""
    deadline = time.monotonic() + timeout
    current = wait_until(lambda: (h := served_config(stack)) and h != before and h, timeout,
                         f"nginx to reload away from configuration {before}", interval=0.05)
    stable_since = time.monotonic()
    while time.monotonic() - stable_since < 1.0:
        if time.monotonic() > deadline:
            raise AssertionError(f"nginx configuration still changing after {timeout} s")
        time.sleep(0.1)
        now = served_config(stack)
        if now != current:
            current, stable_since = now, time.monotonic()
    return current


def load(stack, app: str, hosts: list[str], rps: float, duration: float, **kw) -> LoadGenerator:
    method, path, body = API_CALLS[app]
    return LoadGenerator(stack.ingress_url, hosts, rps=rps, duration=duration, method=method, path=path,
                         body=body, **kw).start()


def measure_split(stack, app: str, host: str) -> dict:
    summary = load(stack, app, [host], SPLIT_RPS, SPLIT_REQUESTS / SPLIT_RPS).wait()
    assert summary["requests"] == SPLIT_REQUESTS
    assert summary["failed"] == 0, summary["first_errors"]
    return summary


def kube_env(stack) -> dict:
    return {"K8S_AUTH_KUBECONFIG": stack.kubeconfig}


# -- canary_weight ------------------------------------------------------------------------------------------------

PROVIDERS = {
    # provider: the app whose launch uses it in the runbook
    "gateway_api": "vcci",
    "ingress_nginx": "cbam",
    "openshift_route": "csrd",
}


def routing_object(stack, provider: str, ns: str) -> dict:
    """The object canary_weight writes: the HTTPRoute, the canary Ingress, or the Route."""
    kind, name = {"gateway_api": ("httproute", "app"), "ingress_nginx": ("ingress", "app-canary"),
                  "openshift_route": ("route", "app")}[provider]
    return stack.kubectl_json("-n", ns, kind, name)


def canary_weight_in_cluster(obj: dict, provider: str) -> int:
    if provider == "gateway_api":
        return {r["name"]: r.get("weight", 1) for r in obj["spec"]["rules"][0]["backendRefs"]}["canary"]
    if provider == "ingress_nginx":
        return int(obj["metadata"]["annotations"][NGX + "canary-weight"])
    return {b["name"]: b["weight"] for b in obj["spec"]["alternateBackends"]}["canary"]


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_canary_weight_moves_real_traffic_to_10_50_90_percent(rehearsal_stack, new_namespace, provider):
    stack, app = rehearsal_stack, PROVIDERS[provider]
    ns = new_namespace()
    host = f"{app}.{ns}.rehearsal.test"
    route = {"gateway_api": http_route(ns, "app", host, {"stable": 1}),
             "ingress_nginx": ingress(ns, "app", {host: "stable"}),
             "openshift_route": openshift_route(ns, "app", host, "stable")}[provider]
    before = served_config(stack)
    deploy(stack, [*app_objects(ns, "stable", app, "v1"), *app_objects(ns, "canary", app, "v2"), route])
    config = wait_config_changed(stack, before)
    primary_before = stack.kubectl_json("-n", ns, "ingress", "app") if provider == "ingress_nginx" else None
    assert measure_split(stack, app, host)["by_version"] == {"v1": SPLIT_REQUESTS}, "before: all on stable"

    common = {"provider": provider, "name": "app", "namespace": ns, "stable_backend": "stable",
              "canary_backend": "canary"}
    splits = {}
    previous = None if provider == "ingress_nginx" else 0  # no canary Ingress yet / canary weight 0
    for weight in (10, 50, 90):
        other = (weight + 30) % 100
        play = run_play([
            {"name": "set", "greenlang.launch.canary_weight": dict(common, weight=weight), "diff": True},
            {"name": "set again", "greenlang.launch.canary_weight": dict(common, weight=weight)},
            {"name": "check mode", "greenlang.launch.canary_weight": dict(common, weight=other), "check_mode": True},
        ], env=kube_env(stack))
        first, again, checked = play["set"], play["set again"], play["check mode"]
        assert not first.get("failed"), first.get("msg")
        assert (first["changed"], first["previous_weight"], first["weight"]) == (True, previous, weight)
        assert first["diff"]["before"] != first["diff"]["after"]
        assert not again.get("failed") and (again["changed"], again["operation"]) == (False, "none")
        assert (checked["changed"], checked["weight"]) == (True, other), "check mode reports what it would do"

        obj = routing_object(stack, provider, ns)
        assert canary_weight_in_cluster(obj, provider) == weight, "check mode must not write the other weight"
        assert obj["metadata"]["resourceVersion"] == first["object"]["metadata"]["resourceVersion"], \
            "neither the second run nor check mode may write the object"

        config = wait_config_changed(stack, config)
        summary = measure_split(stack, app, host)
        share = 100 * summary["by_version"].get("v2", 0) / SPLIT_REQUESTS
        splits[weight] = share
        assert summary["by_version"].get("v1", 0) + summary["by_version"].get("v2", 0) == SPLIT_REQUESTS
        assert abs(share - weight) <= SPLIT_TOLERANCE, f"{provider} at {weight} %: v2 answered {share:.1f} %"
        previous = weight
    print(f"\n[canary_weight {provider}] measured v2 share over {SPLIT_REQUESTS} requests: "
          + ", ".join(f"weight {w} -> {s:.1f} %" for w, s in splits.items()))

    if provider == "ingress_nginx":
        primary = stack.kubectl_json("-n", ns, "ingress", "app")
        assert not [k for k in primary["metadata"].get("annotations") or {} if k.startswith(NGX + "canary")]
        assert primary["metadata"]["resourceVersion"] == primary_before["metadata"]["resourceVersion"], \
            "the primary Ingress is never written"


# -- metric_gate ---------------------------------------------------------------------------------------------------


def v2_error_ratio(ns: str, window: str = "10s") -> str:
    sel = f'namespace="{ns}",app="vcci",version="v2"'
    # `or vector(0)`: a release that never failed has no 5xx series at all (counters appear on first use).
    return (f'(sum(rate(http_requests_total{{{sel},code=~"5.."}}[{window}])) or vector(0)) / '
            f'sum(rate(http_requests_total{{{sel}}}[{window}]))')


def v2_traffic(ns: str) -> str:
    return f'sum(rate(http_requests_total{{namespace="{ns}",app="vcci",version="v2"}}[10s]))'


def canary_release(stack, ns: str, host: str, **fault_env) -> None:
    """vcci v1 stable and a v2 canary (with the given faults) behind an HTTPRoute at 50 %."""
    deploy(stack, [*app_objects(ns, "stable", "vcci", "v1"), *app_objects(ns, "canary", "vcci", "v2", **fault_env),
                   http_route(ns, "app", host, {"stable": 50, "canary": 50})])


def gate(url: str, ns: str, **kw) -> dict:
    return {"url": url, "checks": [{"name": "v2_error_rate", "query": v2_error_ratio(ns), "max": 0.01}], **kw}


def test_metric_gate_passes_healthy_v2_and_fails_v2_with_5_percent_errors_under_load(rehearsal_stack,
                                                                                      new_namespace):
    stack = rehearsal_stack
    good, bad = new_namespace("-good"), new_namespace("-bad")
    good_host, bad_host = f"vcci.{good}.rehearsal.test", f"vcci.{bad}.rehearsal.test"
    canary_release(stack, good, good_host)
    canary_release(stack, bad, bad_host, FAULT_ERROR_RATIO=0.05)
    traffic = load(stack, "vcci", [good_host, bad_host], rps=40, duration=120)
    try:
        for ns in (good, bad):
            wait_until(lambda ns=ns: (stack.promql(v2_traffic(ns)) or 0) > 5, 45,
                       f"Prometheus to see v2 traffic in {ns}", interval=0.5)
        polling = {"interval": "1s", "duration": "30s", "success_after": 5, "inconclusive_limit": 3}
        bad_gate = gate(stack.prometheus_url, bad, **polling)
        play = run_play([
            {"name": "healthy v2", "greenlang.launch.metric_gate": gate(stack.prometheus_url, good, **polling)},
            {"name": "v2 with 5 % errors", "greenlang.launch.metric_gate": bad_gate},
            {"name": "in check mode", "greenlang.launch.metric_gate": bad_gate, "check_mode": True},
            {"name": "report only", "greenlang.launch.metric_gate": dict(bad_gate, fail_on_breach=False)},
        ])
    finally:
        traffic.stop()

    healthy, faulty = play["healthy v2"], play["v2 with 5 % errors"]
    assert not healthy.get("failed"), healthy.get("msg")
    assert (healthy["verdict"], healthy["stopped"], healthy["rounds"]) == ("pass", "success_after reached", 5)
    assert healthy["checks"][0]["value"] == 0

    assert faulty["failed"] is True and faulty["verdict"] == "fail"
    assert faulty["stopped"] == "failure_limit reached" and faulty["rounds"] == 1, "the first round catches it"
    measured = faulty["checks"][0]["value"]
    # The app fails exactly 2 or 3 of every 50 requests, so a few hundred requests (the clients' run) or the
    # ~200 of the gate's 10 s window show 5 % give or take one partial block.
    v2_records = [r for r in traffic.results if r["host"] == bad_host and r["version"] == "v2"]
    client_ratio = sum(r["status"] == 500 for r in v2_records) / len(v2_records)
    assert client_ratio == pytest.approx(0.05, abs=0.015), "what the clients saw from the faulty v2"
    assert measured == pytest.approx(0.05, abs=0.025), "what the gate measured in Prometheus"
    assert "v2_error_rate" in faulty["msg"] and "> max 0.01" in faulty["msg"]
    assert play["in check mode"]["failed"] is True and play["in check mode"]["verdict"] == "fail", \
        "a read-only gate judges in check mode too"
    report = play["report only"]
    assert not report.get("failed") and (report["verdict"], report["passed"]) == ("fail", False)
    print(f"\n[metric_gate] healthy v2: {healthy['verdict']} (error rate {healthy['checks'][0]['value']}, "
          f"{healthy['rounds']} rounds); faulty v2: {faulty['verdict']} (error rate {measured:.4f}, clients saw "
          f"{client_ratio:.4f} over {len(v2_records)} v2 responses)")


def prometheus_queries_served(url: str) -> float:
    """How many instant queries this Prometheus has answered (its own prometheus_http_requests_total)."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return 0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("prometheus_http_requests_total{") and 'handler="/api/v1/query"' in line)


def test_metric_gate_fails_inconclusive_when_prometheus_stops_during_the_gate(rehearsal_stack, new_namespace,
                                                                              tmp_path):
    stack = rehearsal_stack
    ns = new_namespace()
    host = f"vcci.{ns}.rehearsal.test"
    canary_release(stack, ns, host)
    # A Prometheus of this test's own, scraping this namespace's pods: stopping it disturbs no other test.
    prom = PrometheusServer(tmp_path / "prometheus", free_port()).start()
    traffic = load(stack, "vcci", [host], rps=20, duration=120)
    try:
        prom.set_targets(scrape_targets(stack.kubectl_json("-n", ns, "pods")["items"]))
        wait_until(lambda: (stack.promql(v2_traffic(ns), url=prom.url) or 0) > 2, 45,
                   "the test's Prometheus to see v2 traffic", interval=0.5)
        outcome = {}
        args = gate(prom.url, ns, interval="1s", duration="60s", retries=1, backoff=0.2, timeout=2)
        runner = threading.Thread(target=lambda: outcome.update(run_module("greenlang.launch.metric_gate", args)))
        served = prometheus_queries_served(prom.url)
        runner.start()
        # Stop Prometheus once the gate has measured three rounds.
        wait_until(lambda: prometheus_queries_served(prom.url) >= served + 3, 60, "three gate rounds", interval=0.1)
        prom.stop()
        runner.join(120)
        assert not runner.is_alive(), "the gate did not stop"
    finally:
        traffic.stop()
        prom.stop()

    assert outcome["failed"] is True and outcome["passed"] is False
    assert (outcome["verdict"], outcome["stopped"]) == ("inconclusive", "inconclusive_limit reached")
    verdicts = [e["verdict"] for e in outcome["evaluations"]]
    assert verdicts[:3] == ["pass"] * 3 and verdicts[-1] == "inconclusive", verdicts
    assert "Connection refused" in outcome["checks"][0]["reason"]
    assert outcome["elapsed"] < 30, "a gate that cannot measure stops at once, not after its duration"
    print(f"\n[metric_gate] Prometheus stopped during the gate: {outcome['verdict']} after rounds {verdicts} "
          f"({outcome['checks'][0]['reason']})")


# -- parity_check ---------------------------------------------------------------------------------------------------

CBAM_CORPUS = [  # the runbook's CBAM calculation: POST /api/v1/calculate
    {"method": "POST", "path": "/api/v1/calculate", "body": {"imports": [{"cn_code": "7208", "quantity": 100}]}},
    {"method": "POST", "path": "/api/v1/calculate",
     "body": {"imports": [{"cn_code": "7601", "quantity": 12.5, "carbon_price_paid_eur_per_t": 20}]}},
    {"method": "POST", "path": "/api/v1/calculate", "body": {
        "imports": [{"cn_code": "2523", "quantity": 400}, {"cn_code": "7208", "quantity": 3}],
        "certificate_price_eur": 80}},
]
VCCI_CORPUS = [  # the runbook's VCCI calculators
    {"method": "POST", "path": "/api/v1/calculator/category1",
     "body": {"items": [{"category": "metals", "spend": 1000}, {"category": "services", "spend": 250}]}},
    {"method": "POST", "path": "/api/v1/calculator/category4",
     "body": {"items": [{"mode": "road", "tonnes": 12, "distance_km": 340}]}},
    {"method": "POST", "path": "/api/v1/calculator/category6",
     "body": {"items": [{"mode": "air_short", "distance_km": 800, "passengers": 2}]}},
]


def test_parity_check_passes_same_code_reports_drift_and_catches_nondeterminism(rehearsal_stack, new_namespace,
                                                                               tmp_path):
    stack = rehearsal_stack
    ns = new_namespace()
    releases = {  # Service name: (app, image tag, faults)
        "cbam-v1": ("cbam", "v1", {}),
        "cbam-v1-rebuild": ("cbam", "v1-rebuild", {}),
        "cbam-v2-drift": ("cbam", "v2", {"FAULT_OUTPUT_DRIFT": 0.03}),
        "vcci-v1": ("vcci", "v1", {}),
        "vcci-v1-rebuild": ("vcci", "v1-rebuild", {}),
        "vcci-v2-noisy": ("vcci", "v2", {"FAULT_NONDETERMINISTIC": 1}),
    }
    hosts = {svc: f"{svc}.{ns}.rehearsal.test" for svc in releases}
    objects = [o for svc, (app, tag, faults) in releases.items() for o in app_objects(ns, svc, app, tag, **faults)]
    before = served_config(stack)
    deploy(stack, [*objects, ingress(ns, "parity", {h: svc for svc, h in hosts.items()})])
    wait_config_changed(stack, before)
    for svc, (_app, tag, _faults) in releases.items():  # each host reaches its own release through nginx
        resp = requests.get(stack.ingress_url + "/health/live", headers={"Host": hosts[svc]}, timeout=5)
        assert resp.headers["X-App-Version"] == tag, svc

    cbam_corpus = tmp_path / "cbam-corpus.jsonl"
    cbam_corpus.write_text("# CBAM v1/v2 parity corpus\n" + "".join(json.dumps(r) + "\n" for r in CBAM_CORPUS))

    def target(svc: str) -> dict:
        return {"url": stack.ingress_url, "host": hosts[svc]}

    play = run_play([
        {"name": "cbam same code", "greenlang.launch.parity_check": {
            "baseline": target("cbam-v1"), "candidate": target("cbam-v1-rebuild"), "corpus_file": str(cbam_corpus)}},
        {"name": "vcci same code", "greenlang.launch.parity_check": {
            "baseline": target("vcci-v1"), "candidate": target("vcci-v1-rebuild"), "corpus": VCCI_CORPUS}},
        {"name": "cbam drift", "greenlang.launch.parity_check": {
            "baseline": target("cbam-v1"), "candidate": target("cbam-v2-drift"), "corpus_file": str(cbam_corpus),
            "max_diffs": 10}},
        {"name": "cbam drift in check mode", "check_mode": True, "greenlang.launch.parity_check": {
            "baseline": target("cbam-v1"), "candidate": target("cbam-v2-drift"), "corpus_file": str(cbam_corpus)}},
        {"name": "cbam drift within tolerance", "greenlang.launch.parity_check": {
            "baseline": target("cbam-v1"), "candidate": target("cbam-v2-drift"), "corpus_file": str(cbam_corpus),
            "relative_tolerance": 0.035}},
        {"name": "vcci v1 reproducible", "greenlang.launch.parity_check": {
            "baseline": target("vcci-v1"), "corpus": VCCI_CORPUS, "repeat": 10, "compare": "bytes"}},
        {"name": "vcci v2 not reproducible", "greenlang.launch.parity_check": {
            "baseline": target("vcci-v2-noisy"), "corpus": VCCI_CORPUS, "repeat": 10}},
    ])

    for name, corpus in (("cbam same code", CBAM_CORPUS), ("vcci same code", VCCI_CORPUS)):
        same = play[name]
        assert not same.get("failed"), same.get("msg")
        assert (same["parity"], same["mismatches"], same["requests_sent"]) == (1.0, 0, 2 * len(corpus)), name

    drift = play["cbam drift"]
    assert drift["failed"] is True and drift["parity"] == 0.0 and drift["mismatches"] == len(CBAM_CORPUS)
    assert "below min_parity 1.0" in drift["msg"]
    first = drift["diffs"][0]
    assert (first["request"], first["index"]) == ("POST /api/v1/calculate", 0)
    # 100 t of CN 7208 at the default 2.1 t CO2e/t: 210.0 from v1, 3 % more from the drifting v2.
    assert "/imports/0/embedded_t_co2e: 210.0 != 216.3 (difference 6.3)" in first["differences"], first
    in_check_mode = play["cbam drift in check mode"]
    assert in_check_mode["failed"] is True and in_check_mode["mismatches"] == len(CBAM_CORPUS)
    assert not play["cbam drift within tolerance"].get("failed"), "3 % drift is within a 3.5 % relative tolerance"

    steady, noisy = play["vcci v1 reproducible"], play["vcci v2 not reproducible"]
    assert not steady.get("failed"), steady.get("msg")
    assert (steady["requests_sent"], steady["comparisons"], steady["mismatches"]) == (30, 27, 0)
    assert noisy["failed"] is True and noisy["comparisons"] == 27 and noisy["mismatches"] == 27
    assert any(d.startswith("/items/0/kg_co2e: ") for d in noisy["diffs"][0]["differences"]), noisy["diffs"][0]
    print(f"\n[parity_check] same code: parity {play['cbam same code']['parity']} (cbam), "
          f"{play['vcci same code']['parity']} (vcci); drift: {drift['mismatches']}/{drift['comparisons']} "
          f"mismatches, e.g. {first['differences'][0]}; reproducibility: v1 {steady['mismatches']}/27, "
          f"noisy v2 {noisy['mismatches']}/27 mismatches")

"""Defaulting as kube-apiserver applies it on every write, for the kinds the emulator serves.

Clients compare what they sent with what they read back (kubectl apply, kubernetes.core
idempotence), so the defaults must be the real ones. Sources: the SetDefaults_* functions of
k8s.io/kubernetes/pkg/apis/{core,apps,batch}/v1 (v1.32) and the Gateway API CRD defaults.
"""

from __future__ import annotations

import base64
import ipaddress
import threading

_ip_lock = threading.Lock()


class IPAllocator:
    """Hands out fake ClusterIPs from 10.96.0.0/12 (skipping .0.1, the kubernetes service) and NodePorts."""

    def __init__(self):
        self._next_ip = int(ipaddress.IPv4Address("10.96.0.10"))
        self._next_port = 30000

    def cluster_ip(self, used: set[str]) -> str:
        with _ip_lock:
            while True:
                ip = str(ipaddress.IPv4Address(self._next_ip))
                self._next_ip += 1
                if ip not in used:
                    return ip

    def node_port(self, used: set[int]) -> int:
        with _ip_lock:
            for _ in range(2768):
                port = self._next_port
                self._next_port = 30000 if self._next_port >= 32767 else self._next_port + 1
                if port not in used:
                    return port
            raise RuntimeError("no free node port")


def _probe(probe: dict | None) -> None:
    if not isinstance(probe, dict):
        return
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("path", "/")
        probe["httpGet"].setdefault("scheme", "HTTP")


def _image_tag_is_latest(image: str) -> bool:
    if "@" in image:
        return False
    last = image.rsplit("/", 1)[-1]
    return ":" not in last or last.rsplit(":", 1)[1] == "latest"


def _container(c: dict) -> None:
    if not isinstance(c, dict):
        return
    image = c.get("image")
    if "imagePullPolicy" not in c and isinstance(image, str) and image:
        c["imagePullPolicy"] = "Always" if _image_tag_is_latest(image) else "IfNotPresent"
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in c.get("env") or []:
        if isinstance(env, dict) and isinstance(env.get("valueFrom"), dict):
            ref = env["valueFrom"].get("fieldRef")
            if isinstance(ref, dict):
                ref.setdefault("apiVersion", "v1")
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(name))


def pod_spec(spec: dict | None) -> None:
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            _container(c)
    for vol in spec.get("volumes") or []:
        if not isinstance(vol, dict):
            continue
        for kind in ("configMap", "secret"):
            if isinstance(vol.get(kind), dict):
                vol[kind].setdefault("defaultMode", 420)


def _template(obj: dict) -> None:
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict):
        pod_spec(template.get("spec"))


def pod(obj: dict) -> None:
    spec = obj.get("spec")
    pod_spec(spec)
    if isinstance(spec, dict):
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("serviceAccount", spec.get("serviceAccountName"))
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")


def deployment(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            if isinstance(ru, dict):
                ru.setdefault("maxUnavailable", "25%")
                ru.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(obj)


def replicaset(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("replicas", 1)
    _template(obj)


def job(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    _template(obj)


def job_selector(obj: dict, uid: str) -> None:
    """Generate the selector and template labels a Job gets on create (batch/v1, manualSelector unset)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector"):
        return
    name = (obj.get("metadata") or {}).get("name", "")
    template = spec.setdefault("template", {})
    if not isinstance(template, dict):
        return
    meta = template.setdefault("metadata", {})
    if not isinstance(meta, dict):
        return
    labels = meta.setdefault("labels", {})
    if not isinstance(labels, dict):
        return
    labels.setdefault("batch.kubernetes.io/controller-uid", uid)
    labels.setdefault("batch.kubernetes.io/job-name", name)
    labels.setdefault("controller-uid", uid)
    labels.setdefault("job-name", name)
    spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})


def service(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "targetPort" not in port and "port" in port:
                port["targetPort"] = port["port"]
    obj.setdefault("status", {"loadBalancer": {}})


def namespace(obj: dict) -> None:
    meta = obj.setdefault("metadata", {})
    if isinstance(meta, dict) and meta.get("name"):
        labels = meta.setdefault("labels", {})
        if isinstance(labels, dict):
            labels["kubernetes.io/metadata.name"] = meta["name"]
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("finalizers", ["kubernetes"])
    status = obj.setdefault("status", {})
    if isinstance(status, dict):
        status.setdefault("phase", "Active")


def secret(obj: dict) -> None:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict):
        data = obj.setdefault("data", {})
        if isinstance(data, dict):
            for k, v in string_data.items():
                if isinstance(v, str):
                    data[k] = base64.b64encode(v.encode()).decode()


def httproute(obj: dict) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    for ref in spec.get("parentRefs") or []:
        if isinstance(ref, dict):
            ref.setdefault("group", "gateway.networking.k8s.io")
            ref.setdefault("kind", "Gateway")
    for rule in spec.get("rules") or []:
        if not isinstance(rule, dict):
            continue
        rule.setdefault("matches", [{"path": {"type": "PathPrefix", "value": "/"}}])
        for ref in rule.get("backendRefs") or []:
            if isinstance(ref, dict):
                ref.setdefault("group", "")
                ref.setdefault("kind", "Service")
                ref.setdefault("weight", 1)


def route(obj: dict) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("wildcardPolicy", "None")
    for target in [spec.get("to")] + list(spec.get("alternateBackends") or []):
        if isinstance(target, dict):
            target.setdefault("kind", "Service")
            target.setdefault("weight", 100)


DEFAULTERS = {
    "pods": pod,
    "deployments.apps": deployment,
    "replicasets.apps": replicaset,
    "jobs.batch": job,
    "services": service,
    "namespaces": namespace,
    "secrets": secret,
    "httproutes.gateway.networking.k8s.io": httproute,
    "routes.route.openshift.io": route,
}


def apply_defaults(resource_key: str, obj: dict) -> None:
    fn = DEFAULTERS.get(resource_key)
    if fn is not None:
        fn(obj)

"""meta.k8s.io/v1 ``Table`` renderings, what ``kubectl get`` asks for (``Accept: ...;as=Table``).

Columns follow kube-apiserver's printers (pkg/printers/internalversion) for the kinds served.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .selectors import selector_to_string


def human_duration(seconds: float) -> str:
    """Age as kubectl shows it (apimachinery's HumanDuration)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def age(obj: dict) -> str:
    ts = (obj.get("metadata") or {}).get("creationTimestamp")
    if not ts:
        return "<unknown>"
    try:
        created = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    return human_duration((datetime.now(UTC) - created).total_seconds())


def _col(name: str, type_: str = "string", priority: int = 0, fmt: str = "", description: str = "") -> dict:
    return {"name": name, "type": type_, "format": fmt, "description": description or name, "priority": priority}


NAME = _col("Name", fmt="name", description="Name must be unique within a namespace.")
AGE = _col("Age", description="CreationTimestamp is a timestamp representing the server time when this object "
                              "was created.")


def _containers(spec: dict) -> tuple[str, str]:
    cs = (spec or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _deployment(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers((spec.get("template") or {}).get("spec"))
    return [f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 0)}", st.get("updatedReplicas", 0),
            st.get("availableReplicas", 0), age(o), names, images, selector_to_string(spec.get("selector"))]


def _replicaset(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers((spec.get("template") or {}).get("spec"))
    return [spec.get("replicas", 0), st.get("replicas", 0), st.get("readyReplicas", 0), age(o), names, images,
            selector_to_string(spec.get("selector"))]


def _pod(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    statuses = st.get("containerStatuses") or []
    total = len(spec.get("containers") or [])
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
    reason = st.get("reason") or st.get("phase") or "Pending"
    for c in statuses:
        waiting = (c.get("state") or {}).get("waiting") or {}
        terminated = (c.get("state") or {}).get("terminated") or {}
        if waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated.get("reason") and reason == "Running":
            reason = terminated["reason"]
    if (o.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    return [f"{ready}/{total}", reason, restarts, age(o), st.get("podIP") or "<none>",
            spec.get("nodeName") or "<none>", st.get("nominatedNodeName") or "<none>", "<none>"]


def _service(o):
    spec = o.get("spec") or {}
    ports = ",".join(
        f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports") or []) or "<none>"
    ingress = ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    external = ",".join(i.get("ip") or i.get("hostname") or "" for i in ingress) or (
        "<pending>" if spec.get("type") == "LoadBalancer" else "<none>")
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"
    return [spec.get("type", ""), spec.get("clusterIP") or "<none>", external, ports, age(o), selector]


def _job(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    if conds.get("Complete") == "True":
        status = "Complete"
    elif conds.get("Failed") == "True":
        status = "Failed"
    elif spec.get("suspend"):
        status = "Suspended"
    else:
        status = "Running"
    completions = f"{st.get('succeeded', 0)}/{spec.get('completions', 1)}"
    duration = ""
    if st.get("startTime"):
        try:
            start = datetime.strptime(st["startTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            end = (datetime.strptime(st["completionTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                   if st.get("completionTime") else datetime.now(UTC))
            duration = human_duration((end - start).total_seconds())
        except ValueError:
            duration = ""
    names, images = _containers((spec.get("template") or {}).get("spec"))
    return [status, completions, duration, age(o), names, images, selector_to_string(spec.get("selector"))]


def _endpoints(o):
    addrs = []
    for subset in o.get("subsets") or []:
        ports = [p.get("port") for p in subset.get("ports") or []] or [None]
        for a in subset.get("addresses") or []:
            for p in ports:
                addrs.append(f"{a.get('ip')}:{p}" if p else a.get("ip", ""))
    shown = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
    return [shown or "<none>", age(o)]


def _event(o):
    obj = o.get("involvedObject") or {}
    last = o.get("lastTimestamp") or o.get("eventTime") or (o.get("metadata") or {}).get("creationTimestamp")
    seen = age({"metadata": {"creationTimestamp": last}}) if last else "<unknown>"
    return [seen, o.get("type", ""), o.get("reason", ""), f"{obj.get('kind', '').lower()}/{obj.get('name', '')}",
            o.get("message", "")]


def _ingress(o):
    spec = o.get("spec") or {}
    hosts = ",".join(r.get("host", "*") for r in spec.get("rules") or []) or "*"
    ingress = ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    address = ",".join(i.get("ip") or i.get("hostname") or "" for i in ingress)
    ports = "80, 443" if spec.get("tls") else "80"
    return [spec.get("ingressClassName") or "<none>", hosts, address, ports, age(o)]


def _httproute(o):
    return [", ".join((o.get("spec") or {}).get("hostnames") or []), age(o)]


def _gateway(o):
    st = o.get("status") or {}
    address = ",".join(a.get("value", "") for a in st.get("addresses") or [])
    programmed = next((c.get("status") for c in st.get("conditions") or [] if c.get("type") == "Programmed"),
                      "Unknown")
    return [(o.get("spec") or {}).get("gatewayClassName", ""), address, programmed, age(o)]


def _route(o):
    spec = o.get("spec") or {}
    services = [spec.get("to") or {}] + list(spec.get("alternateBackends") or [])
    total = sum(int(s.get("weight", 100)) for s in services) or 1
    svc = ",".join(f"{s.get('name')}({int(s.get('weight', 100)) * 100 // total}%)" if len(services) > 1
                   else str(s.get("name")) for s in services)
    port = ((spec.get("port") or {}).get("targetPort")) or "<all>"
    return [spec.get("host", ""), spec.get("path", ""), svc, port, (spec.get("tls") or {}).get("termination", ""),
            spec.get("wildcardPolicy", "None")]


_IMG = [_col("Containers", priority=1), _col("Images", priority=1), _col("Selector", priority=1)]
PRINTERS = {
    "deployments.apps": ([_col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"), AGE] + _IMG,
                         _deployment),
    "replicasets.apps": ([_col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"), AGE]
                         + _IMG, _replicaset),
    "pods": ([_col("Ready"), _col("Status"), _col("Restarts", "string"), AGE, _col("IP", priority=1),
              _col("Node", priority=1), _col("Nominated Node", priority=1), _col("Readiness Gates", priority=1)],
             _pod),
    "services": ([_col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), AGE,
                  _col("Selector", priority=1)], _service),
    "jobs.batch": ([_col("Status"), _col("Completions"), _col("Duration"), AGE] + _IMG, _job),
    "namespaces": ([_col("Status"), AGE], lambda o: [(o.get("status") or {}).get("phase", ""), age(o)]),
    "configmaps": ([_col("Data", "integer"), AGE],
                   lambda o: [len(o.get("data") or {}) + len(o.get("binaryData") or {}), age(o)]),
    "secrets": ([_col("Type"), _col("Data", "integer"), AGE],
                lambda o: [o.get("type", ""), len(o.get("data") or {}), age(o)]),
    "serviceaccounts": ([_col("Secrets", "integer"), AGE], lambda o: [len(o.get("secrets") or []), age(o)]),
    "endpoints": ([_col("Endpoints"), AGE], _endpoints),
    "ingresses.networking.k8s.io": ([_col("Class"), _col("Hosts"), _col("Address"), _col("Ports"), AGE],
                                    _ingress),
    "gateways.gateway.networking.k8s.io": ([_col("Class"), _col("Address"), _col("Programmed"), AGE], _gateway),
    "httproutes.gateway.networking.k8s.io": ([_col("Hostnames"), AGE], _httproute),
    "routes.route.openshift.io": ([_col("Host"), _col("Path"), _col("Services"), _col("Port"),
                                   _col("Termination"), _col("Wildcard")], _route),
}
EVENT_COLUMNS = [_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")]


def _row(obj: dict, cells_fn, include: str) -> dict:
    row = {"cells": cells_fn(obj)}
    if include == "Object":
        row["object"] = obj
    elif include != "None":
        row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": obj.get("metadata") or {}}
    return row


def to_table(rt, objects: list[dict], list_meta: dict, include: str = "Metadata", headers: bool = True) -> dict:
    if rt.key == "events":
        columns, fn = EVENT_COLUMNS, _event
    elif rt.key in PRINTERS:
        columns, fn = PRINTERS[rt.key]
        columns = [NAME] + columns
        inner = fn

        def fn(o, inner=inner):
            return [(o.get("metadata") or {}).get("name", "")] + inner(o)
    else:
        columns = [NAME, AGE]

        def fn(o):
            return [(o.get("metadata") or {}).get("name", ""), age(o)]
    table = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta}
    if headers:
        table["columnDefinitions"] = columns
    table["rows"] = [_row(o, fn, include) for o in objects]
    return table

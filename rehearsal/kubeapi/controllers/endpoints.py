"""Endpoints controller: an Endpoints object per Service with a selector.

As pkg/controller/endpoint does (https://kubernetes.io/docs/concepts/services-networking/service/#endpoints):
pods matching the selector that have an IP and are not terminal contribute an address to every
service port they can serve; ready pods go to ``addresses``, others to ``notReadyAddresses``
(or all to ``addresses`` when ``publishNotReadyAddresses`` is set). A named targetPort is looked up
in the pod's container ports; a pod without that port is left out of that port's subset.
Addresses with the same port set share one subset (RepackSubsets), sorted for stable output.
"""

from __future__ import annotations

from rehearsal.kubeapi.controllers.manager import Controller
from rehearsal.kubeapi.controllers.util import is_terminating, key_of, pod_ready, split_key
from rehearsal.kubeapi.store import AlreadyExists, Event, NotFound


def _target_port(svc_port: dict, pod: dict) -> int | None:
    target = svc_port.get("targetPort", svc_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    proto = svc_port.get("protocol", "TCP")
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target and p.get("protocol", "TCP") == proto:
                return int(p["containerPort"])
    return None


def _ip_key(ip: str) -> tuple:
    try:
        return tuple(int(x) for x in ip.split("."))
    except ValueError:
        return (ip,)


def build_subsets(svc: dict, pods: list[dict]) -> list[dict]:
    spec = svc.get("spec") or {}
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    groups: dict[tuple, dict[str, list]] = {}
    for pod in pods:
        status = pod.get("status") or {}
        ip = status.get("podIP")
        if not ip or status.get("phase") in ("Succeeded", "Failed") or is_terminating(pod):
            continue
        meta = pod["metadata"]
        address = {"ip": ip, "targetRef": {"kind": "Pod", "namespace": meta.get("namespace"), "name": meta["name"],
                                           "uid": meta.get("uid")}}
        if (pod.get("spec") or {}).get("nodeName"):
            address["nodeName"] = pod["spec"]["nodeName"]
        ports = []
        for sp in spec.get("ports") or []:
            port = _target_port(sp, pod)
            if port is None:
                continue
            entry = {"port": port, "protocol": sp.get("protocol", "TCP")}
            if sp.get("name"):
                entry["name"] = sp["name"]
            if sp.get("appProtocol"):
                entry["appProtocol"] = sp["appProtocol"]
            ports.append(entry)
        if not ports:
            continue
        port_key = tuple(sorted((p.get("name", ""), p["port"], p["protocol"]) for p in ports))
        group = groups.setdefault(port_key, {"ports": sorted(ports, key=lambda p: (p.get("name", ""), p["port"])),
                                             "addresses": [], "notReadyAddresses": []})
        ready = publish_not_ready or pod_ready(pod)
        group["addresses" if ready else "notReadyAddresses"].append(address)
    subsets = []
    for port_key in sorted(groups):
        g = groups[port_key]
        subset: dict = {}
        for field in ("addresses", "notReadyAddresses"):
            if g[field]:
                subset[field] = sorted(g[field], key=lambda a: (_ip_key(a["ip"]), a["targetRef"]["name"]))
        subset["ports"] = g["ports"]
        subsets.append(subset)
    return subsets


class EndpointsController(Controller):
    name = "endpoints"
    resource = "services"

    def keys_for(self, ev: Event):
        if ev.resource in ("services", "endpoints"):
            return [key_of(ev.object)]
        if ev.resource == "pods":
            ns = ev.object["metadata"].get("namespace") or ""
            return [key_of(s) for s in self.store.list("services", ns)[0] if (s.get("spec") or {}).get("selector")]
        return ()

    def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        try:
            svc = self.store.get("services", ns, name)
        except NotFound:
            svc = None
        try:
            current = self.store.get("endpoints", ns, name)
        except NotFound:
            current = None
        selector = ((svc or {}).get("spec") or {}).get("selector")
        if svc is None or is_terminating(svc):
            # kube deletes the Endpoints of a deleted Service; the GC would too (same name, no owner).
            if current is not None and svc is None:
                self.store.delete("endpoints", ns, name)
            return None
        if not selector:
            return None  # a Service without selector has user-managed Endpoints
        pods = [p for p in self.store.list("pods", ns)[0]
                if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())]
        subsets = build_subsets(svc, pods)
        labels = dict(svc["metadata"].get("labels") or {})
        if current is None:
            ep = {"apiVersion": "v1", "kind": "Endpoints",
                  "metadata": {"name": name, "namespace": ns, "labels": labels}}
            if subsets:
                ep["subsets"] = subsets
            try:
                self.store.create("endpoints", ep)
            except AlreadyExists:
                return 0.05
            return None
        if (current.get("subsets") or []) == subsets and (current["metadata"].get("labels") or {}) == labels:
            return None
        current["metadata"]["labels"] = labels
        if subsets:
            current["subsets"] = subsets
        else:
            current.pop("subsets", None)
        self.store.update("endpoints", current, part="all")
        return None

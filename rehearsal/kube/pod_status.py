"""Pod status as the node agent reports it, built the same way for every pod the process runtime runs.

Status shapes follow the core/v1 PodStatus reference
(https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#PodStatus):
``build_status`` builds one from per-container observations; ``kubelet_event`` is the core/v1 Event
the kubelet's recorder writes about a pod (seen in ``kubectl describe pod``).
"""

from __future__ import annotations

import ipaddress
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

HOST_IP = "127.0.0.1"
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what apimachinery's rand.String draws from


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def kubelet_event(involved: dict, reason: str, message: str, type_: str = "Normal") -> dict:
    """A core/v1 Event about ``involved`` (a pod), named and filled as client-go's event recorder does."""
    meta = involved.get("metadata") or {}
    now = now_rfc3339()
    suffix = "".join(secrets.choice(_NAME_SUFFIX_ALPHABET) for _ in range(3))
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta.get('name')}.{int(time.time() * 1e9):x}{suffix}",
                     "namespace": meta.get("namespace") or "default"},
        "involvedObject": {"apiVersion": involved.get("apiVersion"), "kind": involved.get("kind"),
                           "name": meta.get("name"), "namespace": meta.get("namespace"),
                           "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")},
        "reason": reason,
        "message": message,
        "source": {"component": "kubelet"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": type_,
        "reportingComponent": "kubelet",
        "reportingInstance": "",
    }


@dataclass
class ContainerObservation:
    """What a runtime saw of one container; ``build_status`` turns it into a ContainerStatus."""

    name: str
    image: str
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"  # for waiting/terminated
    ready: bool = False
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    restart_count: int = 0
    last_state: dict = field(default_factory=dict)
    container_id: str = ""


def _condition(old: list[dict], type_: str, status: bool, reason: str | None = None) -> dict:
    """A pod condition whose lastTransitionTime only moves when its status flips (as the kubelet does)."""
    value = "True" if status else "False"
    prev = next((c for c in old if c.get("type") == type_), None)
    cond = {"type": type_, "status": value, "lastProbeTime": None}
    if prev is not None and prev.get("status") == value:
        cond["lastTransitionTime"] = prev.get("lastTransitionTime") or now_rfc3339()
    else:
        cond["lastTransitionTime"] = now_rfc3339()
    if reason and not status:
        cond["reason"] = reason
    return cond


def build_status(pod: dict, observations: list[ContainerObservation], *, phase: str | None = None) -> dict:
    """The full PodStatus for ``pod`` given what its containers are doing.

    Phase (unless given): Succeeded when all containers terminated with 0, Failed when all terminated and
    one did not exit 0, Running when at least one runs (or is restarting), else Pending
    (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-phase).
    """
    old = pod.get("status") or {}
    old_conds = old.get("conditions") or []
    states = [o.state for o in observations]
    if phase is None:
        if observations and all(s == "terminated" for s in states):
            phase = "Succeeded" if all(o.exit_code == 0 for o in observations) else "Failed"
        elif any(s == "running" for s in states) or any(o.restart_count for o in observations):
            phase = "Running"
        else:
            phase = "Pending"
    all_ready = bool(observations) and all(o.ready for o in observations)
    not_ready_reason = "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"
    statuses = []
    for o in observations:
        if o.state == "running":
            state = {"running": {"startedAt": o.started_at or now_rfc3339()}}
        elif o.state == "terminated":
            state = {"terminated": {"exitCode": o.exit_code if o.exit_code is not None else 0,
                                    "reason": o.reason, "startedAt": o.started_at,
                                    "finishedAt": o.finished_at, "containerID": o.container_id}}
        else:
            state = {"waiting": {"reason": o.reason}}
        statuses.append({
            "name": o.name,
            "image": o.image,
            "imageID": "",
            "containerID": o.container_id,
            "ready": o.ready,
            "started": o.state == "running",
            "restartCount": o.restart_count,
            "state": state,
            "lastState": o.last_state,
        })
    status = {
        "phase": phase,
        "conditions": [
            _condition(old_conds, "PodReadyToStartContainers", phase != "Pending" or any(
                s != "waiting" for s in states)),
            _condition(old_conds, "Initialized", True),
            _condition(old_conds, "Ready", all_ready, not_ready_reason),
            _condition(old_conds, "ContainersReady", all_ready, not_ready_reason),
            _condition(old_conds, "PodScheduled", True),
        ],
        "hostIP": old.get("hostIP", HOST_IP),
        "hostIPs": [{"ip": old.get("hostIP", HOST_IP)}],
        "startTime": old.get("startTime") or now_rfc3339(),
        "containerStatuses": statuses,
        "qosClass": old.get("qosClass", "BestEffort"),
    }
    if old.get("podIP"):
        status["podIP"] = old["podIP"]
        status["podIPs"] = [{"ip": old["podIP"]}]
    return status


def status_changed(old: dict | None, new: dict | None) -> bool:
    return new is not None and (old or {}) != new


class AddressAllocator:
    """Loopback addresses 127.1.0.1 ... 127.1.255.254 (all of 127/8 reaches lo on Linux)."""

    def __init__(self, network: str = "127.1.0.0/16"):
        hosts = list(ipaddress.ip_network(network).hosts())
        # Start at a random point so two clusters on one machine (the stack and a test
        # run, say) rarely hand out the same address.
        start = random.randrange(len(hosts))
        self._hosts = iter(hosts[start:] + hosts[:start])
        self._free: list[str] = []
        self._used: set[str] = set()
        self._lock = threading.Lock()

    def allocate(self) -> str:
        """A fresh address; released ones come back only once the range is used up (fewer stale hits)."""
        with self._lock:
            for _ in range(1 << 16):
                ip = next(self._hosts, None)
                if ip is None:
                    if not self._free:
                        break
                    ip = self._free.pop(0)
                ip = str(ip)
                if ip not in self._used:
                    self._used.add(ip)
                    return ip
            raise RuntimeError("no pod address left in 127.1.0.0/16")

    def claim(self, ip: str) -> None:
        with self._lock:
            self._used.add(ip)

    def release(self, ip: str | None) -> None:
        with self._lock:
            if ip and ip in self._used:
                self._used.discard(ip)
                self._free.append(ip)

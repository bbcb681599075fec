"""The pod runtime interface the kubelet drives, and a simulated runtime.

The kubelet (``controllers/kubelet.py``) owns the pod *objects*; a runtime owns
what runs for them. Before the first ``sync`` the kubelet has already set
``spec.nodeName`` and an initial ``status`` carrying ``podIP`` (a unique
loopback address, 127.1.x.y), ``hostIP`` and the PodScheduled condition, so a
runtime reads the address to bind from ``pod["status"]["podIP"]``.

Status shapes follow the core/v1 PodStatus reference
(https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#PodStatus);
``build_status`` below builds one from per-container observations so that every
runtime reports pods the same way.
"""

from __future__ import annotations

import ipaddress
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from rehearsal.kubeapi.store import now_rfc3339

NODE_NAME = "rehearsal-node"
HOST_IP = "127.0.0.1"


@runtime_checkable
class PodRuntime(Protocol):
    def sync(self, pod: dict) -> dict | None:
        """Called by the kubelet for every live pod on change and on every resync (~0.5 s).

        Starts/observes the pod's containers and returns the full desired pod ``status``
        (phase, conditions [PodScheduled, Initialized, ContainersReady, Ready], podIP, hostIP,
        startTime, containerStatuses with ready/started/restartCount/state), or None if unchanged.
        """

    def terminate(self, pod: dict) -> bool:
        """The pod has deletionTimestamp: stop it (grace = metadata.deletionGracePeriodSeconds).

        Non-blocking; return True once fully stopped (the kubelet then deletes the object).
        """

    def logs(self, pod: dict) -> str:
        """The pod's log text (all containers, oldest first)."""

    def shutdown(self) -> None:
        """Stop everything this runtime started (the cluster is going down)."""

    # Optional: ``bind_store(store)``. ``Cluster.start`` calls it, when a runtime has it, before any pod
    # is synced, so that the runtime can read Secrets/ConfigMaps for env ``valueFrom``/``envFrom``.


# -- helpers shared by runtimes ------------------------------------------------------------


def containers(pod: dict) -> list[dict]:
    return list((pod.get("spec") or {}).get("containers") or [])


def pod_env(pod: dict, name: str) -> str | None:
    """The value of env var ``name`` in the first container that sets it (literal ``value`` only)."""
    for c in containers(pod):
        for env in c.get("env") or []:
            if env.get("name") == name and "value" in env:
                return str(env["value"])
    return None


def is_run_to_completion(pod: dict) -> bool:
    """Pods with restartPolicy Never/OnFailure run to completion (Job pods); Always is the default."""
    return (pod.get("spec") or {}).get("restartPolicy", "Always") in ("Never", "OnFailure")


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


# -- the simulated runtime ------------------------------------------------------------------


@dataclass
class _SimPod:
    started: float  # monotonic
    started_at: str
    restarts: int = 0
    run_started: float = 0.0  # monotonic start of the current run (OnFailure restarts)
    finished_at: str | None = None
    stopping_since: float | None = None
    log: list[str] = field(default_factory=list)


class SimulatedRuntime:
    """Pods without processes: timing-driven containers for fast controller tests.

    - A pod becomes Running at once and Ready ``ready_delay`` seconds after it started, unless any
      container image contains "never-ready" or env REHEARSAL_NEVER_READY=1 is set (in a container or in
      the emulator's own environment).
    - A run-to-completion pod (restartPolicy Never/OnFailure) finishes ``job_duration`` seconds after it
      started, with exit code from env REHEARSAL_EXIT_CODE (default 0). Never: phase Succeeded/Failed.
      OnFailure with a non-zero exit: the container restarts in place (restartCount grows), as kubelet does.
    - ``terminate`` stops a pod after ``stop_delay`` seconds (0: at once).
    """

    def __init__(self, ready_delay: float = 0.5, job_duration: float = 0.5, stop_delay: float = 0.0):
        self.ready_delay = ready_delay
        self.job_duration = job_duration
        self.stop_delay = stop_delay
        self._pods: dict[str, _SimPod] = {}
        self._lock = threading.Lock()

    def _state(self, pod: dict) -> _SimPod:
        uid = pod["metadata"]["uid"]
        with self._lock:
            sp = self._pods.get(uid)
            if sp is None:
                now = time.monotonic()
                sp = _SimPod(started=now, run_started=now, started_at=now_rfc3339())
                for c in containers(pod):
                    sp.log.append(f"{sp.started_at} started container {c.get('name')} image {c.get('image')}")
                self._pods[uid] = sp
            return sp

    @staticmethod
    def never_ready(pod: dict) -> bool:
        if any("never-ready" in str(c.get("image", "")) for c in containers(pod)):
            return True
        # The knob works as a pod env var (how a bad release arrives) or in the emulator's own environment.
        return pod_env(pod, "REHEARSAL_NEVER_READY") == "1" or os.environ.get("REHEARSAL_NEVER_READY") == "1"

    def sync(self, pod: dict) -> dict | None:
        sp = self._state(pod)
        now = time.monotonic()
        restart_policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        exit_code = 0
        finished = False
        if is_run_to_completion(pod):
            try:
                exit_code = int(pod_env(pod, "REHEARSAL_EXIT_CODE") or "0")
            except ValueError:
                exit_code = 1
            if sp.finished_at is None and now - sp.run_started >= self.job_duration:
                if exit_code != 0 and restart_policy == "OnFailure":
                    sp.restarts += 1  # kubelet restarts the container in place
                    sp.run_started = now
                    sp.log.append(f"{now_rfc3339()} container exited with {exit_code}; restarting")
                else:
                    sp.finished_at = now_rfc3339()
                    sp.log.append(f"{sp.finished_at} container exited with {exit_code}")
            finished = sp.finished_at is not None
        ready = (not finished and not self.never_ready(pod) and now - sp.run_started >= self.ready_delay)
        obs = []
        for c in containers(pod):
            o = ContainerObservation(name=c.get("name", ""), image=c.get("image", ""),
                                     started_at=sp.started_at, restart_count=sp.restarts,
                                     container_id=f"sim://{pod['metadata']['uid']}/{c.get('name', '')}")
            if finished:
                o.state, o.exit_code, o.finished_at = "terminated", exit_code, sp.finished_at
                o.reason = "Completed" if exit_code == 0 else "Error"
            else:
                o.state, o.ready = "running", ready
            obs.append(o)
        status = build_status(pod, obs)
        return status if status_changed(pod.get("status"), status) else None

    def terminate(self, pod: dict) -> bool:
        uid = pod["metadata"]["uid"]
        with self._lock:
            sp = self._pods.get(uid)
            if sp is None:
                return True
            if sp.stopping_since is None:
                sp.stopping_since = time.monotonic()
            if time.monotonic() - sp.stopping_since < self.stop_delay:
                return False
            del self._pods[uid]
            return True

    def logs(self, pod: dict) -> str:
        with self._lock:
            sp = self._pods.get(pod["metadata"].get("uid", ""))
            return "".join(line + "\n" for line in sp.log) if sp else ""

    def shutdown(self) -> None:
        with self._lock:
            self._pods.clear()


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

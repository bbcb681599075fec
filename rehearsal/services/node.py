"""The emulator's one Node, kept Ready by a heartbeat while the pod runtime runs.

The emulator runs every pod on this machine through its process runtime, which plays the kubelet; a
real kubelet registers a Node and renews its Ready condition. This does the same against the
emulator's object store, so `kubectl get nodes` and the launch's pre-flight (nodes Ready) see what a
real cluster shows. The condition turns Unknown when the heartbeat stops (as the node-lifecycle
controller marks a silent node), so a check on it is not a constant.
"""

from __future__ import annotations

import contextlib
import platform
import threading

from rehearsal.kubeapi.store import AlreadyExists, now_rfc3339

NODE_NAME = "rehearsal-node"
HEARTBEAT_SECONDS = 10.0


def _conditions(ready: bool, since: str) -> list[dict]:
    now = now_rfc3339()
    return [{"type": "Ready", "status": "True" if ready else "Unknown", "lastHeartbeatTime": now,
             "lastTransitionTime": since,
             "reason": "KubeletReady" if ready else "NodeStatusUnknown",
             "message": "rehearsal process runtime is posting ready status" if ready
             else "rehearsal process runtime stopped posting node status"}]


class NodeHeartbeat:
    def __init__(self, store, name: str = NODE_NAME, interval: float = HEARTBEAT_SECONDS):
        self.store, self.name, self.interval = store, name, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._since = now_rfc3339()

    def _status(self, ready: bool) -> dict:
        return {"conditions": _conditions(ready, self._since),
                "capacity": {"cpu": "2", "memory": "24Gi", "pods": "110"},
                "allocatable": {"cpu": "2", "memory": "24Gi", "pods": "110"},
                "nodeInfo": {"kubeletVersion": "rehearsal", "operatingSystem": "linux",
                             "architecture": platform.machine(), "containerRuntimeVersion": "rehearsal-process://1",
                             "kernelVersion": platform.release(), "osImage": "Debian", "machineID": "",
                             "systemUUID": "", "bootID": "", "kubeProxyVersion": ""}}

    def _post(self, ready: bool) -> None:
        node = self.store.get("nodes", None, self.name)
        node["status"] = self._status(ready)
        self.store.update("nodes", node, part="status")

    def start(self) -> NodeHeartbeat:
        with contextlib.suppress(AlreadyExists):
            self.store.create("nodes", {"apiVersion": "v1", "kind": "Node",
                                        "metadata": {"name": self.name,
                                                     "labels": {"kubernetes.io/hostname": self.name,
                                                                "kubernetes.io/os": "linux"}}})
        self._post(True)
        self._thread = threading.Thread(target=self._run, name="node-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._post(True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._post(False)

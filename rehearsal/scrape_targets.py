"""Keep Prometheus's file-based service discovery in step with the cluster's ready pods.

Stands in for Prometheus's kubernetes_sd_configs (role: pod), which would need a
real kube-apiserver watch with its own auth set-up; file_sd is the documented
generic mechanism and reacts within its refresh interval.
"""

from __future__ import annotations

import threading

from rehearsal.kube.process_runtime import parse_image

DEBOUNCE_SECONDS = 0.2
RESYNC_SECONDS = 2.0


def _ready(pod: dict) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def scrape_targets(pods: list[dict]) -> list[dict]:
    """file_sd target groups for every ready pod running a rehearsal app image."""
    groups = []
    for pod in pods:
        meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
        if meta.get("deletionTimestamp") or not status.get("podIP") or not _ready(pod):
            continue
        for container in spec.get("containers", []):
            parsed = parse_image(container.get("image", ""))
            if not parsed:
                continue
            app, version = parsed
            ports = container.get("ports") or [{"containerPort": 8080}]
            groups.append({
                "targets": [f"{status['podIP']}:{ports[0]['containerPort']}"],
                "labels": {"app": app, "version": version, "namespace": meta.get("namespace", ""),
                           "pod": meta.get("name", "")},
            })
    return sorted(groups, key=lambda g: g["targets"][0])


class ScrapeTargetSync:
    def __init__(self, store, prometheus):
        self.store = store
        self.prometheus = prometheus
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scrape-target-sync", daemon=True)
        self._last: list[dict] | None = None

    def start(self) -> None:
        self.store.subscribe(self._on_event)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def _on_event(self, event) -> None:
        if event.resource == "pods":
            self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(RESYNC_SECONDS)
            if self._stopping.is_set():
                return
            self._stopping.wait(DEBOUNCE_SECONDS)
            self._wake.clear()
            pods, _rv = self.store.list("pods")
            targets = scrape_targets(pods)
            if targets != self._last:
                self.prometheus.set_targets(targets)
                self._last = targets

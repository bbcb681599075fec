"""Manifests the conformance tests apply on the real control plane:
``from tests.stack.integration.kube_manifests import deployment``.

Pods run on the node agent's process runtime, which runs an image ``rehearsal/<app>:<version>`` as the
demo app (``python -m rehearsal.apps.demo_app``, APP_NAME vcci|cbam|csrd, any version tag); so the
images here are demo-app images, ready when the app answers ``/health/ready``.
"""

from __future__ import annotations

V1, V2, V3 = "rehearsal/vcci:1.0.0", "rehearsal/vcci:2.0.0", "rehearsal/vcci:3.0.0"
PORT = 8080  # the demo app listens on the container's first containerPort (the runtime sets PORT)


def web_container(image: str = V1, env: dict[str, str] | None = None) -> dict:
    """The ``web`` container: the demo app on port ``http``, ready once ``/health/ready`` answers 200."""
    return {
        "name": "web",
        "image": image,
        "ports": [{"name": "http", "containerPort": PORT}],
        # No lingering after SIGTERM (the demo app's preStop-like delay): rollouts and deletes stay quick.
        "env": [{"name": k, "value": v} for k, v in {"SHUTDOWN_DELAY_S": "0", **(env or {})}.items()],
        "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "http"}, "periodSeconds": 1},
    }


def deployment(name: str, image: str = V1, replicas: int = 1, namespace: str | None = None,
               env: dict[str, str] | None = None, **spec_extra) -> dict:
    """A Deployment of one ``web`` container, its pods labelled and selected by ``app: <name>``."""
    labels = {"app": name}
    metadata: dict = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = labels
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"terminationGracePeriodSeconds": 5, "containers": [web_container(image, env)]},
            },
            **spec_extra,
        },
    }


def job(name: str, exit_code: int = 0, namespace: str | None = None, message: str = "migration 1.0.0") -> dict:
    """A Job whose one pod prints ``<message> done`` and exits ``exit_code``; never retried (backoffLimit 0)."""
    metadata: dict = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": metadata,
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "migrate", "image": V1,
             "command": ["sh", "-c", f"echo '{message} done'; exit {int(exit_code)}"]}]}}},
    }

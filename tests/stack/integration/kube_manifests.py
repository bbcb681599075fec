"""Manifests the emulator conformance tests apply: ``from tests.stack.integration.kube_manifests import deployment``."""

from __future__ import annotations


def deployment(name: str, image: str = "rehearsal/web:1.0", replicas: int = 1, namespace: str | None = None,
               **spec_extra) -> dict:
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
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
            **spec_extra,
        },
    }

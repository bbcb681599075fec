"""A kubeconfig file that points kubectl and the kubernetes Python client at the emulator."""

from __future__ import annotations

import os
from pathlib import Path

import yaml


def write_kubeconfig(path, *, server_url: str, token: str, ca_path: str | None = None, namespace: str = "default",
                     context: str = "rehearsal") -> None:
    cluster: dict = {"server": server_url}
    if ca_path:
        cluster["certificate-authority"] = str(Path(ca_path).resolve())
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": f"{context}-admin", "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": f"{context}-admin",
                                                   "namespace": namespace}}],
        "current-context": context,
        "preferences": {},
    }
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the file holds a token
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)

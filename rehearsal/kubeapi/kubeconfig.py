"""A kubeconfig file that points kubectl and the kubernetes Python client at the emulator, and reading one back."""

from __future__ import annotations

import base64
import os
import ssl
import urllib.parse
from dataclasses import dataclass
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


@dataclass
class KubeconfigEndpoint:
    """Where and as whom a kubeconfig's first cluster and user connect."""

    host: str
    port: int
    token: str
    ssl_context: ssl.SSLContext


def read_kubeconfig(path: Path, workdir: Path) -> KubeconfigEndpoint:
    """The first cluster's address, CA and the first user's token; inline CA data is written to
    ``workdir``/ca.crt so that the SSL context can load it."""
    config = yaml.safe_load(Path(path).read_text())
    cluster = config["clusters"][0]["cluster"]
    url = urllib.parse.urlsplit(cluster["server"])
    if "certificate-authority-data" in cluster:
        ca = Path(workdir) / "ca.crt"
        ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    else:
        ca = Path(cluster["certificate-authority"])
    return KubeconfigEndpoint(url.hostname, url.port or 443, config["users"][0]["user"]["token"],
                              ssl.create_default_context(cafile=str(ca)))

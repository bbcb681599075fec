"""A real OCI image registry (Debian's docker-registry, the CNCF distribution server) for the rehearsal
stack, holding the images the stack can run.

    registry = ImageRegistry("/tmp/x/registry", 15000).start()   # waits for GET /v2/ to answer 200
    registry.publish("vcci", "v2")          # rehearsal/vcci:v2: config blob, one layer, an OCI manifest
    registry.tags("rehearsal/vcci")         # ["v1", "v2"]
    registry.stop()

The stack's pods do not pull from it (the process runtime runs ``rehearsal/<app>:<version>`` from
this checkout), so an image here carries what identifies the build, not a file system: a layer with
one ``image.json`` naming app and version, and an image config whose entrypoint is what the runtime
runs. What matters is that the registry answers the OCI distribution API as any registry does, so a
launch can ask whether a tag exists before it deploys it (a tag that is not there is a NO-GO).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import secrets
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from rehearsal.services.daemon import ServiceProcess

REGISTRY_BIN = os.environ.get("REHEARSAL_REGISTRY_BIN", "/usr/bin/docker-registry")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
PUBLISHED_VERSIONS = ("v1", "v2")  # the versions the rehearsal launches (v2 over v1)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(app: str, version: str) -> tuple[bytes, bytes]:
    """(uncompressed tar, gzip of it), byte-for-byte reproducible (fixed mtimes), so republishing is a no-op."""
    body = json.dumps({"app": app, "version": version, "entrypoint": "python -m rehearsal.apps.demo_app"},
                      sort_keys=True).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("image.json")
        info.size, info.mtime, info.mode = len(body), 0, 0o644
        tar.addfile(info, io.BytesIO(body))
    tar_bytes = buf.getvalue()
    return tar_bytes, gzip.compress(tar_bytes, mtime=0)


class RegistryError(RuntimeError):
    """A registry request failed; the message names the request and the answer."""


class ImageRegistry:
    def __init__(self, data_dir: str | os.PathLike, port: int, host: str = "127.0.0.1",
                 binary: str = REGISTRY_BIN):
        self.data_dir = Path(data_dir).resolve()
        self.host, self.port, self.binary = host, int(port), binary
        self._process: ServiceProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "config.yml"

    def write_config(self) -> None:
        config = {  # JSON is YAML; the schema is distribution's configuration.md
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.data_dir / "storage")},
                        "delete": {"enabled": True}, "redirect": {"disable": True}},
            "http": {"addr": f"{self.host}:{self.port}", "secret": secrets.token_hex(16)},
            "health": {"storagedriver": {"enabled": False}},
        }
        self.config_file.write_text(json.dumps(config, indent=2))

    # ---- the distribution API ----------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 10) -> tuple[int, dict, bytes]:
        url = path if path.startswith("http") else self.url + path
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers.items()), exc.read()

    def _push_blob(self, repository: str, data: bytes) -> str:
        digest = _digest(data)
        if self.request("HEAD", f"/v2/{repository}/blobs/{digest}")[0] == 200:
            return digest
        status, headers, answer = self.request("POST", f"/v2/{repository}/blobs/uploads/", b"")
        if status != 202:
            raise RegistryError(f"POST /v2/{repository}/blobs/uploads/ answered {status}: {answer[:200]!r}")
        location = urllib.parse.urljoin(self.url, headers["Location"])
        joiner = "&" if "?" in location else "?"
        status, _, answer = self.request("PUT", f"{location}{joiner}digest={digest}", data,
                                         {"Content-Type": "application/octet-stream"})
        if status != 201:
            raise RegistryError(f"PUT blob {digest} to {repository} answered {status}: {answer[:200]!r}")
        return digest

    def publish(self, app: str, version: str) -> str:
        """Push ``rehearsal/<app>:<version>`` (OCI manifest, config, one layer); returns the manifest digest."""
        repository = f"rehearsal/{app}"
        tar_bytes, layer = _layer(app, version)
        config = json.dumps({
            "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
            "config": {"Env": [f"APP_NAME={app}", f"APP_VERSION={version}"],
                       "Entrypoint": ["python", "-m", "rehearsal.apps.demo_app"], "ExposedPorts": {"8080/tcp": {}}},
            "rootfs": {"type": "layers", "diff_ids": [_digest(tar_bytes)]},
        }, sort_keys=True).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": self._push_blob(repository, config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": self._push_blob(repository, layer), "size": len(layer)}],
            "annotations": {"org.opencontainers.image.version": version,
                            "org.opencontainers.image.title": f"{app} (greenlang rehearsal)"},
        }, sort_keys=True).encode()
        status, headers, answer = self.request("PUT", f"/v2/{repository}/manifests/{version}", manifest,
                                               {"Content-Type": OCI_MANIFEST})
        if status != 201:
            raise RegistryError(f"PUT manifest {repository}:{version} answered {status}: {answer[:300]!r}")
        return headers.get("Docker-Content-Digest", _digest(manifest))

    def tags(self, repository: str) -> list[str]:
        status, _, body = self.request("GET", f"/v2/{repository}/tags/list")
        if status == 404:
            return []
        if status != 200:
            raise RegistryError(f"GET /v2/{repository}/tags/list answered {status}")
        return sorted(json.loads(body).get("tags") or [])

    def delete_tag(self, repository: str, tag: str) -> bool:
        """Delete the manifest a tag points to (so the tag is gone); False when it was not there."""
        status, headers, _ = self.request("HEAD", f"/v2/{repository}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
        if status == 404:
            return False
        digest = headers["Docker-Content-Digest"]
        status, _, answer = self.request("DELETE", f"/v2/{repository}/manifests/{digest}")
        if status != 202:
            raise RegistryError(f"DELETE {repository}@{digest} answered {status}: {answer[:200]!r}")
        return True

    # ---- lifecycle -----------------------------------------------------------------------------
    def _ready(self) -> bool:
        return self.request("GET", "/v2/", timeout=1)[0] == 200

    def start(self, timeout: float = 30) -> ImageRegistry:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        self._process = ServiceProcess("registry", [self.binary, "serve", str(self.config_file)], self.data_dir,
                                       markers=(str(self.config_file),))
        self._process.start(self._ready, timeout)
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()

"""Where tools/build-kube.sh put the control plane's binaries and CRDs (one cache per version)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSIONS_FILE = REPO_ROOT / "tools" / "kube-versions.env"
KUBE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")


class BinariesMissing(RuntimeError):
    """The control plane is not built on this machine yet."""


def pinned_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """KEY=value lines of tools/kube-versions.env (comments and blank lines skipped)."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def cache_root() -> Path:
    if os.environ.get("GREENLANG_KUBE_CACHE"):
        return Path(os.environ["GREENLANG_KUBE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "greenlang-launch"


@dataclass(frozen=True)
class KubeBinaries:
    kubernetes_version: str
    etcd_version: str
    kube_bin: Path
    etcd_bin: Path
    crd_dir: Path

    def path(self, name: str) -> str:
        return str((self.etcd_bin if name == "etcd" else self.kube_bin) / name)

    @property
    def kubectl(self) -> str:
        return self.path("kubectl")

    def missing(self) -> list[str]:
        names = [*KUBE_BINARIES, "etcd"]
        gone = [n for n in names if not os.access(self.path(n), os.X_OK)]
        if not (self.crd_dir / ".complete").exists():
            gone.append(f"CRDs ({self.crd_dir})")
        return gone

    def require(self) -> KubeBinaries:
        gone = self.missing()
        if gone:
            raise BinariesMissing(f"not built yet: {', '.join(gone)}; run `make setup` (tools/build-kube.sh)")
        return self


def locate() -> KubeBinaries:
    v = pinned_versions()
    root = cache_root()
    return KubeBinaries(
        kubernetes_version=v["KUBERNETES_VERSION"], etcd_version=v["ETCD_VERSION"],
        kube_bin=root / "kubernetes" / v["KUBERNETES_VERSION"] / "bin",
        etcd_bin=root / "etcd" / v["ETCD_VERSION"] / "bin",
        crd_dir=root / "crds" / f"gateway-api-{v['GATEWAY_API_VERSION']}+openshift-api-{v['OPENSHIFT_API_VERSION']}",
    )

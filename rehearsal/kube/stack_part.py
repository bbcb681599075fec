"""How ``python -m rehearsal up`` runs its Kubernetes control plane (rehearsal/kube).

Kept apart from rehearsal/stack.py, which calls in here at three points: starting the cluster, cleaning
up after a daemon that died (network namespaces, veths, the bridge, etcd's tmpfs dir), and which kubectl
to run (the one built with the control plane, when this stack runs it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path


def start_real_cluster(stack) -> None:
    """Start network, control plane, CRDs and node agent for ``stack`` (a rehearsal.stack.Stack)."""
    from rehearsal.kube.cluster import RealCluster

    cfg = stack.config
    # Host services pods reach on their own 127.0.0.1 (relayed into every pod's network namespace).
    relay = tuple(p for p in (cfg.postgres_port, cfg.redis_port, cfg.registry_port, cfg.webhook_port) if p)
    cluster = RealCluster(cfg.state_dir, port=cfg.kube_port, relay_ports=relay).start()
    stack._started("kube-apiserver", cluster.stop, url=cluster.url, kubeconfig=str(cluster.kubeconfig),
                   version=cluster.bin.kubernetes_version, pod_subnet=str(cluster.network.subnet),
                   bridge=cluster.network.bridge, startup_seconds=cluster.timings)
    stack.env["KUBECONFIG"] = str(cluster.kubeconfig)
    stack.env["K8S_AUTH_KUBECONFIG"] = str(cluster.kubeconfig)
    # The stack's own kubectl (same version as the server) first on the PATH the env file documents.
    stack.env["PATH"] = f"{cluster.bin.kube_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    stack.cluster = cluster
    stack._watch_scrape_targets()


def kubectl_for(state_dir: Path) -> str:
    """The kubectl to use against the stack in ``state_dir``."""
    if (Path(state_dir) / "kube" / "tokens.csv").exists():
        from rehearsal.kube.binaries import locate

        built = locate().kubectl
        if os.access(built, os.X_OK):
            return built
    return shutil.which("kubectl") or "/usr/bin/kubectl"


def remove_leftovers(state_dir: Path) -> list[str]:
    """Network namespaces, veths, the bridge and etcd's tmpfs data of the stack in ``state_dir``."""
    from rehearsal.kube.controlplane import TMPFS
    from rehearsal.kube.network import remove_leftovers as remove_network
    from rehearsal.kube.network import stack_tag

    tag = stack_tag(state_dir)
    removed = remove_network(tag)
    etcd = TMPFS / f"greenlang-etcd-{tag}"
    if etcd.exists():
        with contextlib.suppress(OSError):
            shutil.rmtree(etcd)
        removed.append(str(etcd))
    return removed

"""One emulated cluster: object store + HTTPS API server + controllers + kubelet runtime.

``Cluster(state_dir).start()`` leaves ``state_dir/kubeconfig`` pointing kubectl and kubernetes.core at
the API server (TLS with a CA generated under ``state_dir``, bearer token auth); ``stop()`` stops the
controllers, the server and everything the runtime started.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from rehearsal.kubeapi.controllers import ControllerManager
from rehearsal.kubeapi.runtime import PodRuntime, SimulatedRuntime
from rehearsal.kubeapi.store import ObjectStore

log = logging.getLogger(__name__)


class Cluster:
    def __init__(self, state_dir, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 runtime: PodRuntime | None = None, resync_period: float = 0.5):
        self.state_dir = Path(state_dir)
        self.host = host
        self.port = port
        self.token = token or secrets.token_urlsafe(32)
        self.runtime: PodRuntime = runtime if runtime is not None else SimulatedRuntime()
        self.resync_period = resync_period
        self.store: ObjectStore | None = None
        self.server = None
        self.manager: ControllerManager | None = None
        self.kubeconfig = self.state_dir / "kubeconfig"
        self.ca_path: Path | None = None

    @property
    def url(self) -> str:
        if self.server is None:
            raise RuntimeError("the cluster is not started")
        return self.server.url

    def start(self) -> None:
        from rehearsal.kubeapi.kubeconfig import write_kubeconfig
        from rehearsal.kubeapi.server import KubeAPIServer
        from rehearsal.kubeapi.tls import make_self_signed

        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = ObjectStore()
        ca, cert, key = make_self_signed(self.state_dir)
        self.ca_path = Path(ca)
        bind_store = getattr(self.runtime, "bind_store", None)
        if bind_store is not None:  # lets the runtime resolve env from Secrets/ConfigMaps
            bind_store(self.store)
        self.manager = ControllerManager(self.store, self.runtime, resync_period=self.resync_period)
        self.server = KubeAPIServer(self.store, host=self.host, port=self.port, token=self.token,
                                    tls_cert=cert, tls_key=key, pod_logs=self.runtime.logs)
        try:
            self.manager.start()
            self.server.start()
            write_kubeconfig(self.kubeconfig, server_url=self.server.url, token=self.token, ca_path=ca)
        except BaseException:
            self.stop()
            raise
        log.info("cluster up at %s (kubeconfig %s)", self.server.url, self.kubeconfig)

    def stop(self) -> None:
        """Stop accepting requests, then the controllers, then whatever the runtime runs. Safe to repeat."""
        if self.server is not None:
            try:
                self.server.stop()
            except Exception:
                log.exception("stopping the API server failed")
        if self.manager is not None:
            self.manager.stop()
        try:
            self.runtime.shutdown()
        except Exception:
            log.exception("stopping the pod runtime failed")

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

"""Controllers of the Kubernetes API emulator (what kube-controller-manager and the kubelet do).

``ControllerManager(store, runtime).start()`` runs them all on background threads; ``stop()`` joins them.
"""

from rehearsal.kubeapi.controllers.manager import Controller, ControllerManager, WorkQueue

__all__ = ["Controller", "ControllerManager", "WorkQueue"]

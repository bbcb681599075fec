"""The resource types the emulator serves: one table, everything else is derived from it.

To add a resource, add one ``ResourceType`` line to ``RESOURCES`` (and, if it is not in the
Kubernetes v1.32 schema bundle, a schema in ``schema_extra.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUB_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    definition: str  # schema definition name (io.k8s.api.apps.v1.Deployment)
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # "status", "scale", "log"
    categories: tuple[str, ...] = ()
    builtin: bool = True  # False: served like a CRD (no strategic merge patch)
    verbs: tuple[str, ...] = ALL_VERBS
    name_rule: str = "subdomain"  # subdomain | label | dns1035 | path

    @property
    def key(self) -> str:
        """The store key: "resource.group" (core resources: the plural alone)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified(self) -> str:
        """How kube names the type in messages: ``deployments.apps``, ``pods``."""
        return self.key

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def main_part(self) -> str:
        """The store.update part a main-resource write uses: status is separate if it is a subresource."""
        return "main" if "status" in self.subresources else "all"

    @property
    def base_path(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


GATEWAY = "gateway.networking.k8s.io"
ROUTE = "route.openshift.io"

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "Namespace", False, "io.k8s.api.core.v1.Namespace", ("ns",),
                 ("status",), name_rule="label",
                 verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    ResourceType("", "v1", "pods", "Pod", True, "io.k8s.api.core.v1.Pod", ("po",), ("status", "log"), ("all",)),
    ResourceType("", "v1", "services", "Service", True, "io.k8s.api.core.v1.Service", ("svc",), ("status",),
                 ("all",), name_rule="dns1035"),
    ResourceType("", "v1", "endpoints", "Endpoints", True, "io.k8s.api.core.v1.Endpoints", ("ep",)),
    ResourceType("", "v1", "configmaps", "ConfigMap", True, "io.k8s.api.core.v1.ConfigMap", ("cm",)),
    ResourceType("", "v1", "secrets", "Secret", True, "io.k8s.api.core.v1.Secret"),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", True, "io.k8s.api.core.v1.ServiceAccount", ("sa",)),
    ResourceType("", "v1", "events", "Event", True, "io.k8s.api.core.v1.Event", ("ev",)),
    ResourceType("", "v1", "nodes", "Node", False, "io.k8s.api.core.v1.Node", ("no",), ("status",)),
    ResourceType("", "v1", "resourcequotas", "ResourceQuota", True, "io.k8s.api.core.v1.ResourceQuota", ("quota",),
                 ("status",)),
    ResourceType("apps", "v1", "deployments", "Deployment", True, "io.k8s.api.apps.v1.Deployment", ("deploy",),
                 ("status", "scale"), ("all",)),
    ResourceType("apps", "v1", "replicasets", "ReplicaSet", True, "io.k8s.api.apps.v1.ReplicaSet", ("rs",),
                 ("status", "scale"), ("all",)),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True, "io.k8s.api.coordination.v1.Lease"),
    ResourceType("batch", "v1", "jobs", "Job", True, "io.k8s.api.batch.v1.Job", (), ("status",), ("all",)),
    ResourceType("networking.k8s.io", "v1", "ingresses", "Ingress", True, "io.k8s.api.networking.v1.Ingress",
                 ("ing",), ("status",)),
    ResourceType(GATEWAY, "v1", "gateways", "Gateway", True, "io.k8s.networking.gateway.v1.Gateway", ("gtw",),
                 ("status",), ("gateway-api",), builtin=False),
    ResourceType(GATEWAY, "v1", "httproutes", "HTTPRoute", True, "io.k8s.networking.gateway.v1.HTTPRoute", (),
                 ("status",), ("gateway-api",), builtin=False),
    ResourceType(ROUTE, "v1", "routes", "Route", True, "com.github.openshift.api.route.v1.Route", (),
                 ("status",), builtin=False),
)

# Kinds that appear only as subresource bodies.
SCALE_DEFINITION = "io.k8s.api.autoscaling.v1.Scale"


@dataclass
class Registry:
    types: tuple[ResourceType, ...] = RESOURCES
    _by_path: dict = field(default_factory=dict, init=False)
    _by_key: dict = field(default_factory=dict, init=False)
    _by_kind: dict = field(default_factory=dict, init=False)

    def __post_init__(self):
        for rt in self.types:
            self._by_path[(rt.group, rt.version, rt.plural)] = rt
            self._by_key[rt.key] = rt
            self._by_kind[(rt.api_version, rt.kind)] = rt

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_key(self, key: str) -> ResourceType | None:
        return self._by_key.get(key)

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((api_version, kind))

    def group_versions(self) -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []
        for rt in self.types:
            if (rt.group, rt.version) not in seen:
                seen.append((rt.group, rt.version))
        return seen

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self.types if rt.group == group and rt.version == version]


REGISTRY = Registry()

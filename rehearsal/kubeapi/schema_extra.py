"""Schemas for the types the Kubernetes schema bundle lacks: Gateway API v1 and OpenShift Route v1.

Written in the bundle's own JSON-schema dialect (``$defs``, nullable ``type`` lists) so the same
walker validates them and the same converter serves them as OpenAPI. They describe the fields a
launch uses; nested parts nobody here inspects are left free-form
(``x-kubernetes-preserve-unknown-fields``), as a CRD with a partial schema would be.
"""

from __future__ import annotations

_META = {"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
         "description": "Standard object's metadata."}
_LIST_META = {"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"}
_FREE = {"type": ["object", "null"], "x-kubernetes-preserve-unknown-fields": True}


def _s(description: str, type_: str = "string", **extra) -> dict:
    return {"description": description, "type": [type_, "null"], **extra}


def _obj(description: str, props: dict, required: list | None = None, **extra) -> dict:
    node = {"description": description, "type": ["object", "null"], "properties": props, **extra}
    if required:
        node["required"] = required
    return node


def _arr(description: str, items: dict, **extra) -> dict:
    return {"description": description, "type": ["array", "null"], "items": items, **extra}


def _kind(group: str, version: str, kind: str, description: str, spec: dict, status: dict) -> dict:
    gv = f"{group}/{version}"
    return {
        "description": description,
        "type": ["object", "null"],
        "properties": {
            "apiVersion": _s("APIVersion defines the versioned schema of this representation of an object."),
            "kind": _s("Kind is a string value representing the REST resource this object represents."),
            "metadata": _META,
            "spec": spec,
            "status": status,
        },
        "required": ["spec"],
        "x-kubernetes-group-version-kind": [{"group": group, "version": version, "kind": kind}],
        "x-emulator-api-version": gv,
    }


def _list(group: str, version: str, kind: str, item_ref: str) -> dict:
    return {
        "description": f"{kind}List is a list of {kind}.",
        "type": ["object", "null"],
        "properties": {
            "apiVersion": _s("APIVersion of the list."),
            "kind": _s("Kind of the list."),
            "metadata": _LIST_META,
            "items": {"type": "array", "items": {"$ref": f"#/$defs/{item_ref}"}},
        },
        "required": ["items"],
        "x-kubernetes-group-version-kind": [{"group": group, "version": version, "kind": kind + "List"}],
    }


_GW = "gateway.networking.k8s.io"
_GW_PREFIX = "io.k8s.networking.gateway.v1."

_PARENT_REF = _obj(
    "ParentReference identifies an API object (usually a Gateway) that can be considered a parent of this "
    "resource (usually a route).",
    {
        "group": _s("Group is the group of the referent.", default=_GW),
        "kind": _s("Kind is kind of the referent.", default="Gateway"),
        "namespace": _s("Namespace is the namespace of the referent."),
        "name": _s("Name is the name of the referent."),
        "sectionName": _s("SectionName is the name of a section within the target resource (a listener name)."),
        "port": _s("Port is the network port this Route targets.", "integer", format="int32"),
    },
    ["name"],
)

_BACKEND_REF = _obj(
    "HTTPBackendRef defines how a HTTPRoute forwards a HTTP request: to the Service `name` on `port`, "
    "receiving `weight` / (sum of the rule's weights) of the rule's requests.",
    {
        "group": _s("Group is the group of the referent; \"\" is the core API group.", default=""),
        "kind": _s("Kind is the Kubernetes resource kind of the referent.", default="Service"),
        "name": _s("Name is the name of the referent (the Service)."),
        "namespace": _s("Namespace is the namespace of the backend; defaults to the route's namespace."),
        "port": _s("Port specifies the destination port number to use for this resource. Required when the "
                   "referent is a Kubernetes Service.", "integer", format="int32"),
        "weight": _s("Weight specifies the proportion of requests forwarded to the referenced backend: "
                     "weight / (sum of all weights in this rule). 0 means no traffic. Defaults to 1.",
                     "integer", format="int32", default=1),
        "filters": _arr("Filters defined at this level are executed if and only if the request is being "
                        "forwarded to the backend defined here.", _FREE),
    },
    ["name"],
)

_MATCH = _obj(
    "HTTPRouteMatch defines the predicate used to match requests to a given action.",
    {
        "path": _obj("Path specifies a HTTP request path matcher.", {
            "type": _s("Type specifies how to match against the path Value.", default="PathPrefix",
                       enum=["Exact", "PathPrefix", "RegularExpression"]),
            "value": _s("Value of the HTTP path to match against.", default="/"),
        }),
        "headers": _arr("Headers specifies HTTP request header matchers.", _FREE),
        "queryParams": _arr("QueryParams specifies HTTP query parameter matchers.", _FREE),
        "method": _s("Method specifies HTTP method matcher."),
    },
)

_RULE = _obj(
    "HTTPRouteRule defines semantics for matching an HTTP request based on conditions (matches), processing "
    "it (filters), and forwarding the request to an API object (backendRefs).",
    {
        "name": _s("Name is the name of the route rule."),
        "matches": _arr("Matches define conditions used for matching the rule against incoming HTTP requests.",
                        _MATCH),
        "filters": _arr("Filters define the filters that are applied to requests that match this rule.", _FREE),
        "backendRefs": _arr("BackendRefs defines the backend(s) where matching requests should be sent, each "
                            "with a weight.", _BACKEND_REF),
        "timeouts": _FREE,
        "sessionPersistence": _FREE,
        "retry": _FREE,
    },
)

_CONDITIONS = _arr("Conditions describe the current conditions.",
                   {"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.Condition"})

_ROUTE_TARGET = _obj(
    "RouteTargetReference specifies the target that resolve into endpoints.",
    {
        "kind": _s("The kind of target that the route is referring to. Currently, only 'Service' is allowed",
                   default="Service"),
        "name": _s("name of the service/target that is being referred to. e.g. name of the service"),
        "weight": _s("weight as an integer between 0 and 256, default 100, that specifies the target's relative "
                     "weight against other target reference objects. 0 suppresses requests to this backend.",
                     "integer", format="int32", default=100),
    },
    ["kind", "name"],
)

EXTRA_DEFINITIONS: dict[str, dict] = {
    _GW_PREFIX + "Gateway": _kind(
        _GW, "v1", "Gateway",
        "Gateway represents an instance of a service-traffic handling infrastructure by binding Listeners to "
        "a set of IP addresses.",
        _obj("Spec defines the desired state of Gateway.", {
            "gatewayClassName": _s("GatewayClassName used for this Gateway."),
            "listeners": _arr("Listeners associated with this Gateway.", _obj("Listener", {
                "name": _s("Name is the name of the Listener."),
                "hostname": _s("Hostname specifies the virtual hostname to match for protocol types that define "
                               "this concept."),
                "port": _s("Port is the network port.", "integer", format="int32"),
                "protocol": _s("Protocol specifies the network protocol this listener expects to receive."),
                "tls": _FREE,
                "allowedRoutes": _FREE,
            }, ["name", "port", "protocol"])),
            "addresses": _arr("Addresses requested for this Gateway.", _FREE),
            "infrastructure": _FREE,
        }, ["gatewayClassName", "listeners"]),
        _obj("Status defines the current state of Gateway.", {
            "addresses": _arr("Addresses lists the network addresses that have been bound to the Gateway.", _FREE),
            "conditions": _CONDITIONS,
            "listeners": _arr("Listeners provide status for each unique listener port defined in the Spec.",
                              _FREE),
        }),
    ),
    _GW_PREFIX + "GatewayList": _list(_GW, "v1", "Gateway", _GW_PREFIX + "Gateway"),
    _GW_PREFIX + "HTTPRoute": _kind(
        _GW, "v1", "HTTPRoute",
        "HTTPRoute provides a way to route HTTP requests. Traffic is split between the backendRefs of a rule "
        "by their weights.",
        _obj("Spec defines the desired state of HTTPRoute.", {
            "parentRefs": _arr("ParentRefs references the resources (usually Gateways) that a Route wants to be "
                               "attached to.", _PARENT_REF),
            "hostnames": _arr("Hostnames defines a set of hostnames that should match against the HTTP Host "
                              "header to select a HTTPRoute used to process the request.",
                              {"type": ["string", "null"]}),
            "rules": _arr("Rules are a list of HTTP matchers, filters and actions.", _RULE),
        }),
        _obj("Status defines the current state of HTTPRoute.", {
            "parents": _arr("Parents is a list of parent resources (usually Gateways) that are associated with "
                            "the route, and the status of the route with respect to each parent.", _FREE),
        }),
    ),
    _GW_PREFIX + "HTTPRouteList": _list(_GW, "v1", "HTTPRoute", _GW_PREFIX + "HTTPRoute"),
    "com.github.openshift.api.route.v1.Route": _kind(
        "route.openshift.io", "v1", "Route",
        "A route allows developers to expose services through an HTTP(S) aware load balancing and proxy layer "
        "via a public DNS entry. Traffic is split between `to` and `alternateBackends` by their weights.",
        _obj("spec is the desired state of the route", {
            "host": _s("host is an alias/DNS that points to the service."),
            "subdomain": _s("subdomain is a DNS subdomain that is requested within the ingress controller's "
                            "domain."),
            "path": _s("path that the router watches for, to route traffic for to the service."),
            "to": _ROUTE_TARGET,
            "alternateBackends": _arr("alternateBackends allows up to 3 additional backends to be assigned to "
                                      "the route.", _ROUTE_TARGET),
            "port": _obj("If specified, the port to be used by the router.", {
                "targetPort": {"$ref": "#/$defs/io.k8s.apimachinery.pkg.util.intstr.IntOrString",
                               "description": "The target port on pods selected by the service this route "
                                              "points to."},
            }, ["targetPort"]),
            "tls": _obj("The tls field provides the ability to configure certificates and termination for the "
                        "route.", {
                "termination": _s("termination indicates termination type.", enum=["edge", "passthrough",
                                                                                    "reencrypt"]),
                "insecureEdgeTerminationPolicy": _s("insecureEdgeTerminationPolicy indicates the desired behavior "
                                                    "for insecure connections to a route."),
                "certificate": _s("certificate provides certificate contents."),
                "key": _s("key provides key file contents"),
                "caCertificate": _s("caCertificate provides the cert authority certificate contents"),
                "destinationCACertificate": _s("destinationCACertificate provides the contents of the ca "
                                               "certificate of the final destination."),
                "externalCertificate": _FREE,
            }, ["termination"]),
            "wildcardPolicy": _s("Wildcard policy if any for the route.", default="None"),
            "httpHeaders": _FREE,
        }, ["to"]),
        _obj("status is the current state of the route", {
            "ingress": _arr("ingress describes the places where the route may be exposed.", _FREE),
        }),
    ),
    "com.github.openshift.api.route.v1.RouteList": _list("route.openshift.io", "v1", "Route",
                                                         "com.github.openshift.api.route.v1.Route"),
}

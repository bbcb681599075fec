"""The Kubernetes v1.32 object schemas: decoding checks, patch metadata and the OpenAPI documents.

The schemas come from the ``kubernetes-validate`` package (Kubernetes' own OpenAPI definitions,
re-expressed as JSON schema with the ``x-kubernetes-patch-*`` and group-version-kind extensions),
plus ``schema_extra`` for Gateway API and OpenShift Route. They are loaded once, lazily.

Decoding follows kube-apiserver's JSON decoder: JSON ``null`` means "unset", a value of the wrong
type is a 400 BadRequest, unknown fields are dropped (reported as warnings, or as a 400 with
``fieldValidation=Strict``). https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from functools import cache
from importlib import resources as importlib_resources

from .schema_extra import EXTRA_DEFINITIONS

BUNDLE_VERSION = "v1.32.0-local"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_REF_PREFIX = "#/$defs/"

_lock = threading.Lock()
_definitions: dict | None = None


def definitions() -> dict:
    """All schema definitions by name (loaded on first use)."""
    global _definitions
    if _definitions is None:
        with _lock:
            if _definitions is None:
                path = importlib_resources.files("kubernetes_validate").joinpath(
                    "kubernetes-json-schema", BUNDLE_VERSION, "_definitions.json")
                defs = json.loads(path.read_text())["$defs"]
                defs.update(copy.deepcopy(EXTRA_DEFINITIONS))
                _definitions = defs
    return _definitions


def ref_name(node: dict) -> str | None:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
        return ref[len(_REF_PREFIX):]
    return None


def resolve(node: dict) -> dict:
    """Follow ``$ref`` to the definition it names."""
    seen = 0
    while "$ref" in node and seen < 20:
        node = definitions().get(ref_name(node) or "", {})
        seen += 1
    return node


def node_type(node: dict) -> str | None:
    t = node.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    return t


# -- decoding ---------------------------------------------------------------------
class DecodeResult:
    def __init__(self):
        self.unknown: list[str] = []  # paths like spec.template.spec.containers[0].foo
        self.type_errors: list[str] = []
        self.missing: list[str] = []  # required properties absent (paths), as CRD validation reports them


_GO_TYPES = {"integer": "int64", "number": "float64", "string": "string", "boolean": "bool",
             "array": "array", "object": "object"}
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "bool", int: "number", float: "number"}


def decode(obj: dict, definition: str) -> tuple[dict, DecodeResult]:
    """Check ``obj`` against a definition; returns (obj with nulls and unknown fields removed, findings)."""
    result = DecodeResult()
    node = {"$ref": _REF_PREFIX + definition}
    cleaned = _walk(obj, node, "", definition, result)
    return (cleaned if isinstance(cleaned, dict) else {}), result


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_error(result: DecodeResult, value, want: str, path: str, owner: str) -> None:
    got = _JSON_TYPES.get(type(value), "value")
    go_owner = owner.rsplit(".", 1)[-1]
    result.type_errors.append(
        f"json: cannot unmarshal {got} into Go struct field {go_owner}.{path} of type {want}")


_DROP = object()


def _walk(value, node: dict, path: str, owner: str, result: DecodeResult):
    if value is None:
        return _DROP
    name = ref_name(node)
    if name == INT_OR_STRING:
        if isinstance(value, bool) or not isinstance(value, int | str):
            _type_error(result, value, "intstr.IntOrString", path, owner)
        return value
    if name == QUANTITY:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            _type_error(result, value, "resource.Quantity", path, owner)
            return value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value) if not isinstance(value, str) else value
    if name:
        owner = name
    node = resolve(node)
    t = node_type(node)
    if t == "object" or (t is None and "properties" in node):
        if not isinstance(value, dict):
            _type_error(result, value, "map" if "additionalProperties" in node else "struct", path, owner)
            return value
        props = node.get("properties")
        addl = node.get("additionalProperties")
        preserve = node.get("x-kubernetes-preserve-unknown-fields")
        if props is None and addl is None:
            return value  # free-form (RawExtension, FieldsV1, preserve-unknown-fields)
        out = {}
        for key, sub in value.items():
            if props is not None and key in props:
                r = _walk(sub, props[key], _join(path, key), owner, result)
            elif isinstance(addl, dict):
                r = _walk(sub, addl, _join(path, key), owner, result)
            elif preserve:
                r = sub
            else:
                result.unknown.append(_join(path, key))
                continue
            if r is not _DROP:
                out[key] = r
        for key in node.get("required") or ():
            if key not in out:
                result.missing.append(_join(path, key))
        return out
    if t == "array":
        if not isinstance(value, list):
            _type_error(result, value, "[]" + _GO_TYPES.get(node_type(resolve(node.get("items", {}))) or "", ""),
                        path, owner)
            return value
        items = node.get("items") or {}
        out = []
        for i, sub in enumerate(value):
            r = _walk(sub, items, f"{path}[{i}]", owner, result)
            if r is not _DROP:
                out.append(r)
        return out
    if t == "string":
        if not isinstance(value, str):
            _type_error(result, value, "string", path, owner)
        return value
    if t == "integer":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            _type_error(result, value, "int32" if node.get("format") == "int32" else "int64", path, owner)
        return value
    if t == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            _type_error(result, value, "float64", path, owner)
        return value
    if t == "boolean":
        if not isinstance(value, bool):
            _type_error(result, value, "bool", path, owner)
        return value
    return value


# -- patch metadata (strategic merge) -------------------------------------------------
class PatchMeta:
    """Navigates a schema for strategic merge patch: which lists merge, and by which key."""

    __slots__ = ("node",)

    def __init__(self, node: dict | None):
        self.node = resolve(node) if node else None

    @classmethod
    def for_definition(cls, definition: str) -> PatchMeta:
        return cls({"$ref": _REF_PREFIX + definition})

    def _prop(self, key: str) -> dict | None:
        if not self.node:
            return None
        props = self.node.get("properties")
        if props and key in props:
            return props[key]
        addl = self.node.get("additionalProperties")
        if isinstance(addl, dict):
            return addl
        return None

    def field(self, key: str) -> PatchMeta:
        prop = self._prop(key)
        return PatchMeta(prop)

    def items(self, key: str) -> PatchMeta:
        prop = self._prop(key)
        if not prop:
            return PatchMeta(None)
        node = resolve(prop)
        return PatchMeta(node.get("items"))

    def list_strategy(self, key: str) -> tuple[list[str], str | None]:
        """(strategies, merge key) of field ``key``: (["merge"], "name") for containers."""
        prop = self._prop(key) or {}
        strategy = prop.get("x-kubernetes-patch-strategy", "")
        return [s for s in strategy.split(",") if s], prop.get("x-kubernetes-patch-merge-key")

    def list_map_keys(self, key: str) -> list[str]:
        prop = self._prop(key) or {}
        if prop.get("x-kubernetes-list-type") == "map":
            return list(prop.get("x-kubernetes-list-map-keys") or [])
        return []

    def list_type(self, key: str) -> str | None:
        prop = self._prop(key) or {}
        return prop.get("x-kubernetes-list-type")

    def map_type(self) -> str | None:
        return self.node.get("x-kubernetes-map-type") if self.node else None

    def is_free_form(self) -> bool:
        if not self.node:
            return True
        return "properties" not in self.node and "additionalProperties" not in self.node


def default_value(definition: str, path: list[str]):
    """The ``default`` a schema declares at a property path (used for CRD-style defaults)."""
    node = resolve({"$ref": _REF_PREFIX + definition})
    for key in path:
        node = resolve((node.get("properties") or {}).get(key) or {})
    return node.get("default")


# -- OpenAPI ---------------------------------------------------------------------------------
def _convert(node, ref_base: str, v3: bool):
    """Bundle JSON schema → OpenAPI schema object (v2 ``definitions`` or v3 ``components.schemas``)."""
    if isinstance(node, list):
        return [_convert(x, ref_base, v3) for x in node]
    if not isinstance(node, dict):
        return node
    name = ref_name(node)
    out: dict = {}
    for key, value in node.items():
        if key == "$ref":
            continue
        if key == "type":
            t = node_type(node)
            if t:
                out["type"] = t
            continue
        if key == "oneOf":
            continue
        if key in ("properties",):
            out[key] = {k: _convert(v, ref_base, v3) for k, v in value.items()}
            continue
        if key in ("items", "additionalProperties"):
            out[key] = _convert(value, ref_base, v3)
            continue
        if key == "x-emulator-api-version":
            continue
        out[key] = value
    if name:
        ref = {"$ref": ref_base + name}
        if out and v3:
            out["allOf"] = [ref]
        else:
            out.update(ref)
    return out


def _convert_definition(name: str, node: dict, ref_base: str, v3: bool) -> dict:
    if name == INT_OR_STRING:
        return {"description": "IntOrString is a type that can hold an int32 or a string.",
                "type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": True}
    if name == QUANTITY:
        return {"description": node.get("description", ""), "type": "string"}
    out = _convert(node, ref_base, v3)
    props = out.get("properties") or {}
    for key in ("apiVersion", "kind"):
        if key in props:
            props[key].pop("enum", None)
    return out


def _refs(node, acc: set[str]) -> None:
    if isinstance(node, dict):
        name = ref_name(node)
        if name and name not in acc:
            acc.add(name)
            _refs(definitions().get(name, {}), acc)
        for v in node.values():
            _refs(v, acc)
    elif isinstance(node, list):
        for v in node:
            _refs(v, acc)


def closure(names: list[str]) -> list[str]:
    acc: set[str] = set()
    for n in names:
        if n in definitions():
            acc.add(n)
            _refs(definitions()[n], acc)
    return sorted(acc)


_COMMON = [
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList",
]

_PATCH_TYPES = ("application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json")


def _param(name: str, description: str, schema_type: str = "string", unique: bool = True) -> dict:
    return {"name": name, "in": "query", "description": description, "schema": {"type": schema_type},
            **({"uniqueItems": True} if unique else {})}


_Q = {
    "dryRun": _param("dryRun", "When present, indicates that modifications should not be persisted. Valid "
                               "values are: - All: all dry run stages will be processed"),
    "fieldManager": _param("fieldManager", "fieldManager is a name associated with the actor or entity that is "
                                           "making these changes."),
    "fieldValidation": _param("fieldValidation", "fieldValidation instructs the server on how to handle objects "
                                                 "in the request containing unknown or duplicate fields. Valid "
                                                 "values are: Ignore, Warn, Strict."),
    "force": _param("force", "Force is going to \"force\" Apply requests.", "boolean"),
    "pretty": _param("pretty", "If 'true', then the output is pretty printed."),
    "labelSelector": _param("labelSelector", "A selector to restrict the list of returned objects by their "
                                             "labels."),
    "fieldSelector": _param("fieldSelector", "A selector to restrict the list of returned objects by their "
                                             "fields."),
    "watch": _param("watch", "Watch for changes to the described resources.", "boolean"),
    "resourceVersion": _param("resourceVersion", "resourceVersion sets a constraint on what resource versions a "
                                                 "request may be served from."),
    "limit": _param("limit", "limit is a maximum number of responses to return for a list call.", "integer"),
    "continue": _param("continue", "The continue option should be set when retrieving more results from the "
                                   "server."),
    "timeoutSeconds": _param("timeoutSeconds", "Timeout for the list/watch call.", "integer"),
    "gracePeriodSeconds": _param("gracePeriodSeconds", "The duration in seconds before the object should be "
                                                       "deleted.", "integer"),
    "propagationPolicy": _param("propagationPolicy", "Whether and how garbage collection will be performed."),
}


def _op(rt, action: str, op_id: str, params: list[str], response: str, body: str | None = None,
        patch_types: tuple[str, ...] = ()) -> dict:
    op = {
        "description": f"{action} {rt.kind}",
        "operationId": op_id,
        "parameters": [_Q[p] for p in params],
        "responses": {"200": {"description": "OK", "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/" + response}}}},
            "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
    }
    if body:
        op["requestBody"] = {"content": {"*/*": {"schema": {"$ref": "#/components/schemas/" + body}}},
                             "required": True}
    if patch_types:
        op["requestBody"] = {"content": {t: {"schema": {"$ref": "#/components/schemas/"
                                                        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}}
                                         for t in patch_types}, "required": True}
    return op


def _paths_for(rt) -> dict:
    """The OpenAPI path items kube-apiserver publishes for one resource type."""
    base = rt.base_path
    coll = f"{base}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{base}/{rt.plural}"
    item = coll + "/{name}"
    tag = (rt.group or "core").replace(".", "_") + "_" + rt.version
    cap = rt.kind
    ns = "Namespaced" if rt.namespaced else ""
    list_def = rt.definition + "List"
    write_q = ["dryRun", "fieldManager", "fieldValidation", "pretty"]
    patch_types = _PATCH_TYPES if rt.builtin else tuple(t for t in _PATCH_TYPES if "strategic" not in t)
    path_params = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
    ns_params = ([{"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}}]
                 if rt.namespaced else [])
    paths = {
        coll: {
            "get": _op(rt, "list", f"list{tag}{ns}{cap}", ["labelSelector", "fieldSelector", "limit", "continue",
                                                             "resourceVersion", "timeoutSeconds", "watch"],
                       list_def),
            "post": _op(rt, "post", f"create{tag}{ns}{cap}", write_q, rt.definition, body=rt.definition),
            "parameters": ns_params,
        },
        item: {
            "get": _op(rt, "get", f"read{tag}{ns}{cap}", ["pretty"], rt.definition),
            "put": _op(rt, "put", f"replace{tag}{ns}{cap}", write_q, rt.definition, body=rt.definition),
            "patch": _op(rt, "patch", f"patch{tag}{ns}{cap}", write_q + ["force"], rt.definition,
                         patch_types=patch_types),
            "delete": _op(rt, "delete", f"delete{tag}{ns}{cap}", ["dryRun", "gracePeriodSeconds",
                                                                   "propagationPolicy"],
                          "io.k8s.apimachinery.pkg.apis.meta.v1.Status"),
            "parameters": path_params + ns_params,
        },
    }
    if "deletecollection" in rt.verbs:
        paths[coll]["delete"] = _op(rt, "deletecollection", f"deletecollection{tag}{ns}{cap}",
                                    ["labelSelector", "fieldSelector", "dryRun"],
                                    "io.k8s.apimachinery.pkg.apis.meta.v1.Status")
    if rt.namespaced:
        paths[f"{base}/{rt.plural}"] = {
            "get": _op(rt, "list", f"list{tag}{cap}ForAllNamespaces", ["labelSelector", "fieldSelector",
                                                                        "limit", "watch"], list_def)}
    for sub in rt.subresources:
        if sub == "log":
            paths[item + "/log"] = {"get": _op(rt, "get", f"read{tag}{ns}{cap}Log", ["pretty"], rt.definition),
                                    "parameters": path_params + ns_params}
            continue
        response = "io.k8s.api.autoscaling.v1.Scale" if sub == "scale" else rt.definition
        suffix = sub.capitalize()
        paths[f"{item}/{sub}"] = {
            "get": _op(rt, "get", f"read{tag}{ns}{cap}{suffix}", ["pretty"], response),
            "put": _op(rt, "put", f"replace{tag}{ns}{cap}{suffix}", write_q, response, body=response),
            "patch": _op(rt, "patch", f"patch{tag}{ns}{cap}{suffix}", write_q + ["force"], response,
                         patch_types=patch_types),
            "parameters": path_params + ns_params,
        }
    return paths


def _schemas_for(names: list[str], ref_base: str, v3: bool) -> dict:
    defs = definitions()
    return {n: _convert_definition(n, defs[n], ref_base, v3) for n in closure(names)}


@cache
def openapi_v3(group: str, version: str) -> bytes:
    """The OpenAPI v3 document of one group-version, as kube-apiserver serves at /openapi/v3/<gv path>."""
    from .resources import REGISTRY, SCALE_DEFINITION

    types = REGISTRY.in_group_version(group, version)
    names = list(_COMMON)
    paths: dict = {}
    for rt in types:
        names += [rt.definition, rt.definition + "List"]
        if "scale" in rt.subresources:
            names.append(SCALE_DEFINITION)
        paths.update(_paths_for(rt))
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": _schemas_for(names, "#/components/schemas/", True)},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def openapi_v3_hash(group: str, version: str) -> str:
    return hashlib.sha512(openapi_v3(group, version)).hexdigest().upper()


@cache
def openapi_v2() -> bytes:
    """A Swagger 2.0 document with every served type (for clients that still read /openapi/v2)."""
    from .resources import REGISTRY, SCALE_DEFINITION

    names = list(_COMMON) + [SCALE_DEFINITION]
    paths: dict = {}
    for rt in REGISTRY.types:
        names += [rt.definition, rt.definition + "List"]
        for p, item in _paths_for(rt).items():
            paths[p] = _v2_path(item)
    doc = {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "definitions": _schemas_for(names, "#/definitions/", False),
        "securityDefinitions": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}},
        "security": [{"BearerToken": []}],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _v2_path(item: dict) -> dict:
    out = {}
    for method, op in item.items():
        if method == "parameters":
            out[method] = [{"name": p["name"], "in": p["in"], "required": True, "type": "string"} for p in op]
            continue
        op2 = {k: v for k, v in op.items() if k not in ("requestBody", "responses", "parameters")}
        op2["parameters"] = [{"name": p["name"], "in": "query", "type": p["schema"]["type"],
                              "description": p["description"], "uniqueItems": True} for p in op["parameters"]]
        content = (op.get("requestBody") or {}).get("content") or {}
        if content:
            op2["consumes"] = [c for c in content if c != "*/*"] or ["*/*"]
            ref = next(iter(content.values()))["schema"]["$ref"].replace("#/components/schemas/", "#/definitions/")
            op2["parameters"].append({"name": "body", "in": "body", "required": True, "schema": {"$ref": ref}})
        resp = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        op2["produces"] = ["application/json", "application/yaml"]
        op2["responses"] = {"200": {"description": "OK", "schema": {
            "$ref": resp.replace("#/components/schemas/", "#/definitions/")}}, "401": {"description": "Unauthorized"}}
        out[method] = op2
    return out


def openapi_v3_root() -> dict:
    from .resources import REGISTRY

    paths = {}
    for group, version in REGISTRY.group_versions():
        key = f"apis/{group}/{version}" if group else f"api/{version}"
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={openapi_v3_hash(group, version)}"}
    return {"paths": paths}

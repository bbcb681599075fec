"""The verbs of the Kubernetes API over the object store, independent of HTTP.

Each write goes through the pipeline kube-apiserver runs: decode (types, unknown fields), default,
validate, record field managers, then store (or not, with ``dryRun=All``).
https://kubernetes.io/docs/reference/using-api/api-concepts/
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import uuid

from . import apply as ssa
from . import defaults, protobuf, schema, validation
from .errors import APIError, FieldError, bad_request, from_store, invalid, not_found
from .patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from .resources import REGISTRY, ResourceType
from .schema import PatchMeta
from .selectors import SelectorError, field_matcher, label_matcher, selector_to_string
from .store import AlreadyExists, NotFound, ObjectStore, StoreError

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
SEED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# The NamespaceLifecycle admission plugin refuses to delete these.
# https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#namespacelifecycle
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")


class Options:
    """The query parameters of one request, checked the way kube-apiserver checks them."""

    def __init__(self, query: dict[str, list[str]]):
        self.query = query

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def flag(self, name: str) -> bool:
        value = self.get(name)
        if value is None:
            return False
        if value.lower() in ("", "true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise bad_request(f'invalid boolean value for {name}: "{value}"')

    def integer(self, name: str) -> int | None:
        value = self.get(name)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except ValueError:
            raise bad_request(f'invalid value for {name}: "{value}": must be an integer') from None

    @property
    def dry_run(self) -> bool:
        values = self.query.get("dryRun") or []
        for v in values:
            if v != "All":
                raise bad_request(f'Invalid dry run value: "{v}": supported values: "All"')
        return bool(values)

    @property
    def field_validation(self) -> str:
        value = self.get("fieldValidation") or "Warn"
        if value not in ("Ignore", "Warn", "Strict"):
            raise bad_request(f'fieldValidation: Unsupported value: "{value}": supported values: "Ignore", '
                              '"Strict", "Warn"')
        return value


class Outcome:
    """What a handler answers: a status code, a JSON body, and warnings for the Warning header."""

    __slots__ = ("code", "body", "raw", "warnings")

    def __init__(self, code: int, body: dict | None = None, raw: bytes | None = None, warnings=()):
        self.code, self.body, self.raw, self.warnings = code, body, raw, list(warnings)


def _parse_body(body: bytes, allow_yaml: bool = False):
    if not body:
        raise bad_request("the body of the request is empty")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        if allow_yaml:
            import yaml

            try:
                return yaml.safe_load(body)
            except yaml.YAMLError as yexc:
                raise bad_request(f"error decoding YAML: {yexc}") from None
        raise bad_request(f"error decoding body: {exc}") from None


PROTOBUF = "application/vnd.kubernetes.protobuf"


def parse_object_body(body: bytes, content_type: str):
    """A create/update body as a dict: JSON, or protobuf as kubectl's typed clients send it."""
    if content_type == PROTOBUF:
        try:
            return protobuf.decode_object(body)
        except protobuf.UnsupportedProtobuf as exc:
            raise APIError(415, "UnsupportedMediaType", str(exc)) from None
        except ValueError as exc:
            raise bad_request(f"error decoding protobuf body: {exc}") from None
    return _parse_body(body)


def manager_from(opts: Options, user_agent: str) -> str:
    """fieldManager, or the user agent's product token as kube-apiserver derives it."""
    manager = opts.get("fieldManager")
    if manager:
        if len(manager) > 128:
            raise APIError(422, "Invalid", "fieldManager: Too long: may not be more than 128 bytes")
        return manager
    return (user_agent or "unknown").split("/", 1)[0][:128] or "unknown"


class API:
    def __init__(self, store: ObjectStore, pod_logs=None):
        self.store = store
        self.pod_logs = pod_logs
        self.ips = defaults.IPAllocator()
        self._alloc_lock = threading.Lock()
        self.seed()

    def seed(self) -> None:
        for name in SEED_NAMESPACES:
            obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            defaults.namespace(obj)
            with contextlib.suppress(AlreadyExists):
                self.store.create("namespaces", obj)

    # -- helpers -------------------------------------------------------------------------
    def _get(self, rt: ResourceType, ns: str | None, name: str) -> dict:
        try:
            return self.store.get(rt.key, ns, name)
        except NotFound:
            raise not_found(rt, name) from None

    def _admit_create_in(self, rt: ResourceType, ns: str, name: str) -> None:
        """NamespaceLifecycle admission for a create: the namespace must exist and not be Terminating.
        https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#namespacelifecycle
        """
        try:
            namespace = self.store.get("namespaces", None, ns)
        except NotFound:
            raise APIError(404, "NotFound", f'namespaces "{ns}" not found',
                           {"name": ns, "kind": "namespaces"}) from None
        if _is_terminating_namespace(namespace):
            what = f'{rt.qualified} "{name}"' if name else rt.qualified
            raise APIError(403, "Forbidden", f"{what} is forbidden: unable to create new content in namespace {ns} "
                                             "because it is being terminated",
                           {"name": name, "group": rt.group, "kind": rt.plural,
                            "causes": [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                        "message": f"namespace {ns} is being terminated"}]})

    def _check_type_meta(self, rt: ResourceType, obj: dict) -> None:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version is not None and api_version != rt.api_version:
            raise bad_request(f"the API version in the data ({api_version}) does not match the expected API "
                              f"version ({rt.api_version})")
        if kind is not None and kind != rt.kind:
            raise bad_request(f'{kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                              f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind

    def decode(self, rt: ResourceType, obj, opts: Options, ns: str | None, name: str | None = None,
               definition: str | None = None, kind: str | None = None) -> tuple[dict, list[str]]:
        """Type-check and prune a request body; returns (object, warnings)."""
        if not isinstance(obj, dict):
            raise bad_request(f'{kind or rt.kind} in version "{rt.version}" cannot be handled as a '
                              f"{kind or rt.kind}: json: cannot unmarshal {type(obj).__name__} into Go value of "
                              f"type struct")
        if definition is None:
            self._check_type_meta(rt, obj)
        meta = obj.get("metadata")
        if meta is None:
            obj["metadata"] = meta = {}
        cleaned, found = schema.decode(obj, definition or rt.definition)
        what = kind or rt.kind
        if found.type_errors:
            raise bad_request(f'{what} in version "{rt.version}" cannot be handled as a {what}: '
                              + found.type_errors[0])
        warnings = []
        if found.unknown:
            mode = opts.field_validation
            if mode == "Strict":
                raise bad_request(f'{what} in version "{rt.version}" cannot be handled as a {what}: strict '
                                  "decoding error: " + ", ".join(f'unknown field "{p}"' for p in found.unknown))
            if mode == "Warn":
                warnings = [f'unknown field "{p}"' for p in found.unknown]
        meta = cleaned.setdefault("metadata", {})
        if definition is None:
            if rt.namespaced:
                if meta.get("namespace") and ns and meta["namespace"] != ns:
                    raise bad_request("the namespace of the provided object does not match the namespace sent "
                                      "on the request")
                if ns:
                    meta["namespace"] = ns
            else:
                meta.pop("namespace", None)
            if name is not None and meta.get("name") and meta["name"] != name:
                raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL "
                                  f"({name})")
            if name is not None and not meta.get("name"):
                meta["name"] = name
            if rt.key == "secrets":
                for key, value in (cleaned.get("data") or {}).items():
                    try:
                        base64.b64decode(value, validate=True)
                    except (ValueError, TypeError):
                        raise bad_request(f'Secret in version "v1" cannot be handled as a Secret: illegal base64 '
                                          f"data at input byte 0 (data[{key}])") from None
        return cleaned, warnings

    def _validate(self, rt: ResourceType, obj: dict, old: dict | None, extra: list[FieldError] = ()) -> None:
        errs = list(extra) + validation.validate(rt, obj, old)
        if not rt.builtin:
            _, found = schema.decode(obj, rt.definition)
            errs += [FieldError("Required", p) for p in found.missing]
        if errs:
            name = (obj.get("metadata") or {}).get("name") or (obj.get("metadata") or {}).get("generateName", "")
            raise invalid(rt, name, errs)

    def _prepare_status_on_create(self, rt: ResourceType, obj: dict) -> None:
        if "status" in rt.subresources and rt.key not in ("services", "namespaces"):
            obj.pop("status", None)
        if rt.key == "namespaces":
            # A new Namespace is Active whatever the client sent (the namespace strategy's PrepareForCreate).
            obj["status"] = {"phase": "Active"}
        if rt.key == "pods":
            spec = obj.get("spec") or {}
            limited = any((c.get("resources") or {}).get("requests") or (c.get("resources") or {}).get("limits")
                          for c in spec.get("containers") or [])
            obj["status"] = {"phase": "Pending", "qosClass": "Burstable" if limited else "BestEffort"}

    def _allocate_service(self, obj: dict, old: dict | None) -> list[FieldError]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return []
        errs: list[FieldError] = []
        with self._alloc_lock:
            services, _ = self.store.list("services")
            used_ips = {(s.get("spec") or {}).get("clusterIP") for s in services
                        if not old or s["metadata"].get("uid") != old["metadata"].get("uid")}
            used_ports = {p.get("nodePort") for s in services for p in (s.get("spec") or {}).get("ports") or []
                          if not old or s["metadata"].get("uid") != old["metadata"].get("uid")}
            if old is not None:
                old_spec = old.get("spec") or {}
                if not spec.get("clusterIP") and old_spec.get("clusterIP"):
                    spec["clusterIP"] = old_spec["clusterIP"]
                    spec.setdefault("clusterIPs", old_spec.get("clusterIPs") or [old_spec["clusterIP"]])
                old_ports = {(p.get("port"), p.get("protocol")): p.get("nodePort")
                             for p in old_spec.get("ports") or []}
                for p in spec.get("ports") or []:
                    if isinstance(p, dict) and not p.get("nodePort"):
                        prev = old_ports.get((p.get("port"), p.get("protocol")))
                        if prev and spec.get("type") in ("NodePort", "LoadBalancer"):
                            p["nodePort"] = prev
            if spec.get("type") == "ExternalName":
                return errs
            ip = spec.get("clusterIP")
            if not ip:
                spec["clusterIP"] = self.ips.cluster_ip(used_ips)
            elif ip != "None" and ip in used_ips and old is None:
                errs.append(FieldError("Invalid", "spec.clusterIPs", f'[]string{{"{ip}"}}',
                                       f"failed to allocate IP {ip}: provided IP is already allocated"))
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            if spec.get("type") in ("NodePort", "LoadBalancer"):
                for p in spec.get("ports") or []:
                    if isinstance(p, dict) and not p.get("nodePort"):
                        p["nodePort"] = self.ips.node_port(used_ports)
                        used_ports.add(p["nodePort"])
        return errs

    def _meta_for(self, rt: ResourceType) -> PatchMeta:
        return PatchMeta.for_definition(rt.definition)

    # -- reads ---------------------------------------------------------------------------
    def get(self, rt: ResourceType, ns: str | None, name: str) -> str:
        try:
            return self.store.get_raw(rt.key, ns, name)
        except NotFound:
            raise not_found(rt, name) from None

    def matcher(self, rt: ResourceType, opts: Options):
        try:
            labels = label_matcher(opts.get("labelSelector"))
            fields = field_matcher(opts.get("fieldSelector"), rt.key)
        except SelectorError as exc:
            raise bad_request(str(exc)) from None
        if labels and fields:
            return lambda o: labels(o) and fields(o)
        return labels or fields

    def list(self, rt: ResourceType, ns: str | None, opts: Options) -> tuple[list, dict, bool]:
        """(items, list metadata, items_are_raw_json)."""
        match = self.matcher(rt, opts)
        limit = opts.integer("limit")
        token = opts.get("continue")
        start = None
        if token:
            try:
                start = json.loads(base64.urlsafe_b64decode(token.encode() + b"==").decode())["start"]
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                raise APIError(410, "Expired", "The provided continue parameter is too old to display a consistent "
                                               "list result. You can start a new list without the continue "
                                               "parameter.") from None
        if match is None:
            raws, rv = self.store.list_raw(rt.key, ns)
            items: list = raws
            keys = None
        else:
            objs, rv = self.store.list(rt.key, ns, match)
            items = objs
            keys = None
        raw_mode = match is None
        if start is not None or (limit and limit > 0):
            def key_of(item):
                o = json.loads(item) if raw_mode else item
                m = o.get("metadata") or {}
                return f"{m.get('namespace', '')}/{m.get('name', '')}"
            keys = [key_of(i) for i in items]
            if start is not None:
                first = next((i for i, k in enumerate(keys) if k > start), len(keys))
                items, keys = items[first:], keys[first:]
        list_meta: dict = {"resourceVersion": rv}
        if limit and limit > 0 and len(items) > limit:
            remaining = len(items) - limit
            items, last = items[:limit], keys[limit - 1]
            list_meta["continue"] = base64.urlsafe_b64encode(json.dumps({"start": last, "rv": rv}).encode()) \
                .decode().rstrip("=")
            list_meta["remainingItemCount"] = remaining
        return items, list_meta, raw_mode

    def scale(self, rt: ResourceType, obj: dict) -> dict:
        meta = obj["metadata"]
        spec, st = obj.get("spec") or {}, obj.get("status") or {}
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": spec.get("replicas", 0)},
            "status": {"replicas": st.get("replicas", 0), "selector": selector_to_string(spec.get("selector"))},
        }

    def logs(self, ns: str, name: str, opts: Options) -> bytes:
        rt = REGISTRY.by_key("pods")
        pod = self._get(rt, ns, name)
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        wanted = opts.get("container")
        if wanted and wanted not in containers:
            raise bad_request(f"container {wanted} is not valid for pod {name}")
        text = self.pod_logs(pod) if self.pod_logs else ""
        text = text or ""
        tail = opts.integer("tailLines")
        if tail is not None and tail >= 0:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-tail:]) if tail else ""
        limit = opts.integer("limitBytes")
        data = text.encode()
        if limit is not None and limit > 0:
            data = data[:limit]
        return data

    # -- writes --------------------------------------------------------------------------
    def create(self, rt: ResourceType, ns: str | None, body: bytes, opts: Options, user_agent: str,
               content_type: str = "application/json") -> Outcome:
        dry = opts.dry_run
        manager = manager_from(opts, user_agent)
        obj, warnings = self.decode(rt, parse_object_body(body, content_type), opts, ns)
        meta = obj["metadata"]
        if rt.namespaced:
            if not ns:
                raise bad_request("the server could not find the requested resource")
            self._admit_create_in(rt, ns, meta.get("name") or "")
        if meta.get("resourceVersion"):
            raise APIError(500, "InternalError", "resourceVersion should not be set on objects to be created")
        for key in ("uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(key, None)
        self._prepare_status_on_create(rt, obj)
        defaults.apply_defaults(rt.key, obj)
        uid = None
        if rt.key == "jobs.batch":
            uid = str(uuid.uuid4())
            defaults.job_selector(obj, uid)
        extra = self._allocate_service(obj, None) if rt.key == "services" else []
        self._validate(rt, obj, None, extra)
        ssa.record_update(None, obj, manager, rt.api_version, self._meta_for(rt))
        try:
            created = self.store.create(rt.key, obj, uid=uid, dry_run=dry)
        except AlreadyExists as exc:
            raise self._already_exists(exc, rt, meta.get("namespace"), meta.get("name", "")) from None
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        return Outcome(201, created, warnings=warnings)

    def _already_exists(self, exc: AlreadyExists, rt: ResourceType, namespace: str | None,
                        name: str) -> APIError:
        """409 AlreadyExists; kube-apiserver says so when the existing object is still being deleted (a
        Terminating namespace, a pod in its grace period), since retrying later will then succeed."""
        err = from_store(exc, rt, name)
        with contextlib.suppress(NotFound):
            if self.store.get(rt.key, namespace, name)["metadata"].get("deletionTimestamp"):
                err.message = f"object is being deleted: {err.message}"
        return err

    def _store_update(self, rt: ResourceType, obj: dict, part: str, dry: bool) -> dict:
        name = obj["metadata"].get("name", "")
        try:
            result = self.store.update(rt.key, obj, part, dry_run=dry)
        except StoreError as exc:
            raise from_store(exc, rt, name) from None
        meta = result.get("metadata") or {}
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not dry \
                and rt.key not in ("pods", "namespaces"):
            # The last finalizer is gone: the object's deletion completes now. (The kubelet finishes a pod's
            # deletion, the namespace controller a Namespace's, once it is empty.)
            with contextlib.suppress(NotFound):
                self.store.delete(rt.key, meta.get("namespace"), name)
        return result

    def _finish_update(self, rt: ResourceType, new: dict, current: dict, opts: Options, manager: str,
                       subresource: str | None, record: bool = True) -> dict:
        """Default, validate, record managers and store ``new`` as the next state of ``current``."""
        if subresource == "status":
            # The status subresource changes status (and field managers) only.
            merged = json.loads(json.dumps(current))
            if new.get("status") is None:
                merged.pop("status", None)
            else:
                merged["status"] = new["status"]
            merged["metadata"]["resourceVersion"] = (new["metadata"].get("resourceVersion")
                                                     or current["metadata"]["resourceVersion"])
            if not record:
                merged["metadata"]["managedFields"] = new["metadata"].get("managedFields", [])
            new, part = merged, "all"
        else:
            defaults.apply_defaults(rt.key, new)
            extra = self._allocate_service(new, current) if rt.key == "services" else []
            self._validate(rt, new, current, extra)
            part = rt.main_part
        if record:
            new["metadata"]["managedFields"] = (current.get("metadata") or {}).get("managedFields") or []
            ssa.record_update(current, new, manager, rt.api_version, self._meta_for(rt), subresource)
        return self._store_update(rt, new, part, opts.dry_run)

    def update(self, rt: ResourceType, ns: str | None, name: str, body: bytes, opts: Options, user_agent: str,
               subresource: str | None = None, content_type: str = "application/json") -> Outcome:
        manager = manager_from(opts, user_agent)
        parsed = parse_object_body(body, content_type)
        if subresource == "scale":
            return self._update_scale(rt, ns, name, parsed, opts, manager)
        obj, warnings = self.decode(rt, parsed, opts, ns, name)
        current = self._get(rt, ns, name)
        if rt.key == "namespaces" and subresource is None:
            obj.setdefault("status", current.get("status"))
        result = self._finish_update(rt, obj, current, opts, manager, subresource)
        return Outcome(200, result, warnings=warnings)

    def _apply_patch(self, rt: ResourceType, current: dict, content_type: str, patch, definition: str | None = None):
        definition = definition or rt.definition
        try:
            if content_type == MERGE:
                if not isinstance(patch, dict):
                    raise PatchError("json: cannot unmarshal into Go value of type map[string]interface {}", 400)
                return merge_patch(current, patch)
            if content_type == JSON_PATCH:
                return json_patch(current, patch)
            if content_type == STRATEGIC:
                return strategic_merge_patch(current, patch, PatchMeta.for_definition(definition))
        except PatchError as exc:
            if exc.code == 400:
                raise bad_request(str(exc)) from None
            raise APIError(422, "Invalid", "the server rejected our request due to an error in our request",
                           {"causes": [{"message": str(exc), "field": "patch"}]} if content_type == JSON_PATCH
                           else {"causes": [{"reason": "FieldValueInvalid", "message": str(exc),
                                             "field": "patch"}]}) from None
        raise APIError(415, "UnsupportedMediaType", "unsupported patch type")  # pragma: no cover

    def check_patch_type(self, rt: ResourceType, content_type: str) -> None:
        allowed = [JSON_PATCH, MERGE, APPLY] + ([STRATEGIC] if rt.builtin else [])
        if content_type not in allowed:
            raise APIError(415, "UnsupportedMediaType",
                           f"the body of the request was in an unknown format - accepted media types include: "
                           f"{', '.join(allowed)}")

    def patch(self, rt: ResourceType, ns: str | None, name: str, body: bytes, content_type: str, opts: Options,
              user_agent: str, subresource: str | None = None) -> Outcome:
        self.check_patch_type(rt, content_type)
        opts.dry_run  # noqa: B018 - reject a bad dryRun value before anything else
        force = opts.flag("force")
        if content_type == APPLY:
            if not opts.get("fieldManager"):
                raise APIError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required '
                                               "value: is required for apply patch")
            return self._server_side_apply(rt, ns, name, _parse_body(body, allow_yaml=True), opts, force,
                                           subresource)
        if force:
            raise APIError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be '
                                           "specified for non-apply patch")
        manager = manager_from(opts, user_agent)
        patch_doc = _parse_body(body)
        for _attempt in range(5):
            current = self._get(rt, ns, name)
            if subresource == "scale":
                scale = self.scale(rt, current)
                new_scale = self._apply_patch(rt, scale, content_type, patch_doc, "io.k8s.api.autoscaling.v1.Scale")
                try:
                    return self._update_scale(rt, ns, name, new_scale, opts, manager, current)
                except APIError as exc:
                    if exc.reason == "Conflict" and (new_scale.get("metadata") or {}).get("resourceVersion") == \
                            current["metadata"]["resourceVersion"]:
                        continue
                    raise
            patched = self._apply_patch(rt, current, content_type, patch_doc)
            obj, warnings = self.decode(rt, patched, opts, ns, name)
            requested_rv = (obj.get("metadata") or {}).get("resourceVersion")
            obj["metadata"]["resourceVersion"] = requested_rv or current["metadata"]["resourceVersion"]
            try:
                result = self._finish_update(rt, obj, current, opts, manager, subresource)
            except APIError as exc:
                if exc.reason == "Conflict" and requested_rv in (None, current["metadata"]["resourceVersion"]) \
                        and not (exc.details or {}).get("causes"):
                    time.sleep(0.001)
                    continue
                raise
            return Outcome(200, result, warnings=warnings)
        raise APIError(409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has '
                                        "been modified; please apply your changes to the latest version and try again")

    def _server_side_apply(self, rt, ns, name, applied, opts: Options, force: bool, subresource) -> Outcome:
        try:
            return self._server_side_apply_once(rt, ns, name, applied, opts, force, subresource)
        except PatchError as exc:
            raise APIError(422, "Invalid", f"failed to create typed patch object: {exc}",
                           {"name": name, "group": rt.group, "kind": rt.kind,
                            "causes": [{"reason": "FieldValueInvalid", "message": str(exc)}]}) from None

    def _server_side_apply_once(self, rt, ns, name, applied, opts: Options, force: bool, subresource) -> Outcome:
        manager = opts.get("fieldManager")
        if subresource == "scale":
            raise APIError(415, "UnsupportedMediaType", "apply is not supported on the scale subresource here")
        obj, warnings = self.decode(rt, applied, opts, ns, name)
        for _attempt in range(5):
            try:
                current = self.store.get(rt.key, ns, name)
            except NotFound:
                current = None
            if current is None:
                if subresource:
                    raise not_found(rt, name)
                created = ssa.server_side_apply(None, obj, manager, force, self._meta_for(rt), rt.api_version)
                created["metadata"]["name"] = name
                managed = created["metadata"].pop("managedFields")
                body = json.dumps(created).encode()
                try:
                    out = self.create(rt, ns, body, _with(opts, fieldManager=manager, fieldValidation="Ignore"),
                                      manager)
                except APIError as exc:
                    if exc.reason == "AlreadyExists":
                        continue
                    raise
                result = out.body
                result["metadata"]["managedFields"] = managed
                if not opts.dry_run:
                    result = self._store_update(rt, result, "all", False)
                return Outcome(201, result, warnings=warnings)
            merged = ssa.server_side_apply(current, obj, manager, force, self._meta_for(rt), rt.api_version,
                                           subresource)
            requested_rv = (obj.get("metadata") or {}).get("resourceVersion")
            merged["metadata"]["resourceVersion"] = requested_rv or current["metadata"]["resourceVersion"]
            try:
                result = self._finish_update(rt, merged, current, opts, manager, subresource, record=False)
            except APIError as exc:
                if exc.reason == "Conflict" and not requested_rv and not (exc.details or {}).get("causes"):
                    continue
                raise
            return Outcome(200, result, warnings=warnings)
        raise APIError(409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified} "{name}"')

    def _update_scale(self, rt, ns, name, scale, opts: Options, manager: str, current: dict | None = None) -> Outcome:
        if not isinstance(scale, dict):
            raise bad_request("Scale in version \"v1\" cannot be handled as a Scale")
        scale, _ = self.decode(rt, scale, opts, ns, name, definition="io.k8s.api.autoscaling.v1.Scale",
                               kind="Scale")
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or replicas < 0:
            raise APIError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                                           f"{replicas}: must be greater than or equal to 0",
                           {"name": name, "group": "autoscaling", "kind": "Scale",
                            "causes": [{"reason": "FieldValueInvalid", "field": "spec.replicas",
                                        "message": f"Invalid value: {replicas}: must be greater than or equal "
                                                   "to 0"}]})
        if current is None:
            current = self._get(rt, ns, name)
        new = json.loads(json.dumps(current))
        new.setdefault("spec", {})["replicas"] = replicas
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        new["metadata"]["resourceVersion"] = rv or current["metadata"]["resourceVersion"]
        result = self._finish_update(rt, new, current, opts, manager, None)
        return Outcome(200, self.scale(rt, result))

    # -- deletes -------------------------------------------------------------------------
    def delete(self, rt: ResourceType, ns: str | None, name: str, body: bytes, opts: Options) -> Outcome:
        options = {}
        if body.strip():
            options = _parse_body(body)
            if not isinstance(options, dict):
                raise bad_request("DeleteOptions in version \"v1\" cannot be handled as a DeleteOptions")
        grace = opts.integer("gracePeriodSeconds")
        if grace is None and options.get("gracePeriodSeconds") is not None:
            grace = options.get("gracePeriodSeconds")
            if not isinstance(grace, int):
                raise bad_request("gracePeriodSeconds must be an integer")
        policy = opts.get("propagationPolicy") or options.get("propagationPolicy")
        if options.get("orphanDependents") is True or opts.get("orphanDependents") == "true":
            policy = policy or "Orphan"
        if policy not in (None, "Background", "Foreground", "Orphan"):
            raise APIError(422, "Invalid", f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: '
                                           f'Unsupported value: "{policy}": supported values: "Foreground", '
                                           '"Background", "Orphan", "nil"')
        dry = opts.dry_run or "All" in (options.get("dryRun") or [])
        return self._delete_one(rt, ns, name, grace, policy, options.get("preconditions") or {}, dry)

    def _delete_one(self, rt, ns, name, grace, policy, preconditions, dry) -> Outcome:
        obj = self._get(rt, ns, name)
        meta = obj["metadata"]
        if preconditions.get("uid") and preconditions["uid"] != meta.get("uid"):
            raise APIError(409, "Conflict", f"Precondition failed: UID in precondition: {preconditions['uid']}, UID "
                                            f"in object meta: {meta.get('uid')}", {"name": name, "kind": rt.plural})
        if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != meta.get("resourceVersion"):
            raise APIError(409, "Conflict", f"Precondition failed: ResourceVersion in precondition: "
                                            f"{preconditions['resourceVersion']}, ResourceVersion in object meta: "
                                            f"{meta.get('resourceVersion')}", {"name": name, "kind": rt.plural})
        if rt.key == "namespaces":
            return self._delete_namespace(obj, dry)
        if dry:
            return Outcome(200, obj if rt.key in ("pods", "services") else self._success(rt, obj))
        if policy == "Orphan":
            self._orphan_dependents(meta.get("uid"))
        try:
            if rt.key == "pods":
                spec, status = obj.get("spec") or {}, obj.get("status") or {}
                if grace is None:
                    grace = spec.get("terminationGracePeriodSeconds", 30)
                graceful = (grace and grace > 0 and spec.get("nodeName")
                            and status.get("phase") not in ("Succeeded", "Failed"))
                if graceful:
                    return Outcome(200, self.store.mark_deleting(rt.key, ns, name, int(grace)))
            if meta.get("finalizers"):
                return Outcome(200, self.store.mark_deleting(rt.key, ns, name, 0))
            deleted = self.store.delete(rt.key, ns, name, uid=preconditions.get("uid"))
        except StoreError as exc:
            raise from_store(exc, rt, name) from None
        if policy == "Foreground":
            self._wait_for_dependents_gone(meta.get("uid"), timeout=30)
        if rt.key in ("pods", "services", "namespaces"):
            return Outcome(200, deleted)
        return Outcome(200, self._success(rt, deleted))

    def _delete_namespace(self, obj: dict, dry: bool) -> Outcome:
        """DELETE of a Namespace, as the namespace registry does it: mark it (deletionTimestamp, phase
        Terminating) and answer the object with 200; the namespace controller (here the garbage collector)
        deletes what it contains, then the Namespace itself. Until then it can be read, refuses new content
        and cannot be created again (409). A repeated DELETE answers the Terminating object again.
        https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/namespace-v1/
        https://kubernetes.io/docs/tasks/administer-cluster/namespaces/#deleting-a-namespace
        """
        name = obj["metadata"]["name"]
        if name in IMMORTAL_NAMESPACES:
            raise APIError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                           {"name": name, "kind": "namespaces"})
        if dry or obj["metadata"].get("deletionTimestamp"):
            return Outcome(200, obj)
        try:
            marked = self.store.mark_deleting("namespaces", None, name, None, status={"phase": "Terminating"})
        except NotFound:
            raise not_found(REGISTRY.by_key("namespaces"), name) from None
        return Outcome(200, marked)

    @staticmethod
    def _success(rt, obj) -> dict:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": obj["metadata"].get("name"), "group": rt.group, "kind": rt.plural,
                            "uid": obj["metadata"].get("uid")}}

    def _dependents(self, uid: str) -> list[tuple[str, dict]]:
        out = []
        for key in self.store.resources():
            objs, _ = self.store.list(key, None, lambda o: any(
                r.get("uid") == uid for r in (o.get("metadata") or {}).get("ownerReferences") or []))
            out += [(key, o) for o in objs]
        return out

    def _orphan_dependents(self, uid: str) -> None:
        for key, dep in self._dependents(uid):
            dep["metadata"]["ownerReferences"] = [r for r in dep["metadata"].get("ownerReferences") or []
                                                  if r.get("uid") != uid]
            if not dep["metadata"]["ownerReferences"]:
                del dep["metadata"]["ownerReferences"]
            dep["metadata"].pop("resourceVersion", None)
            with contextlib.suppress(StoreError):
                self.store.update(key, dep, "all")

    def _wait_for_dependents_gone(self, uid: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._dependents(uid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def delete_collection(self, rt: ResourceType, ns: str | None, body: bytes, opts: Options) -> Outcome:
        if "deletecollection" not in rt.verbs:
            raise APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                                                    "resource")
        options = _parse_body(body) if body.strip() else {}
        if not isinstance(options, dict):
            raise bad_request("DeleteOptions in version \"v1\" cannot be handled as a DeleteOptions")
        match = self.matcher(rt, opts)
        objs, rv = self.store.list(rt.key, ns, match)
        grace = opts.integer("gracePeriodSeconds")
        if grace is None:
            grace = options.get("gracePeriodSeconds")
        policy = opts.get("propagationPolicy") or options.get("propagationPolicy")
        dry = opts.dry_run
        deleted = []
        for o in objs:
            try:
                self._delete_one(rt, o["metadata"].get("namespace"), o["metadata"]["name"], grace, policy, {}, dry)
                deleted.append(o)
            except APIError as exc:
                if exc.code != 404:
                    raise
        return Outcome(200, {"kind": rt.list_kind, "apiVersion": rt.api_version,
                             "metadata": {"resourceVersion": rv}, "items": deleted})


def _is_terminating_namespace(namespace: dict) -> bool:
    return bool(namespace["metadata"].get("deletionTimestamp")
                or (namespace.get("status") or {}).get("phase") == "Terminating")


def _with(opts: Options, **values) -> Options:
    query = dict(opts.query)
    for k, v in values.items():
        query[k] = [v]
    return Options(query)

"""A minimal decoder of Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``).

The server prefers the full codec in ``protobuf.py`` (``decode_object``) when that module exists; this
one is its fallback.

kubectl v1.32 sends protobuf only from its typed clients, i.e. ``kubectl create <namespace|configmap|
secret|serviceaccount|deployment|job|service|ingress>``; everything else it sends as JSON. So this
covers the messages those generators fill in. Encoding: the 4-byte magic ``k8s\\0`` then a
``runtime.Unknown`` {typeMeta=1 {apiVersion=1, kind=2}, raw=2 (the object), contentEncoding=3,
contentType=4}; objects use the field numbers of k8s.io/api's generated.proto files (facts recorded
in ``MESSAGES`` below). Written here because the Kubernetes .proto files and generated Python
classes are not available as a package.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"


class ProtobufError(ValueError):
    pass


# Field tables: number -> (json name, type). Types: s string, i integer, b bool, y bytes (base64 in JSON),
# "M:<message>" a message, with "*" prefix for repeated, "{s" map string->string, "{y" map string->bytes,
# "{Q" map string->Quantity. Special messages: Time, IntOrString, Quantity. A trailing "!" keeps a zero
# value (the Go field is a pointer, so a zero on the wire was set explicitly).
MESSAGES: dict[str, dict[int, tuple[str, str]]] = {
    "TypeMeta": {1: ("apiVersion", "s"), 2: ("kind", "s")},
    "Unknown": {1: ("typeMeta", "M:TypeMeta"), 2: ("raw", "y"), 3: ("contentEncoding", "s"),
                4: ("contentType", "s")},
    "ObjectMeta": {1: ("name", "s"), 2: ("generateName", "s"), 3: ("namespace", "s"), 5: ("uid", "s"),
                   6: ("resourceVersion", "s"), 11: ("labels", "{s"), 12: ("annotations", "{s"),
                   13: ("ownerReferences", "*M:OwnerReference"), 14: ("finalizers", "*s")},
    "OwnerReference": {1: ("kind", "s"), 3: ("name", "s"), 4: ("uid", "s"), 5: ("apiVersion", "s"),
                       6: ("controller", "b!"), 7: ("blockOwnerDeletion", "b!")},
    "LabelSelector": {1: ("matchLabels", "{s"), 2: ("matchExpressions", "*M:LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: ("key", "s"), 2: ("operator", "s"), 3: ("values", "*s")},
    "Namespace": {1: ("metadata", "M:ObjectMeta"), 2: ("spec", "M:NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "*s")},
    "ConfigMap": {1: ("metadata", "M:ObjectMeta"), 2: ("data", "{s"), 3: ("binaryData", "{y"),
                  4: ("immutable", "b!")},
    "Secret": {1: ("metadata", "M:ObjectMeta"), 2: ("data", "{y"), 3: ("type", "s"), 4: ("stringData", "{s"),
               5: ("immutable", "b!")},
    "ServiceAccount": {1: ("metadata", "M:ObjectMeta"), 2: ("secrets", "*M:ObjectReference"),
                       3: ("imagePullSecrets", "*M:LocalObjectReference"),
                       4: ("automountServiceAccountToken", "b!")},
    "ObjectReference": {1: ("kind", "s"), 2: ("namespace", "s"), 3: ("name", "s"), 4: ("uid", "s"),
                        5: ("apiVersion", "s"), 6: ("resourceVersion", "s"), 7: ("fieldPath", "s")},
    "LocalObjectReference": {1: ("name", "s")},
    "Deployment": {1: ("metadata", "M:ObjectMeta"), 2: ("spec", "M:DeploymentSpec")},
    "DeploymentSpec": {1: ("replicas", "i!"), 2: ("selector", "M:LabelSelector"),
                       3: ("template", "M:PodTemplateSpec"), 4: ("strategy", "M:DeploymentStrategy"),
                       5: ("minReadySeconds", "i"), 6: ("revisionHistoryLimit", "i!"), 7: ("paused", "b"),
                       9: ("progressDeadlineSeconds", "i!")},
    "DeploymentStrategy": {1: ("type", "s"), 2: ("rollingUpdate", "M:RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "M:IntOrString"), 2: ("maxSurge", "M:IntOrString")},
    "Job": {1: ("metadata", "M:ObjectMeta"), 2: ("spec", "M:JobSpec")},
    "JobSpec": {1: ("parallelism", "i!"), 2: ("completions", "i!"), 3: ("activeDeadlineSeconds", "i!"),
                4: ("selector", "M:LabelSelector"), 5: ("manualSelector", "b!"), 6: ("template", "M:PodTemplateSpec"),
                7: ("backoffLimit", "i!"), 8: ("ttlSecondsAfterFinished", "i!"), 9: ("completionMode", "s"),
                10: ("suspend", "b!")},
    "PodTemplateSpec": {1: ("metadata", "M:ObjectMeta"), 2: ("spec", "M:PodSpec")},
    "Pod": {1: ("metadata", "M:ObjectMeta"), 2: ("spec", "M:PodSpec")},
    "PodSpec": {2: ("containers", "*M:Container"), 3: ("restartPolicy", "s"),
                4: ("terminationGracePeriodSeconds", "i!"), 5: ("activeDeadlineSeconds", "i!"),
                6: ("dnsPolicy", "s"), 7: ("nodeSelector", "{s"), 8: ("serviceAccountName", "s"),
                10: ("nodeName", "s"), 11: ("hostNetwork", "b"), 15: ("imagePullSecrets", "*M:LocalObjectReference"),
                16: ("hostname", "s"), 17: ("subdomain", "s"), 19: ("schedulerName", "s"),
                20: ("initContainers", "*M:Container"), 24: ("priorityClassName", "s"),
                30: ("enableServiceLinks", "b!")},
    "Container": {1: ("name", "s"), 2: ("image", "s"), 3: ("command", "*s"), 4: ("args", "*s"),
                  5: ("workingDir", "s"), 6: ("ports", "*M:ContainerPort"), 7: ("env", "*M:EnvVar"),
                  8: ("resources", "M:ResourceRequirements"), 13: ("terminationMessagePath", "s"),
                  14: ("imagePullPolicy", "s"), 16: ("stdin", "b"), 17: ("stdinOnce", "b"), 18: ("tty", "b"),
                  20: ("terminationMessagePolicy", "s")},
    "ContainerPort": {1: ("name", "s"), 2: ("hostPort", "i"), 3: ("containerPort", "i"), 4: ("protocol", "s"),
                      5: ("hostIP", "s")},
    "EnvVar": {1: ("name", "s"), 2: ("value", "s")},
    "ResourceRequirements": {1: ("limits", "{Q"), 2: ("requests", "{Q")},
    "Service": {1: ("metadata", "M:ObjectMeta"), 2: ("spec", "M:ServiceSpec")},
    "ServiceSpec": {1: ("ports", "*M:ServicePort"), 2: ("selector", "{s"), 3: ("clusterIP", "s"), 4: ("type", "s"),
                    5: ("externalIPs", "*s"), 7: ("sessionAffinity", "s"), 8: ("loadBalancerIP", "s"),
                    10: ("externalName", "s"), 11: ("externalTrafficPolicy", "s"), 18: ("clusterIPs", "*s")},
    "ServicePort": {1: ("name", "s"), 2: ("protocol", "s"), 3: ("port", "i"), 4: ("targetPort", "M:IntOrString"),
                    5: ("nodePort", "i"), 6: ("appProtocol", "s")},
    "Ingress": {1: ("metadata", "M:ObjectMeta"), 2: ("spec", "M:IngressSpec")},
    "IngressSpec": {1: ("defaultBackend", "M:IngressBackend"), 2: ("tls", "*M:IngressTLS"),
                    3: ("rules", "*M:IngressRule"), 4: ("ingressClassName", "s")},
    "IngressTLS": {1: ("hosts", "*s"), 2: ("secretName", "s")},
    "IngressRule": {1: ("host", "s"), 2: ("", "M:IngressRuleValue")},  # inlined in JSON
    "IngressRuleValue": {1: ("http", "M:HTTPIngressRuleValue")},
    "HTTPIngressRuleValue": {1: ("paths", "*M:HTTPIngressPath")},
    "HTTPIngressPath": {1: ("path", "s"), 2: ("backend", "M:IngressBackend"), 3: ("pathType", "s")},
    "IngressBackend": {4: ("service", "M:IngressServiceBackend")},
    "IngressServiceBackend": {1: ("name", "s"), 2: ("port", "M:ServiceBackendPort")},
    "ServiceBackendPort": {1: ("name", "s"), 2: ("number", "i")},
}

# kind -> top-level message, for the kinds kubectl's generators create.
KINDS = {k: k for k in ("Namespace", "ConfigMap", "Secret", "ServiceAccount", "Deployment", "Job", "Pod",
                        "Service", "Ingress")}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ProtobufError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def fields(buf: bytes):
    """Yield (field number, wire type, value) of one message: ints for varints, bytes otherwise."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise ProtobufError("truncated field")
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        yield num, wire, value


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _special(name: str, buf: bytes):
    if name == "Time":
        seconds = next((_signed(v) for n, _w, v in fields(buf) if n == 1), 0)
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if seconds else None
    if name == "Quantity":
        return next((v.decode() for n, _w, v in fields(buf) if n == 1), None)
    if name == "IntOrString":
        kind, ival, sval = 0, 0, ""
        for n, _w, v in fields(buf):
            if n == 1:
                kind = v
            elif n == 2:
                ival = _signed(v)
            elif n == 3:
                sval = v.decode()
        return sval if kind == 1 else ival
    raise KeyError(name)


def _scalar(kind: str, wire: int, value):
    if kind == "s":
        if wire != 2:
            raise ProtobufError("expected a string")
        return value.decode()
    if kind == "y":
        return base64.b64encode(value).decode()
    if kind == "i":
        return _signed(value) if wire == 0 else 0
    if kind == "b":
        return bool(value) if wire == 0 else False
    raise ProtobufError(f"bad field kind {kind}")


def _map_entry(buf: bytes, value_kind: str) -> tuple[str, object]:
    key, val = "", "" if value_kind != "y" else ""
    for n, w, v in fields(buf):
        if n == 1:
            key = v.decode()
        elif n == 2:
            val = _special("Quantity", v) if value_kind == "Q" else _scalar(value_kind, w, v)
    return key, val


def _empty(value) -> bool:
    return value in ("", 0, False, None) or value == {} or value == []


def decode_message(name: str, buf: bytes) -> dict:
    table = MESSAGES[name]
    out: dict = {}
    for num, wire, value in fields(buf):
        spec = table.get(num)
        if spec is None:
            continue  # a field the generators never set: ignored
        key, kind = spec
        keep_zero = kind.endswith("!")
        kind = kind.rstrip("!")
        repeated = kind.startswith("*")
        kind = kind.lstrip("*")
        if kind.startswith("{"):
            k, v = _map_entry(value, kind[1:])
            out.setdefault(key, {})[k] = v
            continue
        if kind.startswith("M:"):
            msg = kind[2:]
            special = msg in ("Time", "Quantity", "IntOrString")
            decoded = _special(msg, value) if special else decode_message(msg, value)
        else:
            decoded = _scalar(kind, wire, value)
        if repeated:
            out.setdefault(key, []).append(decoded)
        elif key == "":
            out.update(decoded)  # an inlined member
        elif keep_zero or not _empty(decoded):
            out[key] = decoded
    return {k: v for k, v in out.items() if not _empty(v) or table_keeps_zero(table, k)}


def table_keeps_zero(table: dict, key: str) -> bool:
    return any(name == key and kind.endswith("!") for name, kind in table.values())


def decode(body: bytes) -> dict:
    """The JSON-shaped object of a Kubernetes protobuf body; raises ProtobufError for what it cannot read."""
    if not body.startswith(MAGIC):
        raise ProtobufError("body does not start with the Kubernetes protobuf magic number")
    try:
        unknown = decode_message("Unknown", body[len(MAGIC):])
        type_meta = unknown.get("typeMeta") or {}
        kind = type_meta.get("kind", "")
        if kind not in KINDS:
            raise ProtobufError(f"protobuf bodies of kind {kind!r} are not supported; send JSON")
        if unknown.get("contentEncoding"):
            raise ProtobufError("content encodings are not supported")
        obj = decode_message(KINDS[kind], base64.b64decode(unknown.get("raw", "")))
    except (UnicodeDecodeError, IndexError) as exc:
        raise ProtobufError(f"malformed protobuf body: {exc}") from None
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}

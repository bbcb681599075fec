"""kubectl's protobuf request bodies decode to the very JSON kubectl would have sent.

The protobuf bodies are captured live: kubectl v1.32 is pointed at a small recording HTTP server on
loopback, runs each imperative generator for real, and the recorder keeps the POST body. The expected
JSON is what the same kubectl prints for the same command with ``--dry-run=client -o json``, i.e. Go's
JSON encoding of the object it would have sent.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rehearsal.kubeapi import protobuf
from rehearsal.kubeapi.protobuf import CONTENT_TYPE, KINDS, SCHEMA, UnsupportedProtobuf, decode_object, encode_object

KUBECTL = "/usr/bin/kubectl"


class _Recorder(ThreadingHTTPServer):
    """Answers /version, records every other request and refuses it (the body is all we want)."""

    daemon_threads = True

    def __init__(self):
        self.records: list[tuple[str, str, str, bytes]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _RecordingHandler)


class _RecordingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - quiet test output
        pass

    def _answer(self, code: int, doc: dict) -> None:
        data = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.command == "GET" and self.path.startswith("/version"):
            return self._answer(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0"})
        with self.server.lock:
            self.server.records.append((self.command, self.path, self.headers.get("Content-Type") or "", body))
        self._answer(400, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 400,
                           "reason": "BadRequest", "message": "recorded by the test, not created"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory):
    """Run kubectl against the recorder; returns run(args) -> (completed process, recorded requests)."""
    home = tmp_path_factory.mktemp("kubectl")
    server = _Recorder()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    kubeconfig = home / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: rec, cluster: {{server: 'http://127.0.0.1:{server.server_address[1]}'}}}}]\n"
        "users: [{name: rec, user: {}}]\n"
        "contexts: [{name: rec, context: {cluster: rec, user: rec, namespace: default}}]\n"
        "current-context: rec\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}

    def run(args: list[str]):
        with server.lock:
            server.records.clear()
        proc = subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(home / "cache"), *args],
                              capture_output=True, timeout=60, env=env, check=False)
        with server.lock:
            return proc, list(server.records)

    yield run
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    (d / "blob.bin").write_bytes(bytes(range(256)) + b"\xff\xfe not utf-8")
    (d / "app.conf").write_text("listen 8080\nworkers 2\n")
    return d


# (test id, arguments before "--", arguments after "--"); "{files}" is the directory of `files`.
GENERATORS = [
    ("namespace", ["create", "namespace", "team-a"], []),
    ("deployment", ["create", "deployment", "web", "--image=nginx:1.25", "--replicas=2", "--port=8080"], []),
    ("deployment-zero-replicas", ["create", "deployment", "idle", "--image=x", "--replicas=0"], []),
    ("deployment-two-images", ["create", "deployment", "multi", "--image=nginx", "--image=redis:7", "--port=80"], []),
    ("secret-generic", ["create", "secret", "generic", "creds", "--from-literal=user=admin",
                        "--from-literal=pass=s3cr3t", "--from-file=blob={files}/blob.bin"], []),
    ("secret-docker-registry", ["create", "secret", "docker-registry", "reg", "--docker-server=r.example",
                                "--docker-username=u", "--docker-password=p"], []),
    ("configmap", ["create", "configmap", "cfg", "--from-literal=a=1", "--from-literal=b=two",
                   "--from-file={files}/app.conf", "--from-file=raw={files}/blob.bin"], []),
    ("job", ["create", "job", "once", "--image=busybox"], ["sh", "-c", "echo hi there"]),
    ("service-clusterip", ["create", "service", "clusterip", "api", "--tcp=80:8080", "--tcp=443:8443"], []),
    ("service-headless", ["create", "service", "clusterip", "db", "--clusterip=None"], []),
    ("service-nodeport", ["create", "service", "nodeport", "edge", "--tcp=80:http", "--node-port=30080"], []),
    ("serviceaccount", ["create", "serviceaccount", "robot"], []),
    ("cronjob", ["create", "cronjob", "nightly", "--image=busybox", "--schedule=0 3 * * *"], ["date"]),
    ("ingress", ["create", "ingress", "web", "--class=nginx", "--rule=shop.example/api*=api:8080",
                 "--rule=secure.example/=web:https,tls=web-cert", "--default-backend=fallback:80",
                 "--annotation=nginx.ingress.kubernetes.io/canary=true"], []),
]


@pytest.mark.parametrize(("before", "after"), [g[1:] for g in GENERATORS], ids=[g[0] for g in GENERATORS])
def test_kubectl_protobuf_body_decodes_to_the_json_kubectl_would_send(kubectl, files, before, after):
    before = [a.replace("{files}", str(files)) for a in before]
    tail = ["--", *after] if after else []
    _, records = kubectl([*before, *tail])
    posts = [r for r in records if r[0] == "POST"]
    assert len(posts) == 1, records
    _, path, content_type, body = posts[0]
    assert content_type == CONTENT_TYPE, f"kubectl sent {content_type} to {path}"

    dry, _ = kubectl([*before, "--dry-run=client", "-o", "json", *tail])
    assert dry.returncode == 0, dry.stderr
    expected = json.loads(dry.stdout)

    decoded = decode_object(body)
    assert decoded == expected
    json.dumps(decoded)  # what the server stores must be plain JSON


def test_explicit_zero_replicas_survives_while_zero_defaults_are_dropped(kubectl):
    _, records = kubectl(["create", "deployment", "idle", "--image=x", "--replicas=0", "--port=8080"])
    obj = decode_object(records[-1][3])
    assert obj["spec"]["replicas"] == 0  # a pointer: the zero was sent on purpose
    container = obj["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"containerPort": 8080}]  # hostPort 0 and protocol "" are omitempty
    assert obj["metadata"]["creationTimestamp"] is None and obj["status"] == {}


def test_secret_bytes_come_back_base64_encoded_exactly(kubectl, files):
    _, records = kubectl(["create", "secret", "generic", "blob", f"--from-file=b={files}/blob.bin"])
    obj = decode_object(records[-1][3])
    assert base64.b64decode(obj["data"]["b"]) == (files / "blob.bin").read_bytes()


# -- the table against the v1.32 API schema -------------------------------------------------------------
_DEF_PACKAGES = ["io.k8s.api.core.v1.", "io.k8s.api.apps.v1.", "io.k8s.api.batch.v1.", "io.k8s.api.networking.v1.",
                 "io.k8s.apimachinery.pkg.apis.meta.v1."]
_SPECIAL_REFS = {"Q": "io.k8s.apimachinery.pkg.api.resource.Quantity", "T": "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
                 "IOS": "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
                 "F": "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1"}
_JSON_TYPES = {"s": ("string", None), "y": ("string", "byte"), "i32": ("integer", "int32"),
               "i64": ("integer", "int64"), "b": ("boolean", None)}


@pytest.fixture(scope="module")
def api_definitions():
    bundle = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema", "v1.32.0-local",
                                                           "_definitions.json")
    return json.loads(bundle.read_text())["$defs"]


def _definition_name(message: str, defs: dict) -> str | None:
    return next((p + message for p in _DEF_PACKAGES if p + message in defs), None)


def _json_mismatch(f, node: dict, defs: dict) -> str | None:
    def types(n):
        t = n.get("type")
        return set(t if isinstance(t, list) else [t]) - {"null"}

    if f.repeated or f.map:
        if ("array" if f.repeated else "object") not in types(node):
            return f"{types(node)} is not a {'list' if f.repeated else 'map'}"
        node = node["items"] if f.repeated else node["additionalProperties"]
    ref = node.get("$ref", "").rpartition("/")[2]
    if f.type in _SPECIAL_REFS:
        return None if ref == _SPECIAL_REFS[f.type] else f"refers to {ref}"
    if f.is_message:
        return None if ref == _definition_name(f.type, defs) else f"refers to {ref}, not {f.type}"
    kind, fmt = _JSON_TYPES[f.type]
    return None if kind in types(node) and node.get("format") == fmt else f"is {types(node)} {node.get('format')}"


def test_every_table_field_has_its_json_name_and_type_in_the_v1_32_api_schema(api_definitions):
    problems, without_definition = [], set()
    for message in SCHEMA:
        name = _definition_name(message, api_definitions)
        if name is None:
            without_definition.add(message)
            continue
        props = api_definitions[name].get("properties", {})
        for f in _flat_fields(message):
            if f.name not in props:
                problems.append(f"{message}.{f.name}: not in {name}")
            elif (why := _json_mismatch(f, props[f.name], api_definitions)) is not None:
                problems.append(f"{message}.{f.name}: {why}")
    assert problems == []
    # only embedded structs lack a definition of their own; their fields are checked inside the parent
    assert without_definition == {"ProbeHandler", "VolumeSource", "IngressRuleValue"}


# -- round trips over the whole schema --------------------------------------------------------------
MAX_DEPTH = 7
_text = st.text(max_size=6)
_time = st.datetimes(min_value=datetime(1, 1, 1, 0, 0, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)).map(
    lambda t: f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z")
_json_fields = st.recursive(st.just({}), lambda inner: st.dictionaries(st.text(max_size=5), inner, max_size=2),
                            max_leaves=4)
_SCALAR = {
    "s": _text, "y": st.binary(max_size=8).map(lambda b: base64.b64encode(b).decode()),
    "i32": st.integers(-(2**31), 2**31 - 1), "i64": st.integers(-(2**63), 2**63 - 1), "b": st.booleans(),
    "Q": _text, "T": st.one_of(st.none(), _time), "F": _json_fields,
    "IOS": st.one_of(st.integers(-(2**31), 2**31 - 1), _text),
}
_NONZERO = {"s": st.text(min_size=1, max_size=6), "b": st.just(True),
            "i32": _SCALAR["i32"].filter(bool), "i64": _SCALAR["i64"].filter(bool)}


def _flat_fields(message: str):
    for f in SCHEMA[message].values():
        if f.mode == "^":
            yield from _flat_fields(f.type)
        else:
            yield f


def _element(f, depth: int):
    if f.is_message:
        return _message(f.type, depth + 1)
    return _SCALAR[f.type]


def _field(f, depth: int):
    """Values that survive a round trip unchanged: what decode itself would produce for this field."""
    if f.map or f.repeated:
        if f.is_message and depth >= MAX_DEPTH:
            return None
        elem = _element(f, depth)
        coll = (st.dictionaries(_text, elem, min_size=1, max_size=2) if f.map
                else st.lists(elem, min_size=1, max_size=2))
        return st.one_of(st.none(), coll) if f.mode == "!" else coll
    if f.is_message:
        if depth >= MAX_DEPTH:
            return st.none() if f.mode == "!" else None
        msg = _message(f.type, depth + 1)
        return st.one_of(st.none(), msg) if f.mode == "!" else msg
    if f.mode == "" and f.type in _NONZERO:
        return _NONZERO[f.type]  # a zero here is dropped by omitempty, so it cannot round-trip
    if f.mode == "~":
        return st.one_of(st.none(), _SCALAR[f.type])  # a pointer without omitempty: null when unset
    return _SCALAR[f.type]


_cache: dict = {}


def _message(name: str, depth: int = 0):
    key = (name, depth)
    if key not in _cache:
        required, optional = {}, {}
        for f in _flat_fields(name):
            strategy = _field(f, depth)
            if strategy is not None:
                (required if f.always else optional)[f.name] = strategy
        _cache[key] = st.fixed_dictionaries(required, optional=optional)
    return _cache[key]


objects = st.sampled_from(sorted(KINDS)).flatmap(
    lambda gvk: _message(KINDS[gvk]).map(lambda body: {"kind": gvk[1], "apiVersion": gvk[0], **body}))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(objects)
def test_every_schema_object_survives_encode_then_decode(obj):
    assert decode_object(encode_object(obj)) == obj


# -- malformed input ----------------------------------------------------------------------------------
def _decodes_or_refuses(body: bytes) -> None:
    try:
        obj = decode_object(body)
    except ValueError:
        return
    json.dumps(obj)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_random_bytes_never_raise_anything_but_value_error(data, with_magic):
    _decodes_or_refuses((b"k8s\x00" if with_magic else b"") + data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(objects, st.data())
def test_corrupted_real_bodies_never_raise_anything_but_value_error(obj, data):
    body = bytearray(encode_object(obj))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(body) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            body[i] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del body[i:]
            if not body:
                body = bytearray(b"k8s\x00")
        else:
            body[i:i] = data.draw(st.binary(min_size=1, max_size=4))
    _decodes_or_refuses(bytes(body))


def _envelope(api_version: str, kind: str, raw: bytes, encoding: str = "") -> bytes:
    def ld(num: int, data: bytes) -> bytes:
        assert len(data) < 128
        return bytes([num << 3 | 2, len(data)]) + data

    type_meta = ld(1, api_version.encode()) + ld(2, kind.encode())
    return b"k8s\x00" + ld(1, type_meta) + ld(2, raw) + ld(3, encoding.encode()) + ld(4, b"")


@pytest.mark.parametrize(("body", "message"), [
    (b"", "k8s"),
    (b'{"kind": "Namespace"}', "k8s"),
    (b"k8s\x00", "apiVersion/kind"),
    (_envelope("policy/v1", "PodDisruptionBudget", b""), "policy/v1/PodDisruptionBudget"),
    (_envelope("v1", "Namespace", b"", encoding="gzip"), "gzip"),
    (_envelope("v1", "Namespace", b"\x0a\x05\x0a\x03ab"), "past the end"),  # name claims 3 bytes, has 2
    (_envelope("v1", "Namespace", b"\x0a\x02\x08\x01"), "name should be length-delimited"),  # name as varint
    (_envelope("v1", "Namespace", b"\x0a\x01\x0b"), "wire type 3"),  # a group start
    (_envelope("v1", "Service", b"\x12\x08\x0a\x06\x22\x04\x08\x02\x10\x01"), "IntOrString type 2"),
    (_envelope("v1", "Namespace", b"\x0a\x0c\x42\x0a\x08\xff\xff\xff\xff\xff\xff\xff\xff\x7f"), "out of range"),
], ids=["empty", "json", "no-type", "unsupported-kind", "content-encoding", "truncated", "wrong-wire-type", "group",
        "int-or-string-type", "time-range"])
def test_malformed_or_unsupported_bodies_are_refused_with_a_clear_value_error(body, message):
    with pytest.raises(ValueError, match=message) as info:
        decode_object(body)
    # well-formed but unreadable here (415 in the server) versus malformed (400)
    assert isinstance(info.value, UnsupportedProtobuf) == (message in ("policy/v1/PodDisruptionBudget", "gzip"))


def test_managed_fields_json_that_is_not_json_or_absurdly_deep_is_a_value_error():
    for raw in (b"{not json", b"[" * 200_000):
        entry = protobuf._len_field(7, protobuf._len_field(1, raw))  # ManagedFieldsEntry.fieldsV1.Raw
        meta = protobuf._len_field(17, entry)  # ObjectMeta.managedFields
        body = protobuf.MAGIC + protobuf._len_field(1, protobuf._len_field(1, b"v1") + protobuf._len_field(2, b"Pod"))
        body += protobuf._len_field(2, protobuf._len_field(1, meta))
        with pytest.raises(ValueError, match="FieldsV1"):
            decode_object(body)


def test_unknown_fields_are_skipped_like_the_go_decoder_does():
    obj = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "cfg", "creationTimestamp": None},
           "data": {"a": "1"}}
    raw = protobuf._encode_message("ConfigMap", obj)
    extra = b"\x98\x06\x07" + b"\x92\x06\x02hi"  # field 99 as a varint, field 98 as bytes: unknown to ConfigMap
    assert decode_object(_envelope("v1", "ConfigMap", extra + raw + extra)) == obj


def test_time_is_whole_seconds_in_utc_and_zero_time_is_null():
    ns = {"kind": "Namespace", "apiVersion": "v1",
          "metadata": {"name": "n", "creationTimestamp": "2024-02-29T12:30:05+02:00"}}
    assert decode_object(encode_object(ns))["metadata"]["creationTimestamp"] == "2024-02-29T10:30:05Z"
    ns["metadata"]["creationTimestamp"] = None
    assert decode_object(encode_object(ns))["metadata"]["creationTimestamp"] is None


def test_encode_refuses_values_of_the_wrong_type():
    with pytest.raises(ValueError, match="replicas must be an integer"):
        encode_object({"kind": "Deployment", "apiVersion": "apps/v1", "spec": {"replicas": "2"}})
    with pytest.raises(ValueError, match="unsupported kind"):
        encode_object({"kind": "Widget", "apiVersion": "v1"})

"""Fuzzing the Kubernetes API emulator over HTTPS with a valid token.

Malformed paths, query strings, bodies and patches must each get a 4xx answer carrying a ``Status``
object (or a 2xx where the input happened to be valid), never a 5xx, and the server must keep answering
``/version`` after every example. The fuzz runs against its own emulator, so whatever it creates or
deletes cannot disturb other tests.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rehearsal.kubeapi.kubeconfig import read_kubeconfig

FUZZ_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
NS = "fuzz"
REQUEST_TIMEOUT = 5  # seconds; loopback answers take milliseconds, so a request this slow is a hang

# Numbers either small (so a body that happens to be valid cannot ask for thousands of pods) or beyond
# int32/int64, which a typed field must reject.
NUMBERS = st.one_of(
    st.integers(-1000, 50),
    st.integers(2**31, 10**30),
    st.integers(-(10**30), -(2**31)),
    st.floats(allow_nan=False, allow_infinity=False),
)
TEXT = st.text(max_size=40)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=20,
)
RESOURCE_PATHS = [
    "/api/v1/namespaces",
    f"/api/v1/namespaces/{NS}/configmaps",
    f"/api/v1/namespaces/{NS}/secrets",
    f"/api/v1/namespaces/{NS}/services",
    f"/api/v1/namespaces/{NS}/pods",
    f"/apis/apps/v1/namespaces/{NS}/deployments",
    f"/apis/apps/v1/namespaces/{NS}/replicasets",
    f"/apis/batch/v1/namespaces/{NS}/jobs",
    # The traffic-split types a launch drives (served like CRDs, except Ingress).
    f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses",
    f"/apis/gateway.networking.k8s.io/v1/namespaces/{NS}/gateways",
    f"/apis/gateway.networking.k8s.io/v1/namespaces/{NS}/httproutes",
    f"/apis/route.openshift.io/v1/namespaces/{NS}/routes",
]
KINDS = ["ConfigMap", "Secret", "Service", "Pod", "Deployment", "ReplicaSet", "Job", "Namespace", "Ingress",
         "Gateway", "HTTPRoute", "Route", "Status", "", "Bogus"]
API_VERSIONS = ["v1", "apps/v1", "batch/v1", "networking.k8s.io/v1", "gateway.networking.k8s.io/v1",
                "route.openshift.io/v1", "v2", "apps/v9", "", "/"]
HTTPROUTES = f"/apis/gateway.networking.k8s.io/v1/namespaces/{NS}/httproutes"


class Api:
    """Requests with the kubeconfig's token over one keep-alive HTTPS connection."""

    def __init__(self, host: str, port: int, token: str, context: ssl.SSLContext):
        self.host, self.port, self.token, self.context = host, port, token, context
        self.conn: http.client.HTTPSConnection | None = None

    @classmethod
    def from_kubeconfig(cls, path: Path, workdir: Path) -> Api:
        endpoint = read_kubeconfig(path, workdir)
        return cls(endpoint.host, endpoint.port, endpoint.token, endpoint.ssl_context)

    def request(self, method: str, target: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
        """(status, content type, body). A connection the server closed while idle is reopened once,
        as any HTTP client does; a connection dropped in answer to a fresh one is an error."""
        all_headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        all_headers.update(headers or {})
        reused = self.conn is not None
        if self.conn is None:
            self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.context,
                                                    timeout=REQUEST_TIMEOUT)
        try:
            self.conn.request(method, target, body=body, headers=all_headers)
            resp = self.conn.getresponse()
            answer = resp.status, resp.getheader("Content-Type", ""), resp.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.close()
            if not reused:
                raise
            return self.request(method, target, body, headers)
        except Exception:
            self.close()
            raise
        if resp.will_close:
            self.close()
        return answer

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    from rehearsal.kubeapi.cluster import Cluster

    cluster = Cluster(tmp_path_factory.mktemp("kubeapi-fuzz"), host="127.0.0.1", port=0)
    cluster.start()
    try:
        client = Api.from_kubeconfig(Path(cluster.kubeconfig), tmp_path_factory.mktemp("fuzz-ca"))
        status, _, body = client.request("POST", "/api/v1/namespaces",
                                         json.dumps({"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": NS}}).encode(),
                                         {"Content-Type": "application/json"})
        assert status == 201, body
        yield client
        client.close()
    finally:
        cluster.stop()


def assert_well_behaved(api: Api, method: str, target: str, status: int, content_type: str, body: bytes) -> None:
    where = f"{method} {target!r} -> {status}: {body[:500]!r}"
    assert status < 500, where
    assert 200 <= status < 300 or 400 <= status < 500, where
    if status >= 400:
        # kube-apiserver encodes a Status in the negotiated media type: JSON unless YAML was asked for.
        assert "json" in content_type or "yaml" in content_type, where
        answer = json.loads(body) if "json" in content_type else yaml.safe_load(body)
        assert answer.get("kind") == "Status", where
        assert answer.get("apiVersion") == "v1", where
        assert answer.get("status") == "Failure", where
        assert answer.get("code") == status, where
    version_status, _, version = api.request("GET", "/version")
    assert version_status == 200, f"/version answered {version_status} after {where}"
    assert "gitVersion" in json.loads(version)


def ensure_targets(api: Api) -> None:
    """The objects the patch fuzz aims at; recreated if an earlier example deleted or broke them."""
    targets = {
        "/api/v1/namespaces": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        f"/api/v1/namespaces/{NS}/configmaps": {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "target", "labels": {"a": "b"}},
            "data": {"k": "v"}},
        f"/apis/apps/v1/namespaces/{NS}/deployments": {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "target"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "target"}},
                     "template": {"metadata": {"labels": {"app": "target"}},
                                  "spec": {"containers": [{"name": "c", "image": "rehearsal/web:1.0"}]}}}},
        HTTPROUTES: {
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "target"},
            "spec": {"parentRefs": [{"name": "gw"}],
                     "rules": [{"backendRefs": [{"name": "blue", "port": 80, "weight": 90},
                                                {"name": "green", "port": 80, "weight": 10}]}]}},
    }
    for collection, obj in targets.items():
        status, _, _ = api.request("GET", f"{collection}/{obj['metadata']['name']}")
        if status == 404:
            status, _, body = api.request("POST", collection, json.dumps(obj).encode(),
                                          {"Content-Type": "application/json"})
            assert status == 201, body


def quote_segment(segment: str, raw: bool) -> str:
    if raw and segment.isascii() and segment.isprintable() and " " not in segment and "#" not in segment \
            and "?" not in segment:
        return segment
    return urllib.parse.quote(segment, safe="")


# -- paths ----------------------------------------------------------------------------------

# NS is left out so the path fuzz cannot delete the namespace the other fuzz tests work in.
PATH_WORDS = ["api", "apis", "v1", "apps", "batch", "namespaces", "paths", "default", "pods", "deployments",
              "configmaps", "replicasets", "status", "scale", "log", "nodes", "version", "openapi", "v2", "v3",
              "healthz", "..", ".", "", "%00", "a" * 300, "Deployments", "kube-system", "target"]
# Streams (watch, follow) legitimately hold the connection open; they are not malformed input.
SEGMENTS = st.one_of(st.sampled_from(PATH_WORDS), st.text(max_size=20)).filter(
    lambda s: s.lower() not in ("watch",))


@FUZZ_SETTINGS
@given(method=st.sampled_from(["GET", "DELETE", "POST", "PUT", "PATCH"]),
       segments=st.lists(SEGMENTS, max_size=8), raw=st.booleans(), trailing_slash=st.booleans())
def test_fuzzed_paths_never_get_a_server_error(api, method, segments, raw, trailing_slash):
    target = "/" + "/".join(quote_segment(s, raw) for s in segments) + ("/" if trailing_slash else "")
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    headers = {"Content-Type": "application/merge-patch+json" if method == "PATCH" else "application/json"}
    status, ctype, answer = api.request(method, target, body, headers)
    assert_well_behaved(api, method, target, status, ctype, answer)


# -- query strings --------------------------------------------------------------------------

QUERY_KEYS = ["labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "resourceVersionMatch",
              "timeoutSeconds", "allowWatchBookmarks", "pretty", "dryRun", "fieldManager", "fieldValidation",
              "propagationPolicy", "gracePeriodSeconds", "orphanDependents", "sendInitialEvents", "force"]
QUERY_VALUES = st.one_of(
    TEXT, NUMBERS.map(str), st.sampled_from(["", "true", "false", "All", "Strict", "Foreground", "0", "-1",
                                             "a=b", "a in (b", "!!", "a,=", "metadata.name=target", "x=="]))


@FUZZ_SETTINGS
@given(method=st.sampled_from(["GET", "GET", "DELETE", "PATCH"]),
       path=st.sampled_from([*RESOURCE_PATHS, f"/api/v1/namespaces/{NS}/configmaps/target",
                             f"/apis/apps/v1/namespaces/{NS}/deployments/target"]),
       params=st.lists(st.tuples(st.one_of(st.sampled_from(QUERY_KEYS), TEXT), QUERY_VALUES), max_size=5))
def test_fuzzed_query_strings_never_get_a_server_error(api, method, path, params):
    if method == "DELETE" and path == "/api/v1/namespaces":
        method = "GET"  # deleting every namespace would only stop the rest of the fuzz from running
    ensure_targets(api)
    params = [(k, v) for k, v in params if k not in ("watch", "follow")]
    target = path + ("?" + urllib.parse.urlencode(params) if params else "")
    body = b"{}" if method == "PATCH" else None
    status, ctype, answer = api.request(method, target, body, {"Content-Type": "application/merge-patch+json"})
    assert_well_behaved(api, method, target, status, ctype, answer)


# -- bodies ---------------------------------------------------------------------------------

OBJECTS = st.fixed_dictionaries(
    {"apiVersion": st.sampled_from(API_VERSIONS), "kind": st.sampled_from(KINDS)},
    optional={
        "metadata": st.fixed_dictionaries({}, optional={
            "name": st.one_of(TEXT, st.sampled_from(["ok-name", "a" * 300, "UPPER", "-x", "x.y", "é", "\ud800"])),
            "namespace": st.one_of(TEXT, st.just(NS)),
            "labels": st.one_of(st.dictionaries(TEXT, TEXT, max_size=3), JSON_VALUES),
            "generateName": TEXT,
            "resourceVersion": st.one_of(TEXT, NUMBERS.map(str)),
        }),
        "spec": JSON_VALUES,
        "data": st.one_of(st.dictionaries(TEXT, TEXT, max_size=3), JSON_VALUES),
        "status": JSON_VALUES,
    },
)


def encode_json(value, ascii_only: bool) -> bytes:
    # ensure_ascii escapes lone surrogates, which then reach the server as "\udXXX" escapes.
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", errors="surrogatepass")


BODIES = st.one_of(
    st.tuples(st.one_of(OBJECTS, JSON_VALUES), st.booleans()).map(lambda t: encode_json(*t)),
    st.binary(max_size=200),
    st.sampled_from([b"", b"{", b"[]", b"null", b"{\"apiVersion\": 1}", b"NaN", b"{\"a\": NaN}",
                     b"\xff\xfe", b"{\"metadata\": {\"name\": 1e999}}", b"---\nkind: x\n", b"{}" * 100]),
)
CONTENT_TYPES = st.sampled_from(["application/json", "application/yaml", "application/vnd.kubernetes.protobuf",
                                 "text/plain", "application/merge-patch+json", "", "application/json; charset=x",
                                 "multipart/form-data", "*/*"])


ACCEPTS = st.sampled_from(["application/json", "*/*", "application/yaml", "text/html", "",
                           "application/json;as=Table;v=v1;g=meta.k8s.io",
                           "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
                           "application/json;as=Bogus", "application/vnd.kubernetes.protobuf,application/json",
                           "application/json;q=0", ";;;"])


@FUZZ_SETTINGS
@given(method=st.sampled_from(["POST", "POST", "PUT"]), path=st.sampled_from(RESOURCE_PATHS),
       name=st.one_of(st.just("target"), TEXT.filter(lambda s: s.lower() != "watch")),
       subresource=st.sampled_from(["", "", "/status", "/scale"]),
       body=BODIES, content_type=CONTENT_TYPES, accept=ACCEPTS)
def test_fuzzed_bodies_never_get_a_server_error(api, method, path, name, subresource, body, content_type, accept):
    target = path if method == "POST" else f"{path}/{urllib.parse.quote(name, safe='')}{subresource}"
    headers = {"Content-Type": content_type} if content_type else {}
    if accept:
        headers["Accept"] = accept
    status, ctype, answer = api.request(method, target, body, headers)
    assert_well_behaved(api, method, target, status, ctype, answer)


# -- patches --------------------------------------------------------------------------------

POINTERS = st.one_of(
    st.sampled_from(["", "/", "/metadata", "/metadata/labels/x", "/metadata/name", "/metadata/uid", "/data",
                     "/data/k", "/data/new", "/spec", "/spec/replicas", "/spec/selector",
                     "/spec/template/spec/containers/0/image", "/spec/template/spec/containers/-",
                     "/spec/template/spec/containers/7", "/kind", "/apiVersion", "/status", "/a~1b", "/~2",
                     "/data/-1", "/metadata/labels/a"]),
    st.lists(TEXT, max_size=4).map(lambda parts: "".join("/" + p for p in parts)),
)
JSON_PATCH_OPS = st.fixed_dictionaries(
    {"op": st.one_of(st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]), TEXT)},
    optional={"path": st.one_of(POINTERS, JSON_VALUES), "value": JSON_VALUES, "from": POINTERS},
)
PATCH_BODIES = st.one_of(
    st.lists(JSON_PATCH_OPS, max_size=4).map(lambda ops: json.dumps(ops).encode()),
    st.tuples(st.one_of(OBJECTS, JSON_VALUES), st.booleans()).map(lambda t: encode_json(*t)),
    st.sampled_from([b"", b"[", b"{\"$patch\": \"delete\"}", b"{\"$patch\": \"replace\"}",
                     b"{\"spec\": {\"template\": {\"spec\": {\"containers\": [{\"$patch\": \"delete\"}]}}}}",
                     b"{\"spec\": {\"template\": {\"spec\": {\"containers\": [{\"name\": \"c\", \"$patch\": 1}]}}}}",
                     b"{\"$setElementOrder/data\": [1]}", b"{\"metadata\": {\"$deleteFromPrimitiveList/x\": 1}}",
                     b"{\"spec\": {\"replicas\": 99999999999999999999999}}", b"{\"data\": {\"k\": 1}}",
                     b"[{\"op\": \"add\", \"path\": \"/data/z\"}]", b"\x00\x01"]),
    st.binary(max_size=100),
)
PATCH_TYPES = st.sampled_from(["application/merge-patch+json", "application/json-patch+json",
                               "application/strategic-merge-patch+json", "application/apply-patch+yaml",
                               "application/json", "text/plain", ""])


@FUZZ_SETTINGS
@given(path=st.sampled_from([f"/api/v1/namespaces/{NS}/configmaps/target",
                             f"/apis/apps/v1/namespaces/{NS}/deployments/target",
                             f"/apis/apps/v1/namespaces/{NS}/deployments/target/scale",
                             f"/apis/apps/v1/namespaces/{NS}/deployments/target/status",
                             f"{HTTPROUTES}/target", f"{HTTPROUTES}/target/status",
                             f"/api/v1/namespaces/{NS}/configmaps/missing"]),
       body=PATCH_BODIES, content_type=PATCH_TYPES, field_manager=st.booleans(), dry_run=st.booleans())
def test_fuzzed_patches_never_get_a_server_error(api, path, body, content_type, field_manager, dry_run):
    ensure_targets(api)
    params = {}
    if field_manager:
        params["fieldManager"] = "fuzz"
    if dry_run:
        params["dryRun"] = "All"
    target = path + ("?" + urllib.parse.urlencode(params) if params else "")
    headers = {"Content-Type": content_type} if content_type else {}
    status, ctype, answer = api.request("PATCH", target, body, headers)
    assert_well_behaved(api, "PATCH", target, status, ctype, answer)
    name = "missing" if path.endswith("/missing") else "target"
    if 200 <= status < 300 and not (dry_run and name == "missing"):
        # An accepted patch leaves an object that reads back as a well-formed one of its kind
        # (server-side apply creates a missing object; a dry run of that creates nothing).
        read_status, _, read = api.request("GET", path)
        assert read_status == 200, read
        obj = json.loads(read)
        assert obj["metadata"]["name"] == name
        assert obj["kind"] in ("ConfigMap", "Deployment", "Scale", "HTTPRoute")


# -- watches --------------------------------------------------------------------------------

WATCH_EVENT_TYPES = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"}


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(RESOURCE_PATHS[1:]),
       params=st.fixed_dictionaries({}, optional={
           "resourceVersion": st.one_of(st.sampled_from(["0", "1", "", "999999999999", "-1"]), TEXT),
           "labelSelector": QUERY_VALUES, "fieldSelector": QUERY_VALUES,
           "allowWatchBookmarks": st.sampled_from(["true", "false", "maybe"])}))
def test_fuzzed_watches_end_at_their_timeout_with_well_formed_events(api, path, params):
    ensure_targets(api)
    # timeoutSeconds=1 bounds the stream; the client's own socket timeout catches a stream that never ends.
    target = f"{path}?" + urllib.parse.urlencode({**params, "watch": "true", "timeoutSeconds": "1"})
    status, ctype, answer = api.request("GET", target)
    assert_well_behaved(api, "GET", target, status, ctype, answer)
    if status == 200:
        for line in answer.splitlines():
            event = json.loads(line)
            assert event["type"] in WATCH_EVENT_TYPES, line
            assert isinstance(event["object"], dict), line
            if event["type"] == "ERROR":
                assert event["object"]["kind"] == "Status", line

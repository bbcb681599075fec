"""The HTTP(S) front of the Kubernetes API emulator: routing, auth, content negotiation, watch streams.

Serves on HTTP/1.1 with keep-alive from a thread-per-connection server; TLS is negotiated in the
connection's own thread so a slow client cannot stall the accept loop.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import select
import socket
import ssl
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from . import discovery, schema, tables
from .errors import APIError, bad_request, method_not_allowed
from .handlers import API, APPLY, JSON_PATCH, MERGE, STRATEGIC, Options, Outcome
from .resources import REGISTRY, ResourceType
from .store import Gone

log = logging.getLogger(__name__)

UNAUTHORIZED = APIError(401, "Unauthorized", "Unauthorized")
NOT_FOUND_PATH = APIError(404, "NotFound", "the server could not find the requested resource", {})
PUBLIC_PATHS = {"/healthz", "/livez", "/readyz"}
WATCH_MAX_SECONDS = 1800
BOOKMARK_EVERY = 10.0


class _Request:
    """What routing found: resource type, namespace, name, subresource, and whether it is a watch."""

    __slots__ = ("rt", "namespace", "name", "sub", "watch_path")

    def __init__(self, rt, namespace=None, name=None, sub=None, watch_path=False):
        self.rt, self.namespace, self.name, self.sub, self.watch_path = rt, namespace, name, sub, watch_path


def route_resource(group: str, version: str, segs: list[str]) -> _Request | None:
    """Map the path segments after /api/v1 or /apis/<g>/<v> to a resource request (None: no such path)."""
    watch_path = False
    if segs and segs[0] == "watch":
        watch_path, segs = True, segs[1:]
    if not segs or len(segs) > 5:
        return None
    ns = None
    if segs[0] == "namespaces" and len(segs) >= 3:
        candidate = REGISTRY.lookup(group, version, segs[2])
        if candidate is not None and candidate.namespaced:
            ns, segs = segs[1], segs[2:]
    if len(segs) > 3:
        return None
    rt = REGISTRY.lookup(group, version, segs[0])
    if rt is None:
        return None
    if rt.namespaced is False and ns is not None:
        return None
    name = segs[1] if len(segs) > 1 else None
    sub = segs[2] if len(segs) > 2 else None
    if sub is not None and sub not in rt.subresources:
        return None
    if watch_path and sub is not None:
        return None
    return _Request(rt, ns, name, sub, watch_path)


def _media_types(accept: str) -> list[tuple[str, dict]]:
    out = []
    for part in (accept or "").split(","):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0]:
            continue
        params = {}
        for p in pieces[1:]:
            k, _, v = p.partition("=")
            params[k.strip()] = v.strip()
        out.append((pieces[0].lower(), params))
    return out


class Negotiated:
    __slots__ = ("table", "table_version", "aggregated", "acceptable")

    def __init__(self, accept: str):
        self.table = False
        self.table_version = "v1"
        self.aggregated = None
        self.acceptable = not accept
        for mt, params in _media_types(accept):
            if params.get("as") == "Table" and params.get("g") == "meta.k8s.io" and mt == "application/json":
                if not self.table:
                    self.table, self.table_version = True, params.get("v", "v1")
                self.acceptable = True
            elif params.get("as") == "APIGroupDiscoveryList" and params.get("g") == "apidiscovery.k8s.io":
                if self.aggregated is None and params.get("v") in ("v2", "v2beta1"):
                    self.aggregated = params["v"]
                    self.acceptable = True
            elif mt in ("application/json", "*/*", "application/*") and "as" not in params:
                self.acceptable = True


class KubeAPIServer:
    """A Kubernetes API server over ``store`` on ``host:port`` (0: any free port), bearer-token protected."""

    def __init__(self, store, *, host: str = "127.0.0.1", port: int = 0, token: str, tls_cert: str | None = None,
                 tls_key: str | None = None, pod_logs=None):
        if not token:
            raise ValueError("token is required")
        self.store = store
        self.host, self.port = host, port
        self.token = token
        self.api = API(store, pod_logs)
        self.tls_cert, self.tls_key = tls_cert, tls_key
        self._ssl = None
        if tls_cert and tls_key:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls_cert, tls_key)
            ctx.set_alpn_protocols(["http/1.1"])
            self._ssl = ctx
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl else "http"
        port = self._httpd.server_address[1] if self._httpd else self.port
        return f"{scheme}://{self.host}:{port}"

    def start(self) -> None:
        if self._httpd is not None:
            return
        self.stopping.clear()
        self._httpd = _HTTPServer((self.host, self.port), _Handler, self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                         name="kubeapi-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        httpd = self._httpd
        if httpd is None:
            return
        self.stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        httpd.join_workers(timeout=5)
        self._httpd = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, handler, owner: KubeAPIServer):
        self.owner = owner
        self._conns: set = set()
        self._conns_lock = threading.Lock()
        self._workers: set[threading.Thread] = set()
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        t = threading.Thread(target=self.process_request_thread, args=(request, client_address), daemon=True)
        with self._conns_lock:
            self._workers = {w for w in self._workers if w.is_alive()}
            self._workers.add(t)
        t.start()

    def finish_request(self, request, client_address):
        with self._conns_lock:
            self._conns.add(request)
        with contextlib.suppress(OSError):
            # Small responses must not wait for the peer's delayed ACK (Nagle): ~40 ms per request otherwise.
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if self.owner._ssl is not None:
                request.settimeout(10)
                try:
                    request = self.owner._ssl.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                request.settimeout(None)
                with self._conns_lock:
                    self._conns.add(request)
            self.RequestHandlerClass(request, client_address, self)
        finally:
            with self._conns_lock:
                self._conns.discard(request)

    def handle_error(self, request, client_address):  # pragma: no cover - logged, never fatal
        log.debug("connection error from %s: %s", client_address, traceback.format_exc())

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)

    def join_workers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._conns_lock:
            workers = list(self._workers)
        for w in workers:
            w.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-emulator"
    sys_version = ""
    timeout = 300  # idle keep-alive connections are closed after this many seconds

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        log.debug("%s - %s", self.address_string(), format % args)

    # Every method funnels into _dispatch.
    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_OPTIONS(self):
        self._dispatch("OPTIONS")

    def send_error(self, code, message=None, explain=None):
        """Protocol-level errors (bad request line, unknown method) as Status objects too."""
        if code == 501:
            err = method_not_allowed(getattr(self, "command", "") or "")
        else:
            reason = {400: "BadRequest", 408: "Timeout", 414: "RequestURITooLong", 431: "BadRequest"}.get(
                code, "BadRequest")
            err = APIError(code, reason, message or "bad request")
        self.close_connection = True
        try:
            body = json.dumps(err.status(), separators=(",", ":")).encode()
            self.send_response(err.code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if getattr(self, "command", None) != "HEAD":
                self.wfile.write(body)
        except OSError:
            pass

    @property
    def owner(self) -> KubeAPIServer:
        return self.server.owner

    # -- plumbing --------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                try:
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    self.close_connection = True
                    raise bad_request("malformed chunked body") from None
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > 64 * 1024 * 1024:
                    self.close_connection = True
                    raise APIError(413, "RequestEntityTooLarge", "the request is too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            n = int(length)
        except ValueError:
            self.close_connection = True
            raise bad_request("invalid Content-Length") from None
        if n < 0 or n > 64 * 1024 * 1024:
            self.close_connection = True
            raise APIError(413, "RequestEntityTooLarge", "the request is too large")
        return self.rfile.read(n)

    def _send(self, code: int, body: bytes, content_type: str = "application/json",
              warnings: list[str] | None = None, extra: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for w in warnings or ():
            # Header values must be latin-1 on the wire; escape anything else (e.g. a unicode
            # unknown-field name) rather than fail the whole response.
            text = w.replace('"', '\\"').encode("ascii", "backslashreplace").decode("ascii")
            self.send_header("Warning", '299 - "' + text + '"')
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if self.command != "HEAD":
            # Headers and body leave in one write (one TLS record, one TCP segment train).
            self._headers_buffer.append(b"\r\n" + body)
            self.flush_headers()
        else:
            self.end_headers()

    def _send_json(self, code: int, obj, warnings=None, content_type: str = "application/json") -> None:
        self._send(code, json.dumps(obj, separators=(",", ":")).encode(), content_type, warnings)

    def _send_error(self, err: APIError) -> None:
        self._send_json(err.code, err.status())

    def _dispatch(self, method: str) -> None:
        try:
            # Read any body, whatever the method: left unread it would corrupt the next request on this connection.
            body = self._read_body()
            self._route(method, body)
        except APIError as err:
            self._send_error(err)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError):
            self.close_connection = True
        except Exception:  # noqa: BLE001 - a bug must answer 500, never kill the connection thread
            log.error("internal error on %s %s\n%s", method, self.path, traceback.format_exc())
            self._headers_buffer = []  # drop any half-built response before answering 500
            try:
                self._send_error(APIError(500, "InternalError", "Internal error occurred: the emulator failed "
                                                                "to handle the request"))
            except OSError:
                self.close_connection = True

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        return hmac.compare_digest(token.strip().encode(), self.owner.token.encode())

    # -- routing ------------------------------------------------------------------------------
    def _route(self, method: str, body: bytes) -> None:
        try:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False, max_num_fields=200)
        except ValueError as exc:
            raise bad_request(f"malformed request: {exc}") from None
        path = unquote(parts.path)
        if path in PUBLIC_PATHS or (path.startswith(("/healthz/", "/livez/", "/readyz/"))):
            return self._send(200, b"ok", "text/plain; charset=utf-8")
        if not self._authorized():
            raise UNAUTHORIZED
        opts = Options(query)
        neg = Negotiated(self.headers.get("Accept") or "")
        segs = [s for s in path.split("/") if s]
        if not neg.acceptable and not (segs and segs[0] in ("openapi", "version")):
            raise APIError(406, "NotAcceptable", "only the following media types are accepted: application/json, "
                                                 "application/yaml, application/vnd.kubernetes.protobuf")
        if segs[:1] == ["version"] and len(segs) == 1:
            return self._get_only(method, lambda: self._send_json(200, discovery.VERSION))
        if segs[:1] == ["openapi"]:
            return self._get_only(method, lambda: self._openapi(segs[1:]))
        if segs[:1] == ["api"]:
            if len(segs) == 1:
                return self._get_only(method, lambda: self._discovery_root(True, neg))
            if segs[1] != "v1":
                raise NOT_FOUND_PATH
            group, version, rest = "", "v1", segs[2:]
        elif segs[:1] == ["apis"]:
            if len(segs) == 1:
                return self._get_only(method, lambda: self._discovery_root(False, neg))
            if len(segs) == 2:
                doc = discovery.api_group(segs[1])
                if doc is None:
                    raise NOT_FOUND_PATH
                return self._get_only(method, lambda: self._send_json(200, doc))
            group, version, rest = segs[1], segs[2], segs[3:]
        else:
            raise NOT_FOUND_PATH
        if not rest:
            doc = discovery.resource_list(group, version)
            if doc is None:
                raise NOT_FOUND_PATH
            return self._get_only(method, lambda: self._send_json(200, doc))
        req = route_resource(group, version, rest)
        if req is None:
            raise NOT_FOUND_PATH
        self._resource(method, req, body, opts, neg)

    def _get_only(self, method: str, fn) -> None:
        if method not in ("GET", "HEAD"):
            raise method_not_allowed(method)
        fn()

    def _discovery_root(self, core: bool, neg: Negotiated) -> None:
        if neg.aggregated:
            ctype = discovery.AGGREGATED_V2 if neg.aggregated == "v2" else discovery.AGGREGATED_V2BETA1
            doc = discovery.aggregated(core, f"apidiscovery.k8s.io/{neg.aggregated}")
            return self._send_json(200, doc, content_type=ctype)
        if core:
            host = self.headers.get("Host") or f"{self.owner.host}:{self.server.server_address[1]}"
            return self._send_json(200, discovery.api_versions(host))
        return self._send_json(200, discovery.api_group_list())

    def _openapi(self, rest: list[str]) -> None:
        accept = self.headers.get("Accept") or ""
        json_ok = (not accept or any(mt in ("application/json", "*/*", "application/*")
                                     for mt, _ in _media_types(accept)))
        if not json_ok:
            raise APIError(406, "NotAcceptable", "only the following media types are accepted: application/json")
        if rest == ["v2"]:
            return self._send(200, schema.openapi_v2())
        if rest == ["v3"]:
            return self._send_json(200, schema.openapi_v3_root())
        if len(rest) >= 3 and rest[0] == "v3":
            gv = rest[1:]
            if gv[0] == "api" and len(gv) == 2:
                group, version = "", gv[1]
            elif gv[0] == "apis" and len(gv) == 3:
                group, version = gv[1], gv[2]
            else:
                raise NOT_FOUND_PATH
            if not REGISTRY.in_group_version(group, version):
                raise NOT_FOUND_PATH
            return self._send(200, schema.openapi_v3(group, version), "application/json")
        raise NOT_FOUND_PATH

    # -- resources ----------------------------------------------------------------------------
    def _resource(self, method: str, req: _Request, body: bytes, opts: Options, neg: Negotiated) -> None:
        api = self.owner.api
        rt, ns, name, sub = req.rt, req.namespace, req.name, req.sub
        ua = self.headers.get("User-Agent") or ""
        if name is None:
            if req.watch_path or (method == "GET" and opts.flag("watch")):
                if method != "GET":
                    raise method_not_allowed(method)
                return self._watch(rt, ns, opts, neg)
            if method in ("GET", "HEAD"):
                return self._list(rt, ns, opts, neg)
            if method == "POST":
                if rt.namespaced and ns is None:
                    raise method_not_allowed(method)
                return self._outcome(api.create(rt, ns, body, opts, ua, self._content_type()), rt, neg)
            if method == "DELETE":
                return self._outcome(api.delete_collection(rt, ns, body, opts), rt, neg)
            raise method_not_allowed(method)
        if rt.namespaced and ns is None:
            raise NOT_FOUND_PATH
        if req.watch_path:
            if method != "GET":
                raise method_not_allowed(method)
            return self._watch(rt, ns, opts, neg, name=name)
        if sub == "log":
            if method not in ("GET", "HEAD"):
                raise method_not_allowed(method)
            return self._send(200, api.logs(ns, name, opts), "text/plain")
        if sub == "scale" and method in ("GET", "HEAD"):
            raw = api.get(rt, ns, name)
            return self._send_json(200, api.scale(rt, json.loads(raw)))
        if method in ("GET", "HEAD"):
            raw = api.get(rt, ns, name)
            if neg.table:
                obj = json.loads(raw)
                return self._send_json(200, tables.to_table(rt, [obj], {"resourceVersion": obj["metadata"].get(
                    "resourceVersion", "")}, opts.get("includeObject") or "Metadata"))
            return self._send(200, raw.encode())
        if method == "PUT":
            return self._outcome(api.update(rt, ns, name, body, opts, ua, sub, self._content_type()), rt, neg)
        if method == "PATCH":
            ctype = self._content_type()
            if ctype not in (MERGE, JSON_PATCH, STRATEGIC, APPLY):
                api.check_patch_type(rt, ctype)
            return self._outcome(api.patch(rt, ns, name, body, ctype, opts, ua, sub), rt, neg)
        if method == "DELETE" and sub is None:
            return self._outcome(api.delete(rt, ns, name, body, opts), rt, neg)
        raise method_not_allowed(method)

    def _content_type(self) -> str:
        return (self.headers.get("Content-Type") or "application/json").split(";")[0].strip().lower()

    def _outcome(self, out: Outcome, rt: ResourceType, neg: Negotiated) -> None:
        if out.raw is not None:
            return self._send(out.code, out.raw, warnings=out.warnings)
        self._send_json(out.code, out.body, warnings=out.warnings)

    def _list(self, rt: ResourceType, ns: str | None, opts: Options, neg: Negotiated) -> None:
        items, list_meta, raw = self.owner.api.list(rt, ns, opts)
        if neg.table:
            objs = [json.loads(i) for i in items] if raw else items
            return self._send_json(200, tables.to_table(rt, objs, list_meta, opts.get("includeObject") or "Metadata"))
        head = json.dumps({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": list_meta},
                          separators=(",", ":"))[:-1]
        body = ",".join(items) if raw else ",".join(json.dumps(o, separators=(",", ":")) for o in items)
        self._send(200, (head + ',"items":[' + body + "]}").encode())

    # -- watch --------------------------------------------------------------------------------
    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return socket.socket.recv(self.connection, 1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _watch(self, rt: ResourceType, ns: str | None, opts: Options, neg: Negotiated, name: str | None = None):
        api = self.owner.api
        match = api.matcher(rt, opts)
        if name is not None:
            def by_name(o, inner=match):
                return (o.get("metadata") or {}).get("name") == name and (inner is None or inner(o))
            match = by_name
        timeout = opts.integer("timeoutSeconds")
        timeout = WATCH_MAX_SECONDS if timeout is None or timeout <= 0 else min(timeout, WATCH_MAX_SECONDS)
        bookmarks = opts.flag("allowWatchBookmarks")
        send_initial = opts.get("sendInitialEvents")
        since = opts.get("resourceVersion")
        if since not in (None, "", "0"):
            try:
                int(since)
            except ValueError:
                raise bad_request(f'invalid resource version "{since}"') from None
        initial: list[dict] = []
        initial_wanted = since in (None, "", "0") or send_initial == "true"
        if initial_wanted:
            initial, list_rv = api.store.list(rt.key, ns, match)
            since = list_rv if since in (None, "", "0") or send_initial == "true" else since
        gone_error = None
        try:
            w = api.store.watch(rt.key, ns, since=since)
        except Gone as exc:
            w, gone_error = None, exc
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        headers_sent = [False]

        def encode(ev_type: str, obj: dict) -> bytes:
            if neg.table and ev_type in ("ADDED", "MODIFIED", "DELETED"):
                obj = tables.to_table(rt, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                                      opts.get("includeObject") or "Metadata", headers=not headers_sent[0])
                headers_sent[0] = True
            return json.dumps({"type": ev_type, "object": obj}, separators=(",", ":")).encode() + b"\n"

        try:
            if gone_error is not None:
                status = APIError(410, "Expired", str(gone_error)).status()
                self._write_chunk(encode("ERROR", status))
                self._write_chunk(b"")
                return
            matched: set[tuple[str, str]] = set()
            for obj in initial:
                m = obj["metadata"]
                matched.add((m.get("namespace", ""), m.get("name", "")))
                self._write_chunk(encode("ADDED", obj))
            if send_initial == "true" and bookmarks:
                self._write_chunk(encode("BOOKMARK", {
                    "kind": rt.kind, "apiVersion": rt.api_version,
                    "metadata": {"resourceVersion": since,
                                 "annotations": {"k8s.io/initial-events-end": "true"}}}))
            deadline = time.monotonic() + timeout
            last_write = time.monotonic()
            stopping = self.owner.stopping
            while not stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                ev = w.next(timeout=min(0.5, remaining))
                if ev is None:
                    if self._client_gone():
                        break
                    if bookmarks and time.monotonic() - last_write > BOOKMARK_EVERY:
                        self._write_chunk(encode("BOOKMARK", {
                            "kind": rt.kind, "apiVersion": rt.api_version,
                            "metadata": {"resourceVersion": api.store.resource_version}}))
                        last_write = time.monotonic()
                    continue
                obj = ev.object
                m = obj.get("metadata") or {}
                key = (m.get("namespace", ""), m.get("name", ""))
                ok = match is None or match(obj)
                ev_type = ev.type
                if ev_type == "DELETED":
                    if not ok and key not in matched:
                        continue
                    matched.discard(key)
                elif ok:
                    if key not in matched and match is not None:
                        ev_type = "ADDED"
                    matched.add(key)
                else:
                    if key not in matched:
                        continue
                    matched.discard(key)
                    ev_type = "DELETED"
                self._write_chunk(encode(ev_type, obj))
                last_write = time.monotonic()
            self._write_chunk(b"")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            if w is not None:
                w.stop()
        self.close_connection = self.close_connection or self.owner.stopping.is_set()

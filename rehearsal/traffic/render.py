"""Pure functions from cluster objects to an nginx configuration.

Three providers set the traffic split, each with its own semantics, kept as the real controllers do:

- Gateway API ``HTTPRoute`` (gateway.networking.k8s.io/v1): a rule's backendRefs share requests in
  proportion weight / sum(weights); weight defaults to 1; weight 0 gets nothing
  (https://gateway-api.sigs.k8s.io/reference/spec/#httpbackendref). A backendRef that cannot be resolved
  (no such Service or port, another namespace, not a Service) is invalid and the requests meant for it get
  500; when every weight is 0 the rule has nothing to send to and answers 500 as well
  (https://gateway-api.sigs.k8s.io/reference/spec/#httproutrule, backendRefs). A valid backend without
  ready endpoints answers 503 for its share, as Envoy Gateway and other conformant implementations do.
  The longest matching path prefix wins; for equal matches the oldest route wins.
- ingress-nginx canary Ingresses: an Ingress annotated ``nginx.ingress.kubernetes.io/canary: "true"`` is
  merged into the primary Ingress with the same host and path; a canary without a primary is dropped, and
  canary annotations on a primary do nothing
  (https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/#canary).
  Per request, in this order (rootfs/etc/nginx/lua/balancer.lua, route_to_alternative_balancer):
  canary-by-header (with -value: exact match goes to the canary, anything else falls through; with
  -pattern: regex match; neither: "always" → canary, "never" → primary, other values fall through), then
  canary-by-cookie ("always"/"never"), then canary-weight out of canary-weight-total (default 100; the Lua
  code only honours a total above 100). A canary whose Service has no endpoints gets nothing (the primary
  serves); a primary without endpoints answers 503 for everything. Only one canary per host/path applies.
- OpenShift ``Route`` (route.openshift.io/v1): ``spec.to`` plus up to three ``alternateBackends``, each
  share weight / sum(weights), weight 0..256, default 100; weight 0 gets nothing, a Service without
  endpoints counts as weight 0, and with nothing left the route answers 503
  (https://docs.openshift.com/container-platform/4.16/rest_api/network_apis/route-route-openshift-io-v1.html).

Weighted choices use nginx ``split_clients`` on ``$request_id`` (random per request), so the measured split
converges on the weights whatever the clients do (no stickiness), as the real controllers' random choice does.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

HTTPROUTES = "httproutes.gateway.networking.k8s.io"
INGRESSES = "ingresses.networking.k8s.io"
ROUTES = "routes.route.openshift.io"
SERVICES = "services"
ENDPOINTS = "endpoints"
ENDPOINTSLICES = "endpointslices"  # discovery.k8s.io/v1: what kube-apiserver's controllers maintain
RESOURCES = (HTTPROUTES, INGRESSES, ROUTES, SERVICES, ENDPOINTS, ENDPOINTSLICES)
SERVICE_NAME_LABEL = "kubernetes.io/service-name"

CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_BY_HEADER = "nginx.ingress.kubernetes.io/canary-by-header"
CANARY_BY_HEADER_VALUE = "nginx.ingress.kubernetes.io/canary-by-header-value"
CANARY_BY_HEADER_PATTERN = "nginx.ingress.kubernetes.io/canary-by-header-pattern"
CANARY_BY_COOKIE = "nginx.ingress.kubernetes.io/canary-by-cookie"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
CANARY_WEIGHT_TOTAL = "nginx.ingress.kubernetes.io/canary-weight-total"

ROUTE_DEFAULT_WEIGHT = 100
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
# What may reach nginx.conf from an object: anything else is skipped with a warning, so one odd object
# cannot make the whole configuration invalid (nginx -t would refuse it and routing would freeze).
_HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_PATH = re.compile(r"^/[A-Za-z0-9._~%@:+!*,=&$'()/-]*$")
_UNSAFE_IN_QUOTES = re.compile(r'["\\\x00-\x1f;{}]')


# -- the model -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upstream:
    name: str
    servers: tuple[str, ...]  # "ip:port", sorted


@dataclass(frozen=True)
class Target:
    """Where a share of requests goes: an upstream, or (upstream None) a fixed status code."""

    upstream: Upstream | None = None
    status: int = 0

    @property
    def value(self) -> str:
        return self.upstream.name if self.upstream else f"@{self.status}"


@dataclass(frozen=True)
class Weighted:
    """Split among targets in proportion to the weights (all > 0)."""

    shares: tuple[tuple[Target, int], ...]


@dataclass(frozen=True)
class Canary:
    """ingress-nginx's primary/canary choice for one location."""

    primary: Target
    canary: Target
    header: str = ""
    header_value: str = ""
    header_pattern: str = ""
    cookie: str = ""
    weight: int = 0
    weight_total: int = 100


@dataclass
class Location:
    path: str  # normalised: "/" or "/a/b" (no trailing slash)
    exact: bool
    action: Weighted | Canary
    source: str  # "HTTPRoute ns/name" etc., for the comment in the rendered config


@dataclass
class VirtualHost:
    hostname: str  # "" is the default server (routes without a hostname)
    locations: list[Location] = field(default_factory=list)


@dataclass
class Model:
    hosts: list[VirtualHost]
    warnings: list[str]


# -- helpers -------------------------------------------------------------------------------------------------


def _meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def _key(obj: dict) -> tuple[str, str]:
    m = _meta(obj)
    return m.get("namespace") or "default", m.get("name") or ""


def _age_order(objs: list[dict]) -> list[dict]:
    """Oldest first (creationTimestamp, then namespace/name): the tie-break all three providers use."""
    return sorted(objs, key=lambda o: (_meta(o).get("creationTimestamp") or "", *_key(o)))


def _int(value, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _parse_bool(value) -> bool:
    # ingress-nginx parses boolean annotations with Go's strconv.ParseBool.
    return str(value).strip() in ("1", "t", "T", "true", "TRUE", "True")


def normalise_path(path: str | None) -> str:
    path = (path or "/").strip() or "/"
    if not path.startswith("/"):
        path = "/" + path
    return path.rstrip("/") or "/"


def upstream_name(namespace: str, service: str, port) -> str:
    raw = f"{namespace}_{service}_{port}"
    return "be_" + re.sub(r"[^A-Za-z0-9_]", "_", raw)


class Cluster:
    """Indexes Services and their endpoints (EndpointSlices, else Endpoints) for backend resolution."""

    def __init__(self, objects: dict[str, list[dict]]):
        self.services = {_key(s): s for s in objects.get(SERVICES, [])}
        self.endpoints = {_key(e): e for e in objects.get(ENDPOINTS, [])}
        self.slices: dict[tuple[str, str], list[dict]] = {}
        for sl in objects.get(ENDPOINTSLICES, []):
            meta = sl.get("metadata") or {}
            service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
            if service:
                self.slices.setdefault((meta.get("namespace") or "", service), []).append(sl)

    def service_port(self, namespace: str, name: str, port=None, *, target_port=None) -> dict | None:
        svc = self.services.get((namespace, name))
        if svc is None:
            return None
        ports = (svc.get("spec") or {}).get("ports") or []
        if target_port is not None:  # OpenShift Route spec.port.targetPort: a target port's name or number
            for p in ports:
                if str(p.get("targetPort", p.get("port"))) == str(target_port) or p.get("name") == target_port:
                    return p
            return None
        if port is None:
            return ports[0] if ports else None
        for p in ports:
            if (isinstance(port, int) or str(port).isdigit()) and int(p.get("port", -1)) == int(port):
                return p
            if isinstance(port, str) and p.get("name") == port:
                return p
        return None

    def ready_servers(self, namespace: str, name: str, svc_port: dict) -> tuple[str, ...]:
        """ip:port of every ready address behind one Service port (Endpoints' notReadyAddresses and
        EndpointSlice endpoints whose ``conditions.ready`` is false excluded)."""
        want = svc_port.get("name") or ""
        if (namespace, name) in self.slices:
            servers = set()
            for sl in self.slices[(namespace, name)]:
                ports = [p for p in sl.get("ports") or [] if (p.get("name") or "") == want and p.get("port")]
                for endpoint in sl.get("endpoints") or []:
                    if (endpoint.get("conditions") or {}).get("ready") is False:  # unset means ready
                        continue
                    for address in endpoint.get("addresses") or []:
                        servers.update(f"{address}:{int(p['port'])}" for p in ports)
            return tuple(sorted(servers))
        ep = self.endpoints.get((namespace, name))
        if ep is None:
            return ()
        want = svc_port.get("name") or ""
        servers = set()
        for subset in ep.get("subsets") or []:
            ports = subset.get("ports") or []
            match = [p for p in ports if (p.get("name") or "") == want]
            if not match and len(ports) == 1 and not want:
                match = ports
            for p in match:
                for a in subset.get("addresses") or []:
                    if a.get("ip"):
                        servers.add(f"{a['ip']}:{int(p['port'])}")
        return tuple(sorted(servers))

    def target(self, namespace: str, name: str, port=None, *, target_port=None,
               invalid_status: int = 500, empty_status: int = 503) -> Target:
        svc_port = self.service_port(namespace, name, port, target_port=target_port)
        if svc_port is None:
            return Target(status=invalid_status)
        servers = self.ready_servers(namespace, name, svc_port)
        if not servers:
            return Target(status=empty_status)
        return Target(Upstream(upstream_name(namespace, name, svc_port.get("port")), servers))


class _HostTable:
    """Locations per host; the first writer of a (host, path, exact) keeps it."""

    def __init__(self) -> None:
        self.hosts: dict[str, VirtualHost] = {}
        self.warnings: list[str] = []

    def add(self, hostname: str, loc: Location) -> None:
        if hostname and not _HOSTNAME.match(hostname):
            self.warnings.append(f"{loc.source}: hostname {hostname!r} is not valid; skipped")
            return
        if not _PATH.match(loc.path):
            self.warnings.append(f"{loc.source}: path {loc.path!r} is not supported; skipped")
            return
        vh = self.hosts.setdefault(hostname, VirtualHost(hostname))
        for existing in vh.locations:
            if existing.path == loc.path and existing.exact == loc.exact:
                self.warnings.append(f"{loc.source}: {hostname or '*'}{loc.path} already routed by {existing.source}")
                return
        vh.locations.append(loc)


# -- providers ---------------------------------------------------------------------------------------------


def _httproute_locations(route: dict, cluster: Cluster, table: _HostTable) -> None:
    ns, name = _key(route)
    source = f"HTTPRoute {ns}/{name}"
    spec = route.get("spec") or {}
    hostnames = [h.lower() for h in spec.get("hostnames") or []] or [""]
    for i, rule in enumerate(spec.get("rules") or []):
        shares = []
        for ref in rule.get("backendRefs") or []:
            weight = _int(ref.get("weight", 1), 1)
            if weight <= 0:
                continue
            kind, group = ref.get("kind", "Service"), ref.get("group", "")
            ref_ns = ref.get("namespace") or ns
            if kind != "Service" or group not in ("", "core") or ref_ns != ns:
                # Unsupported kind or a cross-namespace reference without a ReferenceGrant: invalid, 500.
                table.warnings.append(f"{source} rule {i}: backendRef {ref.get('name')} is not resolvable")
                shares.append((Target(status=500), weight))
                continue
            shares.append((cluster.target(ns, ref.get("name", ""), ref.get("port")), weight))
        if not shares:
            shares = [(Target(status=500), 1)]  # no backends, or all weights 0
        matches = rule.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}]
        for m in matches:
            if any(m.get(k) for k in ("headers", "queryParams", "method")):
                table.warnings.append(f"{source} rule {i}: header/query/method matches are not supported; skipped")
                continue
            path = m.get("path") or {"type": "PathPrefix", "value": "/"}
            ptype = path.get("type", "PathPrefix")
            if ptype not in ("PathPrefix", "Exact"):
                table.warnings.append(f"{source} rule {i}: path type {ptype} is not supported; skipped")
                continue
            for host in hostnames:
                table.add(host, Location(normalise_path(path.get("value")), ptype == "Exact",
                                         Weighted(tuple(shares)), source))


def _ingress_paths(ing: dict):
    """(host, path, exact, service name, port number-or-name) for every path of an Ingress."""
    for rule in (ing.get("spec") or {}).get("rules") or []:
        host = (rule.get("host") or "").lower()
        for p in (rule.get("http") or {}).get("paths") or []:
            svc = (p.get("backend") or {}).get("service") or {}
            port = svc.get("port") or {}
            yield (host, normalise_path(p.get("path")), p.get("pathType") == "Exact", svc.get("name", ""),
                   port.get("number") if port.get("number") is not None else port.get("name"))


def _canary_policy(ann: dict) -> dict:
    return {
        "header": ann.get(CANARY_BY_HEADER, "").strip(),
        "header_value": ann.get(CANARY_BY_HEADER_VALUE, ""),
        "header_pattern": ann.get(CANARY_BY_HEADER_PATTERN, ""),
        "cookie": ann.get(CANARY_BY_COOKIE, "").strip(),
        "weight": max(0, _int(ann.get(CANARY_WEIGHT), 0)),
        # balancer.lua: the total defaults to 100 and only a value above 100 replaces it.
        "weight_total": max(100, _int(ann.get(CANARY_WEIGHT_TOTAL), 100)),
    }


def _ingress_locations(ingresses: list[dict], cluster: Cluster, table: _HostTable) -> None:
    primaries, canaries = [], []
    for ing in _age_order(ingresses):
        ann = _meta(ing).get("annotations") or {}
        (canaries if _parse_bool(ann.get(CANARY, "false")) else primaries).append(ing)
    canary_for: dict[tuple[str, str, bool], tuple[dict, str, object]] = {}
    for ing in canaries:
        for host, path, exact, svc, port in _ingress_paths(ing):
            key = (host, path, exact)
            if key in canary_for:
                ns, name = _key(ing)
                table.warnings.append(f"Ingress {ns}/{name}: a canary already applies to {host}{path}; ignored")
                continue
            canary_for[key] = (ing, svc, port)
    used = set()
    for ing in primaries:
        ns, name = _key(ing)
        for host, path, exact, svc, port in _ingress_paths(ing):
            # ingress-nginx sends requests for a missing Service or port to its default backend: 503.
            primary = cluster.target(ns, svc, port, invalid_status=503)
            action: Weighted | Canary = Weighted(((primary, 1),))
            canary_entry = canary_for.get((host, path, exact))
            if canary_entry is not None and (host, path, exact) not in used:
                used.add((host, path, exact))
                c_ing, c_svc, c_port = canary_entry
                c_ns, c_name = _key(c_ing)
                canary = cluster.target(c_ns, c_svc, c_port, invalid_status=503)
                if primary.upstream is not None and canary.upstream is not None:
                    action = Canary(primary, canary, **_canary_policy(_meta(c_ing).get("annotations") or {}))
            table.add(host, Location(path, exact, action, f"Ingress {ns}/{name}"))
    for key, (ing, _svc, _port) in canary_for.items():
        if key not in used:
            ns, name = _key(ing)
            table.warnings.append(f"Ingress {ns}/{name}: canary for {key[0]}{key[1]} has no primary Ingress; dropped")


def _route_locations(route: dict, cluster: Cluster, table: _HostTable) -> None:
    ns, name = _key(route)
    spec = route.get("spec") or {}
    target_port = (spec.get("port") or {}).get("targetPort")
    shares = []
    for backend in [spec.get("to") or {}, *(spec.get("alternateBackends") or [])][:4]:
        if backend.get("kind", "Service") != "Service" or not backend.get("name"):
            continue
        weight = min(256, _int(backend.get("weight", ROUTE_DEFAULT_WEIGHT), ROUTE_DEFAULT_WEIGHT))
        if weight <= 0:
            continue
        target = cluster.target(ns, backend["name"], target_port=target_port) if target_port is not None \
            else cluster.target(ns, backend["name"])
        if target.upstream is not None:  # a Service without endpoints effectively has weight 0
            shares.append((target, weight))
    if not shares:
        shares = [(Target(status=503), 1)]
    table.add((spec.get("host") or "").lower(),
              Location(normalise_path(spec.get("path")), False, Weighted(tuple(shares)), f"Route {ns}/{name}"))


def build_model(objects: dict[str, list[dict]]) -> Model:
    """The virtual hosts and locations the cluster objects ask for (Gateway API first, then Ingress, then Route)."""
    cluster = Cluster(objects)
    table = _HostTable()
    for route in _age_order(objects.get(HTTPROUTES, [])):
        _httproute_locations(route, cluster, table)
    _ingress_locations(objects.get(INGRESSES, []), cluster, table)
    for route in _age_order(objects.get(ROUTES, [])):
        _route_locations(route, cluster, table)
    hosts = sorted(table.hosts.values(), key=lambda h: h.hostname)
    for vh in hosts:
        vh.locations.sort(key=lambda loc: (loc.path, loc.exact))
    return Model(hosts, table.warnings)


# -- nginx text ------------------------------------------------------------------------------------------------


def _percentages(weights: list[int]) -> list[str]:
    """split_clients percentages for all but the last share (which takes "*"); two decimals as nginx allows."""
    total = sum(weights)
    out, acc_w, acc_p = [], 0, 0.0
    for w in weights[:-1]:
        acc_w += w
        cumulative = round(acc_w * 100.0 / total, 2)
        out.append(f"{cumulative - acc_p:.2f}".rstrip("0").rstrip(".") + "%")
        acc_p = cumulative
    return out


def _regex_literal(text: str) -> str | None:
    """A map key matching exactly ``text`` (case-sensitive, as the Lua comparison is), or None if unsafe."""
    if _UNSAFE_IN_QUOTES.search(text):
        return None
    return '"~^' + re.escape(text).replace('"', "") + '$"'


class _Renderer:
    def __init__(self) -> None:
        self.http: list[str] = []  # map / split_clients blocks
        self.counter = 0

    def var(self) -> str:
        self.counter += 1
        return f"tp{self.counter}"

    def weighted(self, action: Weighted) -> tuple[str, set[int]]:
        """The expression proxy_pass uses, and the status codes it may stand for."""
        statuses = {t.status for t, _ in action.shares if t.upstream is None}
        if len(action.shares) == 1:
            return action.shares[0][0].value, statuses
        name = self.var()
        pct = _percentages([w for _, w in action.shares])
        lines = [f'split_clients "${{request_id}}" ${name} {{']
        for (t, _w), p in zip(action.shares, [*pct, "*"], strict=True):
            lines.append(f"    {p} {t.value};")
        lines.append("}")
        self.http.append("\n".join(lines))
        return f"${name}", statuses

    def canary(self, action: Canary) -> tuple[str, set[int]]:
        name = self.var()
        parts, entries = [], []
        if action.header and _TOKEN.match(action.header):
            hvar = f"{name}_h"
            source = "$http_" + action.header.lower().replace("-", "_")
            keys: list[tuple[str, str]] = []
            if action.header_value:
                k = _regex_literal(action.header_value)
                if k:
                    keys.append((k, "canary"))
            elif action.header_pattern:
                if not _UNSAFE_IN_QUOTES.search(action.header_pattern.replace("\\", "")):
                    keys.append((f'"~{action.header_pattern}"', "canary"))
            else:
                keys += [('"~^always$"', "canary"), ('"~^never$"', "primary")]
            body = "".join(f"    {k} {v};\n" for k, v in keys)
            self.http.append(f"map {source} ${hvar} {{\n{body}    default \"\";\n}}")
            parts.append(f"${hvar}")
            entries += [('"~^canary\\|"', "C"), ('"~^primary\\|"', "P")]
        else:
            parts.append("")
        if action.cookie and _TOKEN.match(action.cookie):
            cvar = f"{name}_c"
            self.http.append(f'map $cookie_{action.cookie} ${cvar} {{\n    "~^always$" canary;\n'
                             f'    "~^never$" primary;\n    default "";\n}}')
            parts.append(f"${cvar}")
            entries += [('"~^[^|]*\\|canary\\|"', "C"), ('"~^[^|]*\\|primary\\|"', "P")]
        else:
            parts.append("")
        default = "P"
        if action.weight >= action.weight_total:
            default = "C"
            parts.append("")
        elif action.weight > 0:
            wvar = f"{name}_w"
            pct = _percentages([action.weight, action.weight_total - action.weight])[0]
            self.http.append(f'split_clients "${{request_id}}" ${wvar} {{\n    {pct} canary;\n    * "";\n}}')
            parts.append(f"${wvar}")
            entries.append(('"~\\|canary$"', "C"))
        else:
            parts.append("")
        values = {"C": action.canary.value, "P": action.primary.value}
        body = "".join(f"    {k} {values[v]};\n" for k, v in entries)
        self.http.append(f'map "{"|".join(parts)}" ${name} {{\n{body}    default {values[default]};\n}}')
        return f"${name}", set()

    def location(self, loc: Location) -> list[str]:
        if isinstance(loc.action, Canary):
            expr, statuses = self.canary(loc.action)
        else:
            expr, statuses = self.weighted(loc.action)
        if loc.exact or loc.path == "/":
            heads = [f"location {'= ' if loc.exact else ''}{loc.path}"]
        else:  # element-wise prefix: /foo matches /foo and /foo/..., not /foobar
            heads = [f"location = {loc.path}", f"location {loc.path}/"]
        out = []
        for head in heads:
            out.append(f"        # {loc.source}")
            out.append(f"        {head} {{")
            if not expr.startswith("$"):
                if expr.startswith("@"):
                    out.append(f"            return {expr[1:]};")
                else:
                    out.append(f"            proxy_pass http://{expr};")
            else:
                for status in sorted(statuses):
                    out.append(f'            if ({expr} = "@{status}") {{ return {status}; }}')
                out.append(f"            proxy_pass http://{expr};")
            out.append("        }")
        return out


def _upstreams(model: Model) -> list[Upstream]:
    seen: dict[str, Upstream] = {}

    def add(t: Target) -> None:
        if t.upstream is not None:
            seen[t.upstream.name] = t.upstream

    for vh in model.hosts:
        for loc in vh.locations:
            if isinstance(loc.action, Canary):
                add(loc.action.primary)
                add(loc.action.canary)
            else:
                for t, _ in loc.action.shares:
                    add(t)
    return [seen[k] for k in sorted(seen)]


def render_http(model: Model, *, listen: str) -> str:
    """The part of nginx.conf inside ``http {}`` for the model: upstreams, splits, one server per host."""
    r = _Renderer()
    servers = []
    default_locs: list[str] = []
    for vh in model.hosts:
        locs = [line for loc in vh.locations for line in r.location(loc)]
        if not vh.hostname:
            default_locs = locs
            continue
        servers.append("\n".join([
            "    server {",
            f"        listen {listen};",
            f"        server_name {vh.hostname};",
            *locs,
            "    }",
        ]))
    upstreams = []
    for up in _upstreams(model):
        lines = [f"    upstream {up.name} {{"]
        lines += [f"        server {s} max_fails=1 fail_timeout=2s;" for s in up.servers]
        lines += ["        keepalive 16;", "    }"]
        upstreams.append("\n".join(lines))
    default_server = "\n".join([
        "    server {",
        f"        listen {listen} default_server;",
        "        server_name _;",
        "        location = /healthz {",
        "            default_type text/plain;",
        '            add_header X-Config-Hash "@CONFIG_HASH@" always;',
        '            return 200 "ok\\n";',
        "        }",
        *default_locs,
        *([] if any(line.strip() == "location / {" for line in default_locs) else
          ["        location / {", "            return 404;", "        }"]),
        "    }",
    ])
    maps = ["    " + block.replace("\n", "\n    ") for block in r.http]
    return "\n\n".join([*upstreams, *maps, default_server, *servers]) + "\n"


def render_config(objects: dict[str, list[dict]], *, prefix: str, listen: str, user: str | None = None,
                  worker_processes: int = 1, client_keepalive: str = "0") -> str:
    """A whole nginx.conf (paths under ``prefix``) for the cluster objects; its hash is in /healthz."""
    model = build_model(objects)
    warnings = "".join("# warning: " + re.sub(r"[\x00-\x1f\x7f]", " ", w) + "\n" for w in model.warnings)
    body = f"""# Rendered by rehearsal.traffic from HTTPRoutes, Ingresses and Routes; do not edit.
{warnings}{f"user {user};" if user else ""}
worker_processes {worker_processes};
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
# Old workers finish in-flight requests after a reload, but not forever.
worker_shutdown_timeout 30s;

events {{
    worker_connections 1024;
}}

http {{
    default_type application/octet-stream;
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/temp/client_body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    server_names_hash_bucket_size 128;
    map_hash_bucket_size 128;
    variables_hash_bucket_size 128;
    # On reload, old workers close their idle client keep-alive connections; a client that sends its next
    # request at that instant gets a reset. Closing after every response (the default here) makes reloads
    # lossless for every client, not only for those that retry the way browsers do.
    keepalive_timeout {client_keepalive};

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    proxy_set_header X-Request-ID $request_id;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_connect_timeout 2s;
    proxy_read_timeout 60s;
    # A pod that is going away refuses connections: try the next endpoint instead of failing the request
    # (ingress-nginx's defaults: error timeout, 3 tries).
    proxy_next_upstream error timeout;
    proxy_next_upstream_tries 3;
    proxy_next_upstream_timeout 10s;

{render_http(model, listen=listen)}}}
"""
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    return body.replace("@CONFIG_HASH@", digest)


def config_hash(config: str) -> str:
    m = re.search(r'X-Config-Hash "([0-9a-f]+)"', config)
    return m.group(1) if m else ""

"""The demo service that rehearsal pods run: ``python -m rehearsal.apps.demo_app``.

One small HTTP/1.1 keep-alive server per pod, parametrised by environment variables:

  APP_NAME            vcci | cbam | csrd (required)
  APP_VERSION         e.g. v1, v2 (default v1); sent back as ``X-App-Version`` on every response
  LISTEN_HOST, PORT   loopback address and port (default 127.0.0.1:8080)
  DATABASE_DSN        libpq DSN of the app database; without it /health/detailed says "unconfigured"
                      and the built-in reference tables are used
  REQUIRED_SCHEMA_VERSION  not ready until this row exists in schema_migrations
  POD_NAME            sent back as ``X-Served-By`` (default host:port)
  SHUTDOWN_DELAY_S    after SIGTERM, keep serving (reporting not-ready) this long before closing
                      the listener, like a preStop sleep (default 0.5)
  DRAIN_TIMEOUT_S     longest wait for in-flight requests after that (default 20)
  DB_CHECK_INTERVAL_S database health-check period (default 1)
  LOG_REQUESTS=1      log every request to stderr

Fault knobs (how a bad release is simulated):

  FAULT_ERROR_RATIO=0.2        that fraction of API requests answer 500 (spread evenly, ±1 per 50)
  FAULT_LATENCY_MS=300         added to every API request
  FAULT_NONDETERMINISTIC=1     results carry random noise (identical requests, different outputs)
  FAULT_OUTPUT_DRIFT=0.03      every computed quantity is 3 % higher
  FAULT_READINESS_FAIL=1       /health/ready answers 503 forever
  FAULT_CRASH_AFTER_S=5        the process exits with code 1 after 5 s
  FAULT_BREAKER_OPEN=name[,..] those circuit breakers are forced open (and the pod is not ready)
  FAULT_DEPENDENCY_DOWN=database|cache  that dependency is reported down; API calls needing it get 503

Only API routes (and unknown paths) are counted in ``http_requests_total`` and the latency
histogram: probe and scrape traffic would otherwise dilute error ratios and latencies.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from rehearsal.apps import APPS
from rehearsal.apps import calculations as calc
from rehearsal.apps.metrics import CONTENT_TYPE, Registry

BREAKERS = {
    "vcci": ("database", "cache", "factor_service", "erp_connector"),
    "cbam": ("database", "cache", "customs_registry", "eu_cbam_registry"),
    "csrd": ("database", "cache", "llm_gateway", "xbrl_renderer"),
}
# (method, path) -> (function, dependencies whose failure makes the call answer 503, base latency ms)
ROUTES = {
    "vcci": {
        ("POST", "/api/v1/calculator/category1"): (calc.vcci_category1, ("database", "cache", "factor_service"), 2),
        ("POST", "/api/v1/calculator/category4"): (calc.vcci_category4, ("database", "cache", "factor_service"), 2),
        ("POST", "/api/v1/calculator/category6"): (calc.vcci_category6, ("database", "cache", "factor_service"), 2),
        ("GET", "/api/v1/hotspots"): (calc.vcci_hotspots, ("database", "cache", "erp_connector"), 5),
        ("POST", "/api/v1/reports/generate"): (calc.vcci_report, ("database", "cache", "factor_service"), 20),
    },
    "cbam": {
        ("POST", "/api/v1/calculate"): (calc.cbam_calculate, ("database", "cache", "customs_registry"), 3),
    },
    "csrd": {
        ("POST", "/api/v1/intake"): (calc.csrd_intake, ("database", "cache"), 2),
        ("POST", "/api/v1/materiality"): (calc.csrd_materiality, ("database", "cache", "llm_gateway"), 5),
        ("POST", "/api/v1/calculate"): (calc.csrd_calculate, ("database", "cache"), 3),
        ("POST", "/api/v1/pipeline/run"): (calc.csrd_pipeline, ("database", "cache", "llm_gateway", "xbrl_renderer"),
                                           30),
    },
}
HEALTH_PATHS = ("/health/live", "/health/ready", "/health/detailed", "/metrics")
MAX_BODY = 1 << 20
CACHE_ENTRIES = 4096


class ConfigError(ValueError):
    """A knob has a value the app cannot use; the message names the variable."""


def _env_float(env: dict, name: str, default: float, low: float = 0.0, high: float | None = None) -> float:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number") from None
    if value < low or (high is not None and value > high):
        raise ConfigError(f"{name}={raw!r}: expected a number in [{low}, {high if high is not None else 'inf'}]")
    return value


def _env_flag(env: dict, name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Config:
    app: str
    version: str = "v1"
    host: str = "127.0.0.1"
    port: int = 8080
    dsn: str | None = None
    required_schema: str | None = None
    pod_name: str = ""
    shutdown_delay_s: float = 0.5
    drain_timeout_s: float = 20.0
    db_check_interval_s: float = 1.0
    log_requests: bool = False
    error_ratio: float = 0.0
    latency_ms: float = 0.0
    nondeterministic: bool = False
    output_drift: float = 0.0
    readiness_fail: bool = False
    crash_after_s: float | None = None
    breakers_open: tuple[str, ...] = ()
    dependency_down: str | None = None
    seed: int | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict | None = None) -> Config:
        env = dict(os.environ if env is None else env)
        app = env.get("APP_NAME", "")
        if app not in APPS:
            raise ConfigError(f"APP_NAME={app!r}: expected one of {', '.join(APPS)}")
        port_raw = env.get("PORT", "8080")
        if not port_raw.isdigit() or not 0 <= int(port_raw) <= 65535:
            raise ConfigError(f"PORT={port_raw!r}: expected a TCP port number")
        breakers = tuple(b.strip() for b in env.get("FAULT_BREAKER_OPEN", "").split(",") if b.strip())
        for name in breakers:
            if name not in BREAKERS[app]:
                raise ConfigError(f"FAULT_BREAKER_OPEN={name!r}: expected one of {', '.join(BREAKERS[app])}")
        down = env.get("FAULT_DEPENDENCY_DOWN", "").strip() or None
        if down not in (None, "database", "cache"):
            raise ConfigError(f"FAULT_DEPENDENCY_DOWN={down!r}: expected database or cache")
        crash = _env_float(env, "FAULT_CRASH_AFTER_S", -1.0, low=-1.0)
        seed = env.get("FAULT_SEED", "")
        host = env.get("LISTEN_HOST", "127.0.0.1")
        port = int(port_raw)
        return cls(
            app=app, version=env.get("APP_VERSION", "v1") or "v1", host=host, port=port,
            dsn=env.get("DATABASE_DSN") or None, required_schema=env.get("REQUIRED_SCHEMA_VERSION") or None,
            pod_name=env.get("POD_NAME") or f"{host}:{port}",
            shutdown_delay_s=_env_float(env, "SHUTDOWN_DELAY_S", 0.5),
            drain_timeout_s=_env_float(env, "DRAIN_TIMEOUT_S", 20.0),
            db_check_interval_s=_env_float(env, "DB_CHECK_INTERVAL_S", 1.0, low=0.05),
            log_requests=_env_flag(env, "LOG_REQUESTS"),
            error_ratio=_env_float(env, "FAULT_ERROR_RATIO", 0.0, high=1.0),
            latency_ms=_env_float(env, "FAULT_LATENCY_MS", 0.0),
            nondeterministic=_env_flag(env, "FAULT_NONDETERMINISTIC"),
            output_drift=_env_float(env, "FAULT_OUTPUT_DRIFT", 0.0, low=-0.99),
            readiness_fail=_env_flag(env, "FAULT_READINESS_FAIL"),
            crash_after_s=crash if crash >= 0 else None,
            breakers_open=breakers, dependency_down=down,
            seed=int(seed) if seed.lstrip("-").isdigit() else None,
        )


class ErrorSchedule:
    """Decides which requests get an injected 500.

    Blocks of 50 requests carry exactly round(ratio * 50) failures (the fractional part is
    carried over to the next block) at shuffled positions, so the measured ratio over a few
    hundred requests is the configured one without looking periodic.
    """

    BLOCK = 50

    def __init__(self, ratio: float, rng: random.Random):
        self.ratio, self._rng = ratio, rng
        self._carry = rng.random()  # random phase: pods with the same ratio do not fail in lockstep
        self._pending: list[bool] = []
        self._lock = threading.Lock()

    def should_fail(self) -> bool:
        if self.ratio <= 0:
            return False
        with self._lock:
            if not self._pending:
                self._carry += self.ratio * self.BLOCK
                failures = min(self.BLOCK, int(self._carry))
                self._carry -= failures
                self._pending = [True] * failures + [False] * (self.BLOCK - failures)
                self._rng.shuffle(self._pending)
            return self._pending.pop()


class Breaker:
    """Circuit breaker: opens after 3 consecutive failures, half-opens after 5 s, closes on success."""

    THRESHOLD, COOLDOWN_S = 3, 5.0

    def __init__(self, forced_open: bool = False):
        self.forced_open = forced_open
        self.failures = 0
        self.opened_at = 0.0

    def record(self, success: bool) -> None:
        if success:
            self.failures = 0
        else:
            self.failures += 1
            if self.failures >= self.THRESHOLD:
                self.opened_at = time.monotonic()

    @property
    def state(self) -> str:
        if self.forced_open:
            return "open"
        if self.failures < self.THRESHOLD:
            return "closed"
        return "half_open" if time.monotonic() - self.opened_at >= self.COOLDOWN_S else "open"


class DemoApp:
    """Everything but the HTTP plumbing: state, faults, health, metrics, request handling."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.errors = ErrorSchedule(cfg.error_ratio, random.Random(cfg.seed))
        self.started = time.time()
        self.draining = False
        self.reference = calc.builtin_reference(cfg.app)
        self.cache: OrderedDict = OrderedDict()
        self.cache_lock = threading.Lock()
        self.breakers = {name: Breaker(forced_open=name in cfg.breakers_open) for name in BREAKERS[cfg.app]}
        if cfg.dependency_down:
            self.breakers[cfg.dependency_down].forced_open = True
        self.db = {"status": "unconfigured"} if not cfg.dsn else {"status": "unknown", "error": "not checked yet"}
        if cfg.dependency_down == "database":
            self.db = {"status": "down", "error": "dependency fault injected"}
        self._db_conn = None
        self._stop = threading.Event()
        self.metrics = Registry()
        m = self.metrics
        m.describe("http_requests_total", "counter", "API requests handled, by status code and route.")
        m.describe("http_request_duration_seconds", "histogram", "API request latency in seconds.")
        m.describe("cache_hits_total", "counter", "Result cache hits.")
        m.describe("cache_misses_total", "counter", "Result cache misses.")
        m.describe("app_info", "gauge", "Always 1; labels carry the app and version.")
        m.describe("app_ready", "gauge", "1 when /health/ready answers 200.")
        m.describe("circuit_breaker_state", "gauge", "0 closed, 1 open, 2 half_open.")
        m.describe("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
        m.describe("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.")
        self.base = (("app", cfg.app), ("version", cfg.version))
        m.set("app_info", self.base, 1)
        m.set("process_start_time_seconds", (), self.started)
        m.inc("cache_hits_total", self.base, 0)
        m.inc("cache_misses_total", self.base, 0)
        # The outcomes a launch gates on exist from the start, at 0: increase() cannot see the first errors of a
        # series that appears with them (Prometheus' advice on labelled counters).
        for _method, path in ROUTES[cfg.app]:
            for code in ("200", "500", "503"):
                m.inc("http_requests_total", self.base + (("code", code), ("route", path)), 0)

    # ---- results ---------------------------------------------------------------------------
    def adjust(self, value: float) -> float:
        value *= 1.0 + self.cfg.output_drift
        if self.cfg.nondeterministic:
            value *= 1.0 + self.rng.uniform(-0.02, 0.02)
        return value

    def compute(self, path: str, fn, request_key, payload) -> dict:
        """Run ``fn`` through the result cache (a non-deterministic build cannot use a cache)."""
        key = (path, request_key)
        if not self.cfg.nondeterministic:
            with self.cache_lock:
                hit = self.cache.get(key)
                if hit is not None:
                    self.cache.move_to_end(key)
            if hit is not None:
                self.metrics.inc("cache_hits_total", self.base)
                return hit
        self.metrics.inc("cache_misses_total", self.base)
        result = fn(payload, self.reference, self.adjust)
        if not self.cfg.nondeterministic:
            with self.cache_lock:
                self.cache[key] = result
                while len(self.cache) > CACHE_ENTRIES:
                    self.cache.popitem(last=False)
        return result

    # ---- dependencies ----------------------------------------------------------------------
    def database_up(self) -> bool:
        return self.db["status"] in ("up", "unconfigured")

    def check_database(self) -> None:
        """One health check: (re)connect, read applied migrations and the reference tables."""
        import psycopg  # lazily: apps without a database stay small

        started = time.monotonic()
        try:
            if self._db_conn is None or self._db_conn.closed:
                self._db_conn = psycopg.connect(
                    self.cfg.dsn, autocommit=True, connect_timeout=2,
                    application_name=f"{self.cfg.app}-{self.cfg.version}", options="-c statement_timeout=2000")
            with self._db_conn.cursor() as cur:
                cur.execute("SELECT version FROM schema_migrations ORDER BY version")
                versions = [str(row[0]) for row in cur.fetchall()]
                reference = calc.load_reference(cur, self.cfg.app)
        except Exception as exc:  # any failure means "database down" for this check
            self.db = {"status": "down", "error": str(exc).strip().splitlines()[0] if str(exc).strip() else
                       type(exc).__name__, "checked_at": time.time()}
            self.breakers["database"].record(False)
            conn, self._db_conn = self._db_conn, None
            if conn is not None:
                conn.close()
            return
        if reference != self.reference:
            self.reference = reference
            with self.cache_lock:
                self.cache.clear()
        self.db = {"status": "up", "latency_ms": round((time.monotonic() - started) * 1000, 1),
                   "schema_versions": versions, "checked_at": time.time()}
        self.breakers["database"].record(True)

    def _db_loop(self) -> None:
        while not self._stop.is_set():
            self.check_database()
            self._stop.wait(self.cfg.db_check_interval_s)

    def start_background(self) -> None:
        if self.cfg.dsn and self.cfg.dependency_down != "database":
            threading.Thread(target=self._db_loop, name="db-health", daemon=True).start()
        if self.cfg.crash_after_s is not None:
            timer = threading.Timer(self.cfg.crash_after_s, self._crash)
            timer.daemon = True
            timer.start()

    def _crash(self) -> None:
        sys.stderr.write(f"FATAL: injected crash after {self.cfg.crash_after_s}s (FAULT_CRASH_AFTER_S)\n")
        sys.stderr.flush()
        os._exit(1)

    def close(self) -> None:
        self._stop.set()
        if self._db_conn is not None:
            with contextlib.suppress(Exception):  # closing during shutdown: nothing left to do
                self._db_conn.close()

    # ---- health ----------------------------------------------------------------------------
    def not_ready_reasons(self) -> list[str]:
        reasons = []
        if self.draining:
            reasons.append("shutting down")
        if self.cfg.readiness_fail:
            reasons.append("readiness failure injected (FAULT_READINESS_FAIL)")
        reasons += [f"circuit breaker {name} is open" for name in self.cfg.breakers_open]
        if not self.database_up():
            reasons.append(f"database {self.db['status']}: {self.db.get('error', '')}")
        elif self.cfg.required_schema and self.db["status"] == "up" \
                and self.cfg.required_schema not in self.db.get("schema_versions", []):
            reasons.append(f"schema version {self.cfg.required_schema} not applied")
        return reasons

    def detailed(self) -> dict:
        reasons = self.not_ready_reasons()
        cache_down = self.cfg.dependency_down == "cache"
        with self.cache_lock:
            entries = len(self.cache)
        hits = self.metrics.get("cache_hits_total", self.base)
        misses = self.metrics.get("cache_misses_total", self.base)
        breakers = {name: {"state": b.state, "consecutive_failures": b.failures} for name, b in self.breakers.items()}
        if not self.database_up() or (reasons and not self.draining):
            status = "unhealthy"
        elif cache_down or any(b["state"] != "closed" for b in breakers.values()):
            status = "degraded"
        else:
            status = "healthy"
        return {
            "status": status, "app": self.cfg.app, "version": self.cfg.version, "pod": self.cfg.pod_name,
            "uptime_s": round(time.time() - self.started, 1), "ready": not reasons, "not_ready_reasons": reasons,
            "database": dict(self.db),
            "cache": {"status": "down" if cache_down else "up", "entries": entries,
                      "hit_ratio": round(hits / (hits + misses), 4) if hits + misses else None},
            "circuit_breakers": breakers,
        }

    def render_metrics(self) -> str:
        m = self.metrics
        m.set("app_ready", self.base, 0 if self.not_ready_reasons() else 1)
        codes = {"closed": 0, "open": 1, "half_open": 2}
        for name, breaker in self.breakers.items():
            m.set("circuit_breaker_state", self.base + (("breaker", name),), codes[breaker.state])
        try:
            with open("/proc/self/statm") as fh:
                m.set("process_resident_memory_bytes", (), int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
        except OSError:
            pass
        return m.render()

    # ---- API -------------------------------------------------------------------------------
    def handle_api(self, method: str, path: str, query: str, body: bytes) -> tuple[int, dict, str]:
        """Returns (status, JSON body, route label)."""
        routes = ROUTES[self.cfg.app]
        spec = routes.get((method, path))
        if spec is None:
            if any(p == path for _, p in routes):
                return 405, {"error": f"method {method} not allowed on {path}"}, path
            return 404, {"error": f"no route {method} {path} in {self.cfg.app}"}, "unmatched"
        fn, deps, base_ms = spec
        time.sleep((base_ms + self.cfg.latency_ms) / 1000.0)
        if self.errors.should_fail():
            return 500, {"error": "internal error (FAULT_ERROR_RATIO)"}, path
        for dep in deps:
            if dep == "database" and not self.database_up():
                return 503, {"error": f"database unavailable: {self.db.get('error', '')}"}, path
            if dep == "cache" and self.cfg.dependency_down == "cache":
                return 503, {"error": "cache unavailable (FAULT_DEPENDENCY_DOWN)"}, path
            if self.breakers[dep].state == "open":
                return 503, {"error": f"circuit breaker {dep} is open"}, path
        if method == "GET":
            payload, request_key = dict(parse_qsl(query)), query
        else:
            try:
                payload = json.loads(body or b"{}")
            except ValueError as exc:
                return 400, {"error": f"request body is not JSON: {exc}"}, path
            if not isinstance(payload, dict):
                return 400, {"error": "request body must be a JSON object"}, path
            request_key = body
        try:
            return 200, self.compute(path, fn, request_key, payload), path
        except calc.InputError as exc:
            return 422, {"error": str(exc)}, path

    def record(self, route: str, code: int, seconds: float) -> None:
        self.metrics.inc("http_requests_total", self.base + (("code", str(code)), ("route", route)))
        self.metrics.observe("http_request_duration_seconds", self.base + (("route", route),), seconds)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    server_version = "greenlang-demo"
    timeout = 75  # idle keep-alive limit; longer than nginx's upstream keepalive_timeout (60 s)
    server: AppServer

    def setup(self) -> None:
        super().setup()
        self.busy = False
        self.server.track(self, True)

    def finish(self) -> None:
        self.server.track(self, False)
        with contextlib.suppress(OSError):
            super().finish()

    def handle_one_request(self) -> None:
        self.busy = False
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def parse_request(self) -> bool:
        self.busy = True
        return super().parse_request()

    def version_string(self) -> str:
        return self.server_version

    def send_response(self, code: int, message: str | None = None) -> None:
        # Here rather than in _send so that the base class's own error replies carry them too.
        super().send_response(code, message)
        self.send_header("X-App-Version", self.server.app.cfg.version)
        self.send_header("X-Served-By", self.server.app.cfg.pod_name)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature of the base class
        if self.server.app.cfg.log_requests:
            super().log_message(format, *args)

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch()

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch()

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.server.app.draining or self.close_connection:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj, sort_keys=True).encode())

    def _dispatch(self) -> None:
        started = time.monotonic()
        app = self.server.app
        url = urlsplit(self.path)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            return self._send_json(411, {"error": "Content-Length required"})
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            return self._send_json(413, {"error": f"body larger than {MAX_BODY} bytes"})
        body = self.rfile.read(length) if length else b""
        if url.path in HEALTH_PATHS and self.command in ("GET", "HEAD"):
            return self._health(url.path)
        try:
            status, obj, route = app.handle_api(self.command, url.path, url.query, body)
        except Exception as exc:  # a bug must still produce a counted 500, not a dropped connection
            sys.stderr.write(f"ERROR handling {self.command} {url.path}: {exc!r}\n")
            status, obj, route = 500, {"error": f"internal error: {type(exc).__name__}"}, url.path
        self._send_json(status, obj)
        app.record(route, status, time.monotonic() - started)

    def _health(self, path: str) -> None:
        app = self.server.app
        if path == "/health/live":
            return self._send_json(200, {"status": "alive", "version": app.cfg.version})
        if path == "/health/ready":
            reasons = app.not_ready_reasons()
            if reasons:
                return self._send_json(503, {"status": "not_ready", "reasons": reasons, "version": app.cfg.version})
            return self._send_json(200, {"status": "ready", "version": app.cfg.version})
        if path == "/health/detailed":
            detail = app.detailed()
            return self._send_json(503 if detail["status"] == "unhealthy" else 200, detail)
        return self._send(200, app.render_metrics().encode(), CONTENT_TYPE)


class AppServer(ThreadingHTTPServer):
    daemon_threads = True  # shutdown joins in-flight requests itself, with a deadline
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, app: DemoApp):
        self.app = app
        self._handlers: set = set()
        self._handlers_lock = threading.Lock()
        super().__init__((app.cfg.host, app.cfg.port), Handler)

    def track(self, handler: Handler, add: bool) -> None:
        with self._handlers_lock:
            (self._handlers.add if add else self._handlers.discard)(handler)

    def drain(self, timeout: float) -> int:
        """After the listener is closed: end idle keep-alive connections, wait for busy ones.

        Returns the number of connections still open when the deadline passed.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._handlers_lock:
                handlers = list(self._handlers)
            if not handlers or time.monotonic() >= deadline:
                return len(handlers)
            for handler in handlers:
                if not handler.busy:
                    # SHUT_RD: a request already received is still read and answered; the
                    # handler then sees end-of-stream and closes the connection.
                    with contextlib.suppress(OSError):
                        handler.connection.shutdown(socket.SHUT_RD)
            time.sleep(0.02)


def serve(cfg: Config) -> int:
    app = DemoApp(cfg)
    try:
        server = AppServer(app)
    except OSError as exc:
        sys.stderr.write(f"ERROR: cannot listen on {cfg.host}:{cfg.port}: {exc}\n")
        return 1
    app.start_background()

    def on_signal(signum, _frame):
        if app.draining:
            return
        app.draining = True  # /health/ready turns 503 at once
        sys.stderr.write(f"{signal.Signals(signum).name} received: draining\n")

        def stop_accepting():
            time.sleep(cfg.shutdown_delay_s)
            server.shutdown()

        threading.Thread(target=stop_accepting, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.stderr.write(f"{cfg.app} {cfg.version} listening on http://{cfg.host}:{server.server_address[1]} "
                     f"(pid {os.getpid()})\n")
    sys.stderr.flush()
    server.serve_forever(poll_interval=0.1)
    server.socket.close()  # new connections are refused from here on
    left = server.drain(cfg.drain_timeout_s)
    app.close()
    sys.stderr.write(f"stopped{f' with {left} connections still open' if left else ''}\n")
    return 0


def main() -> int:
    try:
        cfg = Config.from_env()
    except ConfigError as exc:
        sys.stderr.write(f"ERROR: {exc}\n")
        return 2
    return serve(cfg)


if __name__ == "__main__":
    sys.exit(main())

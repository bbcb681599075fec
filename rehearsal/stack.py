"""The rehearsal stack: every local service the launch rehearses against, in one process tree.

``python -m rehearsal up`` starts :func:`serve` in a detached daemon process (its own
session, so ``down`` can end the whole tree), waits until the daemon has written
``.rehearsal/env``, and returns. ``down`` sends SIGTERM to the daemon, which stops the
components in reverse order; anything left in its process group is then killed, so
no process and no port stays behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / ".rehearsal"
MANIFESTS_DIR = Path(__file__).resolve().parent / "manifests"
APPS = ("vcci", "cbam", "csrd")


def _port(name: str, default: int) -> int:
    return int(os.environ.get(f"REHEARSAL_{name}_PORT", default))


@dataclass
class StackConfig:
    """Where the stack keeps its state and which loopback ports it listens on."""

    state_dir: Path = DEFAULT_STATE_DIR
    kube_port: int = field(default_factory=lambda: _port("KUBE", 16443))
    ingress_port: int = field(default_factory=lambda: _port("INGRESS", 18080))
    prometheus_port: int = field(default_factory=lambda: _port("PROMETHEUS", 19090))
    postgres_port: int = field(default_factory=lambda: _port("POSTGRES", 15432))
    webhook_port: int = field(default_factory=lambda: _port("WEBHOOK", 18099))
    # DR pair (durable primary + streaming standby, BIND zone): off unless REHEARSAL_DR=sync|async.
    dr: str = field(default_factory=lambda: os.environ.get("REHEARSAL_DR", "off"))
    dns_port: int = field(default_factory=lambda: _port("DNS", 15353))
    redis_port: int = field(default_factory=lambda: _port("REDIS", 16379))
    registry_port: int = field(default_factory=lambda: _port("REGISTRY", 15000))
    deploy_manifests: bool = True

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "stack.pid"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "env"

    @property
    def status_file(self) -> Path:
        return self.state_dir / "status.json"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "stack.log"


def _log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


class Stack:
    """Starts the components in dependency order and stops them in reverse."""

    def __init__(self, config: StackConfig):
        self.config = config
        self._stops: list[tuple[str, object]] = []
        self.env: dict[str, str] = {}
        self.status: dict[str, dict] = {}

    def _started(self, name: str, stop, **info) -> None:
        self._stops.append((name, stop))
        self.status[name] = info
        _log(f"started {name}: {info}")

    def start(self) -> None:
        cfg = self.config
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self._start_postgres()
        self._start_prometheus()
        self._start_webhook()
        self._start_redis_and_registry()
        self._start_cluster()
        self._start_traffic_plane()
        if cfg.deploy_manifests and MANIFESTS_DIR.is_dir():
            self._deploy_manifests()

    def _start_postgres(self) -> None:
        from rehearsal.services.postgres import PostgresCluster, release_runtime_dir, runtime_dir

        cfg = self.config
        # The data dir lives outside the state dir (which may sit in a checkout the postgres user cannot reach).
        pg = PostgresCluster(runtime_dir(cfg.state_dir / "postgres"), cfg.postgres_port,
                             **self._dr_primary_options())
        if not (pg.data_dir / "PG_VERSION").exists():
            pg.init()
        pg.start()
        self._started("postgres", lambda: (pg.stop(), release_runtime_dir(cfg.state_dir / "postgres")),
                      port=cfg.postgres_port, data_dir=str(pg.data_dir))
        if cfg.dr != "off":
            self._start_dr(pg)  # before any write: a synchronous primary waits for its standby
        from rehearsal.apps.seed import seed_app_database

        for app in APPS:
            pg.create_database(app, owner=app, owner_password=app)
            seed_app_database(pg.dsn(app), app)
            self.env[f"{app.upper()}_DATABASE_DSN"] = pg.dsn(app)
        self.env["POSTGRES_ADMIN_DSN"] = pg.dsn("postgres")
        # The same as separate values, which the inventory reads into launch_databases.<app> (no DSN parsing).
        admin = pg.conninfo("postgres")
        for prefix, dbname in [("POSTGRES", "postgres")] + [(app.upper() + "_DB", app) for app in APPS]:
            self.env.update({f"{prefix}_HOST": admin["host"], f"{prefix}_PORT": str(admin["port"]),
                             f"{prefix}_NAME": dbname, f"{prefix}_USER": admin["user"],
                             f"{prefix}_PASSWORD": admin["password"]})
        self.env["REHEARSAL_STATE_DIR"] = str(self.config.state_dir.resolve())
        self.postgres = pg

    def _dr_primary_options(self) -> dict:
        from rehearsal.services.postgres import DR_NODE_NAMES, dr_settings

        if self.config.dr == "off":
            return {}
        return {"settings": dr_settings(self.config.dr), "name": DR_NODE_NAMES[0]}

    def _start_dr(self, primary) -> None:
        """The DR standby (pg_b, 127.0.0.2, same port) and the BIND zone naming the primary."""
        from rehearsal.services.dr_pair import start_dr_services

        cfg = self.config
        self.env.update(start_dr_services(primary, cfg.state_dir, cfg.dns_port, cfg.dr, self._started))

    def _start_prometheus(self) -> None:
        from rehearsal.services.prometheus import PrometheusServer

        cfg = self.config
        prom = PrometheusServer(cfg.state_dir / "prometheus", cfg.prometheus_port)
        prom.start()
        self._started("prometheus", prom.stop, url=prom.url)
        self.env["PROMETHEUS_URL"] = prom.url
        self.prometheus = prom

    def _start_webhook(self) -> None:
        from rehearsal.services.webhook import WebhookReceiver

        hook = WebhookReceiver(self.config.webhook_port)
        hook.start()
        self._started("webhook", hook.stop, url=hook.url)
        self.env["WEBHOOK_URL"] = hook.url
        self.env["SLACK_WEBHOOK_URL"] = f"{hook.url}/slack/launch"
        self.env["STATUSPAGE_URL"] = f"{hook.url}/statuspage"

    def _start_redis_and_registry(self) -> None:
        """The cache (Redis) and the image registry holding the images the stack can run."""
        from rehearsal.services.redis import RedisServer
        from rehearsal.services.registry import PUBLISHED_VERSIONS, ImageRegistry

        cfg = self.config
        cache = RedisServer(cfg.state_dir / "redis", cfg.redis_port).start()
        self._started("redis", cache.stop, port=cfg.redis_port)
        self.env["REDIS_URL"] = cache.url
        registry = ImageRegistry(cfg.state_dir / "registry", cfg.registry_port).start()
        images = [f"rehearsal/{app}:{version}" for app in APPS for version in PUBLISHED_VERSIONS]
        for app in APPS:
            for version in PUBLISHED_VERSIONS:
                registry.publish(app, version)
        self._started("registry", registry.stop, url=registry.url, images=images)
        self.env["REGISTRY_URL"] = registry.url

    def _start_cluster(self) -> None:
        from rehearsal.kube.stack_part import start_real_cluster

        start_real_cluster(self)

    def _watch_scrape_targets(self) -> None:
        """Keep Prometheus's file-based service discovery equal to the ready pods."""
        from rehearsal.scrape_targets import ScrapeTargetSync

        sync = ScrapeTargetSync(self.cluster.store, self.prometheus)
        sync.start()
        self._started("scrape-target-sync", sync.stop)

    def _start_traffic_plane(self) -> None:
        from rehearsal.traffic.controller import TrafficPlane

        cfg = self.config
        plane = TrafficPlane(cfg.state_dir / "nginx", self.cluster.store, cfg.ingress_port)
        plane.start()
        self._started("ingress-nginx", plane.stop, url=plane.url)
        self.env["INGRESS_URL"] = plane.url

    def _kubectl(self, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
        kubectl = getattr(self.cluster, "kubectl", "kubectl")  # the real control plane brings its own
        proc = subprocess.run([kubectl, "--kubeconfig", str(self.cluster.kubeconfig), *args],
                              input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def _deploy_manifests(self) -> None:
        """Apply the v1 manifests with kubectl, as an operator would, and wait for the rollouts."""
        for app in APPS:
            # Namespace and database Secret first: the manifests reference the Secret
            # and carry no credentials themselves.
            self._kubectl("apply", "-f", "-", stdin=json.dumps(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": app}}))
            secret = self._kubectl("-n", app, "create", "secret", "generic", f"{app}-database",
                                   f"--from-literal=dsn={self.env[app.upper() + '_DATABASE_DSN']}",
                                   "--dry-run=client", "-o", "json")
            self._kubectl("apply", "-f", "-", stdin=secret)
        manifests = sorted(MANIFESTS_DIR.glob("*.yaml"))
        for manifest in manifests:
            self._kubectl("apply", "-f", str(manifest))
        for app in APPS:
            self._kubectl("-n", app, "rollout", "status", f"deployment/{app}-api", "--timeout=120s", timeout=130)
        # `up` returns only once Prometheus has scraped every app pod: a gate that queries right after
        # `up` would otherwise find no series and fail closed.
        from rehearsal.scrape_targets import scrape_targets

        self.prometheus.wait_for_targets(count=len(scrape_targets(self.cluster.store.list("pods")[0])), timeout=30)
        self.status["apps"] = {app: f"http://{app}.rehearsal.test (Host header via INGRESS_URL)" for app in APPS}

    def write_env(self) -> None:
        cfg = self.config
        lines = [f"export {k}={shlex.quote(v)}" for k, v in sorted(self.env.items())]
        tmp = cfg.env_file.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(cfg.env_file)
        cfg.status_file.write_text(json.dumps({"pid": os.getpid(), "components": self.status}, indent=2))

    def stop(self) -> None:
        while self._stops:
            name, stop = self._stops.pop()
            try:
                stop()
                _log(f"stopped {name}")
            except Exception as exc:  # keep stopping the rest: down must leave nothing behind
                _log(f"stopping {name} failed: {exc}")


def serve(config: StackConfig) -> int:
    """Run the stack in this process until SIGTERM/SIGINT (the daemon's body)."""
    stop_requested = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
    signal.signal(signal.SIGINT, lambda *_: stop_requested.set())
    stack = Stack(config)
    try:
        stack.start()
        stack.write_env()
        _log("stack is up")
        while not stop_requested.wait(1.0):
            pass
        return 0
    except Exception as exc:
        _log(f"stack failed to start: {exc!r}")
        return 1
    finally:
        stack.stop()
        with contextlib.suppress(FileNotFoundError):
            config.env_file.unlink()
        _log("stack is down")


def _read_pid(config: StackConfig) -> int | None:
    try:
        pid = int(config.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def up(config: StackConfig, timeout: float = 300) -> int:
    """Start the daemon unless it already runs (idempotent); wait for it to be ready."""
    config.state_dir.mkdir(parents=True, exist_ok=True)
    pid = _read_pid(config)
    if pid and config.env_file.exists():
        print(f"rehearsal stack already up (pid {pid})")
        return 0
    if pid:
        print(f"rehearsal stack (pid {pid}) is still starting or stuck; run `down` first", file=sys.stderr)
        return 1
    with contextlib.suppress(FileNotFoundError):
        config.env_file.unlink()
    log = open(config.log_file, "ab")  # noqa: SIM115 - handed to the daemon
    serve_cmd = [sys.executable, "-m", "rehearsal", "serve", "--state-dir", str(config.state_dir)]
    if not config.deploy_manifests:
        serve_cmd.append("--no-apps")  # the daemon builds its own config from its arguments
    proc = subprocess.Popen(
        serve_cmd,
        cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    config.pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if config.env_file.exists():
            print(f"rehearsal stack up (pid {proc.pid}); state in {config.state_dir}")
            return 0
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    tail = config.log_file.read_text(errors="replace").splitlines()[-30:]
    print("rehearsal stack failed to come up; last log lines:\n" + "\n".join(tail), file=sys.stderr)
    down(config)
    return 1


def _leftover_pids(state_dir: Path) -> list[int]:
    """Processes still tied to this state dir: by command line (postgres -D, nginx -p,
    prometheus --config.file) or by standard output (pod processes log there)."""
    marker = str(state_dir)
    found = []
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit() or int(proc_dir.name) == os.getpid():
            continue
        try:
            cmdline = (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stdout_target = os.readlink(proc_dir / "fd" / "1")
        except OSError:
            continue
        if marker in cmdline or stdout_target.startswith(marker):
            found.append(int(proc_dir.name))
    return found


def _kill_leftovers(state_dir: Path) -> None:
    for leftover in _leftover_pids(state_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(leftover, signal.SIGKILL)
            print(f"killed leftover process {leftover}")
    from rehearsal.services.postgres import release_runtime_dir

    # Data dirs kept outside the state dir (runtime_dir links) go too, also when the daemon died.
    for link in state_dir.glob("postgres*"):
        release_runtime_dir(link)
    from rehearsal.kube.stack_part import remove_leftovers

    for removed in remove_leftovers(state_dir):  # the real control plane's network and etcd data
        print(f"removed leftover {removed}")


def down(config: StackConfig, timeout: float = 60) -> int:
    """Stop the daemon and everything it started; kill leftovers in its session."""
    pid = _read_pid(config)
    if pid is None:
        print("rehearsal stack is not running")
        _kill_leftovers(config.state_dir)
        with contextlib.suppress(FileNotFoundError):
            config.pid_file.unlink()
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _read_pid(config):
        time.sleep(0.2)
    # The daemon leads its own session: its process group id is its pid.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    _kill_leftovers(config.state_dir)
    with contextlib.suppress(FileNotFoundError):
        config.pid_file.unlink()
    with contextlib.suppress(FileNotFoundError):
        config.env_file.unlink()
    print("rehearsal stack down")
    return 0


def status(config: StackConfig) -> int:
    pid = _read_pid(config)
    if pid is None or not config.status_file.exists():
        print("rehearsal stack is not running")
        return 3
    info = json.loads(config.status_file.read_text())
    print(f"rehearsal stack up (pid {pid})")
    for name, details in info["components"].items():
        print(f"  {name:20} {json.dumps(details)}")
    # The snapshot above was written at `up`; rollouts change pods afterwards, so ask the API now.
    print("  pods (live, from the API):")
    for line in _live_pod_lines(config):
        print(f"    {line}")
    print(f"  env file: {config.env_file} (source it: `. {config.env_file}`)")
    return 0


def _live_pods(config: StackConfig) -> list[dict]:
    """Every pod in the cluster right now, through kubectl and the stack's kubeconfig."""
    from rehearsal.kube.stack_part import kubectl_for

    proc = subprocess.run(
        [kubectl_for(config.state_dir), "--kubeconfig", str(config.state_dir / "kubeconfig"),
         "--cache-dir", str(config.state_dir / "kubectl-cache"), "get", "pods", "--all-namespaces", "-o", "json"],
        capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip() or f"kubectl exited with {proc.returncode}")
    return json.loads(proc.stdout)["items"]


def describe_pod(pod: dict) -> dict[str, str]:
    """What `status` shows of one pod: name, version (the image tag), address:port and readiness."""
    spec, st = pod.get("spec") or {}, pod.get("status") or {}
    container = (spec.get("containers") or [{}])[0]
    image = container.get("image", "")
    version = image.rpartition(":")[2] if ":" in image.rsplit("/", 1)[-1] else "latest"
    ports = container.get("ports") or [{}]
    address = f"{st['podIP']}:{ports[0].get('containerPort', 8080)}" if st.get("podIP") else "-"
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])
    state = "ready" if ready else "not-ready"
    if pod["metadata"].get("deletionTimestamp"):
        state = "terminating"
    waiting = [(cs.get("state") or {}).get("waiting", {}).get("reason") for cs in st.get("containerStatuses") or []]
    reasons = [r for r in waiting if r]
    restarts = sum(cs.get("restartCount", 0) for cs in st.get("containerStatuses") or [])
    return {"name": pod["metadata"]["name"], "version": version, "address": address,
            "state": state + (f" ({reasons[0]})" if reasons else ""), "restarts": str(restarts)}


def _live_pod_lines(config: StackConfig) -> list[str]:
    """One line per pod of each app namespace (aligned columns), then a count of the other pods."""
    try:
        pods = _live_pods(config)
    except (OSError, RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
        return [f"(cannot read pods from the API: {exc})"]
    rows, others = [], {}
    for app in APPS:
        mine = sorted((p for p in pods if p["metadata"].get("namespace") == app), key=lambda p: p["metadata"]["name"])
        rows += [[app, d["name"], d["version"], d["address"], d["state"], f"restarts={d['restarts']}"]
                 for d in map(describe_pod, mine)] or [[app, "(no pods)"]]
    for p in pods:
        ns = p["metadata"].get("namespace", "")
        if ns not in APPS:
            others[ns] = others.get(ns, 0) + 1
    widths = [max(len(r[i]) for r in rows if len(r) > i) for i in range(max(map(len, rows)))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    if others:
        names = sorted(others)
        listed = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        lines.append(f"{sum(others.values())} pod(s) in {len(names)} other namespace(s): {listed}")
    return lines

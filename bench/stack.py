#!/usr/bin/env python3
"""Figures of the whole rehearsal stack, as `python -m rehearsal up` starts it.

Runs a stack of its own (temp state dir under /tmp, free loopback ports through the
REHEARSAL_*_PORT variables), so a developer's stack on the default ports is not touched:

1. cold ``up`` time (fresh state dir: initdb, CA, every component, the three v1 apps);
2. deploys a v2 Deployment (2 replicas) beside v1 for every app, so 3 apps x 2 versions x
   2 replicas run, and puts cbam v2 behind an ingress-nginx canary Ingress;
3. under steady load on all three hosts through nginx, toggles the canary weight with
   ``kubectl annotate`` ``--reloads`` times; after each change it waits until nginx serves the new
   configuration (the X-Config-Hash of /healthz changes), so every change is a live reload;
   prints the failed requests (connection errors and 5xx; target 0) and the reload latency;
4. the stack's resident memory: every process of it (daemon, PostgreSQL and its backends,
   Prometheus, nginx master and workers, the 12 pods), as RSS (target < 1.5 GiB) and PSS
   (shared pages counted once);
5. ``down`` time, then checks that no process refers to the state dir and no port listens.

Exit status 0 when the run completed and nothing was left behind (targets are reported, not
enforced). Takes about a minute.

    .venv/bin/python bench/stack.py
    .venv/bin/python bench/stack.py --reloads 40 --rps 50
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from rehearsal.load import LoadGenerator  # noqa: E402

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
PORT_NAMES = ("KUBE", "INGRESS", "PROMETHEUS", "POSTGRES", "WEBHOOK")
APPS = ("vcci", "cbam", "csrd")
API_CALLS = {
    "vcci": ("/api/v1/calculator/category1", {"items": [{"category": "metals", "spend": 1000}]}),
    "cbam": ("/api/v1/calculate", {"imports": [{"cn_code": "7208", "quantity": 100}]}),
    "csrd": ("/api/v1/calculate", {"datapoints": [{"code": "E1-6_scope1", "value": 1}]}),
}
WEIGHT_ANNOTATION = "nginx.ingress.kubernetes.io/canary-weight"
RSS_TARGET = 1.5 * 2**30


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _proc_texts(pid: str) -> list[str]:
    proc = Path("/proc") / pid
    texts = [(proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"),
             (proc / "environ").read_bytes().replace(b"\0", b" ").decode(errors="replace"),
             os.readlink(proc / "cwd")]
    return texts + [os.readlink(fd) for fd in (proc / "fd").iterdir()]


def stack_pids(state_dir: Path, daemon_pid: int | None) -> set[int]:
    """The daemon, every process whose command line, environment, cwd or open files mention the state
    dir (pods log there, PostgreSQL and nginx keep their files there), and all their descendants."""
    parents: dict[int, int] = {}
    roots = {daemon_pid} if daemon_pid else set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            stat = (proc / "stat").read_text()
            parents[int(proc.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            if any(str(state_dir) in t for t in _proc_texts(proc.name)):
                roots.add(int(proc.name))
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = set(roots), list(roots)
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in found]
        found.update(children)
        frontier.extend(children)
    return {pid for pid in found if Path(f"/proc/{pid}").exists()}


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB; (0, 0) for a process that is gone."""
    try:
        rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS:"))
        pss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                   if line.startswith("Pss:"))
    except (OSError, StopIteration):
        return 0, 0
    return rss, pss


def component(pid: int, daemon_pid: int | None) -> str:
    if pid == daemon_pid:
        return "daemon (API server, controllers, kubelet, webhook, syncs)"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    for marker, name in (("rehearsal.apps.demo_app", "pods (demo app)"), ("postgres", "postgresql"),
                         ("prometheus", "prometheus"), ("nginx", "nginx")):
        if marker in cmdline:
            return name
    return f"other: {cmdline[:60]}"


def listening_sockets() -> set[tuple[str, int]]:
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A":  # LISTEN
            ip_hex, port_hex = fields[1].split(":")
            found.add((socket.inet_ntoa(bytes.fromhex(ip_hex)[::-1]), int(port_hex, 16)))
    return found


class BenchStack:
    def __init__(self) -> None:
        self.state_dir = Path(tempfile.mkdtemp(prefix="greenlang-bench-stack-", dir="/tmp"))
        self.state_dir.chmod(0o755)  # PostgreSQL's OS user must traverse it
        self.ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
        self.cli_env = {**os.environ, **{f"REHEARSAL_{k}_PORT": str(v) for k, v in self.ports.items()}}
        self.cli_env.pop("KUBECONFIG", None)
        self.env: dict[str, str] = {}
        self.pod_ips: set[str] = set()

    def rehearsal(self, command: str, timeout: float = 300) -> float:
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "rehearsal", command, "--state-dir", str(self.state_dir)],
                              cwd=REPO_ROOT, env=self.cli_env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"`{command}` failed: {proc.stdout}{proc.stderr}")
        return time.monotonic() - started

    def load_env(self) -> None:
        out = subprocess.run(["bash", "-c", '. "$1"; env -0', "_", str(self.state_dir / "env")],
                             env={"PATH": os.environ["PATH"]}, capture_output=True, timeout=30, check=True).stdout
        self.env = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 120) -> str:
        proc = subprocess.run([KUBECTL, "--kubeconfig", self.env["KUBECONFIG"], *args], input=input,
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def apply(self, obj: dict) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps(obj))

    def config_hash(self) -> str:
        req = urllib.request.Request(f"{self.env['INGRESS_URL']}/healthz")
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.headers.get("X-Config-Hash", "")

    def daemon_pid(self) -> int | None:
        try:
            return int((self.state_dir / "stack.pid").read_text())
        except (OSError, ValueError):
            return None


def v2_objects(app: str) -> list[dict]:
    """<app>-api-v2: a second Deployment (2 replicas) and its Service beside v1."""
    name = f"{app}-api-v2"
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "greenlang"}
    container = {"name": "api", "image": f"rehearsal/{app}:v2", "ports": [{"name": "http", "containerPort": 8080}],
                 "env": [{"name": "DATABASE_DSN",
                          "valueFrom": {"secretKeyRef": {"name": f"{app}-database", "key": "dsn"}}}],
                 "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "http"}, "periodSeconds": 1}}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": app},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                  "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": app},
         "spec": {"selector": {"app.kubernetes.io/name": name},
                  "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
    ]


def canary_ingress(weight: int) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "cbam-canary", "namespace": "cbam",
                         "annotations": {"nginx.ingress.kubernetes.io/canary": "true", WEIGHT_ANNOTATION: str(weight)}},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": "cbam.rehearsal.test", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "cbam-api-v2", "port": {"number": 80}}}}]}}]}}


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


def reload_to_weight(stack: BenchStack, weight: int) -> float:
    """Set the canary weight; return the seconds until nginx serves the configuration with it.

    Live means: nginx.conf carries the new split and /healthz answers with that configuration's hash
    three times in a row (right after SIGHUP the old worker may still take a connection or two).
    """
    conf = stack.state_dir / "nginx" / "nginx.conf"
    started = time.monotonic()
    stack.kubectl("-n", "cbam", "annotate", "--overwrite", "ingress/cbam-canary", f"{WEIGHT_ANNOTATION}={weight}")

    def rendered_hash():
        text = conf.read_text()
        match = re.search(r'X-Config-Hash "([0-9a-f]+)"', text)
        return match.group(1) if match and f"{weight}% canary;" in text else None

    wanted = wait_for(rendered_hash, timeout=15, what=f"weight {weight} rendered")
    wait_for(lambda: all(stack.config_hash() == wanted for _ in range(3)), timeout=15, what=f"weight {weight} live")
    return time.monotonic() - started


def reloads_under_load(stack: BenchStack, reloads: int, rps: float) -> tuple[dict, list[float]]:
    hosts = [f"{app}.rehearsal.test" for app in APPS]
    per_host = {f"{app}.rehearsal.test": {"path": path, "body": body} for app, (path, body) in API_CALLS.items()}
    gen = LoadGenerator(stack.env["INGRESS_URL"], hosts, rps=rps, duration=600, method="POST",
                        per_host=per_host).start()
    latencies = []
    try:
        time.sleep(2)
        for i in range(reloads):
            latencies.append(reload_to_weight(stack, 20 if i % 2 == 0 else 10))
        time.sleep(2)
    finally:
        summary = gen.stop()
    return summary, latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reloads", type=int, default=20, help="nginx reloads under load (default 20)")
    parser.add_argument("--rps", type=float, default=30, help="requests per second per app host (default 30)")
    args = parser.parse_args(argv)

    stack = BenchStack()
    print(f"state dir {stack.state_dir}, ports {stack.ports}")
    completed = False
    daemon_pid = None
    try:
        up_s = stack.rehearsal("up")
        print(f"cold up:            {up_s:6.1f} s")
        stack.load_env()
        daemon_pid = stack.daemon_pid()
        for app in APPS:
            for obj in v2_objects(app):
                stack.apply(obj)
        for app in APPS:
            stack.kubectl("-n", app, "rollout", "status", f"deployment/{app}-api-v2", "--timeout=120s", timeout=130)
        stack.apply(canary_ingress(10))
        wait_for(lambda: "be_cbam_cbam_api_v2_80" in (stack.state_dir / "nginx" / "nginx.conf").read_text(), 15,
                 "the canary in nginx.conf")

        summary, latencies = reloads_under_load(stack, args.reloads, args.rps)
        lat = sorted(latencies)
        print(f"reloads under load: {len(latencies)} (canary weight toggled, each waited until served); "
              f"change->live median {statistics.median(lat):.2f} s, max {lat[-1]:.2f} s")
        print(f"  load: {summary['requests']} requests at {args.rps:g} rps x {len(APPS)} hosts, "
              f"failed {summary['failed']} (target 0: {'met' if summary['failed'] == 0 else 'MISSED'}), "
              f"by status {summary['by_status']}, p99 {summary['latency_ms']['p99']} ms")
        if summary["first_errors"]:
            print(f"  first errors: {summary['first_errors'][:3]}")

        pods = json.loads(stack.kubectl("get", "pods", "-A", "-o", "json"))["items"]
        running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
        stack.pod_ips = {p["status"]["podIP"] for p in pods if (p.get("status") or {}).get("podIP")}
        time.sleep(1)  # let connections of the load settle before measuring
        by_component: dict[str, list[int]] = {}
        total_rss = total_pss = 0
        for pid in stack_pids(stack.state_dir, daemon_pid):
            rss, pss = memory_kib(pid)
            total_rss, total_pss = total_rss + rss, total_pss + pss
            entry = by_component.setdefault(component(pid, daemon_pid), [0, 0, 0])
            entry[0], entry[1], entry[2] = entry[0] + 1, entry[1] + rss, entry[2] + pss
        print(f"memory with {len(running)} pods running (3 apps x 2 versions x 2 replicas):")
        for name, (count, rss, pss) in sorted(by_component.items(), key=lambda kv: -kv[1][1]):
            print(f"  {name:58} {count:3} proc  RSS {rss / 1024:7.1f} MiB  PSS {pss / 1024:7.1f} MiB")
        print(f"  total RSS {total_rss / 1024:.1f} MiB (target < {RSS_TARGET / 2**20:.0f} MiB: "
              f"{'met' if total_rss * 1024 < RSS_TARGET else 'MISSED'}), total PSS {total_pss / 1024:.1f} MiB")
        completed = True
    except Exception:
        log = stack.state_dir / "stack.log"
        if log.exists():
            print("last lines of stack.log:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:]))
        raise
    finally:
        down_s = stack.rehearsal("down", timeout=180)
        print(f"down:               {down_s:6.1f} s")
        deadline = time.monotonic() + 15
        left = stack_pids(stack.state_dir, None)
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = stack_pids(stack.state_dir, None)
        listening = {(ip, port) for ip, port in listening_sockets()
                     if port in stack.ports.values() or (ip in stack.pod_ips and port == 8080)}
        shutil.rmtree(stack.state_dir, ignore_errors=True)
        print(f"left behind after down: {len(left)} processes, {len(listening)} listening sockets")
    return 0 if completed and not left and not listening else 1


if __name__ == "__main__":
    sys.exit(main())

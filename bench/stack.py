#!/usr/bin/env python3
"""Figures of the whole rehearsal stack, as `python -m rehearsal up` starts it.

Runs a stack of its own (temp state dir under /tmp, free loopback ports through the
REHEARSAL_*_PORT variables), so a developer's stack on the default ports is not touched:

1. cold ``up`` time (fresh state dir: initdb, CA, every component, the three v1 apps), broken down by
   control-plane part (pod network, etcd and kube-apiserver until /readyz, CRDs, node agent, node
   schedulable); target < 30 s;
2. deploys a v2 Deployment (2 replicas) beside v1 for every app, so 3 apps x 2 versions x
   2 replicas run, and puts cbam v2 behind an ingress-nginx canary Ingress;
3. under steady load on all three hosts through nginx, toggles the canary weight with
   ``kubectl annotate`` ``--reloads`` times; after each change it waits until nginx serves the new
   configuration (the X-Config-Hash of /healthz changes), so every change is a live reload;
   prints the failed requests (connection errors and 5xx; target 0) and the reload latency;
4. the stack's resident memory: every process of it (daemon with the node agent, etcd, kube-apiserver,
   controller manager, scheduler, PostgreSQL and its backends, Prometheus, nginx master and workers,
   the 12 pods), as RSS (target < 2 GiB) and PSS (shared pages counted once);
5. ``down`` time, then checks that no process refers to the state dir, no port listens, and no network
   namespace, veth, bridge or etcd tmpfs dir of the stack is left.

Exit status 0 when the run completed and nothing was left behind (targets are reported, not
enforced). Takes about a minute.

    .venv/bin/python bench/stack.py
    .venv/bin/python bench/stack.py --reloads 40 --rps 50
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from rehearsal.load import LoadGenerator  # noqa: E402
from rehearsal.testing import StackRun, stack_pids  # noqa: E402

APPS = ("vcci", "cbam", "csrd")
API_CALLS = {
    "vcci": ("/api/v1/calculator/category1", {"items": [{"category": "metals", "spend": 1000}]}),
    "cbam": ("/api/v1/calculate", {"imports": [{"cn_code": "7208", "quantity": 100}]}),
    "csrd": ("/api/v1/calculate", {"datapoints": [{"code": "E1-6_scope1", "value": 1}]}),
}
WEIGHT_ANNOTATION = "nginx.ingress.kubernetes.io/canary-weight"
RSS_TARGET = 2 * 2**30
UP_TARGET_SECONDS = 30


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
        return "daemon (node agent, API mirror, webhook, syncs)"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    for marker, name in (("rehearsal.apps.demo_app", "pods (demo app)"), ("kube-apiserver ", "kube-apiserver"),
                         ("kube-controller-manager ", "kube-controller-manager"),
                         ("kube-scheduler ", "kube-scheduler"), ("/etcd ", "etcd"), ("postgres", "postgresql"),
                         ("prometheus", "prometheus"), ("nginx", "nginx")):
        if marker in cmdline:
            return name
    return f"other: {cmdline[:60]}"


class BenchStack(StackRun):
    def apply(self, obj: dict) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps(obj))

    def config_hash(self) -> str:
        req = urllib.request.Request(f"{self.env['INGRESS_URL']}/healthz")
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.headers.get("X-Config-Hash", "")


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

    stack = BenchStack(prefix="greenlang-bench-stack-").prepare()
    print(f"state dir {stack.state_dir}, ports {stack.ports}")
    completed = False
    daemon_pid = None
    try:
        stack.up()
        print(f"cold up:            {stack.up_seconds:6.1f} s (with the v1 apps; target < {UP_TARGET_SECONDS} s: "
              f"{'met' if stack.up_seconds < UP_TARGET_SECONDS else 'MISSED'})")
        status = json.loads((stack.state_dir / "status.json").read_text())["components"]["kube-apiserver"]
        if "startup_seconds" in status:
            print(f"  control plane parts: {status['startup_seconds']} s; server {status.get('version')}")
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
        stack.pod_ips.update(p["status"]["podIP"] for p in pods if (p.get("status") or {}).get("podIP"))
        time.sleep(1)  # let connections of the load settle before measuring
        by_component: dict[str, list[int]] = {}
        total_rss = total_pss = 0
        for pid in stack_pids(stack.state_dir, {daemon_pid} if daemon_pid else set()):
            rss, pss = memory_kib(pid)
            total_rss, total_pss = total_rss + rss, total_pss + pss
            entry = by_component.setdefault(component(pid, daemon_pid), [0, 0, 0])
            entry[0], entry[1], entry[2] = entry[0] + 1, entry[1] + rss, entry[2] + pss
        print(f"memory with {len(running)} pods running (3 apps x 2 versions x 2 replicas):")
        for name, (count, rss, pss) in sorted(by_component.items(), key=lambda kv: -kv[1][1]):
            print(f"  {name:58} {count:3} proc  RSS {rss / 1024:7.1f} MiB  PSS {pss / 1024:7.1f} MiB")
        target = RSS_TARGET
        print(f"  total RSS {total_rss / 1024:.1f} MiB (target < {target / 2**20:.0f} MiB: "
              f"{'met' if total_rss * 1024 < target else 'MISSED'}), total PSS {total_pss / 1024:.1f} MiB")
        completed = True
    except Exception:
        log = stack.state_dir / "stack.log" if stack.state_dir else None  # a failed `up` has already run `down`
        if log and log.exists():
            print("last lines of stack.log:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:]))
        raise
    finally:
        stack.down()  # at once if a failed `up` has already run it
        print(f"down:               {stack.down_seconds:6.1f} s")
        network = [x for x in stack.leftovers if x.endswith("still exists")]
        print(f"left behind after down: {len(stack.left_processes)} processes, "
              f"{len(stack.left_sockets)} listening sockets, {len(network)} network namespaces/links/etcd dirs")
        if stack.down_result is not None and stack.down_result.returncode != 0:
            print(f"`down` failed: {stack.down_result.stdout}{stack.down_result.stderr}", file=sys.stderr)
    return 0 if completed and not stack.leftovers else 1


if __name__ == "__main__":
    sys.exit(main())

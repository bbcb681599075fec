"""Footprint of the rehearsal pods: start time, RSS, and throughput of 12 demo app processes.

    .venv/bin/python bench/demo_app_footprint.py [--pods 12] [--rps 50] [--duration 10]

Starts a real PostgreSQL with the three seeded app databases, N demo apps (vcci/cbam/csrd
in turn; every other one connected to its database, the rest without one) and a real
Prometheus scraping them, sends --rps requests/s to each pod for --duration seconds and
prints: median/max start-to-ready time, RSS per app process and in total, achieved rps,
failed requests and latency percentiles. Targets: ready < 1 s, < 40 MB per app, 12 pods
plus services < 1.5 GiB.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rehearsal.apps.process import DemoAppProcess  # noqa: E402
from rehearsal.apps.seed import seed_app_database  # noqa: E402
from rehearsal.load import LoadGenerator, summarize  # noqa: E402
from rehearsal.services.postgres import PostgresCluster, free_port, scratch_dir  # noqa: E402
from rehearsal.services.prometheus import PrometheusServer  # noqa: E402

BODIES = {
    "vcci": ("/api/v1/calculator/category1", {"items": [{"category": "metals", "spend": 1000}]}),
    "cbam": ("/api/v1/calculate", {"imports": [{"cn_code": "7208", "quantity": 100}]}),
    "csrd": ("/api/v1/pipeline/run", {"company": "ACME", "datapoints": [{"code": "E1-6_scope1", "value": 1}]}),
}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=12)
    parser.add_argument("--rps", type=float, default=50)
    parser.add_argument("--duration", type=float, default=10)
    args = parser.parse_args()
    apps = ["vcci", "cbam", "csrd"]
    pods: list[DemoAppProcess] = []
    start_times = []
    pg_root = scratch_dir("greenlang-bench-pg-")
    pg = PostgresCluster(pg_root / "data", free_port())
    with tempfile.TemporaryDirectory() as tmp:
        prom = PrometheusServer(tmp, free_port())
        try:
            pg.init().start()
            dsns = {}
            for app in apps:
                pg.create_database(app, owner=app, owner_password=f"{app}-pw")
                dsns[app] = f"host={pg.host} port={pg.port} user={app} password={app}-pw dbname={app}"
                seed_app_database(dsns[app], app)
            for i in range(args.pods):
                env = {"DATABASE_DSN": dsns[apps[i % 3]]} if i % 2 else {}
                pod = DemoAppProcess(apps[i % 3], "v1", env=env)
                pods.append(pod)
                started = time.monotonic()
                pod.start(wait="/health/ready")
                while urllib.request.urlopen(pod.url + "/health/live", timeout=5).status != 200:
                    time.sleep(0.01)
                start_times.append(time.monotonic() - started)
            prom.start()
            prom.set_targets([{"targets": [p.address], "labels": {"app": p.app, "version": p.version,
                                                                  "pod": f"pod-{i}", "namespace": p.app}}
                              for i, p in enumerate(pods)])
            prom.wait_for_targets(timeout=30)
            gens = [LoadGenerator(p.url, rps=args.rps, duration=args.duration, path=BODIES[p.app][0], method="POST",
                                  body=BODIES[p.app][1], workers=8).start() for p in pods]
            records = [r for g in gens for r in (g.wait() and g.results)]
            urllib.request.urlopen(pods[0].url + "/metrics", timeout=5).read()
            rss = [rss_kib(p.proc.pid) for p in pods]
            prom_rss = rss_kib(prom._proc.pid)
        finally:
            for pod in pods:
                pod.stop()
            prom.stop()
            pg.destroy()
            shutil.rmtree(pg_root, ignore_errors=True)
    summary = summarize(records)
    total = len(records)
    print(f"pods: {args.pods}, load: {args.rps} rps per pod for {args.duration} s")
    print(f"start to serving: median {statistics.median(start_times) * 1000:.0f} ms, "
          f"max {max(start_times) * 1000:.0f} ms")
    print(f"RSS per app process under load: median {statistics.median(rss) / 1024:.1f} MiB, "
          f"max {max(rss) / 1024:.1f} MiB (with DB driver loaded: max {max(rss[1::2]) / 1024:.1f} MiB)")
    print(f"RSS total apps {sum(rss) / 1024:.0f} MiB + prometheus {prom_rss / 1024:.0f} MiB "
          f"= {(sum(rss) + prom_rss) / 1024:.0f} MiB")
    print(f"requests {total}, achieved {total / args.duration:.0f} rps in total "
          f"({total / args.duration / args.pods:.1f} per pod), failed {summary['failed']}")
    lat = summary["latency_ms"]
    print(f"latency ms: p50 {lat['p50']:.1f}, p95 {lat['p95']:.1f}, p99 {lat['p99']:.1f}, max {lat['max']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

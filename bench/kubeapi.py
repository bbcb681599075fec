"""Latency of the rehearsal Kubernetes API emulator over one keep-alive HTTPS connection.

Starts a Cluster in a temp dir, creates 1,000 ConfigMaps (no controller acts on them) in one namespace,
then times GET of one object, LIST of all of them and a merge PATCH, and prints median and p99 per
operation. Target: GET median < 5 ms; the exit status is 1 when it is missed (2 for a wrong answer), so a
CI job or a script can gate on it.

    .venv/bin/python bench/kubeapi.py [--objects 1000] [--get 500] [--list 30] [--patch 300] [--kube real]

``--kube real`` times the real kube-apiserver (with etcd, controller manager, scheduler and the node agent,
as ``rehearsal up --kube real`` runs them) instead of the emulator, for comparison.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from rehearsal.kubeapi.kubeconfig import read_kubeconfig  # noqa: E402

NAMESPACE = "bench"
GET_MEDIAN_TARGET_MS = 5.0


class Connection:
    """One HTTP/1.1 keep-alive connection authenticated as the kubeconfig's user."""

    def __init__(self, kubeconfig: Path, workdir: Path):
        endpoint = read_kubeconfig(kubeconfig, workdir)
        self.token = endpoint.token
        self.conn = http.client.HTTPSConnection(endpoint.host, endpoint.port, context=endpoint.ssl_context,
                                                timeout=30)
        self.reconnects = 0

    def request(self, method: str, path: str, body: dict | None = None,
                content_type: str = "application/json") -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        if resp.will_close:  # the server dropped keep-alive: count it, the figures are then pessimistic
            self.reconnects += 1
            self.conn.close()
        return resp.status, payload

    def close(self) -> None:
        self.conn.close()


def timed(conn: Connection, n: int, method: str, path_of, body_of=None, content_type="application/json",
          expect: int = 200) -> list[float]:
    samples = []
    for i in range(n):
        path = path_of(i)
        body = body_of(i) if body_of else None
        start = time.perf_counter()
        status, payload = conn.request(method, path, body, content_type)
        samples.append((time.perf_counter() - start) * 1000.0)
        if status != expect:
            print(f"{method} {path} answered {status}: {payload[:300]!r}", file=sys.stderr)
            raise SystemExit(2)  # a wrong answer, not a slow one: told apart from a missed target (1)
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))
    return ordered[index]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--get", type=int, default=500)
    parser.add_argument("--list", type=int, default=30)
    parser.add_argument("--patch", type=int, default=300)
    parser.add_argument("--kube", choices=["emulator", "real"], default="emulator")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-kubeapi-") as tmp:
        if args.kube == "real":
            from rehearsal.kube.cluster import RealCluster

            cluster = RealCluster(Path(tmp) / "state").start()
        else:
            from rehearsal.kubeapi.cluster import Cluster

            cluster = Cluster(Path(tmp) / "state", host="127.0.0.1", port=0)
            cluster.start()
        try:
            conn = Connection(Path(cluster.kubeconfig), Path(tmp))
            conn.request("POST", "/api/v1/namespaces",
                         {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
            base = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
            start = time.perf_counter()
            create = timed(conn, args.objects, "POST", lambda i: base, lambda i: {
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": f"cm-{i:04d}", "labels": {"bench": "yes", "shard": str(i % 10)}},
                "data": {"index": str(i), "payload": "x" * 200}}, expect=201)
            create_s = time.perf_counter() - start

            results = {
                "CREATE": create,
                "GET": timed(conn, args.get, "GET", lambda i: f"{base}/cm-{i % args.objects:04d}"),
                f"LIST ({args.objects})": timed(conn, args.list, "GET", lambda i: base),
                "PATCH (merge)": timed(conn, args.patch, "PATCH", lambda i: f"{base}/cm-{i % args.objects:04d}",
                                       lambda i: {"data": {"patched": str(i)}},
                                       content_type="application/merge-patch+json"),
            }
            listed = json.loads(conn.request("GET", base)[1])
            conn.close()
        finally:
            cluster.stop()

    server = "kube-apiserver (real)" if args.kube == "real" else "kubeapi emulator"
    print(f"{server}, {args.objects} ConfigMaps created in {create_s:.2f} s, keep-alive HTTPS connection")
    print(f"{'operation':<16}{'n':>6}{'median ms':>12}{'p99 ms':>10}")
    for name, samples in results.items():
        print(f"{name:<16}{len(samples):>6}{statistics.median(samples):>12.2f}{percentile(samples, 0.99):>10.2f}")
    if len(listed["items"]) != args.objects:
        print(f"warning: LIST returned {len(listed['items'])} items, expected {args.objects}")
    if conn.reconnects:
        print(f"warning: the server closed the connection {conn.reconnects} times (keep-alive not honoured)")
    get_median = statistics.median(results["GET"])
    met = get_median < GET_MEDIAN_TARGET_MS
    print(f"GET median {get_median:.2f} ms vs target < {GET_MEDIAN_TARGET_MS:.0f} ms: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

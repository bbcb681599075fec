#!/usr/bin/env python3
"""How fast metric_gate catches a faulty canary: from its first request to the gate's failure.

Runs on its own rehearsal stack (state dir and loopback ports of its own, 1 s Prometheus
scrapes), so it does not disturb a stack already up:

1. deploys vcci v2 as a canary Deployment + Service whose pods answer ``--error-ratio`` of API
   requests with 500 (the FAULT_ERROR_RATIO knob), next to the stable v1, and starts steady load
   through the traffic plane (real nginx) at ``--rps``;
2. per run: moves the canary to 0 % (``canary_weight action=abort``), replaces the canary pod so its
   counters start from zero as a fresh release's do, and waits until Prometheus has no canary
   traffic left in its rate window; starts ``metric_gate`` (2 s evaluation interval,
   failure_limit 1, waiting through the rounds that have no canary data yet); then sets the canary
   to 10 % with ``canary_weight``;
3. t0 = the first response the load generator got from a v2 pod after the switch; detection =
   the end of the gate's failing evaluation round minus t0.

Both modules run through ansible-playbook, as a playbook would run them. Prints every run and the
median of ``--runs`` (default 5). Target: median under 15 s.

    .venv/bin/python bench/detection.py
    .venv/bin/python bench/detection.py --runs 3 --error-ratio 0.05
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from rehearsal.load import LoadGenerator  # noqa: E402
from rehearsal.testing import StackRun  # noqa: E402

VENV_BIN = Path(sys.executable).parent
HOST = "vcci.rehearsal.test"
NAMESPACE = "vcci"
STABLE, CANARY = "vcci-api", "vcci-api-canary"
WINDOW = "5s"
ERRORS = (f'sum(rate(http_requests_total{{app="vcci",version="v2",code=~"5.."}}[{WINDOW}])) / '
          f'sum(rate(http_requests_total{{app="vcci",version="v2"}}[{WINDOW}]))')
CANARY_TRAFFIC = f'sum(rate(http_requests_total{{app="vcci",version="v2"}}[{WINDOW}]))'


def canary_manifest(error_ratio: float) -> list[dict]:
    labels = {"app.kubernetes.io/name": CANARY, "app.kubernetes.io/part-of": "greenlang"}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": CANARY, "namespace": NAMESPACE, "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": CANARY}},
                  "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                      "name": "api", "image": "rehearsal/vcci:v2", "ports": [{"name": "http", "containerPort": 8080}],
                      "env": [{"name": "FAULT_ERROR_RATIO", "value": str(error_ratio)},
                              {"name": "DATABASE_DSN", "valueFrom": {"secretKeyRef": {"name": "vcci-database",
                                                                                       "key": "dsn"}}}],
                      "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "http"}, "periodSeconds": 1},
                  }]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": CANARY, "namespace": NAMESPACE},
         "spec": {"selector": {"app.kubernetes.io/name": CANARY},
                  "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
    ]


class Bench:
    def __init__(self, args: argparse.Namespace, stack: StackRun):
        self.args = args
        self.stack = stack  # up; kubectl / promql / env of its own state dir
        self.env = stack.env
        self.state_dir = stack.state_dir

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return self.stack.kubectl(*args, input=stdin, timeout=180)

    def prom(self, promql: str) -> float | None:
        return self.stack.promql(promql)

    # ---- modules through ansible-playbook --------------------------------------------------------
    def playbook(self, module: str, args: dict, background: bool = False):
        tmp = Path(tempfile.mkdtemp(prefix="play-", dir=self.state_dir))
        play = [{"hosts": "localhost", "gather_facts": False, "connection": "local",
                 "tasks": [{"name": "bench", module: args, "ignore_errors": True}]}]
        (tmp / "play.yml").write_text(json.dumps(play))
        env = {**os.environ, "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
               "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_LOCAL_TEMP": str(tmp),
               "K8S_AUTH_KUBECONFIG": self.env["KUBECONFIG"]}
        cmd = [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(tmp / "play.yml"),
               "-e", "ansible_python_interpreter=" + sys.executable]
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        return proc if background else self.result(proc)

    @staticmethod
    def result(proc: subprocess.Popen, timeout: float = 300) -> dict:
        out, err = proc.communicate(timeout=timeout)
        try:
            return json.loads(out)["plays"][0]["tasks"][0]["hosts"]["localhost"]
        except (ValueError, KeyError, IndexError):
            raise RuntimeError(f"ansible-playbook gave no result:\n{out[-2000:]}\n{err[-2000:]}") from None

    def weight(self, **args) -> dict:
        res = self.playbook("greenlang.launch.canary_weight", {
            "provider": "gateway_api", "name": "vcci", "namespace": NAMESPACE, "stable_backend": STABLE,
            "canary_backend": CANARY, **args})
        if res.get("failed"):
            raise RuntimeError(f"canary_weight failed: {res.get('msg')}")
        return res

    # ---- one measurement -----------------------------------------------------------------------
    def wait_no_canary_traffic(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.prom(CANARY_TRAFFIC)
            if not value:  # None (no series yet) or 0 (no requests in the window)
                return
            time.sleep(0.5)
        raise RuntimeError("canary still receives traffic after abort")

    def wait_gate_running(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        if b"AnsiballZ_metric_gate" in Path(f"/proc/{pid}/cmdline").read_bytes():
                            return
                    except OSError:
                        continue
            time.sleep(0.1)
        raise RuntimeError("metric_gate did not start")

    def fresh_canary(self) -> None:
        """A new canary pod per run: its counters start at zero, like a release that was just deployed
        (a pod that already served errors would let a single scrape show the rate)."""
        self.kubectl("-n", NAMESPACE, "rollout", "restart", f"deployment/{CANARY}")
        self.kubectl("-n", NAMESPACE, "rollout", "status", f"deployment/{CANARY}", "--timeout=120s")

    def run_once(self, load: LoadGenerator) -> dict:
        self.weight(action="abort")
        self.fresh_canary()
        self.wait_no_canary_traffic()
        gate = self.playbook("greenlang.launch.metric_gate", {
            "url": self.env["PROMETHEUS_URL"], "interval": "2s", "duration": "120s", "failure_limit": 1,
            "inconclusive_limit": 60, "checks": [{"name": "canary_error_rate", "query": ERRORS, "max": 0.01}]},
            background=True)
        self.wait_gate_running()
        time.sleep(2.5)  # the gate is polling (inconclusive: no canary data) before the switch
        switched_at = time.time()
        self.weight(weight=10)
        res = self.result(gate)
        fails = [e for e in res.get("evaluations", []) if e["verdict"] == "fail"]
        if res.get("verdict") != "fail" or not fails:
            raise RuntimeError(f"gate did not fail: {res.get('msg')}")
        decided_at = res["evaluations"][0]["at"] + fails[-1]["elapsed"]
        first_canary = min((r["t"] for r in load.results if r.get("version") == "v2" and r["t"] >= switched_at),
                           default=None)
        if first_canary is None:
            raise RuntimeError("no request reached the canary")
        return {"detection_s": round(decided_at - first_canary, 2),
                "switch_to_first_canary_request_s": round(first_canary - switched_at, 2),
                "gate_rounds": res["rounds"], "measured_error_rate": res["checks"][0]["value"]}

    def main(self) -> int:
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(canary_manifest(self.args.error_ratio)))
        self.kubectl("-n", NAMESPACE, "rollout", "status", f"deployment/{CANARY}", "--timeout=120s")
        self.kubectl("-n", NAMESPACE, "rollout", "status", f"deployment/{STABLE}", "--timeout=120s")
        load = LoadGenerator(self.env["INGRESS_URL"], [HOST], rps=self.args.rps, duration=3600,
                             path="/api/v1/calculator/category1", method="POST",
                             body={"items": [{"category": "metals", "spend": 1000}]}).start()
        runs = []
        try:
            for i in range(self.args.runs):
                run = self.run_once(load)
                runs.append(run)
                print(f"run {i + 1}: detection {run['detection_s']} s (switch -> first canary request "
                      f"{run['switch_to_first_canary_request_s']} s, {run['gate_rounds']} gate rounds, "
                      f"canary error rate {run['measured_error_rate']})", flush=True)
        finally:
            load.stop()
        times = [r["detection_s"] for r in runs]
        median = statistics.median(times)
        print(json.dumps({"runs": len(times), "detection_s": times, "median_s": median, "max_s": max(times),
                          "target_s": 15, "scrape_interval_s": 1, "evaluation_interval_s": 2,
                          "canary_weight_percent": 10, "canary_error_ratio": self.args.error_ratio,
                          "rps": self.args.rps, "meets_target": median < 15}))
        return 0 if median < 15 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rps", type=float, default=40.0)
    parser.add_argument("--error-ratio", type=float, default=0.1,
                        help="share of the canary's API requests that fail (default 0.1)")
    args = parser.parse_args()
    # A stack of its own (temp state dir under /tmp, free loopback ports), with the v1 apps; `down` at the end.
    stack = StackRun(apps=True, prefix="detection-bench-").up()
    try:
        return Bench(args, stack).main()
    finally:
        leftovers = stack.down()
        if leftovers:
            print(f"the stack left these behind: {leftovers}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

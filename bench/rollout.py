#!/usr/bin/env python3
"""How fast a bad canary is taken back, end to end through ansible-playbook, and what the automation costs.

On a rehearsal stack of its own (StackRun: own state dir, free loopback ports, 1 s Prometheus scrapes),
with the load generator sending ``--rps`` requests/s through nginx to cbam and recording every response:

1. ``--runs`` times (default 5), in a fresh namespace each: cbam v1 (2 replicas) behind an Ingress, then
   run_plan with the plan ``deploy, set_weight 10, gate [error_rate], set_weight 50, pause, promote`` for
   a release shipped with ``launch_release_env`` FAULT_ERROR_RATIO=0.3 (the rehearsal's bad build):
   - fault injected = the first response of the v2 pods (the moment users meet the bad release);
   - abort decided = the end of the failed gate step (its ``steps`` record);
   - all traffic on stable = the last response of a v2 pod (measured), beside the traffic write's time
     (``rollbacks`` record ``stable_at``);
2. one healthy run of ``deploy, set_weight 10, gate, set_weight 50, pause 5s, set_weight 100, pause 5s,
   promote``: per step, its duration minus the time the plan asks to hold (``pause``) is the automation's
   own overhead.

Prints every run, the median and max of each interval, Flagger's default for comparison (analysis
``interval`` 1 m x ``threshold`` 5 failed checks = 5 min to roll back) and the runbook's "CBAM rollback:
1 minute". Target: fault -> all traffic on stable under 30 s at rehearsal settings (exit 1 when missed).

    .venv/bin/python bench/rollout.py
    .venv/bin/python bench/rollout.py --runs 3 --rps 50
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from rehearsal.load import LoadGenerator  # noqa: E402
from rehearsal.testing import StackRun  # noqa: E402

# The plan, settings and playbook runner the integration tests use, so the bench measures the same rollout.
from tests.integration.test_canary_role_on_stack import (  # noqa: E402
    CBAM_CALL,
    Playbook,
    cbam_plan,
    deploy_stable_cbam,
    epoch,
    records,
    settings,
)

FLAGGER_DEFAULT_S = 60 * 5  # analysis interval 1m x threshold 5
RUNBOOK_CBAM_ROLLBACK_S = 60
TARGET_S = 30
FAULTY_STEPS = [{"deploy": {}}, {"set_weight": 10}, {"gate": ["error_rate"]}, {"set_weight": 50},
                {"pause": "5s"}, {"promote": {}}]
HEALTHY_STEPS = [{"deploy": {}}, {"set_weight": 10}, {"gate": ["error_rate"]}, {"set_weight": 50},
                 {"pause": "5s"}, {"set_weight": 100}, {"pause": "5s"}, {"promote": {}}]


def one_rollout(stack, workdir: Path, steps: list, rps: float, release_env: dict | None = None):
    ns = f"bench-rollout-{uuid.uuid4().hex[:6]}"
    host = f"{ns}.rehearsal.test"
    deploy_stable_cbam(stack, ns, host)
    variables = settings(stack, workdir / "state", launch_plan={"cbam": cbam_plan(ns, steps)},
                         launch_release_env={"cbam": release_env or {}})
    gen = LoadGenerator(stack.ingress_url, [host], rps=rps, duration=1800, **CBAM_CALL).start()
    try:
        rc, out = Playbook(stack, workdir / "play", variables).run()
        time.sleep(2)
    finally:
        gen.stop()
        stack.kubectl("delete", "namespace", ns, "--wait=false")
    return rc, out, gen.results, records(workdir / "state", "steps"), records(workdir / "state", "rollbacks")


def fmt(values: list[float]) -> str:
    return f"median {statistics.median(values):6.2f} s   max {max(values):6.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rps", type=float, default=100)
    args = parser.parse_args()
    detect, stable_measured, stable_written, exposed = [], [], [], []
    with StackRun(apps=False, prefix="greenlang-bench-rollout-") as stack, \
            tempfile.TemporaryDirectory(prefix="bench-rollout-") as tmp:
        print(f"stack up in {stack.up_seconds:.1f} s; {args.runs} faulty canaries at {args.rps:g} rps")
        for i in range(args.runs):
            rc, out, results, steps, rollbacks = one_rollout(stack, Path(tmp) / f"faulty{i}", FAULTY_STEPS,
                                                             args.rps, {"FAULT_ERROR_RATIO": "0.3"})
            bad = [r for r in results if r["version"] == "v2"]
            failed_gate = [s for s in steps if s["status"] == "failed"]
            if rc == 0 or not bad or not failed_gate or not rollbacks:
                print(f"run {i}: no abort measured (rc={rc}, v2 responses {len(bad)}):\n{out[-3000:]}")
                return 2
            t_fault, t_last = bad[0]["t"], bad[-1]["t"]
            t_decided = epoch(failed_gate[-1]["ended"])
            t_written = epoch(rollbacks[-1]["stable_at"])
            detect.append(t_decided - t_fault)
            stable_written.append(t_written - t_decided)
            stable_measured.append(t_last - t_decided)
            exposed.append(t_last - t_fault)
            print(f"run {i}: fault->abort decided {detect[-1]:5.2f} s, decided->traffic write "
                  f"{stable_written[-1]:5.2f} s, decided->last v2 response {stable_measured[-1]:5.2f} s, "
                  f"v2 answered {len(bad)} requests over {exposed[-1]:5.2f} s")

        rc, out, _results, steps, _rb = one_rollout(stack, Path(tmp) / "healthy", HEALTHY_STEPS, args.rps)
        if rc != 0:
            print(f"healthy run failed:\n{out[-3000:]}")
            return 2
        overhead: dict[str, list[float]] = {}
        held = automation = 0.0
        for s in steps:
            if s["status"] != "ok":
                continue
            took = epoch(s["ended"]) - epoch(s["started"])
            hold = 5.0 if s["verb"] == "pause" else 0.0
            held += hold
            automation += took - hold
            overhead.setdefault(s["verb"], []).append(took - hold)

    print("\nfault injected -> abort decided            " + fmt(detect))
    print("abort decided  -> traffic write returned   " + fmt(stable_written))
    print("abort decided  -> last v2 response         " + fmt(stable_measured))
    print("fault injected -> all traffic on stable    " + fmt(exposed) + f"   (target < {TARGET_S} s)")
    print(f"Flagger default (interval 1m x threshold 5): {FLAGGER_DEFAULT_S} s;"
          f" runbook 'CBAM rollback 1 minute': {RUNBOOK_CBAM_ROLLBACK_S} s")
    print("\nautomation overhead per step (healthy run, step time minus the plan's hold):")
    for verb, values in overhead.items():
        print(f"  {verb:11s} {len(values)} step(s), median {statistics.median(values):6.2f} s, "
              f"max {max(values):6.2f} s")
    print(f"  total: {automation:.1f} s automation, {held:.1f} s holds")
    return 0 if statistics.median(exposed) < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())

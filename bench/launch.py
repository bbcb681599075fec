#!/usr/bin/env python3
"""Wall time of a whole launch-day rehearsal, split into holds and automation, per app and per step verb.

* holds: the time the plan asks to wait (the durations of its ``pause`` steps, as written in
  ``launch_plan.<app>.steps``);
* automation: everything else: lock, pre-flight, backups, migrations, deployments, gates waiting for
  their windows, switches, validation, go/no-go, report, unlock, and each hold's overshoot.

It also prints what share the same automation would be beside the production plan's holds
(``inventories/production``): a projection, printed apart; the exit status judges the rehearsal's share.

Without ``--run-dir`` it starts its own rehearsal stack (``rehearsal.testing.StackRun``: free ports, a temp
state dir), runs ``python -m rehearsal.launch_day`` against it (the same thing ``make rehearsal`` runs) and
stops the stack afterwards; with ``--run-dir`` it only reads a finished run's records
(``<state dir>/runs/<run id>``) and its ``ansible.log``.

Exit status: 0 when automation is under ``--target`` (default 20 %) of the wall time; 1 when it is not;
2 when the launch failed or the records are missing.

    .venv/bin/python bench/launch.py                              # a fresh rehearsal, then the figures
    .venv/bin/python bench/launch.py --run-dir .rehearsal/runs/20261202T190859Z
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from rehearsal.testing import StackRun  # noqa: E402

PRODUCTION_PLAN = REPO_ROOT / "inventories" / "production" / "group_vars" / "production_plan.yml"
_VARIABLE = re.compile(r"^\{\{\s*(\w+)\s*\}\}$")

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(value) -> float:
    """A plan duration (10s, 1m30s, 15m, a number of seconds) in seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {value!r}")
    return sum(float(n) * _UNIT[u] for n, u in parts)


def when(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def last_per_key(path: Path) -> list[dict]:
    records: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                records[rec.get("key") or str(len(records))] = rec
    return list(records.values())


def split(run_dir: Path) -> dict:
    run = json.loads((run_dir / "run.json").read_text())
    steps = [s for s in last_per_key(run_dir / "steps.jsonl") if s.get("started") and s.get("ended")]
    started = float(run["started"]) if isinstance(run.get("started"), (int, float)) else when(run["started"])
    if run.get("ended"):
        ended = float(run["ended"]) if isinstance(run["ended"], (int, float)) else when(run["ended"])
    else:  # a run that was killed: up to its last recorded step
        ended = max((when(s["ended"]) for s in steps), default=started)
    apps = {}
    for app in (run.get("apps_planned") or list(run.get("apps") or {})):
        mine = [s for s in steps if s["app"] == app and s["status"] in ("ok", "failed")]
        if not mine:
            continue
        first, last = min(when(s["started"]) for s in mine), max(when(s["ended"]) for s in mine)
        holds = sum(seconds(s["args"]) for s in mine if s["verb"] == "pause" and s["status"] == "ok")
        wall = last - first
        apps[app] = {"wall_s": round(wall, 1), "holds_s": round(holds, 1), "automation_s": round(wall - holds, 1),
                     "steps": len(mine), "result": (run.get("apps") or {}).get(app, {}).get("result")}
    wall = ended - started
    holds = sum(a["holds_s"] for a in apps.values())
    # Where the automation goes, per verb: a pause's share is its overshoot past the duration it asked for.
    verbs: dict[str, list[float]] = {}
    for s in steps:
        if s["status"] in ("ok", "failed"):
            took = when(s["ended"]) - when(s["started"])
            if s["verb"] == "pause" and s["status"] == "ok":
                took -= seconds(s["args"])
            verbs.setdefault(s["verb"], []).append(took)
    by_verb = {verb: {"count": len(t), "total_s": round(sum(t), 1), "median_s": round(statistics.median(t), 2)}
               for verb, t in sorted(verbs.items(), key=lambda kv: -sum(kv[1]))}
    return {"run_id": run.get("run_id"), "wall_s": round(wall, 1), "holds_s": round(holds, 1),
            "automation_s": round(wall - holds, 1),
            "automation_share": round((wall - holds) / wall, 3) if wall > 0 else None,
            "outside_apps_s": round(wall - sum(a["wall_s"] for a in apps.values()), 1), "apps": apps,
            "automation_by_verb": by_verb,
            "result": run.get("result")}


def plan_holds(plan_file: Path) -> dict[str, float]:
    """Per app, the seconds of the ``pause`` steps of the launch plan in ``plan_file`` (a group_vars file whose
    pauses are durations or ``{{ variable }}`` naming a duration set in the same file)."""
    variables = yaml.safe_load(plan_file.read_text())

    def resolve(value):
        match = _VARIABLE.match(str(value).strip())
        return variables[match.group(1)] if match else value

    return {app: sum(seconds(resolve(step["pause"])) for step in plan.get("steps", []) if "pause" in step)
            for app, plan in variables["launch_plan"].items()}


def rehearse() -> tuple[int, Path | None, float]:
    """A fresh stack, one `python -m rehearsal.launch_day` against it; returns (rc, run dir, seconds)."""
    with StackRun(apps=True, prefix="greenlang-bench-launch-") as stack:
        env = {**os.environ, **stack.env}
        env.update({f"REHEARSAL_{name}_PORT": str(port) for name, port in stack.ports.items()})
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "rehearsal.launch_day", "--state-dir", str(stack.state_dir)],
                              cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=3600, check=False)
        took = time.monotonic() - started
        runs = sorted((stack.state_dir / "runs").glob("*")) if (stack.state_dir / "runs").is_dir() else []
        keep = None
        if runs:  # the stack's state dir goes with `down`: keep the records for a second look
            keep = Path("/tmp") / f"greenlang-bench-launch-{runs[-1].name}"
            subprocess.run(["cp", "-r", str(runs[-1]), str(keep)], check=False)
        print(proc.stdout[-2500:])
        return proc.returncode, keep, took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="read a finished run instead of rehearsing")
    parser.add_argument("--target", type=float, default=0.20, help="highest automation share (default 0.20)")
    args = parser.parse_args(argv)
    rc, measured = 0, None
    run_dir = args.run_dir
    if run_dir is None:
        rc, run_dir, measured = rehearse()
    if run_dir is None or not (run_dir / "run.json").exists():
        print("no run records to read", file=sys.stderr)
        return 2
    figures = split(run_dir)
    if measured is not None:
        figures["rehearsal_command_s"] = round(measured, 1)
    print(f"launch rehearsal {figures['run_id']}: wall {figures['wall_s']} s, holds {figures['holds_s']} s, "
          f"automation {figures['automation_s']} s ({100 * (figures['automation_share'] or 0):.1f} % of the wall "
          f"time; target < {100 * args.target:.0f} %); outside the apps (lock, pre-flight, go/no-go, report): "
          f"{figures['outside_apps_s']} s")
    print(f"{'app':6} {'wall s':>8} {'holds s':>8} {'automation s':>13} {'share':>7} {'steps':>6}  result")
    for app, a in figures["apps"].items():
        share = a["automation_s"] / a["wall_s"] if a["wall_s"] else 0
        print(f"{app:6} {a['wall_s']:8.1f} {a['holds_s']:8.1f} {a['automation_s']:13.1f} {100 * share:6.1f}% "
              f"{a['steps']:6d}  {a['result']}")
    print(f"{'verb':11} {'steps':>6} {'automation s':>13} {'median s':>9}   (pause: overshoot past its duration)")
    for verb, v in figures["automation_by_verb"].items():
        print(f"{verb:11} {v['count']:6d} {v['total_s']:13.1f} {v['median_s']:9.2f}")
    # The same automation beside the production plan's holds: what the share would be on the day, if the
    # automation took as long there as here (gates there also wait for longer metric windows: a floor, not a
    # measurement).
    production = plan_holds(PRODUCTION_PLAN)
    on_the_day = sum(production.get(app, 0) for app in figures["apps"])
    if on_the_day:
        share = figures["automation_s"] / (figures["automation_s"] + on_the_day)
        figures["production_holds_s"] = on_the_day
        figures["automation_share_at_production_holds"] = round(share, 3)
        print(f"beside the production plan's holds ({on_the_day / 60:.0f} min: "
              + ", ".join(f"{app} {production[app] / 60:.0f} min" for app in figures["apps"] if app in production)
              + f") the same {figures['automation_s']} s of automation would be {100 * share:.1f} % of the wall time")
    print(json.dumps(figures))
    if rc != 0 or figures.get("result") == "failed":
        return 2
    return 0 if (figures["automation_share"] or 1) < args.target else 1


if __name__ == "__main__":
    sys.exit(main())

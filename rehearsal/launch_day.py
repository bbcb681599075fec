"""Rehearse the launch day on the local stack: ``make rehearsal`` runs this.

    python -m rehearsal.launch_day [--state-dir DIR] [--release-env cbam:FAULT_ERROR_RATIO=0.3]
                                   [--rps N] [-- <extra ansible-playbook arguments>]

1. ``rehearsal up`` (idempotent: an already running stack is reused) in the state dir (default
   ``.rehearsal/`` of this checkout);
2. steady traffic on the three apps' API endpoints through the ingress (the gates and the rollback
   triggers judge live metrics, so users must be there, as on the real day);
3. ``ansible-playbook playbooks/launch-day.yml -l rehearsal`` with the stack's env file loaded (holds in
   seconds: inventories/rehearsal/group_vars/rehearsal_plan.yml), its output shown as it runs and kept
   in ``<run dir>/ansible.log``;
4. prints the go/no-go decisions, the notifications sent, the requests that failed, and where the run's
   records and report are; leaves the stack up (``make rehearsal-down`` stops it).

Exit status: the playbook's (0 when every app went live). ``--release-env`` ships a bad release the way
DESIGN.md describes (``launch_release_env``), for example ``--release-env cbam:FAULT_ERROR_RATIO=0.3``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from rehearsal.load import LoadGenerator
from rehearsal.stack import DEFAULT_STATE_DIR, REPO_ROOT
from rehearsal.testing import parse_env_file

# One real API call per app, the kind the apps' users make (the smoke tests' requests).
TRAFFIC = {
    "vcci.rehearsal.test": {"path": "/api/v1/calculator/category1", "method": "POST",
                            "body": {"items": [{"category": "metals", "spend": 1000}]}},
    "cbam.rehearsal.test": {"path": "/api/v1/calculate", "method": "POST",
                            "body": {"imports": [{"cn_code": "7208", "quantity": 100}]}},
    "csrd.rehearsal.test": {"path": "/api/v1/calculate", "method": "POST",
                            "body": {"datapoints": [{"code": "E1-6_scope1", "value": 1200},
                                                    {"code": "E1-6_net_revenue_meur", "value": 40}]}},
}


def parse_release_env(items: list[str]) -> dict[str, dict[str, str]]:
    """``app:NAME=VALUE`` items as launch_release_env ({app: {NAME: VALUE}})."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        app, sep, assignment = item.partition(":")
        name, eq, value = assignment.partition("=")
        if not sep or not eq or not app or not name:
            raise SystemExit(f"--release-env {item!r}: expected app:NAME=VALUE, e.g. cbam:FAULT_ERROR_RATIO=0.3")
        out.setdefault(app, {})[name] = value
    return out


def stack_up(state_dir: Path) -> dict[str, str]:
    proc = subprocess.run([sys.executable, "-m", "rehearsal", "up", "--state-dir", str(state_dir)], cwd=REPO_ROOT,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the rehearsal stack did not come up (see {state_dir / 'stack.log'})")
    return parse_env_file((state_dir / "env").read_text())


def latest_run_dir(state_dir: Path, before: set[str]) -> Path | None:
    runs = state_dir / "runs"
    new = sorted(p for p in runs.glob("*") if p.is_dir() and p.name not in before) if runs.is_dir() else []
    return new[-1] if new else None


def forget_notifications(webhook_url: str) -> None:
    """Empty the receiver, so the summary shows this run's notifications only."""
    req = urllib.request.Request(f"{webhook_url}/_received", method="DELETE")
    with contextlib.suppress(OSError):  # the summary then also lists earlier runs' notifications
        urllib.request.urlopen(req, timeout=5).close()


def received(webhook_url: str) -> list[dict]:
    try:
        with urllib.request.urlopen(f"{webhook_url}/_received", timeout=5) as resp:
            return json.load(resp)
    except OSError:
        return []


def summary_lines(run_dir: Path | None, notifications: list[dict], load: dict | None, seconds: float) -> list[str]:
    lines = [f"rehearsal took {seconds:.0f} s"]
    if run_dir is None:
        return [*lines, "no run directory was written (the playbook stopped before the run started)"]
    for path in sorted((run_dir / "decisions").glob("*.json")):
        d = json.loads(path.read_text())
        lines.append(f"decision {d['gate']}: {d['verdict']} by {d['decided_by']} at {d['decided_at']} - {d['reason']}")
    run = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").exists() else {}
    for app, info in (run.get("apps") or {}).items():
        lines.append(f"app {app}: {info.get('result', '?')} ({info.get('previous', '?')} -> {info.get('release', '?')},"
                     f" {info.get('strategy', '?')}){' - ' + info['reason'] if info.get('reason') else ''}")
    for i, note in enumerate(notifications, 1):
        body = note.get("body") or {}
        text = body.get("text") if isinstance(body, dict) else str(body)
        if text is None and isinstance(body, dict):
            text = (body.get("incident") or {}).get("body", "")
        lines.append(f"notification {i} {note['method']} {note['path']}: {(text or '').splitlines()[0][:110]}")
    if load:
        lines.append(f"traffic: {load.get('requests', 0)} requests, {load.get('failed', 0)} failed")
    report = run_dir / "report.html"
    lines.append(f"records: {run_dir}")
    lines.append(f"report: {report if report.exists() else 'not written (see the play output)'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.launch_day", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path,
                        default=Path(os.environ.get("REHEARSAL_STATE_DIR") or DEFAULT_STATE_DIR))
    parser.add_argument("--release-env", action="append", default=[], metavar="APP:NAME=VALUE")
    parser.add_argument("--rps", type=float, default=10.0, help="requests per second per app (default 10)")
    parser.add_argument("ansible_args", nargs="*", help="after --: extra ansible-playbook arguments")
    args = parser.parse_args(argv)
    state_dir = args.state_dir.resolve()
    started = time.monotonic()
    env = {**os.environ, **stack_up(state_dir), "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
           "PYTHONUNBUFFERED": "1",  # the play's output as it happens, not in 8 KiB blocks
           "ANSIBLE_FORCE_COLOR": os.environ.get("ANSIBLE_FORCE_COLOR", "1" if sys.stdout.isatty() else "0")}
    before = {p.name for p in (state_dir / "runs").glob("*")} if (state_dir / "runs").is_dir() else set()
    # The ansible-playbook of this interpreter's venv (make rehearsal runs the checkout's .venv/bin/python).
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "playbooks/launch-day.yml", "-l", "rehearsal"]
    release_env = parse_release_env(args.release_env)
    if release_env:
        cmd += ["-e", json.dumps({"launch_release_env": release_env})]
    cmd += args.ansible_args
    forget_notifications(env.get("WEBHOOK_URL", ""))
    load = LoadGenerator(env["INGRESS_URL"], list(TRAFFIC), rps=args.rps, duration=6 * 3600, per_host=TRAFFIC,
                         timeout=5).start()
    log_path = state_dir / "launch-day.log"
    print(f"rehearsal: {' '.join(cmd)} (output also in {log_path})", flush=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        for line in proc.stdout:
            sys.stdout.write(line)
            log.write(line)
        rc = proc.wait()
    load.stop()
    run_dir = latest_run_dir(state_dir, before)
    if run_dir is not None:
        (run_dir / "ansible.log").write_text(log_path.read_text())
        (run_dir / "traffic.json").write_text(json.dumps(load.summary(), indent=2))
    lines = summary_lines(run_dir, received(env.get("WEBHOOK_URL", "")), load.summary(), time.monotonic() - started)
    print("\n== rehearsal summary ==\n" + "\n".join(lines))
    print(f"The stack stays up for exploring ({state_dir}/env; `make rehearsal-down` stops it). "
          f"Launch {'succeeded' if rc == 0 else 'FAILED (exit ' + str(rc) + ')'}.")
    return rc


if __name__ == "__main__":
    sys.exit(main())

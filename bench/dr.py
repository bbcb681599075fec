"""RPO and RTO of PostgreSQL switchover and crash failover on the rehearsal stack's DR pair, DNS included.

    .venv/bin/python bench/dr.py                       # 20 switchovers + 20 crash failovers, sync, then async
    .venv/bin/python bench/dr.py --trials 5 --modes sync --json /tmp/dr.json

The stack's DR pair alone (rehearsal/services/dr_pair.py, what ``REHEARSAL_DR=sync|async`` adds to
``rehearsal up``), in a state dir of its own: primary pg_a and streaming standby pg_b, BIND
serving ``primary.db.rehearsal.test`` (TTL 1 s). A writer (rehearsal/services/dr_writer.py) commits numbered
rows at ~100 tps through that name and records every acknowledged commit. Each trial runs the same
functions the dr_failover role's modules run (plugins/module_utils/pg_replication.py: precheck, fence,
promote, rejoin) and switches the name with a TSIG-signed RFC 2136 update, as community.general.nsupdate does:

- switchover: precheck, fence the primary (standby.signal, fast stop), promote once the candidate holds the
  shutdown checkpoint, DNS update, then the old primary is rewound and rejoins as synchronous standby;
- crash failover: SIGKILL of the primary's postmaster; a health check (every 0.2 s, 2 misses) detects it,
  then precheck (primary unreachable), fence (standby.signal), promote, DNS update, rewind and rejoin.

Measured per trial, as the client sees it: RTO = last acknowledged commit on the old primary -> first on
the new; RPO = acknowledged commits missing on the new primary (and the WAL bytes between the last
acknowledged commit and the promotion point); rejoin = old primary rewound and streaming again.
Exit status 1 when a target is missed: RPO 0 in every synchronous trial, crash-failover RTO p95 <= 5 s,
switchover outage p95 <= 2 s, rejoin p95 <= 15 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
import conftest  # noqa: E402,F401 - makes ansible_collections.greenlang.launch importable
import psycopg  # noqa: E402
from ansible_collections.greenlang.launch.plugins.module_utils import pg_replication as pr  # noqa: E402

from rehearsal.services.dr_pair import DrPairRun  # noqa: E402
from rehearsal.services.dr_writer import TABLE, DrWriter, admin_credentials  # noqa: E402

PUBLISHED = [("Patroni (defaults: ttl 30, loop_wait 10)", "30-45 s"), ("repmgr (defaults)", "~60 s"),
             ("CloudNativePG (e2e bound, last write old -> first write new)", "10 s")]
TARGETS = {"switchover_rto_p95": 2.0, "failover_rto_p95": 5.0, "rejoin_p95": 15.0}


class DrPair:
    """The stack's two nodes, which one is primary, and the DR steps on them."""

    def __init__(self, env: dict):
        self.env = env
        self.port = int(env["DR_DATABASE_PORT"])
        self.user, self.password = admin_credentials(env)
        self.bin_dir = env["POSTGRES_BIN_DIR"]
        self.nodes = {env[f"DR_{r}_NAME"]: {"host": env[f"DR_{r}_HOST"], "data_dir": env[f"DR_{r}_DATA_DIR"],
                                            "options": env[f"DR_{r}_SERVER_OPTIONS"]} for r in ("PRIMARY", "STANDBY")}
        self.primary, self.standby = env["DR_PRIMARY_NAME"], env["DR_STANDBY_NAME"]
        self.synchronous = env["DR_MODE"] == "sync"

    def connect(self, name: str, timeout: int = 2):
        def opener():
            return psycopg.connect(host=self.nodes[name]["host"], port=self.port, user=self.user,
                                   password=self.password, dbname="postgres", autocommit=True, connect_timeout=timeout)
        return opener

    def status(self, name: str):
        try:
            db = self.connect(name, 1)()
        except psycopg.OperationalError:
            return None
        try:
            return pr.node_status(db)
        finally:
            db.close()

    def switch_dns(self, name: str) -> None:
        import dns.query
        import dns.tsigkeyring
        import dns.update

        keyring = dns.tsigkeyring.from_text({self.env["DNS_TSIG_KEY_NAME"]: (self.env["DNS_TSIG_KEY_ALGORITHM"],
                                                                             self.env["DNS_TSIG_KEY_SECRET"])})
        update = dns.update.Update(self.env["DNS_ZONE"], keyring=keyring)
        relative = self.env["DR_DATABASE_HOST"][: -len(self.env["DNS_ZONE"]) - 1]
        update.replace(relative, int(self.env["DNS_TTL"]), "A", self.nodes[name]["host"])
        reply = dns.query.tcp(update, self.env["DNS_SERVER"], port=int(self.env["DNS_PORT"]), timeout=3)
        if reply.rcode() != 0:
            raise RuntimeError(f"DNS update refused: rcode {reply.rcode()}")

    def take_over(self, mode: str, force: bool = False) -> dict:
        """precheck, fence, promote, DNS: the candidate becomes primary. Returns step timings."""
        old, new = self.primary, self.standby
        t = {"t0": time.monotonic()}
        primary_status = self.status(old) if mode == "switchover" else None
        check = pr.precheck(mode, primary_status, self.status(new), new, max_lag_bytes=16 << 20, force=force)
        t["precheck"] = time.monotonic()
        new_info = pr.conninfo(self.nodes[new]["host"], self.port, self.user, self.password, old)
        fenced = pr.fence(self.nodes[old]["data_dir"], self.bin_dir, "postgres", new_info,
                          connect=self.connect(old, 1) if mode == "switchover" else None)
        t["fence"] = time.monotonic()
        promoted = pr.promote(self.connect(new), fenced.get("shutdown_checkpoint_lsn"), timeout=30)
        t["promote"] = time.monotonic()
        self.switch_dns(new)
        t["dns"] = time.monotonic()
        self.primary, self.standby = new, old
        return {"check": check, "fenced": fenced, "promoted": promoted, "times": t}

    def rejoin_old(self) -> dict:
        old = self.standby
        source = {"host": self.nodes[self.primary]["host"], "port": self.port, "user": self.user,
                  "password": self.password, "application_name": old}
        report = None
        for attempt in range(3):  # a killed postmaster's children may hold the data dir for a moment
            try:
                report = pr.rejoin(self.nodes[old]["data_dir"], self.bin_dir, "postgres", source, self.connect(old),
                                   self.connect(self.primary), server_options=self.nodes[old]["options"],
                                   log_file=os.path.join(self.nodes[old]["data_dir"], "server.log"), timeout=60,
                                   allow_basebackup=attempt == 2)
                break
            except pr.DRError:
                if attempt == 2:
                    raise
                time.sleep(0.5)
        if self.synchronous:
            report["sync_state"] = pr.restore_synchronous(self.connect(self.primary), old)
        return report

    def kill_primary(self) -> int:
        pid = pr.postmaster_pid(self.nodes[self.primary]["data_dir"])
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_down(self, interval: float = 0.2, misses: int = 2, timeout: float = 30) -> float:
        """Health check of the primary until ``misses`` consecutive failures; returns the detection time."""
        missed, deadline = 0, time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                db = self.connect(self.primary, 1)()
                db.execute("SELECT 1")
                db.close()
                missed = 0
            except psycopg.Error:
                missed += 1
                if missed >= misses:
                    return time.monotonic()
            time.sleep(interval)
        raise RuntimeError("primary still answers after the kill")


def outage(acks: list, old_host: str, new_host: str, since: float) -> float | None:
    """First ack on the new node after ``since`` (the trial's start) minus the last ack on the old node before it."""
    first_new = next((a for a in acks if a[1] >= since and a[3] == new_host), None)
    if first_new is None:
        return None
    before = [a for a in acks if a[1] < first_new[1] and a[3] == old_host]
    return first_new[1] - before[-1][1] if before else None


def distinct_errors(errors: list, since: float, limit: int = 6) -> list[str]:
    """The writer's errors after ``since``, consecutive repeats folded: what the client saw during the outage."""
    seen: list[list] = []
    for t, text in errors:
        if t < since:
            continue
        if seen and seen[-1][1] == text:
            seen[-1][2] += 1
        else:
            seen.append([round(t - since, 3), text, 1])
    return [f"+{t}s {text} (x{n})" for t, text, n in seen[:limit]]


def missing_acks(pair: DrPair, acks: list) -> list[int]:
    seqs = [a[0] for a in acks]
    with pair.connect(pair.primary, 5)() as db:
        present = {r[0] for r in db.execute(f"SELECT seq FROM {TABLE} WHERE seq = ANY(%s)", (seqs,)).fetchall()}
    return [s for s in seqs if s not in present]


def run_trials(mode: str, trials: int, kinds: list[str], progress) -> list[dict]:
    results = []
    with DrPairRun(mode, prefix=f"greenlang-bench-dr-{mode}-") as run:
        pair = DrPair(run.env)
        writer = DrWriter(run.env, rate=100).start()
        try:
            time.sleep(1.0)
            for i in range(trials):
                for kind in kinds:
                    results.append(one_trial(pair, writer, kind, mode, i, progress))
        finally:
            writer.stop()
    return results


def one_trial(pair: DrPair, writer: DrWriter, kind: str, mode: str, index: int, progress) -> dict:
    old, new = pair.primary, pair.standby
    old_host, new_host = pair.nodes[old]["host"], pair.nodes[new]["host"]
    time.sleep(0.5)  # steady writes on the current primary first
    start = time.monotonic()
    detect = None
    if kind == "failover":
        pair.kill_primary()
        detect = pair.wait_down() - start
        steps = pair.take_over("failover", force=mode == "async")
    else:
        steps = pair.take_over("switchover")
    deadline = time.monotonic() + 20
    rto = None
    while time.monotonic() < deadline and rto is None:
        time.sleep(0.05)
        rto = outage(writer.snapshot(), old_host, new_host, start)
    acked_on_old = [a for a in writer.snapshot() if a[3] == old_host and a[1] < start + 30]
    lost = missing_acks(pair, acked_on_old[-2000:])
    # What the candidate had received when it was promoted: acknowledged WAL past it was lost.
    promoted_lsn = pr.lsn_to_int(steps["promoted"].get("receive_lsn"))
    last_acked_lsn = max((pr.lsn_to_int(a[4]) for a in acked_on_old[-2000:]), default=0)
    rejoin = pair.rejoin_old()
    t = {k: v - start for k, v in steps["times"].items()}
    row = {"mode": mode, "kind": kind, "trial": index, "from": old, "to": new, "rto_s": rto,
           "lost_commits": len(lost),
           "lost_bytes": max(last_acked_lsn - promoted_lsn, 0) if lost and promoted_lsn else 0,
           "detect_s": detect, "precheck_s": t["precheck"] - t["t0"], "fence_s": t["fence"] - t["precheck"],
           "promote_s": t["promote"] - t["fence"], "dns_s": t["dns"] - t["promote"],
           "rejoin_s": rejoin["streaming_s"], "rejoin_method": rejoin["method"],
           "client_errors": distinct_errors(list(writer.errors), start),
           "steps_at": {k: round(v, 3) for k, v in t.items()}}
    progress(row)
    return row


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


def summary(results: list[dict]) -> tuple[list[str], bool]:
    lines, ok = [], True
    lines.append(f"{'mode':6} {'kind':10} {'n':>3} {'RTO p50':>8} {'p95':>7} {'max':>7} {'rejoin p95':>11} "
                 f"{'RPO commits (max)':>18} {'RPO bytes (max)':>16}")
    for mode in ("sync", "async"):
        for kind in ("switchover", "failover"):
            rows = [r for r in results if r["mode"] == mode and r["kind"] == kind]
            if not rows:
                continue
            rto = [r["rto_s"] for r in rows if r["rto_s"] is not None]
            missing_rto = len(rows) - len(rto)
            rejoin = [r["rejoin_s"] for r in rows]
            lines.append(f"{mode:6} {kind:10} {len(rows):>3} {statistics.median(rto):>7.2f}s {pct(rto, 95):>6.2f}s "
                         f"{max(rto):>6.2f}s {pct(rejoin, 95):>10.2f}s "
                         f"{sum(r['lost_commits'] for r in rows):>8} ({max(r['lost_commits'] for r in rows)})"
                         f"{'':>4}{sum(r['lost_bytes'] for r in rows):>8} ({max(r['lost_bytes'] for r in rows)})"
                         + (f"  {missing_rto} trial(s) without a first write on the new primary"
                            if missing_rto else ""))
            if missing_rto:
                ok = False
            if mode == "sync":
                ok &= all(r["lost_commits"] == 0 for r in rows)
                target = TARGETS["switchover_rto_p95" if kind == "switchover" else "failover_rto_p95"]
                ok &= bool(rto) and pct(rto, 95) <= target
            ok &= pct(rejoin, 95) <= TARGETS["rejoin_p95"]
            steps = {k: statistics.median(r[k] for r in rows) for k in ("precheck_s", "fence_s", "promote_s", "dns_s")}
            detect = [r["detect_s"] for r in rows if r["detect_s"] is not None]
            lines.append("       step medians: " + ", ".join(f"{k[:-2]} {v:.3f}s" for k, v in steps.items())
                         + (f", detection {statistics.median(detect):.3f}s" if detect else "")
                         + f"; rejoin by {sorted({r['rejoin_method'] for r in rows})}")
    lines.append("targets: RPO 0 in every sync trial; sync failover RTO p95 <= 5 s; sync switchover outage p95 <= 2 s; "
                 "rejoin p95 <= 15 s")
    lines.append("published, for comparison (their documentation, not measured here):")
    lines += [f"  {name}: {value}" for name, value in PUBLISHED]
    return lines, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="trials of each kind per mode (default 20)")
    parser.add_argument("--async-trials", type=int, default=10, help="trials of each kind in async mode")
    parser.add_argument("--modes", default="sync,async")
    parser.add_argument("--json", type=Path, help="write every trial's figures here")
    args = parser.parse_args(argv)

    def progress(row):
        print(f"  {row['mode']} {row['kind']:10} #{row['trial']:<2} {row['from']}->{row['to']} "
              f"RTO {row['rto_s'] if row['rto_s'] is None else round(row['rto_s'], 3)}s "
              f"lost {row['lost_commits']} rejoin {row['rejoin_s']:.2f}s ({row['rejoin_method']})", flush=True)
        if row["rto_s"] is None or row["rto_s"] > 3:
            print("    slow: steps at " + ", ".join(f"{k} +{row['steps_at'][k]:.2f}s" for k in row["steps_at"])
                  + "; client saw: " + " | ".join(row["client_errors"]), flush=True)

    results = []
    for mode in args.modes.split(","):
        n = args.trials if mode == "sync" else args.async_trials
        print(f"{mode}: {n} switchovers and {n} crash failovers, writer at 100 tps through DNS", flush=True)
        results += run_trials(mode, n, ["switchover", "failover"], progress)
    lines, ok = summary(results)
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

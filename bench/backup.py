#!/usr/bin/env python3
"""Backup + verification throughput and restore time, against the runbook's ``pg_dump | gzip``.

Starts its own PostgreSQL 15 (rehearsal.services.postgres), generates a database of ``--size-mb``
(default 1024) with realistic row widths, then in one run:

* baseline: ``set -o pipefail; pg_dump <db> | gzip > x.sql.gz`` (the runbook's command, failing when either
  side fails; no verification at all);
* ours: the backup role's code path (plugins/module_utils/pg_backup.create_backup) with the chosen
  format/compression, sha256 streamed while writing, and ``pg_restore --list`` (or a full read);
* restore time of both archives into a fresh database. Ours is timed as the restore role runs it: checksum
  against the manifest, ``pg_restore --list``, pg_restore, and the row-count check; theirs: gunzip | psql.

Before timing, one untimed ``pg_dump`` warms the page cache, and ``--rounds`` (default 2) alternates the order
(round 1 baseline first, round 2 ours first ...), so neither side always pays a cold cache; each method's time is
the mean of its rounds. Throughput = database size (pg_database_size) / wall time.

Exit status: 0 when the best method reaches >= 2x the baseline's throughput (verification included) and the
restore stays under the runbook's 30 minutes; 1 when a target is missed; 2 on an error (a failed dump, lost rows).

    .venv/bin/python bench/backup.py                 # 1 GB; custom -Z1 and directory -Z1 -j2
    .venv/bin/python bench/backup.py --size-mb 200   # quicker
    .venv/bin/python bench/backup.py --method plain_gz:6 --method directory:1:2
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plugins.module_utils import pg_backup  # noqa: E402  (plain Python, importable from the checkout)
from rehearsal.services.postgres import PG_BIN, PostgresCluster, free_port, scratch_dir  # noqa: E402

MB = 1024 * 1024
TARGET_RATIO = 2.0
RESTORE_BUDGET_S = 30 * 60
TABLES_SQL = """
CREATE TABLE suppliers (id bigint PRIMARY KEY, name text NOT NULL, country char(2) NOT NULL, tier int NOT NULL,
                        created_at timestamptz NOT NULL);
CREATE TABLE emissions (id bigint PRIMARY KEY, supplier_id bigint NOT NULL, category int NOT NULL,
                        activity text NOT NULL, quantity numeric(14,3) NOT NULL, unit text NOT NULL,
                        co2e_kg numeric(14,3) NOT NULL, recorded_at timestamptz NOT NULL, notes text);
"""
# ~230-byte rows: ids, numbers, a timestamp, short repeated vocabulary and a hex note (half compressible).
INSERT_SQL = """
INSERT INTO emissions
SELECT g, g %% 50000, g %% 15 + 1,
       (ARRAY['purchased goods','capital goods','fuel and energy','transport','waste','business travel',
              'commuting','leased assets'])[g %% 8 + 1] || ' / line ' || (g %% 997),
       (g %% 100000) / 7.0, (ARRAY['kg','t','kWh','km','EUR'])[g %% 5 + 1], (g %% 333333) / 3.0,
       timestamptz '2024-01-01' + (g %% 31536000) * interval '1 second',
       'batch ' || (g / 1000) || ' ref ' || md5(g::text) || ' ' || md5((g * 7)::text)
FROM generate_series(%s, %s) AS g
"""


def generate(pg: PostgresCluster, db: str, size_mb: int) -> None:
    pg.create_database(db)
    with pg.connect(db) as conn:
        conn.execute(TABLES_SQL)
        conn.execute("INSERT INTO suppliers SELECT g, 'supplier ' || g, (ARRAY['DE','FR','CN','US','IN'])[g % 5 + 1],"
                     " g % 3 + 1, now() FROM generate_series(1, 50000) g")
        start, batch = 1, 500_000
        for _ in range(1000):  # bounded: 1000 batches of ~115 MB would be far beyond any sensible size
            conn.execute(INSERT_SQL, (start, start + batch - 1))
            start += batch
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            print(f"  generated {size / MB:8.0f} MB", end="\r", flush=True)
            if size >= size_mb * MB:
                break
        conn.execute("VACUUM ANALYZE")
    print()


def baseline_dump(pg: PostgresCluster, db: str, out: Path) -> float:
    env = {**os.environ, **pg.env(db)}
    t0 = time.monotonic()
    # pipefail: without it a failing pg_dump still "succeeds" with a truncated archive, as the runbook's line does.
    subprocess.run(f"set -o pipefail; {PG_BIN}/pg_dump {db} | gzip > {out}", shell=True, check=True, env=env,
                   executable="/bin/bash")
    return time.monotonic() - t0


def baseline_restore(pg: PostgresCluster, db: str, archive: Path) -> float:
    pg.create_database(db)
    env = {**os.environ, **pg.env(db)}
    t0 = time.monotonic()
    subprocess.run(f"set -o pipefail; gzip -dc {archive} | {PG_BIN}/psql -X -q -v ON_ERROR_STOP=1 -o /dev/null {db}",
                   shell=True, check=True, env=env, executable="/bin/bash")
    return time.monotonic() - t0


def warm_cache(pg: PostgresCluster, db: str) -> None:
    """One untimed full read of the database, so the first timed method does not pay the cold cache alone."""
    env = {**os.environ, **pg.env(db)}
    # --no-sync: pg_dump fsyncs its output file by default, and /dev/null refuses fsync (EINVAL).
    subprocess.run([str(PG_BIN / "pg_dump"), "-Fc", "-Z0", "--no-sync", "-f", os.devnull, db], check=True, env=env)


def our_dump(conn: dict, spec: str, out: Path, verify: str):
    fmt, level, jobs = (spec.split(":") + ["1", "1"])[:3]
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    t0 = time.monotonic()
    manifest = pg_backup.create_backup(conn, "benchdb", str(out), "bench", "rehearsal", fmt=fmt,
                                       compress_level=int(level), jobs=int(jobs), pg_bin=str(PG_BIN),
                                       verify_mode=verify, key_tables=["emissions", "suppliers"],
                                       free_space_ratio=0.5)
    return time.monotonic() - t0, manifest


def our_restore(pg: PostgresCluster, conn: dict, directory: Path, manifest: dict, jobs: int) -> tuple[float, dict]:
    """The restore role's path, timed end to end: checksum, TOC read, pg_restore, row-count check."""
    pg.create_database("restored")
    t0 = time.monotonic()
    path = pg_backup.verify_checksum(str(directory), manifest)
    pg_backup.verify_readable(str(PG_BIN), path, manifest["format"], "list", pg_backup.libpq_env(conn))
    restored = pg_backup.restore_archive(conn, str(directory), manifest, "restored", pg_bin=str(PG_BIN), jobs=jobs)
    return time.monotonic() - t0, restored


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024, help="database size to generate (default 1024)")
    ap.add_argument("--method", action="append", metavar="FORMAT:LEVEL[:JOBS]",
                    help="our backup method(s) to time; default: custom:1 and directory:1:2")
    ap.add_argument("--jobs", type=int, default=2, help="pg_restore jobs for the restore timing")
    ap.add_argument("--verify", choices=["list", "full"], default="list")
    ap.add_argument("--rounds", type=int, default=2, help="timed rounds, alternating the order (default 2)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch cluster and files")
    args = ap.parse_args()
    args.method = args.method or ["custom:1", "directory:1:2"]
    args.rounds = max(1, min(args.rounds, 10))

    root = scratch_dir("greenlang-bench-")
    backups = Path(tempfile.mkdtemp(prefix="greenlang-bench-out-", dir="/tmp"))
    pg = PostgresCluster(root / "data", free_port())
    try:
        pg.init().start()
        print(f"generating ~{args.size_mb} MB ...")
        t0 = time.monotonic()
        generate(pg, "benchdb", args.size_mb)
        db_bytes = pg.execute("SELECT pg_database_size('benchdb')")[0][0]
        rows = pg.execute("SELECT count(*) FROM emissions", "benchdb")[0][0]
        gen_s = time.monotonic() - t0
        print(f"database: {db_bytes / MB:.0f} MB, {rows} rows in emissions (generated in {gen_s:.0f} s)")
        pg.execute("CHECKPOINT")
        warm_cache(pg, "benchdb")

        conn = {"host": pg.host, "port": pg.port, "user": pg.user, "password": pg.password}
        base_file = backups / "baseline.sql.gz"
        times: dict[str, list[float]] = {"baseline": [], **{spec: [] for spec in args.method}}
        manifests: dict[str, dict] = {}
        for rnd in range(args.rounds):
            order = ["baseline", *args.method] if rnd % 2 == 0 else [*args.method, "baseline"]
            print(f"round {rnd + 1}/{args.rounds}: {' -> '.join(order)}")
            for name in order:
                if name == "baseline":
                    times[name].append(baseline_dump(pg, "benchdb", base_file))
                else:
                    secs, manifests[name] = our_dump(conn, name, backups / name.replace(":", "_"), args.verify)
                    times[name].append(secs)
        mean = {name: sum(ts) / len(ts) for name, ts in times.items()}

        base_s = mean["baseline"]
        base_tp = db_bytes / MB / base_s
        print()
        print(f"{'method':58} {'time s':>8} {'MB/s':>8} {'archive MB':>11} {'ratio':>6}")
        print(f"{'baseline: pg_dump | gzip, pipefail (no verification)':58} {base_s:8.1f} {base_tp:8.1f} "
              f"{base_file.stat().st_size / MB:11.1f} {1.0:6.2f}")
        for spec in args.method:
            fmt, level, jobs = (spec.split(":") + ["1", "1"])[:3]
            label = f"ours: {fmt} -Z{level}" + (f" -j{jobs}" if fmt == "directory" else "")
            label += f" + sha256 + verify({args.verify})"
            tp = db_bytes / MB / mean[spec]
            print(f"{label:58} {mean[spec]:8.1f} {tp:8.1f} {manifests[spec]['size_bytes'] / MB:11.1f} "
                  f"{tp / base_tp:6.2f}")
        best = min(args.method, key=lambda spec: mean[spec])
        ratio = base_s / mean[best]
        print(f"times are means of {args.rounds} round(s) in alternating order after a cache warm-up")
        print(f"best throughput ratio (ours / baseline): {ratio:.2f}x  (target >= {TARGET_RATIO:.0f}x)")

        # restore_archive compares the key tables' row counts with the manifest and raises on a difference.
        ours_restore_s, restored = our_restore(pg, conn, backups / best.replace(":", "_"), manifests[best], args.jobs)
        if restored["row_counts"]["emissions"] != rows:
            print(f"restore lost rows: {restored['row_counts']} != {rows}", file=sys.stderr)
            return 2
        base_restore_s = baseline_restore(pg, "restored_baseline", base_file)
        print(f"restore of {best} (checksum + pg_restore --list + pg_restore -j{args.jobs} + row counts): "
              f"{ours_restore_s:.1f} s   baseline (gunzip | psql, no checks): {base_restore_s:.1f} s   "
              f"runbook budget: {RESTORE_BUDGET_S} s")

        missed = []
        if ratio < TARGET_RATIO:
            missed.append(f"throughput ratio {ratio:.2f}x < {TARGET_RATIO:.0f}x")
        if ours_restore_s >= RESTORE_BUDGET_S:
            missed.append(f"restore {ours_restore_s:.0f} s >= {RESTORE_BUDGET_S} s")
        if missed:
            print("TARGET MISSED: " + "; ".join(missed))
            return 1
        print(f"targets met: {ratio:.2f}x >= {TARGET_RATIO:.0f}x, "
              f"restore {ours_restore_s:.1f} s < {RESTORE_BUDGET_S} s")
        return 0
    except (subprocess.CalledProcessError, pg_backup.BackupError) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 2
    finally:
        if not args.keep:
            pg.destroy()
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(backups, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Backup + verification throughput and restore time, against the runbook's ``pg_dump | gzip``.

Starts its own PostgreSQL 15 (rehearsal.services.postgres), generates a database of ``--size-mb``
(default 1024) with realistic row widths, then in one run:

* baseline: ``pg_dump <db> | gzip > x.sql.gz`` (the runbook's command; no verification at all);
* ours: the backup role's code path (plugins/module_utils/pg_backup.create_backup) with the chosen
  format/compression, sha256 streamed while writing, and ``pg_restore --list`` (or a full read);
* restore time of both archives into a fresh database (ours: pg_restore, theirs: gunzip | psql).

Throughput = database size (pg_database_size) / wall time. Prints the figures and the ratio.

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
    subprocess.run(f"{PG_BIN}/pg_dump {db} | gzip > {out}", shell=True, check=True, env=env,
                   executable="/bin/bash")
    return time.monotonic() - t0


def baseline_restore(pg: PostgresCluster, db: str, archive: Path) -> float:
    pg.create_database(db)
    env = {**os.environ, **pg.env(db)}
    t0 = time.monotonic()
    subprocess.run(f"set -o pipefail; gzip -dc {archive} | {PG_BIN}/psql -X -q -v ON_ERROR_STOP=1 -o /dev/null {db}",
                   shell=True, check=True, env=env, executable="/bin/bash")
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024, help="database size to generate (default 1024)")
    ap.add_argument("--method", action="append", metavar="FORMAT:LEVEL[:JOBS]",
                    help="our backup method(s) to time; default: custom:1 and directory:1:2")
    ap.add_argument("--jobs", type=int, default=2, help="pg_restore jobs for the restore timing")
    ap.add_argument("--verify", choices=["list", "full"], default="list")
    ap.add_argument("--keep", action="store_true", help="keep the scratch cluster and files")
    args = ap.parse_args()
    args.method = args.method or ["custom:1", "directory:1:2"]

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

        base_file = backups / "baseline.sql.gz"
        base_s = baseline_dump(pg, "benchdb", base_file)

        conn = {"host": pg.host, "port": pg.port, "user": pg.user, "password": pg.password}
        results = []
        for spec in args.method:
            fmt, level, jobs = (spec.split(":") + ["1", "1"])[:3]
            out = backups / fmt
            out.mkdir()
            t0 = time.monotonic()
            manifest = pg_backup.create_backup(conn, "benchdb", str(out), "bench", "rehearsal", fmt=fmt,
                                               compress_level=int(level), jobs=int(jobs), pg_bin=str(PG_BIN),
                                               verify_mode=args.verify, key_tables=["emissions", "suppliers"],
                                               free_space_ratio=0.5)
            results.append((spec, time.monotonic() - t0, manifest, out))

        base_tp = db_bytes / MB / base_s
        print()
        print(f"{'method':58} {'time s':>8} {'MB/s':>8} {'archive MB':>11} {'ratio':>6}")
        print(f"{'baseline: pg_dump | gzip (no verification)':58} {base_s:8.1f} {base_tp:8.1f} "
              f"{base_file.stat().st_size / MB:11.1f} {1.0:6.2f}")
        for spec, secs, manifest, _ in results:
            fmt, level, jobs = (spec.split(":") + ["1", "1"])[:3]
            label = f"ours: {fmt} -Z{level}" + (f" -j{jobs}" if fmt == "directory" else "")
            label += f" + sha256 + verify({args.verify})"
            tp = db_bytes / MB / secs
            print(f"{label:58} {secs:8.1f} {tp:8.1f} {manifest['size_bytes'] / MB:11.1f} {tp / base_tp:6.2f}")
        best = min(results, key=lambda r: r[1])
        print(f"best throughput ratio (ours / baseline): {db_bytes / MB / best[1] / base_tp:.2f}x  (target >= 2x)")

        pg.create_database("restored")
        # restore_archive compares the key tables' row counts with the manifest and raises on a difference.
        restored = pg_backup.restore_archive(conn, str(best[3]), best[2], "restored", pg_bin=str(PG_BIN),
                                             jobs=args.jobs)
        ours_restore_s = restored["seconds"]
        if restored["row_counts"]["emissions"] != rows:
            raise SystemExit(f"restore lost rows: {restored['row_counts']} != {rows}")
        base_restore_s = baseline_restore(pg, "restored_baseline", base_file)
        print(f"restore of {best[0]} (pg_restore -j{args.jobs}, row count checked): {ours_restore_s:.1f} s   "
              f"baseline (gunzip | psql): {base_restore_s:.1f} s   runbook budget: 1800 s")
        return 0
    finally:
        if not args.keep:
            pg.destroy()
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(backups, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

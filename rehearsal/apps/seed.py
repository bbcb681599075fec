"""Create each demo app's schema and reference data: ``seed_app_database(dsn, app)``.

The SQL files use IF NOT EXISTS / ON CONFLICT DO NOTHING, so seeding again changes
nothing; they run in one transaction, so a failed seed leaves no half-built schema.
CLI: ``python -m rehearsal.apps.seed --app vcci --dsn "host=... dbname=vcci ..."``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rehearsal.apps import APPS

SQL_DIR = Path(__file__).resolve().parent / "sql"


def seed_sql(app: str) -> str:
    if app not in APPS:
        raise ValueError(f"unknown app {app!r}; allowed: {', '.join(APPS)}")
    return (SQL_DIR / f"{app}.sql").read_text()


def seed_app_database(dsn: str, app: str) -> list[str]:
    """Apply ``sql/<app>.sql`` to the database at ``dsn``; returns the applied schema versions."""
    import psycopg

    script = seed_sql(app)
    with psycopg.connect(dsn, connect_timeout=10) as conn:  # one transaction, committed on exit
        # No parameters: psycopg sends the script with the simple-query protocol, many statements at once.
        conn.execute(script)
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    return [row[0] for row in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.apps.seed", description=__doc__.splitlines()[0])
    parser.add_argument("--app", required=True, choices=APPS)
    parser.add_argument("--dsn", required=True, help="libpq connection string of the app database")
    args = parser.parse_args(argv)
    try:
        versions = seed_app_database(args.dsn, args.app)
    except Exception as exc:  # report any driver/server error as a one-line CLI failure
        print(f"seeding {args.app} failed: {exc}", file=sys.stderr)
        return 1
    print(f"{args.app}: schema versions {', '.join(versions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Migration runner that migration Job pods execute.

``python -m rehearsal.apps.migrate --sql FILE`` (or env ``MIGRATION_SQL``: a file path, or
the SQL text itself) runs the statements against ``DATABASE_DSN`` one at a time in
autocommit, the way many real migration tools run non-transactional DDL: a failure
halfway leaves the earlier statements applied. That is deliberate: it is what the
launch's backup-before-migrate and restore-on-failure steps exist for.

Exit codes: 0 all statements applied, 1 a statement failed (stderr names it and the
server's error), 2 bad invocation (no SQL, no DSN, unreadable file).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def split_statements(script: str) -> list[str]:
    """Split SQL into statements (quotes, comments and dollar-quoted bodies respected)."""
    import sqlparse  # a real SQL lexer; splitting on ';' would break function bodies and literals

    statements = []
    for statement in sqlparse.split(script):
        if sqlparse.format(statement, strip_comments=True).strip().rstrip(";").strip():
            statements.append(statement.strip())
    return statements


def _load_sql(args_sql: str | None) -> tuple[str, str]:
    """Returns (description, SQL text)."""
    source = args_sql or os.environ.get("MIGRATION_SQL", "")
    if not source:
        raise ValueError("no migration given: pass --sql FILE or set MIGRATION_SQL")
    if args_sql or ("\n" not in source and ";" not in source):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"migration file {source} does not exist")
        return str(path), path.read_text()
    return "MIGRATION_SQL", source


def run(dsn: str, statements: list[str], out=sys.stdout) -> None:
    """Execute each statement in autocommit; raises MigrationError on the first failure."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        for number, statement in enumerate(statements, 1):
            first_line = statement.splitlines()[0][:100]
            try:
                conn.execute(statement)
            except psycopg.Error as exc:
                raise MigrationError(number, len(statements), first_line, exc) from exc
            print(f"[{number}/{len(statements)}] ok: {first_line}", file=out, flush=True)


class MigrationError(RuntimeError):
    def __init__(self, number: int, total: int, statement: str, cause: Exception):
        detail = str(cause).strip().replace("\n", " | ")
        super().__init__(f"migration failed at statement {number} of {total} ({statement}): {detail}; "
                         f"statements 1..{number - 1} were applied and stay applied")
        self.number = number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.apps.migrate", description=__doc__.splitlines()[0])
    parser.add_argument("--sql", help="SQL file to apply (default: env MIGRATION_SQL)")
    parser.add_argument("--dsn", help="libpq connection string (default: env DATABASE_DSN)")
    args = parser.parse_args(argv)
    dsn = args.dsn or os.environ.get("DATABASE_DSN", "")
    try:
        if not dsn:
            raise ValueError("no database given: set DATABASE_DSN or pass --dsn")
        source, script = _load_sql(args.sql)
        statements = split_statements(script)
    except (ValueError, OSError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    print(f"applying {len(statements)} statements from {source}", flush=True)
    try:
        run(dsn, statements)
    except MigrationError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # connection failures and the like: still a failed migration
        print(f"ERROR: migration could not run: {exc}", file=sys.stderr)
        return 1
    print("migration complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())

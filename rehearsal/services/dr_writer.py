"""A database client that follows the DR name: resolves it through the stack's BIND (honouring the TTL),
commits numbered rows at a steady rate and records every acknowledged commit.

    writer = DrWriter(env, rate=100)       # env: the stack's env file variables (REHEARSAL_DR on)
    writer.start(); ...; writer.stop()
    writer.acks                            # [(seq, monotonic time, wall time, node address, commit LSN)]

On any error (server gone, read-only node, connection refused) it drops the connection, resolves the name
again (a cached answer is reused until its TTL runs out, as a stub resolver would) and reconnects, with
20 ms between attempts. What it sees is what an application sees, DNS included.
"""

from __future__ import annotations

import contextlib
import threading
import time
from urllib.parse import unquote

import psycopg

TABLE = "dr_writer_rows"


def admin_credentials(env: dict) -> tuple[str, str]:
    """(user, password) of the stack's PostgreSQL superuser, from POSTGRES_ADMIN_DSN."""
    fields = dict(item.split("=", 1) for item in env["POSTGRES_ADMIN_DSN"].split())
    return unquote(fields["user"]), unquote(fields["password"])


class CachingResolver:
    """A stub resolver against the stack's DNS server that caches answers for their TTL."""

    def __init__(self, server: str, port: int):
        import dns.resolver

        self._resolver = dns.resolver.Resolver(configure=False)
        self._resolver.nameservers = [server]
        self._resolver.port = int(port)
        self._resolver.lifetime = 1.0
        self._resolver.cache = dns.resolver.Cache()

    def address(self, name: str) -> str:
        return self._resolver.resolve(name, "A")[0].address


class DrWriter:
    """Commits ``INSERT (seq)`` ``rate`` times a second through the DR name, in autocommit."""

    def __init__(self, env: dict, rate: float = 100, dbname: str = "postgres"):
        self.name = env["DR_DATABASE_HOST"]
        self.port = int(env["DR_DATABASE_PORT"])
        self.user, self.password = admin_credentials(env)
        self.dbname = dbname
        self.interval = 1.0 / rate
        self.resolver = CachingResolver(env["DNS_SERVER"], int(env["DNS_PORT"]))
        self.acks: list[tuple[int, float, float, str, str]] = []
        self.errors: list[tuple[float, str]] = []
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ensure_table(self) -> None:
        with self._connect(self.resolver.address(self.name)) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (seq bigint PRIMARY KEY, at timestamptz NOT NULL)")
            row = conn.execute(f"SELECT coalesce(max(seq), 0) FROM {TABLE}").fetchone()
            self._seq = row[0]

    def _connect(self, address: str):
        return psycopg.connect(host=address, port=self.port, user=self.user, password=self.password,
                               dbname=self.dbname, autocommit=True, connect_timeout=2)

    def start(self) -> DrWriter:
        self.ensure_table()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dr-writer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)

    def snapshot(self) -> list[tuple[int, float, float, str, str]]:
        with self._lock:
            return list(self.acks)

    def _run(self) -> None:
        conn, address = None, None
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                if conn is None:
                    address = self.resolver.address(self.name)
                    conn = self._connect(address)
                    conn.execute("SET statement_timeout = '5s'")
                seq = self._seq + 1
                lsn = conn.execute(f"INSERT INTO {TABLE} VALUES (%s, now())"
                                   " RETURNING pg_current_wal_insert_lsn()::text", (seq,)).fetchone()[0]
                self._seq = seq
                with self._lock:
                    self.acks.append((seq, time.monotonic(), time.time(), address, lsn))
                # The commit record comes after the row: the insert position once the commit returned is the
                # end of the WAL this acknowledgement needs (one writer, so nothing else is in between).
                lsn = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
                with self._lock:
                    self.acks[-1] = (*self.acks[-1][:4], lsn)
            except Exception as exc:  # every failure is a reconnect: that is the client's view of the outage
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                    conn = None
                # A commit that raised may still have committed: its seq is burnt, never reused.
                self._seq += 1
                self.errors.append((time.monotonic(), str(exc).strip().splitlines()[0][:200] if str(exc) else
                                    type(exc).__name__))
                self._stop.wait(0.02)
                next_at = time.monotonic()
                continue
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_at = time.monotonic()
        if conn is not None:
            conn.close()

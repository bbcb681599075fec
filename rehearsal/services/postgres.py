"""A local PostgreSQL 15 cluster for the rehearsal stack and tests.

Typical use::

    pg = PostgresCluster("/tmp/greenlang-pg/data", 55432)
    pg.init()            # initdb as the OS user ``postgres``; superuser role + password
    pg.start()
    pg.create_database("vcci", owner="vcci")   # creates the login role too
    conninfo = pg.conninfo("vcci")             # dict for psycopg / community.postgresql
    standby = pg.add_standby("/tmp/greenlang-pg/standby", 55433)  # streaming replica
    standby.stop(); pg.stop()                  # fast shutdown, no process left

PostgreSQL refuses to run as root, so every server-side command runs through
``runuser -u postgres --`` and the data directory is owned by ``postgres``. The
parent directories must be traversable by that user: pytest's ``tmp_path`` (mode
0700, root) is not, so put clusters under ``/tmp`` (see ``scratch_dir``). The stack,
whose state dir may sit in a checkout nobody else can traverse (root's home, a clone
under ``mktemp -d``), runs its clusters from ``runtime_dir(state_dir / "postgres")``:
a fresh directory under /tmp that the state dir links to, removed by ``release_runtime_dir``.

Clients connect over TCP on 127.0.0.1 only with scram-sha-256; the Unix socket
lives in ``<data_dir>/run`` (only ``postgres`` and root can reach it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("REHEARSAL_PG_BIN", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"
PASSWORD_FILE = "rehearsal-superuser-password"

# Rehearsal/test clusters trade durability for speed; production settings are not the point here.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
# The DR pair keeps production's durability: zero RPO needs synchronous_commit on (with a synchronous
# standby) and fsync; pg_rewind needs full_page_writes and wal_log_hints (or data checksums).
DR_NODE_NAMES = ("pg_a", "pg_b")
# pg_rewind copies every WAL segment the source keeps: keep few (32 MB), or each rejoin copies hundreds of MB.
DURABLE_SETTINGS = {"fsync": "on", "full_page_writes": "on", "synchronous_commit": "on", "wal_log_hints": "on",
                    "wal_keep_size": "'32MB'", "min_wal_size": "'32MB'", "max_wal_size": "'128MB'",
                    "wal_sender_timeout": "'5s'", "wal_receiver_timeout": "'5s'",
                    "wal_retrieve_retry_interval": "'500ms'",
                    # Crash recovery (also pg_rewind's, after a SIGKILL) syncs with one syncfs() instead of an
                    # fsync() per file, and replays at most a minute of WAL.
                    "recovery_init_sync_method": "syncfs", "checkpoint_timeout": "'1min'"}


def dr_settings(mode: str) -> dict:
    """The DR pair's settings: durable, with the other node as synchronous standby (``sync``) or none (``async``).

    Both nodes carry the same list: a server never streams to itself, so whichever is primary waits for
    the other. A promoted node without a standby would block every commit; dr_failover lifts that.
    """
    if mode not in ("sync", "async"):
        raise ValueError(f"DR mode must be sync or async, not {mode!r}")
    names = ", ".join(DR_NODE_NAMES)
    return {**DURABLE_SETTINGS, "synchronous_standby_names": f"'FIRST 1 ({names})'" if mode == "sync" else "''"}


class PostgresError(RuntimeError):
    """A PostgreSQL command failed; the message carries its output."""


def scratch_dir(prefix: str = "greenlang-pg-") -> Path:
    """A fresh directory under /tmp that the ``postgres`` OS user owns (for tests)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    _chown_postgres(path)
    return path


RUNTIME_PREFIX = "greenlang-pg-run-"


def runtime_dir(link: Path) -> Path:
    """A directory the ``postgres`` OS user can reach, wherever ``link`` (a path in a state dir) lives.

    ``link`` becomes a symlink to ``/tmp/greenlang-pg-run-XXXX/<link's absolute path>``: the runtime root
    comes from mkdtemp (no guessable name in /tmp), its inner directories are root-owned and 0755, and
    the path keeps the state dir's path inside it, so tools that find a stack's processes by its state
    dir on their command line (``rehearsal down``, ``StackRun``) still find ``postgres -D ...``.
    An existing link into a runtime root is reused. Returns the directory (owned by ``postgres``).
    """
    link = Path(os.path.abspath(link))
    if link.is_symlink():
        target = Path(os.readlink(link))
        if target.is_dir() and _runtime_root(target):
            return target
        link.unlink()  # dangling or foreign: replaced below
    elif link.exists():
        raise PostgresError(f"{link} exists and is not a runtime link; remove it (an older stack's data dir)")
    root = Path(tempfile.mkdtemp(prefix=RUNTIME_PREFIX, dir="/tmp"))
    root.chmod(0o755)
    target = root.joinpath(*link.parts[1:])
    target.parent.mkdir(parents=True, exist_ok=True)
    for parent in [target.parent, *target.parent.parents]:
        if parent == root.parent:
            break
        parent.chmod(0o755)
    target.mkdir(mode=0o700)
    _chown_postgres(target)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return target


def release_runtime_dir(link: Path) -> None:
    """Remove the runtime root ``link`` points to and the link itself (no-op when there is none).

    Stop the servers first; ``rehearsal down`` calls this after it has killed what was left.
    """
    link = Path(os.path.abspath(link))
    if not link.is_symlink():
        return
    root = _runtime_root(Path(os.readlink(link)))
    if root:
        shutil.rmtree(root, ignore_errors=True)
    link.unlink()


def _runtime_root(target: Path) -> Path | None:
    """``/tmp/greenlang-pg-run-XXXX`` when ``target`` lies in such a root, else None."""
    parts = target.parts
    if len(parts) > 2 and parts[1] == "tmp" and parts[2].startswith(RUNTIME_PREFIX):
        return Path("/tmp") / parts[2]
    return None


def _chown_postgres(path: Path) -> None:
    pw = pwd.getpwnam(OS_USER)
    os.chown(path, pw.pw_uid, pw.pw_gid)


def _as_postgres(argv: list[str], *, env: dict | None = None, timeout: float = 120) -> str:
    cmd = ["runuser", "-u", OS_USER, "--", *argv] if os.geteuid() == 0 else argv
    run_env = {**os.environ, **(env or {})}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=run_env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PostgresError(f"{argv[0]} timed out after {timeout}s") from exc
    if proc.returncode != 0:
        detail = proc.stderr.strip() or proc.stdout.strip()
        raise PostgresError(f"{' '.join(argv)} failed (rc={proc.returncode}): {detail}")
    return proc.stdout


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresCluster:
    """One PostgreSQL cluster (data directory + port) owned by the ``postgres`` OS user."""

    def __init__(self, data_dir: str | os.PathLike, port: int, *, user: str = "postgres",
                 password: str | None = None, host: str = "127.0.0.1", settings: dict | None = None,
                 name: str = ""):
        self.data_dir = Path(data_dir).resolve()
        self.port = int(port)
        self.user = user
        self.host = host
        self.name = name  # cluster_name: a standby's application_name for synchronous_standby_names
        self.settings = dict(FAST_SETTINGS if settings is None else settings)
        self._password = password

    # ---- paths and credentials -------------------------------------------------------------
    @property
    def socket_dir(self) -> Path:
        # A runtime dir's mirrored path can be too long for a Unix socket (107 bytes): use its short root.
        root = _runtime_root(self.data_dir)
        return (root if root else self.data_dir) / "run"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def password(self) -> str:
        """The superuser password (read back from the data dir when not given)."""
        if self._password is None:
            pw_file = self.data_dir / PASSWORD_FILE
            if not pw_file.exists():
                raise PostgresError(f"no password known for {self.data_dir}: run init() first")
            self._password = pw_file.read_text().strip()
        return self._password

    def conninfo(self, dbname: str = "postgres") -> dict:
        """Connection parameters as a dict (psycopg keywords; community.postgresql login_* map 1:1)."""
        return {"host": self.host, "port": self.port, "user": self.user, "password": self.password, "dbname": dbname}

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq keyword/value connection string for ``dbname``."""
        return " ".join(f"{k}={v}" for k, v in self.conninfo(dbname).items())

    def env(self, dbname: str = "postgres") -> dict:
        """libpq environment variables (PGHOST...) so pg_dump/psql connect without arguments."""
        info = self.conninfo(dbname)
        return {"PGHOST": info["host"], "PGPORT": str(info["port"]), "PGUSER": info["user"],
                "PGPASSWORD": info["password"], "PGDATABASE": dbname}

    # ---- lifecycle ---------------------------------------------------------------------------
    def init(self) -> PostgresCluster:
        """initdb a new cluster with a superuser ``user`` whose password is generated (idempotent)."""
        if (self.data_dir / "PG_VERSION").exists():
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _chown_postgres(self.data_dir)
        self.data_dir.chmod(0o700)
        self._check_reachable()
        if self._password is None:
            self._password = secrets.token_urlsafe(18)
        with tempfile.NamedTemporaryFile("w", dir="/tmp", delete=False) as fh:
            fh.write(self._password + "\n")
            pwfile = Path(fh.name)
        try:
            _chown_postgres(pwfile)
            _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data_dir), "-U", self.user, "--pwfile", str(pwfile),
                          "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                          "--no-instructions"], timeout=180)
        finally:
            pwfile.unlink(missing_ok=True)
        self._write_config()
        pw_file = self.data_dir / PASSWORD_FILE
        pw_file.write_text(self._password + "\n")
        pw_file.chmod(0o600)
        _chown_postgres(pw_file)
        return self

    def _check_reachable(self) -> None:
        try:
            _as_postgres(["test", "-w", str(self.data_dir)])
        except PostgresError as exc:
            raise PostgresError(
                f"the {OS_USER} OS user cannot write {self.data_dir}; a parent directory is not traversable "
                f"(pytest tmp_path is 0700 root): use rehearsal.services.postgres.scratch_dir()") from exc

    def _write_config(self) -> None:
        self.socket_dir.mkdir(exist_ok=True)
        _chown_postgres(self.socket_dir)
        lines = [
            "# written by rehearsal.services.postgres",
            f"listen_addresses = '{self.host}'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.socket_dir}'",
            "wal_level = replica",
            "max_wal_senders = 5",
            "max_replication_slots = 5",
            "hot_standby = on",
            "max_connections = 50",
            *(f"{k} = {v}" for k, v in self.settings.items()),
        ]
        with open(self.data_dir / "postgresql.conf", "a") as fh:
            fh.write("\n" + "\n".join(lines) + "\n")
        hba = [
            "# written by rehearsal.services.postgres: loopback only",
            "local all all trust",
            "local replication all trust",
            "host all all 127.0.0.0/8 scram-sha-256",
            "host replication all 127.0.0.0/8 scram-sha-256",
        ]
        (self.data_dir / "pg_hba.conf").write_text("\n".join(hba) + "\n")

    def start(self, timeout: float = 60) -> PostgresCluster:
        """Start the server and wait until it accepts connections (no-op when running)."""
        if self.is_running():
            return self
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                      "-o", self.server_options, "-w", "-t", str(int(timeout)), "start"], timeout=timeout + 10)
        return self

    @property
    def server_options(self) -> str:
        """``postgres`` options (pg_ctl -o) for what is this node's own: pg_rewind and pg_basebackup copy
        the configuration files from the other node, the command line stays."""
        opts = [f"-p {self.port}", f"-c listen_addresses='{self.host}'", f"-k '{self.socket_dir}'"]
        if self.name:
            opts.append(f"-c cluster_name='{self.name}'")
        return " ".join(opts)

    def stop(self, timeout: float = 60) -> None:
        """Fast shutdown; if the postmaster is still there afterwards, kill it (our pid only)."""
        if not (self.data_dir / "PG_VERSION").exists():
            return
        pid = self._postmaster_pid()
        if self.is_running():
            with contextlib.suppress(PostgresError):  # a failed stop falls through to the kill below
                _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w",
                              "-t", str(int(timeout)), "stop"], timeout=timeout + 10)
        if pid and _alive(pid):
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)

    def is_running(self) -> bool:
        pid = self._postmaster_pid()
        return bool(pid) and _alive(pid)

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def destroy(self) -> None:
        """Stop and delete the data directory."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # ---- SQL helpers -------------------------------------------------------------------------
    def connect(self, dbname: str = "postgres", autocommit: bool = True):
        import psycopg  # imported here so the class works for callers without the driver

        return psycopg.connect(**self.conninfo(dbname), autocommit=autocommit, connect_timeout=10)

    def execute(self, sql: str, dbname: str = "postgres", params: tuple | None = None) -> list[tuple]:
        """Run one statement (autocommit) and return its rows ([] when it returns none)."""
        with self.connect(dbname) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def create_role(self, name: str, password: str | None = None, *, login: bool = True) -> None:
        """Create a role if missing (password set when given)."""
        if self.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", params=(name,)):
            return
        from psycopg import sql

        stmt = sql.SQL("CREATE ROLE {} {}").format(sql.Identifier(name), sql.SQL("LOGIN" if login else "NOLOGIN"))
        if password is not None:
            stmt = sql.SQL("{} PASSWORD {}").format(stmt, sql.Literal(password))
        with self.connect() as conn:
            conn.execute(stmt)

    def create_database(self, name: str, owner: str | None = None, *, owner_password: str | None = None) -> None:
        """Create ``name`` owned by ``owner`` (role created as a login role when missing); idempotent."""
        from psycopg import sql

        owner = owner or self.user
        self.create_role(owner, owner_password)
        if self.execute("SELECT 1 FROM pg_database WHERE datname = %s", params=(name,)):
            return
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    # ---- replication -------------------------------------------------------------------------
    def add_standby(self, data_dir: str | os.PathLike, port: int, timeout: float = 300, *, host: str | None = None,
                    name: str = "") -> PostgresCluster:
        """Create and start a streaming standby of this (running) cluster via ``pg_basebackup -R``.

        ``host`` (default: this cluster's) is the loopback address it listens on, ``name`` its cluster_name.
        """
        standby = PostgresCluster(data_dir, port, user=self.user, password=self.password, host=host or self.host,
                                  settings=self.settings, name=name)
        standby.data_dir.mkdir(parents=True, exist_ok=True)
        _chown_postgres(standby.data_dir)
        standby.data_dir.chmod(0o700)
        standby._check_reachable()
        _as_postgres([str(PG_BIN / "pg_basebackup"), "-D", str(standby.data_dir), "-h", self.host, "-p",
                      str(self.port), "-U", self.user, "-R", "-X", "stream", "-c", "fast"],
                     env={"PGPASSWORD": self.password}, timeout=timeout)
        # The copied postgresql.conf carries the primary's port and socket dir; point them at the standby.
        with open(standby.data_dir / "postgresql.conf", "a") as fh:
            fh.write(f"\nport = {standby.port}\nunix_socket_directories = '{standby.socket_dir}'\n")
        standby.socket_dir.mkdir(exist_ok=True)
        _chown_postgres(standby.socket_dir)
        (standby.data_dir / "postmaster.pid").unlink(missing_ok=True)
        return standby.start()


STANDBY_HOST = "127.0.0.2"  # the DR standby's own loopback address: same port, so a DNS A record names a node


def start_dr_standby(primary: PostgresCluster, link: Path, timeout: float = 300) -> PostgresCluster:
    """The DR pair's standby of ``primary`` (named pg_b, on STANDBY_HOST, same port) in ``runtime_dir(link)``.

    Waits until the primary sees it streaming (and, in sync mode, as its synchronous standby), so writes
    right after do not wait for it.
    """
    standby = primary.add_standby(runtime_dir(link), primary.port, timeout, host=STANDBY_HOST, name=DR_NODE_NAMES[1])
    want = "sync" if primary.settings.get("synchronous_standby_names", "''") != "''" else "async"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = primary.execute("SELECT sync_state FROM pg_stat_replication WHERE application_name = %s "
                               "AND state = 'streaming'", params=(standby.name,))
        if rows and rows[0][0] == want:
            return standby
        time.sleep(0.1)
    raise PostgresError(f"standby {standby.name} on {standby.host}:{standby.port} is not streaming ({want}) after 60s")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on ``host`` (for tests that start their own cluster)."""
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    """CLI for scripts (molecule create/destroy).

    ``up`` initialises and starts a cluster (``--port 0`` picks a free port) and writes its connection
    parameters as JSON to ``--state-file`` (mode 0600) or prints shell ``export`` lines; ``down`` stops it;
    ``destroy`` stops it and deletes the data directory.
    """
    parser = argparse.ArgumentParser(prog="python -m rehearsal.services.postgres")
    parser.add_argument("action", choices=["up", "down", "destroy", "status"])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--state-file", help="write host/port/user/password/data_dir as JSON here (up)")
    args = parser.parse_args(argv)
    port = args.port
    state = Path(args.state_file) if args.state_file else None
    if args.action == "up" and port == 0:
        port = json.loads(state.read_text())["port"] if state and state.exists() else free_port()
    cluster = PostgresCluster(args.data_dir, port, user=args.user)
    if args.action == "up":
        cluster.init().start()
        info = {**cluster.conninfo(), "data_dir": str(cluster.data_dir), "bin_dir": str(PG_BIN)}
        if state:
            state.parent.mkdir(parents=True, exist_ok=True)
            state.write_text(json.dumps(info))
            state.chmod(0o600)
        else:
            for key, value in cluster.env().items():
                print(f"export {key}={value}")
    elif args.action == "down":
        cluster.stop()
    elif args.action == "destroy":
        cluster.destroy()
    else:
        print("running" if cluster.is_running() else "stopped")
        return 0 if cluster.is_running() else 3
    return 0


if __name__ == "__main__":
    sys.exit(main())

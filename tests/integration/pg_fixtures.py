"""Fixtures and helpers for tests that need a real PostgreSQL 15 and the backup/restore/migrate roles.

Import the fixtures into a test module with ``from tests.integration.pg_fixtures import *``-style explicit
imports (``pg``, ``backup_dir``). The cluster is started per test module under /tmp (the ``postgres`` OS
user cannot reach pytest's tmp_path) and stopped in teardown, leaving no process behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from rehearsal.services.postgres import PG_BIN, PostgresCluster, free_port, scratch_dir

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
APP_PASSWORD = "app-secret-Zq81"  # the app role's password; tests check it never shows up in output or manifests

SEED_SQL = """
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, country char(2) NOT NULL);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id),
                     amount numeric(12,2) NOT NULL, note text, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE TABLE schema_version (version int NOT NULL);
INSERT INTO schema_version VALUES (1);
INSERT INTO customers (name, country) SELECT 'customer ' || g, (ARRAY['DE','FR','US'])[g % 3 + 1]
  FROM generate_series(1, 300) g;
INSERT INTO orders (customer_id, amount, note, created_at)
  SELECT g % 300 + 1, (g % 997) / 3.0, md5(g::text), timestamptz '2025-01-01' + g * interval '1 minute'
  FROM generate_series(1, %(orders)s) g;
CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100;
"""


@contextlib.contextmanager
def scratch_cluster(prefix: str):
    """A started PostgreSQL 15 cluster in a new scratch directory under /tmp; stopped and removed on exit."""
    root = scratch_dir(prefix)
    cluster = PostgresCluster(root / "data", free_port())
    try:
        cluster.init().start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def pg():
    """A running PostgreSQL 15 cluster (superuser ``postgres`` with a password, TCP on 127.0.0.1)."""
    with scratch_cluster("greenlang-it-pg-") as cluster:
        yield cluster


@pytest.fixture
def backup_dir():
    path = Path(tempfile.mkdtemp(prefix="greenlang-it-backups-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def seed_app_db(pg: PostgresCluster, name: str, orders: int = 2000) -> None:
    """(Re)create ``name`` owned by a login role of the same name, with a small realistic schema.

    Databases an earlier test left beside it (``<name>__pre_restore_*`` ...) are dropped too.
    """
    for db in databases(pg):
        if db == name or db.startswith(name + "__"):
            pg.drop_database(db)
    pg.create_database(name, owner=name, owner_password=APP_PASSWORD)
    with pg.connect(name) as conn:
        conn.execute(f"SET ROLE {name}")
        conn.execute(SEED_SQL.replace("%(orders)s", str(int(orders))))


def db_state(pg: PostgresCluster, db: str) -> str:
    """Schema and data of ``db`` as pg_dump text, without comments and pg_dump's per-run \\restrict key."""
    env = {**os.environ, **pg.env(db)}
    out = subprocess.run([str(PG_BIN / "pg_dump"), "--no-password", "-d", db], env=env, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    lines = [line for line in out.splitlines()
             if line.strip() and not line.startswith("--") and not re.match(r"\\(un)?restrict ", line)]
    return "\n".join(lines)


def databases(pg: PostgresCluster) -> list[str]:
    return [r[0] for r in pg.execute("SELECT datname FROM pg_database ORDER BY datname")]


def db_entry(pg: PostgresCluster, db: str) -> dict:
    """A database entry as launch_databases.<app> and the roles' <role>_database take it."""
    return {"name": db, "host": pg.host, "port": pg.port, "user": pg.user, "password": pg.password}


def db_vars(pg: PostgresCluster, prefix: str, db: str) -> dict:
    return {f"{prefix}_database": db_entry(pg, db), f"{prefix}_pg_bin_dir": str(PG_BIN)}


def run_role(role: str, variables: dict, workdir: Path, *, check: bool = False, timeout: int = 300,
             extra_env: dict | None = None, verbosity: int = 0) -> subprocess.CompletedProcess:
    """Run ``greenlang.launch.<role>`` on localhost with ``variables`` the way a user would (ansible-playbook).

    ``verbosity`` adds ``-v`` flags, as an operator (or an AWX job at a higher verbosity) would.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    playbook = workdir / f"{role}.yml"
    playbook.write_text(f"---\n- hosts: localhost\n  gather_facts: false\n  roles:\n    - greenlang.launch.{role}\n")
    inventory = workdir / "inventory.ini"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    varfile = workdir / "vars.json"
    varfile.write_text(json.dumps(variables))
    varfile.chmod(0o600)
    argv = [ANSIBLE_PLAYBOOK, "-i", str(inventory), str(playbook), "-e", f"@{varfile}"]
    if check:
        argv.append("--check")
    if verbosity:
        argv.append("-" + "v" * verbosity)
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default",
           "ANSIBLE_LOCAL_TEMP": str(workdir / "tmp"), **(extra_env or {})}
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def manifests(directory: Path) -> list[dict]:
    return sorted((json.loads(p.read_text()) for p in directory.glob("*.manifest.json")),
                  key=lambda m: m["started_at"])

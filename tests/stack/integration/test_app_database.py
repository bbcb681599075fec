"""Demo apps against a real PostgreSQL: seeding, health, schema gating, the migration runner."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import requests

from rehearsal.apps import calculations
from rehearsal.apps.seed import seed_app_database
from tests.stack.integration.stack_fixtures import postgres, run_app  # noqa: F401 - fixtures

REPO_ROOT = Path(__file__).resolve().parents[3]
CAT1 = "/api/v1/calculator/category1"
BODY = {"items": [{"category": "metals", "spend": 1000}]}


def app_dsn(cluster, app: str) -> str:
    cluster.create_database(app, owner=app, owner_password=f"{app}-secret")
    return f"host={cluster.host} port={cluster.port} user={app} password={app}-secret dbname={app}"


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def dsns(postgres):  # noqa: F811
    out = {app: app_dsn(postgres, app) for app in ("vcci", "cbam", "csrd")}
    for app, dsn in out.items():
        seed_app_database(dsn, app)
    return out


def migrate(dsn: str, sql_file: Path | None = None, sql_text: str | None = None) -> subprocess.CompletedProcess:
    """Run the migration runner as a Job pod would: SQL from --sql FILE or from env MIGRATION_SQL."""
    argv = [sys.executable, "-m", "rehearsal.apps.migrate"] + (["--sql", str(sql_file)] if sql_file else [])
    env = {"DATABASE_DSN": dsn, "PATH": "/usr/bin:/bin", **({"MIGRATION_SQL": sql_text} if sql_text else {})}
    return subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("app", ["vcci", "cbam", "csrd"])
def test_seeding_again_changes_nothing_and_matches_the_builtin_reference_data(dsns, app):
    def snapshot():
        with psycopg.connect(dsns[app]) as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()]
            counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
            return counts, calculations.load_reference(conn.cursor(), app)

    before = snapshot()
    assert seed_app_database(dsns[app], app) == ["001_initial"]
    after = snapshot()
    assert before == after
    assert after[1] == calculations.builtin_reference(app)


def test_app_with_database_reports_it_up_and_computes_like_the_builtin_tables(dsns, run_app):  # noqa: F811
    with_db = run_app("vcci", "v1", DATABASE_DSN=dsns["vcci"])
    without_db = run_app("vcci", "v1")
    wait_for(lambda: requests.get(with_db.url + "/health/ready", timeout=5).status_code == 200, 10, "ready")
    detail = requests.get(with_db.url + "/health/detailed", timeout=5).json()
    assert detail["database"]["status"] == "up"
    assert detail["database"]["schema_versions"] == ["001_initial"]
    assert requests.post(with_db.url + CAT1, json=BODY, timeout=5).content == \
        requests.post(without_db.url + CAT1, json=BODY, timeout=5).content


def test_changed_reference_data_in_the_database_changes_results(dsns, run_app, postgres):  # noqa: F811
    app = run_app("vcci", "v1", DATABASE_DSN=dsns["vcci"], DB_CHECK_INTERVAL_S=0.2)
    wait_for(lambda: requests.get(app.url + "/health/ready", timeout=5).status_code == 200, 10, "ready")
    assert requests.post(app.url + CAT1, json=BODY, timeout=5).json()["total_kg_co2e"] == 950.0
    postgres.execute("UPDATE emission_factors SET factor = 1.05 WHERE activity = 'metals'", dbname="vcci")
    try:
        wait_for(lambda: requests.post(app.url + CAT1, json=BODY, timeout=5).json()["total_kg_co2e"] == 1050.0,
                 5, "the new factor to be used")
    finally:
        postgres.execute("UPDATE emission_factors SET factor = 0.95 WHERE activity = 'metals'", dbname="vcci")


def test_unreachable_database_makes_the_pod_unready_and_opens_the_database_breaker(run_app):  # noqa: F811
    app = run_app("cbam", "v1", DATABASE_DSN="host=127.0.0.1 port=1 user=x password=y dbname=cbam connect_timeout=1",
                  DB_CHECK_INTERVAL_S=0.2)
    assert requests.get(app.url + "/health/ready", timeout=5).status_code == 503
    detail = wait_for(lambda: (d := requests.get(app.url + "/health/detailed", timeout=5).json())
                      ["circuit_breakers"]["database"]["state"] == "open" and d, 10, "the breaker to open")
    assert detail["database"]["status"] == "down" and "127.0.0.1" in detail["database"]["error"]
    assert requests.post(app.url + "/api/v1/calculate", json={"imports": [{"cn_code": "2523", "quantity": 1}]},
                         timeout=5).status_code == 503


def test_required_schema_version_gates_readiness_until_the_migration_job_ran(dsns, run_app):  # noqa: F811
    app = run_app("csrd", "v2", DATABASE_DSN=dsns["csrd"], REQUIRED_SCHEMA_VERSION="002_assurance",
                  DB_CHECK_INTERVAL_S=0.2)
    time.sleep(1)
    ready = requests.get(app.url + "/health/ready", timeout=5)
    assert ready.status_code == 503 and "002_assurance" in str(ready.json()["reasons"])
    result = migrate(dsns["csrd"], sql_text="ALTER TABLE reports ADD COLUMN IF NOT EXISTS assurance_level text;\n"
                                            "INSERT INTO schema_migrations (version) VALUES ('002_assurance');\n")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: requests.get(app.url + "/health/ready", timeout=5).status_code == 200, 5, "ready after migration")


def test_failed_migration_exits_1_naming_the_statement_and_keeps_earlier_changes(dsns, tmp_path, postgres):  # noqa: F811
    migration = tmp_path / "003.sql"
    migration.write_text("-- adds a column, then fails\n"
                         "ALTER TABLE declarations ADD COLUMN verifier text;\n"
                         "CREATE FUNCTION cbam_one() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n"
                         "ALTER TABLE no_such_table ADD COLUMN x int;\n"
                         "INSERT INTO schema_migrations (version) VALUES ('003_verifier');\n")
    result = migrate(dsns["cbam"], migration)
    assert result.returncode == 1
    assert "statement 3 of 4" in result.stderr and "no_such_table" in result.stderr
    assert "[2/4] ok" in result.stdout
    columns = postgres.execute("SELECT column_name FROM information_schema.columns "
                               "WHERE table_name = 'declarations'", dbname="cbam")
    assert ("verifier",) in columns  # non-transactional: the first statement stays applied
    assert not postgres.execute("SELECT 1 FROM schema_migrations WHERE version = '003_verifier'", dbname="cbam")


def test_migration_runner_without_a_database_exits_2_with_a_message(tmp_path):
    sql = tmp_path / "x.sql"
    sql.write_text("SELECT 1;")
    result = subprocess.run([sys.executable, "-m", "rehearsal.apps.migrate", "--sql", str(sql)], cwd=REPO_ROOT,
                            env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "DATABASE_DSN" in result.stderr

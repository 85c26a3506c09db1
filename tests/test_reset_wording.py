"""A pg_stat_statements reset between two snapshots is reported as a reset, never as evictions
(issue 10: `workload` told the user to raise pg_stat_statements.max after a reset it reported itself)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg


def _cli(*args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "pgadvisor", *args], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    return r


def _two_snapshots_around(dsn: str, store: str, reset_sql: str) -> tuple[dict, str]:
    """collect; statements, the reset, statements; collect; the workload's coverage and its text."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, k int)")
        conn.execute("INSERT INTO t SELECT i, i % 10 FROM generate_series(1, 1000) i")
        for k in range(5):
            conn.execute("SELECT count(*) FROM t WHERE id < %s", [k])
            conn.execute("SELECT * FROM t WHERE k = %s", [k])
    _cli("collect", "--dsn", dsn, "--store", store, "--name", "app")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for k in range(5):
            conn.execute("SELECT count(*) FROM t WHERE id < %s", [k])
        conn.execute(reset_sql)
        for k in range(5):
            conn.execute("SELECT * FROM t WHERE k = %s", [k])
    _cli("collect", "--dsn", dsn, "--store", store, "--name", "app")
    doc = json.loads(_cli("workload", "--store", store, "--format", "json").stdout)
    return doc["coverage"], _cli("workload", "--store", store).stdout


def test_a_full_reset_is_a_reset_not_evictions(any_make_db, tmp_path):
    cov, text = _two_snapshots_around(any_make_db(), str(tmp_path / "s.sqlite"), "SELECT pg_stat_statements_reset()")
    assert cov["resets"] == 1 and cov["evicted_statements"] == 0 and cov["dealloc"] == 0
    assert "counter reset(s) in the window (pg_stat_statements was reset)" in text
    assert "pg_stat_statements.max" not in text and "gone from" not in text and "partial" not in text


def test_a_partial_reset_is_named_not_taken_for_evictions(any_make_db, tmp_path):
    dsn = any_make_db()
    reset = ("SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), "
             "0)")
    cov, text = _two_snapshots_around(dsn, str(tmp_path / "s.sqlite"), reset)
    assert cov["reset_statements"] >= 1  # at least `SELECT count(*) FROM t WHERE id < $1` was removed
    assert cov["evicted_statements"] == 0 and cov["resets"] == 0
    assert "by a partial pg_stat_statements_reset(userid, dbid, queryid)" in text
    assert "pg_stat_statements.max" not in text and "gone from" not in text

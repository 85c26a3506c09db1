"""The what-if engine against a real PostgreSQL with hypopg (and without it)."""

from __future__ import annotations

import psycopg
import pytest
from conftest import scratch_db

from pgadvisor.advise.indexes.statements import text_digest
from pgadvisor.indexdef import IndexDef, KeyPart, quote_ident
from pgadvisor.pg.catalog import read_schema
from pgadvisor.pg.connect import connect
from pgadvisor.pg.hypo import Filter, WhatIf, WhatIfStatement

SETUP = """
CREATE TABLE orders (id bigserial PRIMARY KEY, user_id int NOT NULL, status text NOT NULL,
                     created_at timestamptz NOT NULL, total numeric);
INSERT INTO orders (user_id, status, created_at, total)
SELECT g % 5000, CASE WHEN g % 50 = 0 THEN 'pending' ELSE 'done' END,
       '2024-01-01'::timestamptz + make_interval(mins => g), g % 100
  FROM generate_series(1, 60000) g;
ANALYZE orders;
"""


@pytest.fixture(scope="module")
def hypo_db(admin_dsn):
    """One database with hypopg and an orders table, shared by this module's tests."""
    with scratch_db(admin_dsn, "t_hypo", SETUP) as dsn:
        yield dsn


def stmt(text: str, *cols: str, filters: tuple[Filter, ...] = ()) -> WhatIfStatement:
    return WhatIfStatement(
        text_digest(text),
        text,
        frozenset({"public.orders"}),
        frozenset(("public.orders", c) for c in cols),
        frozenset(("public.orders", f.column) for f in filters),
        filters,
    )


def idx(*cols: str, **kw) -> IndexDef:
    return IndexDef("public", "orders", tuple(KeyPart(column=c, expr_columns=(c,)) for c in cols), **kw)


def _hypo_count(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM hypopg_list_indexes").fetchone()[0]


def test_cost_drops_with_useful_index_and_reset_after(hypo_db):
    q = stmt("SELECT * FROM orders WHERE user_id = $1", "user_id")
    useful, useless = idx("user_id"), idx("total")
    with connect(hypo_db) as conn:  # read-only session: hypopg works there
        with WhatIf(conn) as w:
            assert w.mode == "hypopg"
            base = w.cost(q)
            with_ix = w.cost(q, [useful, useless])
            assert with_ix.cost < base.cost / 10
            assert with_ix.used == frozenset({useful})  # `total` is not relevant: never even created for q
            assert w.size(useful) > 100_000
            assert _hypo_count(conn) >= 1
            calls = w.calls
            assert w.cost(q, [useless, useful]).cost == with_ix.cost  # cached: same relevant set
            assert w.calls == calls and w.cache_hits >= 1
        assert _hypo_count(conn) == 0
        assert conn.execute("SHOW transaction_read_only").fetchone()[0] == "on"


def test_reset_also_after_an_exception(hypo_db):
    with connect(hypo_db) as conn:
        with pytest.raises(RuntimeError), WhatIf(conn) as w:
            w.cost(stmt("SELECT * FROM orders WHERE status = $1", "status"), [idx("status")])
            assert _hypo_count(conn) == 1
            raise RuntimeError("boom")
        assert _hypo_count(conn) == 0
        assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] == 0
        assert conn.execute("SHOW plan_cache_mode").fetchone()[0] == "auto"


def test_generic_plans_failures_and_batching(hypo_db):
    with connect(hypo_db) as conn, WhatIf(conn, max_hypothetical=2) as w:
        ranged = stmt(
            "SELECT id FROM orders WHERE user_id = $1 AND created_at > $2 ORDER BY created_at LIMIT $3",
            "user_id",
            "created_at",
            "id",
        )
        bad = stmt("SELECT * FROM orders WHERE nosuch = $1", "nosuch")
        literal = stmt("SELECT * FROM orders WHERE status = 'pending' AND total > 5", "status", "total")
        assert w.cost(bad).cost is None and "nosuch" in w.cost(bad).error
        for d in (idx("user_id"), idx("created_at"), idx("status")):  # sizes need them: 3 > max 2, a reset
            assert w.size(d) > 0
        assert w.resets >= 1 and len(w.hypothetical()) <= 2
        r = w.cost(ranged, [idx("user_id", "created_at"), idx("created_at")])
        assert r.cost is not None and idx("user_id", "created_at") in r.used
        assert w.cost(literal).cost > 0  # no parameters: explained directly
        assert w.calls == 3
        # untyped parameters as pg_stat_statements leaves them: retried with casts
        untyped = stmt(
            "SELECT sum(CASE WHEN status = $1 THEN $2 ELSE $3 END) FROM orders "
            "WHERE total BETWEEN $4 - $5 AND $6 + $7 AND created_at::date > $8::date + $9",
            "total",
        )
        assert w.cost(untyped).cost > 0
        # the prepared statement of the generic plan is gone, also after the failure
        assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] == 0


def test_partial_and_include_and_invalid_definitions(hypo_db):
    q = stmt(
        "SELECT id, total FROM orders WHERE status = 'pending' ORDER BY created_at LIMIT 20",
        "status",
        "created_at",
        "id",
        "total",
    )
    partial = idx("created_at", predicate="status = 'pending'", predicate_columns=("status",))
    with connect(hypo_db) as conn, WhatIf(conn) as w:
        assert partial in w.cost(q, [partial]).used
        assert w.size(partial) < w.size(idx("created_at")) / 10
        assert w.size(idx("user_id", include=("total",))) > w.size(idx("user_id"))
        broken = IndexDef("public", "orders", (KeyPart(expression="random()", expr_columns=("id",)),))
        assert w.size(broken) is None and broken in w.invalid  # hypopg refuses a volatile expression


def test_quote_ident():
    assert quote_ident("orders") == "orders"
    assert quote_ident("Orders") == '"Orders"'
    assert quote_ident("user") == '"user"'
    assert quote_ident('we"ird col') == '"we""ird col"'
    assert quote_ident("zählung") == '"zählung"'
    assert (
        IndexDef(
            "My Schema", "T", (KeyPart(column="a b"), KeyPart(expression="lower(x)", descending=True)), include=("Inc",)
        ).create_sql("ix")
        == 'CREATE INDEX ix ON "My Schema"."T" USING btree ("a b", (lower(x)) DESC) INCLUDE ("Inc")'
    )


def test_heuristic_without_hypopg(admin_dsn, make_db):
    dsn = make_db(extensions=())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SETUP)
    with connect(dsn) as conn:
        schema = read_schema(conn)
        conn.rollback()
        f = (Filter("public.orders", "user_id", None, "eq"),)
        q = stmt("SELECT * FROM orders WHERE user_id = $1", "user_id", filters=f)
        with WhatIf(conn, schema=schema) as w:
            assert w.mode == "heuristic" and "not created" in w.reason
            base = w.cost(q).cost
            r = w.cost(q, [idx("user_id")])
            assert r.cost < base / 5 and r.used == frozenset({idx("user_id")})
            assert w.cost(q, [idx("total")]).cost == base
            assert 500_000 < w.size(idx("user_id")) < 5_000_000


def test_explain_leaves_no_transaction_or_prepared_statement_behind(hypo_db):
    """Each EXPLAIN runs in its own read-only transaction that is rolled back; its prepared statement
    is gone after a success and after a failure, and a second statement in one text is refused."""
    from pgadvisor.pg.explain import Refused

    def leftovers(conn: psycopg.Connection) -> tuple:
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        return conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]

    with connect(hypo_db) as conn, WhatIf(conn) as engine:
        assert engine.explain("SELECT * FROM orders WHERE user_id = $1")[0]["Plan"]["Node Type"]
        assert leftovers(conn) == 0
        for bad in ("SELECT * FROM orders WHERE nosuch = $1", "SELECT * FROM orders WHERE id = $1 AND no_such_fn($2)"):
            with pytest.raises(psycopg.Error):
                engine.explain(bad)
            assert leftovers(conn) == 0
        with pytest.raises(Refused):
            engine.explain("SELECT 1; SELECT pg_sleep(5)")
        assert conn.execute("SELECT current_setting('transaction_read_only')").fetchone()[0] == "on"


def test_heuristic_defaults_are_the_planners(hypo_db):
    """Without statistics the planner takes selfuncs.h's defaults; the heuristic's named constants are
    those values (VACUUM sets reltuples but leaves pg_stats empty)."""
    from pgadvisor.pg import heuristic

    with psycopg.connect(hypo_db, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS nostats")
        conn.execute("CREATE TABLE nostats (a int, b text)")
        conn.execute("ALTER TABLE nostats SET (autovacuum_enabled = off)")
        conn.execute("INSERT INTO nostats SELECT g, g::text FROM generate_series(1, 100000) g")
        conn.execute("VACUUM nostats")

        def rows(where: str) -> float:
            plan = conn.execute(f"EXPLAIN (FORMAT JSON) SELECT * FROM nostats WHERE {where}").fetchone()[0]
            return plan[0]["Plan"]["Plan Rows"]

        try:
            n = conn.execute("EXPLAIN (FORMAT JSON) SELECT * FROM nostats").fetchone()[0][0]["Plan"]["Plan Rows"]
            assert rows("a = 7") == round(n * heuristic.DEFAULT_EQ_SEL)
            assert rows("a < 7") == round(n * heuristic.DEFAULT_INEQ_SEL)
            assert rows("a > 7 AND a < 9") == round(n * heuristic.DEFAULT_RANGE_INEQ_SEL)
            assert rows("a IS NULL") == round(n * heuristic.DEFAULT_UNK_SEL)
            assert rows("lower(b) = 'x'") == round(n * heuristic.DEFAULT_EXPR_SEL)
            assert rows("lower(b) LIKE 'x%'") == round(n * heuristic.DEFAULT_EXPR_SEL)
        finally:
            conn.execute("DROP TABLE nostats")


def test_n_distinct_counts():
    """pg_stats' n_distinct: a positive count stays, a negative one is a share of the rows, unknown is 0."""
    from pgadvisor.sizes import n_distinct_rows

    assert n_distinct_rows(250.0, 1e6) == 250.0
    assert n_distinct_rows(-0.5, 1000.0) == 500.0
    assert n_distinct_rows(-1.0, -1.0) == 1.0  # a never-vacuumed table (reltuples -1) counts one row
    assert n_distinct_rows(None, 1000.0) == 0.0 and n_distinct_rows(0.0, None) == 0.0

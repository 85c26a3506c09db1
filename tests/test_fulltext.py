"""Full-text configuration inference (issue 10): pg_stat_statements shows `to_tsvector($1, name)`; the
configuration comes from the logged samples, else the server's default_text_search_config (said so)."""

from __future__ import annotations

import psycopg
import pytest
from conftest import scratch_db

from pgadvisor.advise.review import recommend
from pgadvisor.workload import StatementStats, Workload

SETUP = """
CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, price numeric NOT NULL);
INSERT INTO products SELECT i, (ARRAY['red', 'blue', 'green', 'black'])[1 + i % 4] || ' shoe model ' || md5(i::text),
       i % 100 FROM generate_series(1, 30000) i;
ANALYZE products;
"""
QUERY = "SELECT id, name FROM products WHERE to_tsvector($1, name) @@ plainto_tsquery($2, $3) LIMIT 20"


@pytest.fixture(scope="module")
def shop(admin_dsn):
    with scratch_db(admin_dsn, "fts", SETUP, ("hypopg",)) as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT set_config('default_text_search_config', 'pg_catalog.simple', false)")
            conn.execute(psycopg.sql.SQL("ALTER DATABASE {} SET default_text_search_config = 'pg_catalog.simple'")
                         .format(psycopg.sql.Identifier(conn.info.dbname)))
        yield dsn


def _gin(review) -> list:
    return [r for r in review.recommendations if "USING gin ((to_tsvector(" in (r.sql or "")]


def _uses_index(dsn: str, sql: str, query: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.replace(" CONCURRENTLY", ""))
        try:
            conn.execute("SET enable_seqscan = off")
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + query))
        finally:
            conn.execute("DROP INDEX IF EXISTS " + sql.split(" ON ")[0].split()[-1])
    return "products_to_tsvector" in plan or "Bitmap Index Scan" in plan


def _workload(dbid: int, examples: tuple[str, ...] = ()) -> Workload:
    st = StatementStats(queryid="1", query=QUERY, userid=10, dbid=dbid, toplevel=True, calls=5000,
                        total_exec_ms=90000.0, rows=100000, examples=examples)
    return Workload(server="shop", window={"start": 0.0, "end": 86400.0}, coverage={}, statements=[st])


def _dbid(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]


def test_without_samples_the_servers_default_configuration_is_assumed_and_said(shop):
    review = recommend(shop, workload=_workload(_dbid(shop)))
    gin = _gin(review)
    assert len(gin) == 1, [r.sql for r in review.recommendations]
    assert "to_tsvector('simple'::regconfig, name)" in gin[0].sql
    assert "default_text_search_config (simple)" in gin[0].evidence["why"]
    # the SQL is valid and the planner uses the index for the statement with that configuration
    assert _uses_index(shop, gin[0].sql, "SELECT id FROM products WHERE to_tsvector('simple', name) @@ "
                                         "plainto_tsquery('simple', 'red') LIMIT 20")


def test_logged_samples_name_the_configuration(shop):
    examples = tuple(f"SELECT id, name FROM products WHERE to_tsvector('english', name) @@ "
                     f"plainto_tsquery('english', '{w}') LIMIT 20" for w in ("red", "blue shoes"))
    review = recommend(shop, workload=_workload(_dbid(shop), examples))
    gin = _gin(review)
    assert len(gin) == 1, [r.sql for r in review.recommendations]
    assert "to_tsvector('english'" in gin[0].sql and "simple" not in gin[0].sql
    assert "default_text_search_config" not in gin[0].evidence["why"]
    assert _uses_index(shop, gin[0].sql, examples[0])


def test_one_argument_to_tsvector_gets_no_index_that_cannot_be_built(shop):
    """to_tsvector(name) reads default_text_search_config (STABLE): CREATE INDEX would refuse it, and an
    index on to_tsvector('simple', name) is not the same expression, so nothing is proposed."""
    review = recommend(shop, texts=["SELECT id FROM products WHERE to_tsvector(name) @@ plainto_tsquery('red')"])
    assert not [r for r in review.recommendations if "to_tsvector" in (r.sql or "")]
    with psycopg.connect(shop, autocommit=True) as conn, pytest.raises(psycopg.errors.InvalidObjectDefinition):
        conn.execute("CREATE INDEX ON products USING gin (to_tsvector(name))")  # what was proposed before

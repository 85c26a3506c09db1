"""The B-tree size model (pgadvisor/sizes.py) against indexes built for real on a test cluster."""

from __future__ import annotations

import psycopg
import pytest

from pgadvisor import sizes
from pgadvisor.pg import catalog
from tests.conftest import scratch_db

ROWS = 200_000
SETUP = f"""
CREATE TABLE t (
    id integer NOT NULL,
    status text NOT NULL,
    customer_id integer NOT NULL,
    created_at timestamp NOT NULL,
    amount numeric(10, 2) NOT NULL,
    note text NOT NULL,
    shipped date,
    region integer NOT NULL
);
SELECT setseed(0.42);
INSERT INTO t
SELECT g, (ARRAY['new', 'paid', 'shipped', 'delivered', 'cancelled'])[1 + g % 5], (g * 7919) % 20000,
       timestamp '2024-01-01' + (g % 50000) * interval '1 minute', (g % 1000) / 10.0,
       md5(g::text) || '-' || (g % 97), CASE WHEN g % 3 = 0 THEN NULL ELSE date '2024-01-01' + g % 700 END,
       (random() * 40)::int
  FROM generate_series(1, {ROWS}) AS g;
ANALYZE t;
"""

# (index body, key columns, INCLUDE columns, unique): a few shapes the advisor recommends
SHAPES = [
    ("UNIQUE INDEX ON t (id)", ["id"], [], True),
    ("INDEX ON t (id)", ["id"], [], False),
    ("INDEX ON t (status)", ["status"], [], False),
    ("INDEX ON t (customer_id)", ["customer_id"], [], False),
    ("INDEX ON t (customer_id) INCLUDE (amount, note)", ["customer_id"], ["amount", "note"], False),
    ("INDEX ON t (region, status)", ["region", "status"], [], False),
    ("INDEX ON t (region, customer_id)", ["region", "customer_id"], [], False),
    ("INDEX ON t (amount)", ["amount"], [], False),
    ("INDEX ON t (shipped)", ["shipped"], [], False),
    ("INDEX ON t (note)", ["note"], [], False),
]
# correlated keys: the model takes the columns as independent (as the planner does), so it counts more
# distinct combinations than there are and leaves duplicates out: it overstates these, never understates
CORRELATED = [
    ("INDEX ON t (status, created_at)", ["status", "created_at"]),  # created_at determines status
    ("INDEX ON t (customer_id, status)", ["customer_id", "status"]),  # customer_id determines status
]
LOW, HIGH = 0.67, 1.5  # issue 10's goal for printed ÷ real size


@pytest.fixture(scope="module")
def sized(admin_dsn):
    """(body, modelled bytes, real bytes) of every shape."""
    out = []
    with scratch_db(admin_dsn, "sizes", SETUP, extensions=()) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        cols = {c["column"]: c for c in catalog.columns(conn) if c["table"] == "t"}
        reltuples = conn.execute("SELECT reltuples FROM pg_class WHERE relname = 't'").fetchone()[0]
        for i, (body, keys, include, unique) in enumerate(SHAPES):
            modelled = sizes.btree_model_size(reltuples, [cols[k] for k in keys], [cols[c] for c in include],
                                              unique=unique)
            conn.execute(f"CREATE {body.replace('INDEX ON', f'INDEX i{i} ON')}")
            real = conn.execute(f"SELECT pg_relation_size('i{i}')").fetchone()[0]
            out.append((body, modelled, real))
        for i, (body, keys) in enumerate(CORRELATED):
            modelled = sizes.btree_model_size(reltuples, [cols[k] for k in keys])
            conn.execute(f"CREATE {body.replace('INDEX ON', f'INDEX c{i} ON')}")
            out.append((body, modelled, conn.execute(f"SELECT pg_relation_size('c{i}')").fetchone()[0]))
    return out


def test_model_within_goal_of_real_size(sized):
    """Every shape's modelled size is within 0.67–1.5 of the index PostgreSQL builds."""
    report = [f"{b}: model {m / 1e6:.2f} MB, real {r / 1e6:.2f} MB, ratio {m / r:.2f}" for b, m, r in sized]
    correlated = {b for b, _ in CORRELATED}
    assert all(LOW <= m / r <= HIGH for b, m, r in sized if b not in correlated), "\n".join(report)


def test_correlated_keys_are_overstated_not_understated(sized):
    """The model's known limit: keys whose columns depend on each other are overstated (ratio above 1)."""
    correlated = {b for b, _ in CORRELATED}
    ratios = [m / r for b, m, r in sized if b in correlated]
    assert len(ratios) == len(CORRELATED) and all(x >= 1.0 for x in ratios), ratios


def test_deduplication_and_its_exceptions(sized):
    """A low-cardinality key is far smaller than a unique one (posting lists), a numeric key and an INCLUDE
    index are not deduplicated, and the model orders them as PostgreSQL does."""
    by = {b: (m, r) for b, m, r in sized}
    unique_m, unique_r = by["UNIQUE INDEX ON t (id)"]
    status_m, status_r = by["INDEX ON t (status)"]
    assert status_r < unique_r / 2 and status_m < unique_m / 2
    assert not sizes.dedup_safe({"type": "numeric(10,2)"}) and sizes.dedup_safe({"type": "text"})
    inc_m, inc_r = by["INDEX ON t (customer_id) INCLUDE (amount, note)"]
    cust_m, cust_r = by["INDEX ON t (customer_id)"]
    assert inc_r > 3 * cust_r and inc_m > 3 * cust_m


def test_empty_and_unknown_statistics():
    """No rows: two pages; never-analyzed columns: sized from their types, without deduplication."""
    assert sizes.btree_model_size(0, [{"type": "integer"}]) == 2 * sizes.PAGE
    plain = sizes.btree_model_size(1e6, [{"type": "integer"}])
    assert plain == sizes.btree_model_size(1e6, [{"type": "integer", "n_distinct": -1.0}])
    assert sizes.btree_model_size(1e6, [{"type": "integer", "n_distinct": 10.0}]) < plain / 2

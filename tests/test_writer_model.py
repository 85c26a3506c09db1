"""The writers' slowdown estimate (advise/indexes/writes.py): inserts at the end of an index in insertion
order cost less per entry than random ones (issue 10, bench_writer_latency.py)."""

from __future__ import annotations

import psycopg
import pytest

from pgadvisor.advise.indexes.writes import APPEND_ENTRY_FACTOR, MS_PER_COST_UNIT, WriteModel
from pgadvisor.advise.schema import SchemaView
from pgadvisor.indexdef import IndexDef, KeyPart
from pgadvisor.pg import catalog
from tests.conftest import scratch_db

SETUP = """
CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id int NOT NULL,
                     status text NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO orders (user_id, status, created_at)
SELECT (g * 7919) % 5000, (ARRAY['new', 'paid', 'shipped'])[1 + g % 3], now() - (20000 - g) * interval '1 minute'
  FROM generate_series(1, 20000) AS g;
ANALYZE orders;
"""


def _idx(*cols: str) -> IndexDef:
    return IndexDef("public", "orders", tuple(KeyPart(column=c, expr_columns=(c,)) for c in cols))


@pytest.fixture(scope="module")
def view(admin_dsn):
    with scratch_db(admin_dsn, "writers", SETUP, extensions=()) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        return SchemaView(catalog.read_schema(conn))


def test_an_index_in_insertion_order_is_appended_to(view):
    """pg_stats' correlation tells a creation timestamp (and the identity key) from a scattered column."""
    model = WriteModel(view)
    assert model.appends(_idx("created_at")) and model.appends(_idx("created_at", "user_id"))
    assert not model.appends(_idx("user_id")) and not model.appends(_idx("status", "created_at"))


def test_an_appended_entry_costs_the_measured_share_of_a_random_one(view):
    """An insert's slowdown counts an entry at the end of an index at APPEND_ENTRY_FACTOR of a random entry;
    updates (whose new entries go where the row's value is) are unchanged."""
    model = WriteModel(view)
    model.add_writer("public.orders", "ins", "insert", 1.0, None, 0.01, mean_ms=0.01)
    model.add_writer("public.orders", "upd", "update", 1.0, frozenset({"created_at"}), 0.01, mean_ms=0.01)
    rand = model.slowdowns("public.orders", [_idx("user_id")])
    append = model.slowdowns("public.orders", [_idx("created_at")])
    both = model.slowdowns("public.orders", [_idx("user_id"), _idx("created_at")])
    assert append["ins"][0] == pytest.approx(APPEND_ENTRY_FACTOR * rand["ins"][0])
    assert both["ins"][0] == pytest.approx((1 + APPEND_ENTRY_FACTOR) * rand["ins"][0])
    assert "1 at the end of an index in insertion order" in append["ins"][1]
    maint = model._maint("public.orders")
    assert rand["ins"][0] == pytest.approx(100 * maint * MS_PER_COST_UNIT / 0.01)
    assert append["upd"][0] == pytest.approx(model.slowdowns("public.orders", [_idx("created_at", "status")])["upd"][0])

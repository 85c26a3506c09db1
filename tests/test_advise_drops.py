"""Indexes to drop and foreign keys to index: offline on crafted catalogs, and one real invalid index."""

from __future__ import annotations

import psycopg
import pytest

from pgadvisor.advise.drops import recommend_drops
from pgadvisor.pg.catalog import read_schema
from pgadvisor.pg.connect import connect

MB = 1 << 20


def ix(
    name: str,
    columns: list[str],
    *,
    table: str = "orders",
    n_key: int | None = None,
    scans: int = 10,
    size: int = 50 * MB,
    unique: bool = False,
    primary: bool = False,
    constraint: bool = False,
    valid: bool = True,
    predicate: str | None = None,
    method: str = "btree",
    desc: list[bool] | None = None,
):
    keys = columns[:n_key] if n_key is not None else columns
    include = columns[len(keys) :]
    definition = (
        f"CREATE {'UNIQUE ' if unique or primary else ''}INDEX {name} ON public.{table} USING {method} "
        f"({', '.join(keys)})"
        + (f" INCLUDE ({', '.join(include)})" if include else "")
        + (f" WHERE ({predicate})" if predicate else "")
    )
    return {
        "schema": "public",
        "table": table,
        "name": name,
        "indexrelid": abs(hash(name)) % 100000,
        "definition": definition,
        "method": method,
        "n_key": len(keys),
        "is_unique": unique or primary,
        "is_primary": primary,
        "is_valid": valid,
        "is_ready": True,
        "backs_constraint": constraint or primary,
        "constraint_name": name if constraint or primary else None,
        "predicate": predicate,
        "columns": columns,
        "desc_flags": desc or [False] * len(columns),
        "size_bytes": size,
        "idx_scan": scans,
    }


def rel(name: str, **kw):
    base = {
        "schema": "public",
        "name": name,
        "relid": 1,
        "kind": "r",
        "reltuples": 1e6,
        "relpages": 20000,
        "n_tup_ins": 1000,
        "n_tup_upd": 0,
        "n_tup_del": 0,
        "n_tup_hot_upd": 0,
    }
    base.update(kw)
    return base


def schema(indexes, relations=None, fks=None):
    return {
        "relations": relations or [rel("orders"), rel("customers")],
        "indexes": indexes,
        "columns": [],
        "foreign_keys": fks or [],
    }


def by_id(recs):
    return {r.id: r for r in recs}


def test_duplicates_keep_the_constraint_backed_one():
    s = schema(
        [
            ix("orders_pkey", ["id"], primary=True),
            ix("orders_id_dup", ["id"]),
            ix("a_idx", ["user_id", "created_at"]),
            ix("b_idx", ["user_id", "created_at"], scans=0),
        ]
    )
    recs, _ = recommend_drops(s, stats_window_days=30)
    got = by_id(recs)
    assert "drop-index:public.orders_id_dup" in got and "drop-index:public.orders_pkey" not in got
    dup = got["drop-index:public.b_idx"]
    assert dup.evidence["kind"] == "duplicate" and dup.evidence["kept"] == "a_idx"
    assert "drop-index:public.a_idx" not in got
    assert dup.sql == "DROP INDEX CONCURRENTLY public.b_idx;"
    assert dup.rollback_sql.startswith("CREATE INDEX CONCURRENTLY b_idx ON public.orders")


def test_prefix_redundant_but_never_a_unique_prefix():
    s = schema(
        [
            ix("u_idx", ["user_id"]),
            ix("uc_idx", ["user_id", "created_at"]),
            ix("s_uniq", ["status"], unique=True),
            ix("sc_idx", ["status", "created_at"]),
            ix("p_idx", ["total"], predicate="total > 0"),
            ix("pt_idx", ["total", "id"]),
            ix("d_idx", ["created_at"], desc=[True]),
            ix("dt_idx", ["created_at", "id"]),
        ]
    )
    recs, _ = recommend_drops(s, stats_window_days=30)
    got = by_id(recs)
    assert got["drop-index:public.u_idx"].evidence["covered_by"] == "uc_idx"
    assert "drop-index:public.s_uniq" not in got  # a unique index enforces something
    assert "drop-index:public.p_idx" not in got  # different predicate
    assert "drop-index:public.d_idx" not in got  # different order


def test_a_used_prefix_far_smaller_than_the_wider_index_is_kept():
    # what `recommend` proposes for lineitem(l_orderkey) next to the primary key (l_orderkey, l_linenumber)
    small = ix("k_idx", ["user_id"], size=20 * MB)
    s = schema([small, ix("kc_idx", ["user_id", "created_at"], size=60 * MB)])
    recs, rejected = recommend_drops(s, stats_window_days=30)
    assert "drop-index:public.k_idx" not in by_id(recs)
    [why] = [r.reason for r in rejected if r.id == "drop-index:public.k_idx"]
    assert why.startswith("a key prefix of kc_idx but used and at most 1/2 of its size (20.0 MiB vs 60.0 MiB)"), why
    small["idx_scan"] = 0  # never scanned: the wider index does its work, and then it is redundant after all
    assert by_id(recommend_drops(s, stats_window_days=30)[0])["drop-index:public.k_idx"].evidence["kind"] == (
        "prefix-redundant"
    )


def test_unused_needs_a_long_enough_window_and_never_drops_a_pk():
    s = schema(
        [
            ix("orders_pkey", ["id"], primary=True, scans=0),
            ix("cold_idx", ["note"], scans=0),
            ix("tiny_idx", ["flag"], scans=0, size=16384),
            ix("hot_idx", ["user_id"], scans=99),
        ]
    )
    recs, rejected = recommend_drops(s, stats_window_days=30)
    got = by_id(recs)
    assert set(got) == {"drop-index:public.cold_idx"}
    assert "replica" in got["drop-index:public.cold_idx"].evidence["why"]
    reasons = {r.id: r.reason for r in rejected}
    assert "primary key" in reasons["drop-index:public.orders_pkey"]
    assert "small" in reasons["drop-index:public.tiny_idx"]
    short, rejected = recommend_drops(s, stats_window_days=2)
    assert not short
    assert "shorter than 7 days" in {r.id: r.reason for r in rejected}["drop-index:public.cold_idx"]


def test_fk_without_index_when_the_parent_sees_deletes():
    fks = [
        {
            "schema": "public",
            "table": "orders",
            "name": "orders_customer_fk",
            "columns": ["customer_id"],
            "ref_schema": "public",
            "ref_table": "customers",
        },
        {
            "schema": "public",
            "table": "orders",
            "name": "orders_region_fk",
            "columns": ["region_id"],
            "ref_schema": "public",
            "ref_table": "regions",
        },
        {
            "schema": "public",
            "table": "orders",
            "name": "orders_shop_fk",
            "columns": ["shop_id", "tenant_id"],
            "ref_schema": "public",
            "ref_table": "customers",
        },
    ]
    rels = [rel("orders"), rel("customers", n_tup_del=500), rel("regions", n_tup_del=0, n_tup_upd=0)]
    s = schema([ix("orders_pkey", ["id"], primary=True), ix("ts_idx", ["tenant_id", "shop_id", "x"])], rels, fks)
    recs, rejected = recommend_drops(s, stats_window_days=30)
    fk = [r for r in recs if r.rule == "fk-index"]
    assert [r.id for r in fk] == ["fk-index:public.orders(customer_id)"]
    assert fk[0].sql.startswith("CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders")
    assert any("no deletes or updates" in r.reason for r in rejected)


@pytest.fixture
def invalid_db(make_db):
    dsn = make_db(extensions=())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, code int)")
        conn.execute("INSERT INTO t SELECT g, g % 10 FROM generate_series(1, 2000) g")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY t_code_uniq ON t (code)")
        conn.execute("CREATE INDEX t_code_idx ON t (code)")
        conn.execute("CREATE INDEX t_code_idx2 ON t (code)")
        conn.execute("ANALYZE t")
    return dsn


def test_invalid_index_from_a_failed_concurrent_build(invalid_db):
    with connect(invalid_db) as conn:
        s = read_schema(conn)
    recs, _ = recommend_drops(s, stats_window_days=None)
    got = by_id(recs)
    invalid = got["drop-index:public.t_code_uniq"]
    assert invalid.evidence["kind"] == "invalid"
    assert invalid.rollback_sql.startswith("CREATE UNIQUE INDEX CONCURRENTLY t_code_uniq ON public.t")
    assert got["drop-index:public.t_code_idx2"].evidence["kind"] == "duplicate"
    assert "drop-index:public.t_pkey" not in got
    with psycopg.connect(invalid_db, autocommit=True) as conn:  # the generated SQL runs
        conn.execute(invalid.sql)
        assert conn.execute("SELECT to_regclass('t_code_uniq')").fetchone()[0] is None

"""Indexes to drop and foreign keys to index: offline on crafted catalogs, and one real invalid index."""

from __future__ import annotations

import psycopg
import pytest

from pgadvisor.advise.drops import recommend_drops
from pgadvisor.findings import Severity, Verified
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


def dropped(recs) -> dict[str, str]:
    """{index name: rule} of the drop recommendations."""
    return {r.evidence["index"]["name"]: r.rule for r in recs if r.rule.startswith("drop-")}


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
    assert dropped(recs) == {"orders_id_dup": "drop-duplicate-index", "b_idx": "drop-duplicate-index"}
    dup = by_id(recs)["drop-duplicate-index:public.b_idx"]
    assert dup.evidence["kind"] == "duplicate" and dup.evidence["kept"] == "a_idx"
    assert dup.sql == "DROP INDEX CONCURRENTLY public.b_idx;"
    assert dup.rollback_sql.startswith("CREATE INDEX CONCURRENTLY b_idx ON public.orders")
    assert dup.severity is Severity.low and dup.verified is Verified.catalog
    assert dup.to_dict()["severity"] == "low" and dup.to_dict()["verified"] == "catalog"


def test_a_protected_duplicate_is_rejected_once():
    s = schema([ix("a_key", ["x"], constraint=True), ix("b_uniq", ["x"], unique=True), ix("c_idx", ["x"])])
    recs, rejected = recommend_drops(s, stats_window_days=30)
    assert dropped(recs) == {"c_idx": "drop-duplicate-index"}
    assert [r.reason for r in rejected] == ["duplicate of a_key but unique index (enforces uniqueness): never dropped"]
    assert rejected[0].id == "drop-duplicate-index:public.b_uniq"


def test_copies_differ_by_direction_include_or_predicate_are_no_duplicates():
    s = schema(
        [
            ix("a_idx", ["x"]),
            ix("a_desc", ["x"], desc=[True]),
            ix("a_incl", ["x", "y"], n_key=1),
            ix("a_part", ["x"], predicate="x > 0"),
            ix("a_hash", ["x"], method="hash"),
        ]
    )
    recs, _ = recommend_drops(s, stats_window_days=30)
    assert not [r for r in recs if r.rule == "drop-duplicate-index"]


def test_a_big_duplicate_is_medium():
    s = schema([ix("a_idx", ["x"]), ix("b_idx", ["x"], scans=0, size=2 << 30)])
    [rec] = recommend_drops(s, stats_window_days=30)[0]
    assert rec.rule == "drop-duplicate-index" and rec.severity is Severity.medium


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
    # s_uniq: a unique index enforces something; p_idx: another predicate; d_idx: another order
    assert dropped(recs) == {"u_idx": "drop-redundant-index"}
    assert by_id(recs)["drop-redundant-index:public.u_idx"].evidence["covered_by"] == "uc_idx"


def test_redundant_include_columns_must_be_in_the_wider_index():
    s = schema([ix("a_incl", ["a", "z"], n_key=1), ix("ab_idx", ["a", "b"]), ix("c_incl", ["c", "b"], n_key=1),
                ix("cb_idx", ["c", "b"])])
    recs, _ = recommend_drops(s, stats_window_days=30)
    assert dropped(recs) == {"c_incl": "drop-redundant-index"}  # z is not in ab_idx


def test_a_used_prefix_far_smaller_than_the_wider_index_is_kept():
    # what `recommend` proposes for lineitem(l_orderkey) next to the primary key (l_orderkey, l_linenumber)
    small = ix("k_idx", ["user_id"], size=20 * MB)
    s = schema([small, ix("kc_idx", ["user_id", "created_at"], size=60 * MB)])
    recs, rejected = recommend_drops(s, stats_window_days=30)
    assert dropped(recs) == {}
    [why] = [r.reason for r in rejected if r.id == "drop-redundant-index:public.k_idx"]
    assert why.startswith("a key prefix of kc_idx but used and at most 1/2 of its size (20.0 MiB vs 60.0 MiB)"), why
    small["idx_scan"] = 0  # never scanned: the wider index does its work, and then it is redundant after all
    rec = by_id(recommend_drops(s, stats_window_days=30)[0])["drop-redundant-index:public.k_idx"]
    assert rec.evidence["kind"] == "prefix-redundant"


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
    assert set(got) == {"drop-unused-index:public.cold_idx"}
    assert "replica" in got["drop-unused-index:public.cold_idx"].evidence["why"]
    reasons = {r.id: r.reason for r in rejected}
    assert "primary key" in reasons["drop-unused-index:public.orders_pkey"]
    assert "small" in reasons["drop-unused-index:public.tiny_idx"]
    short, rejected = recommend_drops(s, stats_window_days=2)
    assert not short
    assert "shorter than 7 days" in {r.id: r.reason for r in rejected}["drop-unused-index:public.cold_idx"]
    unknown = {r.id: r.reason for r in recommend_drops(s, stats_window_days=None)[1]}
    assert "(unknown) is shorter" in unknown["drop-unused-index:public.cold_idx"]


def test_unused_without_counters_and_one_finding_per_index():
    s = schema(
        [
            ix("nostat_idx", ["a"], scans=0),
            ix("twin_a", ["b"], scans=0),
            ix("twin_b", ["b"], scans=0),
            ix("broken_idx", ["c"], scans=0, valid=False),
            ix("expr_idx", ["lower(note)"], scans=0),
        ]
    )
    s["indexes"][0]["idx_scan"] = None  # no statistics for it: never called unused
    recs, _ = recommend_drops(s, stats_window_days=30)
    # twin_b is a duplicate, broken_idx invalid: neither is also reported unused
    assert dropped(recs) == {"twin_a": "drop-unused-index", "twin_b": "drop-duplicate-index",
                             "broken_idx": "drop-invalid-index", "expr_idx": "drop-unused-index"}
    assert "statistics on its expression" in by_id(recs)["drop-unused-index:public.expr_idx"].why


def test_invalid_index_offline():
    s = schema([ix("t_code_uniq", ["code"], unique=True, valid=False, scans=0), ix("t_code_idx", ["code"])])
    recs, _ = recommend_drops(s, stats_window_days=None)
    [rec] = recs
    assert rec.id == "drop-invalid-index:public.t_code_uniq" and rec.severity is Severity.medium
    assert rec.evidence["kind"] == "invalid" and rec.title == "Drop invalid index t_code_uniq on orders (50.0 MiB)"
    assert rec.rollback_sql.startswith("CREATE UNIQUE INDEX CONCURRENTLY t_code_uniq ON public.orders")


def test_ranking_is_by_rule_then_target():
    s = schema([ix("z_bad", ["a"], valid=False), ix("b_dup", ["c"]), ix("a_dup", ["c"], scans=0),
                ix("cold", ["d"], scans=0), ix("x", ["e"], table="customers", valid=False)])
    recs, _ = recommend_drops(s, stats_window_days=30)
    # x is on customers, z_bad on orders
    assert [r.id for r in recs] == ["drop-duplicate-index:public.a_dup", "drop-invalid-index:public.x",
                                    "drop-invalid-index:public.z_bad", "drop-unused-index:public.cold"]


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
    fk = [r for r in recs if r.rule == "fk-without-index"]
    assert [r.id for r in fk] == ["fk-without-index:public.orders(customer_id)"]
    assert fk[0].sql.startswith("CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders")
    assert any("no deletes or updates" in r.reason for r in rejected)
    assert fk[0].index is not None and fk[0].index.label() == "public.orders(customer_id)"
    assert fk[0].verified is Verified.rule and fk[0].evidence["kind"] == "fk-index"
    assert "index" not in fk[0].to_dict()


def test_fk_small_child_big_parent_writes_and_a_leading_index_in_any_order():
    fks = [
        {"schema": "public", "table": "orders", "name": f"fk_{c[0]}", "columns": c, "ref_schema": "public",
         "ref_table": "customers"}
        for c in (["a"], ["b", "c"], ["d"], ["d"])
    ]
    s = schema([ix("cb_idx", ["c", "b", "x"]), ix("d_part", ["d"], predicate="d > 0")],
               [rel("orders", relpages=50_000), rel("customers", n_tup_upd=10**4)], fks)
    recs, _ = recommend_drops(s, stats_window_days=30)
    # (b, c) is served by (c, b, x); a partial index serves no foreign key; two keys on (d) are one finding
    assert [r.id for r in recs] == ["fk-without-index:public.orders(a)", "fk-without-index:public.orders(d)"]
    assert all(r.severity is Severity.medium for r in recs)  # 50,000 pages × 10,000 updates
    s["relations"][0]["reltuples"] = 10
    recs, rejected = recommend_drops(s, stats_window_days=30)
    assert not recs and all("is small (10 rows)" in r.reason for r in rejected)


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
    invalid = got["drop-invalid-index:public.t_code_uniq"]
    assert invalid.evidence["kind"] == "invalid"
    assert invalid.rollback_sql.startswith("CREATE UNIQUE INDEX CONCURRENTLY t_code_uniq ON public.t")
    assert got["drop-duplicate-index:public.t_code_idx2"].evidence["kind"] == "duplicate"
    assert not any(k.endswith(":public.t_pkey") for k in got)
    with psycopg.connect(invalid_db, autocommit=True) as conn:  # the generated SQL runs
        conn.execute(invalid.sql)
        assert conn.execute("SELECT to_regclass('t_code_uniq')").fetchone()[0] is None

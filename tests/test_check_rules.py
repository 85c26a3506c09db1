"""`check`'s static rules on the seeded fixture (fixtures/check): every rule reports its seeded problem and
nothing on the clean twins, on PostgreSQL 15 and 18."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import psycopg
import pytest

from pgadvisor.advise.rules import ALL, CATALOG
from pgadvisor.advise.rules.common import CatalogOptions, CatalogScan
from pgadvisor.pg.catalog import read_schema

_spec = importlib.util.spec_from_file_location(
    "bench_check_rules", Path(__file__).parent / "bench" / "bench_check_rules.py")
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_check_rules"] = bench  # dataclasses look their module up
_spec.loader.exec_module(bench)


@pytest.fixture
def seeded(any_make_db) -> str:
    dsn = any_make_db(extensions=())
    bench.load(dsn)
    return dsn


def test_every_static_rule_has_a_seeded_problem():
    rules = {s.rule for s in bench.fixture() if s.rule}
    static = {r.id for r in CATALOG if r.kind == "static"}
    assert static <= rules, static - rules
    assert all(s.expect for s in bench.fixture() if s.rule)


def test_each_rule_reports_its_problem_and_nothing_on_the_twins(seeded):
    recs = bench.run_static(seeded)
    expected = sorted(k for s in bench.fixture() for k in s.expect)
    assert sorted(r.id for r in recs) == expected
    for row in bench.score(recs, bench.expected_static(bench.fixture())):
        assert (row["precision"], row["recall"]) == (1.0, 1.0), row
    for r in recs:  # every finding is complete: a fix (or a manual note) and its undo
        assert r.sql and r.rollback_sql and r.why and r.target.startswith("bad."), r
        assert r.severity == ALL[r.rule].default_severity or r.rule in ("fk-without-index",), r


def test_thresholds_override_and_statistics_gate(seeded):
    with psycopg.connect(seeded) as conn:
        schema = read_schema(conn)
    rule = ALL["sequence-near-overflow"]
    scan = CatalogScan(schema, CatalogOptions(trust_statistics=False))
    assert {r.id for r in rule.find(scan)} >= {"sequence-near-overflow:bad.seqt_id_seq"}
    # seqt is at 93.1 % of its range: a 95 % threshold silences it
    strict = CatalogScan(schema, CatalogOptions(trust_statistics=False,
                                                thresholds={"sequence-near-overflow": {"used_pct": 95}}))
    assert {r.id for r in rule.find(strict) if r.target.startswith("bad.")} == set()
    # recommend's view (statistics trusted): the fixture's parent saw no deletes, so no FK index finding
    trusted = CatalogScan(schema, CatalogOptions())
    assert not [r for r in ALL["fk-without-index"].find(trusted) if r.target.startswith("bad.")]
    assert any(x.id == "fk-without-index:bad.fkc(parent_id)" for x in trusted.rejected)


def test_catalog_reads_the_parts_the_rules_need(seeded):
    with psycopg.connect(seeded) as conn:
        schema = read_schema(conn)
    seq = {s["name"]: s for s in schema["sequences"] if s["schema"] == "bad"}
    assert seq["seqt_id_seq"]["last_value"] == 2_000_000_000 and seq["seqt_id_seq"]["owner_column"] == "id"
    assert seq["seqk_seq"]["owner_column"] is None and seq["seqk_seq"]["type"] == "bigint"
    nv = [c for c in schema["constraints"] if c["name"] == "nv_qty_check"]
    assert sorted((c["schema"], c["validated"]) for c in nv) == [("bad", False), ("good", True)]
    fk = next(f for f in schema["foreign_keys"] if f["schema"] == "bad" and f["table"] == "ftc")
    assert (fk["column_types"], fk["ref_column_types"], fk["ref_columns"]) == (["integer"], ["bigint"], ["id"])
    ser = next(c for c in schema["columns"] if c["schema"] == "bad" and c["table"] == "ser" and c["column"] == "id")
    assert ser["serial_sequence"] == "bad.ser_id_seq" and ser["identity"] is None
    nul2 = next(i for i in schema["indexes"] if i["name"] == "nul2_tenant_code_key")
    assert nul2["nulls_not_distinct"] is True


# -- workload rules ------------------------------------------------------------------------------------
APP_SCHEMA = """
CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id bigint NOT NULL,
                     status text NOT NULL, note text, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
CREATE TABLE countries (code text PRIMARY KEY, name text NOT NULL);
"""
APP_STATEMENTS = (
    "SELECT * FROM orders WHERE status = 'lost'",  # no index reaches it: a scan of all orders
    "SELECT * FROM orders WHERE customer_id = 42",  # the index serves it at any size
    "SELECT id, note FROM orders ORDER BY note",  # sorts all orders
    "SELECT * FROM orders ORDER BY created_at DESC LIMIT 10",  # a top-N sort, but of all orders
    "SELECT name FROM countries WHERE name = 'France'",  # small in production
)


def _app_db(make_db) -> str:
    dsn = make_db()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(APP_SCHEMA)
        conn.execute("SELECT pg_stat_statements_reset()")
        for text in APP_STATEMENTS:  # the application's tests
            conn.execute(text)
    return dsn


def _run_workload(facts, thresholds=None) -> dict[str, object]:
    from pgadvisor.advise.rules import WORKLOAD

    scan = CatalogScan({}, CatalogOptions(trust_statistics=False, thresholds=thresholds or {}))
    return {r.id: r for rule in WORKLOAD if rule.id != "index-would-help" for r in rule.find_workload(facts, scan)}


def test_workload_rules_cost_the_tests_statements_at_declared_sizes(make_db):
    from pgadvisor.advise.rules.workload import gather
    from pgadvisor.sql.fingerprint import fingerprint

    dsn = _app_db(make_db)
    baseline = [fingerprint(APP_STATEMENTS[1])]
    facts = gather(dsn, rows={"public.orders": 5e6, "public.countries": 250}, baseline_statements=baseline)
    assert set(facts.fingerprints) >= {fingerprint(t) for t in APP_STATEMENTS}
    found = _run_workload(facts)
    lost, by_note, latest = (fingerprint(APP_STATEMENTS[i]) for i in (0, 2, 3))
    scans = {k for k in found if k.startswith("large-table-scan:")}
    assert scans == {f"large-table-scan:public.orders:{fp}" for fp in (lost, by_note, latest)}
    assert {k for k in found if k.startswith("large-table-sort:")} == {f"large-table-sort:public.orders:{by_note}"}
    rec = found[f"large-table-scan:public.orders:{lost}"]
    assert rec.evidence["production"] == {"rows": 5e6, "pages": pytest.approx(rec.evidence["production"]["pages"]),
                                          "source": "config"} and rec.evidence["production"]["pages"] > 10_000
    new = {k for k in found if k.startswith("new-statement:")}
    assert f"new-statement:{fingerprint(APP_STATEMENTS[1])}" not in new and f"new-statement:{lost}" in new
    assert facts.fingerprints == sorted(facts.fingerprints) and baseline[0] in facts.fingerprints
    # a higher bar silences the scans of 5 million rows
    assert not [k for k in _run_workload(facts, {"large-table-scan": {"min_rows": 1e7}})
                if k.startswith("large-table-scan:")]


def test_workload_sizes_from_a_production_store(make_db, tmp_path):
    from pgadvisor.advise.rules.workload import gather
    from pgadvisor.collect import collect
    from pgadvisor.errors import UsageError
    from pgadvisor.store import open_store

    prod = make_db()
    with psycopg.connect(prod, autocommit=True) as conn:
        conn.execute(APP_SCHEMA)
        conn.execute("INSERT INTO orders (customer_id, status) SELECT g % 100, 'new' FROM generate_series(1, 20000) g")
        conn.execute("ANALYZE orders")
    path = str(tmp_path / "prod.sqlite")
    with open_store(path) as st:
        st.save_snapshot(collect(prod, "prod", plans_top=0))
    facts = gather(_app_db(make_db), production_store=path, server="prod")
    assert facts.sizes["public.orders"].rows == 20000 and facts.sizes["public.orders"].source == "store prod"
    found = _run_workload(facts, {"large-table-scan": {"min_rows": 10_000}})
    assert any(k.startswith("large-table-scan:public.orders:") for k in found)
    assert not any(k.startswith("new-statement:") for k in found)  # no baseline: nothing is new
    with pytest.raises(UsageError, match="no server 'staging'"):
        gather(prod, production_store=path, server="staging")
    with pytest.raises(UsageError, match="no store at"):
        gather(prod, production_store=str(tmp_path / "missing.sqlite"))


def _orders_db(make_db, *statements: str) -> str:
    """A database of APP_SCHEMA with 50,000 orders (tests that load data: the advisor's costs are the test
    database's, see index-would-help's doc), pg_stat_statements reset, then `statements` run."""
    dsn = make_db(extensions=("pg_stat_statements", "hypopg"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(APP_SCHEMA)
        conn.execute("INSERT INTO orders (customer_id, status, note) SELECT g % 500, 's' || (g % 1000), "
                     "'n' || (g % 997) FROM generate_series(1, 50000) g")
        conn.execute("ANALYZE orders")
        conn.execute("SELECT pg_stat_statements_reset()")
        for sql in statements:
            conn.execute(sql)
    return dsn


def test_index_would_help_is_the_advisors_index(make_db):
    from pgadvisor.advise.rules import ALL
    from pgadvisor.advise.rules.workload import gather

    dsn = _orders_db(make_db, "SELECT * FROM orders WHERE status = 's7'")
    facts = gather(dsn, rows={"public.orders": 5e6})
    scan = CatalogScan({}, CatalogOptions(trust_statistics=False))
    found = {r.id: r for r in ALL["index-would-help"].find_workload(facts, scan)}
    assert list(found) == ["index-would-help:public.orders:status"]
    rec = found["index-would-help:public.orders:status"]
    assert rec.sql.startswith("CREATE INDEX CONCURRENTLY") and rec.rollback_sql.startswith("DROP INDEX CONCURRENTLY")


def test_index_would_help_says_in_the_summary_when_its_cap_cut_it_short(make_db):
    from pgadvisor.advise.rules.workload import gather
    from pgadvisor.check import CheckConfig, evaluate
    from pgadvisor.check import gather as check_gather

    # the status lookup is the statement of most total time
    dsn = _orders_db(make_db, *["SELECT * FROM orders WHERE status = 's7'"] * 5,
                     "SELECT * FROM orders WHERE note = 'n5'")
    inputs = check_gather(dsn)

    def run(cap: float, seconds: float = 60.0):
        config = CheckConfig(fail_on="never", include=("index-would-help",), rows={"public.orders": 5e6},
                             thresholds={"index-would-help": {"max_statements": cap, "time_limit_s": seconds}})
        return evaluate(inputs, config, workload=lambda: gather(dsn, rows=config.rows, schema=inputs.schema))

    cut = run(1)
    rule = next(r for r in cut.rules if r.id == "index-would-help")
    assert rule.limit == "advised on the 1 statements of most total time of 2 an index could serve"
    assert f"index-would-help cut short ({rule.limit})" in cut.summary_line()
    assert [f.key for f in cut.findings] == ["index-would-help:public.orders:status"]
    full = run(100)
    assert "cut short" not in full.summary_line()
    hurried = next(r for r in run(100, 1e-6).rules if r.id == "index-would-help")
    assert hurried.limit.startswith("its 1e-06 s time limit cut ") and "short" in hurried.limit
    assert sorted(f.key for f in full.findings) == ["index-would-help:public.orders:note",
                                                    "index-would-help:public.orders:status"]


def test_workload_fixture_every_rule_fires_on_its_statement_and_not_on_the_twins(any_admin_dsn, any_make_db):
    dsn = any_make_db(extensions=("pg_stat_statements", "hypopg"))
    bench.load_workload(any_admin_dsn, dsn)
    recs = bench.run_workload(dsn)
    expected = bench.expected_workload()
    assert sorted(r.id for r in recs) == sorted(k for keys in expected.values() for k in keys)
    for row in bench.score(recs, expected):
        assert (row["precision"], row["recall"]) == (1.0, 1.0), row


def test_runtime_rules_read_the_statistics_counters(make_db):
    dsn = make_db(extensions=())
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in ("fresh", "stale", "churned", "vacuumed"):
            conn.execute(f"CREATE TABLE {name} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v int) "
                         "WITH (autovacuum_enabled = off)")
            conn.execute(f"INSERT INTO {name} (v) SELECT g FROM generate_series(1, 20000) g")
        conn.execute("SELECT pg_stat_force_next_flush()")  # the inserts are counted before the ANALYZEs
        conn.execute("SELECT 1")
        conn.execute("ANALYZE fresh")
        conn.execute("ANALYZE churned")
        conn.execute("ANALYZE vacuumed")
        conn.execute("DELETE FROM churned WHERE id % 2 = 0")
        conn.execute("DELETE FROM vacuumed WHERE id % 2 = 0")
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT 1")
        conn.execute("VACUUM ANALYZE vacuumed")
        conn.execute("SELECT pg_stat_force_next_flush()")
    with psycopg.connect(dsn) as conn:
        schema = read_schema(conn)
    scan = CatalogScan(schema, CatalogOptions(thresholds={"table-bloat": {"min_bytes": 0}}))
    stale = {r.id for r in ALL["stale-statistics"].find(scan)}
    bloat = {r.id for r in ALL["table-bloat"].find(scan)}
    # churned: 10,000 of 20,000 rows deleted since its ANALYZE — stale too
    assert stale == {"stale-statistics:public.stale", "stale-statistics:public.churned"}
    assert bloat == {"table-bloat:public.churned"}
    assert ALL["table-bloat"].kind == ALL["stale-statistics"].kind == "runtime"


def test_index_would_help_keys_name_the_index():
    from pgadvisor.advise.rules.index_would_help import key_of
    from pgadvisor.indexdef import IndexDef, KeyPart

    plain = IndexDef("public", "orders", (KeyPart(column="status"), KeyPart(column="created_at", descending=True)))
    assert key_of(plain) == "index-would-help:public.orders:status,created_at DESC"
    covering = IndexDef("public", "orders", (KeyPart(column="status"),), include=("total",))
    assert key_of(covering) == "index-would-help:public.orders:(status) INCLUDE(total)"
    gin = IndexDef("public", "docs", (KeyPart(column="tags"),), method="gin")
    assert key_of(gin) == "index-would-help:public.docs:USING gin(tags)"


def test_a_partitioned_tables_index_is_dropped_and_rebuilt_without_concurrently(seeded):
    recs = {r.id: r for r in bench.run_static(seeded)}
    rec = recs["low-cardinality-index:bad.pflags_active_idx"]
    assert rec.rollback_sql == "CREATE INDEX pflags_active_idx ON bad.pflags USING btree (active);"
    assert "DROP INDEX bad.pflags_active_idx;" in rec.sql and "CONCURRENTLY bad.pflags" not in rec.sql
    flat = recs["low-cardinality-index:bad.flags_active_idx"]
    assert flat.rollback_sql.startswith("CREATE INDEX CONCURRENTLY flags_active_idx ON bad.flags")


def _run_sql(dsn: str, text: str) -> None:
    """A fix or undo: its statements one by one (CONCURRENTLY cannot run inside a transaction block)."""
    import re

    with psycopg.connect(dsn, autocommit=True) as conn:
        for stmt in (s for s in re.split(r";\s*", text) if s.strip()):
            conn.execute(stmt)


def test_every_fix_removes_its_finding_and_every_undo_brings_it_back(seeded):
    found = {r.id: r for r in bench.run_static(seeded)}
    fixable = [r for r in found.values() if not r.sql.startswith("-- manual")]
    assert len(fixable) >= 15, sorted(found)
    for rec in fixable:
        _run_sql(seeded, rec.sql)
        assert rec.id not in {r.id for r in bench.run_static(seeded)}, (rec.id, rec.sql)
    # the undo: back to the problem (an invalid index's undo builds it again, which fails as its build did)
    for rec in fixable:
        if rec.rollback_sql.startswith("-- manual") or rec.rule == "drop-invalid-index":
            continue
        _run_sql(seeded, rec.rollback_sql)
        assert rec.id in {r.id for r in bench.run_static(seeded)}, (rec.id, rec.rollback_sql)

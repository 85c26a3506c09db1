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
    for row in bench.score(recs, bench.fixture()):
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

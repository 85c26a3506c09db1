"""Advisor logic on recorded workloads (fixtures/workloads/, re-recorded by tests/record_fixtures.py):
candidates and schema rules run on a Workload's statements and schema alone, without a server."""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest

from pgadvisor.advise.drops import recommend_drops
from pgadvisor.advise.indexes.candidates import CandidateGenerator
from pgadvisor.advise.indexes.statements import prepare
from pgadvisor.advise.schema import SchemaView
from pgadvisor.pg.guard import CodeGuard
from pgadvisor.workload import StatementStats, Workload

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "workloads"
# a fixture is read by every offline test run and kept in git: it stays small
MAX_FIXTURE_BYTES = 300_000


@cache
def fixture(name: str) -> Workload:
    return Workload.from_json((FIXTURES / f"{name}.json").read_text())


def statement(w: Workload, needle: str) -> StatementStats:
    """The one statement whose text (on one line) contains `needle`."""
    [s] = [s for s in w.statements if needle in " ".join(s.query.split())]
    return s


def candidates(w: Workload, s: StatementStats, *, logged: bool = True) -> set[str]:
    """The candidates for one statement, as `schema.table(keys) [INCLUDE(...)] [WHERE ...]` labels, after
    the advisor's first stage (indexes.statements.prepare): from its logged text and examples, or
    (`logged=False`) from pg_stat_statements' text alone."""
    if not logged:
        s = replace(s, query=s.template or s.query, template=None, examples=())
    view = SchemaView(w.schema)
    prepared, _ = prepare([s], view, CodeGuard(), None)
    assert not prepared.skipped, prepared.skipped
    cands, _ = CandidateGenerator(view).generate([(q.key, q.ps) for q in prepared.stmts])
    return {c.index.label(qualify=True, sep=",") for c in cands}


@pytest.mark.parametrize("name", ["ecommerce", "seeded_problems"])
def test_fixtures_are_small_and_current(name):
    path = FIXTURES / f"{name}.json"
    assert path.stat().st_size < MAX_FIXTURE_BYTES
    w = fixture(name)
    assert w.statements and w.schema["relations"] and w.schema["columns"] and w.coverage["complete"]
    assert w.sampled_statements > 0  # recorded with the server's JSON log, as `collect --log` reads it


def test_ecommerce_workload_carries_its_window_writes():
    w = fixture("ecommerce")
    assert w.table_writes["public.orders"]["n_tup_ins"] > 0 and w.table_writes["public.orders"]["n_tup_upd"] > 0
    assert w.table_writes["public.products"] == {"n_tup_ins": 0.0, "n_tup_upd": 0.0, "n_tup_del": 0.0,
                                                 "n_tup_hot_upd": 0.0}
    assert w.days is not None and w.days > 0


def test_the_whole_recorded_workload_is_advisable():
    for name in ("ecommerce", "seeded_problems"):
        w = fixture(name)
        prepared, report = prepare(w.statements, SchemaView(w.schema), CodeGuard(), None)
        assert report["parse_rate"] == 1.0 and not prepared.skipped
        assert len(prepared.stmts) == len(w.statements)


def test_equality_then_sort_keys():
    w = fixture("ecommerce")
    got = candidates(w, statement(w, "FROM orders WHERE user_id = $1 ORDER BY created_at DESC"))
    assert "public.orders(user_id,created_at)" in got  # equality first, then the sort (scanned backwards)
    assert "public.orders(created_at,user_id)" not in got


def test_the_logged_constant_makes_a_partial_index():
    """pg_stat_statements shows `status = $1`; the log shows the application's own 'pending'."""
    w = fixture("ecommerce")
    s = statement(w, "WHERE status = 'pending' AND created_at < $1")
    assert s.template is not None and "'pending'" not in s.template
    assert "public.orders(created_at) WHERE status = 'pending'" in candidates(w, s)
    assert not any("WHERE" in c for c in candidates(w, s, logged=False))


def test_expression_and_prefix_search_keys():
    w = fixture("ecommerce")
    assert "public.users(lower(email))" in candidates(w, statement(w, "WHERE lower(email) = $1"))
    search = statement(w, "WHERE lower(name) LIKE $1")
    # the logged values are prefix patterns ('abc%'): text_pattern_ops serves them in any collation
    assert "public.products(lower(name) text_pattern_ops)" in candidates(w, search)
    assert not any("text_pattern_ops" in c for c in candidates(w, search, logged=False))


def test_a_partial_index_on_a_boolean_column_of_the_filter():
    w = fixture("ecommerce")
    got = candidates(w, statement(w, "WHERE category = $1 AND active ORDER BY popularity DESC LIMIT 20 OFFSET $2"))
    assert "public.products(category,popularity) WHERE active" in got


def test_what_an_existing_index_serves_is_never_a_candidate():
    w = fixture("ecommerce")
    assert candidates(w, statement(w, "FROM users WHERE id = $1")) == set()  # users_pkey serves it
    view = SchemaView(w.schema)
    prepared, _ = prepare(w.statements, view, CodeGuard(), None)
    cands, rejected = CandidateGenerator(view).generate([(q.key, q.ps) for q in prepared.stmts])
    assert "create-index:public.orders(id)" not in {c.id for c in cands}
    [served] = [r for r in rejected if r.id == "create-index:public.orders(id)"]
    assert served.reason == "existing index public.orders_pkey serves it"


# -- schema rules on the seeded problems ----------------------------------------------------------------

def _findings(recs) -> dict[str, str]:
    return {r.id: r.rule for r in recs}


def test_seeded_problems_are_found():
    w = fixture("seeded_problems")
    recs, rejected = recommend_drops(w.schema, stats_window_days=30)
    assert _findings(recs) == {
        # its twin customers_email_again is the one the workload used
        "drop-duplicate-index:public.customers_email": "drop-duplicate-index",
        # a key prefix of invoices_status_created
        "drop-redundant-index:public.invoices_status": "drop-redundant-index",
        "drop-unused-index:public.events_payload": "drop-unused-index",  # 2.8 MiB, never scanned
        # a failed CREATE UNIQUE INDEX CONCURRENTLY
        "drop-invalid-index:public.events_kind_key": "drop-invalid-index",
        # customers sees deletes, and every one scans invoices
        "fk-without-index:public.invoices(customer_id)": "fk-without-index",
    }
    assert [r.reason for r in rejected if r.target == "public.invoices"] == ["unused but primary key: never dropped"]


def test_a_short_statistics_window_calls_nothing_unused():
    w = fixture("seeded_problems")
    recs, rejected = recommend_drops(w.schema, stats_window_days=1.0)
    assert "drop-unused-index" not in _findings(recs).values()
    [r] = [r for r in rejected if r.id.endswith(":public.events_payload")]
    assert "shorter than 7 days" in r.reason


def test_the_seeded_schema_has_a_table_without_primary_key():
    """No rule reads this yet; the fixture holds the case for the one that will."""
    w = fixture("seeded_problems")
    with_pk = {f"{i['schema']}.{i['table']}" for i in w.schema["indexes"] if i["is_primary"]}
    tables = {f"{r['schema']}.{r['name']}" for r in w.schema["relations"]}
    assert tables - with_pk == {"public.events"}

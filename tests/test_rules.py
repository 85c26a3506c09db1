"""The rule registry, the typed findings and the review document, offline."""

from __future__ import annotations

import json
import pkgutil
import re

import pytest

import pgadvisor.advise.rules as rules_pkg
from pgadvisor.advise.review import _dedupe
from pgadvisor.advise.rules import ALL, CATALOG, DROPS, KINDS, create_index
from pgadvisor.advise.schema import index_name
from pgadvisor.findings import Recommendation, Rejected, Review, Severity, Verified
from pgadvisor.indexdef import IndexDef, KeyPart

# CI allow-lists and the feedback loop key on these: a rule may be added, never renamed
STABLE_IDS = (
    "create-index",
    "drop-duplicate-index",
    "drop-invalid-index",
    "drop-redundant-index",
    "drop-unused-index",
    "fk-without-index",
)
# the parts every rule's documentation has
DOC_SECTIONS = ("**What it finds.**", "**Why it matters.**", "**The fix.**", "**When it is safe.**",
                "**False positives.**")
HELPERS = {"common", "severity", "workload", "docs", "column_types"}


def test_rule_ids_are_stable_distinct_and_kebab_case():
    assert set(STABLE_IDS) <= set(ALL)
    for rule_id, rule in ALL.items():
        assert rule.id == rule_id and re.fullmatch(r"[a-z]+(-[a-z]+)+", rule_id), rule_id
        assert rule.module.__name__.rsplit(".", 1)[1] == rule_id.replace("-", "_")
    assert len({r.module for r in ALL.values()}) == len(ALL)


def test_every_rule_module_is_registered_and_documented():
    modules = {m.name for m in pkgutil.iter_modules(rules_pkg.__path__)} - HELPERS
    assert modules == {r.module.__name__.rsplit(".", 1)[1] for r in ALL.values()}
    for rule in ALL.values():
        assert rule.summary.startswith(f"{rule.id}: "), rule.summary
        missing = [s for s in DOC_SECTIONS if s not in rule.doc]
        assert not missing, f"{rule.id}: {missing}"
        assert isinstance(rule.default_severity, Severity)


def test_catalog_rules_run_offline_and_create_index_is_the_advisors():
    assert ALL["create-index"].find is None
    assert [r.id for r in DROPS] == ["drop-invalid-index", "drop-duplicate-index", "drop-redundant-index",
                                     "drop-unused-index", "fk-without-index"]
    assert all(r.find is not None for r in CATALOG) and set(DROPS) <= set(CATALOG)


def test_every_rule_has_a_kind_and_its_thresholds_resolve():
    from pgadvisor.advise.rules.common import CatalogOptions, CatalogScan

    assert all(r.kind in KINDS for r in ALL.values())
    assert ALL["drop-unused-index"].kind == "runtime" and ALL["fk-without-index"].kind == "static"
    # a rule with neither find is an advisor's (create-index, partition-table): its findings need a database
    assert all(r.kind == "workload" for r in ALL.values() if r.find is None and r.find_workload is None)
    assert all(r.find is None for r in ALL.values() if r.kind == "workload")
    for rule in ALL.values():
        for name, value in rule.thresholds.items():
            assert isinstance(value, (int, float)), (rule.id, name)
            scan = CatalogScan({}, CatalogOptions(thresholds={rule.id: {name: value + 1}}))
            assert scan.threshold(rule.id, name) == value + 1
            assert CatalogScan({}, CatalogOptions()).threshold(rule.id, name) == value


def test_docs_rules_md_is_generated_from_the_rules():
    """docs/rules.md is `python3 -m pgadvisor.advise.rules.docs`'s output: regenerate it after editing a rule."""
    from pathlib import Path

    from pgadvisor.advise.rules.docs import THEIRS, render

    committed = (Path(__file__).parents[1] / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == render(), "docs/rules.md is stale: python3 -m pgadvisor.advise.rules.docs > docs/rules.md"
    assert {ours for _, _, ours, _ in THEIRS if ours} <= set(ALL)
    assert all(why for _, _, ours, why in THEIRS if ours is None)


def rec(**kw) -> Recommendation:
    base = dict(id="create-index:public.t(k)", rule="create-index", severity="medium", title="t", target="public.t",
                sql="CREATE INDEX CONCURRENTLY t_k_idx ON public.t USING btree (k);",
                rollback_sql="DROP INDEX CONCURRENTLY public.t_k_idx;", verified="hypopg")
    return Recommendation(**{**base, **kw})


def test_severity_and_verified_are_enums_that_print_as_before():
    r = rec()
    assert r.severity is Severity.medium and r.verified is Verified.hypopg
    assert f"{r.severity} {r.verified}" == "medium hypopg" and r.severity == "medium"
    d = r.to_dict()
    assert list(d) == ["id", "rule", "severity", "title", "target", "sql", "rollback_sql", "benefit", "cost",
                       "confidence", "verified", "evidence"]
    assert json.dumps(d["severity"]) == '"medium"' and type(d["verified"]) is str
    with pytest.raises(ValueError):
        rec(severity="urgent")


def test_review_document_keeps_the_recommend_json_shape():
    review = Review("shop", "16.4", [rec()], [Rejected("x", "public.t", "why not")], {"seconds": 1.0},
                    notes=["a note"], workload={"window": {"start": 1}, "coverage": {}, "sampled_statements": 0},
                    applied=[], remeasured=[], server="prod")
    doc = review.to_document()
    assert list(doc) == ["schema", "pgadvisor", "database", "server_version", "stats", "recommendations", "rejected",
                         "notes", "window", "coverage", "sampled_statements", "applied", "remeasured", "server"]
    assert doc["rejected"] == [{"id": "x", "target": "public.t", "reason": "why not", "detail": {}}]
    bare = Review("shop", "16.4", [], [], {}).to_document()
    assert list(bare) == ["schema", "pgadvisor", "database", "server_version", "stats", "recommendations", "rejected"]


def test_review_reads_the_advisor_statistics_by_name():
    stats = {"statements": {"total": 5, "considered": 4, "skip_reasons": {"utility": 1}},
             "selection": {"time_limit_hit": ["screening"], "time_limit_s": 2.0, "steps": 3,
                           "slowed_statements": [{"query": "UPDATE t SET k = 1", "slowdown_pct": 5.0, "why": "HOT"}]},
             "candidates": {"not_screened": 7}, "mode": "heuristic", "mode_reason": None}
    review = Review("shop", "16.4", [], [], stats)
    assert (review.statements_total, review.statements_considered, review.skip_reasons) == (5, 4, {"utility": 1})
    assert (review.time_limit_hit, review.time_limit_s, review.search_steps, review.not_screened) == (
        ["screening"], 2.0, 3, 7)
    assert review.heuristic_reason == "hypopg is not available" and len(review.slowed_statements) == 1
    empty = Review("shop", "16.4", [], [], {})
    assert empty.time_limit_hit == [] and empty.heuristic_reason is None and empty.parse_rate == 1


def test_one_recommendation_per_index_definition_whatever_its_name():
    d = IndexDef("public", "Customer Orders", (KeyPart(column="UserId", expr_columns=("UserId",)),))
    advisor = create_index.recommendation(d, index_name(d), severity="high", title="a", verified="hypopg",
                                          evidence={"why": "the workload"})
    fk = create_index.recommendation(d, "another name", id='fk-without-index:public.Customer Orders(UserId)',
                                     rule="fk-without-index", severity="low", title="b", verified="rule",
                                     evidence={"why": "a foreign key"})
    [kept] = _dedupe([fk, advisor])
    assert kept is advisor and kept.evidence["also"] == [{"rule": "fk-without-index", "why": "a foreign key"}]
    # every CREATE INDEX is built with its IndexDef (create_index.recommendation); without one only the id
    # matches, never a look-alike SQL text
    bare = rec(id="create-index:x", sql=advisor.sql.replace(index_name(d), '"other name"'), index=None)
    assert len(_dedupe([advisor, bare])) == 2
    drops = [rec(id="drop-unused-index:public.a", rule="drop-unused-index", sql="DROP INDEX CONCURRENTLY public.a;"),
             rec(id="drop-unused-index:public.b", rule="drop-unused-index", sql="DROP INDEX CONCURRENTLY public.b;")]
    assert len(_dedupe(drops)) == 2


def test_a_foreign_key_index_is_merged_into_a_chosen_index_that_leads_with_its_columns():
    """Issue 10: `fk-without-index order_items(order_id)` next to the chosen `order_items(order_id) INCLUDE
    (product_id, quantity)` is two indexes for one need: the chosen one serves the child lookups."""
    def part(c: str) -> KeyPart:
        return KeyPart(column=c, expr_columns=(c,))

    def fk_rec(*cols: str) -> Recommendation:
        d = IndexDef("public", "order_items", tuple(part(c) for c in cols))
        rid = f"fk-without-index:public.order_items({','.join(cols)})"
        return create_index.recommendation(d, index_name(d), id=rid, rule="fk-without-index", severity="low",
                                           title="fk", verified="rule", evidence={"why": "a foreign key"})

    def chosen(keys: tuple[str, ...], include: tuple[str, ...] = (), predicate: str | None = None) -> Recommendation:
        d = IndexDef("public", "order_items", tuple(part(c) for c in keys), include=include, predicate=predicate)
        return create_index.recommendation(d, index_name(d), severity="high", title="chosen", verified="hypopg",
                                           evidence={"why": "the workload"})

    covering = chosen(("order_id",), include=("product_id", "quantity"))
    [kept] = _dedupe([fk_rec("order_id"), covering])
    assert kept is covering and kept.evidence["also"] == [{"rule": "fk-without-index", "why": "a foreign key"}]
    # leading columns in another order, and more keys after them, still serve a two-column key
    wide = chosen(("b", "a", "c"))
    assert _dedupe([fk_rec("a", "b"), wide]) == [wide]
    # not served: the FK column second, or only under a predicate
    for other in (chosen(("product_id", "order_id")), chosen(("order_id",), predicate="quantity > 0")):
        assert len(_dedupe([fk_rec("order_id"), other])) == 2

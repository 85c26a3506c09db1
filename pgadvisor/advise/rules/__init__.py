"""The rules: one module per rule id, whose docstring is the rule's documentation.

`ALL` maps each stable kebab-case id to its `Rule`, in the order `check` runs them; `CATALOG` lists
the rules that read only a schema snapshot (`find(scan)`), in that order: an index is flagged by the
first rule that finds it. `DROPS` are the catalog rules `recommend` runs
(`pgadvisor.advise.drops.recommend_drops`). `create-index` is the workload index advisor's
(`pgadvisor.advise.indexes`): it needs a database to cost statements, so it has no `find` here.

A rule module defines `ID`, `DEFAULT_SEVERITY`, and optionally `KIND` ("static": catalog only, safe
on an empty test database — the default; "runtime": reads statistics a test database does not have,
off in `check` unless `--include-runtime`; "workload": reads the statements the tests ran),
`REQUIRES` (a `Requires`: what the server must offer, else `check` reports the rule as skipped, with
why), `THRESHOLDS` (named tuning numbers, each with its source in a comment; a rule reads them with
`scan.threshold(ID, name)`, `CatalogOptions.thresholds` overrides them), `find(scan)` (catalog and
runtime rules) or `find_workload(facts, scan)` (workload rules: `pgadvisor.advise.rules.workload`).

A finding's `id` is its stable key `rule:schema.object[:column]` (`common.finding_key`); the one
exception is fk-without-index's `rule:schema.table(col,...)`, which `check.keys.key_of` maps to
`rule:schema.table:col,...`. A finding whose fix cannot be written as SQL has an `sql` that is a SQL
comment (`-- manual: ...`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from pgadvisor.advise.rules import (
    btree_on_array_or_json,
    char_column,
    create_index,
    drop_duplicate_index,
    drop_invalid_index,
    drop_redundant_index,
    drop_unused_index,
    duplicate_foreign_key,
    fk_type_mismatch,
    fk_without_index,
    identifier_too_long,
    index_would_help,
    json_column,
    large_table_scan,
    large_table_sort,
    low_cardinality_index,
    money_column,
    new_statement,
    not_valid_constraint,
    nullable_index_column,
    partition_table,
    predicted_time_over_budget,
    redundant_index_predicate,
    sequence_near_overflow,
    serial_column,
    stale_statistics,
    table_bloat,
    table_without_primary_key,
    timestamp_without_time_zone,
)
from pgadvisor.advise.rules.common import CatalogScan, Requires
from pgadvisor.findings import Recommendation, Severity

KINDS = ("static", "runtime", "workload")


@dataclass(frozen=True)
class Rule:
    id: str
    module: ModuleType
    default_severity: Severity
    find: Callable[[CatalogScan], list[Recommendation]] | None  # None: produced by the index advisor
    kind: str = "static"
    requires: Requires | None = None
    thresholds: Mapping[str, float] = field(default_factory=dict, compare=False, hash=False)
    find_workload: Callable[..., list[Recommendation]] | None = None

    @property
    def doc(self) -> str:
        """The rule's documentation (its module's docstring)."""
        return inspect.getdoc(self.module) or ""

    @property
    def summary(self) -> str:
        return self.doc.split("\n", 1)[0]


def _rule(module: ModuleType) -> Rule:
    kind = getattr(module, "KIND", "static")
    assert kind in KINDS, (module.__name__, kind)
    return Rule(module.ID, module, module.DEFAULT_SEVERITY, getattr(module, "find", None), kind,
                getattr(module, "REQUIRES", None), dict(getattr(module, "THRESHOLDS", {})),
                getattr(module, "find_workload", None))


# invalid first: an invalid index is only that; an exact copy is a duplicate before it is a prefix or
# unused (one drop per index: the first rule that flags it)
DROPS: tuple[Rule, ...] = tuple(_rule(m) for m in (
    drop_invalid_index, drop_duplicate_index, drop_redundant_index, drop_unused_index, fk_without_index))
# the definition rules `check` adds: each reads the catalog and flags nothing for the others
STATIC: tuple[Rule, ...] = tuple(_rule(m) for m in (
    table_without_primary_key, fk_type_mismatch, duplicate_foreign_key, sequence_near_overflow, not_valid_constraint,
    redundant_index_predicate, nullable_index_column, low_cardinality_index, btree_on_array_or_json,
    timestamp_without_time_zone, money_column, char_column, json_column, serial_column, identifier_too_long))
# statistics a test database does not have: `check --include-runtime` (drop-unused-index is one too)
RUNTIME: tuple[Rule, ...] = tuple(_rule(m) for m in (stale_statistics, table_bloat))
CATALOG: tuple[Rule, ...] = DROPS + STATIC + RUNTIME
# the rules over the statements the tests ran: `find_workload(workload.gather(...), scan)`
WORKLOAD: tuple[Rule, ...] = tuple(_rule(m) for m in (large_table_scan, large_table_sort, index_would_help,
                                                      predicted_time_over_budget, new_statement))
ALL: dict[str, Rule] = {r.id: r for r in (_rule(create_index), _rule(partition_table), *CATALOG, *WORKLOAD)}


def thresholds_of(rule_id: str) -> Mapping[str, float]:
    """A rule's default thresholds by name (empty when it has none)."""
    return ALL[rule_id].thresholds


def describe(rule: Rule) -> dict[str, Any]:
    """A rule's metadata for listings and SARIF: id, kind, severity, summary, requires, thresholds."""
    req = rule.requires
    return {"id": rule.id, "kind": rule.kind, "severity": str(rule.default_severity), "summary": rule.summary,
            "requires": None if req is None else {"min_version": req.min_version, "extensions": list(req.extensions),
                                                  "privilege": req.privilege, "model": req.model},
            "thresholds": dict(rule.thresholds)}

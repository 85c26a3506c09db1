"""What the parser extracts from one statement text (the contract advisors read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PredicateKind = Literal["eq", "range", "in", "prefix_like", "like", "ilike", "is_null", "is_not_null",
                        "bool", "neq", "fulltext", "jsonb_contains", "other"]


@dataclass(frozen=True)
class ColumnRef:
    """A column of a base table, resolved through aliases, CTEs and subqueries."""

    schema: str | None  # None when the text does not qualify the table
    table: str
    column: str


@dataclass(frozen=True)
class Predicate:
    """One filter on a column (or on an expression over one column)."""

    column: ColumnRef
    kind: PredicateKind
    # SQL of the indexed expression when the filter is on an expression, e.g. "lower(email)"
    expression: str | None = None
    # the constant when the predicate compares to a literal (partial-index material), else None
    constant: str | None = None
    # for range predicates: "lower", "upper" or "both"
    bound: str | None = None
    # other columns of the same table that `expression` reads, e.g. body in
    # to_tsvector('english', title || ' ' || body); empty for single-column predicates
    extra_columns: tuple[ColumnRef, ...] = ()


@dataclass(frozen=True)
class SortKey:
    column: ColumnRef
    descending: bool = False
    nulls_first: bool | None = None
    expression: str | None = None


@dataclass(frozen=True)
class JoinPair:
    left: ColumnRef
    right: ColumnRef


@dataclass
class ParsedStatement:
    """Structure of one statement; `error` is set (and the rest empty) when it could not be parsed."""

    text: str
    kind: str = "unknown"  # select | insert | update | delete | merge | utility | unknown
    tables: list[tuple[str | None, str]] = field(default_factory=list)  # base tables (schema, name)
    predicates: list[Predicate] = field(default_factory=list)
    joins: list[JoinPair] = field(default_factory=list)
    order_by: list[SortKey] = field(default_factory=list)
    group_by: list[ColumnRef] = field(default_factory=list)
    # columns the statement reads from each table (for covering INCLUDE)
    columns_used: dict[tuple[str | None, str], set[str]] = field(default_factory=dict)
    limit: int | None = None
    has_limit_param: bool = False
    # columns an UPDATE / ON CONFLICT DO UPDATE assigns (HOT updates: an index on one of them ends them)
    set_columns: frozenset[str] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

"""Index candidates from parsed statements, knowing which indexes already exist.

For every statement and table: single-column and multi-column B-trees (equality columns first, then
one range column, then the sort keys; up to `max_width` keys), covering variants (`INCLUDE`) when the
statement reads few columns of the table, partial indexes for constant predicates, expression
indexes, and, by rule, GIN (trigram, jsonb containment, full text) and BRIN (large, append-only,
physically ordered time columns). A candidate that an existing valid index already serves (same
leading keys in the same order, compatible predicate, INCLUDE columns present) is never proposed.
A strict key prefix of a wider index is not served by it (the narrower index can be much smaller and
cheaper to scan); the advisor admits one only for a measured gain (`prefix_of`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from pgadvisor.advise.schema import (
    SchemaView,
    candidate_id,
    key_of,
    served_by,
)
from pgadvisor.findings import Rejected
from pgadvisor.indexdef import EQ_KINDS, RANGE_KINDS, IndexDef, KeyPart, quote_ident
from pgadvisor.sql.model import ParsedStatement, Predicate

# the tuning numbers of candidate generation, all chosen by hand, not measured:
# a covering variant (INCLUDE) only when the statement reads at most this many other columns of the table
MAX_INCLUDE = 3
# a partial index `WHERE col = constant` only on a column with at most this many distinct values
PARTIAL_MAX_DISTINCT = 100
# a partial index `WHERE col IS NOT NULL` only when at least this share of the rows is NULL
PARTIAL_MIN_NULL_FRAC = 0.5
# BRIN: tables of at least this many pages, append-mostly (updates + deletes at most this share of the
# inserts), on a column whose correlation with the physical row order is at least this (pg_stats)
BRIN_MIN_PAGES = 1000
BRIN_MAX_CHURN = 0.05
BRIN_MIN_CORRELATION = 0.95
_TEXT_TYPES = ("text", "character varying", "varchar", "character", "citext")
_PARAM = re.compile(r"\$\d+")
# to_tsvector's configuration as pg_stat_statements leaves it: `$n`, maybe cast to regconfig (as sqlglot writes it)
_TS_CONFIG_PARAM = re.compile(r"^to_tsvector\(\s*(?:CAST\(\s*\$\d+\s+AS\s+REGCONFIG\s*\)|\$\d+(?:::regconfig)?)\s*,",
                              re.I)
# the key of the schema dict (SchemaView.schema) that holds the server's default_text_search_config
TS_CONFIG_KEY = "default_text_search_config"
# expressions whose value is text: candidates for a text_pattern_ops key under prefix LIKE
_TEXT_EXPR = re.compile(r"^\s*(lower|upper|btrim|ltrim|rtrim|initcap|unaccent)\s*\(|->>", re.I)


@dataclass
class Candidate:
    """A proposed index and where it came from."""

    index: IndexDef
    kind: str  # single | multi | covering | partial | expression | brin | gin
    verify: str = "whatif"  # whatif (planner can cost it) | rule (hypopg cannot simulate it)
    statements: set[str] = field(default_factory=set)  # keys of the statements it was made for
    why: str = ""
    requires: str | None = None  # e.g. "extension pg_trgm"

    @property
    def id(self) -> str:
        return candidate_id(self.index)


# ---------------------------------------------------------------------------------------------------


@dataclass
class _TableUse:
    """What one statement does with one table."""

    eq: list[KeyPart] = field(default_factory=list)
    ranges: list[KeyPart] = field(default_factory=list)
    joins: list[KeyPart] = field(default_factory=list)
    sort: list[KeyPart] | None = None  # None when the ORDER BY is not all on this table
    group: list[KeyPart] = field(default_factory=list)
    constants: list[Predicate] = field(default_factory=list)
    text_search: list[Predicate] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    filtered: set[str] = field(default_factory=set)  # columns with any predicate (also <>, NOT LIKE, …)
    star: bool = False


def _plain(p: Predicate) -> bool:
    return p.expression is None


def _expr_ok(expr: str | None) -> bool:
    # a normalized constant ($n) inside the expression cannot be indexed: its value is unknown
    return bool(expr) and not _PARAM.search(expr or "")


def fulltext_expression(expression: str | None, default_config: str | None) -> tuple[str | None, str]:
    """The indexable form of a full-text predicate's expression, and what was assumed for it ("" or a
    clause for the recommendation's why).

    pg_stat_statements turns `to_tsvector('english', name)` into `to_tsvector($1, name)`; the logged
    examples fill the configuration in when there are some (sql.parse.with_example_kinds). Without
    them the server's `default_text_search_config` (TS_CONFIG_KEY in the schema dict) is assumed: the
    planner uses the index only for a query whose configuration is the index's."""
    if not expression:
        return None, ""
    if _one_argument_to_tsvector(expression):
        return None, ""  # to_tsvector(text) is only STABLE (it reads the setting): no index can hold it
    m = _TS_CONFIG_PARAM.match(expression)
    if m is None:
        return (expression if _expr_ok(expression) else None), ""
    rest = expression[m.end():]
    if not default_config or _PARAM.search(rest):
        return None, ""
    config = default_config.removeprefix("pg_catalog.")
    literal = "'" + config.replace("'", "''") + "'::regconfig"
    return (f"to_tsvector({literal}, {rest.lstrip()}",
            f"; the text search configuration is a parameter in pg_stat_statements and no logged sample "
            f"names it: assumed to be the server's default_text_search_config ({config}) — the index serves "
            f"only queries that pass that configuration")


def _one_argument_to_tsvector(expression: str) -> bool:
    """`to_tsvector(x)`: one argument at the top level of the call (quotes and nested parentheses skipped)."""
    if not expression.lower().startswith("to_tsvector(") or not expression.endswith(")"):
        return False
    depth, quoted = 0, False
    for ch in expression[len("to_tsvector("):-1]:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and ch == ",":
            return False
    return True


def _literal(constant: str | None) -> bool:
    return bool(constant) and not _PARAM.search(constant or "")


class CandidateGenerator:
    """Builds candidates for a workload; `generate` returns them with the ones rejected up front."""

    def __init__(
        self,
        view: SchemaView,
        *,
        max_width: int = 3,
        brin_min_pages: int = BRIN_MIN_PAGES,
        hypopg_brin: bool = True,
    ):
        self.view = view
        self.max_width = max(1, max_width)
        self.brin_min_pages = brin_min_pages
        self.hypopg_brin = hypopg_brin
        self.candidates: dict[IndexDef, Candidate] = {}
        self.rejected: dict[str, Rejected] = {}
        # per table: columns a statement filters, joins, sorts or groups on (Extend's single-column
        # candidates), and those plus the columns statements read (the attributes an index is extended by)
        self.indexable: dict[str, set[str]] = {}
        self.attributes: dict[str, set[str]] = {}

    def generate(self, statements: list[tuple[str, ParsedStatement]]) -> tuple[list[Candidate], list[Rejected]]:
        for key, ps in statements:
            for table_key, use in self.table_uses(ps).items():
                self._for_table(key, table_key, use)
        cands = sorted(self.candidates.values(), key=lambda c: c.id)
        return cands, sorted(self.rejected.values(), key=lambda r: r.id)

    # -- statement → per-table use ------------------------------------------------------------------
    def table_key(self, ref_schema: str | None, table: str) -> str | None:
        return self.view.resolve(ref_schema, table)

    def table_uses(self, ps: ParsedStatement) -> dict[str, _TableUse]:
        uses: dict[str, _TableUse] = {}
        for schema, name in ps.tables:
            key = self.table_key(schema, name)
            if key:
                uses.setdefault(key, _TableUse())
        for (schema, name), cols in ps.columns_used.items():
            key = self.table_key(schema, name)
            if key in uses:
                uses[key].used |= {c for c in cols if c != "*"}
                uses[key].star = uses[key].star or "*" in cols
        for p in ps.predicates:
            key = self.table_key(p.column.schema, p.column.table)
            if key in uses and self._column_exists(key, p.column.column):
                self._predicate(key, uses[key], p)
        for j in ps.joins:
            for ref in (j.left, j.right):
                key = self.table_key(ref.schema, ref.table)
                if key in uses and self._column_exists(key, ref.column):
                    uses[key].joins.append(self._part(ref.column, None, ()))
        self._sort(ps, uses)
        for g in ps.group_by:
            key = self.table_key(g.schema, g.table)
            if key in uses and self._column_exists(key, g.column):
                uses[key].group.append(self._part(g.column, None, ()))
        for key, use in uses.items():
            use.eq = self._by_selectivity(key, _dedupe(use.eq))
            use.ranges = _dedupe(use.ranges)
            use.joins = _dedupe(use.joins)
            use.group = _dedupe(use.group)
        return uses

    def _predicate(self, key: str, use: _TableUse, p: Predicate) -> None:
        """What one filter on table `key` brings: an equality or range key, a constant for a partial index,
        a text search for a rule-based index."""
        if _plain(p):
            use.filtered.add(p.column.column)
        if p.kind in ("like", "ilike", "fulltext", "jsonb_contains"):
            use.text_search.append(p)
            return
        if p.kind in ("is_not_null",) and _plain(p):
            use.constants.append(p)
            return
        if p.kind not in EQ_KINDS | RANGE_KINDS:
            return
        if p.expression is not None and not _expr_ok(p.expression):
            return
        part = self._part(p.column.column, p.expression, p.extra_columns)
        if p.kind == "prefix_like" and _plain(p):
            col = self.view.column(key, p.column.column) or {}
            ctype = str(col.get("type") or "")
            use.ranges.append(part)
            if ctype.startswith(_TEXT_TYPES):
                ops = (
                    "varchar_pattern_ops"
                    if ctype.startswith(("character varying", "varchar"))
                    else "text_pattern_ops"
                )
                use.ranges.append(KeyPart(column=p.column.column, opclass=ops, expr_columns=(p.column.column,)))
        elif p.kind == "prefix_like" and _TEXT_EXPR.search(p.expression or ""):
            # lower(name) LIKE 'abc%': a B-tree serves it under a non-C collation only with text_pattern_ops
            use.ranges.append(part)
            use.ranges.append(replace(part, opclass="text_pattern_ops"))
        elif p.kind in RANGE_KINDS:
            use.ranges.append(part)
        else:
            use.eq.append(part)
        if _plain(p) and ((p.kind == "eq" and _literal(p.constant)) or p.kind in ("is_null", "bool")):
            use.constants.append(p)

    def _sort(self, ps: ParsedStatement, uses: dict[str, _TableUse]) -> None:
        """The ORDER BY keys, when they are all on one table (else no index can give the order)."""
        if not ps.order_by:
            return
        keys = [self.table_key(s.column.schema, s.column.table) for s in ps.order_by]
        if (
            len(set(keys)) == 1
            and keys[0] in uses
            and all(s.expression is None or _expr_ok(s.expression) for s in ps.order_by)
        ):
            uses[keys[0]].sort = _forward(
                [
                    KeyPart(
                        column=None if s.expression else s.column.column,
                        expression=s.expression,
                        descending=s.descending,
                        nulls_first=s.nulls_first,
                        expr_columns=(s.column.column,),
                    )
                    for s in ps.order_by
                ]
            )

    def _column_exists(self, table_key: str, column: str) -> bool:
        return self.view.column(table_key, column) is not None or not self.view.columns.get(table_key)

    @staticmethod
    def _part(column: str, expression: str | None, extra: tuple) -> KeyPart:
        if expression:
            cols = (column, *[r.column for r in extra if r.column != column])
            return KeyPart(expression=expression, expr_columns=cols)
        return KeyPart(column=column, expr_columns=(column,))

    def _by_selectivity(self, table_key: str, parts: list[KeyPart]) -> list[KeyPart]:
        def nd(k: KeyPart) -> float:
            return self.view.n_distinct(table_key, k.column) if k.column else 1e9

        return sorted(parts, key=lambda k: (-nd(k), k.label()))

    # -- per-table candidates ------------------------------------------------------------------------
    def _add(
        self, stmt_key: str, d: IndexDef, kind: str, verify: str = "whatif", why: str = "", requires: str | None = None
    ) -> None:
        if not d.keys or len({key_of(k) for k in d.keys}) != len(d.keys):
            return
        cid = candidate_id(d)
        if cid in self.rejected:
            self.rejected[cid].detail.setdefault("statements", []).append(stmt_key)
            return
        existing = served_by(d, self.view.indexes.get(d.table_key, []))
        if existing is not None:
            self.rejected[cid] = Rejected(
                cid,
                d.table_key,
                f"existing index {existing.qualified_name} serves it",
                {"existing": existing.definition, "statements": [stmt_key]},
            )
            return
        c = self.candidates.get(d)
        if c is None:
            c = self.candidates[d] = Candidate(d, kind, verify, set(), why, requires)
        c.statements.add(stmt_key)

    def _for_table(self, stmt_key: str, table_key: str, use: _TableUse) -> None:
        schema, _, table = table_key.partition(".")
        w = self.max_width
        indexable = self.indexable.setdefault(table_key, set())
        for k in use.eq + use.ranges + use.joins + use.group + (use.sort or []):
            if k.column and not k.opclass:
                indexable.add(k.column)
        indexable |= {c for c in use.filtered if self.view.column(table_key, c)}
        # a column the statement only reads can still extend an index (into a covering one)
        self.attributes.setdefault(table_key, set()).update(
            indexable | {c for c in use.used if self.view.column(table_key, c)}
        )

        def mk(
            keys: list[KeyPart],
            include: tuple[str, ...] = (),
            predicate: str | None = None,
            pred_cols: tuple[str, ...] = (),
        ) -> IndexDef:
            return IndexDef(schema, table, tuple(keys[:w]), "btree", include, predicate, pred_cols)

        key_lists: list[tuple[list[KeyPart], str]] = []
        for k in use.eq + use.ranges + use.joins + use.group[:1] + (use.sort or [])[:1]:
            key_lists.append(([_asc(k)], "expression" if k.expression else "single"))
        eq = use.eq
        for n in range(2, min(w, len(eq)) + 1):
            key_lists.append((eq[:n], "multi"))
        for r in use.ranges:
            for n in range(1, min(w - 1, len(eq)) + 1):
                key_lists.append((eq[:n] + [r], "multi"))
        if use.sort and len(use.sort) <= w:
            # equality columns, then the ORDER BY keys (also what a range on the first sort key needs)
            for n in range(0, min(w - len(use.sort), len(eq)) + 1):
                key_lists.append((eq[:n] + use.sort, "multi"))
        for j in use.joins:
            others = [k for k in eq if k != j]
            for n in range(1, min(w - 1, len(others)) + 1):
                key_lists.append(([j] + others[:n], "multi"))
                key_lists.append((others[:n] + [j], "multi"))
        if len(use.group) > 1:
            key_lists.append((use.group[:w], "multi"))

        for keys, kind in key_lists:
            d = mk(keys)
            self._add(stmt_key, d, "expression" if any(k.expression for k in d.keys) else kind)
            # covering variant for an index-only scan when the statement reads few other columns
            if not use.star and use.used:
                rest = tuple(sorted(use.used - {c for k in d.keys for c in k.base_columns}))
                if 0 < len(rest) <= MAX_INCLUDE and all(self.view.column(table_key, c) for c in rest):
                    self._add(stmt_key, mk(keys, include=rest), "covering")

        self._partials(stmt_key, table_key, use, mk)
        self._rules(stmt_key, table_key, use)

    def _partials(self, stmt_key: str, table_key: str, use: _TableUse, mk) -> None:
        for p in use.constants:
            col = p.column.column
            info = self.view.column(table_key, col) or {}
            nd = self.view.n_distinct(table_key, col)
            if p.kind == "eq":
                # an equality on a low-cardinality column: the partial index holds one of few values
                if not (0 < nd <= PARTIAL_MAX_DISTINCT):
                    continue
                pred = f"{quote_ident(col)} = {p.constant}"
            elif p.kind == "is_null":
                pred = f"{quote_ident(col)} IS NULL"
            elif p.kind == "is_not_null":
                if float(info.get("null_frac") or 0.0) < PARTIAL_MIN_NULL_FRAC:
                    continue
                pred = f"{quote_ident(col)} IS NOT NULL"
            elif p.kind == "bool":
                pred = quote_ident(col) if (p.constant or "true").lower() != "false" else f"NOT {quote_ident(col)}"
            else:
                continue
            rest_eq = [k for k in use.eq if k.column != col]
            rest_range = [k for k in use.ranges if k.column != col and not k.opclass]
            options: list[list[KeyPart]] = []
            if use.sort and all(k.column != col for k in use.sort):
                options.append(rest_eq[: max(0, self.max_width - len(use.sort))] + use.sort)
            options.append(rest_eq[: self.max_width - 1] + rest_range[:1])
            if not any(options):
                pk = [k for k in (use.joins or []) if k.column != col]
                options.append(pk[:1] or [KeyPart(column=col, expr_columns=(col,))])
            for keys in options:
                if keys:
                    self._add(stmt_key, mk(keys, predicate=pred, pred_cols=(col,)), "partial")

    def _rules(self, stmt_key: str, table_key: str, use: _TableUse) -> None:
        schema, _, table = table_key.partition(".")
        rel = self.view.relations.get(table_key) or {}
        for p in use.text_search:
            col = p.column.column
            ctype = str((self.view.column(table_key, col) or {}).get("type") or "")
            if p.kind in ("like", "ilike") and _plain(p):
                if not ctype.startswith(_TEXT_TYPES):
                    continue
                d = IndexDef(schema, table, (KeyPart(column=col, opclass="gin_trgm_ops", expr_columns=(col,)),), "gin")
                self._add(
                    stmt_key,
                    d,
                    "gin",
                    "rule",
                    f"{p.kind.upper()} with a leading wildcard on {col} cannot use a B-tree; a trigram GIN index can",
                    requires="extension pg_trgm",
                )
            elif p.kind == "jsonb_contains" and _plain(p) and ctype.startswith("jsonb"):
                key = KeyPart(column=col, opclass="jsonb_path_ops", expr_columns=(col,))
                d = IndexDef(schema, table, (key,), "gin")
                self._add(stmt_key, d, "gin", "rule", f"jsonb containment (@>) on {col} is served by a GIN index")
            elif p.kind == "fulltext":
                why = f"full-text search on {col} is served by a GIN index"
                expression, assumed = fulltext_expression(p.expression, self.view.schema.get(TS_CONFIG_KEY))
                if expression:
                    part = self._part(col, expression, p.extra_columns)
                    why += assumed
                elif ctype.startswith("tsvector") and not p.expression:
                    part = KeyPart(column=col, expr_columns=(col,))
                else:
                    continue
                d = IndexDef(schema, table, (part,), "gin")
                self._add(stmt_key, d, "gin", "rule", why)
        # BRIN: a range on a large, append-mostly table whose rows are stored in the column's order
        relpages = float(rel.get("relpages") or 0)
        if relpages < self.brin_min_pages:
            return
        ins = float(rel.get("n_tup_ins") or 0)
        churn = float(rel.get("n_tup_upd") or 0) + float(rel.get("n_tup_del") or 0)
        if ins and churn > BRIN_MAX_CHURN * ins:
            return
        for k in use.ranges:
            if not k.column or k.opclass:
                continue
            corr = (self.view.column(table_key, k.column) or {}).get("correlation")
            if corr is None or abs(float(corr)) < BRIN_MIN_CORRELATION:
                continue
            d = IndexDef(schema, table, (KeyPart(column=k.column, expr_columns=(k.column,)),), "brin")
            self._add(
                stmt_key,
                d,
                "brin",
                "whatif" if self.hypopg_brin else "rule",
                f"{k.column} follows the physical row order (correlation {float(corr):.2f}) of a large, "
                "append-mostly table: a BRIN index is tiny and serves range scans",
            )


def _asc(k: KeyPart) -> KeyPart:
    """A single-column key in ascending order when a backward scan gives the same order."""
    if k.nulls_first is not None and k.nulls_first != k.descending:
        return k  # DESC NULLS LAST / ASC NULLS FIRST: only an index in that exact order serves it
    return KeyPart(k.column, k.expression, False, None, k.opclass, k.expr_columns)


def _forward(sort: list[KeyPart]) -> list[KeyPart]:
    """Sort keys all in one direction (default NULLS placement) are stored ascending: scanned backward."""
    if all(k.descending for k in sort) and all(k.nulls_first is None or k.nulls_first for k in sort):
        return [KeyPart(k.column, k.expression, False, None, k.opclass, k.expr_columns) for k in sort]
    return sort


def _dedupe(parts: list[KeyPart]) -> list[KeyPart]:
    seen, out = set(), []
    for k in parts:
        if k not in seen:
            seen.add(k)
            out.append(k)
    return out

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

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from pgadvisor.findings import Rejected
from pgadvisor.indexdef import EQ_KINDS, RANGE_KINDS, IndexDef, KeyPart, norm_expr, qualified, quote_ident
from pgadvisor.sql.model import ParsedStatement, Predicate

MAX_NAME_BYTES = 63
MAX_INCLUDE = 3
_TEXT_TYPES = ("text", "character varying", "varchar", "character", "citext")
_PARAM = re.compile(r"\$\d+")
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


def candidate_id(d: IndexDef) -> str:
    """Stable id: `create-index:public.orders(user_id,created_at DESC)`."""
    return f"create-index:{d.label(qualify=True, sep=',')}"


@dataclass(frozen=True)
class ExistingIndex:
    """An index of the catalog, reduced to what the "already served" test needs."""

    name: str
    schema: str
    table: str
    method: str
    keys: tuple[tuple[str, bool], ...]  # (normalized column or expression, descending)
    include: frozenset[str]
    predicate: str | None
    valid: bool
    unique: bool
    primary: bool
    definition: str

    @property
    def qualified_name(self) -> str:
        return qualified(self.schema, self.name)


def unquote(name: str) -> str:
    """`"Mixed Case"` → `Mixed Case`; a bare name is returned as is."""
    if len(name) >= 2 and name[0] == '"' and name[-1] == '"' and '"' not in name[1:-1].replace('""', ""):
        return name[1:-1].replace('""', '"')
    return name


def _key_norm(text: str) -> str:
    plain = unquote(text)
    if plain != text or re.fullmatch(r"[a-z_][a-z0-9_$]*", text):
        return "c:" + plain
    return "e:" + norm_expr(text)


def _part_norm(k: KeyPart) -> str:
    return "c:" + k.column if k.column else "e:" + norm_expr(k.expression or "")


def existing_from_catalog(ix: dict[str, Any]) -> ExistingIndex:
    cols = list(ix.get("columns") or [])
    n_key = int(ix.get("n_key") or len(cols))
    flags = list(ix.get("desc_flags") or [])
    keys = tuple((_key_norm(c), bool(flags[i]) if i < len(flags) else False) for i, c in enumerate(cols[:n_key]))
    return ExistingIndex(
        name=ix["name"],
        schema=ix["schema"],
        table=ix["table"],
        method=ix.get("method") or "btree",
        keys=keys,
        include=frozenset(unquote(c) for c in cols[n_key:]),
        predicate=norm_expr(ix["predicate"]) if ix.get("predicate") else None,
        valid=bool(ix.get("is_valid", True)),
        unique=bool(ix.get("is_unique")),
        primary=bool(ix.get("is_primary")),
        definition=ix.get("definition") or "",
    )


def served_by(d: IndexDef, existing: Iterable[ExistingIndex]) -> ExistingIndex | None:
    """The existing index that already does what `d` would (its keys start with d's keys), if any.

    A strict key prefix of a wider existing index is left to the what-if (`prefix_of`): the planner may
    prefer the smaller index (e.g. `lineitem(l_orderkey)` next to the primary key `(l_orderkey, l_linenumber)`).
    """
    want = [(_part_norm(k), k.descending) for k in d.keys]
    pred = norm_expr(d.predicate) if d.predicate else None
    for e in existing:
        if not e.valid or e.method != d.method or f"{e.schema}.{e.table}" != d.table_key:
            continue
        if e.predicate is not None and e.predicate != pred:
            continue
        if len(e.keys) < len(want) or [k for k, _ in e.keys[: len(want)]] != [k for k, _ in want]:
            continue
        if len(e.keys) > len(want) and not d.include and d.method == "btree":
            continue
        same = all(a == b for (_, a), (_, b) in zip(e.keys, want, strict=False))
        flipped = all(a != b for (_, a), (_, b) in zip(e.keys, want, strict=False))
        if d.method == "btree" and not (same or flipped):
            continue
        if any(k.opclass and k.opclass not in e.definition for k in d.keys):
            continue
        covered = {k[2:] for k, _ in e.keys if k.startswith("c:")} | set(e.include)
        if not set(d.include) <= covered:
            continue
        return e
    return None


def prefix_of(d: IndexDef, existing: Iterable[ExistingIndex]) -> ExistingIndex | None:
    """The valid wider B-tree whose leading keys are exactly `d`'s keys (same predicate), if any: `d` is
    a narrower copy of it, worth a second index only when the planner gains much from the smaller size."""
    if d.method != "btree" or d.include:
        return None
    want = [_part_norm(k) for k in d.keys]
    pred = norm_expr(d.predicate) if d.predicate else None
    for e in existing:
        have = [k for k, _ in e.keys]
        if e.valid and e.method == "btree" and e.predicate == pred and have[: len(want)] == want != have:
            return e
    return None


def copy_of(d: IndexDef, existing: Iterable[ExistingIndex]) -> ExistingIndex | None:
    """The existing B-tree that `d` would nearly copy: the same keys (only INCLUDE columns differ), or
    more keys after a unique index's, which cannot narrow a search any further."""
    if d.method != "btree":
        return None
    want = [_part_norm(k) for k in d.keys]
    pred = norm_expr(d.predicate) if d.predicate else None
    for e in existing:
        if not e.valid or e.method != "btree" or e.predicate != pred:
            continue
        have = [k for k, _ in e.keys]
        if want == have or (e.unique and len(want) > len(have) and want[: len(have)] == have):
            return e
    return None


class SchemaView:
    """Lookups over the catalog dicts of `pgadvisor.pg.catalog.read_schema` (relations, columns, indexes)."""

    def __init__(self, schema: dict[str, Any], search_path: Iterable[str] = ("public",)):
        self.schema = schema
        self.search_path = [s for s in search_path if s]
        self.relations = {f"{r['schema']}.{r['name']}": r for r in schema.get("relations", [])}
        self._by_name: dict[str, list[str]] = {}
        for key, r in self.relations.items():
            self._by_name.setdefault(r["name"], []).append(key)
        self.columns: dict[str, dict[str, dict]] = {}
        for c in schema.get("columns", []):
            self.columns.setdefault(f"{c['schema']}.{c['table']}", {})[c["column"]] = c
        self.indexes: dict[str, list[ExistingIndex]] = {}
        self.index_dicts: dict[str, list[dict]] = {}
        for ix in schema.get("indexes", []):
            key = f"{ix['schema']}.{ix['table']}"
            self.indexes.setdefault(key, []).append(existing_from_catalog(ix))
            self.index_dicts.setdefault(key, []).append(ix)
        self.index_names = {(ix["schema"], ix["name"]) for ix in schema.get("indexes", [])}

    def resolve(self, schema: str | None, table: str) -> str | None:
        """The table key `schema.table` a statement's table means, or None when it does not exist here."""
        if schema is not None:
            key = f"{schema}.{table}"
            return key if key in self.relations else None
        keys = self._by_name.get(table, [])
        if len(keys) == 1:
            return keys[0]
        for s in self.search_path:
            if f"{s}.{table}" in keys:
                return f"{s}.{table}"
        return None

    def column(self, table_key: str, column: str) -> dict | None:
        return self.columns.get(table_key, {}).get(column)

    def parser_schema(self) -> dict[str, list[str]]:
        """{"schema.table": [columns]} as `pgadvisor.sql.parse.parse_statement` takes it."""
        return {key: list(cols) for key, cols in self.columns.items()}

    def n_distinct(self, table_key: str, column: str) -> float:
        col = self.column(table_key, column) or {}
        nd = float(col.get("n_distinct") or 0.0)
        if nd < 0:
            nd = -nd * max(1.0, float((self.relations.get(table_key) or {}).get("reltuples") or 1.0))
        return nd


def index_name(d: IndexDef, taken: set[tuple[str, str]] | None = None) -> str:
    """Deterministic index name of at most 63 bytes; a hash suffix keeps variants and long names apart."""
    parts = []
    for k in d.keys:
        text = k.column or k.expression or "expr"
        parts.append(re.sub(r"[^\w]+", "_", text, flags=re.UNICODE).strip("_").lower() or "expr")
    base = "_".join([d.table.lower().replace(" ", "_"), *parts])
    suffix = "idx" if d.method == "btree" else d.method
    digest = hashlib.sha1(candidate_id(d).encode()).hexdigest()[:6]
    variant = bool(d.include or d.predicate or any(k.expression or k.opclass for k in d.keys))
    name = f"{base}_{suffix}" if not variant else f"{base}_{suffix}_{digest}"
    if len(name.encode()) > MAX_NAME_BYTES or (taken and (d.schema, name) in taken):
        tail = f"_{suffix}_{digest}"
        room = MAX_NAME_BYTES - len(tail.encode())
        cut = base.encode()[:room].decode("utf-8", errors="ignore").rstrip("_")
        name = cut + tail
    return name


def create_sql(d: IndexDef, name: str) -> str:
    return d.create_sql(name, concurrently=True) + ";"


def drop_sql(d: IndexDef, name: str) -> str:
    return f"DROP INDEX CONCURRENTLY {quote_ident(d.schema)}.{quote_ident(name)};"


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


def _literal(constant: str | None) -> bool:
    return bool(constant) and not _PARAM.search(constant or "")


class CandidateGenerator:
    """Builds candidates for a workload; `generate` returns them with the ones rejected up front."""

    def __init__(
        self,
        view: SchemaView,
        *,
        max_width: int = 3,
        brin_min_pages: int = 1000,
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
            if key not in uses or not self._column_exists(key, p.column.column):
                continue
            use = uses[key]
            if _plain(p):
                use.filtered.add(p.column.column)
            if p.kind in ("like", "ilike", "fulltext", "jsonb_contains"):
                use.text_search.append(p)
                continue
            if p.kind in ("is_not_null",) and _plain(p):
                use.constants.append(p)
                continue
            if p.kind not in EQ_KINDS | RANGE_KINDS:
                continue
            if p.expression is not None and not _expr_ok(p.expression):
                continue
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
        for j in ps.joins:
            for ref in (j.left, j.right):
                key = self.table_key(ref.schema, ref.table)
                if key in uses and self._column_exists(key, ref.column):
                    uses[key].joins.append(self._part(ref.column, None, ()))
        if ps.order_by:
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
        if not d.keys or len({_part_norm(k) for k in d.keys}) != len(d.keys):
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
                if not (0 < nd <= 100):
                    continue
                pred = f"{quote_ident(col)} = {p.constant}"
            elif p.kind == "is_null":
                pred = f"{quote_ident(col)} IS NULL"
            elif p.kind == "is_not_null":
                if float(info.get("null_frac") or 0.0) < 0.5:
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
                if p.expression and _expr_ok(p.expression):
                    part = self._part(col, p.expression, p.extra_columns)
                elif ctype.startswith("tsvector"):
                    part = KeyPart(column=col, expr_columns=(col,))
                else:
                    continue
                d = IndexDef(schema, table, (part,), "gin")
                self._add(stmt_key, d, "gin", "rule", f"full-text search on {col} is served by a GIN index")
        # BRIN: a range on a large, append-mostly table whose rows are stored in the column's order
        relpages = float(rel.get("relpages") or 0)
        if relpages < self.brin_min_pages:
            return
        ins = float(rel.get("n_tup_ins") or 0)
        churn = float(rel.get("n_tup_upd") or 0) + float(rel.get("n_tup_del") or 0)
        if ins and churn > 0.05 * ins:
            return
        for k in use.ranges:
            if not k.column or k.opclass:
                continue
            corr = (self.view.column(table_key, k.column) or {}).get("correlation")
            if corr is None or abs(float(corr)) < 0.95:
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

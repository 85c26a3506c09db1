"""What the advisors know about the indexes that exist: the catalog's indexes reduced to comparable keys,
lookups over the schema snapshot, and the one place that says whether an index serves, copies or is a
key prefix of another. Candidates, drops and the rules share it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pgadvisor.indexdef import IndexDef, KeyPart, norm_expr, qualified, quote_ident
from pgadvisor.sizes import n_distinct_rows

MAX_NAME_BYTES = 63  # NAMEDATALEN - 1: PostgreSQL truncates longer identifiers


def candidate_id(d: IndexDef) -> str:
    """Stable id: `create-index:public.orders(user_id,created_at DESC)`."""
    return f"create-index:{d.label(qualify=True, sep=',')}"



@dataclass(frozen=True)
class Key:
    """One index key in comparable form: a column name, or an expression as `norm_expr` writes it."""

    text: str
    is_column: bool


@dataclass(frozen=True)
class ExistingIndex:
    """An index of the catalog, reduced to what the "already served" test needs."""

    name: str
    schema: str
    table: str
    method: str
    keys: tuple[tuple[Key, bool], ...]  # (key, descending)
    include: frozenset[str]
    predicate: str | None
    valid: bool
    unique: bool
    primary: bool
    definition: str

    @property
    def qualified_name(self) -> str:
        return qualified(self.schema, self.name)

    @property
    def key_columns(self) -> frozenset[str]:
        """The plain columns among the keys."""
        return frozenset(k.text for k, _ in self.keys if k.is_column)

    @property
    def has_expression(self) -> bool:
        return any(not k.is_column for k, _ in self.keys)


def unquote(name: str) -> str:
    """`"Mixed Case"` → `Mixed Case`; a bare name is returned as is."""
    if len(name) >= 2 and name[0] == '"' and name[-1] == '"' and '"' not in name[1:-1].replace('""', ""):
        return name[1:-1].replace('""', '"')
    return name


def _key_norm(text: str) -> Key:
    """A key as pg_get_indexdef prints it (quoted identifier or expression) → Key."""
    plain = unquote(text)
    if plain != text or re.fullmatch(r"[a-z_][a-z0-9_$]*", text):
        return Key(plain, True)
    return Key(norm_expr(text), False)


def key_of(k: KeyPart) -> Key:
    return Key(k.column, True) if k.column else Key(norm_expr(k.expression or ""), False)


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
    """The existing index that already does what candidate `d` would, if any: same method, its keys start
    with d's keys in the same directions (a B-tree also all reversed: a backward scan), a compatible
    predicate, d's opclasses and INCLUDE columns present. A candidate served so is never proposed.

    A strict key prefix of a wider existing index is left to the what-if (`prefix_of`): the planner may
    prefer the smaller index (e.g. `lineitem(l_orderkey)` next to the primary key `(l_orderkey, l_linenumber)`).
    `covers` asks the same of two candidates, `extends` of two existing indexes.
    """
    want = [(key_of(k), k.descending) for k in d.keys]
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
        covered = e.key_columns | e.include
        if not set(d.include) <= covered:
            continue
        return e
    return None


def prefix_of(d: IndexDef, existing: Iterable[ExistingIndex]) -> ExistingIndex | None:
    """The valid wider B-tree whose leading keys are exactly `d`'s keys (same predicate), if any: `d` is
    a narrower copy of it, worth a second index only when the planner gains much from the smaller size.
    Unlike `served_by`, directions are not compared and `d` has no INCLUDE columns."""
    if d.method != "btree" or d.include:
        return None
    want = [key_of(k) for k in d.keys]
    pred = norm_expr(d.predicate) if d.predicate else None
    for e in existing:
        have = [k for k, _ in e.keys]
        if e.valid and e.method == "btree" and e.predicate == pred and have[: len(want)] == want != have:
            return e
    return None


def copy_of(d: IndexDef, existing: Iterable[ExistingIndex]) -> ExistingIndex | None:
    """The existing B-tree that `d` would nearly copy: the same keys (only INCLUDE columns differ), or
    more keys after a unique index's, which cannot narrow a search any further. Unlike `served_by`, the
    INCLUDE columns need not match (a covering variant of an existing index is a near copy)."""
    if d.method != "btree":
        return None
    want = [key_of(k) for k in d.keys]
    pred = norm_expr(d.predicate) if d.predicate else None
    for e in existing:
        if not e.valid or e.method != "btree" or e.predicate != pred:
            continue
        have = [k for k, _ in e.keys]
        if want == have or (e.unique and len(want) > len(have) and want[: len(have)] == have):
            return e
    return None


def same_index(a: ExistingIndex, b: ExistingIndex) -> bool:
    """Whether two existing indexes are exact duplicates: method, keys with their directions, INCLUDE
    columns and predicate all equal (unlike `copy_of`, which lets INCLUDE columns differ)."""
    return (a.method, a.keys, a.include, a.predicate) == (b.method, b.keys, b.include, b.predicate)


def extends(wide: ExistingIndex, narrow: ExistingIndex) -> bool:
    """Whether B-tree `wide` serves every lookup of B-tree `narrow`: more keys, led by narrow's keys in
    the same directions, the same predicate, and narrow's INCLUDE columns among wide's columns. The
    existing-index form of `prefix_of` (which ignores directions and compares a candidate)."""
    n = len(narrow.keys)
    return (
        wide.method == narrow.method == "btree"
        and len(wide.keys) > n
        and wide.keys[:n] == narrow.keys
        and wide.predicate == narrow.predicate
        and narrow.include <= (wide.key_columns | wide.include)
    )


def covers(b: IndexDef, a: IndexDef) -> bool:
    """Whether new B-tree `b` serves what new B-tree `a` does: a's keys lead b's (or are all of them, in
    the same directions), the same predicate, and a's INCLUDE columns among b's columns. Between two
    candidates (`consolidate` drops `a`); `served_by` asks it of a candidate and the existing indexes
    (and also accepts a backward scan, other methods and opclasses), `copy_of` is the near-copy test."""
    return (
        a.method == b.method == "btree"
        and a.predicate == b.predicate
        and b.keys[: len(a.keys)] == a.keys
        and set(a.include) <= {k.column for k in b.keys if k.column} | set(b.include)
    )


def lengthens(wide: IndexDef, d: IndexDef) -> bool:
    """Whether new index `wide` is `d` with more keys after d's (same table and predicate; INCLUDE columns
    and method not compared): the chosen index that made candidate `d` redundant. Unlike `covers` the
    keys must be strictly more; `prefix_of` is the same question of a candidate and an existing index."""
    return (
        wide.table_key == d.table_key
        and len(wide.keys) > len(d.keys)
        and wide.keys[: len(d.keys)] == d.keys
        and wide.predicate == d.predicate
    )


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
        return n_distinct_rows(col.get("n_distinct"), (self.relations.get(table_key) or {}).get("reltuples"))


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

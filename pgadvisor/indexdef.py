"""Index definitions and identifier quoting: the neutral contract every layer shares.

An `IndexDef` is what candidates propose, the what-if engine costs, recommendations print and `--apply`
creates; it knows how to render itself as DDL, with identifiers quoted exactly as PostgreSQL needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from psycopg import sql

# PostgreSQL keywords that cannot be a bare column/table name in every position (pg_get_keywords()
# categories R, T and C); quoting one of these is never wrong, leaving it bare sometimes is.
_KEYWORDS = frozenset(
    """
all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate
collation column concurrently constraint create cross current_catalog current_date current_role
current_schema current_time current_timestamp current_user default deferrable desc distinct do else end
except false fetch for foreign freeze from full grant group having ilike in initially inner intersect into
is isnull join lateral leading left like limit localtime localtimestamp natural not notnull null offset on
only or order outer overlaps placing primary references returning right select session_user similar some
symmetric table tablesample then to trailing true union unique user using variadic verbose when where window
with system_user between bigint bit boolean char character coalesce dec decimal exists extract float greatest grouping
inout int integer interval least national nchar none normalize nullif numeric out overlay position precision
real row setof smallint substring time timestamp treat trim values varchar xmlattributes xmlconcat xmlelement
xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable
""".split()
)
_SIMPLE_IDENT = re.compile(r"[a-z_][a-z0-9_$]*")

# predicate kinds an index key serves as equality (keys first) or as a range (the last key)
EQ_KINDS = frozenset({"eq", "in", "is_null", "bool"})
RANGE_KINDS = frozenset({"range", "prefix_like"})


def quote_ident(name: str) -> str:
    """An identifier as PostgreSQL needs it: bare when that is unambiguous, else double-quoted."""
    if _SIMPLE_IDENT.fullmatch(name) and name not in _KEYWORDS:
        return name
    return sql.Identifier(name).as_string(None)


def qualified(schema: str, name: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(name)}"


@dataclass(frozen=True)
class KeyPart:
    """One key of an index: a column or an expression (SQL text), with direction and operator class."""

    column: str | None = None
    expression: str | None = None
    descending: bool = False
    nulls_first: bool | None = None
    opclass: str | None = None
    # base columns an expression reads (for relevance and sizes); (column,) for a plain column
    expr_columns: tuple[str, ...] = ()

    @property
    def base_columns(self) -> tuple[str, ...]:
        return (self.column,) if self.column else self.expr_columns

    def _suffix(self) -> str:
        s = f" {self.opclass}" if self.opclass else ""
        if self.descending:
            s += " DESC"
        if self.nulls_first is not None and self.nulls_first != self.descending:
            s += " NULLS FIRST" if self.nulls_first else " NULLS LAST"
        return s

    def sql(self) -> str:
        head = quote_ident(self.column) if self.column else f"({self.expression})"
        return head + self._suffix()

    def label(self) -> str:
        return (self.column or self.expression or "?") + self._suffix()


@dataclass(frozen=True, eq=False)
class IndexDef:
    """A (hypothetical or proposed) index; hashable, so it keys caches and configurations."""

    schema: str
    table: str
    keys: tuple[KeyPart, ...]
    method: str = "btree"
    include: tuple[str, ...] = ()
    predicate: str | None = None  # SQL of the WHERE clause of a partial index
    predicate_columns: tuple[str, ...] = ()

    # the search hashes and compares these millions of times: hash and derived values are cached
    # (cached_property writes the instance __dict__, which a frozen dataclass allows)
    def __hash__(self) -> int:
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.schema, self.table, self.keys, self.method, self.include, self.predicate))
            self.__dict__["_hash"] = h
        return h

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, IndexDef) or hash(self) != hash(other):
            return False
        return (
            self.schema,
            self.table,
            self.keys,
            self.method,
            self.include,
            self.predicate,
            self.predicate_columns,
        ) == (
            other.schema,
            other.table,
            other.keys,
            other.method,
            other.include,
            other.predicate,
            other.predicate_columns,
        )

    @cached_property
    def table_key(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def width(self) -> int:
        return len(self.keys)

    @cached_property
    def leading_columns(self) -> tuple[str, ...]:
        return self.keys[0].base_columns if self.keys else ()

    @cached_property
    def columns(self) -> frozenset[str]:
        cols = {c for k in self.keys for c in k.base_columns}
        return frozenset(cols | set(self.include) | set(self.predicate_columns))

    def body_sql(self) -> str:
        """`ON schema.table USING method (keys) INCLUDE (...) WHERE ...`."""
        s = f"ON {qualified(self.schema, self.table)} USING {self.method} ({', '.join(k.sql() for k in self.keys)})"
        if self.include:
            s += f" INCLUDE ({', '.join(quote_ident(c) for c in self.include)})"
        if self.predicate:
            s += f" WHERE {self.predicate}"
        return s

    def create_sql(self, name: str | None = None, concurrently: bool = False) -> str:
        head = "CREATE INDEX CONCURRENTLY" if concurrently else "CREATE INDEX"
        if name:
            head += f" {quote_ident(name)}"
        return f"{head} {self.body_sql()}"

    def label(self, qualify: bool = True, sep: str = ", ") -> str:
        """`orders(user_id, created_at DESC)`; with the method when it is not btree."""
        name = self.table_key if qualify else self.table
        using = "" if self.method == "btree" else f" USING {self.method}"
        s = f"{name}{using}({sep.join(k.label() for k in self.keys)})"
        if self.include:
            s += f" INCLUDE({sep.join(self.include)})"
        if self.predicate:
            s += f" WHERE {self.predicate}"
        return s

    def extended(self, key: KeyPart) -> IndexDef:
        return IndexDef(
            self.schema,
            self.table,
            self.keys + (key,),
            self.method,
            tuple(c for c in self.include if c != key.column),
            self.predicate,
            self.predicate_columns,
        )


def norm_expr(expr: str) -> str:
    """Loose canonical form of an expression, to compare the parser's SQL with pg_get_indexdef's."""
    s = re.sub(r"::[a-z ]+(\[\])?", "", expr.lower())
    s = re.sub(r"[\s\"]", "", s)
    while s.startswith("(") and s.endswith(")") and _balanced(s[1:-1]):
        s = s[1:-1]
    return s


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0

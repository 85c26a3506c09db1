"""Parse pg_stat_statements texts into `ParsedStatement` (sqlglot, postgres dialect).

The pipeline for one text reads top to bottom in `parse_statement`:

1. cheap checks (type, empty, size cap) and utility statements recognised by their first keyword;
2. `prepare_sql`: make pg_stat_statements' `$n` placeholders digestible for sqlglot's tokenizer;
3. sqlglot parse, identifier case folding as PostgreSQL does it;
4. `_Extractor`: one scope per SELECT (CTEs, derived tables, subqueries), columns resolved through
   aliases, CTEs and subqueries to base tables, then predicates, joins, sort keys and so on.

Nothing here raises for bad input: a text that cannot be understood comes back with `error` set.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from pgadvisor.errors import one_line
from pgadvisor.indexdef import quote_ident
from pgadvisor.sql.model import ColumnRef, JoinPair, ParsedStatement, Predicate, SortKey

DIALECT = "postgres"
# pg_stat_statements keeps up to track_activity_query_size bytes; anything much larger is generated SQL
MAX_TEXT_CHARS = 200_000
# guards against pathological nesting of CTEs / derived tables when resolving a column
_MAX_RESOLVE_DEPTH = 32

Schema = dict[str, list[str]]
TableKey = tuple[str | None, str]

# ---------------------------------------------------------------------------------------------------
# 1. text preparation
# ---------------------------------------------------------------------------------------------------

# First keyword of statements that carry no query structure worth indexing.
UTILITY_KEYWORDS = frozenset("""
    abort alter analyse analyze begin call checkpoint close cluster comment commit copy create
    deallocate declare discard do drop end execute explain fetch grant import listen load lock move
    notify prepare reassign refresh reindex release reset revoke rollback savepoint security set show
    start truncate unlisten vacuum
""".split())

_LEADING_NOISE = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?(?:\*/|\Z)|\()*", re.S)
_FIRST_WORD = re.compile(r"[A-Za-z_]+")

# One pass over the text: regions to copy verbatim (strings, quoted identifiers, comments,
# dollar quotes) are matched first, so placeholders inside them are never touched. An unterminated
# region runs to the end of the text (keeps the scan linear; the parser reports the error).
_SCAN = re.compile(
    r"""
    (?P<skip>
        (?<![\w$])[eE]'(?:[^'\\]|\\.|'')*(?:'|\Z)
      | '(?:[^']|'')*(?:'|\Z)
      | "(?:[^"]|"")*(?:"|\Z)
      | --[^\n]*
      | /\*.*?(?:\*/|\Z)
      | \$(?P<tag>[A-Za-z_][A-Za-z_0-9]*|)\$.*?(?:\$(?P=tag)\$|\Z)
    )
    | (?P<typed>
        (?<![\w$."])(?P<type>date|timestamptz|timestamp|time|interval)
        (?P<tz>\s+with(?:out)?\s+time\s+zone)?
        \s+\$\s*(?P<tn>\d+)
        (?:\s+(?:year|month|day|hour|minute|second)s?(?:\s+to\s+(?:month|hour|minute|second))?\b)?
      )
    | (?P<param>\$\s*(?P<n>\d+))
    """,
    re.X | re.S | re.I,
)


def _rewrite(match: re.Match[str]) -> str:
    if match.group("skip") is not None:
        return match.group(0)
    if match.group("typed") is not None:
        # `date $1` / `interval $2 day` (a typed literal whose constant was replaced) -> `$1::date`
        type_name = match.group("type").lower()
        tz = (match.group("tz") or "").lower()
        if type_name == "timestamp" and "without" not in tz and tz:
            type_name = "timestamptz"
        return f"${match.group('tn')}::{type_name} "
    # `$1,$2` would be read by sqlglot as a dollar-quoted string tagged `1,`: keep a space after it
    return f"${match.group('n')} "


def prepare_sql(text: str) -> str:
    """Rewrite `$n` placeholders (however spaced, also in typed literals) so sqlglot tokenizes them."""
    if "$" not in text:
        return text
    return _SCAN.sub(_rewrite, text)


def first_keyword(text: str) -> str:
    """The statement's first keyword in lower case, skipping comments and parentheses ('' if none)."""
    rest = text[_LEADING_NOISE.match(text).end():]
    word = _FIRST_WORD.match(rest)
    return word.group(0).lower() if word else ""


# ---------------------------------------------------------------------------------------------------
# 2. public entry points
# ---------------------------------------------------------------------------------------------------


def parse_statement(text: str, schema: Schema | None = None) -> ParsedStatement:
    """Parse one pg_stat_statements text; never raises (failures come back with `error` set).

    `schema` maps qualified table names to their columns, e.g. {"public.orders": ["id", ...]}; it
    resolves unqualified columns when several tables are in scope.
    """
    if not isinstance(text, str):
        return ParsedStatement(text=str(text), error=f"not a string: got {type(text).__name__}")
    try:
        return _parse(text, schema)
    except RecursionError:
        return ParsedStatement(text=text, error="too deep: nesting exceeds the parser's recursion limit")
    except Exception as exc:  # noqa: BLE001 - the contract is "never raises"; the reason is kept
        return ParsedStatement(text=text, error=f"internal error: {type(exc).__name__}: {_one_line(exc)}")


def with_example_kinds(ps: ParsedStatement, examples: list[ParsedStatement]) -> ParsedStatement:
    """`ps` (a text with $n) with each LIKE on a parameter made a prefix LIKE when every example (the
    same statement with logged parameter values) has a prefix pattern (`'abc%'`) there, and each
    `to_tsvector($n, col)` given the text search configuration when every example names the same one."""
    if not examples or any(not e.ok or len(e.predicates) != len(ps.predicates) for e in examples):
        return ps
    preds = list(ps.predicates)
    for i, p in enumerate(preds):
        if p.kind == "fulltext" and "$" in (p.expression or ""):
            found = {(e.predicates[i].kind, e.predicates[i].column, e.predicates[i].expression) for e in examples}
            kind, column, expression = next(iter(found))
            if len(found) == 1 and kind == "fulltext" and column == p.column and "$" not in (expression or "$"):
                preds[i] = replace(p, expression=expression)
        if p.kind == "like" and p.constant is None and all(
            e.predicates[i].kind == "prefix_like"
            and e.predicates[i].column == p.column
            and e.predicates[i].expression == p.expression
            for e in examples
        ):
            preds[i] = replace(p, kind="prefix_like")
    return replace(ps, predicates=preds) if preds != ps.predicates else ps


def parse_many(texts: Iterable[str], schema: Schema | None = None) -> tuple[list[ParsedStatement], dict]:
    """Parse many texts; returns the statements and a report.

    The report: total, parsed (utility statements count as parsed), failed, parse_rate (parsed/total,
    1.0 when empty), by_kind (counts per kind) and failures (counts per reason, the part of `error`
    before the first colon, e.g. "syntax error", "too long").
    """
    parsed = [parse_statement(text, schema) for text in texts]
    failures = Counter(_reason(p.error) for p in parsed if p.error is not None)
    kinds = Counter(p.kind for p in parsed if p.ok)
    total = len(parsed)
    ok = total - sum(failures.values())
    report = {
        "total": total,
        "parsed": ok,
        "failed": total - ok,
        "parse_rate": (ok / total) if total else 1.0,
        "by_kind": dict(sorted(kinds.items())),
        "failures": dict(failures.most_common()),
    }
    return parsed, report


class NoStatementError(ValueError):
    """The text holds only whitespace, comments or semicolons."""


def parse_sql(text: str) -> exp.Expr:
    """The sqlglot tree of the first statement of `text` with identifiers folded like PostgreSQL.

    pg_stat_statements stores one statement per entry; further statements in `text` are ignored.
    Raises sqlglot's ParseError/TokenError, or NoStatementError.
    """
    trees = [tree for tree in sqlglot.parse(prepare_sql(text), read=DIALECT) if tree is not None]
    if not trees:
        raise NoStatementError("no statement")
    return normalize_identifiers(trees[0], dialect=DIALECT)


def _reason(error: str) -> str:
    return error.split(":", 1)[0].strip()


def _one_line(exc: BaseException | str) -> str:
    """sqlglot's message: its first line (the rest repeats the statement, coloured), 200 characters at most."""
    return one_line(exc, first_line=True, limit=200)


def _parse_error_message(exc: Exception) -> str:
    if isinstance(exc, ParseError) and exc.errors:
        first = exc.errors[0]
        description = _one_line(first.get("description") or "unexpected token")
        description = re.sub(r"<Token token_type: TokenType\.(\w+), text: ([^,]*),.*", r"\2 (\1)",
                             description)
        return f"syntax error: {description} (line {first.get('line')}, col {first.get('col')})"
    if isinstance(exc, TokenError):
        return f"tokenize error: {_one_line(exc)}"
    return f"syntax error: {_one_line(exc)}"


_UTILITY_TYPES: tuple[type, ...] = tuple(
    getattr(exp, name) for name in (
        "Command", "Transaction", "Commit", "Rollback", "Set", "Copy", "Create", "Drop", "Alter",
        "TruncateTable", "Grant", "Revoke", "Analyze", "Execute", "Describe", "Use", "Show", "Pragma",
        "Kill", "Comment",
    ) if hasattr(exp, name)
)


def _kind_of(tree: exp.Expr) -> str | None:
    if isinstance(tree, exp.Insert):  # before the DDL check: sqlglot's Insert is also a DDL
        return "insert"
    if isinstance(tree, exp.Update):
        return "update"
    if isinstance(tree, exp.Delete):
        return "delete"
    if isinstance(tree, exp.Merge):
        return "merge"
    if isinstance(tree, (exp.Query, exp.Values)):
        return "select"
    if isinstance(tree, _UTILITY_TYPES):
        return "utility"
    return None


def _parse(text: str, schema: Schema | None) -> ParsedStatement:
    if len(text) > MAX_TEXT_CHARS:
        return ParsedStatement(text=text, error=f"too long: {len(text)} chars, limit {MAX_TEXT_CHARS}")
    keyword = first_keyword(text)
    if not keyword:
        if not text.strip() or not _LEADING_NOISE.sub("", text).strip(" ;\n\t\r"):
            return ParsedStatement(text=text, error="empty: no statement in the text")
    if keyword in UTILITY_KEYWORDS:
        return ParsedStatement(text=text, kind="utility")
    try:
        tree = parse_sql(text)
    except NoStatementError:
        return ParsedStatement(text=text, error="empty: no statement in the text")
    except (ParseError, TokenError) as exc:
        return ParsedStatement(text=text, error=_parse_error_message(exc))
    kind = _kind_of(tree)
    if kind is None:
        return ParsedStatement(text=text, error=f"not a statement: parsed as {type(tree).__name__}")
    if kind == "utility":
        return ParsedStatement(text=text, kind="utility")
    result = ParsedStatement(text=text, kind=kind)
    _Extractor(schema).run(tree, result)
    result.set_columns = _set_columns(tree)
    return result


def _set_columns(tree: exp.Expr) -> frozenset[str] | None:
    """Columns an UPDATE (or INSERT … ON CONFLICT DO UPDATE) assigns; None when there are none."""
    cols: set[str] = set()
    for node in tree.find_all(exp.Update, exp.OnConflict):
        for assignment in node.args.get("expressions") or []:
            target = assignment.this if isinstance(assignment, exp.EQ) else None
            cols |= {c.name for c in target.find_all(exp.Column)} if target is not None else set()
    return frozenset(cols) if cols else None


# ---------------------------------------------------------------------------------------------------
# 3. scopes and column resolution
# ---------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Base:
    """One occurrence of a base table in a FROM list (two for a self-join)."""

    schema: str | None
    name: str

    @property
    def key(self) -> TableKey:
        return (self.schema, self.name)


@dataclass(eq=False)
class _Derived:
    """A CTE or a subquery in FROM: its output columns map to expressions of its own scope."""

    scope: _Scope | None  # scope of the (first) SELECT; None when the body is not a SELECT
    outputs: dict[str, exp.Expr] = field(default_factory=dict)
    positional: list[exp.Expr] = field(default_factory=list)  # every projection, for AS x(a, b)
    star: bool = False  # SELECT * somewhere in the projection: unknown names are looked up inside


@dataclass(eq=False)
class _Opaque:
    """A set-returning function or VALUES list in FROM: its columns belong to no table."""

    columns: tuple[str, ...] = ()


Source = _Base | _Derived | _Opaque


@dataclass
class _Resolved:
    ref: ColumnRef
    occurrence: _Base
    expression: exp.Expr | None = None  # set when a derived output is an expression over the column


@dataclass(eq=False)
class _Scope:
    parent: _Scope | None
    ctes: dict[str, _Derived]
    select: exp.Expr | None = None
    sources: dict[str, Source] = field(default_factory=dict)
    conditions: list[exp.Expr] = field(default_factory=list)
    # column name -> qualifiers it was used with in this scope (best-effort for ambiguous names)
    qualifiers: dict[str, set[str]] = field(default_factory=dict)


def _strip(node: exp.Expr | None) -> exp.Expr | None:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _is_query(node: exp.Expr) -> bool:
    if isinstance(node, exp.Subquery):
        return not isinstance(_strip(node.this), exp.Table)
    return isinstance(node, exp.Query)


def _local_nodes(node: exp.Expr | None, *, include_self: bool = True) -> Iterator[exp.Expr]:
    """Nodes of `node` without descending into nested queries (they have their own scopes)."""
    if node is None:
        return
    stack = [node]
    while stack:
        current = stack.pop()
        if current is not node and _is_query(current):
            continue
        if current is not node or include_self:
            yield current
        stack.extend(reversed(list(current.iter_expressions())))


def _nested_queries(node: exp.Expr | None) -> Iterator[exp.Expr]:
    """The outermost queries nested in `node` (not `node` itself)."""
    if node is None:
        return
    stack = list(node.iter_expressions())
    while stack:
        current = stack.pop()
        if _is_query(current):
            yield current
            continue
        stack.extend(current.iter_expressions())


def _local_columns(node: exp.Expr | None) -> list[exp.Column]:
    return [n for n in _local_nodes(node) if type(n) is exp.Column and not isinstance(n.this, exp.Star)]


def _ident(node: exp.Expr | None) -> str | None:
    if node is None:
        return None
    if isinstance(node, exp.Identifier):
        return node.this
    name = node.name
    return name or None


def _ident_node(name: str) -> exp.Identifier:
    return exp.Identifier(this=name, quoted=quote_ident(name) != name)


class _SchemaIndex:
    """Lookup of table columns from the optional `schema` argument."""

    def __init__(self, schema: Schema | None):
        self.by_name: dict[str, list[tuple[str | None, frozenset[str]]]] = {}
        for qualified, columns in (schema or {}).items():
            schema_name, _, table = str(qualified).rpartition(".")
            entry = (schema_name.strip('"') or None, frozenset(str(c) for c in columns))
            self.by_name.setdefault(table.strip('"'), []).append(entry)

    def __bool__(self) -> bool:
        return bool(self.by_name)

    def columns(self, base: _Base) -> frozenset[str] | None:
        entries = self.by_name.get(base.name)
        if not entries:
            return None
        if base.schema is not None:
            for schema_name, columns in entries:
                if schema_name == base.schema:
                    return columns
            unqualified = [columns for schema_name, columns in entries if schema_name is None]
            return unqualified[0] if len(unqualified) == 1 else None
        if len(entries) == 1:
            return entries[0][1]
        for schema_name, columns in entries:
            if schema_name in (None, "public"):
                return columns
        return None


# ---------------------------------------------------------------------------------------------------
# 4. extraction
# ---------------------------------------------------------------------------------------------------

_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.DPipe, exp.Dot)
# SELECT parts whose columns are read, besides the conditions, ORDER BY and GROUP BY
_READ_ARGS = ("expressions", "distinct", "having", "qualify", "windows")
_ANY_ALL = tuple(getattr(exp, name) for name in ("Any", "All") if hasattr(exp, name))
_FLIP_BOUND = {"lower": "upper", "upper": "lower"}


def _is_param(node: exp.Expr | None) -> bool:
    return isinstance(node, (exp.Parameter, exp.Placeholder))


def _config_param_only(side: exp.Expr) -> bool:
    """`to_tsvector($n, ...)` (or `$n::regconfig`) with no other parameter and no aggregate."""
    if not isinstance(side, exp.Anonymous) or side.name.lower() != "to_tsvector" or len(side.expressions) != 2:
        return False
    config, document = side.expressions
    while isinstance(config, exp.Cast):
        config = config.this
    return (_is_param(config) and not any(_is_param(n) for n in _local_nodes(document))
            and not side.find(exp.AggFunc, exp.Window))


def _constant_sql(node: exp.Expr | None) -> str | None:
    """SQL of a literal value side (casts and parentheses peeled), or None when not a literal."""
    node = _strip(node)
    while isinstance(node, (exp.Cast, exp.Paren)):
        node = node.this
    if isinstance(node, exp.Boolean):
        return "true" if node.this else "false"
    if isinstance(node, exp.Literal):
        return node.sql(dialect=DIALECT)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return "-" + node.this.sql(dialect=DIALECT)
    return None


def _like_kind(pattern: exp.Expr | None) -> tuple[str, str | None]:
    """prefix_like for a constant pattern with a non-wildcard start, like otherwise."""
    node = _strip(pattern)
    while isinstance(node, exp.Cast):
        node = _strip(node.this)
    if isinstance(node, exp.Literal) and node.is_string:
        value = node.this
        if value and value[0] not in "%_":
            return "prefix_like", node.sql(dialect=DIALECT)
        return "like", node.sql(dialect=DIALECT)
    return "like", None


_Target = tuple[_Resolved, "exp.Expr | None", tuple, bool]


class _Extractor:
    """Walks one parsed statement and fills a ParsedStatement."""

    # the advisor parses thousands of statements against one schema: its index is built once per schema
    # object (the last one seen; a schema dict must not be changed while it is being parsed against)
    _last: tuple[object, int, _SchemaIndex] | None = None

    def __init__(self, schema: Schema | None):
        last = _Extractor._last
        if last is not None and schema is not None and last[0] is schema and last[1] == len(schema):
            self.schema = last[2]
        else:
            self.schema = _SchemaIndex(schema)
            _Extractor._last = (schema, len(schema or ()), self.schema)
        self.tables: list[TableKey] = []
        self.predicates: list[Predicate] = []
        self.joins: list[JoinPair] = []
        self.group_by: list[ColumnRef] = []
        self.columns_used: dict[TableKey, set[str]] = {}
        self.emitted: list[Predicate] = []  # predicates of the atom being classified
        self.seen: set[object] = set()  # predicates, join pairs and group-by refs already recorded

    # -- driver ------------------------------------------------------------------------------------

    def run(self, tree: exp.Expr, out: ParsedStatement) -> None:
        root_query: exp.Expr | None = None
        root_scope: _Scope | None = None
        root_derived: _Derived | None = None
        if isinstance(tree, (exp.Query, exp.Values)):
            root_query = tree
            root_derived = self.query(tree, None, {})
            root_scope = root_derived.scope
        elif isinstance(tree, exp.Insert):
            root_query, root_derived = self.insert(tree, {})
            root_scope = root_derived.scope if root_derived else None
        elif isinstance(tree, (exp.Update, exp.Delete, exp.Merge)):
            self.dml(tree, {})

        out.tables = self.tables
        out.joins = self.joins
        out.predicates = self.predicates
        out.group_by = self.group_by
        out.columns_used = self.columns_used
        if root_query is not None:
            self.order_and_limit(root_query, root_scope, root_derived, out)

    # -- scopes ------------------------------------------------------------------------------------

    def with_ctes(self, node: exp.Expr, parent: _Scope | None,
                  ctes: dict[str, _Derived]) -> dict[str, _Derived]:
        """The CTEs visible in `node`: the inherited ones plus its own WITH list, processed in order."""
        with_ = node.args.get("with_")
        if not isinstance(with_, exp.With):
            return ctes
        visible = dict(ctes)
        for cte in with_.expressions:
            name, body = cte.alias_or_name, _strip(cte.this)
            visible[name] = _Derived(scope=None)
            if with_.args.get("recursive") and isinstance(body, exp.SetOperation):
                # WITH RECURSIVE t AS (anchor UNION ALL step): the step reads t's columns from the anchor
                anchor = self.query(body.left, parent, visible)
                _apply_column_aliases(anchor, cte.args.get("alias"))
                visible[name] = anchor
                self.query(body.right, parent, visible)
                continue
            derived = self.query(body, parent, visible)
            _apply_column_aliases(derived, cte.args.get("alias"))
            visible[name] = derived
        return visible

    def insert(self, tree: exp.Insert,
               ctes: dict[str, _Derived]) -> tuple[exp.Expr | None, _Derived | None]:
        """INSERT: the target table, and the SELECT part when there is one."""
        ctes = self.with_ctes(tree, None, ctes)
        target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        if isinstance(target, exp.Table):
            self.base(target)
        source = tree.expression
        if isinstance(source, exp.Query):
            return source, self.query(source, None, ctes)
        for sub in _nested_queries(source):  # VALUES ((SELECT ...), $1)
            self.query(sub, None, ctes)
        return None, None

    def query(self, node: exp.Expr, parent: _Scope | None, ctes: dict[str, _Derived]) -> _Derived:
        """Process a query (SELECT, set operation, VALUES, parenthesized query) in a new scope."""
        node = _strip(node)
        if isinstance(node, exp.Subquery):
            inner = self.query(node.this, parent, self.with_ctes(node, parent, ctes))
            return inner
        if isinstance(node, exp.SetOperation):
            ctes = self.with_ctes(node, parent, ctes)
            left = self.query(node.left, parent, ctes)
            self.query(node.right, parent, ctes)
            return left
        if isinstance(node, exp.Select):
            scope = self.select(node, parent, ctes)
            return _derived_from_select(scope)
        if isinstance(node, exp.Insert):  # data-modifying CTE
            self.insert(node, ctes)
            return _Derived(scope=None)
        if isinstance(node, (exp.Update, exp.Delete, exp.Merge)):
            self.dml(node, ctes)
            return _Derived(scope=None)
        # VALUES, or something else: only nested queries can hold tables
        for sub in _nested_queries(node):
            self.query(sub, parent, ctes)
        return _Derived(scope=None)

    def select(self, node: exp.Select, parent: _Scope | None, ctes: dict[str, _Derived]) -> _Scope:
        ctes = self.with_ctes(node, parent, ctes)
        scope = _Scope(parent=parent, ctes=ctes, select=node)
        from_ = node.args.get("from_")
        if isinstance(from_, exp.From):
            self.from_item(scope, from_.this)
        for join in node.args.get("joins") or []:
            self.join(scope, join)
        for lateral in node.args.get("laterals") or []:
            self.from_item(scope, lateral)
        where = node.args.get("where")
        if isinstance(where, exp.Where):
            scope.conditions.append(where.this)
        self.finish_scope(scope, node)
        return scope

    def join(self, scope: _Scope, join: exp.Join) -> None:
        before = list(scope.sources.items())
        self.from_item(scope, join.this)
        on = join.args.get("on")
        if on is not None:
            scope.conditions.append(on)
        using = join.args.get("using")
        if using:
            added = [(alias, src) for alias, src in scope.sources.items() if (alias, src) not in before]
            for ident in using:
                name = _ident(ident)
                if name:
                    self.using_pair(scope, before, added, name)

    def using_pair(self, scope: _Scope, before: list, added: list, name: str) -> None:
        right = next((self.lookup(scope, src, name, 0) for _, src in added), None)
        candidates = [src for _, src in before if self.has_column(src, name)]
        source = candidates[0] if len(candidates) == 1 else (before[-1][1] if before else None)
        left = self.lookup(scope, source, name, 0) if source is not None else None
        if left and right:
            self.add_join(left, right)
            self.use(left)
            self.use(right)

    def from_item(self, scope: _Scope, item: exp.Expr | None) -> None:
        item = _strip(item)
        if item is None:
            return
        if isinstance(item, exp.Table):
            alias = item.alias_or_name
            name = _ident(item.this) if isinstance(item.this, exp.Identifier) else None
            if name is None:  # FROM generate_series(...) g
                self.opaque(scope, item, alias)
            elif not item.args.get("db") and name in scope.ctes:
                scope.sources[alias] = scope.ctes[name]
            else:
                scope.sources[alias] = self.base(item)
            for join in item.args.get("joins") or []:
                self.join(scope, join)
            return
        if isinstance(item, exp.Lateral):
            inner = _strip(item.this)
            alias = item.alias or f"lateral_{len(scope.sources)}"
            if not _is_query(inner):  # LATERAL jsonb_array_elements(o.items) e
                self.opaque(scope, item, alias)
                return
            derived = self.query(inner, scope, scope.ctes)
            _apply_column_aliases(derived, item.args.get("alias"))
            scope.sources[alias] = derived
            return
        if isinstance(item, exp.Subquery):
            inner = _strip(item.this)
            if isinstance(inner, exp.Table):  # parenthesized join: (a JOIN b ON ...)
                self.from_item(scope, inner)
            else:
                derived = self.query(inner, scope.parent, scope.ctes)
                _apply_column_aliases(derived, item.args.get("alias"))
                scope.sources[item.alias or f"subquery_{len(scope.sources)}"] = derived
            for join in item.args.get("joins") or []:
                self.join(scope, join)
            return
        # UNNEST(...), VALUES (...), other set-returning constructs
        self.opaque(scope, item, item.alias or f"function_{len(scope.sources)}")

    def opaque(self, scope: _Scope, item: exp.Expr, alias: str) -> None:
        """A function or VALUES in FROM: a source without table columns; its arguments are reads."""
        scope.sources[alias] = _Opaque(_alias_columns(item.args.get("alias")))
        self.use_columns(scope, item)  # may read columns of the sources before it (LATERAL)
        for sub in _nested_queries(item):
            self.query(sub, scope, scope.ctes)

    def base(self, table: exp.Table) -> _Base:
        schema = _ident(table.args.get("db"))
        name = _ident(table.this) or table.name
        base = _Base(schema, name)
        if base.key not in self.tables:
            self.tables.append(base.key)
        return base

    def dml(self, tree: exp.Expr, ctes: dict[str, _Derived]) -> None:
        """UPDATE / DELETE / MERGE: their WHERE (and MERGE's ON) give predicates and joins."""
        ctes = self.with_ctes(tree, None, ctes)
        scope = _Scope(parent=None, ctes=ctes, select=None)
        self.from_item(scope, tree.this)
        from_ = tree.args.get("from_")
        if isinstance(from_, exp.From):
            self.from_item(scope, from_.this)
        using = tree.args.get("using")
        for item in using if isinstance(using, list) else [using] if isinstance(using, exp.Expr) else []:
            self.from_item(scope, item)
        where = tree.args.get("where")
        if isinstance(where, exp.Where):
            scope.conditions.append(where.this)
        if isinstance(tree, exp.Merge) and tree.args.get("on") is not None:
            scope.conditions.append(tree.args["on"])
        # reads outside the conditions: UPDATE's SET right-hand sides
        reads: list[exp.Expr] = []
        if isinstance(tree, exp.Update):
            reads = [assignment.expression for assignment in tree.expressions
                     if isinstance(assignment, exp.EQ)]
        for node in [*scope.conditions, *reads]:
            for sub in _nested_queries(node) if not _is_query(node) else [node]:
                self.query(sub, scope, scope.ctes)
        self.conditions(scope)
        for node in reads:
            self.use_columns(scope, node)

    def finish_scope(self, scope: _Scope, select: exp.Select) -> None:
        """Nested subqueries, then everything this SELECT reads, filters, joins and groups by."""
        for column in _local_columns(select):
            table = _ident(column.args.get("table"))
            if table:
                scope.qualifiers.setdefault(column.name, set()).add(table)
        for node in _expression_parts(select, scope):
            for sub in _nested_queries(node) if not _is_query(node) else [node]:
                self.query(sub, scope, scope.ctes)
        self.conditions(scope)
        # select list, HAVING, windows, DISTINCT ON; ORDER BY / GROUP BY below (names may be aliases)
        for key in _READ_ARGS:
            value = select.args.get(key)
            for node in value if isinstance(value, list) else [value]:
                if isinstance(node, exp.Expr):
                    self.use_columns(scope, node)
        self.stars(scope, select)
        group = select.args.get("group")
        if isinstance(group, exp.Group):
            for item in group.expressions:
                for resolved in self.output_or_columns(scope, item):
                    self.use(resolved)
                    self.add_group_by(resolved)
            for key in ("grouping_sets", "cube", "rollup"):
                for node in group.args.get(key) or []:
                    for resolved in self.resolve_all(scope, node):
                        self.use(resolved)
                        self.add_group_by(resolved)
        order = select.args.get("order")
        if isinstance(order, exp.Order):
            for ordered in order.expressions:
                for resolved in self.output_or_columns(scope, ordered.this):
                    self.use(resolved)

    def stars(self, scope: _Scope, select: exp.Select) -> None:
        for projection in select.expressions:
            if isinstance(projection, exp.Star):
                sources = list(scope.sources.values())
            elif isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
                source = self.source_for(scope, _ident(projection.args.get("table")) or "")
                sources = [source] if source is not None else []
            else:
                continue
            for source in sources:
                if isinstance(source, _Base):
                    self.columns_used.setdefault(source.key, set()).add("*")

    # -- resolution --------------------------------------------------------------------------------

    def source_for(self, scope: _Scope | None, qualifier: str) -> Source | None:
        while scope is not None:
            if qualifier in scope.sources:
                return scope.sources[qualifier]
            scope = scope.parent
        return None

    def has_column(self, source: Source, name: str) -> bool | None:
        """True/False when known, None when the source's columns are unknown."""
        if isinstance(source, _Base):
            columns = self.schema.columns(source)
            return None if columns is None else name in columns
        if isinstance(source, _Derived):
            if name in source.outputs:
                return True
            return None if source.star or source.scope is None else False
        return name in source.columns if source.columns else None

    def resolve(self, scope: _Scope, column: exp.Column, depth: int = 0) -> _Resolved | None:
        """The base-table column behind `column`, looked up in `scope` and its parents."""
        if depth > _MAX_RESOLVE_DEPTH:
            return None
        name = column.name
        qualifier = _ident(column.args.get("table"))
        if qualifier:
            db = _ident(column.args.get("db"))
            current: _Scope | None = scope
            while current is not None:
                source = current.sources.get(qualifier)
                same_schema = db is None or not isinstance(source, _Base) or source.schema == db
                if source is not None and same_schema:
                    return self.lookup(current, source, name, depth)
                current = current.parent
            return None
        current = scope
        while current is not None:
            source = self.pick_source(current, name)
            if source is not None:
                return self.lookup(current, source, name, depth)
            current = current.parent
        if len(scope.sources) == 1:  # the schema does not know the column: trust the text
            return self.lookup(scope, next(iter(scope.sources.values())), name, depth)
        return None

    def pick_source(self, scope: _Scope, name: str) -> Source | None:
        """The source of an unqualified column in this scope (None: not here or ambiguous)."""
        sources = list(scope.sources.values())
        if not sources:
            return None
        known = [(source, self.has_column(source, name)) for source in sources]
        yes = [source for source, has in known if has]
        if len(yes) == 1:
            return yes[0]
        if len(yes) > 1:
            return None
        unknown = [source for source, has in known if has is None]
        if len(unknown) == 1 and (len(sources) == 1 or not self.schema):
            return unknown[0]
        if not unknown:
            return None  # every source says no: an outer column
        # best effort: the name is qualified elsewhere in this scope with exactly one alias
        aliases = scope.qualifiers.get(name, set())
        if len(aliases) == 1:
            return scope.sources.get(next(iter(aliases)))
        return None

    def lookup(self, scope: _Scope, source: Source | None, name: str, depth: int) -> _Resolved | None:
        if isinstance(source, _Base):
            return _Resolved(ColumnRef(source.schema, source.name, name), source)
        if not isinstance(source, _Derived) or source.scope is None:
            return None
        inner = source.scope
        output = source.outputs.get(name)
        if output is None:
            if not source.star:
                return None
            return self.resolve(inner, exp.column(name), depth + 1)
        output = _strip(output.this if isinstance(output, exp.Alias) else output)
        if isinstance(output, exp.Column) and not isinstance(output.this, exp.Star):
            return self.resolve(inner, output, depth + 1)
        # an expression over exactly one base column (e.g. lower(email) AS e)
        columns = _local_columns(output)
        resolved = [self.resolve(inner, c, depth + 1) for c in columns]
        if len(resolved) == 1 and resolved[0] is not None and resolved[0].expression is None:
            if not any(_is_param(n) for n in _local_nodes(output)) and not output.find(exp.AggFunc):
                return _Resolved(resolved[0].ref, resolved[0].occurrence, _with_base_names(output, resolved))
        return None

    def resolve_all(self, scope: _Scope, node: exp.Expr) -> list[_Resolved]:
        found = [self.resolve(scope, column) for column in _local_columns(node)]
        return [r for r in found if r is not None]

    def output_or_columns(self, scope: _Scope, node: exp.Expr) -> list[_Resolved]:
        """ORDER BY / GROUP BY item: an ordinal, an output alias, or an expression over columns."""
        output = _output_expression(scope, node)
        return self.resolve_all(scope, output if output is not None else node)

    # -- facts -------------------------------------------------------------------------------------

    def use(self, resolved: _Resolved) -> None:
        ref = resolved.ref
        self.columns_used.setdefault((ref.schema, ref.table), set()).add(ref.column)

    def use_columns(self, scope: _Scope, node: exp.Expr) -> None:
        for resolved in self.resolve_all(scope, node):
            self.use(resolved)

    def add_join(self, left: _Resolved, right: _Resolved) -> None:
        pair = JoinPair(left.ref, right.ref)
        if pair not in self.seen and JoinPair(right.ref, left.ref) not in self.seen:
            self.seen.add(pair)
            self.joins.append(pair)

    def add_group_by(self, resolved: _Resolved) -> None:
        if ("group", resolved.ref) not in self.seen:
            self.seen.add(("group", resolved.ref))
            self.group_by.append(resolved.ref)

    def emit(self, predicate: Predicate) -> None:
        self.emitted.append(predicate)

    def conditions(self, scope: _Scope) -> None:
        """Predicates and joins of a scope's WHERE and ON conditions.

        A lower and an upper bound on the same column ANDed together become one range with bound
        "both"; bounds in different branches of an OR stay apart.
        """
        conjunctions: dict[int, list[Predicate]] = {}
        for condition in scope.conditions:
            self.use_columns(scope, condition)
            for atom, conjunction in _atoms(condition):
                self.emitted = []
                self.atom(scope, atom)
                conjunctions.setdefault(conjunction, []).extend(self.emitted)
        for predicates in conjunctions.values():
            for predicate in _merge_ranges(predicates):
                if predicate not in self.seen:
                    self.seen.add(predicate)
                    self.predicates.append(predicate)

    def target(self, scope: _Scope, side: exp.Expr | None, *, config_param: bool = False) -> _Target | None:
        """The column (or one-table expression) a predicate side filters on.

        Returns (column, expression node or None, extra column refs, indexable) or None when the side
        reads no column of this statement or columns of several tables. `config_param`: a side
        `to_tsvector($n, ...)` whose only parameter is the text search configuration (pg_stat_statements
        made the constant a $n) keeps its expression, $n and all, for the advisor to fill in.
        """
        side = _strip(side)
        if side is None:
            return None
        if isinstance(side, exp.Column):
            resolved = self.resolve(scope, side)
            if resolved is None:
                return None
            return resolved, resolved.expression, (), True
        columns = _local_columns(side)
        if not columns or any(True for _ in _nested_queries(side)):
            return None
        resolved = [self.resolve(scope, column) for column in columns]
        if any(r is None for r in resolved):
            return None
        occurrences = {id(r.occurrence) for r in resolved}
        if len(occurrences) != 1 or any(r.expression is not None for r in resolved):
            return None
        refs: list[ColumnRef] = []
        for r in resolved:
            if r.ref not in refs:
                refs.append(r.ref)
        main = resolved[0]
        indexable = not any(_is_param(n) for n in _local_nodes(side)) and not side.find(exp.AggFunc,
                                                                                        exp.Window)
        keep = indexable or (config_param and _config_param_only(side))
        expression = _with_base_names(side, resolved) if keep else None
        return main, expression, tuple(refs[1:]) if keep else (), indexable

    def atom(self, scope: _Scope, atom: exp.Expr) -> None:
        """Classify one predicate (an AND/OR operand) into a Predicate or a JoinPair."""
        negated = False
        node = _strip(atom)
        while isinstance(node, exp.Not):
            negated = not negated
            node = _strip(node.this)
        if isinstance(node, exp.Escape):
            node = node.this
        if node is None or isinstance(node, (exp.Exists, exp.Boolean)) or _is_query(node):
            return
        if node.args.get("negate"):
            negated = not negated

        if isinstance(node, exp.Is):
            self.is_atom(scope, node, negated)
            return
        if isinstance(node, (exp.Between, exp.In)):
            self.list_atom(scope, node, negated)
            return
        if isinstance(node, exp.MatchAgainst):
            left, right = (node.expressions[0] if node.expressions else None), node.this
        elif isinstance(node, exp.Binary) and not isinstance(node, _ARITHMETIC):
            left, right = node.this, node.expression
        else:
            # WHERE active / WHERE NOT active / WHERE some_function(col)
            found = self.target(scope, node)
            if found:
                column, expression, extra, indexable = found
                boolean = indexable and isinstance(node, exp.Column)
                constant = ("false" if negated else "true") if boolean else None
                self.emit(_predicate(column, "bool" if boolean else "other", expression, extra,
                                     constant=constant))
            return

        if _tuple_items(left) is not None or _tuple_items(right) is not None:
            self.tuple_atom(scope, node, negated)
            return
        left_found = self.target(scope, left)
        right_found = self.target(scope, right)
        if isinstance(node, exp.EQ) and not negated and (left_found is None) != (right_found is None):
            value = right if left_found else left
            if self.is_opaque_column(scope, value):  # p.id = u.id with u from unnest($1) / VALUES
                column, expression, extra, indexable = left_found or right_found
                self.emit(_predicate(column, "in" if indexable else "other", expression, extra))
                return
        if left_found and right_found:
            self.column_vs_column(node, left_found, right_found, left, right)
            return
        if not left_found and not right_found:
            return
        flipped = not left_found
        column, expression, extra, indexable = left_found or right_found
        value = left if flipped else right
        if _local_columns(_strip(value)):
            return  # the other side reads columns too (other tables, or unresolved): not a plain filter
        kind, constant, bound = _classify(node, value, negated, flipped)
        if kind == "fulltext" and not indexable:  # to_tsvector($n, col) @@ ...: the configuration is a $n
            found = self.target(scope, right if flipped else left, config_param=True)
            if found and found[1] is not None:
                column, expression, extra, _ = found
                self.emit(_predicate(column, kind, expression, extra))
                return
        if not indexable and kind != "other":
            kind, constant, bound = "other", None, None
        self.emit(_predicate(column, kind, expression, extra, constant=constant, bound=bound))

    def tuple_atom(self, scope: _Scope, node: exp.Expr, negated: bool) -> None:
        """(a, b) < ($1, $2) (keyset pagination), (a, b) = ($1, $2): one predicate per column."""
        left, right = node.this, node.expression
        flipped = _tuple_items(left) is None or not _local_columns(left)
        columns, values = (right, left) if flipped else (left, right)
        items = _tuple_items(columns)
        if items is None or _local_columns(values):
            return
        for item in items:
            found = self.target(scope, item)
            if found:
                column, expression, extra, indexable = found
                kind, _, bound = _classify(node, None, negated, flipped)
                if not indexable:
                    kind, bound = "other", None
                self.emit(_predicate(column, kind, expression, extra, bound=bound))

    def is_opaque_column(self, scope: _Scope, node: exp.Expr | None) -> bool:
        """Whether `node` is a column of unnest(...) / VALUES / a function in FROM."""
        node = _strip(node)
        if not isinstance(node, exp.Column):
            return False
        qualifier = _ident(node.args.get("table"))
        if qualifier:
            return isinstance(self.source_for(scope, qualifier), _Opaque)
        opaque = [s for s in scope.sources.values() if isinstance(s, _Opaque) and node.name in s.columns]
        return len(opaque) == 1

    def is_atom(self, scope: _Scope, node: exp.Is, negated: bool) -> None:
        found = self.target(scope, node.this)
        if not found:
            return
        column, expression, extra, indexable = found
        value = node.expression
        if isinstance(value, exp.Null) and indexable:
            self.emit(_predicate(column, "is_not_null" if negated else "is_null", expression, extra))
        elif isinstance(value, exp.Boolean) and not negated and indexable:
            constant = "true" if value.this else "false"
            self.emit(_predicate(column, "bool", expression, extra, constant=constant))
        else:
            self.emit(_predicate(column, "other", expression, extra))

    def list_atom(self, scope: _Scope, node: exp.Expr, negated: bool) -> None:
        """BETWEEN (a range with both bounds) and IN (a list or a subquery)."""
        this = _strip(node.this)
        items = _tuple_items(this)
        if items is not None:  # (a, b) IN (($1, $2), ...): each column is an IN filter
            for item in items:
                found = self.target(scope, item)
                if found:
                    column, expression, extra, indexable = found
                    kind = "in" if indexable and not negated and isinstance(node, exp.In) else "other"
                    self.emit(_predicate(column, kind, expression, extra))
            return
        found = self.target(scope, this)
        if not found:
            return
        column, expression, extra, indexable = found
        if not indexable or negated:
            self.emit(_predicate(column, "other", expression, extra))
        elif isinstance(node, exp.Between):
            self.emit(_predicate(column, "range", expression, extra, bound="both"))
        else:
            values = node.expressions
            constants = [_constant_sql(v) for v in values]
            constant = "(" + ", ".join(constants) + ")" if values and None not in constants else None
            self.emit(_predicate(column, "in", expression, extra, constant=constant))

    def column_vs_column(self, node: exp.Expr, left: tuple, right: tuple, left_node, right_node) -> None:
        left_col, right_col = left[0], right[0]
        bare = isinstance(_strip(left_node), exp.Column) and isinstance(_strip(right_node), exp.Column)
        different = left_col.occurrence is not right_col.occurrence
        plain = left_col.expression is None and right_col.expression is None
        if isinstance(node, (exp.EQ, exp.NullSafeEQ)) and bare and different and plain:
            self.add_join(left_col, right_col)

    # -- ORDER BY / LIMIT of the outermost query ------------------------------------------------

    def order_and_limit(self, query: exp.Expr, scope: _Scope | None, derived: _Derived | None,
                         out: ParsedStatement) -> None:
        """ORDER BY keys and LIMIT of the outermost query (subqueries' ones are not reported)."""
        query = _strip(query)
        if not isinstance(query, (exp.Select, exp.SetOperation, exp.Subquery)):
            return
        order = query.args.get("order")
        if order is None and isinstance(query, exp.Subquery):  # (SELECT ... ORDER BY x) LIMIT 1
            query = _strip(query.unnest())
            order = query.args.get("order")
        if isinstance(order, exp.Order):
            for ordered in order.expressions:
                key = self.sort_key(ordered, query, scope, derived)
                if key is not None:
                    out.order_by.append(key)
        limit = query.args.get("limit")
        if limit is None and isinstance(query.parent, exp.Subquery):
            limit = query.parent.args.get("limit")
        value = None
        if isinstance(limit, exp.Limit):
            value = limit.expression
        elif isinstance(limit, exp.Fetch):
            value = limit.args.get("count")
        if value is not None:
            literal = _strip(value)
            while isinstance(literal, exp.Cast):
                literal = _strip(literal.this)
            if isinstance(literal, exp.Literal) and not literal.is_string and literal.this.isdigit():
                out.limit = int(literal.this)
            elif any(_is_param(n) for n in _local_nodes(value)):
                out.has_limit_param = True

    def sort_key(self, ordered: exp.Ordered, query: exp.Expr, scope: _Scope | None,
                  derived: _Derived | None) -> SortKey | None:
        """A SortKey for a column or a one-column expression; None for aggregates and the like."""
        node = ordered.this
        descending = bool(ordered.args.get("desc"))
        nulls_first = ordered.args.get("nulls_first")
        # PostgreSQL's default is NULLS LAST for ASC and NULLS FIRST for DESC: None means "the default"
        nulls = None if nulls_first is None or bool(nulls_first) == descending else bool(nulls_first)
        if isinstance(query, exp.Select) and scope is not None:
            output = _output_expression(scope, node)
            target = output if output is not None else node
            if target.find(exp.AggFunc, exp.Window):
                return None
            found = self.target(scope, target)
        elif derived is not None and derived.scope is not None and isinstance(_strip(node), exp.Column):
            resolved = self.lookup(derived.scope, derived, _strip(node).name, 0)
            found = (resolved, resolved.expression, (), True) if resolved else None
        else:
            found = None
        if not found:
            return None
        column, expression, _, indexable = found
        if not indexable:
            return None
        return SortKey(column=column.ref, descending=descending, nulls_first=nulls,
                       expression=_expression_sql(expression))



def _classify(node: exp.Expr, value: exp.Expr | None, negated: bool,
              flipped: bool) -> tuple[str, str | None, str | None]:
    """(kind, constant, bound) of a comparison whose other side is `value`."""
    stripped = _strip(value)
    constant = _constant_sql(value)
    if negated and not isinstance(node, (exp.EQ, exp.NEQ)):
        return "other", None, None
    if isinstance(node, (exp.EQ, exp.NullSafeEQ)):
        if negated:
            return "neq", constant, None
        if isinstance(stripped, exp.Any):
            return "in", None, None
        while isinstance(stripped, exp.Cast):
            stripped = _strip(stripped.this)
        if isinstance(stripped, exp.Boolean):
            return "bool", constant, None
        return "eq", constant, None
    if isinstance(node, (exp.NEQ, exp.NullSafeNEQ)):
        return ("eq" if negated else "neq"), constant, None
    if isinstance(node, (exp.GT, exp.GTE, exp.LT, exp.LTE)):
        if isinstance(stripped, _ANY_ALL) or (isinstance(stripped, exp.Anonymous)
                                              and stripped.name.lower() in ("any", "all")):
            return "other", None, None
        bound = "lower" if isinstance(node, (exp.GT, exp.GTE)) else "upper"
        return "range", constant, (_FLIP_BOUND[bound] if flipped else bound)
    if isinstance(node, exp.Like) and not flipped:
        if isinstance(stripped, _ANY_ALL):
            return "like", None, None
        kind, pattern = _like_kind(value)
        return kind, pattern, None
    if isinstance(node, exp.ILike) and not flipped:
        return "ilike", _like_kind(value)[1], None
    if isinstance(node, exp.MatchAgainst):
        return "fulltext", None, None
    if isinstance(node, exp.ArrayContainsAll) and not flipped:
        return "jsonb_contains", constant, None
    if isinstance(node, exp.ArrayContainedBy) and flipped:  # $1 <@ col is col @> $1
        return "jsonb_contains", constant, None
    return "other", None, None


def _predicate(resolved: _Resolved, kind: str, expression: exp.Expr | None, extra: tuple,
               constant: str | None = None, bound: str | None = None) -> Predicate:
    return Predicate(column=resolved.ref, kind=kind,  # type: ignore[arg-type]
                     expression=_expression_sql(expression), constant=constant, bound=bound,
                     extra_columns=tuple(extra))


def _expression_sql(node: exp.Expr | None) -> str | None:
    if node is None:
        return None
    sql = node.sql(dialect=DIALECT, normalize_functions="lower", comments=False)
    # sqlglot upper-cases date_trunc's unit; an index on date_trunc('DAY', x) does not match a query's
    # date_trunc('day', x) (different constants), and applications write the unit in lower case
    return _TRUNC_UNIT.sub(lambda m: m.group(1) + m.group(2).lower() + "'", sql)


_TRUNC_UNIT = re.compile(r"(date_trunc\(')([A-Za-z]+)'")


def _with_base_names(node: exp.Expr, resolved: list[_Resolved | None]) -> exp.Expr:
    """A copy of `node` whose columns are unqualified base-table column names (CREATE INDEX material)."""
    copy = node.copy()
    columns = _local_columns(copy)
    for column, target in zip(columns, resolved, strict=False):
        name = target.ref.column if target is not None else column.name
        column.replace(exp.Column(this=_ident_node(name)))
    return copy if not isinstance(copy, exp.Column) else exp.Column(this=_ident_node(resolved[0].ref.column))


def _tuple_items(node: exp.Expr | None) -> list[exp.Expr] | None:
    """The items of `(a, b)` or `ROW(a, b)`, None for anything else."""
    node = _strip(node)
    if isinstance(node, exp.Tuple) or (isinstance(node, exp.Anonymous) and node.name.lower() == "row"):
        return list(node.expressions)
    return None


def _atoms(condition: exp.Expr) -> Iterator[tuple[exp.Expr, int]]:
    """The predicates of a condition, each with the conjunction it belongs to.

    OR branches are walked too (a BitmapOr can use indexes); the conjunction is 0 for predicates
    ANDed at the top level, else the id of the OR branch they are ANDed in.
    """
    stack: list[tuple[exp.Expr | None, int]] = [(condition, 0)]
    while stack:
        node, conjunction = stack.pop()
        node = _strip(node)
        if isinstance(node, exp.And):
            stack.extend([(node.expression, conjunction), (node.this, conjunction)])
        elif isinstance(node, exp.Or):
            stack.extend([(node.expression, id(node.expression)), (node.this, id(node.this))])
        elif node is not None:
            yield node, conjunction


def _merge_ranges(predicates: list[Predicate]) -> list[Predicate]:
    """A lower and an upper bound on the same column (or expression) become one range with bound both."""
    bounds: dict[tuple, set[str]] = {}
    for p in predicates:
        if p.kind == "range":
            bounds.setdefault((p.column, p.expression), set()).add(p.bound or "both")
    merged: list[Predicate] = []
    done: set[tuple] = set()
    for p in predicates:
        key = (p.column, p.expression)
        if p.kind == "range" and len(bounds[key]) > 1 or (p.kind == "range" and "both" in bounds[key]):
            if key in done:
                continue
            done.add(key)
            p = Predicate(p.column, "range", p.expression, None, "both", p.extra_columns)
        merged.append(p)
    return merged


def _alias_columns(alias: exp.Expr | None) -> tuple[str, ...]:
    if not isinstance(alias, exp.TableAlias):
        return ()
    return tuple(name for name in (_ident(c) for c in alias.args.get("columns") or []) if name)


def _apply_column_aliases(derived: _Derived, alias: exp.Expr | None) -> None:
    """`AS x(a, b)` / `WITH x(a, b) AS (...)`: rename the outputs by position."""
    names = _alias_columns(alias)
    if not names or derived.scope is None or derived.star or len(derived.positional) < len(names):
        return
    outputs = dict(zip(names, derived.positional, strict=False))
    for projection in derived.positional[len(names):]:
        outputs.setdefault(projection.alias_or_name, projection)
    derived.outputs = outputs


def _derived_from_select(scope: _Scope) -> _Derived:
    select = scope.select
    derived = _Derived(scope=scope)
    for projection in select.expressions if isinstance(select, exp.Select) else []:
        if isinstance(projection, exp.Star) or (isinstance(projection, exp.Column)
                                                 and isinstance(projection.this, exp.Star)):
            derived.star = True
            continue
        derived.positional.append(projection)
        name = projection.alias_or_name
        if name and name not in derived.outputs:
            derived.outputs[name] = projection
    return derived


def _output_expression(scope: _Scope, node: exp.Expr) -> exp.Expr | None:
    """For ORDER BY / GROUP BY: the projection an ordinal or a bare output alias stands for."""
    select = scope.select
    if not isinstance(select, exp.Select):
        return None
    node = _strip(node)
    projections = select.expressions
    if isinstance(node, exp.Literal) and not node.is_string and node.this.isdigit():
        index = int(node.this) - 1
        if 0 <= index < len(projections):
            projection = projections[index]
            return projection.this if isinstance(projection, exp.Alias) else projection
        return None
    if isinstance(node, exp.Column) and not node.args.get("table"):
        for projection in projections:
            if isinstance(projection, exp.Alias) and projection.alias == node.name:
                return projection.this
    return None


def _expression_parts(select: exp.Select, scope: _Scope) -> list[exp.Expr]:
    """Parts of a SELECT where subqueries are expressions (not FROM items): WHERE, ON, select list..."""
    parts: list[exp.Expr] = list(scope.conditions)
    for key in (*_READ_ARGS, "group", "order"):
        value = select.args.get(key)
        parts.extend(node for node in (value if isinstance(value, list) else [value])
                     if isinstance(node, exp.Expr))
    return parts


_SPLIT_RE = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|(\$[A-Za-z_]*\$).*?\2|;)""", re.S)


def split_statements(text: str) -> list[str]:
    """Split a script on top-level semicolons (quotes, comments and dollar quotes respected)."""
    out, start = [], 0
    for m in _SPLIT_RE.finditer(text):
        if m.group(0) == ";":
            out.append(text[start:m.start()])
            start = m.end()
    out.append(text[start:])
    return [s.strip() for s in out if s.strip() and not _only_comments(s)]


def _only_comments(s: str) -> bool:
    return not re.sub(r"--[^\n]*|/\*.*?\*/", "", s, flags=re.S).strip()

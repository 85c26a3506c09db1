"""Stable fingerprints of statements: the same statement with other constants gets the same hash.

`SELECT * FROM t WHERE id = 42 LIMIT 10`, `select * from t where id=$1 limit $2` and the
pg_stat_statements text of either normalize to the same text, so a statement typed by a user
(`pgadvisor recommend "SELECT ..."`) finds its template in the workload, and `analyze.templates`
groups a workload's statements into templates.

What `normalize` makes equal: constants and `$n` (also under casts: `'5'::int`, `date '...'`,
`interval '1' day`), the length of IN lists and VALUES rows of constants, whitespace, comments,
keyword and unquoted identifier case, and the names of aliases (table, derived table, CTE and output
column aliases are renamed by position). Everything else of the statement's structure is kept.
"""

from __future__ import annotations

import hashlib
import re

from sqlglot import exp

from pgadvisor.sql.parse import DIALECT, MAX_TEXT_CHARS, UTILITY_KEYWORDS, first_keyword, parse_sql

PLACEHOLDER = "?"
_DIGEST_CHARS = 16

# fallback normalization when the text cannot be parsed (unterminated quotes run to the end)
_FALLBACK_TOKENS = re.compile(
    r"""
      (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<const>(?<![\w$])[eE]?'(?:[^'\\]|\\.|'')*(?:'|\Z)|\$\s*\d+
                |(?<![\w$.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    | (?P<ident>"(?:[^"]|"")*(?:"|\Z))
    | (?P<space>\s+)
    """,
    re.X | re.S,
)


def fingerprint(text: str) -> str:
    """A short hex digest of `normalize(text)`; never raises."""
    return digest(normalize(text))


def digest(normalized: str) -> str:
    """The short hex digest `fingerprint` gives a text that is already normalized."""
    return hashlib.sha256(normalized.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]


def normalize(text: str) -> str:
    """The statement with constants and `$n` replaced by `?`, keywords and whitespace canonical.

    IN lists and VALUES rows made only of constants collapse to one element, so list lengths do
    not matter. Falls back to a regex normalization (constants replaced, whitespace collapsed,
    lower case) when sqlglot cannot parse the text.
    """
    return normalize_with_status(text)[0]


def normalize_with_status(text: str) -> tuple[str, str]:
    """`normalize(text)` and how it was made: "parsed", "utility" (first keyword) or "unparsed" (the
    regex fallback: sqlglot could not parse the text, or it is too long)."""
    if not isinstance(text, str):
        text = str(text)
    if first_keyword(text) in UTILITY_KEYWORDS:
        return _fallback(text), "utility"
    if len(text) <= MAX_TEXT_CHARS:
        try:
            tree = parse_sql(text)
            if not isinstance(tree, exp.Command):
                return _placeholders(tree).sql(dialect=DIALECT, comments=False), "parsed"
        except Exception:  # noqa: BLE001 - any parser failure means the fallback below
            pass
    return _fallback(text), "unparsed"


# canonical alias names (a leading underscore and a number: not the kind of name an application uses)
TABLE_ALIAS = "_t"
COLUMN_ALIAS = "_c"


def _is_constant(node: exp.Expr) -> bool:
    while isinstance(node, (exp.Paren, exp.Cast)):
        node = node.this
    if isinstance(node, exp.Neg):
        node = node.this
    return isinstance(node, (exp.Literal, exp.Parameter, exp.Placeholder, exp.Boolean))


def _replace(node: exp.Expr) -> exp.Expr:
    parent = node.parent
    if isinstance(node, exp.Literal) and isinstance(parent, (exp.Ordered, exp.Group)):
        return node  # ORDER BY 1 / GROUP BY 1 are positions, not constants
    if isinstance(node, (exp.Interval, exp.Cast)) and _is_constant(node.this):
        return exp.var(PLACEHOLDER)  # a typed constant is a constant: '5'::int, date '...', interval '1' day
    if isinstance(node, exp.Neg) and _is_constant(node.this) or isinstance(node, exp.JSONPath):
        return exp.var(PLACEHOLDER)  # -5, -'5'::int; a constant JSON key or path (a ->> 'k')
    # constants that sqlglot reads as keywords: date_part('year', x) / extract(year from x), date_trunc('day', x)
    if isinstance(node, exp.Extract) and isinstance(node.this, (exp.Var, exp.Literal)):
        node.set("this", exp.var(PLACEHOLDER))
    if isinstance(node, (exp.TimestampTrunc, exp.DateTrunc)) and isinstance(node.args.get("unit"), (exp.Var,
                                                                                                      exp.Literal)):
        node.set("unit", exp.var(PLACEHOLDER))
    if isinstance(node, (exp.Literal, exp.Parameter, exp.Placeholder, exp.Boolean)):
        return exp.var(PLACEHOLDER)
    if isinstance(node, (exp.In, exp.Array)) and len(node.expressions) > 1 and all(
        _is_constant(e) for e in node.expressions
    ):
        node.set("expressions", [node.expressions[0]])
    if isinstance(node, exp.Values) and len(node.expressions) > 1 and all(
        isinstance(row, exp.Tuple) and all(_is_constant(e) for e in row.expressions)
        for row in node.expressions
    ):
        node.set("expressions", [node.expressions[0]])
    return node


def _placeholders(tree: exp.Expr) -> exp.Expr:
    out = tree.transform(_replace, copy=True)
    _canonical_aliases(out)
    return out


def _canonical_aliases(tree: exp.Expr) -> None:
    """Rename aliases by position, in place: table aliases (also of derived tables and CTEs) to `_t0`,
    `_t1`, ... and output column aliases to `_c0`, ...; every reference to a renamed name follows.

    The renaming is one-to-one per text, so two texts become equal only when one is the other with
    its aliases renamed. An output alias whose name is also read as a column inside its own SELECT
    (outside ORDER BY / GROUP BY, where PostgreSQL may mean the alias) keeps its name: there it may
    be a real column, and renaming it could make two different statements equal.
    """
    ctes = {cte.alias for cte in tree.find_all(exp.CTE) if cte.alias}
    real_tables = {t.name for t in tree.find_all(exp.Table) if not t.args.get("db") and t.name not in ctes}
    tables: dict[str, str] = {}
    for alias in tree.find_all(exp.TableAlias):
        name = alias.name
        if name and name not in tables and name not in real_tables:
            tables[name] = f"{TABLE_ALIAS}{len(tables)}"
    columns: dict[str, str] = {}
    ambiguous: set[str] = set()
    for alias in tree.find_all(exp.Alias):
        name, select = alias.alias, alias.parent
        if not name or not isinstance(select, exp.Select) or alias.arg_key != "expressions":
            continue
        if _read_as_column(select, name):
            ambiguous.add(name)
        elif name not in columns:
            columns[name] = f"{COLUMN_ALIAS}{len(columns)}"
    for name in ambiguous:
        columns.pop(name, None)
    if not tables and not columns:
        return
    for ident in list(tree.find_all(exp.Identifier)):
        new = _renamed(ident, tables, columns)
        if new is not None:
            ident.set("this", new)
            ident.set("quoted", False)


def _read_as_column(select: exp.Select, name: str) -> bool:
    """Whether a column named `name` is read in `select` outside its ORDER BY / GROUP BY."""
    for col in select.find_all(exp.Column):
        if col.name == name and not col.args.get("table"):
            owner = col.find_ancestor(exp.Order, exp.Group, exp.Select)
            if not (isinstance(owner, (exp.Order, exp.Group)) and owner.parent is select):
                return True
    return False


def _renamed(ident: exp.Identifier, tables: dict[str, str], columns: dict[str, str]) -> str | None:
    parent, key, name = ident.parent, ident.arg_key, ident.this
    if isinstance(parent, exp.TableAlias) and key == "this" \
            or isinstance(parent, exp.Column) and key == "table" \
            or isinstance(parent, exp.Table) and key == "this" and not parent.args.get("db"):
        return tables.get(name)
    if isinstance(parent, exp.Alias) and key == "alias" or isinstance(parent, exp.Column) and key == "this":
        return columns.get(name)
    return None


def _fallback(text: str) -> str:
    def sub(match: re.Match[str]) -> str:
        if match.group("comment") is not None:
            return " "
        if match.group("const") is not None:
            return PLACEHOLDER
        if match.group("ident") is not None:
            return match.group(0)
        return " "

    parts: list[str] = []
    position = 0
    for match in _FALLBACK_TOKENS.finditer(text):
        parts.append(text[position:match.start()].lower())
        parts.append(sub(match))
        position = match.end()
    parts.append(text[position:].lower())
    return re.sub(r"\s+", " ", "".join(parts)).strip().rstrip(";").strip()

"""Stable fingerprints of statements: the same statement with other constants gets the same hash.

`SELECT * FROM t WHERE id = 42 LIMIT 10`, `select * from t where id=$1 limit $2` and the
pg_stat_statements text of either normalize to the same text, so a statement typed by a user
(`pgadvisor recommend "SELECT ..."`) finds its template in the workload.
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
    return hashlib.sha256(normalize(text).encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]


def normalize(text: str) -> str:
    """The statement with constants and `$n` replaced by `?`, keywords and whitespace canonical.

    IN lists and VALUES rows made only of constants collapse to one element, so list lengths do
    not matter. Falls back to a regex normalization (constants replaced, whitespace collapsed,
    lower case) when sqlglot cannot parse the text.
    """
    if not isinstance(text, str):
        text = str(text)
    if len(text) <= MAX_TEXT_CHARS and first_keyword(text) not in UTILITY_KEYWORDS:
        try:
            tree = parse_sql(text)
            if not isinstance(tree, exp.Command):
                return _placeholders(tree).sql(dialect=DIALECT, comments=False)
        except Exception:  # noqa: BLE001 - any parser failure means the fallback below
            pass
    return _fallback(text)


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
    if isinstance(node, exp.Interval) and _is_constant(node.this):
        return exp.Cast(this=exp.var(PLACEHOLDER), to=exp.DataType.build("interval"))
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        return exp.var(PLACEHOLDER)
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
    return tree.transform(_replace, copy=True)


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

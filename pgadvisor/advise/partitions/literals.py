"""Statements with literal values, pointed at a copy: what the partition advisor EXPLAINs so pruning shows.

A generic plan (`$n` as parameters) counts every partition, because pruning happens at executor start.
So each statement is costed with literal values: a logged sample of the application's own values
where the Workload has one, else values drawn from the column statistics (most_common_vals,
histogram_bounds) by the role of the parameter:

- equality / IN on a column: its most common value (the heaviest, so the estimate is not flattered),
  else the median of its histogram;
- a range's lower bound on a time column: one day before the column's max (the recent window time
  reports read); an upper bound alone (`ts < $1`, the retention delete): one day after its min;
  `BETWEEN`/both bounds on any other column: the histogram's 45% and 55% quantiles;
- LIMIT / OFFSET: 10 / 0; anything else (an INSERT's values, an interval): the insert column's value
  as above, else NULL.

A parameter on a column with neither samples nor statistics makes the statement "not costed" with
that reason. The rewritten text names the copy (schema-qualified, aliased to the original name, so
qualified column references still resolve).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlglot import exp

from pgadvisor.sql.parse import parse_sql

DIALECT = "postgres"
# how far a time window's lower bound lies before the column's max (chosen by hand: time-window
# reports read "the last day" most; the bench's families use 1–24 h windows)
RECENT_WINDOW = timedelta(days=1)
NARROW_QUANTILES = (0.45, 0.55)
DEFAULT_LIMIT = 10


class NoValues(ValueError):
    """A parameter whose column has no logged sample and no statistics."""


def parse_time(text: str) -> datetime | date | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None


def _quantile(hist: list[str], q: float) -> str:
    return hist[min(len(hist) - 1, max(0, round(q * (len(hist) - 1))))]


class ColumnValues:
    """Literal values for one table's parameters, from its columns' statistics."""

    def __init__(self, columns: list[dict[str, Any]]):
        self.cols = {c["name"]: c for c in columns}

    def _stats(self, column: str) -> tuple[list[str], list[str]]:
        c = self.cols.get(column) or {}
        return list(c.get("histogram") or []), list(c.get("mcv") or [])

    def equal(self, column: str, i: int = 0) -> str:
        hist, mcv = self._stats(column)
        if mcv:
            return mcv[i % len(mcv)]
        if hist:
            return _quantile(hist, 0.5 if i == 0 else (i * 0.13) % 1)
        raise NoValues(f"no log samples and no statistics for column {column!r} (ANALYZE the table)")

    def bound(self, column: str, side: str, both: bool) -> str:
        hist, mcv = self._stats(column)
        values = hist or sorted(mcv)
        if not values:
            raise NoValues(f"no log samples and no statistics for column {column!r} (ANALYZE the table)")
        lo, hi = parse_time(values[0]), parse_time(values[-1])
        if lo is not None and hi is not None and not str(values[0]).lstrip("-").isdigit():
            if side == "lower":
                return str(max(lo, hi - RECENT_WINDOW))
            return str(hi) if both else str(min(hi, lo + RECENT_WINDOW))
        return _quantile(values, NARROW_QUANTILES[0] if side == "lower" else NARROW_QUANTILES[1])


def _column_of(node: exp.Expression) -> str | None:
    return node.name if isinstance(node, exp.Column) else None


def _value_for(param: exp.Parameter, values: ColumnValues, insert_cols: list[str], seen: dict[str, int]) -> str | None:
    """The literal for one parameter by its place in the tree; None: NULL."""
    parent = param.parent
    while isinstance(parent, (exp.Cast, exp.Paren)):
        param, parent = parent, parent.parent
    if isinstance(parent, (exp.Limit, exp.Offset)) or isinstance(parent, exp.Fetch):
        return str(DEFAULT_LIMIT if isinstance(parent, exp.Limit) else 0)
    if isinstance(parent, exp.Between):
        col = _column_of(parent.this)
        if col:
            side = "lower" if parent.args.get("low") is param else "upper"
            return values.bound(col, side, True)
    if isinstance(parent, exp.In):
        col = _column_of(parent.this)
        if col:
            seen[col] = seen.get(col, -1) + 1
            return values.equal(col, seen[col])
    if isinstance(parent, (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
        left, right = parent.this, parent.expression
        other = right if left is param else left
        col = _column_of(other)
        if col and isinstance(parent.parent, exp.Update):  # SET col = $n: any value of the column
            try:
                return values.equal(col)
            except NoValues:
                return None
        if col:
            if isinstance(parent, exp.EQ):
                return values.equal(col)
            lower = isinstance(parent, (exp.GT, exp.GTE)) == (left is not param)
            both = _has_both(parent, col)
            return values.bound(col, "lower" if lower else "upper", both)
    if isinstance(parent, exp.Tuple) and insert_cols:
        idx = parent.expressions.index(param) if param in parent.expressions else -1
        if 0 <= idx < len(insert_cols):
            try:
                return values.equal(insert_cols[idx])
            except NoValues:
                return None
    return None


def _has_both(cmp: exp.Expression, col: str) -> bool:
    """Whether the statement bounds `col` from both sides (then the upper bound is the column's max)."""
    root = cmp.root()
    kinds = set()
    for node in root.find_all(exp.GT, exp.GTE, exp.LT, exp.LTE):
        for side, other in ((node.this, node.expression), (node.expression, node.this)):
            if _column_of(side) == col and not isinstance(other, exp.Column):
                lower = isinstance(node, (exp.GT, exp.GTE)) == (side is node.this)
                kinds.add(lower)
    return kinds == {True, False}


def literal_text(text: str, values: ColumnValues) -> str:
    """`text` with each `$n` replaced by a literal (see the module's docstring); NoValues when a
    parameter's column has no statistics. A text without parameters comes back re-rendered."""
    tree = parse_sql(text)
    insert_cols: list[str] = []
    if isinstance(tree, exp.Insert) and isinstance(tree.this, exp.Schema):
        insert_cols = [e.name for e in tree.this.expressions]
    seen: dict[str, int] = {}
    chosen: dict[str, str | None] = {}
    for param in list(tree.find_all(exp.Parameter)):
        key = param.sql(DIALECT)
        if key not in chosen:
            chosen[key] = _value_for(param, values, insert_cols, seen)
        value = chosen[key]
        if value is None:
            param.replace(exp.Null())
        else:
            number = isinstance(param.parent, (exp.Limit, exp.Offset))
            param.replace(exp.Literal.number(value) if number else exp.Literal.string(value))
    return tree.sql(DIALECT)


def retarget(text: str, table: tuple[str, str], copy: tuple[str, str]) -> str | None:
    """`text` with every reference to `table` ((schema, name); unqualified references count) pointed at
    `copy`; None when the statement reads or writes another table too (the copies hold only this one)."""
    tree = parse_sql(text)
    ctes = {c.alias for c in tree.find_all(exp.CTE)}
    for t in list(tree.find_all(exp.Table)):
        if t.name in ctes and not t.db:
            continue
        if t.name != table[1] or (t.db and t.db != table[0]):
            return None
        alias = t.args.get("alias") or exp.TableAlias(this=t.this.copy())
        t.set("this", exp.to_identifier(copy[1], quoted=True))
        t.set("db", exp.to_identifier(copy[0], quoted=True))
        t.set("alias", alias)
    return tree.sql(DIALECT)

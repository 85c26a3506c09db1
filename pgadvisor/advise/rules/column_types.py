"""What the column-type rules share: one pass over the columns of user tables, one finding per column."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pgadvisor.advise.rules.common import CatalogScan, finding, finding_key, user_tables
from pgadvisor.findings import Recommendation, Severity
from pgadvisor.indexdef import qualified, quote_ident

# what a type rule writes for one column: (fix SQL, undo SQL)
Fix = Callable[[dict[str, Any]], tuple[str, str]]


def columns(scan: CatalogScan) -> list[dict[str, Any]]:
    """The columns of ordinary and partitioned tables (a partition's are its parent's: reported once)."""
    tables = {(r["schema"], r["name"]) for r in user_tables(scan)}
    return [c for c in scan.view.schema.get("columns", []) if (c["schema"], c["table"]) in tables]


def alter_type(c: dict[str, Any], new_type: str, using: str | None = None) -> str:
    """`ALTER TABLE s.t ALTER COLUMN c TYPE new_type [USING ...];`"""
    tail = f" USING {using}" if using else ""
    return (f"ALTER TABLE {qualified(c['schema'], c['table'])} ALTER COLUMN {quote_ident(c['column'])} "
            f"TYPE {new_type}{tail};")


def find_columns(scan: CatalogScan, rule: str, severity: Severity, confidence: float,
                 match: Callable[[dict[str, Any]], bool], title: str, why: str, fix: Fix) -> list[Recommendation]:
    """A finding for every column `match` accepts; `title` and `why` are formatted with the column's dict."""
    recs = []
    for c in columns(scan):
        if not match(c):
            continue
        sql, undo = fix(c)
        recs.append(finding(
            rule, severity, key=finding_key(rule, c["schema"], c["table"], c["column"]),
            title=title.format(**c), target=f"{c['schema']}.{c['table']}", sql=sql, rollback_sql=undo,
            why=why.format(**c), confidence=confidence,
            evidence={"column": {"schema": c["schema"], "table": c["table"], "name": c["column"], "type": c["type"]}},
        ))
    return recs

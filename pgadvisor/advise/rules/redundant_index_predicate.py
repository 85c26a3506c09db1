"""redundant-index-predicate: a partial index whose predicate is always true, or fixes one of its own keys.

**What it finds.** A valid partial index whose predicate (1) says `col IS NOT NULL` of a NOT NULL
column (pg-index-health's `indexes_with_unnecessary_where_clause`), or (2) says `key = constant` of
one of the index's own key columns, so that key holds one value in the whole index.

**Why it matters.** (1) The predicate excludes nothing, but the planner uses a partial index only
for queries whose conditions imply it, so queries without `col IS NOT NULL` cannot use it: a full
index would serve them all at the same size. (2) A key with one value makes every entry wider and
orders nothing; the predicate already does its work.

**The fix.** Rebuild the index without the redundant part, under its own name and without
blocking writes (build `CONCURRENTLY` under a temporary name, drop the old one, rename): (1) without
the predicate; (2) manual: without that key (keep at least one key). The undo rebuilds the original
definition the same way.

**When it is safe.** (1) Always: the index holds the same rows. (2) When no query sorts by the
constant key together with the others (it cannot matter: it is constant).

**False positives.** (1) None. (2) A unique partial index that uses the key to match a constraint
definition elsewhere.
"""

from __future__ import annotations

import re

from pgadvisor.advise.rules.common import (
    CatalogScan,
    finding,
    index_body,
    index_id,
    is_partition,
    key_columns,
    manual,
    rebuild_sql,
    table_of,
)
from pgadvisor.advise.schema import unquote
from pgadvisor.findings import Recommendation, Severity

ID = "redundant-index-predicate"
DEFAULT_SEVERITY = Severity.low
CONFIDENCE = 0.9  # read from the definitions (chosen by hand)
_IDENT = r'([a-z_][a-z0-9_$]*|"(?:[^"]|"")+")'
_NOT_NULL = re.compile(_IDENT + r" IS NOT NULL")
_EQUALS = re.compile(r"\(" + _IDENT + r" = ('(?:[^']|'')*'(?:::[\w ]+)?|-?\d+(?:\.\d+)?|true|false)\)")


def _always_true(scan: CatalogScan, ix: dict, pred: str) -> str | None:
    for m in _NOT_NULL.finditer(pred):
        col = scan.view.column(table_of(ix), unquote(m[1]))
        if col and col.get("not_null"):
            return unquote(m[1])
    return None


def _fixed_key(ix: dict, keys: list, pred: str) -> str | None:
    names = {name for name, col in keys if col is not None}
    for m in _EQUALS.finditer(pred):
        if " OR " not in pred and unquote(m[1]) in names:
            return unquote(m[1])
    return None


def find(scan: CatalogScan) -> list[Recommendation]:
    recs = []
    for ix, e in scan.indexes():
        pred = ix.get("predicate")
        if is_partition(scan, ix["schema"], ix["table"]) or not e.valid or not pred:
            continue
        body = index_body(ix)
        original = rebuild_sql(ix, body)
        column = _always_true(scan, ix, pred)
        if column and " OR " not in pred:
            where = body.rfind(" WHERE ")
            sql = rebuild_sql(ix, body[:where]) if pred.count(" AND ") == 0 else manual(
                f"rebuild {ix['name']} without the condition {column} IS NOT NULL (the column is NOT NULL);")
            why = (f"{ix['name']}'s predicate ({pred}) says {column} IS NOT NULL, but the column is NOT NULL: the "
                   "condition excludes nothing and keeps queries without it from using the index")
            title = f"Partial index {ix['name']}: {column} IS NOT NULL is always true"
        else:
            column = _fixed_key(ix, key_columns(scan, ix), pred)
            if not column:
                continue
            sql = manual(f"rebuild {ix['name']} without the key {column}, which its predicate fixes to one value "
                         "(keep at least one key);")
            why = (f"{ix['name']} ({ix.get('definition')}) has key {column}, which its predicate ({pred}) fixes to "
                   "one value: the key orders nothing and widens every entry")
            title = f"Partial index {ix['name']} has key {column}, which its predicate fixes"
        recs.append(finding(ID, DEFAULT_SEVERITY, key=f"{index_id(ID, ix)}:{column}", target=table_of(ix),
                            title=title, sql=sql, rollback_sql=original, why=why, confidence=CONFIDENCE,
                            evidence={"column": column, "predicate": pred}))
    return recs

"""nullable-index-column: a unique index that rows with NULLs slip through (or, in production, a B-tree of NULLs).

**What it finds.** (1) A valid unique index (not a primary key) of two or more keys where a key
column is nullable and the index treats NULLs as distinct (the default; `NULLS NOT DISTINCT` is
PostgreSQL 15+), unless its predicate says the column `IS NOT NULL`. (2) When the statistics
describe production (`recommend`, not `check`): a non-unique B-tree whose first key column is at
least `THRESHOLDS["null_frac"]` NULL and whose predicate does not exclude them
(pg-index-health's `indexes_with_null_values` reports every nullable first key; this rule reports
only where it matters).

**Why it matters.** (1) `UNIQUE (tenant_id, code)` with a nullable `code` accepts any number of
`(1, NULL)` rows: the uniqueness the schema seems to promise does not hold. (2) An index that is
mostly NULL entries is mostly dead weight when the queries look for values.

**The fix.** Manual. (1) Either `ALTER TABLE ... ALTER COLUMN ... SET NOT NULL` (a full scan under
an ACCESS EXCLUSIVE lock; add a `CHECK (col IS NOT NULL) NOT VALID` and validate it first to make it
quick), or rebuild the index `NULLS NOT DISTINCT` (15+). (2) A partial index `WHERE col IS NOT
NULL`. The undo of each is written in the finding.

**When it is safe.** Setting NOT NULL fails while NULLs exist; `NULLS NOT DISTINCT` fails while
duplicates with NULLs exist: find them first.

**False positives.** (1) A nullable key where several NULL rows are intended ("at most one row per
non-NULL code"). (2) Queries that look for the NULLs (`WHERE col IS NULL`) need them indexed.
"""

from __future__ import annotations

import re

from pgadvisor.advise.rules.common import (
    CatalogScan,
    finding,
    index_id,
    is_partition,
    key_columns,
    manual,
    rollback_sql,
    table_of,
)
from pgadvisor.findings import Recommendation, Severity
from pgadvisor.indexdef import qualified, quote_ident

ID = "nullable-index-column"
DEFAULT_SEVERITY = Severity.medium  # (2), a size smell, is low
CONFIDENCE = 0.75  # several NULL rows may be intended (chosen by hand)
THRESHOLDS = {
    # half the entries NULL: a partial index is at most half the size (chosen by hand)
    "null_frac": 0.5,
}


def _excluded(ix: dict, column: str) -> bool:
    """Whether the index's predicate says `column IS NOT NULL`."""
    pred = ix.get("predicate") or ""
    return bool(re.search(rf"\(?{re.escape(quote_ident(column))} IS NOT NULL", pred))


def _unique_hole(scan: CatalogScan, ix: dict, keys: list) -> str | None:
    if not ix.get("is_unique") or ix.get("is_primary") or ix.get("nulls_not_distinct") or len(keys) < 2:
        return None
    nullable = [name for name, col in keys if col is not None and not col.get("not_null") and not _excluded(ix, name)]
    return nullable[0] if nullable else None


def _mostly_null(scan: CatalogScan, ix: dict, keys: list) -> str | None:
    if not scan.options.trust_statistics or ix.get("is_unique") or ix.get("method") != "btree":
        return None
    name, col = keys[0]
    if col is None or col.get("not_null") or _excluded(ix, name):
        return None
    return name if float(col.get("null_frac") or 0) >= scan.threshold(ID, "null_frac") else None


def find(scan: CatalogScan) -> list[Recommendation]:
    recs = []
    for ix, e in scan.indexes():
        if is_partition(scan, ix["schema"], ix["table"]) or not e.valid or not e.keys:
            continue
        keys = key_columns(scan, ix)
        table = qualified(ix["schema"], ix["table"])
        column = _unique_hole(scan, ix, keys)
        if column:
            sql = manual(f"ALTER TABLE {table} ALTER COLUMN {quote_ident(column)} SET NOT NULL; or (PostgreSQL 15+) "
                         f"rebuild {ix['name']} with NULLS NOT DISTINCT;")
            undo = manual(f"ALTER TABLE {table} ALTER COLUMN {quote_ident(column)} DROP NOT NULL; or rebuild "
                          f"{ix['name']} as it was: {rollback_sql(ix)}")
            why = (f"unique index {ix['name']} ({ix.get('definition')}) has nullable key {column}: rows with a NULL "
                   f"{column} are never duplicates of each other, so the uniqueness does not hold for them")
            severity, title = DEFAULT_SEVERITY, f"Unique index {ix['name']} lets rows with NULL {column} repeat"
        else:
            column = _mostly_null(scan, ix, keys)
            if not column:
                continue
            frac = float(keys[0][1].get("null_frac") or 0)
            sql = manual(f"CREATE INDEX CONCURRENTLY ON {table} (...) WHERE {quote_ident(column)} IS NOT NULL, "
                         f"then DROP INDEX CONCURRENTLY {qualified(ix['schema'], ix['name'])};")
            undo = rollback_sql(ix)
            why = (f"{ix['name']} leads with {column}, which is {frac:.0%} NULL: a partial index WHERE {column} IS NOT "
                   "NULL serves the lookups of values at a fraction of the size")
            severity, title = Severity.low, f"Index {ix['name']} is mostly NULL entries ({column})"
        recs.append(finding(ID, severity, key=f"{index_id(ID, ix)}:{column}", target=table_of(ix), title=title,
                            sql=sql, rollback_sql=undo, why=why, confidence=CONFIDENCE, evidence={"column": column}))
    return recs

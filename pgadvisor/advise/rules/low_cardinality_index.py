"""low-cardinality-index: a B-tree that leads with a boolean (or, in production statistics, a column of few values).

**What it finds.** A valid, non-unique B-tree whose first key is a `boolean` column; and, when the
statistics describe production (`recommend`, not `check` on a test database), one whose first key
column has at most `THRESHOLDS["max_distinct"]` distinct values on a table of at least
`THRESHOLDS["min_rows"]` rows. pg-index-health's `indexes_with_boolean` flags a boolean anywhere in
the keys; a boolean after a selective column is harmless, so this rule looks at the first key only.

**Why it matters.** An index whose first key splits the table into two or three parts narrows
nothing for the common values (the planner reads the table instead) and for the rare value a
partial index is far smaller; meanwhile every write maintains it.

**The fix.** Manual: for the rare value, a partial index on the columns the queries filter or sort
by, `WHERE flag` (or `WHERE status = 'rare'`), then drop this one. The undo is this index's own
definition, built `CONCURRENTLY`.

**When it is safe.** After checking which statements use the index (`pg_stat_user_indexes.idx_scan`,
EXPLAIN of the statements that filter on the column).

**False positives.** A boolean first key followed by selective keys, where the queries always filter
on both, serves them well; a column whose rare value is most of what the queries read.
"""

from __future__ import annotations

from pgadvisor.advise.rules.common import (
    CatalogScan,
    drop_index_sql,
    finding,
    index_id,
    is_partition,
    key_columns,
    manual,
    rollback_sql,
    table_of,
)
from pgadvisor.findings import Recommendation, Severity
from pgadvisor.indexdef import qualified

ID = "low-cardinality-index"
DEFAULT_SEVERITY = Severity.low
CONFIDENCE = 0.7  # a B-tree on two values is rarely right, but queries may need it (chosen by hand)
THRESHOLDS = {
    "max_distinct": 3.0,  # a status with three values is as unselective as a boolean (chosen by hand)
    "min_rows": 100_000.0,  # below it a scan of the table is cheap anyway (chosen by hand)
}


def _few_values(scan: CatalogScan, ix: dict, col: dict) -> bool:
    if not scan.options.trust_statistics:
        return False
    rows = float((scan.view.relations.get(table_of(ix)) or {}).get("reltuples") or 0)
    distinct = scan.view.n_distinct(table_of(ix), col["column"])
    return rows >= scan.threshold(ID, "min_rows") and 0 < distinct <= scan.threshold(ID, "max_distinct")


def find(scan: CatalogScan) -> list[Recommendation]:
    recs = []
    for ix, e in scan.indexes():
        if is_partition(scan, ix["schema"], ix["table"]) or not e.valid or e.unique or e.method != "btree" \
                or not e.keys:
            continue
        name, col = key_columns(scan, ix)[0]
        if col is None or not (col["type"] == "boolean" or _few_values(scan, ix, col)):
            continue
        distinct = scan.view.n_distinct(table_of(ix), name)
        what = "a boolean" if col["type"] == "boolean" else f"a column of {distinct:.0f} values"
        recs.append(finding(
            ID, DEFAULT_SEVERITY, key=index_id(ID, ix), target=table_of(ix),
            title=f"Index {ix['name']} leads with {what} ({name})",
            sql=manual(f"replace it by a partial index for the rare value, e.g. CREATE INDEX CONCURRENTLY ON "
                       f"{qualified(ix['schema'], ix['table'])} (<the columns the queries use>) WHERE <{name} = the "
                       f"rare value>; then {drop_index_sql(ix)}"),
            rollback_sql=rollback_sql(ix),
            why=(f"{ix['name']} ({ix.get('definition')}) leads with {what}: it narrows nothing for the common "
                 "value, and a partial index serves the rare one at a fraction of the size"),
            confidence=CONFIDENCE, evidence={"column": name, "type": col["type"]}))
    return recs

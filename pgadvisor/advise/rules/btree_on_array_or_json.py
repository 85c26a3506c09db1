"""btree-on-array-or-json: a B-tree whose keys include an array or `jsonb` column.

**What it finds.** A valid B-tree with a key column of an array type or of type `jsonb` (INCLUDE
columns are not keys). pg-index-health's `btree_indexes_on_array_columns` looks for arrays; `jsonb`
is the same mistake.

**Why it matters.** A B-tree on an array or a document orders whole values: it serves equality of
the entire value and nothing else — not `@>`, `&&`, `?` or a path lookup, which are what such
columns are queried with — and large values make it large (a value over a third of a page cannot be
indexed at all, and the insert fails).

**The fix.** For a single-key index: a GIN index on the column (`jsonb_path_ops` serves `@>` in a
smaller index), then drop the B-tree; the undo rebuilds the B-tree and drops the GIN index. With
more keys, manual.

**When it is safe.** When no statement compares the whole value with `=` or sorts by it (EXPLAIN
them): GIN does not serve those.

**False positives.** A B-tree that backs a uniqueness rule on whole arrays, or equality lookups of
small arrays, is deliberate: allow-list it.
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
    partitioned,
    rollback_sql,
    table_of,
)
from pgadvisor.findings import Recommendation, Severity
from pgadvisor.indexdef import qualified, quote_ident

ID = "btree-on-array-or-json"
DEFAULT_SEVERITY = Severity.low
CONFIDENCE = 0.8  # whole-value equality is a real, rarer use (chosen by hand)


def _composite(col: dict | None) -> bool:
    return col is not None and (col.get("type_category") == "A" or col["type"] == "jsonb")


def find(scan: CatalogScan) -> list[Recommendation]:
    recs = []
    for ix, e in scan.indexes():
        if is_partition(scan, ix["schema"], ix["table"]) or not e.valid or e.method != "btree":
            continue
        keys = key_columns(scan, ix)
        hits = [(name, col) for name, col in keys if _composite(col)]
        if not hits:
            continue
        name, col = hits[0]
        table = qualified(ix["schema"], ix["table"])
        gin = f"{ix['name'][:58]}_gin"
        if len(keys) == 1 and not ix.get("is_unique") and not ix.get("predicate"):
            concurrently = "" if partitioned(ix) else "CONCURRENTLY "
            sql = (f"CREATE INDEX {concurrently}{quote_ident(gin)} ON {table} USING gin ({quote_ident(name)}); "
                   f"{drop_index_sql(ix)}")
            undo = f"{rollback_sql(ix)} DROP INDEX {concurrently}{qualified(ix['schema'], gin)};"
        else:
            sql = manual(f"index {name} with GIN (CREATE INDEX CONCURRENTLY ON {table} USING gin "
                         f"({quote_ident(name)})) and keep the other keys in a B-tree of their own;")
            undo = manual("drop the GIN index you built;")
        recs.append(finding(
            ID, DEFAULT_SEVERITY, key=index_id(ID, ix), target=table_of(ix),
            title=f"B-tree {ix['name']} indexes {col['type']} column {name}",
            sql=sql, rollback_sql=undo,
            why=(f"{ix['name']} is a B-tree on {name} ({col['type']}): it serves only equality of the whole value, "
                 "not containment or key lookups; GIN does"),
            confidence=CONFIDENCE, evidence={"column": name, "type": col["type"]}))
    return recs

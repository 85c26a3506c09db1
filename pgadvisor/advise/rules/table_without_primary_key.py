"""table-without-primary-key: an ordinary or partitioned table with no primary key.

**What it finds.** A table (not a partition: it inherits its parent's key; not a materialized view)
without a PRIMARY KEY constraint (pg-index-health's `tables_without_primary_key`, splinter's
`no_primary_key`). A table with a unique index on NOT NULL columns is reported too, and the finding
names that index.

**Why it matters.** Logical replication cannot replicate its UPDATEs and DELETEs (there is no
replica identity unless one is set by hand), duplicate rows cannot be told apart or removed one at a
time, ORMs and tools such as pg_repack need a key, and most such tables are an oversight.

**The fix.** Manual: choose the key. `ALTER TABLE ... ADD PRIMARY KEY (cols)` (or
`ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY`); on a large table build a unique
index `CONCURRENTLY` first and add the key `USING INDEX` it. The undo is `ALTER TABLE ... DROP
CONSTRAINT <name>`.

**When it is safe.** Adding a key validates it: it fails on duplicate or NULL values, which have to
be cleaned first.

**False positives.** A log or staging table that is only appended to and read in bulk may need no
key: allow-list it.
"""

from __future__ import annotations

from pgadvisor.advise.rules.common import CatalogScan, finding, finding_key, manual, user_tables
from pgadvisor.findings import Recommendation, Severity
from pgadvisor.indexdef import qualified

ID = "table-without-primary-key"
DEFAULT_SEVERITY = Severity.medium
CONFIDENCE = 0.9  # the catalog says it; append-only tables may not need one (chosen by hand)


def find(scan: CatalogScan) -> list[Recommendation]:
    recs = []
    for rel in user_tables(scan):
        key = f"{rel['schema']}.{rel['name']}"
        indexes = scan.view.index_dicts.get(key, [])
        if any(ix.get("is_primary") for ix in indexes):
            continue
        cols = scan.view.columns.get(key, {})
        candidates = [ix["name"] for ix in indexes
                      if ix.get("is_unique") and ix.get("is_valid", True) and not ix.get("predicate")
                      and all((cols.get(c.strip('"')) or {}).get("not_null") for c in ix.get("columns") or [])]
        table = qualified(rel["schema"], rel["name"])
        hint = (f"unique index {candidates[0]} on NOT NULL columns could become it: ALTER TABLE {table} ADD "
                f"PRIMARY KEY USING INDEX {candidates[0]}" if candidates else
                f"ALTER TABLE {table} ADD PRIMARY KEY (<columns>), or ADD COLUMN id bigint GENERATED ALWAYS AS "
                "IDENTITY PRIMARY KEY")
        recs.append(finding(
            ID, DEFAULT_SEVERITY, key=finding_key(ID, rel["schema"], rel["name"]), target=key,
            title=f"Table {rel['name']} has no primary key", sql=manual(f"choose a key: {hint};"),
            rollback_sql=manual(f"ALTER TABLE {table} DROP CONSTRAINT <the key's name>;"),
            why=(f"{key} has no primary key: logical replication cannot apply its updates and deletes, and "
                 "duplicate rows cannot be told apart"),
            confidence=CONFIDENCE, evidence={"unique_not_null_indexes": candidates}))
    return recs

"""table-bloat: a table whose dead rows are a large part of it (an estimate from the statistics counters).

**What it finds.** A table of at least `THRESHOLDS["min_bytes"]` whose dead tuples (`n_dead_tup`) are
at least `THRESHOLDS["dead_fraction"]` of its live and dead tuples. Runtime: `check` runs it only
with `--include-runtime`. splinter's `table_bloat` and pg-index-health's `bloated_tables` estimate
the free space inside pages from statistics instead; this rule reads the dead-tuple counter, which
VACUUM turns into reusable space: what it finds is vacuum falling behind, the cause of bloat.

**Why it matters.** Dead rows are read by every sequential scan and kept in indexes until VACUUM
removes them: the table is larger and slower than its live rows need, and if vacuum keeps falling
behind, the space is never given back.

**The fix.** `VACUUM (VERBOSE, ANALYZE) schema.table` (no lock beyond SHARE UPDATE EXCLUSIVE);
nothing to undo. If it recurs, lower the table's `autovacuum_vacuum_scale_factor`, and look for long
transactions that hold back the horizon. Space already lost inside pages needs `pg_repack` or
`VACUUM FULL` (an ACCESS EXCLUSIVE lock): manual.

**When it is safe.** VACUUM is always safe; it reads the whole table and writes WAL.

**False positives.** Counters are estimates, reset by a crash or `pg_stat_reset()`; a table that
autovacuum is vacuuming right now.
"""

from __future__ import annotations

from pgadvisor.advise.rules.common import CatalogScan, finding, finding_key, manual, mib, user_tables
from pgadvisor.findings import Recommendation, Severity
from pgadvisor.indexdef import qualified

ID = "table-bloat"
KIND = "runtime"
DEFAULT_SEVERITY = Severity.low
CONFIDENCE = 0.6  # counters, not a measure of the pages (chosen by hand)
THRESHOLDS = {
    "min_bytes": float(100 << 20),  # 100 MiB: smaller tables are scanned quickly anyway (chosen by hand)
    # autovacuum_vacuum_scale_factor's default: past it autovacuum should have vacuumed the table
    "dead_fraction": 0.2,
}


def find(scan: CatalogScan) -> list[Recommendation]:
    recs = []
    for rel in user_tables(scan):
        size = float(rel.get("table_bytes") or 0)
        dead, live = float(rel.get("n_dead_tup") or 0), float(rel.get("n_live_tup") or 0)
        if size < scan.threshold(ID, "min_bytes") or dead < scan.threshold(ID, "dead_fraction") * (dead + live) \
                or dead <= 0:
            continue
        table = f"{rel['schema']}.{rel['name']}"
        share = dead / (dead + live)
        recs.append(finding(
            ID, DEFAULT_SEVERITY, key=finding_key(ID, rel["schema"], rel["name"]), target=table,
            title=f"{share:.0%} of {rel['name']}'s rows are dead ({mib(size)})",
            sql=f"VACUUM (VERBOSE, ANALYZE) {qualified(rel['schema'], rel['name'])};",
            rollback_sql=manual("nothing to undo;"),
            why=(f"{table} holds {dead:,.0f} dead rows beside {live:,.0f} live ones ({share:.0%}): vacuum is "
                 f"behind, and every scan of its {mib(size)} reads them"),
            confidence=CONFIDENCE, evidence={"n_dead_tup": dead, "n_live_tup": live, "table_bytes": size}))
    return recs

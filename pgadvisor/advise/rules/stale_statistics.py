"""stale-statistics: a table whose planner statistics are missing or older than most of its rows.

**What it finds.** A table of at least `THRESHOLDS["min_rows"]` rows that was never analyzed (no
`last_analyze`, no `last_autoanalyze`), or whose rows changed since the last ANALYZE
(`n_mod_since_analyze`) amount to at least `THRESHOLDS["mod_fraction"]` of its rows. Runtime: a test
database's statistics say nothing about production's, so `check` runs it only with
`--include-runtime`.

**Why it matters.** The planner estimates every row count from these statistics: stale ones make it
choose nested loops over millions of rows, or sequential scans where an index was right.

**The fix.** `ANALYZE schema.table` (reads a sample, blocks nothing but DDL); nothing to undo. If it
recurs, lower the table's `autovacuum_analyze_scale_factor`.

**When it is safe.** Always; on a very large table the sample read takes a while.

**False positives.** A table that was just bulk-loaded and is about to be analyzed by autovacuum;
counters reset by a crash or `pg_stat_reset()` make `n_mod_since_analyze` start from zero (then it
under-reports).
"""

from __future__ import annotations

from pgadvisor.advise.rules.common import CatalogScan, finding, finding_key, manual, user_tables
from pgadvisor.findings import Recommendation, Severity
from pgadvisor.indexdef import qualified

ID = "stale-statistics"
KIND = "runtime"
DEFAULT_SEVERITY = Severity.low
CONFIDENCE = 0.8  # the counters say it; autovacuum may be about to run (chosen by hand)
THRESHOLDS = {
    "min_rows": 10_000.0,  # below it a misestimate costs little (chosen by hand)
    # twice autovacuum_analyze_scale_factor's default (0.1): autovacuum should have analyzed it by now
    "mod_fraction": 0.2,
}


def find(scan: CatalogScan) -> list[Recommendation]:
    recs = []
    for rel in user_tables(scan):
        rows = max(float(rel.get("reltuples") or 0), float(rel.get("n_live_tup") or 0))
        if rows < scan.threshold(ID, "min_rows"):
            continue
        changed = float(rel.get("n_mod_since_analyze") or 0)
        never = not rel.get("last_analyze") and not rel.get("last_autoanalyze")
        if not never and changed < scan.threshold(ID, "mod_fraction") * rows:
            continue
        table = f"{rel['schema']}.{rel['name']}"
        why = (f"{table} ({rows:,.0f} rows) was never analyzed" if never else
               f"{changed:,.0f} of {table}'s {rows:,.0f} rows changed since its last ANALYZE")
        recs.append(finding(
            ID, DEFAULT_SEVERITY, key=finding_key(ID, rel["schema"], rel["name"]), target=table,
            title=f"Statistics of {rel['name']} are " + ("missing" if never else "stale"),
            sql=f"ANALYZE {qualified(rel['schema'], rel['name'])};", rollback_sql=manual("nothing to undo;"),
            why=why + ": the planner's row estimates for it are off", confidence=CONFIDENCE,
            evidence={"rows": rows, "n_mod_since_analyze": changed, "last_analyze": str(rel.get("last_analyze")),
                      "last_autoanalyze": str(rel.get("last_autoanalyze"))}))
    return recs

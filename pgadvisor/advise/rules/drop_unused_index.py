"""drop-unused-index: a valid index that no scan used over a statistics window long enough to trust.

**What it finds.** An index with `idx_scan = 0` since the statistics were reset (or over the store's
window), when that window is at least `CatalogOptions.min_window_days` (7 days) long and the index
at least `min_size_bytes` (1 MiB) large. An index another rule already flagged is not reported
twice.

**Why it matters.** Every INSERT, every non-HOT UPDATE and every DELETE's vacuum maintains it; it
takes disk, cache and backup space, and its presence can make updates of its columns non-HOT.

**The fix.** `DROP INDEX CONCURRENTLY`, without blocking reads or writes; the rollback is the
index's own definition, built `CONCURRENTLY`.

**When it is safe.** Primary keys, unique indexes and indexes backing a constraint are never
proposed (they enforce something whether or not a scan uses them; they are listed among the
rejected), nor is anything while the window is too short.

**False positives.** Index statistics are per server: a replica, a monthly report or a yearly job
may use an index this server never scanned. An expression index also gives the planner statistics
on its expression, which better row estimates may depend on without any scan of it.
"""

from __future__ import annotations

from pgadvisor.advise.rules import severity
from pgadvisor.advise.rules.common import CatalogScan, Drop, drop_recommendation, mib, protected, size_of
from pgadvisor.findings import Recommendation, Severity

ID = "drop-unused-index"
KIND = "runtime"  # idx_scan counters: a test database's say nothing about production
DEFAULT_SEVERITY = Severity.low  # medium from severity.DROP_MEDIUM_BYTES
# no scan in the window, but a replica or a rare job may scan it (chosen by hand)
CONFIDENCE = 0.6
REPLICA_NOTE = (
    "index statistics are per server: a replica (or a monthly job) may use this index even though "
    "this server never scanned it; check them before dropping"
)


def find(scan: CatalogScan) -> list[Recommendation]:
    recs = []
    opts = scan.options
    window = opts.stats_window_days
    for ix, e in scan.indexes():
        if scan.is_flagged(ix) or not e.valid:
            continue
        scans = ix.get("idx_scan")
        if scans is None or int(scans) > 0:
            continue
        size = size_of(ix)
        reason = protected(ix)
        if reason:
            scan.reject(ID, ix, f"unused but {reason}: never dropped")
        elif window is None or window < opts.min_window_days:
            shown = "unknown" if window is None else f"{window:.1f} days"
            scan.reject(ID, ix, f"no scans, but the statistics window ({shown}) is shorter than "
                        f"{opts.min_window_days:g} days: not enough to call it unused")
        elif size < opts.min_size_bytes:
            scan.reject(ID, ix, f"unused but small ({mib(size)} < {mib(opts.min_size_bytes)})")
        else:
            scan.flag(ix)
            why = f"no index scan in {window:.0f} days; it still costs {mib(size)} and every write; " + REPLICA_NOTE
            if e.has_expression:
                why += "; an expression index also gives the planner statistics on its expression"
            drop = Drop(ID, "unused", severity.drop(size), why, CONFIDENCE)
            recs.append(drop_recommendation(ix, drop, {"stats_window_days": window}))
    return recs

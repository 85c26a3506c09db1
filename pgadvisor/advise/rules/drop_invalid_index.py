"""drop-invalid-index: an index PostgreSQL marks invalid (`pg_index.indisvalid` is false).

**What it finds.** An index left behind by a `CREATE INDEX CONCURRENTLY` or `REINDEX CONCURRENTLY`
that failed or was interrupted (a unique violation, a deadlock, a cancelled statement, a lost
connection).

**Why it matters.** The planner never uses an invalid index, but every INSERT and every UPDATE that
is not HOT still maintains it: it costs writes, disk and vacuum time for nothing, and it blocks
another build under the same name.

**The fix.** `DROP INDEX CONCURRENTLY` removes it without blocking reads or writes. The rollback is
the index's own definition, built `CONCURRENTLY`: run it instead of the drop when the index is
wanted (for a unique index, after the duplicates that failed its build are gone).

**When it is safe.** For the queries, always: no plan can use it. An invalid unique index whose
build got far enough still checks the rows written since (inserts of a duplicate fail); dropping it
ends that check, which no constraint promised.

**False positives.** An index whose concurrent build is still running is invalid until it ends:
read the catalog again when a build may be in progress (`pg_stat_progress_create_index`).
"""

from __future__ import annotations

from pgadvisor.advise.rules.common import CatalogScan, Drop, drop_recommendation
from pgadvisor.findings import Recommendation, Severity

ID = "drop-invalid-index"
DEFAULT_SEVERITY = Severity.medium
# the catalog says it outright; the rest of 1 is the build still running (chosen by hand)
CONFIDENCE = 0.95
WHY = (
    "the index is invalid (a failed or interrupted CREATE INDEX CONCURRENTLY, or REINDEX): it is maintained "
    "on every write but never used; drop it, or rebuild it with the rollback statement if it is wanted"
)


def find(scan: CatalogScan) -> list[Recommendation]:
    """Every invalid index, whatever else it is."""
    recs = []
    for ix, e in scan.indexes():
        if e.valid:
            continue
        scan.flag(ix)
        recs.append(drop_recommendation(ix, Drop(ID, "invalid", DEFAULT_SEVERITY, WHY, CONFIDENCE)))
    return recs

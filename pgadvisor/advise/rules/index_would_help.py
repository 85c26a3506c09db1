"""index-would-help: an index the advisor finds for the statements the tests ran, past a cost reduction.

**What it finds.** The index advisor (`recommend`, the create-index rule) run on the test database
over the statements the tests ran — those touching a table with a production size of at least
large-table-scan's `min_rows`, or all of them when no production size is known — and each index it
recommends that lowers its statements' estimated cost by at least
`THRESHOLDS["min_reduction_pct"]` (50 %). The key is `index-would-help:schema.table:<keys>`.

**Why it matters.** It is the index to build for the statements a change adds, found before the
change reaches production.

**The fix.** The advisor's `CREATE INDEX CONCURRENTLY`; the undo is `DROP INDEX CONCURRENTLY`.

**When it is safe.** As for create-index: room for the index and its write overhead (the evidence).

**False positives.** How exact it is: the costs are the planner's on the test database (hypopg
what-if, else the heuristic), that is at the test tables' size: a table of a few rows rarely gains
from an index there, so this rule under-reports; large-table-scan, which scales to production, is the
rule that catches those scans. Generic plans of parameterized statements.
"""

from __future__ import annotations

from typing import Any

from pgadvisor.advise.rules.common import CatalogScan, Requires, finding
from pgadvisor.findings import Recommendation, Severity

ID = "index-would-help"
KIND = "workload"
REQUIRES = Requires(extensions=("pg_stat_statements",))
DEFAULT_SEVERITY = Severity.medium
THRESHOLDS = {
    "min_reduction_pct": 50.0,  # the advisor's own medium cut-off (severity.MEDIUM_REDUCTION_PCT)
    "time_limit_s": 60.0,  # the advisor's deadline in check: a CI step (chosen by hand)
}


def key_of(d: Any) -> str:
    """`index-would-help:schema.table:keys` of the advisor's IndexDef: its keys comma-separated, or, for a
    non-B-tree, covering or partial index, the rest of its label (`USING gin(tags)`, `(a) INCLUDE(b)`)."""
    rest = d.label(qualify=False, sep=",")[len(d.table):]
    simple = "(" + ",".join(k.label() for k in d.keys) + ")"
    return f"{ID}:{d.table_key}:{rest[1:-1] if rest == simple else rest.strip()}"


def _texts(facts: Any, scan: CatalogScan) -> list[str]:
    from pgadvisor.advise.rules import large_table_scan

    if not facts.sizes:
        return [s.query for s in facts.statements if s.planned]
    low = scan.threshold(large_table_scan.ID, "min_rows")
    return [s.query for s in facts.statements
            if s.planned and any(facts.sizes[n.table].rows >= low for n in s.nodes if n.table in facts.sizes)]


def find_workload(facts: Any, scan: CatalogScan) -> list[Recommendation]:
    from pgadvisor.advise.review import recommend
    from pgadvisor.advise.rules import create_index

    texts = _texts(facts, scan)
    if not texts:
        return []
    review = recommend(facts.dsn, texts=texts, time_limit_s=scan.threshold(ID, "time_limit_s"))
    recs = []
    for r in review.recommendations:
        reduction = float((r.benefit or {}).get("reduction_pct") or 0)
        if r.rule != create_index.ID or r.index is None or reduction < scan.threshold(ID, "min_reduction_pct"):
            continue
        recs.append(finding(
            ID, DEFAULT_SEVERITY, key=key_of(r.index), target=r.target,
            title=r.title, sql=r.sql, rollback_sql=r.rollback_sql,
            why=f"the index advisor estimates it lowers its statements' cost by {reduction:.0f}% on the test "
                f"database: {r.why}",
            confidence=r.confidence, evidence={**r.evidence, "benefit": r.benefit, "verified": str(r.verified)}))
    return recs

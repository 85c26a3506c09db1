"""large-table-sort: a statement the tests ran that sorts more rows of a production-sized table than work_mem holds.

**What it finds.** A statement of the test database's pg_stat_statements whose generic plan sorts
(a Sort or Incremental Sort node, not directly under a LIMIT: a top-N sort keeps only the limit's
rows) rows of a table that has at least `THRESHOLDS["min_rows"]` rows in production, when the sort's
rows scaled to production (the test plan's rows × production rows ÷ the rows the planner assumed
for the test table) times their width exceed the test server's `work_mem`. The key is
`large-table-sort:schema.table:<statement fingerprint>` (the largest production table under the sort).

**Why it matters.** A sort larger than work_mem spills to temporary files: on a production-sized
table it writes and reads the rows again on disk, on every call.

**The fix.** Manual: an index in the sort's order (the index-would-help rule reports one when the
index advisor finds it), a LIMIT, or a work_mem sized for the statement (`SET LOCAL work_mem`).
Nothing to undo.

**When it is safe.** Raising work_mem for everyone multiplies by the connections and sort nodes.

**False positives.** How exact it is: the rows are the test plan's selectivity scaled to the
production size (a never-analyzed test table has default selectivities), their width the test
plan's; the memory is the rows' bytes without the sort's per-tuple overhead (so it underestimates
slightly); a hash aggregate or a merge join the planner would choose at production size is not
re-planned.
"""

from __future__ import annotations

from typing import Any

from pgadvisor.advise.rules.common import CatalogScan, Requires, finding, manual
from pgadvisor.advise.rules.large_table_scan import statement_evidence
from pgadvisor.findings import Recommendation, Severity

ID = "large-table-sort"
KIND = "workload"
REQUIRES = Requires(extensions=("pg_stat_statements",))
DEFAULT_SEVERITY = Severity.medium
CONFIDENCE = 0.6  # rows and widths are scaled estimates (see the doc)
THRESHOLDS = {
    "min_rows": 100_000.0,  # the same size as large-table-scan's (chosen by hand)
}


def find_workload(facts: Any, scan: CatalogScan) -> list[Recommendation]:
    recs = []
    seen: set[str] = set()
    work_mem = float(facts.costs["work_mem_bytes"])
    for s in facts.statements:
        for node in s.nodes:
            size = facts.sizes.get(node.table)
            key = f"{ID}:{node.table}:{s.fingerprint}"
            if node.kind != "sort" or node.under_limit or size is None or key in seen or \
                    size.rows < scan.threshold(ID, "min_rows"):
                continue
            rows = min(node.plan_rows * facts.scale(node), size.rows)
            nbytes = rows * max(node.width, 1)
            if nbytes <= work_mem:
                continue
            seen.add(key)
            recs.append(finding(
                ID, DEFAULT_SEVERITY, key=key, target=node.table,
                title=f"A statement sorts ~{rows:,.0f} rows of {node.table} in production (> work_mem)",
                sql=manual("an index in the sort's order, a LIMIT, or SET LOCAL work_mem for this statement;"),
                rollback_sql=manual("nothing to undo;"),
                why=(f"its plan sorts rows of {node.table}; at the production size ({size.rows:,.0f} rows, "
                     f"{size.source}) that is about {rows:,.0f} rows of {node.width} bytes, {nbytes / 1048576:,.0f} "
                     f"MiB, more than work_mem ({work_mem / 1048576:g} MiB): the sort spills to disk"),
                confidence=CONFIDENCE,
                evidence={"statement": statement_evidence(s), "table": node.table, "kind": "sort",
                          "production": {"rows": size.rows, "pages": size.pages, "source": size.source},
                          "estimated": {"rows_sorted": round(rows, 1), "bytes": round(nbytes),
                                        "work_mem_bytes": work_mem}}))
    return recs

"""large-table-scan: a statement the tests ran that reads a whole table which is large in production.

**What it finds.** A statement of the test database's pg_stat_statements whose generic plan has a
sequential scan of a table that has at least `THRESHOLDS["min_rows"]` rows in production (from
`--production-store`, else the rows declared in the config), when no existing index reaches that
table: the statement is planned again with `enable_seqscan = off`, and if the planner then reaches the
table through an index, the sequential scan was only the small test table's choice and is not
reported. The key is `large-table-scan:schema.table:<statement fingerprint>`.

**Why it matters.** A test database holds a few rows, so every plan is fast there; in production
the same statement reads every page of the table on every call.

**The fix.** Manual: index what the statement filters the table by (`pgadvisor recommend --dsn
<test db> "<statement>"` proposes and costs one; the index-would-help rule reports it when the
advisor finds one), or allow-list the statement when it is meant to read the whole table (an export,
a report). Nothing to undo.

**When it is safe.** Adding an index costs writes and disk: see the index advisor's evidence.

**False positives.** How exact it is: the production size is exact for a store (`reltuples`,
`relpages` of the latest snapshot) and estimated from the row width for declared rows; the cost is
the planner's own sequential-scan formula (pages × seq_page_cost + rows × (cpu_tuple_cost +
cpu_operator_cost for a filter)) with the test server's cost settings; the rows it returns are the
test plan's selectivity times the production rows, and a test table that was never analyzed has
default selectivities (0.5 % for an equality). The probe sees only indexes that exist in the test
database. A statement that returns most of the table needs no index.
"""

from __future__ import annotations

from typing import Any

from pgadvisor.advise.rules.common import CatalogScan, Requires, finding, manual
from pgadvisor.findings import Recommendation, Severity

ID = "large-table-scan"
KIND = "workload"
REQUIRES = Requires(extensions=("pg_stat_statements",))
DEFAULT_SEVERITY = Severity.medium  # high from THRESHOLDS["high_rows"]
CONFIDENCE = 0.7  # the plan is the test's; sizes and costs are scaled (see the doc)
THRESHOLDS = {
    # 100,000 rows are about 1,000 pages of 100-byte rows: a scan of them costs milliseconds per call, which a
    # statement run per request multiplies (chosen by hand)
    "min_rows": 100_000.0,
    # 10 million rows: seconds per call when the table is not cached (chosen by hand)
    "high_rows": 10_000_000.0,
}


def statement_evidence(s: Any) -> dict[str, Any]:
    return {"fingerprint": s.fingerprint, "queryid": s.queryid, "query": s.query, "calls": s.calls,
            "mean_ms_in_tests": round(s.mean_ms, 3)}


def find_workload(facts: Any, scan: CatalogScan) -> list[Recommendation]:
    recs = []
    seen: set[str] = set()
    low, high = scan.threshold(ID, "min_rows"), scan.threshold(ID, "high_rows")
    c = facts.costs
    for s in facts.statements:
        for node in s.nodes:
            size = facts.sizes.get(node.table)
            key = f"{ID}:{node.table}:{s.fingerprint}"
            if node.kind != "seq-scan" or node.served_by_index or size is None or size.rows < low or key in seen:
                continue
            seen.add(key)
            cost = size.pages * c["seq_page_cost"] + size.rows * (
                c["cpu_tuple_cost"] + (c["cpu_operator_cost"] if node.filtered else 0.0))
            returned = min(node.plan_rows * facts.scale(node), size.rows)
            recs.append(finding(
                ID, Severity.high if size.rows >= high else DEFAULT_SEVERITY, key=key, target=node.table,
                title=f"A statement reads all of {node.table} ({size.rows:,.0f} rows in production)",
                sql=manual(f"index what the statement filters {node.table} by (pgadvisor recommend --dsn <test "
                           "database> '<statement>' proposes one), or allow-list it if it must read the table;"),
                rollback_sql=manual("nothing to undo;"),
                why=(f"its plan scans {node.table} sequentially and no index reaches it (planned again with "
                     f"enable_seqscan off); in production ({size.source}) that reads {size.pages:,.0f} pages and "
                     f"{size.rows:,.0f} rows per call (planner cost {cost:,.0f}) to return about {returned:,.0f}"),
                confidence=CONFIDENCE,
                evidence={"statement": statement_evidence(s), "table": node.table, "kind": "seq-scan",
                          "production": {"rows": size.rows, "pages": size.pages, "source": size.source},
                          "estimated": {"cost": round(cost, 1), "rows_returned": round(returned, 1),
                                        "scale": round(facts.scale(node), 3)}}))
    return recs

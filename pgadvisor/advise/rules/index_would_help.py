"""index-would-help: an index the advisor finds for the statements the tests ran, past a cost reduction.

**What it finds.** The index advisor (the create-index rule, run as `recommend "SELECT …"` runs it,
on the catalog `check` already read) over the statements the tests ran whose test plan scans or sorts
a table with a production size of at least large-table-scan's `min_rows` (any scanned or sorted table
when no production size is known) and for which the advisor's candidate generator proposes an index
that no existing index serves — at most `THRESHOLDS["max_statements"]` (100) of them by total time,
within `THRESHOLDS["time_limit_s"]` (4 s; check's summary line says when either cut the run short) —
and each index it recommends that lowers its statements' estimated cost by at least
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
    # the advisor's deadline in check (a CI step): issue 11's 10 s for check on 2,000 tables leaves ~4 s once
    # start-up, the catalog, the static rules and the plans are read (docs/benchmarks.md, issue 11)
    "time_limit_s": 4.0,
    # the statements the advisor reads, by total time: its baseline costs every one of them in full, whatever
    # the deadline (chosen by hand: a test suite's statements on large tables are rarely more)
    "max_statements": 100,
}


def key_of(d: Any) -> str:
    """`index-would-help:schema.table:keys` of the advisor's IndexDef: its keys comma-separated, or, for a
    non-B-tree, covering or partial index, the rest of its label (`USING gin(tags)`, `(a) INCLUDE(b)`)."""
    rest = d.label(qualify=False, sep=",")[len(d.table):]
    simple = "(" + ",".join(k.label() for k in d.keys) + ")"
    return f"{ID}:{d.table_key}:{rest[1:-1] if rest == simple else rest.strip()}"


def _texts(facts: Any, scan: CatalogScan) -> list[str]:
    """The statements to advise on, by total time: those whose test plan scans or sorts a table that is
    large in production (every scanned or sorted table when no production size is known)."""
    from pgadvisor.advise.rules import large_table_scan

    low = scan.threshold(large_table_scan.ID, "min_rows")

    def large(table: str) -> bool:
        return table in facts.sizes and facts.sizes[table].rows >= low if facts.sizes else True

    return [s.query for s in facts.statements if s.planned and any(large(n.table) for n in s.nodes)]


def _with_candidates(texts: list[str], facts: Any) -> list[str]:
    """The texts for which the advisor's candidate generator proposes an index that no existing index
    serves already (a lookup by primary key has none): the others cannot gain, and in one run with them
    they would only dilute the workload the advisor weighs each index against."""
    from pgadvisor.advise.indexes.candidates import CandidateGenerator
    from pgadvisor.advise.schema import SchemaView
    from pgadvisor.sql.parse import parse_statement

    view = SchemaView(facts.schema, facts.search_path)
    names = view.parser_schema()
    parsed = [(str(i), parse_statement(text, names)) for i, text in enumerate(texts)]
    cands, _ = CandidateGenerator(view).generate([(key, ps) for key, ps in parsed if ps.ok])
    wanted = {key for c in cands for key in c.statements}
    return [text for i, text in enumerate(texts) if str(i) in wanted]


def find_workload(facts: Any, scan: CatalogScan) -> list[Recommendation]:
    """The advisor (`whatif_single`, as `recommend "SELECT …"` runs it) on the catalog `check` read, over
    the statements of `_texts` up to `max_statements`, under `time_limit_s`; a cut is told in `facts.limits`."""
    from pgadvisor.advise.indexes import AdvisorOptions, whatif_single
    from pgadvisor.advise.indexes.candidates import TS_CONFIG_KEY
    from pgadvisor.advise.rules import create_index
    from pgadvisor.pg.connect import connect

    texts = _texts(facts, scan)
    if texts and facts.schema:
        texts = _with_candidates(texts, facts)
    if not texts:
        return []
    cap = int(scan.threshold(ID, "max_statements"))
    limit = scan.threshold(ID, "time_limit_s")
    cut = []
    if len(texts) > cap:
        cut.append(f"advised on the {cap} statements of most total time of {len(texts)} an index could serve")
        texts = texts[:cap]
    schema = {**facts.schema, TS_CONFIG_KEY: facts.ts_config} if facts.schema else None
    with connect(facts.dsn) as conn:
        found, _, stats = whatif_single(conn, texts, AdvisorOptions(time_limit_s=limit), schema=schema,
                                        connect=lambda: connect(facts.dsn))
    hit = (stats.get("selection") or {}).get("time_limit_hit") or []
    if hit:
        cut.append(f"its {limit:g} s time limit cut {', '.join(hit)} short")
    if cut:
        facts.limits[ID] = "; ".join(cut)
    recs = []
    for r in found:
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

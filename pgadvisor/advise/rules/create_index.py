"""create-index: a new index that the workload's statements would use, and what it would save them.

**What it finds.** The index advisor (`pgadvisor.advise.indexes`) reads the workload's statements,
proposes candidate indexes (equality columns, then range and sort columns; covering, partial and
expression indexes), costs the statements with each candidate as a hypothetical index (hypopg) and
picks the set that saves the most estimated time per byte within the budget, net of the writes each
index slows down. `verified` says what the benefit rests on: `hypopg` (the planner used the index),
`heuristic` (no hypopg: column statistics), `rule` (GIN and BRIN, which the what-if cannot cost).

**Why it matters.** A statement that reads a table without a fitting index reads far more pages
than it returns; the benefit is the estimated execution time saved per day, from the statements'
calls and mean times.

**The fix.** `CREATE INDEX CONCURRENTLY` builds the index without blocking writes (it waits for the
transactions running on the table, and takes two scans of it); the rollback is
`DROP INDEX CONCURRENTLY`. `recommend --apply` builds them on a test database and costs the
statements again with the real indexes.

**When it is safe.** On a primary with room for the index (`cost.size_bytes`) and for the write
overhead the evidence states (`cost.write_overhead_pct`, and the writing statements it slows down,
for instance updates that stop being HOT).

**False positives.** Costs are the planner's estimates, from generic plans of parameterized
statements unless the server log gave real values; a statement whose rows are skewed may plan
otherwise with its real parameters. Heuristic and rule findings are estimates, not plans.
"""

from __future__ import annotations

from typing import Any

from pgadvisor.advise.schema import candidate_id, create_sql, drop_sql
from pgadvisor.findings import Recommendation, Severity
from pgadvisor.indexdef import IndexDef

ID = "create-index"
KIND = "workload"  # recommend's index advisor; check's workload rules reuse it through recommend()
DEFAULT_SEVERITY = Severity.low  # higher by the time saved: severity.create_index


def recommendation(d: IndexDef, name: str, *, id: str | None = None, rule: str = ID,
                   **fields: Any) -> Recommendation:
    """A recommendation to create `d` as index `name`: id (`create-index:schema.table(keys)` unless
    given), target, the DDL and its rollback; `fields` are the rest of Recommendation's (severity,
    title, benefit, cost, confidence, verified, evidence)."""
    return Recommendation(id=id or candidate_id(d), rule=rule, target=d.table_key, sql=create_sql(d, name),
                          rollback_sql=drop_sql(d, name), index=d, **fields)

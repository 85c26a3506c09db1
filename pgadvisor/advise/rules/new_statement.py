"""new-statement: a statement the tests ran that the baseline's tests did not.

**What it finds.** With `check --baseline FILE`: each statement of the test database's
pg_stat_statements whose fingerprint (`pgadvisor.sql.fingerprint`: constants, IN-list lengths,
whitespace, case and aliases do not matter) is not among the baseline's `statements`. Without a
baseline it reports nothing. The key is `new-statement:<fingerprint>`.

**Why it matters.** A new statement is new load on production: the reviewer of a change sees which
queries it adds next to the findings about them (large-table-scan, large-table-sort,
index-would-help name the same fingerprint).

**The fix.** None: it is information. Nothing to undo.

**When it is safe.** Always: it changes nothing.

**False positives.** A statement whose text changed in a way the fingerprint keeps (a different
column list, a join added) is new by design; one the test suite stopped running for a while is new
again when it returns.
"""

from __future__ import annotations

from typing import Any

from pgadvisor.advise.rules.common import CatalogScan, Requires, finding, manual
from pgadvisor.advise.rules.large_table_scan import statement_evidence
from pgadvisor.findings import Recommendation, Severity

ID = "new-statement"
KIND = "workload"
REQUIRES = Requires(extensions=("pg_stat_statements",))
DEFAULT_SEVERITY = Severity.info
CONFIDENCE = 1.0  # set arithmetic on fingerprints


def find_workload(facts: Any, scan: CatalogScan) -> list[Recommendation]:
    if facts.baseline is None:
        return []
    recs = []
    for s in facts.statements:
        if s.fingerprint in facts.baseline:
            continue
        recs.append(finding(
            ID, DEFAULT_SEVERITY, key=f"{ID}:{s.fingerprint}", target=facts.database,
            title=f"New statement: {' '.join(s.query.split())[:80]}",
            sql=manual("nothing to change: a statement the baseline's tests did not run;"),
            rollback_sql=manual("nothing to undo;"),
            why=f"the tests ran it {s.calls} time(s); the baseline's tests never ran a statement of this shape",
            confidence=CONFIDENCE, evidence={"statement": statement_evidence(s)}))
    return recs

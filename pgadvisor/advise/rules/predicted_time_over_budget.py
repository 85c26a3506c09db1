"""predicted-time-over-budget: a statement the tests ran whose predicted time is over the budget.

**What it finds.** With `check --production-store STORE` where `pgadvisor train` stored a query-time
model: each statement of the test database's pg_stat_statements is planned (its generic plan, as
`collect` plans production's statements for training) and the model predicts its mean execution time
from that plan (`pgadvisor predict` does the same for one text). A statement whose predicted time is
above `THRESHOLDS["max_ms"]` is a finding; high when even the low end of the model's 90% interval is
above it. The key is `predicted-time-over-budget:<statement fingerprint>`.

**Why it matters.** A statement that will be slow in production is cheapest to change before it is
merged; the test database runs it fast whatever it does.

**The fix.** Manual: the statement's plan says where the time goes (`EXPLAIN`); `pgadvisor recommend
--dsn <database> "<statement>"` proposes an index when one helps. Or allow-list it, or raise the budget
(`--threshold predicted-time-over-budget.max_ms=500`). Nothing to undo.

**When it is safe.** Always: it changes nothing.

**False positives.** How exact it is: the model predicts from the plan of the database `check` connects
to. Against a staging copy with production's data and statistics, that is production's plan; against a
small test database the planner's row and cost estimates are the test's, the plans often fall out of the
model's support, and the prediction is the test plan's time (each finding says whether the plan was in
support, and the fallback used when not). Accuracy is the model's: `pgadvisor models` shows its
held-out q-error, docs/model.md its limits (on statements unlike any it was trained on, about 1.3× at the
median and 3× at p95 on the TPC-H benchmark).
"""

from __future__ import annotations

from typing import Any

from pgadvisor.advise.rules.common import CatalogScan, Requires, finding, manual
from pgadvisor.advise.rules.large_table_scan import statement_evidence
from pgadvisor.findings import Recommendation, Severity

ID = "predicted-time-over-budget"
KIND = "workload"
REQUIRES = Requires(extensions=("pg_stat_statements",), model=True)
DEFAULT_SEVERITY = Severity.medium  # high when the interval's low end is over the budget
# the model's evidence: in support it beat the planner's cost on held-out data; out of support the fallback
# is a calibrated cost (docs/model.md)
CONFIDENCE_IN_SUPPORT = 0.7
CONFIDENCE_FALLBACK = 0.4
THRESHOLDS = {
    # a statement's mean time budget: 100 ms is where one statement alone takes a web request's whole usual
    # budget (chosen by hand; PgHero calls a query slow from 20 ms)
    "max_ms": 100.0,
}


def find_workload(facts: Any, scan: CatalogScan) -> list[Recommendation]:
    if facts.predict is None:
        return []
    budget = scan.threshold(ID, "max_ms")
    planned = [s for s in facts.statements if s.planned]
    recs = []
    for s, p in zip(planned, facts.predict([s.plan for s in planned]) if planned else []):
        ms, (low, high) = float(p["predicted_ms"]), p["interval_ms"]
        if ms <= budget:
            continue
        ok = p["in_support"]
        support = "in the model's support" if ok else \
            f"out of the model's support ({'; '.join(p['out_of_support_reasons'])}): {p['fallback']} used"
        recs.append(finding(
            ID, Severity.high if low > budget else DEFAULT_SEVERITY, key=f"{ID}:{s.fingerprint}",
            target=facts.database,
            title=f"Predicted {ms:,.1f} ms per call, over the {budget:g} ms budget: {' '.join(s.query.split())[:60]}",
            sql=manual("look at the statement's plan (EXPLAIN) and change the statement or its indexes "
                       "(pgadvisor recommend proposes indexes), or raise the budget;"),
            rollback_sql=manual("nothing to undo;"),
            why=(f"model {facts.model or ''} predicts {ms:,.1f} ms (90% interval {low:,.1f}–{high:,.1f} ms) from "
                 f"its plan in {facts.database}; the plan is {support}; the tests ran it {s.calls} time(s) at "
                 f"{s.mean_ms:,.2f} ms"),
            confidence=CONFIDENCE_IN_SUPPORT if ok else CONFIDENCE_FALLBACK,
            evidence={"statement": statement_evidence(s), "budget_ms": budget, "model": facts.model,
                      "prediction": {k: p[k] for k in ("predicted_ms", "interval_ms", "in_support",
                                                       "out_of_support_reasons", "fallback", "contributions")
                                     if k in p}}))
    return recs

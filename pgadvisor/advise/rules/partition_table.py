"""partition-table: partition a large table by a time or tenant key, or don't — proven on copies of a sample.

**What it finds.** The partition advisor (`pgadvisor.advise.partitions`, run by `recommend` when a
scratch place is given with `--scratch-dsn`) proposes, for each large table of the workload (at least
shared_buffers, or 1 GiB), RANGE partitions by day, week or month on each time-like column the
statements filter by range, LIST or HASH partitions on a tenant-like column most statements filter by
equality, and "none". It builds each as a real partitioned copy of a ≤ 10% sample in the scratch
place (the monitored database is only read), with the existing and the recommended indexes, and costs
every statement of the table there with literal values (logged ones, else values from the column
statistics), so partition pruning shows. Each statement's cost ratio (partitioned ÷ unpartitioned
copy) is applied to its full-size cost. The id is `partition-table:schema.table`.

**Why it matters.** Time-window reports read one partition instead of the whole table, and a
periodic DELETE of old rows becomes a DROP (or DETACH) of old partitions: no scan, no dead tuples,
no vacuum debt.

**The fix.** `sql` is a native migration in one transaction (new partitioned table, partitions,
keys widened to include the partition key, indexes, foreign keys, the copy of the rows, the swap of
names, the sequence); `evidence.pg_partman` is the equivalent `partman.create_parent(...)` call with
interval, premake and retention. The rollback swaps the names back while the old table is kept.

**When it is safe.** The copy holds a SHARE lock on the table (no writes) for its duration and
needs the table's size again on disk: run it in a maintenance window or copy in batches first. A
primary key or unique constraint is widened to include the partition key (noted when the key comes
from a sequence); a unique constraint or an incoming foreign key that cannot include it is a blocker,
and the table is not recommended.

**False positives.** Costs are planner estimates on a sample, transferred by ratio (docs/benchmarks.md,
"Issue 14"); literal values drawn from statistics stand for the application's. "Don't partition" is
the answer when the weighted gain is under 10%, when a statement with ≥ 1% of the table's time gets
3× costlier (a primary-key lookup that must probe every partition), or when the plans touch more
pages: those are listed among the rejected with the reason.
"""

from __future__ import annotations

from typing import Any

from pgadvisor.findings import Recommendation, Rejected, Severity, Verified

ID = "partition-table"
KIND = "workload"
DEFAULT_SEVERITY = Severity.medium
# the decision rests on planner estimates of a sample's copies transferred by ratio (mean error 2–3% on
# the bench's mixes, docs/benchmarks.md): below an index's hypopg costing of the table itself (chosen by hand)
CONFIDENCE = 0.6


def recommendation(advice: Any) -> Recommendation:
    """A TableAdvice whose decision is "partition" → the recommendation."""
    ratio = advice.weighted_ratio[advice.chosen.label]
    schema, table = advice.table.split(".", 1)
    spec = advice.chosen.spec
    return Recommendation(
        id=f"{ID}:{advice.table}", rule=ID, severity=DEFAULT_SEVERITY,
        title=f"Partition {advice.table} by {spec.label}",
        target=advice.table, sql=advice.migration.get("native", ""),
        rollback_sql=(f"BEGIN; ALTER TABLE {advice.table} RENAME TO {table}_partitioned; "
                      f"ALTER TABLE {schema}.{table}_old RENAME TO {table}; COMMIT;"),
        benefit={"reduction_pct": round((1 - ratio) * 100, 1), "weighted_cost_ratio": round(ratio, 4)},
        cost={"rows_copied": advice.stats.get("reltuples")},
        confidence=CONFIDENCE, verified=Verified.heuristic,
        evidence={"why": advice.why, "statements": advice.statements, "pg_partman": advice.migration.get("pg_partman"),
                  "assumed_indexes": advice.assumed_indexes, "candidates": advice.weighted_ratio,
                  "notes": advice.notes, "verified_on": "partitioned copies of a sample in the scratch place"})


def rejected(advice: Any) -> Rejected:
    """A TableAdvice whose decision is not "partition" → the rejection with its reason (and blocker)."""
    return Rejected(f"{ID}:{advice.table}", advice.table, advice.why,
                    detail={"blocker": advice.blocker, "candidates": advice.weighted_ratio, "notes": advice.notes})


def findings(report: Any) -> tuple[list[Recommendation], list[Rejected], list[str]]:
    """A PartitionReport → recommendations, rejections and notes for the Review."""
    recs, rej, notes = [], [], list(report.notes)
    if report.skipped:
        notes.append(f"partition advisor skipped: {report.skipped}")
    for a in report.advice:
        if a.decision == "partition":
            recs.append(recommendation(a))
        else:
            rej.append(rejected(a))
    return recs, rej, notes

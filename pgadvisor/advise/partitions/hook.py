"""The partition advisor inside `recommend` (advise/review.py): after the index advice, aware of it.

The indexes the index advisor recommends are built on the copies with the existing ones (the partition
advice lists them as `assumed_indexes`), and each recommended index on a table the partition advisor
recommends partitioning says so in its evidence (`partitioned_by`: it is then built per partition).
Any failure of the partition advisor — no scratch place, an unreachable or read-only one — is one note
and the index advice stands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pgadvisor.errors import PgAdvisorError, one_line
from pgadvisor.findings import Recommendation, Rejected

NO_SCRATCH = ("partition advisor skipped: no --scratch-dsn (a database, or --scratch-schema, where pgadvisor may "
              "build partitioned copies of a sample; see docs/partitions.md)")


@dataclass(frozen=True)
class PartitionOptions:
    """recommend's partition options: `--scratch-dsn`, `--scratch-schema`, `--partition-small-tables`."""

    scratch_dsn: str | None = None
    scratch_schema: str | None = None
    include_small: bool = False


def for_review(dsn: str, options: PartitionOptions, *, statements: list[Any] | None, texts: list[str] | None,
               index_recs: list[Recommendation], trusted_roles: tuple[str, ...] = (),
               progress: Callable[[str], None] | None = None
               ) -> tuple[list[Recommendation], list[Rejected], list[str], dict[str, Any]]:
    """(recommendations, rejections, notes, stats) of the partition advisor for `recommend`."""
    if not options.scratch_dsn:
        return [], [], [NO_SCRATCH], {"skipped": "no --scratch-dsn"}
    import psycopg

    from pgadvisor.advise.partitions.advisor import advise_partitions
    from pgadvisor.advise.rules import partition_table
    from pgadvisor.workload import StatementStats

    stmts = list(statements or []) or [
        StatementStats(queryid=f"text{i}", query=t, userid=0, dbid=0, toplevel=True, calls=1, total_exec_ms=0.0,
                       rows=0) for i, t in enumerate(texts or [], 1)]
    try:
        report = advise_partitions(dsn, stmts, scratch_dsn=options.scratch_dsn, scratch_schema=options.scratch_schema,
                                   include_small=options.include_small, extra_indexes=_recommended_indexes(index_recs),
                                   trusted_roles=trusted_roles, progress=progress)
    except (PgAdvisorError, psycopg.Error) as exc:
        return [], [], [f"partition advisor skipped: {one_line(exc)}"], {"skipped": one_line(exc)}
    recs, rejected, notes = partition_table.findings(report)
    notes += [f"{a.table}: {a.why}" for a in report.advice if a.decision in ("none", "interval")]
    parted = {r.target: r.title.split(" by ", 1)[-1] for r in recs}
    for r in index_recs:
        if r.index is not None and r.index.table_key in parted:
            r.evidence["partitioned_by"] = parted[r.index.table_key]
            r.evidence["why"] = (f"{r.evidence.get('why') or ''}; {r.index.table_key} is recommended for partitioning "
                                 f"by {parted[r.index.table_key]} (partition-table): after that migration, create "
                                 "this index on the partitioned table without CONCURRENTLY, which PostgreSQL "
                                 "does not allow there").lstrip("; ")
    stats = {"seconds": round(report.seconds, 2), "skipped": report.skipped,
             "tables": [{"table": a.table, "decision": a.decision, "chosen": a.chosen.label if a.chosen else None}
                        for a in report.advice]}
    return recs, rejected, notes, stats


def _recommended_indexes(recs: list[Recommendation]) -> dict[str, list[tuple[str, ...]]]:
    """"schema.table" → the key columns of each recommended B-tree on plain columns (not partial)."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for r in recs:
        ix = r.index
        if ix is None or ix.predicate or ix.method != "btree" or any(k.column is None for k in ix.keys):
            continue
        out.setdefault(ix.table_key, []).append(tuple(k.column for k in ix.keys))
    return out

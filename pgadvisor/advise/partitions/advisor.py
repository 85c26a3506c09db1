"""The partition advisor's run: the workload's tables → candidates → copies in the scratch place → advice.

`advise_partitions` reads the target (read-only), opens the scratch place (pg/scratch.py; its failure is
one line in `PartitionReport.skipped`, and the caller's other advice still runs), and for each table
large enough to matter proposes candidates (candidates.py), costs them on copies of a sample
(evaluate.py), decides (decide.py) and writes the migration (migration.py). An already-partitioned
table gets advice on its interval instead (`interval_advice`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pgadvisor.advise.partitions import candidates as cands
from pgadvisor.advise.partitions import decide as dec
from pgadvisor.advise.partitions import migration
from pgadvisor.advise.partitions.evaluate import build_copies, cost_statements
from pgadvisor.advise.partitions.model import Stmt, TableAdvice
from pgadvisor.errors import PgAdvisorError

# an already-partitioned table: more partitions than this is "too many" (planning and locking costs grow
# with every partition a statement cannot prune: PostgreSQL docs, "Best Practices for Declarative
# Partitioning"; chosen by hand), and partitions larger than max(shared_buffers, 1 GiB) "too few"
MANY_PARTITIONS = 1_000
# at most this many tables are evaluated on copies per run, the heaviest by the workload's time
# (chosen by hand: each costs a sample copy and its candidates)
MAX_TABLES = 5


@dataclass
class PartitionReport:
    """What the partition advisor found: advice per table, notes, or why it did not run."""

    advice: list[TableAdvice] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"skipped": self.skipped, "notes": self.notes, "seconds": round(self.seconds, 2),
                "tables": [a.to_dict() for a in self.advice]}


def table_statements(statements: list[Any], search_path: list[str]) -> dict[tuple[str, str], list[Stmt]]:
    """The workload's statements (StatementStats) grouped by each table they read or write; a table
    the text does not qualify is taken to be in the first schema of the search path."""
    from pgadvisor.sql.parse import parse_statement

    default = search_path[0] if search_path else "public"
    out: dict[tuple[str, str], list[Stmt]] = {}
    for s in statements:
        ps = parse_statement(s.query)
        if not ps.ok or ps.kind not in ("select", "insert", "update", "delete", "merge"):
            continue
        st = Stmt(queryid=str(s.queryid), text=s.query, calls=float(s.calls), total_ms=float(s.total_exec_ms),
                  parsed=ps, examples=tuple(getattr(s, "examples", ()) or ()))
        for schema, name in dict.fromkeys(ps.tables):
            out.setdefault((schema or default, name), []).append(st)
    return out


def advise_partitions(dsn: str, statements: list[Any], *, scratch_dsn: str | None, scratch_schema: str | None = None,
                      tables: list[str] | None = None, include_small: bool = False,
                      extra_indexes: dict[str, list[tuple[str, ...]]] | None = None,
                      trusted_roles: tuple[str, ...] = (), progress: Callable[[str], None] | None = None
                      ) -> PartitionReport:
    """Partition advice for the workload's tables (`tables`: only these, "schema.table"; `include_small`:
    tables below shared_buffers too). `extra_indexes`: the recommended indexes per table ("schema.table"
    → column tuples), built on the copies with the existing ones. The scratch place is opened and checked
    first: its failure is `report.skipped` (one line)."""
    from pgadvisor.pg.connect import connect
    from pgadvisor.pg.scratch import open_scratch

    started = time.monotonic()
    report = PartitionReport()
    with connect(dsn) as target:
        try:
            with open_scratch(scratch_dsn, target, scratch_schema) as scratch:
                _run(target, scratch, statements, report, tables=tables, include_small=include_small,
                     extra=extra_indexes or {}, trusted_roles=trusted_roles, progress=progress)
        except PgAdvisorError as exc:
            report.skipped = str(exc)
    report.seconds = time.monotonic() - started
    return report


def _run(target, scratch, statements: list[Any], report: PartitionReport, *, tables: list[str] | None,
         include_small: bool, extra: dict[str, list[tuple[str, ...]]], trusted_roles: tuple[str, ...],
         progress: Callable[[str], None] | None) -> None:
    """The tables of the workload, heaviest first: interval advice, skipped, or evaluated on copies."""
    from pgadvisor.pg import catalog, guard
    from pgadvisor.pg.partition import table_profile

    grouped = table_statements(statements, catalog.search_path(target)["path"])
    order = sorted(grouped, key=lambda t: -sum(s.total_ms or s.calls for s in grouped[t]))
    if tables:
        order = [t for t in order if f"{t[0]}.{t[1]}" in tables]
    todo = []
    for table in order:
        profile = table_profile(target, table)
        if profile is None:
            continue
        key = f"{table[0]}.{table[1]}"
        if profile["partitioning"]:
            report.advice.append(interval_advice(key, profile))
            continue
        small = cands.too_small(profile)
        if small and not include_small:
            if tables:
                report.notes.append(f"{key}: {small}")
            continue
        found, notes = cands.generate(profile, grouped[table])
        if len(found) == 1:
            report.advice.append(TableAdvice(key, "skipped", why=notes[-1], notes=notes[:-1]))
            continue
        todo.append((table, profile, found, notes))
    if not todo and not report.advice:
        report.notes.append("no table of the workload is large enough to partition "
                            f"(below shared_buffers or {cands.MIN_TABLE_PAGES // 131_072} GiB)")
    codes = (guard.load(target, trusted_roles), guard.load(scratch.conn, trusted_roles))
    for table, profile, found, notes in todo[:MAX_TABLES]:
        key = f"{table[0]}.{table[1]}"
        copies = build_copies(target, scratch, table, profile, found, extra.get(key, []), progress=progress)
        results = cost_statements(target, copies, profile, grouped[table], codes)
        advice = dec.decide(key, profile, results, found)
        advice.notes = notes + advice.notes
        advice.assumed_indexes = [f"{key}({', '.join(c)})" for c, _m in copies.indexes]
        advice.stats = {"sample_fraction": round(copies.fraction, 5), "reltuples": profile["reltuples"]}
        if advice.chosen is not None:
            advice.migration = _migration(table, profile, advice, results)
        report.advice.append(advice)
        for copy in list(copies.by_label.values())[::-1]:
            scratch.drop(copy.name)


def _migration(table: tuple[str, str], profile: dict[str, Any], advice: TableAdvice, results) -> dict[str, str]:
    spec = advice.chosen.spec
    col = next(c for c in profile["columns"] if c["name"] == spec.column)
    hist = col.get("histogram") or []
    retention = None
    if spec.strategy == "range" and any(dec.is_retention(r, advice.chosen) for r in results):
        span = cands._span_days(col)
        retention = span
    return {"native": migration.native(table[0], table[1], profile, spec),
            "pg_partman": migration.partman(table[0], table[1], spec, hist[0] if hist else None, retention)}


def interval_advice(key: str, profile: dict[str, Any]) -> TableAdvice:
    """An already-partitioned table: too many partitions, too few, or about right (from their sizes)."""
    part = profile["partitioning"]
    parts = part["partitions"]
    n = len(parts)
    strategy = {"r": "RANGE", "l": "LIST", "h": "HASH"}.get(part["strategy"], part["strategy"])
    big = max((p["total_bytes"] or 0 for p in parts), default=0)
    limit = max(int(profile.get("shared_buffers_pages") or 0) * 8192, cands.MIN_TABLE_PAGES * 8192)
    desc = f"{strategy} ({', '.join(part['columns'])}) with {n} partitions, the largest {big // 2**20} MiB"
    if n > MANY_PARTITIONS:
        why = f"already partitioned: {desc}: too many partitions (> {MANY_PARTITIONS}); use a coarser interval"
    elif big > limit and strategy == "RANGE":
        why = f"already partitioned: {desc}: too few partitions (one is larger than {limit // 2**20} MiB); " \
              "use a finer interval"
    else:
        why = f"already partitioned: {desc}: the interval looks right"
    return TableAdvice(key, "interval", why=why, stats={"partitions": n, "largest_bytes": big})

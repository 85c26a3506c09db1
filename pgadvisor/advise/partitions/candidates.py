"""Partition candidates for one table, from the workload's predicates and the column statistics.

- RANGE on each time-like column (timestamp, timestamptz, date) that some statement filters by a range,
  by day, week and month where that interval gives between `MIN_PARTITIONS` and `MAX_PARTITIONS`
  partitions over the data's span (min/max of pg_stats.histogram_bounds) plus a year of growth at the
  same rate (`GROWTH_HORIZON_DAYS`);
- LIST (≤ `MAX_LIST_VALUES` distinct values, one partition each) or HASH (`HASH_MODULUS`) on a
  tenant-like column (an integer, text or uuid column that is not unique) that the statements making
  at least `TENANT_SHARE` of the table's workload time filter by equality;
- and "none", the unpartitioned table every candidate is compared with.

Tables smaller than `shared_buffers` (or `MIN_TABLE_PAGES` when that is smaller) are skipped unless
asked (`include_small`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pgadvisor.advise.partitions.literals import parse_time
from pgadvisor.advise.partitions.model import Candidate, Stmt
from pgadvisor.pg.partition import TIME_TYPES, PartitionSpec

# partitions a layout should have over the data it holds (chosen by hand after PostgreSQL's docs,
# "Best Practices for Declarative Partitioning": planning time and memory grow with the partitions a
# statement cannot prune; thousands are too many, one is no partitioning)
MIN_PARTITIONS = 3
MAX_PARTITIONS = 1_000
# the growth horizon the partition count is sized for: a year more at the current rate (chosen by hand)
GROWTH_HORIZON_DAYS = 365
INTERVAL_DAYS = {"day": 1, "week": 7, "month": 30.4}
# LIST up to this many values (one partition each, plus DEFAULT); above, HASH (chosen by hand)
MAX_LIST_VALUES = 32
HASH_MODULUS = 8
# a tenant-like column is filtered by equality in statements holding this share of the table's time
TENANT_SHARE = 0.5
# a table below this many 8 kB pages (1 GiB) is not worth partitioning even with a large shared_buffers
# (chosen by hand; shared_buffers is the usual threshold)
MIN_TABLE_PAGES = 131_072
TENANT_TYPES = ("integer", "bigint", "smallint", "text", "uuid")


def too_small(profile: dict[str, Any]) -> str | None:
    """Why the table is too small to partition (below shared_buffers, or 1 GiB), or None."""
    limit = min(int(profile.get("shared_buffers_pages") or MIN_TABLE_PAGES), MIN_TABLE_PAGES)
    pages = int(profile.get("relpages") or 0)
    if pages < limit:
        return (f"{pages} pages ({pages * 8 // 1024} MiB) is below shared_buffers or 1 GiB ({limit} pages): "
                "too small to gain from partitions (--partition-small-tables to consider it anyway)")
    return None


def _weight(s: Stmt) -> float:
    return s.total_ms if s.total_ms > 0 else s.calls


def _span_days(col: dict[str, Any]) -> float | None:
    hist = col.get("histogram") or []
    if len(hist) < 2:
        return None
    lo, hi = parse_time(hist[0]), parse_time(hist[-1])
    if lo is None or hi is None:
        return None
    if isinstance(lo, datetime) != isinstance(hi, datetime):
        return None
    return (hi - lo).total_seconds() / 86400


def generate(profile: dict[str, Any], stmts: list[Stmt]) -> tuple[list[Candidate], list[str]]:
    """The candidates for a table (always "none" first) and notes on what was not proposed and why."""
    notes: list[str] = []
    cols = {c["name"]: c for c in profile["columns"]}
    total = sum(_weight(s) for s in stmts) or 1.0
    ranged: dict[str, float] = {}
    equal: dict[str, float] = {}
    for s in stmts:
        seen_r, seen_e = set(), set()
        for p in s.parsed.predicates:
            name = p.column.column
            if p.expression or name not in cols:
                continue
            if p.kind == "range":
                seen_r.add(name)
            elif p.kind in ("eq", "in"):
                seen_e.add(name)
        for n in seen_r:
            ranged[n] = ranged.get(n, 0.0) + _weight(s)
        for n in seen_e:
            equal[n] = equal.get(n, 0.0) + _weight(s)
    out = [Candidate(None, "the table as it is")]
    for name in sorted(ranged, key=lambda n: -ranged[n]):
        col = cols[name]
        if col["type"] not in TIME_TYPES:
            continue
        out += _time_candidates(name, col, float(profile.get("reltuples") or 0), notes)
    unique_cols = {u["columns"][0] for u in profile.get("unique", []) if len(u["columns"]) == 1}
    for name in sorted(equal, key=lambda n: -equal[n]):
        col = cols[name]
        share = equal[name] / total
        if col["type"] not in TENANT_TYPES or name in unique_cols or (col.get("n_distinct") or 0) == -1:
            continue
        if share < TENANT_SHARE:
            notes.append(f"{name}: filtered by equality in {share:.0%} of the table's time (< {TENANT_SHARE:.0%}): "
                         "not a tenant key")
            continue
        out.append(_tenant_candidate(name, col, share, float(profile.get("reltuples") or 0)))
    if len(out) == 1:
        why = "; ".join(notes) if notes else ("no time-like column filtered by a range and no tenant-like column "
                                               "filtered by equality in most statements")
        notes[:] = [f"no partition key to propose: {why}"]
    return out, notes


def _time_candidates(name: str, col: dict[str, Any], rows: float, notes: list[str]) -> list[Candidate]:
    span = _span_days(col)
    if span is None or span <= 0:
        notes.append(f"{name}: no statistics for its span (histogram_bounds is empty: ANALYZE the table)")
        return []
    out = []
    horizon = span + GROWTH_HORIZON_DAYS if rows else span
    for interval, days in INTERVAL_DAYS.items():
        now_parts = span / days
        later = horizon / days
        if now_parts < MIN_PARTITIONS or later > MAX_PARTITIONS * 2:
            continue
        out.append(Candidate(PartitionSpec("range", name, interval=interval),
                             f"statements filter {name} by range; {now_parts:.0f} {interval} partitions over "
                             f"{span:.0f} days of data"))
    if not out:
        notes.append(f"{name}: {span:.1f} days of data give fewer than {MIN_PARTITIONS} partitions at any interval")
    return out


def _tenant_candidate(name: str, col: dict[str, Any], share: float, rows: float) -> Candidate:
    nd = float(col.get("n_distinct") or 0)
    distinct = -nd * rows if nd < 0 else nd
    mcv = list(col.get("mcv") or [])
    why = f"{share:.0%} of the table's time filters {name} by equality ({distinct:.0f} distinct values)"
    if 0 < distinct <= MAX_LIST_VALUES and mcv:
        return Candidate(PartitionSpec("list", name, values=tuple(mcv[:MAX_LIST_VALUES])), why)
    return Candidate(PartitionSpec("hash", name, modulus=HASH_MODULUS), why)

"""The write model: what new indexes cost the statements that write their tables."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pgadvisor.advise.schema import SchemaView
from pgadvisor.indexdef import IndexDef

# planner cost units to maintain one index entry for one written row (the descent, the leaf insert and
# its WAL; for a non-HOT update also bottom-up deletion), scaled a little by log2 of the table size.
# Measured with tests/bench/bench_write_cost.py (µs per extra index entry ÷ µs per cost unit of a
# sequential scan, PostgreSQL 15, 2 shared cores, load 3-5): median 1.1 (0.3-2.8) per entry in
# server-side batches, about 3 (1.3-7.6, noisier) for single-row statements through pgbench (each
# also opens and locks every index); 2 sits between the two (docs/benchmarks.md, "Write mix"; 0.5
# let near-useless indexes on written tables through on tests/bench/bench_writemix.py's mix).
MAINT_BASE = 2.0
MAINT_PER_LEVEL = 0.01
# time of a maintenance cost unit, to set an index entry's cost against a one-row writer's measured mean
# execution time (pg_stat_statements): tests/bench/bench_writer_latency.py measured 1.1–3.0 µs (median 1.8)
# per new index entry of a one-row INSERT on a 300k-row table (2 runs, 6 and 10 interleaved rounds, load
# 12–16 on 2 shared cores; docs/benchmarks.md "Issue 10"), ÷ 2.18 cost units (MAINT_BASE + MAINT_PER_LEVEL
# × log2(300k)). It was 0.008 (a sequential scan's µs per cost unit, bench_write_cost.py), which put the
# writers' slowdowns 2–16× above the measured ones
MS_PER_COST_UNIT = 0.00083
# an entry written by an UPDATE that is no longer HOT costs this many times an INSERT's (the update also
# writes its new row version on another page and finds the old key's leaf page full of versions): the
# ratio of the per-entry µs of `UPDATE orders SET status` and of `INSERT INTO orders` in
# bench_writer_latency.py, per run: 5.4 ÷ 1.8 = 3.0 (runs 1–2, load 12–16), 4.05 ÷ 1.6 = 2.5 (run 4,
# load 6–12), 3.55 ÷ 1.85 = 1.9 (run 5, load 2–3): the median, 2.5 (docs/benchmarks.md "Issue 10")
NON_HOT_ENTRY_FACTOR = 2.5
# an INSERT's entry in an index whose leading column follows the insertion order (a creation timestamp, a
# sequence: |pg_stats.correlation| at least APPEND_CORRELATION) lands on the rightmost leaf, which stays in
# cache and splits at its end. bench_writer_latency.py, µs per new entry of `INSERT INTO orders` in
# `(created_at)` ÷ in `(status)`, each run's own: 0.7 ÷ 1.4 = 0.5 (run 3 of docs/benchmarks.md "Issue 10"),
# 0.3 ÷ 1.8 = 0.17 (run 4), 0.1 ÷ 2.2 = 0.05 (run 5): the median, 0.17. Each appended figure is within
# the bench's noise (±5–9% of a 9 µs insert): an appended entry costs little, how little is not resolved.
# APPEND_CORRELATION is pgadvisor's choice
APPEND_ENTRY_FACTOR = 0.17
APPEND_CORRELATION = 0.9
# the share of a table's updates taken to be HOT when no counters say (n_tup_hot_upd / n_tup_upd):
# chosen by hand, not measured (an update that changes no indexed column is HOT when its page has room)
DEFAULT_HOT_RATIO = 0.9
# a deleted row adds no index entry; its entries are removed later (VACUUM, bottom-up deletion), charged
# as this share of an entry's maintenance: chosen by hand, not measured
DELETE_ENTRY_SHARE = 0.2
# a written row also writes its heap tuple: one cost unit, next to the index entries (chosen by hand)
HEAP_WRITE_COST = 1.0


@dataclass(frozen=True)
class Writer:
    """A statement that writes a table: its rows per call, the columns an UPDATE sets (None: unknown,
    or not an update), its plan cost per call and its measured mean time (0: unknown)."""

    key: str
    kind: str
    rows_per_call: float
    set_columns: frozenset[str] | None
    cost: float
    mean_ms: float = 0.0


class WriteModel:
    """Index maintenance cost, in planner cost units over the window, of new indexes on written tables.

    Inserts add one entry per new index; an update that changes an indexed column cannot be HOT, so
    every index of the table (not only the new one) gets an entry; a non-HOT update adds an entry to
    the new index too. Rates come from the workload's DML statements (rows per call × calls) and,
    when given, per-table counters over the window (`table_writes`: n_tup_ins/upd/del/hot_upd).
    """

    def __init__(self, view: SchemaView, enabled: bool = True):
        self.view = view
        self.enabled = enabled
        self.inserts: Counter[str] = Counter()
        self.deletes: Counter[str] = Counter()
        # table → (SET columns, rows) of its updates (SET columns None: from the counters, columns unknown)
        self.updates: dict[str, list[tuple[frozenset[str] | None, float]]] = {}
        self.dml_cost: Counter[str] = Counter()  # Σ calls × plan cost of the table's DML
        self.hot_ratio: dict[str, float] = {}
        self.writers: dict[str, list[Writer]] = {}

    def add_statement(
        self, table_key: str, kind: str, rows: float, set_columns: frozenset[str] | None, weighted_cost: float
    ) -> None:
        self.dml_cost[table_key] += weighted_cost
        if kind == "insert":
            self.inserts[table_key] += rows
        elif kind == "delete":
            self.deletes[table_key] += rows
        elif kind in ("update", "merge"):
            self.updates.setdefault(table_key, []).append((set_columns, rows))

    def add_writer(
        self, table_key: str, key: str, kind: str, rows_per_call: float, set_columns: frozenset[str] | None,
        cost: float, mean_ms: float = 0.0,
    ) -> None:
        """A writing statement whose own slowdown (`slowdowns`) the new indexes are judged by; `mean_ms`
        is its measured mean execution time (0: unknown)."""
        self.writers.setdefault(table_key, []).append(Writer(key, kind, rows_per_call, set_columns, cost, mean_ms))

    def add_counters(self, table_key: str, counters: dict[str, Any]) -> None:
        ins = float(counters.get("n_tup_ins") or 0)
        upd = float(counters.get("n_tup_upd") or 0)
        hot = float(counters.get("n_tup_hot_upd") or 0)
        self.inserts[table_key] = max(self.inserts[table_key], ins)
        self.deletes[table_key] = max(self.deletes[table_key], float(counters.get("n_tup_del") or 0))
        known = sum(r for _, r in self.updates.get(table_key, []))
        if upd > known:
            self.updates.setdefault(table_key, []).append((None, upd - known))
        if upd:
            self.hot_ratio[table_key] = hot / upd

    def slowdowns(self, table_key: str, new: Iterable[IndexDef]) -> dict[str, tuple[float, str]]:
        """Each writing statement's estimated extra time per call with the new indexes on `table_key`, in
        % of its measured mean time (without one: of its plan cost plus a heap write and an entry in
        every existing index per row), with the reason: `{key: (pct, reason)}`; statements the new
        indexes do not slow are left out."""
        new = [d for d in new if d.table_key == table_key]
        if not self.enabled or not new:
            return {}
        maint = self._maint(table_key)
        n_existing = len(self.view.indexes.get(table_key, []))
        existing = self._existing_cols(table_key)
        hot = self.hot_ratio.get(table_key, DEFAULT_HOT_RATIO)
        out = {}
        for w in self.writers.get(table_key, []):
            if w.kind == "insert":
                appended = sum(self.appends(d) for d in new)
                entries = len(new) - appended * (1.0 - APPEND_ENTRY_FACTOR)
                why = f"{_entries(len(new))} per inserted row" + (
                    f", {appended} at the end of an index in insertion order" if appended else "")
            elif w.kind in ("update", "merge") and w.set_columns is not None:
                set_cols = w.set_columns
                was_hot = not any("*" in cols or cols & set_cols for cols in existing)
                breaks = [d for d in new if set_cols & d.columns]
                if was_hot and breaks:
                    entries = hot * (n_existing + len(new)) + (1 - hot) * len(new)
                    cols = sorted(set_cols & set().union(*(d.columns for d in breaks)))
                    why = f"its updates of {', '.join(cols)} stop being HOT: every index of the table gets an entry"
                elif not was_hot:
                    entries, why = len(new), f"{_entries(len(new))} per updated row"
                else:
                    continue
            else:  # deletes leave index entries to VACUUM
                continue
            extra = w.rows_per_call * entries * maint
            # a plan's cost leaves out what every statement pays (executor start, locks, WAL)
            per_call = w.cost + w.rows_per_call * (HEAP_WRITE_COST + n_existing * maint)
            if w.mean_ms > 0:
                factor = NON_HOT_ENTRY_FACTOR if w.kind != "insert" else 1.0
                out[w.key] = (100.0 * extra * factor * MS_PER_COST_UNIT / w.mean_ms, why)
            elif per_call > 0:
                out[w.key] = (100.0 * extra / per_call, why)
        return out

    def appends(self, d: IndexDef) -> bool:
        """Whether inserted rows' entries go to the end of `d`: its leading column is stored in its order
        (|pg_stats.correlation| ≥ APPEND_CORRELATION: a creation timestamp, a sequence-fed key)."""
        lead = d.keys[0].column if d.keys else None
        col = self.view.columns.get(d.table_key, {}).get(lead or "") or {}
        return abs(float(col.get("correlation") or 0.0)) >= APPEND_CORRELATION

    def _maint(self, table_key: str) -> float:
        tuples = float((self.view.relations.get(table_key) or {}).get("reltuples") or 0)
        return MAINT_BASE + MAINT_PER_LEVEL * math.log2(max(2.0, tuples))

    def _existing_cols(self, table_key: str) -> list[frozenset[str]]:
        out = []
        for ix in self.view.indexes.get(table_key, []):
            out.append(frozenset(ix.key_columns | ix.include) if not ix.has_expression else frozenset({"*"}))
        return out

    def written(self, table_key: str) -> bool:
        return bool(self.inserts[table_key] or self.deletes[table_key] or self.updates.get(table_key))

    def cost(self, table_key: str, new: Iterable[IndexDef]) -> float:
        """Maintenance cost of the new indexes `new` (those on `table_key` count) over the window."""
        if not self.enabled or not self.written(table_key):
            return 0.0
        new = [d for d in new if d.table_key == table_key]
        if not new:
            return 0.0
        maint = self._maint(table_key)
        n_existing = len(self.view.indexes.get(table_key, []))
        total = (self.inserts[table_key] + DELETE_ENTRY_SHARE * self.deletes[table_key]) * maint * len(new)
        existing = self._existing_cols(table_key)
        hot = self.hot_ratio.get(table_key, DEFAULT_HOT_RATIO)
        for set_cols, rows in self.updates.get(table_key, []):
            if set_cols is None:  # counters only (they set the HOT ratio): the non-HOT part gets entries
                total += rows * (1 - hot) * maint * len(new)
                continue
            was_hot = not any("*" in cols or cols & set_cols for cols in existing)
            breaks = any(set_cols & d.columns for d in new)
            if was_hot and breaks:
                total += rows * (hot * (n_existing + len(new)) + (1 - hot) * len(new)) * maint
            elif not was_hot:
                total += rows * len(new) * maint
        return total

    def pct(self, table_key: str, d: IndexDef, others: Iterable[IndexDef] = ()) -> float:
        """Extra write cost of `d` (given the other new indexes) relative to the table's write cost now."""
        others = [o for o in others if o.table_key == table_key and o != d]
        extra = self.cost(table_key, [*others, d]) - self.cost(table_key, others)
        rows = self.inserts[table_key] + self.deletes[table_key] + sum(r for _, r in self.updates.get(table_key, []))
        if extra <= 0 or rows <= 0:
            return 0.0
        n_existing = len(self.view.indexes.get(table_key, []))
        base = self.dml_cost[table_key] + rows * (HEAP_WRITE_COST + n_existing * self._maint(table_key))
        return 100.0 * extra / base if base > 0 else 0.0


def _entries(n: int) -> str:
    return f"{n} more index entr{'y' if n == 1 else 'ies'}"

"""What-if evaluation: a statement's cost under a configuration of new indexes, and a move's value.

Every cost comes from the what-if engine of the calling thread (pg/hypo.py caches plan costs by
statement and configuration); here are the caches of which statements an index can concern, and the
rules that keep the number of what-ifs down: only the indexes on a statement's tables are passed, and a
move is costed on the statements it can change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from pgadvisor.advise.indexes.runtime import Sessions
from pgadvisor.advise.indexes.statements import Statements, Stmt
from pgadvisor.advise.indexes.writes import WriteModel
from pgadvisor.indexdef import IndexDef
from pgadvisor.pg.hypo import WhatIf

# a statement's gain below both of these is hypopg noise, not a reason for an index (see `eff`)
MIN_GAIN_ABS = 0.5
MIN_GAIN_REL = 0.02

ByTable = dict[str, list[IndexDef]]
_UNSET = object()


def by_table_of(config: Iterable[IndexDef]) -> ByTable:
    """A configuration by table key."""
    out: ByTable = {}
    for d in config:
        out.setdefault(d.table_key, []).append(d)
    return out


def without(grouped: ByTable, d: IndexDef) -> ByTable:
    """A by-table configuration without `d` (a shallow copy: only d's table's list is new)."""
    out = dict(grouped)
    out[d.table_key] = [x for x in grouped.get(d.table_key, ()) if x != d]
    return out


def eff(q: Stmt, result: Any) -> float:
    """A statement's cost under a configuration, counting only a real gain over its baseline.

    A hypothetical B-tree is costed slightly cheaper than an equal real one (hypopg estimates a
    lower tree height), so a gain smaller than MIN_GAIN_ABS cost units and MIN_GAIN_REL of the
    statement's cost is noise, not a reason for an index.
    """
    c = result.cost
    if c is None or q.base - c <= max(MIN_GAIN_ABS, MIN_GAIN_REL * q.base):
        return q.base
    return c


class Evaluator:
    """Costs of the workload's statements under configurations of new indexes, and of moves.

    `max_slowdown_pct` (None: no limit) is the writers' limit `slows` checks."""

    def __init__(self, ws: Statements, sessions: Sessions, writes: WriteModel, max_slowdown_pct: float | None):
        self.ws = ws
        self.sessions = sessions
        self.writes = writes
        self.max_slowdown = max_slowdown_pct
        self.rel_cache: dict[IndexDef, list[Stmt]] = {}
        self._sizes: dict[IndexDef, int | None] = {}
        self.users_cache: dict[IndexDef, list[Stmt]] = {}

    @property
    def engine(self) -> WhatIf:
        return self.sessions.engine

    @property
    def stmts(self) -> list[Stmt]:
        return self.ws.stmts

    def relevant(self, d: IndexDef) -> list[Stmt]:
        """The statements of d's table that an index can help and whose columns d holds (WhatIf.relevant)."""
        hit = self.rel_cache.get(d)
        if hit is None:
            hit = self.rel_cache[d] = [q for q in self.ws.by_table.get(d.table_key, []) if WhatIf.relevant(d, q.wis)]
        return hit

    def users(self, d: IndexDef) -> list[Stmt]:
        """The statements a new index can help: those whose plan uses it when it is the only new index,
        and those that join on its leading column (a join index may pay off only next to another index).

        Costing a move on these alone, not on every statement of the table, is what keeps wide
        workloads (a fact table read by 40 statements) affordable."""
        hit = self.users_cache.get(d)
        if hit is None:
            lead = set(d.leading_columns)
            hit = self.users_cache[d] = [
                q
                for q in self.relevant(d)
                if lead & q.sargable.get(d.table_key, set())
                and (d in self.engine.cost(q.wis, [d]).used or lead & q.join_columns.get(d.table_key, set()))
            ]
        return hit

    def plan(self, q: Stmt, config: Iterable[IndexDef] | ByTable) -> Any:
        """The engine's result for q under a configuration (only the indexes on q's tables are passed)."""
        grouped = config if isinstance(config, dict) else by_table_of(config)
        return self.engine.cost(q.wis, [d for t in q.wis.tables for d in grouped.get(t, ())])

    def costs_under(self, config: Iterable[IndexDef] | ByTable, stmts: Iterable[Stmt]) -> dict[str, float]:
        grouped = config if isinstance(config, dict) else by_table_of(config)
        return {q.key: eff(q, self.plan(q, grouped)) for q in stmts}

    def read_total(self, cur: dict[str, float]) -> float:
        """Σ calls × cost of every statement, at the costs `cur`."""
        return sum(q.weight * cur[q.key] for q in self.stmts)

    def write_cost(self, config: Iterable[IndexDef], tables: Iterable[str] | None = None) -> float:
        grouped = by_table_of(config)
        tables = set(tables) if tables is not None else set(grouped)
        return sum(self.writes.cost(t, grouped.get(t, [])) for t in tables)

    def size(self, d: IndexDef) -> int | None:
        """The bytes `d` will take: a B-tree's from the deduplication-aware model (`sizes.btree_model_size`,
        from pg_stats and reltuples: hypopg ignores deduplication and overstates INCLUDE indexes, 1.5–4×
        on the benchmarks, docs/benchmarks.md "Issue 10"); the engine's estimate for other methods and
        when the statistics lack a key. None: PostgreSQL cannot build it (the engine could not create it)."""
        hit = self._sizes.get(d, _UNSET)
        if hit is not _UNSET:
            return hit
        size = self.engine.size(d)
        if size is not None and d.method == "btree":
            size = self._modelled(d, size)
        self._sizes[d] = size
        return size

    def _modelled(self, d: IndexDef, engine_size: int) -> int:
        fraction = 1.0
        if d.predicate:
            # the share of rows a partial index holds, as the engine estimates it (planner selectivity)
            whole = self.engine.size(dataclasses.replace(d, predicate=None, predicate_columns=()))
            fraction = min(1.0, engine_size / whole) if whole else 1.0
        # the one model (pg/heuristic.py → sizes.py): extended statistics or a sampled distinct count
        modelled = self.engine.heuristic.model_size(d, fraction)
        return engine_size if modelled is None else modelled

    def gains(self, d: IndexDef, stmts: list[Stmt]) -> float:
        """The weighted cost `d` alone saves these statements."""
        return sum(q.weight * (q.base - eff(q, self.engine.cost(q.wis, [d]))) for q in stmts)

    def slows(self, d: IndexDef, others: Iterable[IndexDef]) -> str | None:
        """Why `d` next to the new indexes `others` (on its table) breaks the max_slowdown_pct limit, if it does."""
        if self.max_slowdown is None:
            return None
        same = [x for x in others if x.table_key == d.table_key and x != d]
        worst = max(
            ((pct, key, why) for key, (pct, why) in self.writes.slowdowns(d.table_key, [*same, d]).items()),
            default=None,
        )
        if worst is None or worst[0] <= self.max_slowdown:
            return None
        pct, key, why = worst
        text = " ".join(self.ws.by_key[key].ps.text.split())[:80]
        return (f"would slow `{text}` by about {pct:.0f}% per call ({why}); the limit (--max-slowdown) is "
                f"{self.max_slowdown:g}%")

    def touched(self, add: IndexDef, remove: IndexDef | None) -> list[Stmt]:
        """Statements whose cost a move (add `add`, or extend `remove` into `add`) can change."""
        if remove is None:
            return self.users(add)
        # one more key column: only statements that read that column can gain; for the others the
        # wider index does what the narrower one did (their cost is taken as unchanged)
        col = (add.table_key, add.keys[-1].column)
        return [q for q in self.relevant(add) if col in q.wis.columns]

    def move(
        self, config: ByTable, cur: dict[str, float], add: IndexDef, remove: IndexDef | None
    ) -> tuple[float, float, dict[str, float]]:
        """A move's (read gain, write cost delta, new costs of the statements it touches); `config` by table."""
        affected = {q.key: q for q in self.touched(add, remove)}
        tables = {add.table_key} | {t for q in affected.values() for t in q.wis.tables}
        near = [d for t in tables for d in config.get(t, ()) if d != remove]  # the rest cannot matter
        costs = self.costs_under(near + [add], affected.values())
        read_gain = sum(affected[k].weight * (cur[k] - c) for k, c in costs.items())
        same = [d for d in near if d.table_key == add.table_key]
        same_before = same + [remove] if remove is not None else same
        write_delta = self.writes.cost(add.table_key, same + [add]) - self.writes.cost(add.table_key, same_before)
        return read_gain, write_delta, costs

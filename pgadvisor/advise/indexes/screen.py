"""Stage 3: screening. Keep the candidates some plan uses when each is the only new index, and those on a
join column (they may pay off only next to another new index: the search tries them in combination);
reject the rest with the reason, and the near copies and key prefixes of existing indexes that gain too
little.
"""

from __future__ import annotations

import threading

from pgadvisor.advise.indexes.candidates import Candidate
from pgadvisor.advise.indexes.evaluate import Evaluator
from pgadvisor.advise.indexes.runtime import Run
from pgadvisor.advise.indexes.statements import Stmt
from pgadvisor.advise.schema import copy_of, prefix_of
from pgadvisor.findings import Rejected
from pgadvisor.indexdef import IndexDef

# a candidate that nearly copies an existing index (same keys, other INCLUDE columns) is a second index
# to maintain for an index-only scan: worth it only for a large gain (chosen by hand, not measured)
COPY_MIN_GAIN = 0.2
# a strict key prefix of an existing index does the same searches on fewer, smaller pages (B-tree
# deduplication makes `lineitem(l_orderkey)` 2.4x smaller than the primary key it prefixes): a lower bar
# (docs/benchmarks.md, TPC-H: `--allow-prefixes` lifts it)
PREFIX_MIN_GAIN = 0.1
# screening splits a pool this large between two sessions (when `connect` can open a second one); chosen
# by hand, not measured
PARALLEL_SCREEN_MIN = 64
# hypothetical index sizes are measured this many at a time (two round trips per batch)
SIZE_BATCH = 64


class Screening:
    """One run's screening: `screen(candidates)` returns the kept ones in the generator's order; `solo` holds
    each kept candidate's gain alone, `copies` the near copies and key prefixes screened out (the search
    does not extend into them), `not_screened` how many the time limit left uncosted."""

    def __init__(self, run: Run, ev: Evaluator):
        self.run = run
        self.ev = ev
        self.solo: dict[IndexDef, float] = {}
        self.copies: set[IndexDef] = set()
        self.not_screened = 0
        self.joins = 0  # kept for a join although no plan gains from them alone
        self._lock = threading.Lock()

    def screen(self, cands: list[Candidate]) -> list[Candidate]:
        """Keep candidates some plan uses when each is alone; reject the rest with the reason.

        Two passes, most promising candidates first (the weighted cost of the statements each was made
        for): each candidate on its own statements, then the ones useless to those on the table's other
        statements. Under a time limit, breadth first: the second pass is what the limit cuts first.
        A large pool is split between two sessions when another one can be opened (`connect`)."""
        by_key = self.ev.ws.by_key
        keep: list[Candidate] = []
        potential = {c.id: sum(by_key[k].weight * by_key[k].base for k in c.statements if k in by_key)
                     for c in cands}
        position = {c.id: i for i, c in enumerate(cands)}
        cands = sorted(cands, key=lambda c: (-potential[c.id], c.id))
        rank_of = {c.id: i for i, c in enumerate(cands)}
        sessions = self.run.sessions
        n = 2 if sessions.connect is not None and len(cands) >= PARALLEL_SCREEN_MIN else 1
        useless = [
            c for part in sessions.parallel(
                {f"screen {i}": lambda part=cands[i::n]: self._own(part, keep) for i in range(n)}
            ).values() for c in part
        ]
        useless.sort(key=lambda c: rank_of[c.id])
        sessions.parallel({f"screen others {i}": lambda part=useless[i::n]: self._others(part, keep)
                           for i in range(n)})
        return sorted(keep, key=lambda c: position[c.id])  # the generator's order: the search's tie-break

    def _own(self, cands: list[Candidate], keep: list[Candidate]) -> list[Candidate]:
        """Screening's first pass: returns the candidates useless to their own statements."""
        useless = []
        ev, clock, rejected = self.ev, self.run.clock, self.run.rejected
        for i, c in enumerate(cands):
            self.run.progress("screening", i, len(cands))
            if i % SIZE_BATCH == 0 and not clock.screen_late():
                ev.engine.prefetch_sizes([x.index for x in cands[i:i + SIZE_BATCH]])
            if clock.screen_late():
                self._not_screened(c, "time limit reached before it was costed")
                continue
            slow = ev.slows(c.index, ())
            if slow is not None:
                rejected[c.id] = Rejected(c.id, c.index.table_key, slow)
                continue
            if ev.size(c.index) is None:
                err = ev.engine.invalid.get(c.index, "no size estimate")
                rejected[c.id] = Rejected(c.id, c.index.table_key, f"PostgreSQL cannot build it: {err}")
                continue
            own = [ev.ws.by_key[k] for k in sorted(c.statements) if k in ev.ws.by_key]
            solo = ev.gains(c.index, own)
            if solo > 0:
                self._keep(c, solo, own, keep)
            else:
                useless.append(c)
        return useless

    def _others(self, cands: list[Candidate], keep: list[Candidate]) -> None:
        """Screening's second pass: candidates useless to their own statements, on the table's others."""
        for i, c in enumerate(cands):
            self.run.progress("screening other statements", i, len(cands))
            if self.run.clock.screen_late():
                self._not_screened(c, "no plan of its own statements gains from it; the time limit came before "
                                      "it was tried on the table's other statements")
                continue
            # the others that can search or sort by its leading column (the search's `users` rule): on a fact
            # table read by 40 statements, trying every one of them doubled the screening's what-ifs
            lead = set(c.index.leading_columns)
            others = [
                q for q in self.ev.relevant(c.index)
                if q.key not in c.statements and lead & q.sargable.get(c.index.table_key, set())
            ]
            solo = self.ev.gains(c.index, others)
            if solo > 0:
                self._keep(c, solo, others, keep)
            elif self._joins(c):
                # no plan gains from it alone, but it indexes a join column: next to an index on the other
                # side (or on a table the join reaches) a nested loop or merge join may pay off. The search
                # costs it against the configuration it builds (a dropped move comes back when a statement
                # it touches changes), so it gets its chance there, queued last (gain alone 0)
                with self._lock:
                    self.joins += 1
                self._keep(c, 0.0, [self.ev.ws.by_key[k] for k in sorted(c.statements) if k in self.ev.ws.by_key],
                           keep)
            else:
                self.run.rejected[c.id] = Rejected(
                    c.id, c.index.table_key, "no plan gains from it", {"statements": sorted(c.statements)[:20]}
                )

    def _joins(self, c: Candidate) -> bool:
        """Whether the candidate's leading column is a join column of one of the statements it may serve."""
        lead, table = set(c.index.leading_columns), c.index.table_key
        return any(lead & q.join_columns.get(table, set()) for q in self.ev.relevant(c.index))

    def _not_screened(self, c: Candidate, reason: str) -> None:
        with self._lock:
            if not self.not_screened:
                self.run.clock.hit.append("screening")
            self.not_screened += 1
        self.run.rejected[c.id] = Rejected(c.id, c.index.table_key, reason)

    def _keep(self, c: Candidate, solo: float, stmts: list[Stmt], keep: list[Candidate]) -> None:
        """Keep a candidate that saves `solo` on `stmts`, unless it nearly copies an existing index (or is a
        key prefix of one) and does not save enough of those statements' cost to be worth a second index."""
        existing = self.run.view.indexes.get(c.index.table_key, [])
        twin = copy_of(c.index, existing)
        wider = prefix_of(c.index, existing) if twin is None else None
        floor = COPY_MIN_GAIN if twin is not None else 0.0 if self.run.options.allow_prefixes else PREFIX_MIN_GAIN
        if twin is not None or (wider is not None and floor > 0):
            served = [q for q in stmts if self.ev.engine.cost(q.wis, [c.index]).used]
            share = solo / max(1e-9, sum(q.weight * q.base for q in served))
            if share < floor:
                self.copies.add(c.index)
                what = (f"nearly a copy of {twin.qualified_name} ({twin.definition}); a second index on the "
                        "same keys" if twin is not None else
                        f"a key prefix of {wider.qualified_name} ({wider.definition}), which serves the same "
                        "searches; a narrower index")
                why = f"{what} must cut its statements' cost by {floor:.0%}, this one by {share:.1%}"
                self.run.rejected[c.id] = Rejected(c.id, c.index.table_key, why)
                return
        keep.append(c)
        self.solo[c.index] = solo

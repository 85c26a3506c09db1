"""Stage 4: selection. A greedy search over moves, then pruning and consolidation.

At each step the search takes the move with the best net benefit per byte (or, by="gain", net
benefit): add a screened-in candidate, or extend a chosen index by one column (Extend's move,
Schlosser et al. 2019). Every move is costed against the whole current configuration, so an index
another one made useless brings nothing. Net benefit = Σ calls × cost saved − write overhead.
Evaluation is lazy (CELF): a move is re-costed only when it reaches the top of the queue with a stale
value. `improve` is the swap pass under a budget or cap; `prune` and `consolidate` remove what the
other chosen indexes made (nearly) useless.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field

from pgadvisor.advise.indexes.evaluate import ByTable, Evaluator, by_table_of, without
from pgadvisor.advise.indexes.runtime import Run
from pgadvisor.advise.indexes.screen import Screening
from pgadvisor.advise.indexes.statements import Stmt
from pgadvisor.advise.schema import SchemaView, covers, served_by
from pgadvisor.indexdef import IndexDef, KeyPart

# Extend's own stopping rule: a move must save 0.3% of the workload's cost (index-eab's ExtendAlgorithm,
# DEFAULT_PARAMETERS min_cost_improvement = 1.003, as in hyrise/index_selection_evaluation)
EXTEND_MIN_IMPROVEMENT = 0.003
# a move's size counts as at least one 8 kB page (BLCKSZ) in its benefit per byte: a tiny index, or an
# extension that adds a few bytes, must not win on a near-zero denominator
MIN_MOVE_BYTES = 8192
# the swap pass: rounds, chosen indexes tried (largest first), candidates the refill starts from (most
# benefit alone first): chosen by hand, not measured
SWAP_ROUNDS = 2
SWAP_TRIES = 6
SWAP_WIDTH = 25
# `consolidate` drops a covered index when its statements cost at most this much more without it
# (chosen by hand: `(a)` next to `(a) INCLUDE (b)` is one index too many for a DBA)
CONSOLIDATE_TOLERANCE = 0.05

Move = tuple[IndexDef, IndexDef | None]  # (index to add, chosen index it extends or None)


@dataclass
class Result:
    """A search run's configuration, its estimated cost (reads + writes) and how it got there."""

    config: list[IndexDef]
    objective: float
    read_cost: float
    write_cost: float
    steps: int
    stopped: str = ""
    history: list[str] = field(default_factory=list)
    pruned: dict[IndexDef, list[IndexDef]] = field(default_factory=dict)
    values: dict[IndexDef, tuple[float, float]] = field(default_factory=dict)  # last (read gain, write cost)
    seconds: float = 0.0
    unpruned: Result | None = None  # the run's configuration before `prune`, when pruning changed it


class Searcher:
    """The searches of one run, over the screened-in pool; `moves` counts their move evaluations by outcome."""

    def __init__(self, run: Run, ev: Evaluator, screening: Screening):
        self.run = run
        self.ev = ev
        self.solo = screening.solo  # a screened-in candidate's gain alone: its first bound in the queue
        self.copies = screening.copies  # near copies screened out: never reached by extending either
        self.moves: Counter[str] = Counter()
        self._ext_cache: dict[tuple[IndexDef, int], list[IndexDef]] = {}

    def search(
        self,
        pool: list[IndexDef],
        attributes: dict[str, set[str]],
        label: str,
        min_improvement: float,
        by: str = "ratio",
        start: list[IndexDef] | None = None,
        share: float = 1.0,
    ) -> Result:
        """Greedy over add-candidate and extend-by-one-column moves, by net benefit per byte (`by="ratio"`)
        or by net benefit (`by="gain"`), from `start`; then prune. Under a time limit this run may use
        `share` of the time left (what it leaves goes to the next run).

        Lazy (CELF): a move's last value bounds its value now, since benefits shrink as the configuration
        grows; moves wait in a priority queue and only the top one is re-evaluated, until the top one is
        fresh (none of the statements it touches changed since) and is taken.
        """
        t_start = time.monotonic()
        g = _Greedy(self, list(start or []), by, attributes)
        base_total = self.ev.ws.weighted_base()
        stopped = g.run(pool, label, min_improvement, self.run.clock.share(t_start, share))
        before = list(g.config)
        config, read_total, write_total, pruned = self.prune(g.config, g.cur, min_improvement / 2)
        res = Result(
            config, read_total + write_total, read_total, write_total, g.steps, stopped, g.history, pruned, g.values
        )
        res.history.insert(0, f"{label}: baseline {base_total:.1f}")
        if pruned:
            res.unpruned = self.result_of(before, res, [f"{label}: before pruning"])
        res.seconds = time.monotonic() - t_start
        return res

    def result_of(self, config: list[IndexDef], like: Result, history: list[str]) -> Result:
        """A configuration costed from scratch (every statement), as a Result with `like`'s run figures."""
        ev = self.ev
        read = ev.read_total(ev.costs_under(config, ev.stmts))
        write = ev.write_cost(config)
        return Result(list(config), read + write, read, write, like.steps, like.stopped, like.history + history,
                      {}, like.values, like.seconds)

    def refill(self, res: Result, pool: list[IndexDef], attributes: dict[str, set[str]]) -> Result:
        """The greedy continued from a cleaned-up configuration (`consolidate` dropped covered indexes): the
        budget they freed is spent on what now helps most, by benefit per byte and by benefit; the better
        of the two (or `res` itself when neither adds anything)."""
        best = res
        pool = [d for d in pool if d not in res.pruned]  # not what the clean-up just dropped
        for by in ("ratio", "gain"):
            trial = self.search(pool + [d for d in res.config if d not in pool], attributes, f"refill ({by})",
                                self.run.options.min_improvement, by=by, start=list(res.config))
            if trial.objective < best.objective * (1 - 1e-9) and set(trial.config) != set(res.config):
                trial.history = res.history + [f"refill after consolidation ({by})"] + trial.history[1:]
                trial.pruned = {**res.pruned, **trial.pruned}
                best = trial
        return best

    def extensions(self, d: IndexDef, attributes: dict[str, set[str]]) -> list[IndexDef]:
        """Extend's move: `d` with one more key column (an attribute of its table)."""
        key = (d, id(attributes))
        hit = self._ext_cache.get(key)
        if hit is not None:
            return hit
        out: list[IndexDef] = []
        view = self.run.view
        if d.method == "btree" and d.width < self.run.options.max_width:
            have = {c for k in d.keys for c in k.base_columns}
            for a in sorted(attributes.get(d.table_key, ())):
                if a in have:
                    continue
                ext = d.extended(KeyPart(column=a, expr_columns=(a,)))
                if served_by(ext, view.indexes.get(ext.table_key, [])) is None and ext not in self.copies:
                    out.append(ext)
        self._ext_cache[key] = out
        return out

    def improve(self, res: Result, pool: list[IndexDef], attributes: dict[str, set[str]]) -> Result:
        """Local search on a budget- or cap-bound result: drop one of the SWAP_TRIES largest chosen indexes,
        let the greedy refill from the SWAP_WIDTH candidates with the most benefit alone; keep the change
        when the cost falls (at most SWAP_ROUNDS times)."""
        best = res
        clock = self.run.clock
        for _ in range(SWAP_ROUNDS):
            improved = False
            chosen = set(best.config)
            top = sorted((c for c in pool if c not in chosen), key=lambda c: -self.solo.get(c, 0.0))[:SWAP_WIDTH]
            for d in sorted(best.config, key=lambda x: (-(self.ev.size(x) or 0), x.label()))[:SWAP_TRIES]:
                if clock.deadline and time.monotonic() > clock.deadline:
                    clock.hit.append("swap")
                    return best
                start = [x for x in best.config if x != d]
                trial = self.search(
                    [c for c in top if c != d] + start, attributes, "swap", self.run.options.min_improvement,
                    start=start,
                )
                if trial.objective < best.objective * (1 - 1e-6):
                    trial.history = best.history + [f"swap out {d.label()}"] + trial.history[1:]
                    best, improved = trial, True
                    break
            if not improved:
                break
        return best

    def prune(
        self, config: list[IndexDef], cur: dict[str, float], threshold: float = 0.0
    ) -> tuple[list[IndexDef], float, float, dict[IndexDef, list[IndexDef]]]:
        """Remove, least useful first, every index whose removal raises the cost (reads + writes) by no
        more than `threshold` × the workload's cost: one the others made (nearly) useless.

        `cur` is brought up to date first: the search takes an extended index's cost for the statements
        that do not read the new column as unchanged, and a stale, too low cost there would keep an
        index (a BRIN next to the extended B-tree) that no plan gains from any more."""
        ev = self.ev
        pruned: dict[IndexDef, list[IndexDef]] = {}
        config = list(config)
        cur.update(ev.costs_under(config, ev.stmts))
        losses: dict[IndexDef, tuple[float, list[Stmt], dict[str, float]]] = {}
        labels = {d: d.label() for d in config}
        while config:
            grouped = by_table_of(config)
            for d in config:
                if d not in losses:
                    losses[d] = self._loss(d, grouped, cur)
            d = min(config, key=lambda x: (losses[x][0], labels[x]))
            loss, affected, costs = losses[d]
            total = ev.read_total(cur)
            if loss > max(threshold * total, 1e-9 * max(1.0, total)):
                break
            config = [x for x in config if x != d]
            cur.update(costs)
            grouped = without(grouped, d)
            used = {x for q in affected for x in ev.plan(q, grouped).used}
            pruned[d] = [x for x in config if x in used]
            # the losses of indexes on the tables those statements read may have changed
            tables = {d.table_key} | {t for q in affected for t in q.wis.tables}
            alive = set(config)
            losses = {x: v for x, v in losses.items() if x in alive and x.table_key not in tables}
        return config, ev.read_total(cur), ev.write_cost(config), pruned

    def _loss(self, d: IndexDef, grouped: ByTable, cur: dict[str, float]) -> tuple[float, list[Stmt], dict[str, float]]:
        """What removing `d` costs (read loss − write cost saved), the statements it changes and their costs."""
        ev = self.ev
        rest = [x for x in grouped[d.table_key] if x != d]
        # a statement whose plan does not use d keeps its plan without it
        affected = [q for q in ev.relevant(d) if d in ev.plan(q, grouped).used]
        costs = ev.costs_under(without(grouped, d), affected)
        read_loss = sum(q.weight * (costs[q.key] - cur[q.key]) for q in affected)
        write_saved = ev.writes.cost(d.table_key, rest + [d]) - ev.writes.cost(d.table_key, rest)
        return read_loss - write_saved, affected, costs

    def consolidate(self, best: Result, tolerance: float = CONSOLIDATE_TOLERANCE) -> Result:
        """Drop a chosen index that another chosen one covers (`schema.covers`) when the statements it
        serves cost at most `tolerance` more without it: `(a)` next to `(a) INCLUDE (b)` is one index too
        many for a DBA."""
        ev = self.ev
        config = list(best.config)
        cur = ev.costs_under(config, ev.stmts)
        dropped, pruned = [], dict(best.pruned)
        for a in sorted(best.config, key=lambda d: (-d.width, d.label())):
            cover = next((b for b in config if b != a and covers(b, a)), None)
            if cover is None:
                continue
            rest = [d for d in config if d != a]
            affected = ev.relevant(a)
            costs = ev.costs_under(rest, affected)
            loss = sum(q.weight * (costs[q.key] - cur[q.key]) for q in affected)
            loss -= ev.write_cost(config, [a.table_key]) - ev.write_cost(rest, [a.table_key])
            if loss <= tolerance * sum(q.weight * cur[q.key] for q in affected):
                config = rest
                cur.update(costs)
                pruned[a] = [cover]
                dropped.append(f"consolidate: drop {a.label()} (covered by {cover.label()})")
        if not dropped:
            return best
        read, write = ev.read_total(cur), ev.write_cost(config)
        return Result(config, read + write, read, write, best.steps, best.stopped, best.history + dropped,
                      pruned, best.values)


class _Greedy:
    """One greedy run's state: the configuration it builds from its start (`config`, also by table), the
    statements' current costs (`cur`), and the lazy queue of moves with what it knows of each."""

    def __init__(self, s: Searcher, start: list[IndexDef], by: str, attributes: dict[str, set[str]]):
        self.s, self.ev, self.by, self.attributes = s, s.ev, by, attributes
        ev = self.ev
        self.config = start
        self.by_t = by_table_of(start)
        self.in_config = set(start)
        self.cur = {q.key: q.base for q in ev.stmts}
        if start:
            self.cur.update(ev.costs_under(start, {q.key: q for d in start for q in ev.relevant(d)}.values()))
        self.read_total = ev.read_total(self.cur)
        self.used_bytes = sum(ev.size(d) or 0 for d in start)
        self.steps = 0
        self.history: list[str] = []
        self.changed: dict[str, int] = {}  # statement → step at which its cost last changed
        self.changed_tables: dict[str, int] = {}  # table → step at which its new indexes last changed (write cost)
        # move → (step stamp, read gain, write cost delta, new costs of the statements it touches)
        self.evaluated: dict[Move, tuple[int, float, float, dict[str, float]]] = {}
        self.values: dict[IndexDef, tuple[float, float]] = {}
        self.heap: list[tuple[float, int, IndexDef, IndexDef | None]] = []
        self.order = itertools.count()
        self.touching: dict[str, list[Move]] = {}  # statement → the dropped-or-known moves that touch it
        self.known: set[Move] = set()
        self.dropped: set[Move] = set()

    def run(self, pool: list[IndexDef], label: str, min_improvement: float, deadline: float | None) -> str:
        """Take moves until none improves the cost (or the deadline); returns why it stopped."""
        s, clock = self.s, self.s.run.clock
        for c in pool:
            if c not in self.in_config:
                self.push(c, None)
        for d in self.config:
            for e in s.extensions(d, self.attributes):
                if e not in self.in_config:
                    self.push(e, d)
        stopped = "no move improves the estimated cost"
        while self.heap:
            if (deadline and time.monotonic() > deadline) or clock.cancel.is_set():
                clock.hit.append(label)
                return "time limit reached"
            neg_bound, _, add, remove = heapq.heappop(self.heap)
            s.run.progress(f"{label} step {self.steps + 1}", len(self.evaluated), len(self.evaluated) + len(self.heap))
            stopped = self.step(-neg_bound, add, remove, min_improvement) or stopped
        return stopped

    def step(self, bound: float, add: IndexDef, remove: IndexDef | None, min_improvement: float) -> str | None:
        """Look at the move on top of the queue (whose value was at most `bound`): skip it, drop it, queue it
        again with its value now, or take it. Returns a reason to stop when one came up."""
        s, ev = self.s, self.ev
        opts = s.run.options
        if add in self.in_config or (remove is not None and remove not in self.in_config):
            return None
        if remove is None and opts.max_indexes is not None and len(self.config) >= opts.max_indexes:
            return f"max-indexes cap ({opts.max_indexes}) reached"
        dsize = self.dsize(add, remove)
        if dsize is None or (opts.budget_bytes is not None and self.used_bytes + dsize > opts.budget_bytes):
            return None  # used bytes only grow: it will not fit later either
        if ev.slows(add, [d for d in self.by_t.get(add.table_key, ()) if d != remove]) is not None:
            s.moves["over the writers' slowdown limit"] += 1  # more indexes only slow writers more
            return None
        ev_ = self.evaluated.get((add, remove))
        # stamps: a change at step n happens after the evaluations stamped n - 1, before those stamped n
        fresh = (
            ev_ is not None
            and self.changed_tables.get(add.table_key, -1) <= ev_[0]
            and all(self.changed.get(k, -1) <= ev_[0] for k in ev_[3])
        )
        threshold = min_improvement * max(self.read_total, 1e-9)
        if not fresh and threshold > 0:
            # no what-if for a move that cannot pass: its read gain is at most all the cost of the
            # statements it touches, and its write cost is not negative (a wide workload's long tail)
            near = self.reach(add, remove)
            if sum(q.weight * self.cur[q.key] for q in near) <= threshold:
                self.drop(add, remove, near)
                s.moves["skipped below the minimum improvement"] += 1
                return None
        if fresh:
            _, read_gain, write_delta, costs = ev_
        else:
            read_gain, write_delta, costs = ev.move(self.by_t, self.cur, add, remove)
            self.evaluated[(add, remove)] = (self.steps, read_gain, write_delta, costs)
            s.moves["evaluated"] += 1
        gain = read_gain - write_delta
        if remove is None:
            self.values[add] = (read_gain, write_delta)
        if read_gain <= 0 or gain <= threshold:
            # until a change to the statements it touches brings it back (`take`)
            self.drop(add, remove, ev.touched(add, remove))
            s.moves["dropped"] += 1
            return None
        value = gain / max(dsize, MIN_MOVE_BYTES) if self.by == "ratio" else gain
        if not fresh or bound > value * (1 + 1e-9) + 1e-12:
            self.push(add, remove, value)  # its real value now: back in the queue
            return None
        # fresh, and its value is at least every other move's bound: take it
        self.take(add, remove, dsize, costs)
        return None

    def take(self, add: IndexDef, remove: IndexDef | None, dsize: int, costs: dict[str, float]) -> None:
        """Apply a move; the dropped moves on the statements it changed come back to the queue."""
        if remove is not None:
            self.config = [add if d == remove else d for d in self.config]
            self.by_t[add.table_key] = [add if d == remove else d for d in self.by_t[add.table_key]]
            self.in_config.discard(remove)
            self.history.append(f"extend {remove.label()} → {add.label()}")
        else:
            self.config.append(add)
            self.by_t.setdefault(add.table_key, []).append(add)
            self.history.append(f"add {add.label()}")
        self.in_config.add(add)
        self.used_bytes += dsize
        self.steps += 1
        requeue: set[Move] = set()
        for k, c in costs.items():
            self.read_total += self.ev.ws.by_key[k].weight * (c - self.cur[k])
            self.cur[k] = c
            self.changed[k] = self.steps
            requeue.update(m for m in self.touching.get(k, ()) if m in self.dropped)
        self.changed_tables[add.table_key] = self.steps
        # benefits mostly shrink as the configuration grows (the lazy queue relies on it), but a move
        # that was worth nothing may be worth something next to the new index (both sides of a
        # join): the dropped moves on the statements that changed are costed again
        self.s.moves["requeued"] += len(requeue)
        for a, r in requeue:
            self.dropped.discard((a, r))
            if a not in self.in_config and (r is None or r in self.in_config):
                self.push(a, r, ceiling=True)
        for e in self.s.extensions(add, self.attributes):
            if e not in self.in_config:
                self.push(e, add)

    def dsize(self, add: IndexDef, remove: IndexDef | None) -> int | None:
        """The bytes a move adds (None: the index has no size estimate)."""
        s_add = self.ev.size(add)
        if s_add is None:
            return None
        return s_add - ((self.ev.size(remove) or 0) if remove is not None else 0)

    def reach(self, add: IndexDef, remove: IndexDef | None) -> list[Stmt]:
        """The statements a move can change, or a superset when finding them exactly would take what-ifs
        (a new index's users are found with one what-if per statement: only for the moves that get
        evaluated, not for every move queued; a workload-sized pool would cost that much up front)."""
        if remove is None and add not in self.ev.users_cache:
            return self.ev.relevant(add)
        return self.ev.touched(add, remove)

    def drop(self, add: IndexDef, remove: IndexDef | None, stmts: list[Stmt]) -> None:
        """Drop a move until one of these statements changes."""
        if (add, remove) not in self.known:
            self.known.add((add, remove))
            for q in stmts:
                self.touching.setdefault(q.key, []).append((add, remove))
        self.dropped.add((add, remove))

    def push(self, add: IndexDef, remove: IndexDef | None, value: float | None = None, ceiling: bool = False) -> None:
        """Queue a move at `value`; without one, at its benefit alone when never evaluated, else (`ceiling`)
        at all the cost it can touch."""
        if value is None:
            dsize = self.dsize(add, remove)
            if dsize is None:
                return
            gain = self.s.solo.get(add) if remove is None and not ceiling else None
            if gain is None:
                gain = sum(q.weight * self.cur[q.key] for q in self.reach(add, remove))
            value = gain / max(dsize, MIN_MOVE_BYTES) if self.by == "ratio" else gain
        heapq.heappush(self.heap, (-value, next(self.order), add, remove))


def extend_singles(view: SchemaView, attributes: dict[str, set[str]], copies: set[IndexDef]) -> list[IndexDef]:
    """Extend's candidate set: a single-column index on every indexable attribute that no existing index
    serves and screening did not reject as a near copy."""
    out = []
    for table_key, cols in sorted(attributes.items()):
        schema, _, table = table_key.partition(".")
        for c in sorted(cols):
            d = IndexDef(schema, table, (KeyPart(column=c, expr_columns=(c,)),))
            if served_by(d, view.indexes.get(table_key, [])) is None and d not in copies:
                out.append(d)
    return out

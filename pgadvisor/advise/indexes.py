"""Workload-wide index advisor: which new indexes pay off for the whole workload, verified with hypopg.

The pipeline, top to bottom (`recommend_indexes`):

1. statements → skip what cannot be advised (our own, other databases, unparseable, utility, missing
   tables) with the reason; parse the rest (`pgadvisor.sql.parse`);
2. baseline plan cost of every statement (generic plans for `$n` texts), weighted by its calls;
3. candidates (`candidates.py`) with hypopg sizes; screening drops those no plan gains from;
4. selection: a greedy search that at each step takes the move with the best net benefit per byte
   (and, under a budget or a cap, a second run by net benefit): add a candidate (single,
   multi-column, covering, partial, expression, BRIN) or extend a chosen index by one column (Extend's
   move, Schlosser et al. 2019). Every move is costed against the whole current configuration, so an
   index another one made useless brings nothing. Net benefit = Σ calls × cost saved − write overhead
   (index maintenance, HOT updates lost). Evaluation is lazy (CELF): a move is re-costed only when it
   reaches the top of the queue with a stale value. The same search restricted to Extend's own moves
   also runs (cheap: the cost cache is shared), the cheapest configuration wins, and under a budget a
   swap pass (drop one index, refill greedily) improves it; so the result is never worse than Extend on
   the estimated cost. A final pass removes indexes whose removal does not raise the cost;
5. recommendations with evidence, and every rejected candidate with the reason.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from pgadvisor.advise.candidates import Candidate, CandidateGenerator
from pgadvisor.advise.schema import (
    SchemaView,
    candidate_id,
    copy_of,
    create_sql,
    drop_sql,
    index_name,
    prefix_of,
    served_by,
)
from pgadvisor.errors import ConnectError
from pgadvisor.findings import Recommendation, Rejected, rank
from pgadvisor.indexdef import IndexDef, KeyPart, norm_expr, qualified
from pgadvisor.marker import is_marked, mark
from pgadvisor.pg import catalog, guard
from pgadvisor.pg.hypo import Filter, WhatIf, WhatIfStatement
from pgadvisor.sql.model import ParsedStatement
from pgadvisor.workload import StatementStats

Progress = Callable[[str, int, int], None]
READ_KINDS = ("select", "update", "delete", "merge", "insert")
# planner cost units to maintain one index entry for one written row (the descent, the leaf insert and
# its WAL; for a non-HOT update also bottom-up deletion), scaled a little by log2 of the table size.
# Measured with tests/bench/bench_write_cost.py (µs per extra index entry ÷ µs per cost unit of a
# sequential scan, PostgreSQL 15, 2 shared cores, load 3-5): median 1.1 (0.3-2.8) per entry in
# server-side batches, about 3 (1.3-7.6, noisier) for single-row statements through pgbench (each
# also opens and locks every index); 2 sits between the two (docs/benchmarks.md, "Write mix"). The
# former 0.5 ("half a sequential page") let near-useless indexes on written tables through on a
# write-heavy mix (tests/bench/bench_writemix.py).
MAINT_BASE = 2.0
MAINT_PER_LEVEL = 0.01
# time of a cost unit, to set an index entry's cost against a statement's measured time: 5.1–11.5 µs
# per unit of a sequential scan in bench_write_cost.py on the 2-core benchmark machine
MS_PER_COST_UNIT = 0.008
# a statement's gain below both of these is hypopg noise, not a reason for an index (see `eff`)
MIN_GAIN_ABS = 0.5
MIN_GAIN_REL = 0.02
# under a time limit (a deadline for the whole run), screening may use up to this share of the time left
# when it starts: the rest is the search's, so that a workload too large for the limit still gets a search;
# and screening and the search get at least MIN_SHARE of the limit each, even when parsing and the
# baseline (which always run in full) used it up
SCREEN_SHARE = 0.5
MIN_SHARE = 0.1
# screening splits a pool this large between two sessions (when `connect` can open a second one)
PARALLEL_SCREEN_MIN = 64


def text_digest(text: str) -> str:
    """Identity of a statement text up to whitespace (not a template: `sql.fingerprint` merges literals)."""
    return hashlib.sha1(" ".join(text.split()).encode()).hexdigest()[:16]


@dataclass
class _Stmt:
    key: str
    stats: StatementStats
    ps: ParsedStatement
    wis: WhatIfStatement
    weight: float
    base: float = 0.0
    parameterized: bool = False
    join_columns: dict[str, set[str]] = field(default_factory=dict)  # table key → columns it joins on
    # table key → columns an index can search or order by for it (filters, joins, ORDER BY, GROUP BY)
    sargable: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class _Result:
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


# ---------------------------------------------------------------------------------------------------
# write overhead
# ---------------------------------------------------------------------------------------------------


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
        self.updates: dict[str, list[tuple[frozenset[str] | None, float]]] = {}
        self.dml_cost: Counter[str] = Counter()  # Σ calls × plan cost of the table's DML
        self.hot_ratio: dict[str, float] = {}
        # table → its writing statements: (key, kind, rows per call, SET columns, plan cost, mean ms per call)
        self.writers: dict[str, list[tuple[str, str, float, frozenset[str] | None, float, float]]] = {}

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
        self.writers.setdefault(table_key, []).append((key, kind, rows_per_call, set_columns, cost, mean_ms))

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
        hot = self.hot_ratio.get(table_key, 0.9)
        out = {}
        for key, kind, rows, set_cols, cost, mean_ms in self.writers.get(table_key, []):
            if kind == "insert":
                entries, why = len(new), f"{_entries(len(new))} per inserted row"
            elif kind in ("update", "merge") and set_cols is not None:
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
            extra = rows * entries * maint
            if mean_ms > 0:  # a plan's cost leaves out what every statement pays (executor start, locks, WAL)
                out[key] = (100.0 * extra * MS_PER_COST_UNIT / mean_ms, why)
            elif cost + rows * (1.0 + n_existing * maint) > 0:
                out[key] = (100.0 * extra / (cost + rows * (1.0 + n_existing * maint)), why)
        return out

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
        total = (self.inserts[table_key] + 0.2 * self.deletes[table_key]) * maint * len(new)
        existing = self._existing_cols(table_key)
        hot = self.hot_ratio.get(table_key, 0.9)
        for set_cols, rows in self.updates.get(table_key, []):
            if set_cols is None:  # counters only: the non-HOT part gets entries in the new indexes
                total += rows * (1 - self.hot_ratio.get(table_key, 1.0)) * maint * len(new)
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
        base = self.dml_cost[table_key] + rows * (1.0 + n_existing * self._maint(table_key))
        return 100.0 * extra / base if base > 0 else 0.0


# ---------------------------------------------------------------------------------------------------
# the advisor
# ---------------------------------------------------------------------------------------------------


class IndexAdvisor:
    """One advisor run; `recommend_indexes` is the function to call."""

    def __init__(
        self,
        conn: psycopg.Connection,
        *,
        schema: dict | None,
        budget_bytes: int | None,
        max_indexes: int | None,
        max_width: int,
        window_days: float,
        write_aware: bool,
        algorithm: str,
        min_improvement: float,
        create_extension: bool,
        heuristic: bool,
        max_hypothetical: int,
        table_writes: dict[str, dict] | None,
        time_limit_s: float | None,
        progress: Progress | None,
        narrower: bool = False,
        max_slowdown_pct: float | None = None,
        connect: Callable[[], AbstractContextManager[psycopg.Connection]] | None = None,
        trusted_roles: tuple[str, ...] = (),
    ):
        if budget_bytes is not None and budget_bytes < 0:
            raise ValueError("budget_bytes must be >= 0")
        if max_indexes is not None and max_indexes < 0:
            raise ValueError("max_indexes must be >= 0")
        if algorithm not in ("auto", "greedy", "extend"):
            raise ValueError("algorithm must be auto, greedy or extend")
        self.conn = conn
        self.budget = budget_bytes
        self.cap = max_indexes
        self.max_width = max(1, int(max_width))
        self.window_days = window_days if window_days and window_days > 0 else 1.0
        self.algorithm = algorithm
        self.min_improvement = max(0.0, min_improvement)
        self.create_extension = create_extension
        self.heuristic = heuristic
        self.max_hypothetical = max_hypothetical
        self.table_writes = table_writes or {}
        self.time_limit = time_limit_s if time_limit_s and time_limit_s > 0 else None
        # set when screening starts (see `start_clock`): parsing, the baseline and the report always run
        self.deadline: float | None = None
        self.screen_deadline: float | None = None
        self.not_screened = 0
        self.limit_hit: list[str] = []  # the phases the time limit cut short
        self.moves: Counter = Counter()  # the searches' move evaluations, by outcome
        self.narrower = narrower
        if max_slowdown_pct is not None and max_slowdown_pct < 0:
            raise ValueError("max_slowdown_pct must be >= 0")
        self.max_slowdown = max_slowdown_pct
        self.progress = progress or (lambda stage, done, total: None)
        self.t0 = time.monotonic()
        was_idle = conn.info.transaction_status == TransactionStatus.IDLE and not conn.autocommit
        if schema is None:
            schema = catalog.read_schema(conn)
        rows = catalog.q(
            conn,
            "SELECT current_schemas(false) AS path, "
            "(SELECT oid FROM pg_database WHERE datname = current_database())::bigint AS dbid",
        )
        # what may be planned: statements that reach code of untrusted roles are skipped (pg/guard.py)
        self.guard = guard.load(conn, trusted_roles)
        if was_idle and conn.info.transaction_status != TransactionStatus.IDLE:
            conn.rollback()  # nothing written: end the catalog reads' transaction, hold no snapshot
        self.dbid = rows[0]["dbid"]
        self.view = SchemaView(schema, rows[0]["path"] or ["public"])
        self.rejected: dict[str, Rejected] = {}
        self.skipped: list[dict[str, Any]] = []
        self.stmts: list[_Stmt] = []
        self.by_table: dict[str, list[_Stmt]] = {}
        self.writes = WriteModel(self.view, write_aware)
        self.rel_cache: dict[IndexDef, list[_Stmt]] = {}
        self._engine: WhatIf | None = None
        self._local = threading.local()  # the engine of a search run in another thread, on its own session
        self._lock = threading.Lock()
        self._cancel = threading.Event()  # set when the run is interrupted: parallel jobs stop
        self.connect = connect  # opens another session: searches under a budget then run in parallel
        self.helpers: list[WhatIf] = []
        self.solo: dict[IndexDef, float] = {}
        self.users_cache: dict[IndexDef, list[_Stmt]] = {}
        self._ext_cache: dict[tuple[IndexDef, int], list[IndexDef]] = {}
        self.copies: set[IndexDef] = set()  # near copies and key prefixes of existing indexes, screened out

    @property
    def engine(self) -> WhatIf:
        """This thread's what-if engine: the run's, or a parallel search's own."""
        return getattr(self._local, "engine", None) or self._engine

    @engine.setter
    def engine(self, e: WhatIf | None) -> None:
        self._engine = e

    def whatif_calls(self) -> int:
        """EXPLAINs run so far, by the run's engine and the parallel sessions' engines."""
        return (self._engine.calls if self._engine is not None else 0) + sum(h.calls for h in self.helpers)

    def _parallel(self, jobs: dict[str, Callable[[], Any]]) -> dict[str, Any]:
        """Run the jobs (searches, parts of the screening) at once, the first in this thread and each other
        one on a session of its own (the engines share their caches); one after another when no other
        session can be opened."""
        names = list(jobs)
        if self.connect is None or len(names) < 2:
            return {n: jobs[n]() for n in names}

        def helper(name: str) -> Any:
            with self.connect() as conn, WhatIf(
                conn, schema=self.view.schema, max_hypothetical=self.max_hypothetical,
                heuristic=self._engine.mode != "hypopg", shared=self._engine,
            ) as engine:
                if engine.mode != self._engine.mode:
                    raise RuntimeError(f"the other session's engine is {engine.mode}: {engine.reason}")
                self.helpers.append(engine)
                self._local.engine = engine
                return jobs[name]()

        out: dict[str, Any] = {}
        with ThreadPoolExecutor(max_workers=len(names) - 1) as pool:
            futures = {n: pool.submit(helper, n) for n in names[1:]}
            try:
                out[names[0]] = jobs[names[0]]()
            except BaseException:  # Ctrl-C or an error here: the other sessions stop at their next step
                self._cancel.set()
                raise
            for n, f in futures.items():
                try:
                    out[n] = f.result()
                except (psycopg.Error, ConnectError, RuntimeError):  # no second session: run it here
                    out[n] = jobs[n]()
        return {n: out[n] for n in names}

    # -- 1. statements --------------------------------------------------------------------------------
    def _skip(self, st: StatementStats, reason: str) -> None:
        self.skipped.append(
            {"queryid": st.queryid, "reason": reason, "calls": st.calls, "query": " ".join(st.query.split())[:200]}
        )

    def prepare(self, statements: list[StatementStats]) -> dict[str, Any]:
        from pgadvisor.sql.parse import parse_statement, with_example_kinds

        merged: dict[str, StatementStats] = {}
        for st in statements:
            if is_marked(st.query):
                self._skip(st, "pgadvisor's own statement")
                continue
            if st.dbid and self.dbid and int(st.dbid) != int(self.dbid):
                self._skip(st, f"ran in another database (dbid {st.dbid})")
                continue
            if st.calls <= 0:
                self._skip(st, "no calls in the window")
                continue
            fp = text_digest(st.query)
            if fp in merged:  # same text under another user or queryid: one statement to the advisor
                m = merged[fp]
                merged[fp] = replace(
                    m,
                    calls=m.calls + st.calls,
                    total_exec_ms=m.total_exec_ms + st.total_exec_ms,
                    rows=m.rows + st.rows,
                    examples=m.examples or st.examples,
                )
            else:
                merged[fp] = st
        parser_schema = self.view.parser_schema()
        report = {"total": 0, "parsed": 0, "failed": 0, "failures": Counter()}
        for fp, st in merged.items():
            report["total"] += 1
            ps = parse_statement(st.query, parser_schema)
            if not ps.ok:
                report["failed"] += 1
                report["failures"][(ps.error or "").split(":", 1)[0]] += 1
                self._skip(st, f"unparseable: {ps.error}")
                continue
            report["parsed"] += 1
            if ps.kind not in READ_KINDS:
                self._skip(st, f"{ps.kind} statement: nothing to index")
                continue
            why = next(filter(None, map(self.guard.reason, (st.query, *st.examples))), None)
            if why:
                self._skip(st, why)
                continue
            if not ps.tables:
                self._skip(st, "reads no table")
                continue
            keys = []
            for schema, name in ps.tables:
                key = self.view.resolve(schema, name)
                if key is None:
                    shown = f"{schema}.{name}" if schema else name
                    keys = None
                    self._skip(
                        st,
                        f"table {shown} does not exist in this database (dropped, temporary, or in another database)",
                    )
                    break
                keys.append(key)
            if keys is None:
                continue
            # the examples (logged values in place) tell which LIKE $n are prefix searches
            example_ps = [parse_statement(t, parser_schema) for t in st.examples]
            if example_ps:
                ps = with_example_kinds(ps, example_ps)
            joins: dict[str, set[str]] = {}
            for j in ps.joins:
                for ref in (j.left, j.right):
                    k = self.view.resolve(ref.schema, ref.table)
                    if k:
                        joins.setdefault(k, set()).add(ref.column)
            sargable: dict[str, set[str]] = {t: set(c) for t, c in joins.items()}
            refs = [p.column for p in ps.predicates] + [k.column for k in ps.order_by] + list(ps.group_by)
            for ref in refs:
                k = self.view.resolve(ref.schema, ref.table)
                if k:
                    sargable.setdefault(k, set()).add(ref.column)
            wis = self._whatif_statement(fp, ps, st.examples, self._expr_predicates(example_ps))
            self.stmts.append(
                _Stmt(fp, st, ps, wis, float(st.calls), "$" in st.query, join_columns=joins, sargable=sargable)
            )
        report["parse_rate"] = report["parsed"] / report["total"] if report["total"] else 1.0
        report["failures"] = dict(report["failures"])
        return report

    def _expr_predicates(self, examples: list[ParsedStatement]) -> tuple[tuple[int, str, str, str, str], ...]:
        """The examples' equality and prefix-LIKE filters on expressions, as SQL to sample with."""
        out = []
        for i, ex in enumerate(examples):
            for p in ex.predicates if ex.ok else ():
                k = self.view.resolve(p.column.schema, p.column.table)
                if k and p.expression and p.constant and p.kind in ("eq", "prefix_like"):
                    op = "LIKE" if p.kind == "prefix_like" else "="
                    out.append((i, k, norm_expr(p.expression), p.kind, f"{p.expression} {op} {p.constant}"))
        return tuple(out)

    def _whatif_statement(
        self, key: str, ps: ParsedStatement, examples: tuple[str, ...] = (),
        expr_predicates: tuple[tuple[int, str, str, str, str], ...] = (),
    ) -> WhatIfStatement:
        res = self.view.resolve
        tables = frozenset(k for k in (res(s, n) for s, n in ps.tables) if k)
        cols: set[tuple[str, str]] = set()
        fcols: set[tuple[str, str]] = set()
        filters = []
        for (s, n), used in ps.columns_used.items():
            k = res(s, n)
            if k:
                cols |= {(k, c) for c in used if c != "*"}
        for p in ps.predicates:
            k = res(p.column.schema, p.column.table)
            if not k:
                continue
            extra = [r.column for r in p.extra_columns]
            cols |= {(k, p.column.column), *((k, c) for c in extra)}
            fcols.add((k, p.column.column))
            filters.append(Filter(k, p.column.column, p.expression, p.kind, p.bound == "both"))
        for j in ps.joins:
            for ref in (j.left, j.right):
                k = res(ref.schema, ref.table)
                if k:
                    cols.add((k, ref.column))
        for s in ps.order_by:
            k = res(s.column.schema, s.column.table)
            if k:
                cols.add((k, s.column.column))
        for g in ps.group_by:
            k = res(g.schema, g.table)
            if k:
                cols.add((k, g.column))
        from pgadvisor.sql.parse import prepare_sql

        # pg_stat_statements writes `date '2024-01-01'` as `date $1`, which PostgreSQL cannot parse back
        text = prepare_sql(ps.text) if "$" in ps.text else ps.text
        return WhatIfStatement(
            key, text, tables, frozenset(cols), frozenset(fcols), tuple(filters), examples, expr_predicates
        )

    # -- 2. baseline ----------------------------------------------------------------------------------
    def baseline(self) -> None:
        kept = []
        for i, q in enumerate(self.stmts):
            self.progress("baseline", i, len(self.stmts))
            r = self.engine.cost(q.wis, ())
            if r.cost is None:
                self._skip(q.stats, f"EXPLAIN failed: {r.error}")
                continue
            q.base = r.cost
            kept.append(q)
            ps = q.ps
            if ps.predicates or ps.joins or ps.order_by or ps.group_by:  # else no index can help it
                for t in q.wis.tables:
                    self.by_table.setdefault(t, []).append(q)
            if q.ps.kind in ("insert", "update", "delete", "merge"):
                rows = float(q.stats.rows) if q.stats.rows else float(q.stats.calls)
                set_cols = q.ps.set_columns if q.ps.kind in ("update", "merge", "insert") else None
                target = self.view.resolve(*q.ps.tables[0])
                if q.ps.kind == "insert" and set_cols:  # INSERT … ON CONFLICT DO UPDATE: count both
                    self.writes.add_statement(target, "update", rows, set_cols, 0.0)
                self.writes.add_statement(target, q.ps.kind, rows, set_cols, q.weight * q.base)
                self.writes.add_writer(
                    target, q.key, q.ps.kind, rows / max(1.0, q.weight), set_cols, q.base, q.stats.mean_exec_ms
                )
        self.stmts = kept
        self.by_key = {q.key: q for q in kept}
        for table_key, counters in self.table_writes.items():
            self.writes.add_counters(table_key, counters)

    # -- 3./4. cost helpers ---------------------------------------------------------------------------
    def relevant(self, d: IndexDef) -> list[_Stmt]:
        hit = self.rel_cache.get(d)
        if hit is None:
            hit = self.rel_cache[d] = [q for q in self.by_table.get(d.table_key, []) if WhatIf.relevant(d, q.wis)]
        return hit

    def users(self, d: IndexDef) -> list[_Stmt]:
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

    def eff(self, q: _Stmt, result: Any) -> float:
        """A statement's cost under a configuration, counting only a real gain over its baseline.

        A hypothetical B-tree is costed slightly cheaper than an equal real one (hypopg estimates a
        lower tree height), so a gain smaller than MIN_GAIN_ABS cost units and MIN_GAIN_REL of the
        statement's cost is noise, not a reason for an index.
        """
        c = result.cost
        if c is None or q.base - c <= max(MIN_GAIN_ABS, MIN_GAIN_REL * q.base):
            return q.base
        return c

    @staticmethod
    def by_table_of(config: Iterable[IndexDef]) -> dict[str, list[IndexDef]]:
        out: dict[str, list[IndexDef]] = {}
        for d in config:
            out.setdefault(d.table_key, []).append(d)
        return out

    def plan(self, q: _Stmt, config: Iterable[IndexDef] | dict[str, list[IndexDef]]) -> Any:
        """The engine's result for q under a configuration (only the indexes on q's tables are passed)."""
        grouped = config if isinstance(config, dict) else self.by_table_of(config)
        return self.engine.cost(q.wis, [d for t in q.wis.tables for d in grouped.get(t, ())])

    @staticmethod
    def without(grouped: dict[str, list[IndexDef]], d: IndexDef) -> dict[str, list[IndexDef]]:
        """A by-table configuration without `d` (a shallow copy: only d's table's list is new)."""
        out = dict(grouped)
        out[d.table_key] = [x for x in grouped.get(d.table_key, ()) if x != d]
        return out

    def costs_under(
        self, config: Iterable[IndexDef] | dict[str, list[IndexDef]], stmts: Iterable[_Stmt]
    ) -> dict[str, float]:
        grouped = config if isinstance(config, dict) else self.by_table_of(config)
        return {q.key: self.eff(q, self.plan(q, grouped)) for q in stmts}

    def write_cost(self, config: Iterable[IndexDef], tables: Iterable[str] | None = None) -> float:
        grouped = self.by_table_of(config)
        tables = set(tables) if tables is not None else set(grouped)
        return sum(self.writes.cost(t, grouped.get(t, [])) for t in tables)

    def size(self, d: IndexDef) -> int | None:
        return self.engine.size(d)

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
        text = " ".join(self.by_key[key].ps.text.split())[:80]
        return (f"would slow `{text}` by about {pct:.0f}% per call ({why}); the limit (--max-slowdown) is "
                f"{self.max_slowdown:g}%")

    def _touched(self, add: IndexDef, remove: IndexDef | None) -> list[_Stmt]:
        """Statements whose cost a move can change."""
        if remove is None:
            return self.users(add)
        # one more key column: only statements that read that column can gain; for the others the
        # wider index does what the narrower one did (their cost is taken as unchanged)
        col = (add.table_key, add.keys[-1].column)
        return [q for q in self.relevant(add) if col in q.wis.columns]

    def _evaluate(
        self, config: dict[str, list[IndexDef]], cur: dict[str, float], add: IndexDef, remove: IndexDef | None
    ) -> tuple[float, float, dict[str, float]]:
        """A move's (read gain, write cost delta, new costs of the statements it touches); `config` by table."""
        affected = {q.key: q for q in self._touched(add, remove)}
        tables = {add.table_key} | {t for q in affected.values() for t in q.wis.tables}
        near = [d for t in tables for d in config.get(t, ()) if d != remove]  # the rest cannot matter
        costs = self.costs_under(near + [add], affected.values())
        read_gain = sum(affected[k].weight * (cur[k] - c) for k, c in costs.items())
        same = [d for d in near if d.table_key == add.table_key]
        if remove is not None:
            same_before = same + [remove]
        else:
            same_before = same
        write_delta = self.writes.cost(add.table_key, same + [add]) - self.writes.cost(add.table_key, same_before)
        return read_gain, write_delta, costs

    # -- 4. search ------------------------------------------------------------------------------------
    def search(
        self,
        pool: list[IndexDef],
        attributes: dict[str, set[str]],
        label: str,
        min_improvement: float,
        by: str = "ratio",
        start: list[IndexDef] | None = None,
        share: float = 1.0,
    ) -> _Result:
        """Greedy over add-candidate and extend-by-one-column moves, by net benefit per byte (`by="ratio"`)
        or by net benefit (`by="gain"`), from `start`; then prune.

        Lazy (CELF): a move's last value bounds its value now, since benefits shrink as the configuration
        grows; moves wait in a priority queue and only the top one is re-evaluated, until the top one is
        fresh (none of the statements it touches changed since) and is taken.
        """
        t_start = time.monotonic()
        # under a time limit this run may use `share` of the time left (what it leaves goes to the next run)
        deadline = t_start + share * (self.deadline - t_start) if self.deadline else None
        config: list[IndexDef] = list(start or [])
        by_t = self.by_table_of(config)
        in_config = set(config)
        cur = {q.key: q.base for q in self.stmts}
        if config:
            cur.update(self.costs_under(config, {q.key: q for d in config for q in self.relevant(d)}.values()))
        base_total = sum(q.weight * q.base for q in self.stmts)
        read_total = sum(q.weight * cur[q.key] for q in self.stmts)
        used_bytes = sum(self.size(d) or 0 for d in config)
        steps = 0
        history: list[str] = []
        stopped = "no move improves the estimated cost"
        changed: dict[str, int] = {}  # statement → step at which its cost last changed
        changed_tables: dict[str, int] = {}  # table → step at which its new indexes last changed (write cost)
        evaluated: dict[tuple[IndexDef, IndexDef | None], tuple[int, float, float, dict[str, float]]] = {}
        values: dict[IndexDef, tuple[float, float]] = {}
        heap: list[tuple[float, int, IndexDef, IndexDef | None]] = []
        order = itertools.count()

        def dsize_of(add: IndexDef, remove: IndexDef | None) -> int | None:
            s_add = self.size(add)
            if s_add is None:
                return None
            return s_add - ((self.size(remove) or 0) if remove is not None else 0)

        touching: dict[str, list[tuple[IndexDef, IndexDef | None]]] = {}
        known: set[tuple[IndexDef, IndexDef | None]] = set()
        dropped: set[tuple[IndexDef, IndexDef | None]] = set()

        def reach(add: IndexDef, remove: IndexDef | None) -> list[_Stmt]:
            """The statements a move can change, or a superset when finding them exactly would take what-ifs
            (a new index's users are found with one what-if per statement: only for the moves that get
            evaluated, not for every move queued; a workload-sized pool would cost that much up front)."""
            if remove is None and add not in self.users_cache:
                return self.relevant(add)
            return self._touched(add, remove)

        def register(add: IndexDef, remove: IndexDef | None, stmts: list[_Stmt]) -> None:
            """A dropped move comes back when one of these statements changes."""
            if (add, remove) not in known:
                known.add((add, remove))
                for q in stmts:
                    touching.setdefault(q.key, []).append((add, remove))

        def push(add: IndexDef, remove: IndexDef | None, value: float | None = None, ceiling: bool = False) -> None:
            if value is None:  # its benefit alone when never evaluated, else all the cost it can touch
                dsize = dsize_of(add, remove)
                if dsize is None:
                    return
                gain = self.solo.get(add) if remove is None and not ceiling else None
                if gain is None:
                    gain = sum(q.weight * cur[q.key] for q in reach(add, remove))
                value = gain / max(dsize, 8192) if by == "ratio" else gain
            heapq.heappush(heap, (-value, next(order), add, remove))

        for c in pool:
            if c not in in_config:
                push(c, None)
        for d in config:
            for e in self.extensions(d, attributes):
                if e not in in_config:
                    push(e, d)
        while heap:
            if (deadline and time.monotonic() > deadline) or self._cancel.is_set():
                stopped = "time limit reached"
                self.limit_hit.append(label)
                break
            neg_bound, _, add, remove = heapq.heappop(heap)
            self.progress(f"{label} step {steps + 1}", len(evaluated), len(evaluated) + len(heap))
            if add in in_config or (remove is not None and remove not in in_config):
                continue
            if remove is None and self.cap is not None and len(config) >= self.cap:
                stopped = f"max-indexes cap ({self.cap}) reached"
                continue
            dsize = dsize_of(add, remove)
            if dsize is None or (self.budget is not None and used_bytes + dsize > self.budget):
                continue  # used bytes only grow: it will not fit later either
            slow = self.slows(add, [d for d in by_t.get(add.table_key, ()) if d != remove])
            if slow is not None:  # more indexes only slow writers more: it will not pass later either
                self.moves["over the writers' slowdown limit"] += 1
                continue
            ev = evaluated.get((add, remove))
            # stamps: a change at step n happens after the evaluations stamped n - 1, before those stamped n
            fresh = (
                ev is not None
                and changed_tables.get(add.table_key, -1) <= ev[0]
                and all(changed.get(k, -1) <= ev[0] for k in ev[3])
            )
            threshold = min_improvement * max(read_total, 1e-9)
            if not fresh and threshold > 0:
                # no what-if for a move that cannot pass: its read gain is at most all the cost of the
                # statements it touches, and its write cost is not negative (a wide workload's long tail)
                near = reach(add, remove)
                ceiling = sum(q.weight * cur[q.key] for q in near)
                if ceiling <= threshold:
                    register(add, remove, near)
                    dropped.add((add, remove))
                    self.moves["skipped below the minimum improvement"] += 1
                    continue
            if fresh:
                _, read_gain, write_delta, costs = ev
            else:
                read_gain, write_delta, costs = self._evaluate(by_t, cur, add, remove)
                evaluated[(add, remove)] = (steps, read_gain, write_delta, costs)
                self.moves["evaluated"] += 1
            gain = read_gain - write_delta
            if remove is None:
                values[add] = (read_gain, write_delta)
            if read_gain <= 0 or gain <= threshold:
                register(add, remove, self._touched(add, remove))
                dropped.add((add, remove))
                self.moves["dropped"] += 1
                continue  # until a change to the statements it touches brings it back (below)
            value = gain / max(dsize, 8192) if by == "ratio" else gain
            if not fresh or -neg_bound > value * (1 + 1e-9) + 1e-12:
                push(add, remove, value)  # its real value now: back in the queue
                continue
            # fresh, and its value is at least every other move's bound: take it
            if remove is not None:
                config = [add if d == remove else d for d in config]
                by_t[add.table_key] = [add if d == remove else d for d in by_t[add.table_key]]
                in_config.discard(remove)
                history.append(f"extend {remove.label()} → {add.label()}")
            else:
                config.append(add)
                by_t.setdefault(add.table_key, []).append(add)
                history.append(f"add {add.label()}")
            in_config.add(add)
            used_bytes += dsize
            steps += 1
            requeue: set[tuple[IndexDef, IndexDef | None]] = set()
            for k, c in costs.items():
                read_total += self.by_key[k].weight * (c - cur[k])
                cur[k] = c
                changed[k] = steps
                requeue.update(m for m in touching.get(k, ()) if m in dropped)
            changed_tables[add.table_key] = steps
            # benefits mostly shrink as the configuration grows (the lazy queue relies on it), but a move
            # that was worth nothing may be worth something next to the new index (both sides of a
            # join): the dropped moves on the statements that changed are costed again
            self.moves["requeued"] += len(requeue)
            for a, r in requeue:
                dropped.discard((a, r))
                if a not in in_config and (r is None or r in in_config):
                    push(a, r, ceiling=True)
            for e in self.extensions(add, attributes):
                if e not in in_config:
                    push(e, add)
        config, read_total, write_total, pruned = self.prune(config, cur, min_improvement / 2)
        res = _Result(
            config, read_total + write_total, read_total, write_total, steps, stopped, history, pruned, values
        )
        res.history.insert(0, f"{label}: baseline {base_total:.1f}")
        res.seconds = time.monotonic() - t_start
        return res

    def extensions(self, d: IndexDef, attributes: dict[str, set[str]]) -> list[IndexDef]:
        """Extend's move: `d` with one more key column (an attribute of its table)."""
        key = (d, id(attributes))
        hit = self._ext_cache.get(key)
        if hit is not None:
            return hit
        out: list[IndexDef] = []
        if d.method == "btree" and d.width < self.max_width:
            have = {c for k in d.keys for c in k.base_columns}
            for a in sorted(attributes.get(d.table_key, ())):
                if a in have:
                    continue
                ext = d.extended(KeyPart(column=a, expr_columns=(a,)))
                if served_by(ext, self.view.indexes.get(ext.table_key, [])) is None and ext not in self.copies:
                    out.append(ext)
        self._ext_cache[key] = out
        return out

    def improve(
        self,
        res: _Result,
        pool: list[IndexDef],
        attributes: dict[str, set[str]],
        solo: dict[IndexDef, float],
        rounds: int = 2,
        tries: int = 6,
        width: int = 25,
    ) -> _Result:
        """Local search on a budget- or cap-bound result: drop one of the `tries` largest chosen indexes,
        let the greedy refill from the `width` candidates with the most benefit alone; keep the change
        when the cost falls."""
        best = res
        for _ in range(rounds):
            improved = False
            chosen = set(best.config)
            top = sorted((c for c in pool if c not in chosen), key=lambda c: -solo.get(c, 0.0))[:width]
            for d in sorted(best.config, key=lambda x: (-(self.size(x) or 0), x.label()))[:tries]:
                if self.deadline and time.monotonic() > self.deadline:
                    self.limit_hit.append("swap")
                    return best
                start = [x for x in best.config if x != d]
                trial = self.search(
                    [c for c in top if c != d] + start, attributes, "swap", self.min_improvement, start=start
                )
                if trial.objective < best.objective * (1 - 1e-6):
                    trial.history = best.history + [f"swap out {d.label()}"] + trial.history[1:]
                    best, improved = trial, True
                    break
            if not improved:
                break
        return best

    def prune(
        self,
        config: list[IndexDef],
        cur: dict[str, float],
        threshold: float = 0.0,
    ) -> tuple[list[IndexDef], float, float, dict[IndexDef, list[IndexDef]]]:
        """Remove, least useful first, every index whose removal raises the cost (reads + writes) by no
        more than `threshold` × the workload's cost: one the others made (nearly) useless.

        `cur` is brought up to date first: the search takes an extended index's cost for the statements
        that do not read the new column as unchanged, and a stale, too low cost there would keep an
        index (a BRIN next to the extended B-tree) that no plan gains from any more."""
        pruned: dict[IndexDef, list[IndexDef]] = {}
        config = list(config)
        cur.update(self.costs_under(config, self.stmts))
        losses: dict[IndexDef, tuple[float, list[_Stmt], dict[str, float]]] = {}
        labels = {d: d.label() for d in config}
        while config:
            grouped = self.by_table_of(config)
            for d in config:
                if d in losses:
                    continue
                rest = [x for x in grouped[d.table_key] if x != d]
                # a statement whose plan does not use d keeps its plan without it
                affected = [q for q in self.relevant(d) if d in self.plan(q, grouped).used]
                costs = self.costs_under(self.without(grouped, d), affected)
                read_loss = sum(q.weight * (costs[q.key] - cur[q.key]) for q in affected)
                write_saved = self.writes.cost(d.table_key, rest + [d]) - self.writes.cost(d.table_key, rest)
                losses[d] = (read_loss - write_saved, affected, costs)
            d = min(config, key=lambda x: (losses[x][0], labels[x]))
            loss, affected, costs = losses[d]
            total = sum(q.weight * cur[q.key] for q in self.stmts)
            if loss > max(threshold * total, 1e-9 * max(1.0, total)):
                break
            config = [x for x in config if x != d]
            cur.update(costs)
            grouped = self.without(grouped, d)
            used = {x for q in affected for x in self.plan(q, grouped).used}
            pruned[d] = [x for x in config if x in used]
            # the losses of indexes on the tables those statements read may have changed
            tables = {d.table_key} | {t for q in affected for t in q.wis.tables}
            alive = set(config)
            losses = {x: v for x, v in losses.items() if x in alive and x.table_key not in tables}
        read_total = sum(q.weight * cur[q.key] for q in self.stmts)
        return config, read_total, self.write_cost(config), pruned

    def consolidate(self, best: _Result, tolerance: float = 0.05) -> _Result:
        """Drop a chosen index that another chosen one covers (it starts with the same keys, has the same
        predicate, and the other holds its INCLUDE columns) when the statements it serves cost at most
        `tolerance` more without it: `(a)` next to `(a) INCLUDE (b)` is one index too many for a DBA."""
        config = list(best.config)
        cur = self.costs_under(config, self.stmts)
        dropped, pruned = [], dict(best.pruned)
        for a in sorted(best.config, key=lambda d: (-d.width, d.label())):
            cover = next((b for b in config if b != a and _covers(b, a)), None)
            if cover is None:
                continue
            rest = [d for d in config if d != a]
            affected = self.relevant(a)
            costs = self.costs_under(rest, affected)
            loss = sum(q.weight * (costs[q.key] - cur[q.key]) for q in affected)
            loss -= self.write_cost(config, [a.table_key]) - self.write_cost(rest, [a.table_key])
            if loss <= tolerance * sum(q.weight * cur[q.key] for q in affected):
                config = rest
                cur.update(costs)
                pruned[a] = [cover]
                dropped.append(f"consolidate: drop {a.label()} (covered by {cover.label()})")
        if not dropped:
            return best
        read, write = sum(q.weight * cur[q.key] for q in self.stmts), self.write_cost(config)
        return _Result(config, read + write, read, write, best.steps, best.stopped, best.history + dropped,
                       pruned, best.values)

    # -- the run ----------------------------------------------------------------------------------------
    def run(self, statements: list[StatementStats]) -> tuple[list[Recommendation], list[Rejected], dict]:
        phases: dict[str, float] = {}
        mark = [time.monotonic()]

        phase_calls: dict[str, int] = {}
        calls_mark = [0]

        def lap(name: str) -> None:
            now = time.monotonic()
            phases[name] = round(phases.get(name, 0.0) + now - mark[0], 3)
            mark[0] = now
            calls = self.whatif_calls()
            phase_calls[name] = phase_calls.get(name, 0) + calls - calls_mark[0]
            calls_mark[0] = calls

        parse_report = self.prepare(statements)
        lap("prepare")
        stats: dict[str, Any] = {"parse": parse_report}
        with WhatIf(
            self.conn,
            schema=self.view.schema,
            max_hypothetical=self.max_hypothetical,
            create_extension=self.create_extension,
            heuristic=self.heuristic,
            guard=self.guard,
        ) as engine:
            self.engine = engine
            self.baseline()
            lap("baseline")
            gen = CandidateGenerator(
                self.view, max_width=self.max_width, hypopg_brin=engine.mode == "hypopg"
            )
            cands, pre_rejected = gen.generate([(q.key, q.ps) for q in self.stmts])
            for r in pre_rejected:
                self.rejected[r.id] = r
            whatif = [c for c in cands if c.verify == "whatif"]
            rules = [c for c in cands if c.verify == "rule"]
            lap("candidates")
            self.start_clock()
            pool = self.screen(whatif)
            lap("screening")
            singles = self.extend_singles(gen.indexable)
            indexes = [c.index for c in pool]
            results: dict[str, _Result] = {}
            bound = self.budget is not None or self.cap is not None
            jobs: dict[str, Callable[[], _Result]] = {}
            # one after another, each run gets a share of the time left under a time limit, so that every
            # run gets some; in parallel (under a budget, with a session each) each may use all of it
            apart = bound and self.connect is not None
            if self.algorithm in ("auto", "greedy"):
                share = 1.0 if apart else 0.35 if bound else 0.9 if self.algorithm == "auto" else 1.0
                jobs["greedy"] = lambda: self.search(
                    indexes, gen.attributes, "greedy", self.min_improvement, share=share)
                if bound:
                    # benefit per byte is myopic under a budget (a tiny index first can crowd out the best one)
                    jobs["greedy-gain"] = lambda: self.search(
                        indexes, gen.attributes, "greedy-gain", self.min_improvement, by="gain",
                        share=1.0 if apart else 0.5)
            if self.algorithm in ("auto", "extend"):
                jobs["extend"] = lambda: self.search(singles, gen.attributes, "extend", 0.003)
            results.update(self._parallel(jobs) if apart else {n: job() for n, job in jobs.items()})
            winner = min(results, key=lambda k: (results[k].objective, k))
            best = results[winner]
            if self.algorithm != "extend" and bound:
                improved = self.improve(
                    best, indexes + [d for d in best.config if d not in indexes], gen.attributes, self.solo
                )
                if improved is not best:
                    winner, best = f"{winner}+swap", improved
                    results[winner] = best
            best = results[winner] = self.consolidate(best)
            lap("search")
            self.progress("recommendations", 0, len(best.config))
            recs = self.recommendations(best.config, {c.index: c for c in cands})
            recs += self.rule_recommendations(rules, best.config)
            self.progress("rejections", 0, len(pool))
            self.reject_rest(pool, best)
            lap("report")
            base_total = sum(q.weight * q.base for q in self.stmts)
            stats.update(
                {
                    "mode": engine.mode,
                    "mode_reason": engine.reason,
                    "whatif_calls": self.whatif_calls(),
                    "cache_hits": engine.cache_hits + sum(h.cache_hits for h in self.helpers),
                    "parallel_sessions": 1 + len(self.helpers),
                    "selectivity_samples": engine.samples_taken,
                    "hypothetical_created": engine.created,
                    "hypopg_resets": engine.resets,
                    "candidates": {
                        "generated": len(cands) + len(pre_rejected),
                        "whatif": len(whatif),
                        "rule": len(rules),
                        "screened_in": len(pool),
                        "not_screened": self.not_screened,
                        "served_by_existing": sum("existing index" in r.reason for r in pre_rejected),
                    },
                    "selection": {
                        "algorithm": winner,
                        "baseline_cost": round(base_total, 2),
                        "final_read_cost": round(best.read_cost, 2),
                        "write_cost": round(best.write_cost, 2),
                        "relative_cost": round(best.read_cost / base_total, 4) if base_total else 1.0,
                        "size_bytes": sum(self.size(d) or 0 for d in best.config),
                        "steps": best.steps,
                        "stopped": best.stopped,
                        "max_slowdown_pct": self.max_slowdown,
                        # the writing statements the chosen indexes slow down, by estimate
                        "slowed_statements": self.slowed(best.config),
                        "time_limit_s": self.time_limit,
                        # where the time limit cut the run short (screening, a search run, the swap pass)
                        "time_limit_hit": sorted(set(self.limit_hit)),
                        "history": best.history,
                        "runs": {
                            k: {
                                "objective": round(v.objective, 2),
                                "steps": v.steps,
                                "stopped": v.stopped,
                                "seconds": round(v.seconds, 2),
                                "read_cost": round(v.read_cost, 2),
                                "indexes": [d.label() for d in v.config],
                            }
                            for k, v in results.items()
                        },
                    },
                }
            )
        stats["seconds"] = round(time.monotonic() - self.t0, 3)
        stats["phases"] = phases
        stats["phase_whatif_calls"] = phase_calls
        stats["search_moves"] = dict(self.moves)
        reasons = Counter(
            s["reason"].split(":")[0] if s["reason"].startswith(("unparseable", "EXPLAIN")) else s["reason"]
            for s in self.skipped
        )
        stats["statements"] = {
            "total": len(statements),
            "considered": len(self.stmts),
            "skipped": len(self.skipped),
            "skip_reasons": dict(reasons),
            "skipped_detail": self.skipped[:500],
        }
        rejected = sorted(self.rejected.values(), key=lambda r: (r.target, r.id))
        return rank(recs), rejected, stats

    def slowed(self, config: list[IndexDef], before: list[IndexDef] | None = None) -> list[dict[str, Any]]:
        """The writing statements `config` slows down (estimated % per call), slowest first; with `before`
        (a part of `config`), also how much of it is the rest of `config`'s doing (`this_index_pct`)."""
        out = []
        for table_key, new in self.by_table_of(config).items():
            prior = self.writes.slowdowns(table_key, before) if before is not None else {}
            for key, (pct, why) in self.writes.slowdowns(table_key, new).items():
                item = {**_statement_evidence(self.by_key[key], None, cost=False), "slowdown_pct": round(pct, 1)}
                if before is not None:
                    item["this_index_pct"] = round(pct - prior.get(key, (0.0, ""))[0], 1)
                out.append({**item, "why": why})
        return sorted(out, key=lambda x: -x["slowdown_pct"])

    def start_clock(self) -> None:
        """The deadlines of screening and of the searches, from the run's time limit and the time left."""
        if self.time_limit:
            now = time.monotonic()
            self.deadline = max(self.t0 + self.time_limit, now + 2 * MIN_SHARE * self.time_limit)
            self.screen_deadline = now + SCREEN_SHARE * (self.deadline - now)

    def screen(self, cands: list[Candidate]) -> list[Candidate]:
        """Keep candidates some plan uses when each is alone; reject the rest with the reason.

        Two passes, most promising candidates first (the weighted cost of the statements each was made
        for): each candidate on its own statements, then the ones useless to those on the table's other
        statements. Under a time limit, breadth first: the second pass is what the limit cuts first.
        A large pool is split between two sessions when another one can be opened (`connect`)."""
        keep: list[Candidate] = []
        potential = {c.id: sum(self.by_key[k].weight * self.by_key[k].base for k in c.statements if k in self.by_key)
                     for c in cands}
        position = {c.id: i for i, c in enumerate(cands)}
        cands = sorted(cands, key=lambda c: (-potential[c.id], c.id))
        rank_of = {c.id: i for i, c in enumerate(cands)}
        n = 2 if self.connect is not None and len(cands) >= PARALLEL_SCREEN_MIN else 1
        useless = [
            c for part in self._parallel(
                {f"screen {i}": lambda part=cands[i::n]: self._screen_own(part, keep) for i in range(n)}
            ).values() for c in part
        ]
        useless.sort(key=lambda c: rank_of[c.id])
        self._parallel({f"screen others {i}": lambda part=useless[i::n]: self._screen_others(part, keep)
                        for i in range(n)})
        return sorted(keep, key=lambda c: position[c.id])  # the generator's order: the search's tie-break

    def _screen_own(self, cands: list[Candidate], keep: list[Candidate]) -> list[Candidate]:
        """Screening's first pass: returns the candidates useless to their own statements."""
        useless = []
        for i, c in enumerate(cands):
            self.progress("screening", i, len(cands))
            if i % 64 == 0 and not self._screen_late():  # sizes by batches: two round trips for 64 candidates
                self.engine.prefetch_sizes([x.index for x in cands[i:i + 64]])
            if self._screen_late():
                self._not_screened(c, "time limit reached before it was costed")
                continue
            slow = self.slows(c.index, ())
            if slow is not None:
                self.rejected[c.id] = Rejected(c.id, c.index.table_key, slow)
                continue
            if self.size(c.index) is None:
                err = self.engine.invalid.get(c.index, "no size estimate")
                self.rejected[c.id] = Rejected(c.id, c.index.table_key, f"PostgreSQL cannot build it: {err}")
                continue
            own = [self.by_key[k] for k in sorted(c.statements) if k in self.by_key]
            solo = self._gains(c.index, own)
            if solo > 0:
                self._keep(c, solo, own, keep)
            else:
                useless.append(c)
        return useless

    def _screen_others(self, cands: list[Candidate], keep: list[Candidate]) -> None:
        """Screening's second pass: candidates useless to their own statements, on the table's others."""
        for i, c in enumerate(cands):
            self.progress("screening other statements", i, len(cands))
            if self._screen_late():
                self._not_screened(c, "no plan of its own statements gains from it; the time limit came before "
                                      "it was tried on the table's other statements")
                continue
            # the others that can search or sort by its leading column (the search's `users` rule): on a fact
            # table read by 40 statements, trying every one of them doubled the screening's what-ifs
            lead = set(c.index.leading_columns)
            others = [
                q for q in self.relevant(c.index)
                if q.key not in c.statements and lead & q.sargable.get(c.index.table_key, set())
            ]
            solo = self._gains(c.index, others)
            if solo > 0:
                self._keep(c, solo, others, keep)
            else:
                self.rejected[c.id] = Rejected(
                    c.id, c.index.table_key, "no plan gains from it", {"statements": sorted(c.statements)[:20]}
                )

    def _screen_late(self) -> bool:
        return (self.screen_deadline is not None and time.monotonic() > self.screen_deadline) or self._cancel.is_set()

    def _not_screened(self, c: Candidate, reason: str) -> None:
        with self._lock:
            if not self.not_screened:
                self.limit_hit.append("screening")
            self.not_screened += 1
        self.rejected[c.id] = Rejected(c.id, c.index.table_key, reason)

    def _gains(self, d: IndexDef, stmts: list[_Stmt]) -> float:
        """The weighted cost `d` alone saves these statements."""
        return sum(q.weight * (q.base - self.eff(q, self.engine.cost(q.wis, [d]))) for q in stmts)

    def _keep(self, c: Candidate, solo: float, stmts: list[_Stmt], keep: list[Candidate]) -> None:
        """Keep a candidate that saves `solo` on `stmts`, unless it nearly copies an existing index (or is a
        key prefix of one) and does not save enough of those statements' cost to be worth a second index."""
        existing = self.view.indexes.get(c.index.table_key, [])
        twin = copy_of(c.index, existing)
        wider = prefix_of(c.index, existing) if twin is None else None
        floor = COPY_MIN_GAIN if twin is not None else 0.0 if self.narrower else PREFIX_MIN_GAIN
        if twin is not None or (wider is not None and floor > 0):
            served = [q for q in stmts if self.engine.cost(q.wis, [c.index]).used]
            share = solo / max(1e-9, sum(q.weight * q.base for q in served))
            if share < floor:
                self.copies.add(c.index)
                what = (f"nearly a copy of {twin.qualified_name} ({twin.definition}); a second index on the "
                        "same keys" if twin is not None else
                        f"a key prefix of {wider.qualified_name} ({wider.definition}), which serves the same "
                        "searches; a narrower index")
                why = f"{what} must cut its statements' cost by {floor:.0%}, this one by {share:.1%}"
                self.rejected[c.id] = Rejected(c.id, c.index.table_key, why)
                return
        keep.append(c)
        self.solo[c.index] = solo

    def extend_singles(self, attributes: dict[str, set[str]]) -> list[IndexDef]:
        """Extend's candidate set: a single-column index on every indexable attribute."""
        out = []
        for table_key, cols in sorted(attributes.items()):
            schema, _, table = table_key.partition(".")
            for c in sorted(cols):
                d = IndexDef(schema, table, (KeyPart(column=c, expr_columns=(c,)),))
                if served_by(d, self.view.indexes.get(table_key, [])) is None and d not in self.copies:
                    out.append(d)
        return out

    # -- 5. output ------------------------------------------------------------------------------------
    def recommendations(self, config: list[IndexDef], cands: dict[IndexDef, Candidate]) -> list[Recommendation]:
        recs = []
        taken = set(self.view.index_names)
        verified = "hypopg" if self.engine.mode == "hypopg" else "heuristic"
        grouped = self.by_table_of(config)
        for d in sorted(config, key=lambda x: x.label()):
            affected = self.relevant(d)
            with_all = {q.key: self.plan(q, grouped) for q in affected}
            rest = [x for x in grouped[d.table_key] if x != d]  # (only d's table matters to its write overhead)
            without = self.costs_under(self.without(grouped, d), affected)
            served = [
                q for q in affected if d in with_all[q.key].used and self.eff(q, with_all[q.key]) < without[q.key]
            ]
            w_before = sum(q.weight * without[q.key] for q in served)
            w_after = sum(q.weight * (self.eff(q, with_all[q.key])) for q in served)
            calls = sum(q.weight for q in served) or 1.0
            ms_per_day = 0.0
            for q in served:
                before = without[q.key]
                after = self.eff(q, with_all[q.key])
                if before > 0:
                    ms_per_day += q.stats.mean_exec_ms * q.stats.calls / self.window_days * max(0.0, 1 - after / before)
            reduction = 100.0 * (1 - w_after / w_before) if w_before > 0 else 0.0
            name = index_name(d, taken)
            taken.add((d.schema, name))
            size = self.size(d) or 0
            wpct = self.writes.pct(d.table_key, d, rest)
            slows = self.slowed([*rest, d], before=rest)
            cand = cands.get(d)
            kind = cand.kind if cand else ("single" if d.width == 1 else "multi")
            param = any(q.parameterized for q in served)
            confidence = (0.8 if param else 0.9) if verified == "hypopg" else 0.4
            why = (
                f"{kind} index; the planner uses it for {len(served)} statement(s) and their estimated cost "
                "falls by "
                f"{reduction:.1f}% ({w_before:.0f} → {w_after:.0f} cost units × calls)"
            )
            if wpct:
                why += f"; write overhead on {d.table}: +{wpct:.1f}%"
            if slows:
                top = slows[0]
                why += (f"; slows {_n(len(slows), 'writing statement')}, the most `{top['query'][:60]}` by about "
                        f"{top['slowdown_pct']:.0f}% per call with the table's new indexes ({top['why']})")
            if param:
                why += "; costs are from generic plans of parameterized statements"
            wider = prefix_of(d, self.view.indexes.get(d.table_key, []))
            if wider is not None:
                why += f"; a narrower version of {wider.qualified_name}, which the planner costs lower"
            if verified == "heuristic":
                why += f"; estimated from statistics without hypopg ({self.engine.reason})"
            recs.append(
                Recommendation(
                    id=candidate_id(d),
                    rule="create-index",
                    severity=_severity(ms_per_day, reduction),
                    title=f"Index {d.label(qualify=False)} for {_n(len(served), 'statement')}",
                    target=d.table_key,
                    sql=create_sql(d, name),
                    rollback_sql=drop_sql(d, name),
                    benefit={
                        "ms_per_day": round(ms_per_day, 1),
                        "cost_before": round(w_before / calls, 2),
                        "cost_after": round(w_after / calls, 2),
                        "reduction_pct": round(reduction, 1),
                        "cost_saved": round(w_before - w_after, 2),
                    },
                    cost={"size_bytes": int(size), "write_overhead_pct": round(wpct, 2)},
                    confidence=confidence,
                    verified=verified,
                    evidence={
                        "statements": [
                            _statement_evidence(q, self.eff(q, with_all[q.key]))
                            for q in sorted(served, key=lambda q: -q.weight * q.base)
                        ],
                        "slows": slows,
                        "why": why,
                        "kind": kind,
                        "index": {"schema": d.schema, "table": d.table, "name": name, "method": d.method},
                    },
                )
            )
        return recs

    def rule_recommendations(self, rules: list[Candidate], config: list[IndexDef]) -> list[Recommendation]:
        recs = []
        taken = set(self.view.index_names)
        used_bytes = sum(self.size(d) or 0 for d in config)
        count = len(config)
        by_key = {q.key: q for q in self.stmts}
        for c in sorted(rules, key=lambda c: c.id):
            d = c.index
            size = self.engine.estimate_size(d)
            if self.cap is not None and count >= self.cap:
                self.rejected[c.id] = Rejected(c.id, d.table_key, f"max-indexes cap ({self.cap}) reached")
                continue
            if self.budget is not None and used_bytes + size > self.budget:
                self.rejected[c.id] = Rejected(
                    c.id, d.table_key, "over budget", {"size_bytes": size, "left_bytes": self.budget - used_bytes}
                )
                continue
            count += 1
            used_bytes += size
            served = [by_key[k] for k in sorted(c.statements) if k in by_key]
            name = index_name(d, taken)
            taken.add((d.schema, name))
            before = sum(q.weight * q.base for q in served)
            why = (
                c.why
                + ("; " + f"requires {c.requires}" if c.requires else "")
                + "; proposed by rule: hypopg cannot simulate this index type, so the benefit is not measured"
            )
            recs.append(
                Recommendation(
                    id=c.id,
                    rule="create-index",
                    severity="low" if before < 1e5 else "medium",
                    title=f"{d.method.upper()} index {d.label(qualify=False)} for {len(served)} statement"
                    f"{'s' if len(served) != 1 else ''} (rule)",
                    target=d.table_key,
                    sql=create_sql(d, name),
                    rollback_sql=drop_sql(d, name),
                    benefit={
                        "ms_per_day": None,
                        "cost_before": round(before / max(1.0, sum(q.weight for q in served)), 2),
                        "cost_after": None,
                        "reduction_pct": None,
                        "cost_saved": None,
                    },
                    cost={
                        "size_bytes": int(size),
                        "write_overhead_pct": round(self.writes.pct(d.table_key, d, config), 2),
                    },
                    confidence=0.3,
                    verified="rule",
                    evidence={
                        "statements": [_statement_evidence(q, None) for q in served],
                        "why": why,
                        "kind": c.kind,
                        "requires": c.requires,
                        "index": {"schema": d.schema, "table": d.table, "name": name, "method": d.method},
                    },
                )
            )
        return recs

    def reject_rest(self, pool: list[Candidate], best: _Result) -> None:
        """The reason each screened-in candidate is not in the result (from the search's last evaluation)."""
        chosen = set(best.config)
        used_bytes = sum(self.size(d) or 0 for d in best.config)
        scale = max(1.0, best.read_cost)
        grouped = self.by_table_of(best.config)
        for c in pool:
            d = c.index
            if d in chosen or c.id in self.rejected:
                continue
            size = self.size(d) or 0
            if d in best.pruned:
                by = ", ".join(x.label() for x in best.pruned[d]) or "the other chosen indexes"
                self.rejected[c.id] = Rejected(c.id, d.table_key, f"made redundant by {by}")
                continue
            wider = [
                x
                for x in grouped.get(d.table_key, ())
                if x.table_key == d.table_key
                and len(x.keys) > len(d.keys)
                and x.keys[: len(d.keys)] == d.keys
                and x.predicate == d.predicate
            ]
            read_gain, write_delta = best.values.get(d, (self.solo.get(d, 0.0), 0.0))
            detail = {"size_bytes": size, "read_benefit": round(read_gain, 2), "write_cost": round(write_delta, 2)}
            slow = self.slows(d, grouped.get(d.table_key, ()))
            if wider:
                reason = f"made redundant by {wider[0].label()} (its keys start with these)"
            elif slow is not None:
                reason = slow
            elif read_gain <= 1e-9 * scale:
                users = {x for q in self.relevant(d) for x in self.plan(q, grouped).used}
                by = sorted(users, key=lambda x: x.label())
                reason = f"made redundant by {', '.join(x.label() for x in by)}" if by else "no plan gains from it"
            elif read_gain - write_delta <= 0:
                reason = "write overhead outweighs its read benefit"
            elif self.cap is not None and len(best.config) >= self.cap:
                reason = f"max-indexes cap ({self.cap}) reached"
            elif self.budget is not None and used_bytes + size > self.budget:
                reason = "over budget"
                detail["left_bytes"] = self.budget - used_bytes
            else:
                reason = "benefit below the minimum improvement, or less benefit per byte than the chosen indexes"
            self.rejected[c.id] = Rejected(c.id, d.table_key, reason, detail)


# a candidate that nearly copies an existing index (same keys, other INCLUDE columns) is a second index
# to maintain for an index-only scan: worth it only for a large gain
COPY_MIN_GAIN = 0.2
# a strict key prefix of an existing index does the same searches on fewer, smaller pages (B-tree
# deduplication makes `lineitem(l_orderkey)` 2.4x smaller than the primary key it prefixes): a lower bar
PREFIX_MIN_GAIN = 0.1


def _covers(b: IndexDef, a: IndexDef) -> bool:
    """Whether B-tree `b` serves what `a` does: a's keys lead b's, same predicate, a's INCLUDE within b."""
    return (
        a.method == b.method == "btree"
        and a.predicate == b.predicate
        and b.keys[: len(a.keys)] == a.keys
        and set(a.include) <= {k.column for k in b.keys if k.column} | set(b.include)
    )


def _statement_evidence(q: _Stmt, cost_after: float | None, cost: bool = True) -> dict[str, Any]:
    """One served statement in a recommendation's evidence (cost_after None: not verified)."""
    out = {"queryid": q.stats.queryid, "calls": q.stats.calls, "mean_ms": round(q.stats.mean_exec_ms, 3)}
    if cost:
        out.update(cost_before=round(q.base, 2), cost_after=None if cost_after is None else round(cost_after, 2))
    out["query"] = " ".join(q.ps.text.split())[:300]
    return out


def _entries(n: int) -> str:
    return f"{n} more index entr{'y' if n == 1 else 'ies'}"


def _n(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _severity(ms_per_day: float, reduction_pct: float) -> str:
    if ms_per_day >= 600_000 or (ms_per_day >= 60_000 and reduction_pct >= 90):
        return "high"
    if ms_per_day >= 60_000:
        return "medium"
    if ms_per_day > 0:
        return "low"
    # no timings (statements given by hand): by the estimated reduction
    return "high" if reduction_pct >= 90 else "medium" if reduction_pct >= 50 else "low"


# ---------------------------------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------------------------------


def recommend_indexes(
    conn: psycopg.Connection,
    statements: list[StatementStats],
    *,
    budget_bytes: int | None = None,
    max_indexes: int | None = None,
    max_width: int = 3,
    schema: dict | None = None,
    progress: Progress | None = None,
    window_days: float = 1.0,
    write_aware: bool = True,
    algorithm: str = "auto",
    min_improvement: float = 0.0005,
    create_extension: bool = False,
    heuristic: bool = False,
    max_hypothetical: int = 256,
    table_writes: dict[str, dict] | None = None,
    time_limit_s: float | None = None,
    narrower_than_existing: bool = False,
    max_slowdown_pct: float | None = None,
    connect: Callable[[], AbstractContextManager[psycopg.Connection]] | None = None,
    trusted_roles: tuple[str, ...] = (),
) -> tuple[list[Recommendation], list[Rejected], dict]:
    """New indexes for a workload: ranked recommendations, rejected candidates with reasons, and run stats.

    `statements` are the window's statements (calls are the weights); `window_days` converts the window's
    benefit into ms per day; `table_writes` optionally gives per-table write counters over the window
    ({"public.orders": {"n_tup_ins": …, "n_tup_upd": …, "n_tup_del": …, "n_tup_hot_upd": …}}).
    `algorithm`: "auto" (the best of the greedy runs and of Extend's moves), "greedy" or "extend".
    `min_improvement`: a move must save this share of the workload's estimated cost.
    `create_extension`: try `CREATE EXTENSION hypopg` when it is installed but not created (a write).
    `heuristic`: do not use hypopg even when it is there. `time_limit_s`: a deadline for the run, from
    its start: parsing and the baseline always run in full; screening stops at SCREEN_SHARE of the time
    left (the most promising candidates first; the rest are rejected as not costed), the searches at the
    deadline (screening and the search get at least MIN_SHARE of the limit each, even past it), then the
    best configuration found is recommended; stats["selection"]["time_limit_hit"] says what was cut.
    A strict key prefix of a wider existing index must cut its statements' cost by PREFIX_MIN_GAIN;
    `narrower_than_existing` lifts that floor (any gain will do, as for Extend).
    `max_slowdown_pct`: no writing statement may get slower than this by estimate (index entries per row,
    HOT updates lost); None: no limit, the slowdowns are reported in each recommendation's evidence.
    `connect`: opens another read-only session on the same database (a context manager); under a budget
    or cap the searches then run in parallel, one session each, instead of sharing the time limit.
    `trusted_roles`: roles whose functions may be planned besides the superusers' (pg/guard.py); a
    statement that reaches code of any other role is skipped with the reason.
    The connection may be read-only; hypothetical indexes are reset before returning.
    """
    advisor = IndexAdvisor(
        conn,
        schema=schema,
        budget_bytes=budget_bytes,
        max_indexes=max_indexes,
        max_width=max_width,
        window_days=window_days,
        write_aware=write_aware,
        algorithm=algorithm,
        min_improvement=min_improvement,
        create_extension=create_extension,
        heuristic=heuristic,
        max_hypothetical=max_hypothetical,
        table_writes=table_writes,
        time_limit_s=time_limit_s,
        progress=progress,
        narrower=narrower_than_existing,
        max_slowdown_pct=max_slowdown_pct,
        connect=connect,
        trusted_roles=trusted_roles,
    )
    return advisor.run(statements)


def whatif_single(
    conn: psycopg.Connection,
    texts: list[str],
    **kwargs: Any,
) -> tuple[list[Recommendation], list[Rejected], dict]:
    """Indexes for statements given by hand (`recommend "SELECT …"`): one call each, no timings."""
    stmts = [
        StatementStats(
            queryid=f"text-{text_digest(t)}",
            query=t,
            userid=0,
            dbid=0,
            toplevel=True,
            calls=1,
            total_exec_ms=0.0,
            rows=0,
        )
        for t in texts
        if t and t.strip()
    ]
    return recommend_indexes(conn, stmts, **kwargs)


def apply_indexes(
    dsn: str, recs: list[Recommendation], *, statement_timeout_ms: int = 3_600_000, lock_timeout_ms: int = 60_000
) -> list[dict[str, Any]]:
    """Create the recommended indexes for real (CONCURRENTLY, autocommit); per index: seconds and real size.

    Meant for a test database and only on an explicit `--apply`. An index that fails to build is
    dropped again (a failed CREATE INDEX CONCURRENTLY leaves an invalid index behind).
    """
    from pgadvisor.pg.connect import connect

    out = []
    with connect(
        dsn, read_only=False, statement_timeout_ms=statement_timeout_ms, lock_timeout_ms=lock_timeout_ms
    ) as conn:
        conn.autocommit = True
        for rec in recs:
            ix = (rec.evidence or {}).get("index") or {}
            if not rec.sql.upper().startswith("CREATE INDEX") or not ix.get("name"):
                continue
            name = qualified(ix["schema"], ix["name"])
            row: dict[str, Any] = {"id": rec.id, "index": name, "sql": rec.sql}
            exists = conn.execute(mark("SELECT to_regclass(%s) IS NOT NULL"), (name,)).fetchone()[0]
            if exists:
                row.update(ok=False, error="an index of that name already exists", seconds=0.0)
                out.append(row)
                continue
            t0 = time.monotonic()
            try:
                # extended protocol: the DDL carries expressions and predicates taken from statement texts,
                # and a second statement can never ride along
                conn.execute(mark(rec.sql), binary=True)
                row["ok"] = True
            except psycopg.Error as exc:
                row.update(ok=False, error=" ".join(str(exc).split()))
                try:
                    conn.execute(mark(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))
                except psycopg.Error:
                    pass
            row["seconds"] = round(time.monotonic() - t0, 3)
            if row["ok"]:
                row["size_bytes"] = conn.execute(
                    mark("SELECT pg_relation_size(to_regclass(%s))"), (name,)
                ).fetchone()[0]
                row["estimated_size_bytes"] = (rec.cost or {}).get("size_bytes")
            out.append(row)
    return out

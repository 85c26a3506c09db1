"""What-if engine: the planner's cost of a statement under a set of hypothetical indexes.

With hypopg the hypothetical indexes live in this backend's memory only; they are created in the
caller's (read-only) session, never as real objects (hypopg_create_index works in a read-only
transaction: hypopg 1.3 takes its oids outside the catalog), and `hypopg_reset()` runs when the engine
is closed, also after an error. hypopg indexes are not transactional, so a rolled back savepoint does
not remove them; the engine tracks what exists and keeps at most `max_hypothetical` at once.

Every statement is planned through pg/explain.py (the code guard, the extended protocol, a read-only
transaction rolled back, generic plans for `$n` texts). Answers are cached per statement and set of
relevant indexes, and so are index sizes; engines on parallel sessions of one database share them.

Without hypopg the engine falls back to a statistics-based estimate (`mode == "heuristic"`,
pg/heuristic.py): the real plan gives the cost without new indexes; a sequential scan of a table is
replaced by an index scan whose cost follows from pg_stats selectivities when that is cheaper.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from pgadvisor.errors import one_line
from pgadvisor.indexdef import IndexDef, quote_ident
from pgadvisor.marker import mark
from pgadvisor.pg import catalog
from pgadvisor.pg.explain import Refused, explain_casting
from pgadvisor.pg.guard import CodeGuard
from pgadvisor.pg.guard import load as load_guard
from pgadvisor.pg.heuristic import MIN_COST_SHARE, Heuristic

__all__ = ["Filter", "PlanResult", "Refused", "WhatIf", "WhatIfStatement"]

_HYPO_NAME = re.compile(r"<(\d+)>")
# pgadvisor's own bound, not measured: hypothetical indexes live in the backend's memory and the planner
# considers every one on a statement's tables at each EXPLAIN (advise/indexes/options.py passes its own,
# by default the same)
MAX_HYPOTHETICAL = 256
# hypothetical indexes created and measured per round trip by prefetch_sizes (pgadvisor's choice, not
# measured separately; at most half of max_hypothetical)
SIZE_BATCH = 64
_SIZED_BY_HYPOPG = ("btree", "brin", "hash")  # hypopg_relation_size knows these; GIN is estimated


@dataclass(frozen=True)
class Filter:
    """A statement's filter on one table's column or expression (used by the heuristic estimate)."""

    table_key: str
    column: str | None
    expression: str | None
    kind: str
    both_bounds: bool = False


@dataclass(frozen=True)
class WhatIfStatement:
    """What the engine needs of a statement: its text and which table columns it references."""

    key: str  # cache key (the statement's text digest)
    text: str
    tables: frozenset[str]  # "schema.table"
    columns: frozenset[tuple[str, str]] = frozenset()  # (table key, column) referenced anywhere
    filter_columns: frozenset[tuple[str, str]] = frozenset()  # (table key, column) filtered on
    filters: tuple[Filter, ...] = ()
    # literal texts with logged parameter values: costed as custom plans (their mean) instead of `text`
    examples: tuple[str, ...] = ()
    # (example number, table key, normalized expression, kind, predicate SQL) of the examples' filters
    # on expressions, whose selectivity is sampled: hypopg has no statistics for expression indexes
    expr_predicates: tuple[tuple[int, str, str, str, str], ...] = ()


@dataclass(frozen=True)
class PlanResult:
    """The planner's answer for a statement under a configuration."""

    cost: float | None  # total cost of the plan; None when EXPLAIN failed
    used: frozenset[IndexDef] = frozenset()  # hypothetical indexes the plan used
    error: str | None = None


def _walk(node: Any, key: str) -> Iterable[Any]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            else:
                yield from _walk(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v, key)


class WhatIf:
    """Plan costs under hypothetical index configurations, cached; use as a context manager.

    `calls` counts EXPLAINs actually run (what-if calls), `cache_hits` the answers from the cache.
    """

    def __init__(
        self,
        conn: psycopg.Connection,
        *,
        schema: dict | None = None,
        max_hypothetical: int = MAX_HYPOTHETICAL,
        create_extension: bool = False,
        heuristic: bool = False,
        shared: WhatIf | None = None,
        guard: CodeGuard | None = None,
    ):
        """`shared`: an engine on another session of the same database whose caches (plan costs, sizes,
        sampled selectivities) and code guard this one shares, for what-ifs run in parallel threads.
        `guard`: what may be planned (pg/guard.py); read from the server when not given (superusers'
        code trusted only)."""
        self.conn = conn
        self.schema = schema or {}
        self.max_hypothetical = max(1, max_hypothetical)
        self.calls = 0
        self.cache_hits = 0
        self.created = 0
        self.resets = 0
        self.mode = "heuristic"
        self.reason: str | None = None
        self.invalid: dict[IndexDef, str] = {}  # definitions hypopg refused, with the error
        self._cache: dict[tuple[str, frozenset[IndexDef]], PlanResult] = {}
        self._sizes: dict[IndexDef, int | None] = {}
        self._current: dict[IndexDef, int] = {}
        self._by_oid: dict[int, IndexDef] = {}
        self._hypopg: str | None = None  # schema of the hypopg functions
        self._typed: dict[str, str] = {}  # texts that needed casts on their parameters
        if shared is not None:
            self._cache, self._sizes = shared._cache, shared._sizes
            self._typed, self.invalid = shared._typed, shared.invalid
        self._closed = False
        self._saved_autocommit = conn.autocommit
        self._saved_prepare = conn.prepare_threshold
        conn.prepare_threshold = None  # our EXPLAIN texts are one-off: no server-side prepared statements
        if not conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
            # one short transaction per EXPLAIN: no snapshot held for the whole run
            conn.autocommit = True
        try:
            self.guard = shared.guard if shared is not None else guard or load_guard(conn)
            self._setup_hypopg(create_extension, heuristic)
            self.heuristic = Heuristic(conn, self.schema, self.guard, catalog.c_collation(conn),
                                       shared.heuristic if shared is not None else None)
        except BaseException:
            self.close()
            raise

    @property
    def samples_taken(self) -> int:
        """Expression filters sampled by this engine (pg/heuristic.py)."""
        return self.heuristic.samples_taken

    # -- plumbing -------------------------------------------------------------------------------------
    def _exec(self, query: str, params: Any = None) -> list[tuple]:
        if self.conn.autocommit:  # each statement is its own transaction already
            with self.conn.cursor() as cur:
                cur.execute(mark(query), params)
                return cur.fetchall() if cur.description else []
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(mark(query), params)
            return cur.fetchall() if cur.description else []

    def _scalar(self, query: str, params: Any = None) -> Any:
        rows = self._exec(query, params)
        return rows[0][0] if rows else None

    def _fn(self, name: str) -> str:
        return f"{quote_ident(self._hypopg)}.{name}" if self._hypopg else name

    def _setup_hypopg(self, create_extension: bool, heuristic: bool) -> None:
        if heuristic:
            self.reason = "heuristic mode requested"
            return
        state = catalog.hypopg_state(self.conn)
        schema, available = state["schema"], state["available"]
        if schema is None and available and create_extension:
            try:
                with self.conn.transaction():
                    # the one write pgadvisor may do, and only when asked to: the session is read-only otherwise
                    self.conn.execute(mark("SET TRANSACTION READ WRITE"))
                    self.conn.execute(mark("CREATE EXTENSION IF NOT EXISTS hypopg"))
                schema = catalog.hypopg_state(self.conn)["schema"]
            except psycopg.Error as exc:
                self.reason = f"cannot create extension hypopg: {one_line(exc)}"
                return
        if schema is None:
            self.reason = (
                "hypopg is installed on the server but not created in this database (CREATE EXTENSION hypopg)"
                if available
                else "hypopg is not installed on the server"
            )
            return
        self._hypopg = schema
        try:
            self._exec(f"SELECT {self._fn('hypopg_reset')}()")
        except psycopg.Error as exc:
            self._hypopg = None
            self.reason = f"cannot use hypopg: {one_line(exc)}"
            return
        self.mode = "hypopg"

    def close(self) -> None:
        """Remove every hypothetical index and restore the session; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        status = self.conn.info.transaction_status
        if not self.conn.closed and status != TransactionStatus.INERROR:
            if self._hypopg:
                try:
                    self._exec(f"SELECT {self._fn('hypopg_reset')}()")
                except psycopg.Error:
                    pass
            self._current.clear()
        if not self.conn.closed and self.conn.info.transaction_status == TransactionStatus.IDLE:
            self.conn.autocommit = self._saved_autocommit
        self.conn.prepare_threshold = self._saved_prepare

    def __enter__(self) -> WhatIf:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- hypothetical indexes -------------------------------------------------------------------------
    def reset(self) -> None:
        """Drop every hypothetical index of this session (hypopg_reset)."""
        if self._hypopg:
            self._exec(f"SELECT {self._fn('hypopg_reset')}()")
            self.resets += 1
        self._current.clear()

    def hypothetical(self) -> list[dict[str, Any]]:
        """hypopg's own list of this session's hypothetical indexes."""
        if not self._hypopg:
            return []
        rows = self._exec(f"SELECT indexrelid, indexname FROM {self._fn('hypopg')}()")
        return [{"indexrelid": r[0], "indexname": r[1]} for r in rows]

    def _create(self, d: IndexDef) -> int | None:
        if d in self._current:
            return self._current[d]
        if d in self.invalid:
            return None
        if len(self._current) >= self.max_hypothetical:
            self.reset()
        try:
            oid = self._scalar(f"SELECT indexrelid FROM {self._fn('hypopg_create_index')}(%s)", (d.create_sql(),))
        except psycopg.Error as exc:
            self.invalid[d] = one_line(exc)
            return None
        self.created += 1
        self._current[d] = int(oid)
        self._by_oid[int(oid)] = d
        return int(oid)

    def _create_many(self, defs: list[IndexDef]) -> None:
        defs = [d for d in defs if d not in self._current and d not in self.invalid]
        if len(defs) <= 1:
            for d in defs:
                self._create(d)
            return
        try:
            rows = self._exec(
                f"SELECT u.i, (h.c).indexrelid FROM unnest(%s::text[]) WITH ORDINALITY AS u(d, i), "
                f"LATERAL (SELECT {self._fn('hypopg_create_index')}(u.d) AS c) AS h ORDER BY u.i",
                ([d.create_sql() for d in defs],),
            )
        except psycopg.Error:
            # some of the batch may exist now without our knowing their oids: start clean, one at a time
            self.reset()
            for d in defs:
                self._create(d)
            return
        for i, oid in rows:
            d = defs[int(i) - 1]
            self._current[d] = int(oid)
            self._by_oid[int(oid)] = d
            self.created += 1

    def _materialize(self, wanted: frozenset[IndexDef], stmt: WhatIfStatement, strict: bool = False) -> None:
        """Make the hypothetical indexes that matter to `stmt` exactly `wanted`.

        Others may stay: an index on another table, or one not relevant to the statement, does not
        change its plan (`strict` drops every other index on the statement's tables, for when one did).
        """
        if len(wanted) > self.max_hypothetical:
            raise ValueError(f"{len(wanted)} hypothetical indexes at once exceed max_hypothetical")
        extra = [
            oid
            for d, oid in self._current.items()
            if d.table_key in stmt.tables and d not in wanted and (strict or self.relevant(d, stmt))
        ]
        missing = sorted(wanted - self._current.keys(), key=lambda x: x.label())
        if len(self._current) - len(extra) + len(missing) > self.max_hypothetical:
            self.reset()
            missing = sorted(wanted, key=lambda x: x.label())
        elif extra:
            self._exec(f"SELECT {self._fn('hypopg_drop_index')}(x) FROM unnest(%s::oid[]) AS x", (extra,))
            gone = set(extra)
            self._current = {d: o for d, o in self._current.items() if o not in gone}
        self._create_many(missing)

    def size(self, d: IndexDef) -> int | None:
        """Estimated size in bytes (hypopg_relation_size, or from statistics in heuristic mode)."""
        if d in self._sizes:
            return self._sizes[d]
        size: int | None = None
        if self._hypopg and d.method in _SIZED_BY_HYPOPG:
            oid = self._create(d)
            if oid is not None:
                size = int(self._scalar(f"SELECT {self._fn('hypopg_relation_size')}(%s)", (oid,)))
        if size is None and d not in self.invalid:
            size = self.estimate_size(d)
        self._sizes[d] = size
        return size

    def prefetch_sizes(self, defs: list[IndexDef], batch: int = SIZE_BATCH) -> None:
        """`size` of many indexes in few round trips: hypothetical indexes created and measured by batches
        (the index advisor's screening asks for thousands); any that fail are left to `size`."""
        if not self._hypopg:
            return
        todo = [d for d in dict.fromkeys(defs) if d not in self._sizes and d not in self.invalid
                and d.method in _SIZED_BY_HYPOPG]
        batch = max(1, min(batch, self.max_hypothetical // 2))
        for i in range(0, len(todo), batch):
            chunk = todo[i:i + batch]
            if len(self._current) + len(chunk) > self.max_hypothetical:
                self.reset()
            self._create_many(chunk)
            oids = {self._current[d]: d for d in chunk if d in self._current}
            if not oids:
                continue
            try:
                rows = self._exec(f"SELECT x, {self._fn('hypopg_relation_size')}(x) FROM unnest(%s::oid[]) AS x",
                                  (list(oids),))
            except psycopg.Error:
                continue
            for oid, size in rows:
                if size is not None:
                    self._sizes[oids[int(oid)]] = int(size)

    def estimate_size(self, d: IndexDef) -> int:
        """Size from table statistics only (no hypopg)."""
        return self.heuristic.index_size(d)

    # -- costs ----------------------------------------------------------------------------------------
    @staticmethod
    def relevant(d: IndexDef, stmt: WhatIfStatement) -> bool:
        """Whether the planner could use `d` for `stmt`: same table, leading key read, predicate implied."""
        if d.table_key not in stmt.tables:
            return False
        if not stmt.columns:
            return True
        if (
            d.predicate_columns
            and stmt.filter_columns
            and not all((d.table_key, c) in stmt.filter_columns for c in d.predicate_columns)
        ):
            return False
        return any((d.table_key, c) in stmt.columns for c in d.leading_columns) or not d.leading_columns

    def cost(self, stmt: WhatIfStatement, config: Iterable[IndexDef] = ()) -> PlanResult:
        """Plan cost of `stmt` with the hypothetical indexes of `config` (only the relevant ones matter)."""
        rel = frozenset(d for d in config if self.relevant(d, stmt) and d not in self.invalid)
        key = (stmt.key, rel)
        hit = self._cache.get(key)
        if hit is not None:
            self.cache_hits += 1
            return hit
        if self.mode == "hypopg":
            self._materialize(rel, stmt)
            valid = frozenset(d for d in rel if d in self._current)
            result = self._cache.get((stmt.key, valid)) or self._stmt_cost(stmt, keep_scans=not valid)
            if not result.used <= valid:  # the plan used an index we took for irrelevant: plan again without
                self._materialize(rel, stmt, strict=True)
                result = self._stmt_cost(stmt)
            self._cache[(stmt.key, valid)] = result
            if stmt.expr_predicates and result.cost is not None:
                alt = self._sampled_expression_cost(stmt, rel)
                if alt is not None and alt.cost is not None and alt.cost < result.cost:
                    result = alt
        elif rel:
            result = self._heuristic_cost(stmt, rel)
        else:
            result = self._stmt_cost(stmt, keep_scans=True)
        self._cache[key] = result
        return result

    def _sampled_expression_cost(self, stmt: WhatIfStatement, config: frozenset[IndexDef]) -> PlanResult | None:
        """The statement's cost with the expression indexes of `config`, their filters' selectivity
        sampled from the table: the planner takes 0.5% for a filter on an expression it has no
        statistics for, as for a hypothetical expression index, so a selective `lower(name) LIKE
        'abc%'` looks worse than it will be once the index is real (and analyzed)."""
        usable = self.heuristic.sampled_expression_indexes(stmt, config)
        if not usable or stmt.key not in self.heuristic.scans:  # the scans of its plan without hypothetical indexes
            return None
        return self._heuristic_cost(stmt, usable)

    def _heuristic_cost(self, stmt: WhatIfStatement, config: frozenset[IndexDef]) -> PlanResult:
        """The plan cost without new indexes less what `config`'s index scans save (pg/heuristic.py)."""
        base = self.cost(stmt, ())
        if base.cost is None:
            return base
        saved, used = self.heuristic.savings(stmt, config)
        return PlanResult(max(base.cost - saved, base.cost * MIN_COST_SHARE), used)

    def _stmt_cost(self, stmt: WhatIfStatement, keep_scans: bool = False) -> PlanResult:
        """The generic plan's cost, or the mean over the statement's examples (custom plans) when it
        has them and all of them can be planned."""
        if stmt.examples:
            results = [
                self._plan_cost(
                    t,
                    keep_scans=stmt.key if keep_scans and not i else None,
                    adjust=(lambda plan, i=i: self.heuristic.walk_correction(stmt, plan, i))
                    if stmt.expr_predicates else None,
                )
                for i, t in enumerate(stmt.examples)
            ]
            if all(r.cost is not None for r in results):
                return PlanResult(
                    sum(r.cost or 0.0 for r in results) / len(results), frozenset().union(*(r.used for r in results))
                )
        return self._plan_cost(stmt.text, keep_scans=stmt.key if keep_scans else None)

    def _result(self, plan: list[dict[str, Any]]) -> PlanResult:
        used = set()
        for name in _walk(plan, "Index Name"):
            m = _HYPO_NAME.search(str(name))
            if m and int(m.group(1)) in self._by_oid:
                used.add(self._by_oid[int(m.group(1))])
        return PlanResult(float(plan[0]["Plan"]["Total Cost"]), frozenset(used))

    def _plan_cost(
        self, text: str, keep_scans: str | None = None, adjust: Callable[[list], float] | None = None
    ) -> PlanResult:
        try:
            plan = self.explain(text)
        except (psycopg.Error, Refused) as exc:
            return PlanResult(None, error=one_line(exc))
        if keep_scans is not None:
            self.heuristic.remember_scans(keep_scans, plan)
        result = self._result(plan)
        if adjust is not None and result.cost is not None:
            result = PlanResult(max(result.cost + adjust(plan), 0.0), result.used)
        return result

    def explain(self, text: str) -> list[dict[str, Any]]:
        """`EXPLAIN (FORMAT JSON)` of a statement, a generic plan when it has `$n` parameters, its
        parameters cast where PostgreSQL cannot type them (pg/explain.py `explain_casting`). `Refused`
        when the code guard does not let it be planned: then nothing is sent."""
        if not self.guard.reason(text):  # a refused text is never sent: not a what-if call
            self.calls += 1
        return explain_casting(self.conn, text, self.guard, self._typed)

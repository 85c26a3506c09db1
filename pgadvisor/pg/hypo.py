"""What-if engine: the planner's cost of a statement under a set of hypothetical indexes.

With hypopg the hypothetical indexes live in this backend's memory only; they are created in the
caller's (read-only) session, never as real objects (hypopg_create_index works in a read-only
transaction: hypopg 1.3 takes its oids outside the catalog), and `hypopg_reset()` runs when the engine
is closed, also after an error. hypopg indexes are not transactional, so a rolled back savepoint does
not remove them; the engine tracks what exists and keeps at most `max_hypothetical` at once.

Parameterized texts from pg_stat_statements get a generic plan: a prepared statement under
`plan_cache_mode = force_generic_plan` explained with NULL arguments, on every version. Every text
passes the code guard first (pg/guard.py), and each EXPLAIN is sent with the extended protocol in
its own read-only transaction (or savepoint) that is rolled back (`_planned`), so one failure does
not abort the rest and nothing it could change outlives it.

Without hypopg the engine falls back to a statistics-based estimate (`mode == "heuristic"`): the real
plan gives the cost without new indexes; a sequential scan of a table is replaced by an index scan
whose cost follows from pg_stats selectivities when that is cheaper.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from pgadvisor import sizes
from pgadvisor.indexdef import EQ_KINDS, RANGE_KINDS, IndexDef, norm_expr, qualified, quote_ident
from pgadvisor.marker import mark
from pgadvisor.pg import catalog
from pgadvisor.pg.guard import CodeGuard, tokens
from pgadvisor.pg.guard import load as load_guard

_HYPO_NAME = re.compile(r"<(\d+)>")
_PREPARED = "pgadvisor_whatif"
DEFAULT_EXPR_SEL = 0.005  # the planner's selectivity for = or LIKE on an expression without statistics
_WORDS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUOTED = re.compile(r"'(?:[^']|'')*'")
SAMPLE_ROWS = 30_000  # rows sampled to measure the selectivity of a filter on an expression



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
    cost: float | None  # total cost of the plan; None when EXPLAIN failed
    used: frozenset[IndexDef] = frozenset()  # hypothetical indexes the plan used
    error: str | None = None


def _strip(text: str) -> str:
    return text.strip().rstrip(";").strip()


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
        max_hypothetical: int = 256,
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
        self._scans: dict[str, list[tuple[str, float, float]]] = {}  # heuristic: seq scans of base plans
        self._hypopg: str | None = None  # schema of the hypopg functions
        self._typed: dict[str, str] = {}  # texts that needed casts on their parameters
        self._samples: dict[tuple[str, str], float | None] = {}  # sampled selectivities of expression filters
        self.samples_taken = 0
        if shared is not None:
            self._cache, self._sizes, self._samples = shared._cache, shared._sizes, shared._samples
            self._typed, self.invalid, self._scans = shared._typed, shared.invalid, shared._scans
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
        except BaseException:
            self.close()
            raise
        self._rels = {f"{r['schema']}.{r['name']}": r for r in self.schema.get("relations", [])}
        self._c_collation = str(self._scalar(
            "SELECT datcollate FROM pg_database WHERE datname = current_database()")) in ("C", "POSIX")
        self._cols = {(f"{c['schema']}.{c['table']}", c["column"]): c for c in self.schema.get("columns", [])}

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
        row = self._exec("""SELECT (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                                     WHERE e.extname = 'hypopg'),
                                   (SELECT default_version FROM pg_available_extensions WHERE name = 'hypopg')""")[0]
        schema, available = row
        if schema is None and available and create_extension:
            try:
                with self.conn.transaction():
                    # the one write pgadvisor may do, and only when asked to: the session is read-only otherwise
                    self.conn.execute(mark("SET TRANSACTION READ WRITE"))
                    self.conn.execute(mark("CREATE EXTENSION IF NOT EXISTS hypopg"))
                schema = self._scalar("""SELECT n.nspname FROM pg_extension e
                                           JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'hypopg'""")
            except psycopg.Error as exc:
                self.reason = f"cannot create extension hypopg: {_one_line(exc)}"
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
            self.reason = f"cannot use hypopg: {_one_line(exc)}"
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
            self.invalid[d] = _one_line(exc)
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
        if self._hypopg and d.method in ("btree", "brin", "hash"):
            oid = self._create(d)
            if oid is not None:
                size = int(self._scalar(f"SELECT {self._fn('hypopg_relation_size')}(%s)", (oid,)))
        if size is None and d not in self.invalid:
            size = self.estimate_size(d)
        self._sizes[d] = size
        return size

    def prefetch_sizes(self, defs: list[IndexDef], batch: int = 64) -> None:
        """`size` of many indexes in few round trips: hypothetical indexes created and measured by batches
        (the index advisor's screening asks for thousands); any that fail are left to `size`."""
        if not self._hypopg:
            return
        todo = [d for d in dict.fromkeys(defs) if d not in self._sizes and d not in self.invalid
                and d.method in ("btree", "brin", "hash")]
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
        rel = self._rels.get(d.table_key) or {}
        reltuples = max(0.0, float(rel.get("reltuples") or 0))
        widths = []
        for k in d.keys:
            cols = k.base_columns or ("?",)
            widths.append(max(sizes.column_width(self._cols.get((d.table_key, c))) for c in cols))
        widths += [sizes.column_width(self._cols.get((d.table_key, c))) for c in d.include]
        if d.method == "brin":
            return sizes.brin_size(float(rel.get("relpages") or 0))
        if d.method == "gin":
            return sizes.gin_size(reltuples, widths[0] if widths else 16, trigram="trgm" in (d.keys[0].opclass or ""))
        fraction = 1.0
        for c in d.predicate_columns:
            fraction *= self._eq_selectivity(d.table_key, c)
        return sizes.btree_size(reltuples, widths, fraction)

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
        'abc%'` looks worse than it will be once the index is real (and analyzed). Not for a partial
        index: the planner does not use the statistics of a partial index's expressions either."""
        usable = frozenset(d for d in config if d.method == "btree" and d.keys and d.keys[0].expression
                           and not d.predicate and self._expression_selectivity(stmt, d) is not None)
        if not usable or stmt.key not in self._scans:  # the scans of its plan without hypothetical indexes
            return None
        return self._heuristic_cost(stmt, usable)

    def _walk_correction(self, stmt: WhatIfStatement, plan: list[dict[str, Any]], example: int) -> float:
        """Cost to add for a LIMIT over a scan that filters on a sampled expression (walking another
        index in ORDER BY order until enough rows pass): the planner costed the walk with its default
        0.5% selectivity; when the sample shows fewer rows pass, the walk is longer than that."""
        sels: dict[str, list[float]] = {}
        for i, table_key, e, _kind, pred in stmt.expr_predicates:
            sel = self._sample(table_key, pred) if i == example else None
            if sel is not None:
                sels.setdefault(e, []).append(sel)
        delta = 0.0
        for node in _nodes(plan[0]["Plan"]):
            if node.get("Node Type") != "Limit" or not node.get("Plans"):
                continue
            child = node["Plans"][0]
            filt, cond = str(child.get("Filter") or ""), str(child.get("Index Cond") or "")
            factor = 1.0
            for e, xs in sels.items():
                words = _WORDS.findall(_QUOTED.sub("", e))
                if words and all(w in filt for w in words) and not all(w in cond for w in words):
                    factor *= DEFAULT_EXPR_SEL / (sum(xs) / len(xs))
            c0, c1, total = float(child["Startup Cost"]), float(child["Total Cost"]), float(node["Total Cost"])
            # only ever longer: a few examples of a skewed column (common values) must not make a
            # walk look cheap that is slow for the rare values
            if factor <= 1.0 or c1 <= c0:
                continue
            share = (total - c0) / (c1 - c0) * min(factor, 1000.0)
            delta += c0 + min(1.0, share) * (c1 - c0) - total
        return delta

    def _expression_selectivity(self, stmt: WhatIfStatement, d: IndexDef) -> float | None:
        """Mean sampled selectivity of the statement's example filters on d's leading expression."""
        expr = norm_expr(d.keys[0].expression or "")
        sels = []
        for _i, table_key, e, kind, pred in stmt.expr_predicates:
            if table_key != d.table_key or e != expr:
                continue
            if kind == "prefix_like" and not self._c_collation and "pattern_ops" not in (d.keys[0].opclass or ""):
                continue  # under a non-C collation only a pattern_ops index serves LIKE
            sel = self._sample(table_key, pred)
            if sel is None:
                return None
            sels.append(sel)
        return sum(sels) / len(sels) if sels else None

    def _sample(self, table_key: str, pred: str) -> float | None:
        key = (table_key, pred)
        if key in self._samples:
            return self._samples[key]
        rel = self._rels.get(table_key) or {}
        tuples = max(1.0, float(rel.get("reltuples") or 1.0))
        pct = min(100.0, max(0.01, 100.0 * SAMPLE_ROWS / tuples))
        schema, _, name = table_key.partition(".")
        query = (f"SELECT count(*) FILTER (WHERE {pred}), count(*) FROM {qualified(schema, name)} "
                 f"TABLESAMPLE SYSTEM ({pct:.4f}) REPEATABLE (1)")
        hit, n = 0, 0
        if not self.guard.reason(query):  # this one runs: the filter comes from a logged text
            try:
                hit, n = _planned(self.conn, query)
            except psycopg.Error:
                pass
        self.samples_taken += 1
        self._samples[key] = (max(float(hit), 0.5) / n) if n else None
        return self._samples[key]

    def _stmt_cost(self, stmt: WhatIfStatement, keep_scans: bool = False) -> PlanResult:
        """The generic plan's cost, or the mean over the statement's examples (custom plans) when it
        has them and all of them can be planned."""
        if stmt.examples:
            results = [
                self._plan_cost(
                    t,
                    keep_scans=stmt.key if keep_scans and not i else None,
                    adjust=(lambda plan, i=i: self._walk_correction(stmt, plan, i)) if stmt.expr_predicates else None,
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
            return PlanResult(None, error=_one_line(exc))
        if keep_scans is not None:
            self._scans[keep_scans] = list(_seq_scans(plan[0]["Plan"], 1.0))
        result = self._result(plan)
        if adjust is not None and result.cost is not None:
            result = PlanResult(max(result.cost + adjust(plan), 0.0), result.used)
        return result

    def explain(self, text: str) -> list[dict[str, Any]]:
        """`EXPLAIN (FORMAT JSON)` of a statement, a generic plan when it has `$n` parameters.

        The text must pass the code guard (one explainable statement that reaches no untrusted code,
        see pg/guard.py), else `Refused` is raised and nothing is sent. A parameter whose type
        PostgreSQL cannot infer (`$1 - $2`, `THEN $3`) makes the statement fail to prepare; it is
        retried with such parameters cast (numeric, else text).
        """
        why = self.guard.reason(text)
        if why:
            raise Refused(why)
        body = self._typed.get(text) or _strip(text)
        self.calls += 1
        for _ in range(6):
            try:
                plan = self._explain(body)
            except psycopg.Error as exc:
                fixed = _cast_params(body, str(exc))
                if fixed is None or fixed == body:
                    raise
                body = fixed
                continue
            if body != _strip(text):
                self._typed[text] = body
            return plan
        return self._explain(body)

    def _explain(self, body: str) -> list[dict[str, Any]]:
        return explain_json(self.conn, body)

    # -- heuristic mode -------------------------------------------------------------------------------
    def _eq_selectivity(self, table_key: str, column: str, kind: str = "eq") -> float:
        col = self._cols.get((table_key, column)) or {}
        null_frac = float(col.get("null_frac") or 0.0)
        if kind == "is_null":
            return max(null_frac, 0.005)
        rel = self._rels.get(table_key) or {}
        nd = float(col.get("n_distinct") or 0.0)
        if nd < 0:
            nd = -nd * max(1.0, float(rel.get("reltuples") or 1.0))
        if nd <= 0:
            nd = 200.0  # the planner's DEFAULT_NUM_DISTINCT
        return max(1e-9, (1.0 - null_frac) / nd)

    def _index_scan_cost(self, d: IndexDef, stmt: WhatIfStatement) -> float | None:
        if d.method != "btree":
            return None
        filters = [f for f in stmt.filters if f.table_key == d.table_key]
        sel, matched = 1.0, 0
        for k in d.keys:
            hit = None
            for f in filters:
                if (k.column and f.column == k.column and not f.expression) or (
                    k.expression and f.expression and norm_expr(f.expression) == norm_expr(k.expression)
                ):
                    hit = f
                    break
            if hit is None:
                break
            sampled = self._expression_selectivity(stmt, d) if k.expression and not matched else None
            if hit.kind in EQ_KINDS:
                if sampled is not None:
                    sel *= sampled
                else:
                    sel *= self._eq_selectivity(d.table_key, hit.column or "", hit.kind) if hit.column else 0.005
                matched += 1
                continue
            if hit.kind in RANGE_KINDS:
                if sampled is not None:
                    sel *= sampled
                else:
                    sel *= 0.005 if hit.both_bounds else (0.05 if hit.kind == "prefix_like" else 0.3333)
                matched += 1
            break
        if matched == 0:
            return None
        for c in d.predicate_columns:
            if not any(f.column == c for f in filters):
                return None
        rel = self._rels.get(d.table_key) or {}
        tuples = max(1.0, float(rel.get("reltuples") or 1.0))
        pages = max(1.0, float(rel.get("relpages") or 1.0))
        rows = max(1.0, tuples * sel)
        heap_pages = min(pages, rows)
        descent = math.ceil(math.log2(tuples + 1)) * 0.0025 + 4.0
        return descent + rows * (0.005 + 0.01 + 0.0025 * len(filters)) + heap_pages * 4.0

    def _heuristic_cost(self, stmt: WhatIfStatement, config: frozenset[IndexDef]) -> PlanResult:
        base = self.cost(stmt, ())
        if base.cost is None:
            return base
        saved, used = 0.0, set()
        for relname, node_cost, loops in self._scans.get(stmt.key, []):
            best, best_d = node_cost, None
            for d in config:
                if d.table != relname:
                    continue
                c = self._index_scan_cost(d, stmt)
                if c is not None and c < best:
                    best, best_d = c, d
            if best_d is not None:
                saved += (node_cost - best) * loops
                used.add(best_d)
        return PlanResult(max(base.cost - saved, base.cost * 0.001), frozenset(used))


def _nodes(node: dict) -> Iterable[dict]:
    yield node
    for child in node.get("Plans") or ():
        yield from _nodes(child)


def _seq_scans(node: dict, loops: float) -> Iterable[tuple[str, float, float]]:
    """(relation, cost per loop, loops) of every sequential scan in a plan tree."""
    if node.get("Node Type") in ("Seq Scan", "Parallel Seq Scan") and node.get("Relation Name"):
        yield node["Relation Name"], float(node.get("Total Cost") or 0.0), loops
    children = node.get("Plans") or []
    outer_rows = 1.0
    for child in children:
        if child.get("Parent Relationship") == "Outer":
            outer_rows = max(1.0, float(child.get("Plan Rows") or 1.0))
    for child in children:
        inner_nl = node.get("Node Type") == "Nested Loop" and child.get("Parent Relationship") == "Inner"
        yield from _seq_scans(child, loops * (outer_rows if inner_nl else 1.0))


_ARITH_PAIR = re.compile(r"(\$\d+)(?!::)(\s*[-+*/]\s*)(\$\d+)(?!::)")
_CASE_RESULT = re.compile(r"\b(then|else)(\s+)(\$\d+)(?!\s*::)", re.I)
_TYPED_OP = re.compile(r"operator is not unique: ([a-z][a-z ]*?) ([-+*/]) unknown")
_UNTYPED = re.compile(r"could not determine data type of parameter \$(\d+)")


def _cast_params(body: str, error: str) -> str | None:
    """`body` with casts on the parameters PostgreSQL could not type, or None when the error is another."""
    m = _UNTYPED.search(error)
    if m:
        return re.sub(rf"\${m.group(1)}(?!\d)(?!::)", f"${m.group(1)}::text", body)
    if not any(s in error for s in ("operator is not unique", "does not exist", "could not determine")):
        return None
    m = _TYPED_OP.search(error)
    if m:  # `d_date + $5`: the parameter is what that type takes on that side (days, an interval, a number)
        left, op = m.group(1), m.group(2)
        cast = "integer" if left == "date" else "interval" if left.startswith(("timestamp", "time ")) else "numeric"
        fixed = re.sub(rf"(\s{re.escape(op)}\s*)(\$\d+)(?!\d)(?!\s*::)", rf"\1\2::{cast}", body)
        if fixed != body:
            return fixed
    out = body
    for _ in range(8):
        new = _ARITH_PAIR.sub(r"\1::numeric\2\3::numeric", out)
        if new == out:
            break
        out = new
    return _CASE_RESULT.sub(r"\1\2\3::numeric", out)


def explain_json(conn: psycopg.Connection, body: str) -> list[dict[str, Any]]:
    """`EXPLAIN (FORMAT JSON)` of one statement, the generic plan when it has `$n` parameters: a prepared
    statement explained with NULL arguments under force_generic_plan, on every version (`EXPLAIN
    (GENERIC_PLAN)` cannot go over the extended protocol: the server would count its `$n` as the
    message's own parameters).
    The caller has checked `body` with the code guard; psycopg.Error when it cannot be planned."""
    n = _max_param(body)
    if not n:
        return _json(_planned(conn, f"EXPLAIN (FORMAT JSON) {body}")[0])
    args = ", ".join(["NULL"] * n)
    return _json(_planned(conn, f"EXPLAIN (FORMAT JSON) EXECUTE {_PREPARED}({args})", prepare=body)[0])


@lru_cache(maxsize=4096)
def _max_param(body: str) -> int:
    """The highest `$n` of a statement (outside strings and comments): how many parameters PREPARE infers."""
    return max((int(t.text[1:]) for t in tokens(body) if t.kind == "param"), default=0)


def _planned(conn: psycopg.Connection, query: str, prepare: str | None = None) -> tuple:
    """The one row `query` returns, run in a read-only transaction (or, inside the caller's, a
    savepoint) that is rolled back, and sent with the extended protocol: one statement per message,
    so a text cannot smuggle in a second one. `prepare`: a statement to PREPARE as `_PREPARED` first
    and explain as a generic plan (before PostgreSQL 16); deallocated after (PREPARE is not
    transactional)."""
    generic = mark("SET LOCAL plan_cache_mode = force_generic_plan")
    own = conn.info.transaction_status == TransactionStatus.IDLE and conn.autocommit
    left = prepare is not None  # whether our prepared statement may still exist when we are done
    try:
        if own:
            with conn.pipeline():  # BEGIN … ROLLBACK, DEALLOCATE: one round trip
                conn.execute(mark("BEGIN READ ONLY"))
                if prepare is not None:
                    conn.execute(generic)
                    conn.execute(mark(f"PREPARE {_PREPARED} AS {prepare}"))
                cur = conn.execute(mark(query))
                conn.execute(mark("ROLLBACK"))
                if prepare is not None:
                    conn.execute(mark(f"DEALLOCATE {_PREPARED}"))
            left = False
            return cur.fetchone()
        with catalog.savepoint(conn, keep=False), conn.cursor() as cur:
            if prepare is not None:
                cur.execute(generic, binary=True)
                cur.execute(mark(f"PREPARE {_PREPARED} AS {prepare}"), binary=True)
            cur.execute(mark(query), binary=True)
            return cur.fetchone()
    except psycopg.Error:
        if own and not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
            conn.execute(mark("ROLLBACK"))  # the pipeline stopped at the error, before its ROLLBACK
        raise
    finally:
        # only after a failed pipeline (which skipped its DEALLOCATE) or inside the caller's transaction
        if left and not conn.closed and conn.info.transaction_status != TransactionStatus.INERROR:
            with conn.cursor() as cur:
                cur.execute(mark("SELECT 1 FROM pg_prepared_statements WHERE name = %s"), (_PREPARED,))
                if cur.fetchone():
                    cur.execute(mark(f"DEALLOCATE {_PREPARED}"))


class Refused(Exception):
    """A text the code guard does not let pgadvisor plan (pg/guard.py); the message says why."""


def _json(value: Any) -> list[dict[str, Any]]:
    return json.loads(value) if isinstance(value, str) else value


def _one_line(exc: BaseException) -> str:
    lines = [t.strip() for t in str(exc).strip().splitlines() if t.strip()]
    return " ".join(lines) or exc.__class__.__name__



"""The estimate without hypopg: the planner's arithmetic redone from pg_stats (the engine's heuristic mode).

The real plan gives a statement's cost without new indexes (pg/hypo.py keeps its sequential scans
here, `remember_scans`); with a set of indexes, each sequential scan that one of them could replace
becomes an index scan whose cost follows from the filters' selectivities (`savings`), the same
formula the planner uses, with PostgreSQL's default cost settings and default selectivities where
pg_stats has nothing.

hypopg uses it too, for what it cannot know: a hypothetical expression index has no statistics,
and neither has the planner for the expression, so a selective `lower(name) LIKE 'abc%'` is costed
with the default 0.5%. The selectivity of such filters in the statement's logged examples is sampled
from the table (`expression_selectivity`, one read-only `TABLESAMPLE` count, guarded like an
EXPLAIN); the engine uses it to cost the expression-index path (`sampled_expression_indexes`) and to
lengthen LIMIT walks that filter on the expression (`walk_correction`).

Index sizes from statistics (`index_size`, `model_size`) are here too: heuristic mode has no hypopg to
ask, hypopg cannot size GIN indexes and ignores B-tree deduplication; where pg_stats alone misleads about
a key's distinct values (correlated columns, a clustered column), `key_distinct` samples them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import psycopg

from pgadvisor import sizes
from pgadvisor.indexdef import EQ_KINDS, RANGE_KINDS, IndexDef, norm_expr, qualified
from pgadvisor.pg.explain import Refused, select_one
from pgadvisor.pg.guard import CodeGuard

if TYPE_CHECKING:
    from pgadvisor.pg.hypo import WhatIfStatement

# PostgreSQL's default selectivities when there are no statistics (src/include/utils/selfuncs.h)
DEFAULT_EQ_SEL = 0.005  # `a = b`
DEFAULT_INEQ_SEL = 0.3333333333333333  # `a < b`
DEFAULT_RANGE_INEQ_SEL = 0.005  # `a > b AND a < c`
DEFAULT_UNK_SEL = 0.005  # `a IS NULL`
DEFAULT_NUM_DISTINCT = 200
# what the planner takes for `=` or LIKE on an expression it has no statistics for (DEFAULT_EQ_SEL,
# DEFAULT_MATCH_SEL: both 0.005)
DEFAULT_EXPR_SEL = DEFAULT_EQ_SEL
# a prefix LIKE (`name LIKE 'abc%'`) without statistics: pgadvisor's own assumption, neither measured
# nor PostgreSQL's (which estimates it from the histogram)
PREFIX_LIKE_SEL = 0.05
MIN_SELECTIVITY = 1e-9  # a selectivity is never 0: an index scan always reads something

# PostgreSQL's default cost settings (src/include/optimizer/cost.h); the heuristic assumes the server
# runs with them
RANDOM_PAGE_COST = 4.0
CPU_TUPLE_COST = 0.01
CPU_INDEX_TUPLE_COST = 0.005
CPU_OPERATOR_COST = 0.0025

# pgadvisor's own bounds, not measured: the heuristic never claims an index saves more than 99.9% of a
# statement's cost, and a sampled selectivity lengthens a LIMIT walk at most 1000-fold
MIN_COST_SHARE = 0.001
MAX_WALK_FACTOR = 1000.0

# rows sampled to measure the selectivity of a filter on an expression: what ANALYZE samples per
# column at the default statistics target (300 × default_statistics_target 100, analyze.c)
SAMPLE_ROWS = 30_000
MIN_SAMPLE_PERCENT = 0.01  # the TABLESAMPLE floor on a huge table (pgadvisor's choice)
NO_HIT_ROWS = 0.5  # a sample in which no row passes counts half a row: rare, not impossible
# the distinct keys of an index are sampled (`key_distinct`: a single column or a leading pair) at most
# this many times per advisor run (a sample reads about SAMPLE_ROWS rows' blocks: 93–602 ms on TPC-H SF1 at
# load ~10 on 2 shared cores, bench_sizes.py --tpch; at most ~30 s in all): pgadvisor's bound, not tuned
MAX_KEY_SAMPLES = 50
# a key with this many rows a value is deduplicated nearly as far as it goes: with a 16-byte key tuple a
# row takes 8.5 leaf bytes at 8 rows a value and 6 at infinitely many (sizes.py's posting lists), so
# fewer distinct values than the columns' product can shrink the index by at most 1.42×: not sampled
SATURATED_ROWS_PER_KEY = 8
# a leading column with at least this share of distinct rows makes a key near-unique: nothing to sample
# (pgadvisor's choice: at 0.5 most values have one or two rows, and deduplication saves little)
NEAR_UNIQUE = 0.5
# |pg_stats.correlation| from which a column is taken as stored in its order (clustered), so that
# ANALYZE's block sample may see many rows of one value together and underestimate n_distinct
# (TPC-H's l_orderkey: correlation 1.0, n_distinct 389k of 1.5M); pgadvisor's choice
CLUSTERED_CORRELATION = 0.9

_WORDS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUOTED = re.compile(r"'(?:[^']|'')*'")


class Heuristic:
    """Statistics-based costs and sizes for one session, with caches an engine on another session of the
    same database may share (`shared`: its seq scans of base plans and sampled selectivities)."""

    def __init__(self, conn: psycopg.Connection, schema: dict, guard: CodeGuard, c_collation: bool,
                 shared: Heuristic | None = None):
        self.conn = conn
        self.guard = guard
        self.c_collation = c_collation  # under another collation only a pattern_ops index serves LIKE
        self.rels = {f"{r['schema']}.{r['name']}": r for r in schema.get("relations", [])}
        self.cols = {(f"{c['schema']}.{c['table']}", c["column"]): c for c in schema.get("columns", [])}
        self.table_cols: dict[str, dict[str, dict]] = {}  # the same, by table then column
        for (t, c), v in self.cols.items():
            self.table_cols.setdefault(t, {})[c] = v
        self.scans: dict[str, list[tuple[str, float, float]]] = shared.scans if shared else {}
        self.samples: dict[tuple[str, str], float | None] = shared.samples if shared else {}
        self.samples_taken = 0
        self.keys_sampled = 0

    # -- statistics -----------------------------------------------------------------------------------
    def eq_selectivity(self, table_key: str, column: str, kind: str = "eq") -> float:
        """Selectivity of `column = value` (or `IS NULL`) from pg_stats, as the planner computes it
        for a value that is not a most common one."""
        col = self.cols.get((table_key, column)) or {}
        null_frac = float(col.get("null_frac") or 0.0)
        if kind == "is_null":
            return max(null_frac, DEFAULT_UNK_SEL)
        rel = self.rels.get(table_key) or {}
        nd = sizes.n_distinct_rows(col.get("n_distinct"), rel.get("reltuples"))
        if nd <= 0:
            nd = DEFAULT_NUM_DISTINCT
        return max(MIN_SELECTIVITY, (1.0 - null_frac) / nd)

    def index_size(self, d: IndexDef) -> int:
        """Estimated bytes of `d` from table statistics only: a B-tree from `model_size`, others roughly."""
        rel = self.rels.get(d.table_key) or {}
        reltuples = max(0.0, float(rel.get("reltuples") or 0))
        if d.method == "brin":
            return sizes.brin_size(float(rel.get("relpages") or 0))
        if d.method == "gin":
            cols = d.keys[0].base_columns if d.keys else ()
            width = max((sizes.column_width(self.cols.get((d.table_key, c))) for c in cols), default=16)
            return sizes.gin_size(reltuples, width, trigram="trgm" in (d.keys[0].opclass or ""))
        fraction = 1.0
        for c in d.predicate_columns:
            fraction *= self.eq_selectivity(d.table_key, c)
        size = self.model_size(d, fraction)
        if size is None:  # a key the catalog does not describe: no deduplication, 16 bytes a column
            size = sizes.btree_model_size(reltuples, [None] * len(d.keys), [None] * len(d.include), fraction=fraction)
        return size

    def model_size(self, d: IndexDef, fraction: float = 1.0) -> int | None:
        """`sizes.btree_model_size` of the B-tree `d`, with the distinct keys from extended statistics or,
        failing those, from a block sample (`key_distinct`) where pg_stats alone is known to mislead; None
        when `sizes.model_columns` cannot describe it."""
        rel = self.rels.get(d.table_key) or {}
        described = sizes.model_columns(d, self.table_cols.get(d.table_key, {})) if d.method == "btree" else None
        if described is None:
            return None
        keys, include = described
        named = all(k.column for k in d.keys)
        distinct = sizes.ext_distinct(rel, keys) if named else None
        if distinct is None and named and sizes.deduplicated(keys, include) and self._misleading(d.table_key, keys):
            distinct = self._leading_pair_distinct(d, rel, keys)
        return sizes.btree_model_size(float(rel.get("reltuples") or 0), keys, include, fraction=fraction,
                                      distinct=distinct)

    def _leading_pair_distinct(self, d: IndexDef, rel: dict, keys: list[dict]) -> float | None:
        """The key's distinct values from its leading pair only (one sample serves every longer key that
        starts with it; the columns after it are taken as independent of the pair), with the pair's
        extended statistics if it has some."""
        pair = sizes.ext_distinct(rel, keys[:2]) or self.key_distinct(d.table_key, tuple(
            k.column or "" for k in d.keys[:2]))
        if pair is not None and len(keys) > 2:
            rows = max(1.0, float(rel.get("reltuples") or 1.0))
            pair = min(rows, pair * sizes.independent_distinct(keys[2:], rows))
        return pair

    def _misleading(self, table_key: str, keys: list[dict]) -> bool:
        """Whether pg_stats alone may mislead about the distinct keys: several columns (the product of their
        counts assumes independence) unless the leading one is near-unique or the product already leaves
        SATURATED_ROWS_PER_KEY rows a key, or one clustered column whose count ANALYZE took as fixed (its
        block sample sees the rows of a value together)."""
        rows = max(1.0, float((self.rels.get(table_key) or {}).get("reltuples") or 1.0))
        lead = sizes.n_distinct_rows(keys[0].get("n_distinct"), rows)
        if len(keys) > 1:
            return 0 < lead < NEAR_UNIQUE * rows and \
                sizes.independent_distinct(keys, rows) > rows / SATURATED_ROWS_PER_KEY
        nd = float(keys[0].get("n_distinct") or 0.0)
        return nd > 0 and abs(float(keys[0].get("correlation") or 0.0)) >= CLUSTERED_CORRELATION \
            and nd < NEAR_UNIQUE * rows

    def key_distinct(self, table_key: str, columns: tuple[str, ...]) -> float | None:
        """Distinct values of `columns` together, from a block sample of about SAMPLE_ROWS rows in which a
        value counts once per block it is seen in (so that rows stored together, which ANALYZE's
        estimate counts as duplicates, do not hide values), by Duj1 (`sizes.duj1`); None when not sampled
        (the sample failed, or MAX_KEY_SAMPLES were taken)."""
        key = (table_key, "distinct:" + ",".join(sorted(columns)))
        if key in self.samples:
            return self.samples[key]
        if self.keys_sampled >= MAX_KEY_SAMPLES:
            return None
        self.keys_sampled += 1
        rel = self.rels.get(table_key) or {}
        tuples = max(1.0, float(rel.get("reltuples") or 1.0))
        pct = min(100.0, max(MIN_SAMPLE_PERCENT, 100.0 * SAMPLE_ROWS / tuples))
        schema, _, name = table_key.partition(".")
        cols = psycopg.sql.SQL(", ").join(psycopg.sql.Identifier(c) for c in columns)
        if len(columns) > 1:
            cols = psycopg.sql.SQL("({})").format(cols)  # a row value: grouped as a whole
        query = psycopg.sql.SQL(
            "WITH s AS (SELECT (ctid::text::point)[0] AS blk, {cols} AS k, count(*) AS r "
            "FROM {table} TABLESAMPLE SYSTEM ({pct}) REPEATABLE (1) GROUP BY 1, 2), "
            "g AS (SELECT count(*) AS c FROM s GROUP BY k) "
            "SELECT (SELECT coalesce(sum(r), 0) FROM s), (SELECT count(*) FROM s), (SELECT count(*) FROM g), "
            "(SELECT count(*) FROM g WHERE c = 1)"
        ).format(cols=cols, table=psycopg.sql.Identifier(schema, name), pct=psycopg.sql.Literal(round(pct, 4)))
        out = None
        try:  # pgadvisor's own text over identifiers; run as read-only and rolled back as the other samples
            rows, units, seen, once = select_one(self.conn, query.as_string(self.conn), self.guard)
            if rows and units:
                out = sizes.duj1(float(units), float(seen), float(once), tuples * float(units) / float(rows))
        except (Refused, psycopg.Error):
            pass
        self.samples[key] = out
        return out

    # -- costs ----------------------------------------------------------------------------------------
    def remember_scans(self, key: str, plan: list[dict[str, Any]]) -> None:
        """Keep the sequential scans of a statement's plan without hypothetical indexes."""
        self.scans[key] = list(_seq_scans(plan[0]["Plan"], 1.0))

    def savings(self, stmt: WhatIfStatement, config: Iterable[IndexDef]) -> tuple[float, frozenset[IndexDef]]:
        """Cost the indexes of `config` save on the remembered plan of `stmt`, and those that do: each
        sequential scan becomes the cheapest index scan over its table, when that is cheaper."""
        saved, used = 0.0, set()
        for relname, node_cost, loops in self.scans.get(stmt.key, []):
            best, best_d = node_cost, None
            for d in config:
                if d.table != relname:
                    continue
                c = self.index_scan_cost(d, stmt)
                if c is not None and c < best:
                    best, best_d = c, d
            if best_d is not None:
                saved += (node_cost - best) * loops
                used.add(best_d)
        return saved, frozenset(used)

    def index_scan_cost(self, d: IndexDef, stmt: WhatIfStatement) -> float | None:
        """The planner's cost of a B-tree index scan of `d` for `stmt`'s filters on its table; None when
        the index serves none of them (or its predicate is not implied)."""
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
            sampled = self.expression_selectivity(stmt, d) if k.expression and not matched else None
            if hit.kind in EQ_KINDS:
                if sampled is not None:
                    sel *= sampled
                else:
                    sel *= self.eq_selectivity(d.table_key, hit.column or "", hit.kind) if hit.column \
                        else DEFAULT_EXPR_SEL
                matched += 1
                continue
            if hit.kind in RANGE_KINDS:
                if sampled is not None:
                    sel *= sampled
                elif hit.both_bounds:
                    sel *= DEFAULT_RANGE_INEQ_SEL
                else:
                    sel *= PREFIX_LIKE_SEL if hit.kind == "prefix_like" else DEFAULT_INEQ_SEL
                matched += 1
            break
        if matched == 0:
            return None
        for c in d.predicate_columns:
            if not any(f.column == c for f in filters):
                return None
        rel = self.rels.get(d.table_key) or {}
        tuples = max(1.0, float(rel.get("reltuples") or 1.0))
        pages = max(1.0, float(rel.get("relpages") or 1.0))
        rows = max(1.0, tuples * sel)
        heap_pages = min(pages, rows)
        # btcostestimate's descent (a comparison per tree level) plus one random page for the leaf
        descent = math.ceil(math.log2(tuples + 1)) * CPU_OPERATOR_COST + RANDOM_PAGE_COST
        per_row = CPU_INDEX_TUPLE_COST + CPU_TUPLE_COST + CPU_OPERATOR_COST * len(filters)
        return descent + rows * per_row + heap_pages * RANDOM_PAGE_COST

    # -- sampled expression selectivities -------------------------------------------------------------
    def sampled_expression_indexes(self, stmt: WhatIfStatement, config: Iterable[IndexDef]) -> frozenset[IndexDef]:
        """The indexes of `config` whose leading expression has a sampled selectivity for `stmt`. Not a
        partial index: the planner does not use the statistics of a partial index's expressions either."""
        return frozenset(d for d in config if d.method == "btree" and d.keys and d.keys[0].expression
                         and not d.predicate and self.expression_selectivity(stmt, d) is not None)

    def expression_selectivity(self, stmt: WhatIfStatement, d: IndexDef) -> float | None:
        """Mean sampled selectivity of the statement's example filters on d's leading expression."""
        expr = norm_expr(d.keys[0].expression or "")
        sels = []
        for _i, table_key, e, kind, pred in stmt.expr_predicates:
            if table_key != d.table_key or e != expr:
                continue
            if kind == "prefix_like" and not self.c_collation and "pattern_ops" not in (d.keys[0].opclass or ""):
                continue  # under a non-C collation only a pattern_ops index serves LIKE
            sel = self.sample(table_key, pred)
            if sel is None:
                return None
            sels.append(sel)
        return sum(sels) / len(sels) if sels else None

    def sample(self, table_key: str, pred: str) -> float | None:
        """Share of a table's rows that pass `pred`, from a TABLESAMPLE of about SAMPLE_ROWS rows."""
        key = (table_key, pred)
        if key in self.samples:
            return self.samples[key]
        rel = self.rels.get(table_key) or {}
        tuples = max(1.0, float(rel.get("reltuples") or 1.0))
        pct = min(100.0, max(MIN_SAMPLE_PERCENT, 100.0 * SAMPLE_ROWS / tuples))
        schema, _, name = table_key.partition(".")
        query = (f"SELECT count(*) FILTER (WHERE {pred}), count(*) FROM {qualified(schema, name)} "
                 f"TABLESAMPLE SYSTEM ({pct:.4f}) REPEATABLE (1)")
        hit, n = 0, 0
        try:  # the filter comes from a logged text: guarded and rolled back like an EXPLAIN
            hit, n = select_one(self.conn, query, self.guard)
        except (Refused, psycopg.Error):
            pass
        self.samples_taken += 1
        self.samples[key] = (max(float(hit), NO_HIT_ROWS) / n) if n else None
        return self.samples[key]

    def walk_correction(self, stmt: WhatIfStatement, plan: list[dict[str, Any]], example: int) -> float:
        """Cost to add for a LIMIT over a scan that filters on a sampled expression (walking another
        index in ORDER BY order until enough rows pass): the planner costed the walk with its default
        0.5% selectivity; when the sample shows fewer rows pass, the walk is longer than that."""
        sels: dict[str, list[float]] = {}
        for i, table_key, e, _kind, pred in stmt.expr_predicates:
            sel = self.sample(table_key, pred) if i == example else None
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
            share = (total - c0) / (c1 - c0) * min(factor, MAX_WALK_FACTOR)
            delta += c0 + min(1.0, share) * (c1 - c0) - total
        return delta


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

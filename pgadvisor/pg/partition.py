"""The SQL of the partition advisor: what it reads about one table on the target, the partitioned copies it
builds in the scratch place (pg/scratch.py), and its EXPLAINs of literal statements on them.

Everything sent to the target is a catalog read (read-only, marked). Everything sent to the scratch
place is composed here with `psycopg.sql` (identifiers and literals), never a text from a server;
statement texts are only EXPLAINed (no ANALYZE) through the code guard and pg/explain.py's rolled-back,
extended-protocol path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from pgadvisor.pg import catalog
from pgadvisor.pg.explain import Refused, _planned, strip_statement
from pgadvisor.pg.guard import CodeGuard
from pgadvisor.pg.scratch import Copy, Scratch

# B-tree height assumed per index probe when estimating the pages a plan touches (a 3-level tree serves
# up to ~100M rows at PostgreSQL's default fill; chosen by hand)
INDEX_PROBE_PAGES = 3
_BLOCKING = frozenset({"Sort", "Incremental Sort", "Aggregate", "Hash", "Materialize", "SetOp", "WindowAgg",
                       "Unique"})
TIME_TYPES = ("timestamp with time zone", "timestamp without time zone", "date")
INTERVALS = {"day": "1 day", "week": "1 week", "month": "1 month"}


@dataclass(frozen=True)
class PartitionSpec:
    """A partition layout: RANGE on a time column by `interval` (day/week/month), LIST of `values`
    (one partition each, the rest in DEFAULT) or HASH with `modulus` partitions."""

    strategy: str  # range | list | hash
    column: str
    interval: str | None = None
    values: tuple[str, ...] = ()
    modulus: int = 0

    @property
    def label(self) -> str:
        if self.strategy == "range":
            return f"range({self.column}) by {self.interval}"
        if self.strategy == "list":
            return f"list({self.column}) {len(self.values)}+default"
        return f"hash({self.column}) modulus {self.modulus}"


def table_profile(conn: psycopg.Connection, table: tuple[str, str]) -> dict[str, Any] | None:
    """What the partition advisor reads about one table: size, columns with statistics (min/max from
    histogram_bounds, most common values), unique constraints, foreign keys in and out, partitioning.
    None when the table does not exist."""
    rel = catalog.q(conn, """
        SELECT c.oid::bigint AS relid, c.relkind::text AS kind, c.reltuples::float8 AS reltuples,
               c.relpages::bigint AS relpages, c.relallvisible::bigint AS relallvisible,
               pg_total_relation_size(c.oid) AS total_bytes,
               (SELECT setting::bigint FROM pg_settings WHERE name = 'shared_buffers') AS shared_buffers_pages
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')""", table)
    if not rel:
        return None
    out = rel[0]
    relid = out["relid"]
    out["columns"] = catalog.q(conn, """
        SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
               (a.attidentity <> '' OR pg_get_serial_sequence(%(t)s, a.attname) IS NOT NULL) AS generated_key,
               s.null_frac::float8 AS null_frac, s.n_distinct::float8 AS n_distinct,
               s.histogram_bounds::text::text[] AS histogram, s.most_common_vals::text::text[] AS mcv,
               s.most_common_freqs::float8[] AS mcf, s.correlation::float8 AS correlation
          FROM pg_attribute a
          LEFT JOIN pg_stats s ON s.schemaname = %(s)s AND s.tablename = %(n)s AND s.attname = a.attname
                              AND s.inherited = (%(kind)s = 'p')
         WHERE a.attrelid = %(relid)s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""",
        {"t": f'"{table[0]}"."{table[1]}"', "s": table[0], "n": table[1], "relid": relid, "kind": out["kind"]})
    out["unique"] = catalog.q(conn, """
        SELECT con.conname AS name, con.contype::text AS type,
               ARRAY(SELECT a.attname FROM unnest(con.conkey) k JOIN pg_attribute a
                      ON a.attrelid = con.conrelid AND a.attnum = k)::text[] AS columns
          FROM pg_constraint con WHERE con.conrelid = %s AND con.contype IN ('p', 'u', 'x')""", (relid,))
    out["fk_in"] = catalog.q(conn, """
        SELECT con.conname AS name, con.conrelid::regclass::text AS child,
               ARRAY(SELECT a.attname FROM unnest(con.confkey) k JOIN pg_attribute a
                      ON a.attrelid = con.confrelid AND a.attnum = k)::text[] AS columns
          FROM pg_constraint con WHERE con.confrelid = %s AND con.contype = 'f'""", (relid,))
    out["fk_out"] = catalog.q(conn, """
        SELECT con.conname AS name, pg_get_constraintdef(con.oid) AS definition
          FROM pg_constraint con WHERE con.conrelid = %s AND con.contype = 'f'""", (relid,))
    out["indexes"] = catalog.q(conn, """
        SELECT i.relname AS name, x.indisunique AS is_unique, x.indisprimary AS is_primary,
               greatest(i.relpages, 1)::bigint AS relpages, greatest(i.reltuples, 1)::float8 AS reltuples,
               am.amname AS method, x.indpred IS NOT NULL AS partial, 0 = ANY(x.indkey::int2[]) AS has_expr,
               ARRAY(SELECT a.attname FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(n, o)
                      JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n
                     WHERE k.o <= x.indnkeyatts ORDER BY k.o)::text[] AS columns
          FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am am ON am.oid = i.relam
         WHERE x.indrelid = %s AND x.indisvalid""", (relid,))
    out["partitioning"] = _partitioning(conn, relid) if out["kind"] == "p" else None
    return out


def _partitioning(conn: psycopg.Connection, relid: int) -> dict[str, Any]:
    """A partitioned table's strategy, key columns and partitions (bound, rows, pages)."""
    key = catalog.q(conn, """
        SELECT p.partstrat::text AS strategy,
               ARRAY(SELECT a.attname FROM unnest(p.partattrs::int2[]) k JOIN pg_attribute a
                      ON a.attrelid = p.partrelid AND a.attnum = k)::text[] AS columns
          FROM pg_partitioned_table p WHERE p.partrelid = %s""", (relid,))[0]
    key["partitions"] = catalog.q(conn, """
        SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound,
               c.reltuples::float8 AS reltuples, c.relpages::bigint AS relpages,
               pg_total_relation_size(c.oid) AS total_bytes
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s
         ORDER BY 2""", (relid,))
    return key


def target_pages(profile: dict[str, Any], name: str) -> dict[str, tuple[int, float]]:
    """(pages, rows) of the target table (`name`) and its indexes, by name, for `pages_touched` on its plans."""
    out = {name: (max(int(profile.get("relpages") or 1), 1), max(float(profile.get("reltuples") or 1), 1.0))}
    for ix in profile.get("indexes", []):
        out[ix["name"]] = (int(ix["relpages"]), float(ix["reltuples"]))
    return out


def build_partitioned(scratch: Scratch, base: Copy, types: dict[str, str], spec: PartitionSpec, name: str) -> Copy:
    """A partitioned copy of `base` (a table of ours) in the scratch place: the layout of `spec`, partitions
    covering the sample's range (RANGE: from the trunc of its min to past its max) and a DEFAULT
    partition, filled from `base`."""
    how = {"range": "RANGE", "list": "LIST", "hash": "HASH"}[spec.strategy]
    cols = [(c, types[c]) for c in base.columns]
    parent = scratch.create_like(name, cols, sql.SQL("{} ({})").format(sql.SQL(how), sql.Identifier(spec.column)))
    for i, bound in enumerate(_bounds(scratch, base, types[spec.column], spec)):
        part = sql.Identifier(scratch.schema, f"{name}_{i}"[:63])
        scratch.execute(sql.SQL("CREATE TABLE {} PARTITION OF {} {}").format(part, parent.ident, bound))
    if spec.strategy != "hash":
        scratch.execute(sql.SQL("CREATE TABLE {} PARTITION OF {} DEFAULT").format(
            sql.Identifier(scratch.schema, f"{name}_default"[:63]), parent.ident))
    names = sql.SQL(", ").join(sql.Identifier(c) for c in base.columns)
    scratch.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(parent.ident, names, names, base.ident))
    return parent


def _bounds(scratch: Scratch, base: Copy, col_type: str, spec: PartitionSpec) -> list[sql.Composable]:
    if spec.strategy == "hash":
        return [sql.SQL("FOR VALUES WITH (MODULUS {}, REMAINDER {})").format(sql.Literal(spec.modulus), sql.Literal(r))
                for r in range(spec.modulus)]
    if spec.strategy == "list":
        return [sql.SQL("FOR VALUES IN ({})").format(sql.Literal(v)) for v in spec.values]
    col, typ = sql.Identifier(spec.column), sql.SQL(col_type)
    rows = scratch.execute(sql.SQL(
        "SELECT g::{typ}::text, (g + {step}::interval)::{typ}::text FROM generate_series("
        "(SELECT date_trunc({unit}, min({col}))::{typ} FROM {t}), (SELECT max({col}) FROM {t}), {step}::interval) g"
    ).format(typ=typ, step=sql.Literal(INTERVALS[spec.interval]), unit=sql.Literal(spec.interval), col=col,
             t=base.ident))
    return [sql.SQL("FOR VALUES FROM ({}) TO ({})").format(sql.Literal(lo), sql.Literal(hi)) for lo, hi in rows]


def create_index(scratch: Scratch, copy: Copy, columns: tuple[str, ...], method: str = "btree") -> None:
    """A plain index on columns of a copy (on a partitioned copy: one per partition). Never unique: a
    unique index on a partitioned table must include the partition key, and the costs do not need it."""
    scratch.execute(sql.SQL("CREATE INDEX ON {} USING {} ({})").format(
        copy.ident, sql.Identifier(method), sql.SQL(", ").join(sql.Identifier(c) for c in columns)))


def analyze(scratch: Scratch, copy: Copy, vacuum: bool) -> None:
    """ANALYZE a copy; `vacuum` (VACUUM ANALYZE) when the target's pages are mostly all-visible, so that
    index-only scans are costed on the copies as on the target (by pg_class.relallvisible)."""
    scratch.execute(sql.SQL("VACUUM ANALYZE {}" if vacuum else "ANALYZE {}").format(copy.ident))


def relpages(scratch: Scratch) -> dict[str, tuple[int, float]]:
    """(pages, rows) of each table and index of ours in the scratch schema (after ANALYZE), by name."""
    rows = scratch.execute(sql.SQL(
        "SELECT c.relname, greatest(c.relpages, 1), greatest(c.reltuples, 1) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = {} AND c.relkind IN ('r', 'i')").format(sql.Literal(scratch.schema)))
    return {r[0]: (int(r[1]), float(r[2])) for r in rows}


def explain_literal(conn: psycopg.Connection, text: str, codes: tuple[CodeGuard, ...]) -> dict[str, Any]:
    """EXPLAIN (FORMAT JSON, SUMMARY) of a literal statement (no `$n`): the plan and its planning time.
    Every guard in `codes` must let the text through (`Refused`); rolled back, never ANALYZE."""
    for code in codes:
        why = code.reason(text)
        if why:
            raise Refused(why)
    body = strip_statement(text)
    raw = _planned(conn, f"EXPLAIN (FORMAT JSON, SUMMARY) {body}")[0]
    doc = raw[0] if isinstance(raw, list) else raw
    if isinstance(doc, str):
        import json

        doc = json.loads(doc)[0]
    return doc


def pages_touched(plan: dict[str, Any], pages: dict[str, tuple[int, float]], fraction: float = 1.0) -> float:
    """Estimated buffers a plan touches: the whole relation per sequential scan; per index scan a probe and
    the index's pages in proportion to the rows it returns, plus (not for an index-only scan) one heap
    page per row, at most the relation's pages. Under a Limit only its share of the rows is read
    (`fraction`), but every scan below still costs its probe: a lookup that must visit every partition
    touches every partition's index."""
    node_type = plan.get("Node Type", "")
    if node_type in _BLOCKING:
        fraction = 1.0  # a sort or an aggregate below a Limit reads all its input first
    rows = float(plan.get("Plan Rows", 0)) * fraction
    total = 0.0
    rel = pages.get(plan.get("Relation Name", ""))
    index = pages.get(plan.get("Index Name", ""))
    if rel and node_type == "Seq Scan":
        total += rel[0] * fraction
    if index and node_type in ("Index Scan", "Index Only Scan", "Bitmap Index Scan"):
        total += INDEX_PROBE_PAGES + min(index[0], rows * index[0] / index[1])
    if rel and node_type in ("Index Scan", "Bitmap Heap Scan"):
        total += min(rel[0], rows)
    children = plan.get("Plans", []) or []
    if node_type == "Limit" and children:
        below = float(children[0].get("Plan Rows", 0)) or 1.0
        fraction *= min(1.0, float(plan.get("Plan Rows", 0)) / below)
    for child in children:
        total += pages_touched(child, pages, fraction)
    return total


# planner settings copied from the target to the scratch session, so the copies are planned as the
# target would plan them (PostgreSQL's cost GUCs, src/backend/optimizer/path/costsize.c)
MIRRORED = ("seq_page_cost", "random_page_cost", "cpu_tuple_cost", "cpu_index_tuple_cost", "cpu_operator_cost",
            "parallel_tuple_cost", "max_parallel_workers_per_gather",
            "enable_partitionwise_aggregate", "enable_partitionwise_join", "enable_partition_pruning",
            "default_statistics_target", "jit")
# settings whose effect depends on the table's size: scaled by the sample's fraction on the scratch side,
# so a copy of 10% crosses the parallel-scan thresholds, spills to disk and fits the cache as the full
# table would (the thresholds compare with relation sizes, costsize.c/allpaths.c compute_parallel_worker),
# and a parallel plan's fixed start-up cost weighs against a 10% scan as it does against the full one
SCALED = {"min_parallel_table_scan_size": 8, "min_parallel_index_scan_size": 8, "effective_cache_size": 8,
          "work_mem": 64,  # name → the floor in kB (PostgreSQL's own minimum for work_mem is 64 kB)
          "parallel_setup_cost": 0}  # a plain number (cost units)


def mirror_planner_settings(target: psycopg.Connection, scratch: Scratch, fraction: float) -> dict[str, str]:
    """SET on the scratch session the target's planner settings, the size-dependent ones × `fraction`
    (see SCALED); returns what was set."""
    names = list(MIRRORED) + list(SCALED)
    rows = catalog.q(target, "SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s)", (names,))
    out = {}
    for r in rows:
        value = r["setting"]
        if r["name"] in SCALED and not r["unit"]:
            value = repr(float(value) * fraction)
        elif r["name"] in SCALED:
            unit_kb = {"8kB": 8, "kB": 1, "MB": 1024}.get(r["unit"] or "kB", 1)
            kb = max(int(float(value) * unit_kb * fraction), SCALED[r["name"]])
            value = f"{kb}kB"
        scratch.execute(sql.SQL("SELECT set_config({}, {}, false)").format(sql.Literal(r["name"]), sql.Literal(value)))
        out[r["name"]] = value
    return out

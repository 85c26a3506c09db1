"""Printed ÷ real size of every B-tree `recommend` proposes on the e-commerce fixture, and of a fixed set
of TPC-H SF1 B-trees (issue 10).

    PYTHONPATH=. python tests/bench/bench_sizes.py [--scale 1.0] [--seconds 20]
    PYTHONPATH=. python tests/bench/bench_sizes.py --tpch [--pg-dir /tmp/pgadvisor-sizes/pg]

`--tpch`: TPC-H SF1 (generated with DuckDB into --data-dir and loaded into a cluster in --pg-dir, both
cached: tests/bench/tpc.py; primary keys only), then for each index of TPC_H_INDEXES (the shapes the
advisors recommended on TPC-H in docs/benchmarks.md "Issue 10", both known misses among them) the
model from pg_stats alone, the model as the advisor runs it (`Heuristic.model_size`: extended statistics
or a block-sampled distinct count where pg_stats misleads), hypopg's estimate and the real size; then
again with `CREATE STATISTICS (ndistinct)` on every multi-column key and ANALYZE.

Starts a throwaway cluster, loads the fixture (primary keys only), runs the API mix so that
pg_stat_statements holds it, asks `recommend` (the library behind the CLI) for indexes, then builds
each recommended B-tree for real (CREATE INDEX, pg_relation_size, DROP) and prints its printed size
(`cost.size_bytes`: the deduplication-aware model, pgadvisor/sizes.py), hypopg's estimate and the
real size. Goal: printed ÷ real within 0.67–1.5 for every index.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from pgadvisor import sizes
from pgadvisor.advise.review import recommend
from pgadvisor.collect import collect
from pgadvisor.demo_data import load_ecommerce, run_workload
from pgadvisor.indexdef import IndexDef, KeyPart
from pgadvisor.pg import catalog
from pgadvisor.pg.guard import load as load_guard
from pgadvisor.pg.heuristic import Heuristic
from pgadvisor.pg.local import start_cluster
from pgadvisor.store import open_store
from pgadvisor.workload import load_workload

LOW, HIGH = 0.67, 1.5
# (table, key columns, INCLUDE columns)
TPC_H_INDEXES = [
    ("lineitem", ("l_orderkey",), ()), ("lineitem", ("l_partkey",), ()), ("lineitem", ("l_suppkey",), ()),
    ("lineitem", ("l_partkey", "l_suppkey"), ()), ("lineitem", ("l_suppkey", "l_partkey"), ()),
    ("lineitem", ("l_orderkey", "l_suppkey"), ()), ("lineitem", ("l_shipdate",), ()),
    ("lineitem", ("l_receiptdate",), ()), ("lineitem", ("l_shipmode", "l_shipinstruct"), ()),
    ("lineitem", ("l_returnflag", "l_linestatus"), ()),
    ("lineitem", ("l_shipdate",), ("l_extendedprice", "l_discount")),
    ("lineitem", ("l_partkey",), ("l_quantity", "l_extendedprice")),
    ("orders", ("o_custkey",), ()), ("orders", ("o_orderdate",), ()),
    ("orders", ("o_orderdate", "o_orderpriority"), ()),
    ("orders", ("o_orderstatus",), ()), ("orders", ("o_custkey", "o_orderdate"), ()),
    ("partsupp", ("ps_suppkey",), ()), ("partsupp", ("ps_suppkey", "ps_partkey"), ()),
    ("partsupp", ("ps_partkey",), ("ps_supplycost",)),
    ("part", ("p_type",), ()), ("part", ("p_brand", "p_container"), ()), ("part", ("p_size",), ()),
    ("part", ("p_name",), ()), ("customer", ("c_nationkey",), ()), ("customer", ("c_mktsegment",), ()),
    ("customer", ("c_phone",), ()), ("supplier", ("s_nationkey",), ()),
]


def measure(dsn: str, sql: str) -> tuple[int, int]:
    """(hypopg's estimate, real bytes) of one recommended CREATE INDEX (or its body after ON)."""
    body = sql.rstrip(";").split(" ON ", 1)[1] if " ON " in sql else sql
    with psycopg.connect(dsn, autocommit=True) as conn:
        oid = conn.execute("SELECT indexrelid FROM hypopg_create_index(%s)", (f"CREATE INDEX ON {body}",)).fetchone()[0]
        hypo = conn.execute("SELECT hypopg_relation_size(%s)", (oid,)).fetchone()[0]
        conn.execute("SELECT hypopg_reset()")
        conn.execute(f"CREATE INDEX bench_size_probe ON {body}")
        real = conn.execute("SELECT pg_relation_size('bench_size_probe')").fetchone()[0]
        conn.execute("DROP INDEX bench_size_probe")
    return int(hypo), int(real)


def _ratios(name: str, ratios: list[float]) -> str:
    worst = max(ratios, key=lambda v: max(v, 1 / v))
    return (f"{name}: median {statistics.median(ratios):.2f}, worst {worst:.2f}, outside {LOW}–{HIGH}: "
            f"{sum(not LOW <= v <= HIGH for v in ratios)} of {len(ratios)}")


def tpch_models(dsn: str) -> dict[int, tuple[int, int, float, bool]]:
    """(pg_stats-only model, advisor's model, seconds the advisor's took, whether it sampled) of every
    TPC_H_INDEXES entry."""
    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema = {"relations": catalog.relations(conn), "columns": catalog.columns(conn)}
        heur = Heuristic(conn, schema, load_guard(conn), catalog.c_collation(conn))
        for i, (table, keys, include) in enumerate(TPC_H_INDEXES):
            d = IndexDef("public", table, tuple(KeyPart(column=k, expr_columns=(k,)) for k in keys), include=include)
            cols = heur.table_cols[d.table_key]
            rel = {k: v for k, v in heur.rels[d.table_key].items() if k != "ext_ndistinct"}
            t0, n = time.monotonic(), heur.keys_sampled
            advisor = heur.model_size(d)
            out[i] = (sizes.index_model_size(d, cols, rel) or 0, advisor or 0, time.monotonic() - t0,
                      heur.keys_sampled > n)
    return out


def tpch(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import tpc

    cluster = tpc.open_cluster(Path(args.pg_dir))
    try:
        dsn, info = tpc.ensure_database(cluster, "tpch_sizes", "tpch", 1.0, Path(args.data_dir))
        print(f"TPC-H SF1 in {dsn} ({'re-used' if info['reused'] else 'loaded'})")
        with psycopg.connect(dsn, autocommit=True) as conn:  # no extended statistics left from a last run
            for st in conn.execute("SELECT statistics_name FROM pg_stats_ext").fetchall():
                conn.execute(f"DROP STATISTICS {st[0]}")
            conn.execute("ANALYZE")
        before = tpch_models(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            for i, (table, keys, _) in enumerate(TPC_H_INDEXES):
                if len(keys) > 1:
                    conn.execute(f"CREATE STATISTICS IF NOT EXISTS bench_nd_{i} (ndistinct) ON {', '.join(keys)} "
                                 f"FROM {table}")
            conn.execute("ANALYZE")
        after = tpch_models(dsn)
        print("\n| index | pg_stats only | advisor (sampled) | with CREATE STATISTICS | hypopg | real MB | "
              "pg_stats ÷ real | advisor ÷ real | ext ÷ real | hypopg ÷ real | ms |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        cols = {"stats": [], "advisor": [], "ext": [], "hypopg": []}
        for i, (table, keys, include) in enumerate(TPC_H_INDEXES):
            body = f"{table} ({', '.join(keys)})" + (f" INCLUDE ({', '.join(include)})" if include else "")
            hypo, real = measure(dsn, body)
            stats, advisor, secs, _ = before[i]
            ext = after[i][1]
            for k, v in (("stats", stats), ("advisor", advisor), ("ext", ext), ("hypopg", hypo)):
                cols[k].append(v / real)
            print(f"| `{body}` | {stats / 1e6:.1f} | {advisor / 1e6:.1f} | {ext / 1e6:.1f} | {hypo / 1e6:.1f} | "
                  f"{real / 1e6:.1f} | {stats / real:.2f} | {advisor / real:.2f} | {ext / real:.2f} | "
                  f"{hypo / real:.2f} | {1000 * secs:.0f} |", flush=True)
        samples = [x[2] for x in before.values() if x[3]]
        print(f"\nms: wall time of the advisor's model (its block sample where one ran: {len(samples)} of "
              f"{len(before)}, {1000 * statistics.median(samples or [0]):.0f} ms median: the server's time, "
              f"no client CPU), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for k, v in cols.items():
            print(_ratios({"stats": "pg_stats only", "advisor": "advisor (sampled where pg_stats misleads)",
                           "ext": "with extended statistics", "hypopg": "hypopg"}[k], v))
    finally:
        cluster.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=20.0, help="API mix run between the snapshots")
    ap.add_argument("--tpch", action="store_true", help="TPC-H SF1 with a fixed set of indexes instead")
    ap.add_argument("--pg-dir", default="/tmp/pgadvisor-sizes/pg", help="TPC-H cluster directory (kept, re-used)")
    ap.add_argument("--data-dir", default=str(Path("/tmp/pgadvisor-bench")), help="TPC-H CSV cache")
    args = ap.parse_args()
    if args.tpch:
        tpch(args)
        return
    cluster = start_cluster()
    try:
        dsn = cluster.create_database("shop", ("pg_stat_statements", "hypopg"))
        t0 = time.monotonic()
        load = load_ecommerce(dsn, args.scale)
        print(f"loaded scale {args.scale} in {time.monotonic() - t0:.1f} s: {load['rows']}")
        with open_store(tempfile.mktemp(suffix=".sqlite")) as st:
            st.save_snapshot(collect(dsn, "shop", plans_top=0))
            run_workload(dsn, seconds=args.seconds, clients=2, seed=1)
            st.save_snapshot(collect(dsn, "shop", plans_top=0))
            w = load_workload(st, "shop", since=time.time() - 86400)
        doc = recommend(dsn, workload=w).to_document()
        rows = []
        for r in doc["recommendations"]:
            if r["rule"] not in ("create-index", "fk-without-index") or " USING btree " not in r["sql"]:
                continue
            hypo, real = measure(dsn, r["sql"])
            rows.append((r["sql"].split(" ON ", 1)[1].rstrip(";"), r["cost"]["size_bytes"], hypo, real))
        print("\n| index | printed MB | hypopg MB | real MB | printed ÷ real | hypopg ÷ real |")
        print("|---|---|---|---|---|---|")
        for body, printed, hypo, real in sorted(rows, key=lambda x: -x[3]):
            print(f"| `{body}` | {printed / 1e6:.1f} | {hypo / 1e6:.1f} | {real / 1e6:.1f} | {printed / real:.2f} | "
                  f"{hypo / real:.2f} |")
        if rows:
            ratios = [p / r for _, p, _, r in rows]
            hypo_r = [h / r for _, _, h, r in rows]
            print(f"\nprinted ÷ real: median {statistics.median(ratios):.2f}, worst "
                  f"{max(ratios, key=lambda v: max(v, 1 / v)):.2f}, outside {LOW}–{HIGH}: "
                  f"{sum(not LOW <= v <= HIGH for v in ratios)} of {len(ratios)}; hypopg ÷ real: median "
                  f"{statistics.median(hypo_r):.2f}, worst {max(hypo_r, key=lambda v: max(v, 1 / v)):.2f}")
            print(f"total printed {sum(x[1] for x in rows) / 1e6:.0f} MB, hypopg {sum(x[2] for x in rows) / 1e6:.0f} "
                  f"MB, real {sum(x[3] for x in rows) / 1e6:.0f} MB")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()

"""Real execution on the e-commerce fixture: does running pgadvisor's recommendations make the workload faster?

    python tests/bench/bench_ecommerce.py [--scale 1.0] [--seconds 30] [--repeats 5]

Starts a throwaway cluster, loads the fixture (primary keys only), runs the API mix so that
pg_stat_statements holds it, takes two snapshots around the run, asks `recommend` (the library
behind the CLI) for indexes, then measures the workload (median of warm runs, fixed parameters)
three ways in the same run: primary keys only, the obvious single-column indexes, pgadvisor's
indexes (and, with --max-slowdown, a fourth: pgadvisor's under that limit on writers' slowdown).
Prints per-statement medians and the totals; checks that no statement got >10% slower and that no
recommended index already existed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import psycopg

from pgadvisor.advise.review import recommend
from pgadvisor.collect import collect
from pgadvisor.demo_data import load_ecommerce, measure_workload, run_workload
from pgadvisor.fleet import with_log_samples
from pgadvisor.pg.local import JSONLOG_SETTINGS, start_cluster
from pgadvisor.store import open_store
from pgadvisor.workload import load_workload

OBVIOUS = [
    "CREATE INDEX obvious_1 ON products (category)",
    "CREATE INDEX obvious_2 ON orders (user_id)",
    "CREATE INDEX obvious_3 ON order_items (order_id)",
    "CREATE INDEX obvious_4 ON users (email)",
    "CREATE INDEX obvious_5 ON orders (status)",
    "CREATE INDEX obvious_6 ON cart_items (user_id)",
]


def indexes(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'")}


def run_sql(dsn: str, stmts: list[str]) -> None:
    """Run DDL, then VACUUM ANALYZE: every configuration is timed on tables without the dead rows that
    the previous measurement's rolled-back writes left (else the last one measured pays for them)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in stmts:
            conn.execute(s)
        conn.execute("VACUUM ANALYZE")


def explain_entry(dsn: str, name: str, max_ids: dict[str, int]) -> str:
    """EXPLAIN ANALYZE of a workload entry with the first parameter set measure_workload gives it."""
    import random

    from pgadvisor.demo_data import _connect, _context, _raw_cursor, _resolve

    todo, anchor = _resolve(None, None)
    [entry] = [e for e in todo if e.name == name]
    with _connect(dsn) as conn:
        params = entry.make_params(random.Random(f"42:{entry.name}"), _context(conn, todo, anchor, max_ids))
        with conn.transaction(force_rollback=True):
            cur = _raw_cursor(conn)
            cur.execute("EXPLAIN (ANALYZE, COSTS) " + entry.sql, params)
            return "\n".join(r[0] for r in cur.fetchall())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=30.0, help="API mix run between the snapshots")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--calls", type=int, default=10, help="parameter sets per statement when measuring")
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--explain-over-ms", type=float, default=5.0,
                    help="print EXPLAIN ANALYZE of statements still slower than this with pgadvisor's indexes")
    ap.add_argument("--max-slowdown", type=float, default=None, help="also measure `recommend --max-slowdown` "
                    "with this percentage (a fourth configuration)")
    ap.add_argument("--no-samples", dest="samples", action="store_false",
                    help="advise from pg_stat_statements texts only (no JSON log samples with real values)")
    args = ap.parse_args()

    cluster = start_cluster(settings=JSONLOG_SETTINGS if args.samples else None)
    try:
        dsn = cluster.create_database("shop", ("pg_stat_statements", "hypopg"))
        t0 = time.monotonic()
        load = load_ecommerce(dsn, args.scale)
        print(f"loaded scale {args.scale} in {time.monotonic() - t0:.1f} s: {load['rows']}")
        max_ids = load["rows"]
        store = tempfile.mktemp(suffix=".sqlite")
        def snap(st, plans_top=20):
            s = collect(dsn, "shop", plans_top=plans_top)
            return with_log_samples(s, str(cluster.logdir), st.log_offsets("shop")) if args.samples else s

        with open_store(store) as st:
            st.save_snapshot(snap(st, 0))
            run = run_workload(dsn, seconds=args.seconds, clients=2, seed=1)
            st.save_snapshot(snap(st))
            print(f"API mix: {run['total_calls']} calls in {run['seconds']:.1f} s, {run['total_errors']} errors")
            w = load_workload(st, "shop", since=time.time() - 86400)
        before_defs = indexes(dsn)

        run_sql(dsn, [])
        base = measure_workload(dsn, repeats=args.repeats, calls_per_entry=args.calls, max_ids=max_ids)

        def advise(max_slowdown: float | None) -> tuple[dict, list[dict], float]:
            t0 = time.monotonic()
            doc = recommend(dsn, workload=w, max_slowdown_pct=max_slowdown).to_document()
            return doc, [r for r in doc["recommendations"] if r["rule"] == "create-index"], time.monotonic() - t0

        doc, creates, advise_s = advise(None)
        print(f"samples: {w.sampled_statements} of {len(w.statements)} statements have one")
        print(f"recommend: {advise_s:.1f} s, {doc['stats'].get('whatif_calls')} what-if calls, "
              f"{len(creates)} create-index recommendations")
        existing_again = [r["sql"] for r in creates if any(r["sql"].split(" USING ")[-1] in d for d in before_defs)]

        run_sql(dsn, OBVIOUS)
        obvious = measure_workload(dsn, repeats=args.repeats, calls_per_entry=args.calls, max_ids=max_ids)
        run_sql(dsn, [f"DROP INDEX {s.split()[2]}" for s in OBVIOUS])

        run_sql(dsn, [r["sql"] for r in creates])
        ours = measure_workload(dsn, repeats=args.repeats, calls_per_entry=args.calls, max_ids=max_ids)
        columns = [("PK only ms", base), ("obvious ms", obvious), ("pgadvisor ms", ours)]
        slow = [n for n in ours if not n.startswith("_") and ours[n] > args.explain_over_ms]
        plans = {n: explain_entry(dsn, n, max_ids) for n in slow}  # before another configuration replaces it
        capped_doc = None
        if args.max_slowdown is not None:
            capped_doc, capped, capped_s = advise(args.max_slowdown)
            print(f"recommend --max-slowdown {args.max_slowdown:g}%: {capped_s:.1f} s, {len(capped)} create-index "
                  "recommendations")
            run_sql(dsn, [f"DROP INDEX {r['sql'].split()[3]}" for r in creates] + [r["sql"] for r in capped])
            columns.append((f"max {args.max_slowdown:g}% ms", measure_workload(
                dsn, repeats=args.repeats, calls_per_entry=args.calls, max_ids=max_ids)))
            existing_again += [r["sql"] for r in capped if any(r["sql"].split(" USING ")[-1] in d for d in before_defs)]

        names = sorted(k for k in base if not k.startswith("_"))
        print(f"\n{'statement':<26}" + "".join(f"{h:>16}" for h, _ in columns) + f"{'speed-up':>10}")
        slower: dict[str, list] = {h: [] for h, _ in columns[2:]}
        for n in names:
            print(f"{n:<26}" + "".join(f"{m[n]:>16.3f}" for _, m in columns) + f"{base[n] / ours[n]:>9.1f}x")
            for h, m in columns[2:]:
                if m[n] > 1.10 * base[n] and m[n] - base[n] > 0.05:
                    slower[h].append((n, base[n], m[n]))
        print(f"{'TOTAL (weighted)':<26}" + "".join(f"{m['_total']:>16.1f}" for _, m in columns)
              + f"{base['_total'] / ours['_total']:>9.1f}x")
        print("\nspeed-up over primary keys only: " + "; ".join(
            f"{h.removesuffix(' ms')}: {base['_total'] / m['_total']:.1f}x" for h, m in columns[1:]))
        for h, found in slower.items():
            print(f"statements >10% (and >0.05 ms) slower than with primary keys only, {h.removesuffix(' ms')}: "
                  f"{found or 'none'}")
        for label, d in [("pgadvisor", doc), (f"max {args.max_slowdown}%", capped_doc)]:
            for x in ((d or {}).get("stats") or {}).get("selection", {}).get("slowed_statements") or []:
                print(f"  {label}: estimated {x['slowdown_pct']:.0f}% slower: {x['query'][:70]} ({x['why']})")
        print(f"recommendations of an index that already existed: {len(existing_again)}")
        for r in creates:
            print("  ", r["sql"])
        for n, plan in sorted(plans.items()):
            print(f"\nEXPLAIN ANALYZE of {n} ({ours[n]:.1f} ms with pgadvisor's indexes):")
            print(plan)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"columns": dict(columns), "recommendations": creates, "advise_seconds": advise_s,
                           "stats": doc["stats"], "capped_stats": (capped_doc or {}).get("stats")},
                          fh, indent=2, default=str)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()

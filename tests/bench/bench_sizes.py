"""Printed ÷ real size of every B-tree `recommend` proposes on the e-commerce fixture (issue 10).

    PYTHONPATH=. python tests/bench/bench_sizes.py [--scale 1.0] [--seconds 20]

Starts a throwaway cluster, loads the fixture (primary keys only), runs the API mix so that
pg_stat_statements holds it, asks `recommend` (the library behind the CLI) for indexes, then builds
each recommended B-tree for real (CREATE INDEX, pg_relation_size, DROP) and prints its printed size
(`cost.size_bytes`: the deduplication-aware model, pgadvisor/sizes.py), hypopg's estimate and the
real size. Goal: printed ÷ real within 0.67–1.5 for every index.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import psycopg

from pgadvisor.advise.review import recommend
from pgadvisor.collect import collect
from pgadvisor.demo_data import load_ecommerce, run_workload
from pgadvisor.pg.local import start_cluster
from pgadvisor.store import open_store
from pgadvisor.workload import load_workload

LOW, HIGH = 0.67, 1.5


def measure(dsn: str, sql: str) -> tuple[int, int]:
    """(hypopg's estimate, real bytes) of one recommended CREATE INDEX."""
    body = sql.rstrip(";").split(" ON ", 1)[1]
    with psycopg.connect(dsn, autocommit=True) as conn:
        oid = conn.execute("SELECT indexrelid FROM hypopg_create_index(%s)", (f"CREATE INDEX ON {body}",)).fetchone()[0]
        hypo = conn.execute("SELECT hypopg_relation_size(%s)", (oid,)).fetchone()[0]
        conn.execute("SELECT hypopg_reset()")
        conn.execute(f"CREATE INDEX bench_size_probe ON {body}")
        real = conn.execute("SELECT pg_relation_size('bench_size_probe')").fetchone()[0]
        conn.execute("DROP INDEX bench_size_probe")
    return int(hypo), int(real)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=20.0, help="API mix run between the snapshots")
    args = ap.parse_args()
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

"""What one index entry costs a write, in the planner's cost units: the constant behind WriteModel.

    PYTHONPATH=. python tests/bench/bench_write_cost.py [--rows 200000] [--batch 20000] [--repeats 5]

A throwaway cluster (full_page_writes on, autovacuum off), one table of `--rows` rows (fillfactor 90,
so that updates can be HOT). Server-side batches of `--batch` rows, each timed `--repeats` times
(the minimum is kept: the machine is shared, and the least disturbed run is the closest to the
work itself):
  * INSERT of random rows with 0, 1, 2 and 4 secondary B-tree indexes (random keys),
  * UPDATE of random rows by primary key of an unindexed column (HOT) and of a column with an index
    (not HOT) next to 0, 1 and 3 more secondary indexes,
  * a sequential scan of the table, whose time over its plan's total cost gives µs per cost unit,
    the unit in which the advisor weighs read benefits against write overhead.
The slopes (µs per extra index entry per row) divided by µs per cost unit are the cost units per
index entry that `WriteModel` charges (MAINT_BASE). WAL bytes per row are shown too.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg

from pgadvisor.pg.local import start_cluster

INSERT = ("INSERT INTO t (a, b, c, d, e, pad) SELECT (random()*1e6)::int, (random()*1e6)::int, (random()*1e6)::int, "
          "(random()*1e6)::int, (random()*1e6)::int, repeat('x', 80) FROM generate_series(1, %(n)s)")
UPDATE_HOT = "UPDATE t SET e = e + 1 WHERE id = ANY(%(ids)s)"
UPDATE_COLD = "UPDATE t SET a = a + 1 WHERE id = ANY(%(ids)s)"
SCAN = "SELECT count(*) FROM t WHERE e = -1"


def timed(conn, sql: str, params: dict, repeats: int, rows: int, seed_ids) -> tuple[float, float]:
    """(min µs per row, median WAL bytes per row) over `repeats` runs."""
    times, wal = [], []
    for r in range(repeats):
        p = dict(params)
        if "ids" in p:
            p["ids"] = seed_ids(r)
        lsn0 = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        t0 = time.perf_counter()
        conn.execute(sql, p)
        times.append((time.perf_counter() - t0) * 1e6 / rows)
        wal.append(float(conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (lsn0,)).fetchone()[0]))
    return min(times), statistics.median(wal) / rows


def slope(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    cluster = start_cluster(settings={"full_page_writes": "on", "autovacuum": "off"})
    import random

    rng = random.Random(1)

    def ids(_r: int) -> list[int]:
        return rng.sample(range(1, args.rows + 1), args.batch)

    try:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id serial PRIMARY KEY, a int, b int, c int, d int, e int, pad text) "
                         "WITH (fillfactor = 90)")
            conn.execute(INSERT, {"n": args.rows})
            conn.execute("VACUUM ANALYZE t")
            plan = conn.execute("EXPLAIN (FORMAT JSON) " + SCAN).fetchone()[0]
            seq_cost = plan[0]["Plan"]["Total Cost"]
            scans = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                conn.execute(SCAN)
                scans.append((time.perf_counter() - t0) * 1e6)
            us_per_unit = min(scans) / seq_cost
            ins, upd = {}, {}
            for k in (0, 1, 2, 4):
                for col in "bcde"[:k]:
                    conn.execute(f"CREATE INDEX IF NOT EXISTS t_{col} ON t ({col})")
                conn.execute("VACUUM t")
                ins[k] = timed(conn, INSERT, {"n": args.batch}, args.repeats, args.batch, ids)
            for col in "bcde":
                conn.execute(f"DROP INDEX t_{col}")
            conn.execute("VACUUM t")
            upd["hot"] = timed(conn, UPDATE_HOT, {"ids": None}, args.repeats, args.batch, ids)
            conn.execute("CREATE INDEX t_a ON t (a)")
            for k, cols in ((1, ""), (2, "b"), (4, "bcd")):
                for col in cols:
                    conn.execute(f"CREATE INDEX IF NOT EXISTS t_{col} ON t ({col})")
                conn.execute("VACUUM t")
                upd[k] = timed(conn, UPDATE_COLD, {"ids": None}, args.repeats, args.batch, ids)
        print(f"\n{args.rows} rows, batches of {args.batch}, min of {args.repeats} runs\n")
        print(f"sequential scan: {min(scans) / 1000:.2f} ms for {seq_cost:.0f} cost units = "
              f"{us_per_unit:.3f} µs per cost unit\n")
        print("| statement | secondary indexes | µs per row | WAL bytes per row |")
        print("|---|---:|---:|---:|")
        for k, (us, wal) in ins.items():
            print(f"| INSERT | {k} | {us:.2f} | {wal:.0f} |")
        for k, (us, wal) in upd.items():
            label = "UPDATE (HOT)" if k == "hot" else "UPDATE (not HOT)"
            print(f"| {label} | {0 if k == 'hot' else k} | {us:.2f} | {wal:.0f} |")
        ks = [0, 1, 2, 4]
        ins_slope = slope(ks, [ins[k][0] for k in ks])
        upd_slope = slope([1, 2, 4], [upd[k][0] for k in (1, 2, 4)])
        lost_hot = upd[1][0] - upd["hot"][0]
        print(f"\nINSERT: {ins_slope:.2f} µs per extra index entry = {ins_slope / us_per_unit:.2f} cost units")
        print(f"non-HOT UPDATE: {upd_slope:.2f} µs per extra index entry = {upd_slope / us_per_unit:.2f} cost units")
        print(f"losing HOT with one secondary index (2 entries: primary key and the index): {lost_hot:.2f} µs = "
              f"{lost_hot / us_per_unit:.2f} cost units ({lost_hot / 2 / us_per_unit:.2f} per entry)")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()

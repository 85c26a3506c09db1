"""Per-statement latency of single-row writers under new indexes, against WriteModel's estimate (issue 10).

    PYTHONPATH=. python tests/bench/bench_writer_latency.py [--rows 300000] [--seconds 3] [--rounds 6]

A throwaway cluster (full_page_writes on, autovacuum off); an `orders` table like the e-commerce
fixture's (primary key and an index on user_id, fillfactor 90 so that updates can be HOT; created_at in
insertion order, as a creation timestamp is, so that pg_stats shows its correlation and the inserts'
`now()` lands at the end of an index on it). Writers, each
a one-row statement run by pgbench (`-f` script, one client, `--seconds` each):
  * `UPDATE orders SET status = … WHERE id = …` (HOT until `status` is indexed),
  * `UPDATE orders SET total = … WHERE id = …` (never touches the new indexes: a control),
  * `INSERT INTO orders … VALUES (…)`.
Configurations of new indexes, built and dropped in turn, interleaved over `--rounds` rounds (every round
runs every configuration once, in a rotated order, so that the machine's load drifts into all of them):
none; (status); (created_at); (status) + (created_at, user_id). Measured: each statement's mean
execution time in pg_stat_statements (reset before each run: the same figure the advisor divides by),
median over the rounds; slowdown = median with ÷ median without − 1. Estimated: `WriteModel.slowdowns`
for the same indexes, with the measured time without them as the writer's mean time (as the advisor
has it from pg_stat_statements) and the measured HOT ratio. Also printed: µs per index entry implied
by the measurements, the figure behind WRITE_MS_PER_ENTRY.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile

import psycopg

from pgadvisor.advise.indexes.writes import WriteModel
from pgadvisor.advise.schema import SchemaView
from pgadvisor.indexdef import IndexDef, KeyPart
from pgadvisor.pg import catalog
from pgadvisor.pg.local import start_cluster

SETUP = """
CREATE TABLE orders (id bigserial PRIMARY KEY, user_id int NOT NULL, status text NOT NULL,
                     created_at timestamptz NOT NULL, total numeric NOT NULL, note text) WITH (fillfactor = 90);
INSERT INTO orders (user_id, status, created_at, total, note)
SELECT (random() * 50000)::int, (ARRAY['new', 'paid', 'shipped', 'delivered'])[1 + (random() * 3)::int],
       now() - (%(rows)s - g) * interval '100 seconds', round((random() * 500)::numeric, 2), md5(g::text)
  FROM generate_series(1, %(rows)s) g;
CREATE INDEX orders_user_id ON orders (user_id);
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
VACUUM ANALYZE orders;
"""
# pgbench scripts: one statement each (`:n` is the table's rows at the start)
PREFIX = {"update status": "UPDATE orders SET status", "update total": "UPDATE orders SET total",
          "insert": "INSERT INTO orders"}
WRITERS = {
    "update status": ("\\set id random(1, :n)\n\\set s random(1, 4)\n"
                      "UPDATE orders SET status = (ARRAY['new','paid','shipped','delivered'])[:s] WHERE id = :id;\n",
                      "update", frozenset({"status"})),
    "update total": ("\\set id random(1, :n)\nUPDATE orders SET total = total + 1 WHERE id = :id;\n",
                     "update", frozenset({"total"})),
    "insert": ("\\set u random(1, 50000)\nINSERT INTO orders (user_id, status, created_at, total) "
               "VALUES (:u, 'new', now(), 10);\n", "insert", None),
}
CONFIGS = {
    "none": [],
    "(status)": [("status",)],
    "(created_at)": [("created_at",)],
    "(status) + (created_at, user_id)": [("status",), ("created_at", "user_id")],
}


def idx(cols: tuple[str, ...]) -> IndexDef:
    return IndexDef("public", "orders", tuple(KeyPart(column=c, expr_columns=(c,)) for c in cols))


def run_pgbench(dsn: str, script: str, seconds: float, rows: int) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write(script)
    try:
        subprocess.run(["pgbench", "-n", "-c", "1", "-T", str(int(seconds)), "-D", f"n={rows}", "-f", fh.name, dsn],
                       check=True, capture_output=True, text=True)
    finally:
        os.unlink(fh.name)


def mean_exec_ms(conn, prefix: str) -> tuple[float, int]:
    row = conn.execute("SELECT sum(total_exec_time) / sum(calls), sum(calls) FROM pg_stat_statements "
                       "WHERE query LIKE %s", (prefix + "%",)).fetchone()
    return float(row[0] or 0), int(row[1] or 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    cluster = start_cluster(settings={"full_page_writes": "on", "autovacuum": "off"})
    try:
        dsn = cluster.create_database("w")
        with psycopg.connect(dsn, autocommit=True) as conn:
            for sql in SETUP.replace("%(rows)s", str(args.rows)).split(";"):
                if sql.strip():
                    conn.execute(sql)
            schema = catalog.read_schema(conn)
        times: dict[tuple[str, str], list[float]] = {}
        hot: list[float] = []
        names = list(CONFIGS)
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for cfg in order:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    for i, cols in enumerate(CONFIGS[cfg]):
                        conn.execute(f"CREATE INDEX bench_new_{i} ON orders ({', '.join(cols)})")
                    conn.execute("VACUUM orders")  # room for HOT updates again, the same in every run
                    for w, (script, _, _) in WRITERS.items():
                        conn.execute("SELECT pg_stat_statements_reset()")
                        before = conn.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                                              "WHERE relname = 'orders'").fetchone()
                        run_pgbench(dsn, script, args.seconds, args.rows)
                        ms, calls = mean_exec_ms(conn, PREFIX[w])
                        times.setdefault((cfg, w), []).append(ms)
                        if cfg == "none" and w == "update status":
                            after = conn.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                                                 "WHERE relname = 'orders'").fetchone()
                            upd = after[0] - before[0]
                            hot.append((after[1] - before[1]) / upd if upd else 0.0)
                    for i in range(len(CONFIGS[cfg])):
                        conn.execute(f"DROP INDEX bench_new_{i}")
            print(f"round {r + 1}/{args.rounds} done, load average {os.getloadavg()[0]:.1f}", flush=True)
        report(schema, times, statistics.median(hot) if hot else 0.9)
    finally:
        cluster.stop()


def report(schema: dict, times: dict[tuple[str, str], list[float]], hot: float) -> None:
    med = {k: statistics.median(v) for k, v in times.items()}
    view = SchemaView(schema)
    model = WriteModel(view)
    model.add_counters("public.orders", {"n_tup_upd": 1000, "n_tup_hot_upd": 1000 * hot})
    for w, (_, kind, set_cols) in WRITERS.items():
        model.add_writer("public.orders", w, kind, 1.0, set_cols, 1.0, med[("none", w)])
    print(f"\nHOT ratio of `update status` without new indexes: {hot:.2f}\n")
    print("| statement | new indexes | ms without | ms with | measured | estimated | est ÷ meas | µs per entry |")
    print("|---|---|---|---|---|---|---|---|")
    ratios = []
    for cfg, cols in CONFIGS.items():
        if not cols:
            continue
        est = model.slowdowns("public.orders", [idx(c) for c in cols])
        for w in WRITERS:
            base, with_ = med[("none", w)], med[(cfg, w)]
            meas = 100 * (with_ / base - 1)
            e = est.get(w, (0.0, ""))[0]
            indexed = {c for cc in cols for c in cc}
            if WRITERS[w][1] == "insert":
                entries = float(len(cols))
            elif WRITERS[w][2] & indexed:  # no longer HOT: every index gets an entry (2 exist)
                entries = hot * (2 + len(cols)) + (1 - hot) * len(cols)
            else:
                entries = 0.0
            per_entry = 1000 * (with_ - base) / entries if entries else float("nan")
            ratio = e / meas if meas > 0 else float("nan")
            if e > 0 and meas > 0:
                ratios.append((w, cfg, ratio))
            print(f"| {w} | {cfg} | {base:.4f} | {with_:.4f} | {meas:+.0f}% | {e:+.0f}% | {ratio:.2f} | "
                  f"{per_entry:.1f} |")
    if ratios:
        worst = max(ratios, key=lambda x: max(x[2], 1 / x[2]))
        mid = statistics.median(r for _, _, r in ratios)
        print(f"\nestimated ÷ measured where both are positive: median {mid:.2f}, "
              f"worst {worst[2]:.2f} ({worst[0]}, {worst[1]}); goal within 1/1.5–1.5")


if __name__ == "__main__":
    main()

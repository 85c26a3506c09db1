"""Write mix: does the write-aware advisor get the same read benefit with fewer indexes and less WAL?

    PYTHONPATH=. python tests/bench/bench_writemix.py [--scale 0.3] [--advise-transactions 6000] \\
        [--transactions 10000 | --seconds 30] [--repeats 3] [--json out.json]

Issue 3's goal "at equal read benefit, fewer indexes and less WAL than a write-blind greedy" on a
write-heavy pgbench mix over the e-commerce fixture schema (primary keys only to start with).

1. A throwaway cluster (pg_stat_statements, JSON statement log for the advisor's samples,
   full_page_writes on as on a real server, autovacuum off so that each run's WAL is its own),
   the fixture at `--scale`.
2. pgbench scripts written to a temp dir, one per statement: ~80% writes (the fixture's checkout,
   order status updates, cart inserts/deletes, plus product popularity and price updates and
   sign-ups) and ~20% reads (the fixture's read statements, with their relative weights). Parameter
   values come from the fixture's own generators: each script draws one of `--param-sets`
   pre-generated sets with a `SELECT ... \\gset` (a statement that reads no table, ignored by the
   advisor) and runs the statement with pgbench's bind parameters (`-M prepared`).
3. The mix runs `--advise-transactions` per client (pgbench -t, --random-seed: the same window every
   time) between two `collect` snapshots into a temp SQLite store;
   then `recommend` exactly as `pgadvisor recommend --store --dsn` calls it (statements, window,
   per-table writes) twice: write-aware (the product) and write-blind (`write_aware=False`, the
   same greedy without its write model).
4. Three copies of the database (CREATE DATABASE ... TEMPLATE): primary keys only, the write-blind
   set, the write-aware set. `--repeats` rounds, each running the same mix on each copy in turn
   (VACUUM, CHECKPOINT, then pgbench -c 2 -j 2, `--transactions` per client with the same
   --random-seed everywhere, or `--seconds`), measuring WAL (pg_current_wal_lsn
   difference and pg_stat_wal), TPS, HOT updates and the read statements' time in the mix
   (pg_stat_statements of that database). Afterwards the read statements alone are timed on each
   copy (measure_workload, warm medians, same parameters): the read benefit, measured the same way
   for both sets. Medians over the rounds are printed as markdown tables.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from pgadvisor.advise.review import recommend
from pgadvisor.collect import collect
from pgadvisor.demo_data import (
    ParamContext,
    WorkloadEntry,
    load_ecommerce,
    load_workload_file,
    measure_workload,
    parse_param_spec,
)
from pgadvisor.fleet import with_log_samples
from pgadvisor.pg.local import JSONLOG_SETTINGS, start_cluster
from pgadvisor.store import open_store
from pgadvisor.workload import load_workload

# the write side of the mix (share of transactions, in %): fixture statements by name, plus these
EXTRA_WRITES = [
    ("product_popularity", "UPDATE products SET popularity = popularity + 1 WHERE id = $1", ["pow:products:2"]),
    ("product_price", "UPDATE products SET price = round(price * $2::numeric, 2) WHERE id = $1",
     ["pow:products:2", "choice:0.95,0.98,1.02,1.05"]),
    ("new_user", "INSERT INTO users (email, name, country) VALUES ($1, $2, $3)",
     ["email", "const:New Customer", "choice:US*4,GB*2,DE*2,FR,IN,CA,BR"]),
]
WRITE_SHARES = {
    "checkout": 20,  # orders + order_items inserts
    "update_order_status": 14,
    "fulfil_next_order": 4,
    "product_popularity": 18,
    "product_price": 4,
    "add_to_cart": 10,
    "remove_from_cart": 5,
    "clear_cart": 3,
    "new_user": 2,
}
READ_SHARE = 20  # % of transactions, split over the fixture's read statements by their weights
CONFIGS = ("pk_only", "write_blind", "write_aware")


def mix_entries() -> tuple[list[tuple[WorkloadEntry, float]], object]:
    spec = load_workload_file()
    by_name = {e.name: e for e in spec.entries}
    for name, text, params in EXTRA_WRITES:
        by_name[name] = WorkloadEntry(name, text, 1.0, tuple(parse_param_spec(p) for p in params), True)
    reads = [e for e in spec.entries if not e.writes]
    read_weight = sum(e.weight for e in reads)
    mix = [(by_name[n], float(s)) for n, s in WRITE_SHARES.items()]
    mix += [(e, READ_SHARE * e.weight / read_weight) for e in reads]
    return mix, spec


def _literal(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


def write_scripts(outdir: Path, mix, ctx: ParamContext, sets: int, seed: int) -> list[tuple[Path, int]]:
    """One pgbench script per statement; weights in thousandths of the mix."""
    out = []
    for entry, share in mix:
        rng = random.Random(f"{seed}:{entry.name}")
        lines = []
        if entry.params:
            values = [entry.make_params(rng, ctx) for _ in range(sets)]
            cols = [
                f"(ARRAY[{', '.join(_literal(v[k]) for v in values)}]::text[])[:i] AS p{k + 1}"
                for k in range(len(entry.params))
            ]
            lines += [f"\\set i random(1, {sets})", "SELECT " + ", ".join(cols) + " \\gset"]
        body = re.sub(r"\$(\d+)", r":p\1", entry.sql.strip().rstrip(";"))
        lines.append(" ".join(body.split()) + ";")
        path = outdir / f"{entry.name}.sql"
        path.write_text("\n".join(lines) + "\n")
        out.append((path, max(1, round(share * 10))))
    return out


def pgbench(cluster, db: str, scripts, seconds: float | None = None, clients: int = 2,
            transactions: int | None = None, seed: int | None = None) -> dict:
    """`-T seconds`, or `-t transactions` per client (with `--random-seed`: the same mix every time)."""
    length = ["-T", str(int(seconds))] if transactions is None else ["-t", str(transactions)]
    args = [str(cluster.bindir / "pgbench"), "-n", "-M", "prepared", "-c", str(clients), "-j", str(clients),
            *length, "-h", str(cluster.sockdir), "-p", str(cluster.port), "-U", "postgres"]
    if seed is not None:
        args.append(f"--random-seed={seed}")
    for path, w in scripts:
        args += ["-f", f"{path}@{w}"]
    res = subprocess.run(args + [db], capture_output=True, text=True, timeout=(seconds or 0) + 1800)
    txs = re.search(r"number of transactions actually processed: (\d+)", res.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", res.stdout)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", res.stdout)
    if res.returncode != 0 or not txs:
        raise RuntimeError(f"pgbench failed ({res.returncode}): {res.stderr[-2000:]} {res.stdout[-1000:]}")
    return {"transactions": int(txs.group(1)), "tps": float(tps.group(1)) if tps else 0.0,
            "failed": int(failed.group(1)) if failed else 0, "aborted": "aborted" in res.stderr}


TABLE_STATS = ("SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables")
PGSS = ("SELECT query, calls, total_exec_time FROM pg_stat_statements "
        "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())")


def pgss(conn) -> dict[str, tuple[int, float]]:
    out: dict[str, tuple[int, float]] = {}
    for q, c, t in conn.execute(PGSS):
        a = out.get(q, (0, 0.0))
        out[q] = (a[0] + c, a[1] + t)
    return out


def is_read(text: str) -> bool:
    t = text.lstrip().upper()
    return t.startswith("SELECT") and not t.startswith("SELECT (ARRAY[") and "PG_" not in t


def measure_run(cluster, db: str, scripts, seconds: float | None, transactions: int | None, seed: int) -> dict:
    dsn = cluster.dsn(db)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM")
        conn.execute("CHECKPOINT")
        conn.execute("SELECT pg_stat_reset_shared('wal')")
        conn.execute("SELECT pg_stat_clear_snapshot()")
        lsn0 = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        t0 = {r[0]: r[1:] for r in conn.execute(TABLE_STATS)}
        q0 = pgss(conn)
    run = pgbench(cluster, db, scripts, seconds, transactions=transactions, seed=seed)
    time.sleep(0.6)  # table counters are flushed by backends at most every 0.5 s... and at exit
    with psycopg.connect(dsn, autocommit=True) as conn:
        lsn_bytes = float(conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (lsn0,)).fetchone()[0])
        wal = conn.execute("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal").fetchone()
        t1 = {r[0]: r[1:] for r in conn.execute(TABLE_STATS)}
        q1 = pgss(conn)
    n = max(1, run["transactions"])
    d = {t: [a - b for a, b in zip(t1[t], t0.get(t, (0, 0, 0, 0)))] for t in t1}
    upd = sum(v[1] for v in d.values())
    hot = sum(v[2] for v in d.values())
    read_ms = sum(t - q0.get(q, (0, 0.0))[1] for q, (_, t) in q1.items() if is_read(q))
    read_calls = sum(c - q0.get(q, (0, 0.0))[0] for q, (c, _) in q1.items() if is_read(q))
    return {
        **run,
        "wal_per_tx": lsn_bytes / n,
        "wal_stat_per_tx": float(wal[2]) / n,
        "fpi_per_tx": float(wal[1]) / n,
        "hot_ratio": hot / upd if upd else 0.0,
        "hot_products": d["products"][2] / d["products"][1] if d["products"][1] else 0.0,
        "hot_orders": d["orders"][2] / d["orders"][1] if d["orders"][1] else 0.0,
        "read_ms_per_call": read_ms / read_calls if read_calls else 0.0,
        "read_calls": read_calls,
    }


def read_benefit(cluster, mix, max_ids, repeats: int, passes: int) -> dict[str, dict[str, float]]:
    """Warm median ms per read statement on each copy (measure_workload, same parameters everywhere);
    `passes` passes over the copies in turn, the fastest pass per statement is kept (the machine is
    shared: the least disturbed pass is the closest to the work itself). `_total` = Σ weight × ms."""
    weights = {e.name: e.weight for e, _ in mix if not e.writes}
    out: dict[str, dict[str, float]] = {}
    for _ in range(passes):
        for cfg in CONFIGS:
            m = measure_workload(cluster.dsn(cfg), repeats=repeats, calls_per_entry=10, include_writes=False,
                                 max_ids=max_ids)
            prev = out.setdefault(cfg, {})
            for n in weights:
                prev[n] = min(prev.get(n, float("inf")), m[n])
    for m in out.values():
        m["_total"] = sum(weights[n] * m[n] for n in weights)
    return out


def estimated_read_cost(dsn: str, mix) -> float:
    """Σ weight × generic-plan cost of the read statements with the real indexes (the planner's estimate)."""
    from pgadvisor.pg.explain import explain_generic
    from pgadvisor.pg.guard import CodeGuard

    total = 0.0
    with psycopg.connect(dsn) as conn:
        for e, _ in mix:
            if not e.writes:
                plan = explain_generic(conn, e.sql, CodeGuard())  # the bench's own statements
                if plan is None:
                    raise RuntimeError(f"cannot plan {e.name}")
                total += e.weight * plan[0]["Plan"]["Total Cost"]
        conn.rollback()
    return total


def index_info(dsn: str) -> list[tuple[str, int]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT i.indexrelid::regclass::text, pg_relation_size(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND NOT i.indisprimary AND NOT i.indisunique ORDER BY 1"
        ).fetchall()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.3)
    ap.add_argument("--advise-transactions", type=int, default=6000,
                    help="transactions per client (of 2) between the two snapshots, the advisor's window")
    ap.add_argument("--transactions", type=int, default=10000,
                    help="each measured run: this many transactions per client (of 2), the same sequence "
                         "(--random-seed) on every copy, so WAL per transaction compares the same work")
    ap.add_argument("--seconds", type=float, default=None,
                    help="each measured run lasts this long instead (a faster copy then runs more transactions "
                         "after the same CHECKPOINT, which lowers its full-page-image WAL per transaction)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--param-sets", type=int, default=64, help="pre-generated parameter sets per statement")
    ap.add_argument("--read-repeats", type=int, default=3, help="measure_workload repeats for the read benefit")
    ap.add_argument("--read-passes", type=int, default=2, help="passes over the copies for the read benefit")
    ap.add_argument("--advise-only", action="store_true", help="print the two index sets, measure nothing")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args()
    if args.seconds:
        args.transactions = None

    settings = {**JSONLOG_SETTINGS, "full_page_writes": "on", "autovacuum": "off"}
    cluster = start_cluster(settings=settings)
    tmp = Path(tempfile.mkdtemp(prefix="writemix-"))
    try:
        dsn = cluster.create_database("shop", ("pg_stat_statements", "hypopg"))
        t0 = time.monotonic()
        load = load_ecommerce(dsn, args.scale)
        max_ids = load["rows"]
        print(f"loaded scale {args.scale} in {time.monotonic() - t0:.1f} s: {max_ids}")
        mix, spec = mix_entries()
        ctx = ParamContext(anchor=spec.anchor, max_ids={k: int(v) for k, v in max_ids.items()})
        scripts = write_scripts(tmp, mix, ctx, args.param_sets, args.seed)
        w_share = sum(s for e, s in mix if e.writes)
        print(f"mix: {len(scripts)} scripts, {w_share:.0f}% writes, {100 - w_share:.0f}% reads")

        store = str(tmp / "store.sqlite")

        def snap(st, plans_top=20):
            s = collect(dsn, "shop", plans_top=plans_top)
            return with_log_samples(s, str(cluster.logdir), st.log_offsets("shop"))

        with open_store(store) as st:
            st.save_snapshot(snap(st, 0))
            run = pgbench(cluster, "shop", scripts, transactions=args.advise_transactions, seed=args.seed)
            time.sleep(0.6)
            st.save_snapshot(snap(st))
            print(f"advise window: {run['transactions']} transactions, {run['tps']:.1f} tps, "
                  f"{run['failed']} failed")
            w = load_workload(st, "shop", since=time.time() - 86400)
        writes = w.table_writes
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:  # stop logging every statement
            conn.execute("ALTER SYSTEM SET log_min_duration_statement = -1")
            conn.execute("SELECT pg_reload_conf()")
        print("table writes in the window: " + ", ".join(
            f"{t.split('.')[-1]} ins {v['n_tup_ins']:.0f} upd {v['n_tup_upd']:.0f} hot {v['n_tup_hot_upd']:.0f} "
            f"del {v['n_tup_del']:.0f}" for t, v in sorted(writes.items()) if any(v.values())))

        docs, sets = {}, {}
        for name, aware in (("write_aware", True), ("write_blind", False)):
            t0 = time.monotonic()
            docs[name] = recommend(dsn, workload=w, write_aware=aware).to_document()
            creates = [r for r in docs[name]["recommendations"] if r["rule"] == "create-index"]
            sets[name] = [r["sql"].replace(" CONCURRENTLY", "") for r in creates]
            sel = docs[name]["stats"].get("selection", {})
            print(f"{name}: {len(creates)} indexes in {time.monotonic() - t0:.1f} s; estimated read cost "
                  f"{sel.get('final_read_cost')} of {sel.get('baseline_cost')}, write cost {sel.get('write_cost')}")
        sets["pk_only"] = []
        if args.advise_only:
            for cfg in ("write_blind", "write_aware"):
                print(f"\n{cfg} indexes:\n    " + "\n    ".join(sets[cfg]))
            return

        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            for cfg in CONFIGS:
                conn.execute(f"CREATE DATABASE {cfg} TEMPLATE shop")
        for cfg in CONFIGS:
            with psycopg.connect(cluster.dsn(cfg), autocommit=True) as conn:
                for s in sets[cfg]:
                    conn.execute(s)
                conn.execute("VACUUM ANALYZE")
        sizes = {cfg: index_info(cluster.dsn(cfg)) for cfg in CONFIGS}

        runs: dict[str, list[dict]] = {cfg: [] for cfg in CONFIGS}
        for r in range(args.repeats):
            order = CONFIGS[r % 3:] + CONFIGS[: r % 3]  # rotate so no configuration always runs first
            for cfg in order:
                res = measure_run(cluster, cfg, scripts, args.seconds, args.transactions, args.seed + 1)
                runs[cfg].append(res)
                print(f"round {r + 1} {cfg}: {res['transactions']} tx, {res['tps']:.1f} tps, "
                      f"{res['wal_per_tx']:.0f} WAL B/tx, HOT {res['hot_ratio']:.2f}, "
                      f"read {res['read_ms_per_call']:.3f} ms/call, failed {res['failed']}")

        reads = read_benefit(cluster, mix, max_ids, args.read_repeats, args.read_passes)
        est = {cfg: estimated_read_cost(cluster.dsn(cfg), mix) for cfg in CONFIGS}

        def med(cfg, key):
            return statistics.median(x[key] for x in runs[cfg])

        load_avg = Path("/proc/loadavg").read_text().split()[:3]
        length = f"{args.seconds:.0f} s" if args.seconds else f"2 x {args.transactions} transactions"
        print(f"\nscale {args.scale}, {args.repeats} rounds of {length} per configuration, "
              f"pgbench -c 2 -j 2 -M prepared; load average at the end {' '.join(load_avg)}\n")
        print("| configuration | indexes | index size MB | TPS | WAL bytes/tx | pg_stat_wal bytes/tx | "
              "FPI/tx | HOT ratio | HOT products | HOT orders | read ms/call in mix | read mix ms (measured) | "
              "read mix est. cost |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for cfg in CONFIGS:
            print(f"| {cfg} | {len(sets[cfg])} | {sum(s for _, s in sizes[cfg]) / 2**20:.1f} | {med(cfg, 'tps'):.1f} | "
                  f"{med(cfg, 'wal_per_tx'):.0f} | {med(cfg, 'wal_stat_per_tx'):.0f} | {med(cfg, 'fpi_per_tx'):.2f} | "
                  f"{med(cfg, 'hot_ratio'):.3f} | {med(cfg, 'hot_products'):.3f} | {med(cfg, 'hot_orders'):.3f} | "
                  f"{med(cfg, 'read_ms_per_call'):.3f} | {reads[cfg]['_total']:.2f} | {est[cfg]:.0f} |")
        a, b, p = "write_aware", "write_blind", "pk_only"
        print(f"\nwrite-aware vs write-blind: indexes {len(sets[a])} vs {len(sets[b])}; "
              f"WAL/tx {med(a, 'wal_per_tx') / med(b, 'wal_per_tx'):.3f}x; "
              f"read mix speed-up over PK only {reads[p]['_total'] / reads[a]['_total']:.1f}x vs "
              f"{reads[p]['_total'] / reads[b]['_total']:.1f}x (measured), "
              f"{est[p] / est[a]:.1f}x vs {est[p] / est[b]:.1f}x (estimated)")
        names = sorted(k for k in reads[p] if not k.startswith("_"))
        print("\n| read statement | PK only ms | write-blind ms | write-aware ms |")
        print("|---|---:|---:|---:|")
        for n in names:
            print(f"| {n} | {reads[p][n]:.3f} | {reads[b][n]:.3f} | {reads[a][n]:.3f} |")
        for cfg in ("write_blind", "write_aware"):
            print(f"\n{cfg} indexes:")
            for s in sets[cfg]:
                print("   ", s)
            for name, size in sizes[cfg]:
                print(f"    {name}: {size / 2**20:.1f} MB")
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"args": vars(args), "sets": sets, "estimated_read_cost": est, "sizes": sizes, "runs": runs,
                           "reads": reads,
                           "writes": writes, "stats": {k: d["stats"] for k, d in docs.items()},
                           "recommendations": {k: d["recommendations"] for k, d in docs.items()},
                           "load_average": load_avg}, fh, indent=2, default=str)
    finally:
        cluster.stop()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

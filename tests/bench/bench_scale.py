"""Scale benchmark of `pgadvisor recommend` (issue 3: 5,000 distinct statements over 300 tables ≤ 2 min).

Run on purpose (not collected by pytest); needs local PostgreSQL binaries with hypopg:

    python tests/bench/bench_scale.py                                  # 5,000 statements, 300 tables
    python tests/bench/bench_scale.py --statements 1000 --tables 100   # a quicker look
    python tests/bench/bench_scale.py --pg-dir /tmp/pgadvisor-bench/pg-scale --keep-running  # re-usable
    python tests/bench/bench_scale.py --profile /tmp/scale.prof        # cProfile of the recommend call

1. A throwaway cluster (pgadvisor.pg.local; with --pg-dir it is kept and re-used, data and store
   included), one database with `--tables` tables of `--rows` rows each (int, timestamptz and text
   columns), ANALYZEd; hypopg and pg_stat_statements.
2. `--statements` distinct statement shapes (point and range reads, ORDER BY … LIMIT, GROUP BY,
   two-table joins, UPDATEs by primary key), each run 1–`--max-calls` times with literal constants,
   so that pg_stat_statements holds them as `$n` texts with call counts. A snapshot before and one
   after (`pgadvisor.collect`) go into a temporary SQLite store; the statements are read back with
   `pgadvisor.workload.load_workload`, as `pgadvisor recommend --store … --dsn …` does.
3. The timed part is exactly the CLI's library call, `pgadvisor.advise.review.recommend` (index and
   drop advisors), with the advisor's defaults unless --time-limit/--max-indexes/--budget are given.
   Printed: a markdown table with the phases' seconds (as the advisor reports them in
   stats["phases"]), what-if calls, cache hits, recommendations, relative cost, peak RSS and the load
   average (the machine may be shared: timings are only comparable at a similar load).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import platform
import random
import resource
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench import tpc  # noqa: E402

DBNAME = "scale"
COLS = "abcdef"


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


class _Zero(random.Random):
    """Constants fixed at their lowest value: a statement's text up to its constants (its pg_stat_statements entry)."""

    def randint(self, a: int, b: int) -> int:
        return a

    def getrandbits(self, k: int) -> int:
        return 0


def statement_shapes(n: int, tables: int, seed: int) -> list[tuple[int, str, str, int]]:
    """`n` (form, x, y, table) shapes with distinct texts up to constants: distinct pg_stat_statements entries."""
    r = random.Random(seed)
    out: dict[str, tuple[int, str, str, int]] = {}
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 50 * n:
            raise SystemExit(f"cannot make {n} distinct statements over {tables} tables")
        x, y = r.sample(COLS, 2)
        form, t = r.randrange(len(FORMS)), r.randrange(tables)
        out.setdefault(FORMS[form](t, (t + 1) % tables, x, y, _Zero()), (form, x, y, t))
    return sorted(out.values())


# each form is given (table, other table, x, y, r) and returns a statement with literal constants
FORMS = [
    lambda t, u, x, y, r: f"SELECT * FROM t{t} WHERE {x} = {val(x, r)}",
    lambda t, u, x, y, r: f"SELECT id, {y} FROM t{t} WHERE {x} = {val(x, r)} AND {y} > {val(y, r)}",
    lambda t, u, x, y, r: f"SELECT * FROM t{t} WHERE {x} = {val(x, r)} ORDER BY {y} DESC LIMIT 10",
    lambda t, u, x, y, r: f"SELECT count(*) FROM t{t} WHERE {x} >= {val(x, r)} AND {x} < {val(x, r)}",
    lambda t, u, x, y, r: f"UPDATE t{t} SET {y} = {val(y, r)} WHERE id = {r.randint(1, 3000)}",
    lambda t, u, x, y, r: f"SELECT p.id, q.e FROM t{t} p JOIN t{u} q ON q.a = p.id WHERE p.{x} = {val(x, r)}",
    lambda t, u, x, y, r: f"SELECT {x}, count(*) FROM t{t} WHERE {y} = {val(y, r)} GROUP BY {x}",
]


def val(col: str, r: random.Random) -> str:
    if col == "d":
        return f"'2026-01-{r.randint(1, 28):02d}'::timestamptz"
    if col == "e":
        return f"'{r.getrandbits(64):016x}'"
    return str(r.randint(0, 3000))


def setup(cluster, args) -> str:
    admin = cluster.dsn("postgres")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {DBNAME} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {DBNAME}")
    dsn = cluster.dsn(DBNAME)
    t0 = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE EXTENSION hypopg")
        c.execute("CREATE EXTENSION pg_stat_statements")
        for i in range(args.tables):
            # no autovacuum: statistics stay those of the ANALYZE after the workload (runs are comparable)
            c.execute(f"CREATE TABLE t{i} (id serial PRIMARY KEY, a int, b int, c int, d timestamptz, e text, f int) "
                      "WITH (autovacuum_enabled = off)")
            c.execute(
                f"INSERT INTO t{i} (a, b, c, d, e, f) SELECT g % 50, g % 1000, (g * 7) % 3000, "
                f"timestamptz '2026-01-31' - make_interval(mins => g * {1 + i % 13}), md5(g::text), g % 7 "
                f"FROM generate_series(1, {args.rows}) g"
            )
        c.execute("ANALYZE")
        # a throwaway cluster: forget the statements of earlier runs (of a dropped database), which would
        # otherwise fill pg_stat_statements.max and evict this run's statements
        c.execute("SELECT pg_stat_statements_reset()")
    log(f"{args.tables} tables × {args.rows} rows loaded and analyzed in {time.monotonic() - t0:.0f}s")
    return dsn


def run_workload(dsn: str, store_path: Path, args) -> None:
    from pgadvisor.collect import collect
    from pgadvisor.store import open_store

    with open_store(str(store_path)) as st:
        st.save_snapshot(collect(dsn, "scale", plans_top=0))
    r = random.Random(args.seed)
    shapes = statement_shapes(args.statements, args.tables, args.seed)
    t0 = time.monotonic()
    runs = 0
    with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as c:
        c.execute("SET statement_timeout = '10s'")
        for form, x, y, t in shapes:
            # call counts from a skewed distribution: a few hot statements, a long tail
            calls = min(args.max_calls, max(1, int(r.paretovariate(1.2))))
            for _ in range(calls):
                c.execute(FORMS[form](t, (t + 1) % args.tables, x, y, r))
                runs += 1
    log(f"{len(shapes)} statements, {runs} executions in {time.monotonic() - t0:.0f}s")
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("ANALYZE")
    with open_store(str(store_path)) as st:
        st.save_snapshot(collect(dsn, "scale", plans_top=0))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--statements", type=int, default=5000)
    ap.add_argument("--tables", type=int, default=300)
    ap.add_argument("--rows", type=int, default=3000, help="rows per table")
    ap.add_argument("--max-calls", type=int, default=20, help="calls of the hottest statements (the tail: 1)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pg-dir", type=Path, default=None,
                    help="keep the cluster, data and store here and re-use them (default: a throwaway cluster)")
    ap.add_argument("--keep-running", action="store_true", help="leave the --pg-dir cluster running")
    ap.add_argument("--time-limit", default=None,
                    help="recommend's time limit, e.g. 90s, or none (default: recommend's default)")
    ap.add_argument("--max-indexes", type=int, default=None)
    ap.add_argument("--budget", default=None, help="storage budget, e.g. 500MB")
    ap.add_argument("--repeat", type=int, default=1, help="time the recommend call this many times")
    ap.add_argument("--profile", type=Path, default=None, help="write a cProfile of the recommend call here")
    ap.add_argument("--json", type=Path, default=None, help="write the recommend document(s) here")
    args = ap.parse_args()

    from pgadvisor.advise.review import recommend
    from pgadvisor.pg.local import start_cluster
    from pgadvisor.store import open_store
    from pgadvisor.units import parse_duration, parse_size
    from pgadvisor.workload import load_workload, pick_server

    kwargs = {}
    if args.time_limit is not None:
        kwargs["time_limit_s"] = None if args.time_limit == "none" else parse_duration(args.time_limit)
    if args.max_indexes is not None:
        kwargs["max_indexes"] = args.max_indexes
    if args.budget is not None:
        kwargs["budget_bytes"] = parse_size(args.budget)

    marker = f"v5-{args.statements}-{args.tables}-{args.rows}-{args.max_calls}-{args.seed}"
    if args.pg_dir is not None:
        if (args.pg_dir / "data" / "postmaster.pid").exists():  # left running by --keep-running: restart it
            from pgadvisor.pg.local import LocalCluster, find_bindir

            run_as = "postgres" if os.geteuid() == 0 else None
            LocalCluster(bindir=find_bindir(), root=args.pg_dir, port=0, run_as=run_as).stop(remove=False)
        cluster = tpc.open_cluster(args.pg_dir, log=log)
        store_path = args.pg_dir / "scale-store.sqlite"
    else:
        cluster = start_cluster()
        store_path = cluster.root / "scale-store.sqlite"
    ready = store_path.with_suffix(".ready")
    try:
        dsn = cluster.dsn(DBNAME)
        if not (ready.exists() and ready.read_text() == marker):
            store_path.unlink(missing_ok=True)
            setup(cluster, args)
            run_workload(dsn, store_path, args)
            ready.write_text(marker)
        else:
            log(f"re-using the database and store in {args.pg_dir} ({marker})")
        with open_store(str(store_path), read_only=True) as st:
            w = load_workload(st, pick_server(st, None), since=time.time() - 7 * 86400)
        log(f"{len(w.statements)} statements from pg_stat_statements (via the store)")
        rows, docs = [], []
        for _ in range(args.repeat):
            load_before = os.getloadavg()
            prof = cProfile.Profile() if args.profile else None
            t0 = time.monotonic()
            if prof:
                prof.enable()
            doc = recommend(dsn, workload=w, **kwargs).to_document()
            if prof:
                prof.disable()
                prof.dump_stats(str(args.profile))
                log(f"profile: {args.profile} (python -m pstats {args.profile})")
            seconds = time.monotonic() - t0
            load_after = os.getloadavg()
            docs.append(doc)
            rows.append(row(doc, seconds, load_before, load_after, args))
    finally:
        if args.pg_dir is None:
            cluster.stop()
        elif not args.keep_running:
            cluster.stop(remove=False)
    if args.json:
        args.json.write_text(json.dumps(docs, indent=1, default=str))
    print(f"\n{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.node()}, {os.cpu_count()} CPUs; "
          f"options: {' '.join(sys.argv[1:]) or '(defaults)'}\n")
    heads = list(rows[0])
    print("| " + " | ".join(heads) + " |")
    print("|" + "|".join("---" for _ in heads) + "|")
    for r in rows:
        print("| " + " | ".join(str(r[h]) for h in heads) + " |")
    stopped = docs[-1]["stats"].get("selection", {}).get("stopped")
    sel = docs[-1]["stats"].get("selection", {})
    print(f"\nsearch stopped: {stopped}; time limit: {sel.get('time_limit_s')} s, cut: {sel.get('time_limit_hit')}; "
          f"runs: " + "; ".join(f"{k} {v.get('seconds')} s, {v.get('steps')} steps, {v.get('stopped')}"
                               for k, v in sel.get("runs", {}).items()))
    print(f"what-if calls by phase: {docs[-1]['stats'].get('phase_whatif_calls')}; "
          f"search moves: {docs[-1]['stats'].get('search_moves')}")


def row(doc: dict, seconds: float, load_before, load_after, args) -> dict:
    s = doc["stats"]
    ph = s.get("phases", {})
    sel = s.get("selection", {})
    creates = [r for r in doc["recommendations"] if r["rule"] == "create-index"]

    def p(*names: str) -> str:
        return f"{sum(ph.get(n, 0.0) for n in names):.1f}"

    return {
        "statements": s["statements"]["total"],
        "considered": s["statements"]["considered"],
        "tables": args.tables,
        "total s": f"{seconds:.1f}",
        "parse s": p("prepare"),
        "baseline s": p("baseline"),
        "candidates + screening s": p("candidates", "screening"),
        "search s": p("search"),
        "report s": p("report"),
        "what-if calls": s.get("whatif_calls"),
        "cache hits": s.get("cache_hits"),
        "screened in": s.get("candidates", {}).get("screened_in"),
        "new indexes": len(creates),
        "relative cost": sel.get("relative_cost"),
        "stopped": "time limit" if "time limit" in (sel.get("stopped") or "") else "done",
        "peak RSS MB": f"{peak_rss_mb():.0f}",
        "load avg (1 min) before/after": f"{load_before[0]:.1f}/{load_after[0]:.1f}",
    }


if __name__ == "__main__":
    main()

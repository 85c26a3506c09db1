"""Benchmark `pgadvisor collect` against a server with 2,000 tables and 5,000 distinct statements.

Run on purpose (not collected by pytest):

    python tests/bench/bench_collect.py [--runs 5] [--tables 2000] [--statements 5000]

It starts a throwaway cluster, builds the schema and the workload, then measures

* the real CLI in a subprocess (`python -m pgadvisor collect`): wall seconds and max RSS
  (`/usr/bin/time -f %M`), for a first snapshot, snapshots where nothing changed and snapshots
  where 10% of the statements ran again in between;
* store growth per snapshot (SQLite store after a WAL checkpoint: file bytes, used pages, and per
  table/index via the `dbstat` virtual table);
* in process: `collect()` split by phase (statements / schema / plans) and `Store.save_snapshot()`;
* a cProfile of one in-process collect + save (top functions by cumulative time).

Goals (issue 2): <= 2 s per snapshot, <= 150 MB peak memory, <= 10 KB growth when nothing changed.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pgadvisor.collect import collect  # noqa: E402
from pgadvisor.pg.local import start_cluster  # noqa: E402
from pgadvisor.store import open_store  # noqa: E402

SERVER = "bench"


# -- server set-up -------------------------------------------------------------------------------------
def build_schema(dsn: str, tables: int, rows: int) -> float:
    """`tables` tables (5 columns, a primary key, every 5th an extra index), `rows` rows each, VACUUM ANALYZE."""
    t0 = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute(
            f"""
            DO $$
            BEGIN
              FOR i IN 0..{tables - 1} LOOP
                EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, a int NOT NULL, b text, c int, '
                               'd timestamptz NOT NULL DEFAULT now())', i);
                EXECUTE format('INSERT INTO t%s (id, a, b, c) SELECT g, g %% 17, ''v'' || (g %% 50), g * 3 '
                               'FROM generate_series(1, {rows}) g', i);
                IF i % 5 = 0 THEN
                  EXECUTE format('CREATE INDEX t%s_a ON t%s (a)', i, i);
                END IF;
              END LOOP;
            END $$"""
        )
        conn.execute("VACUUM (ANALYZE)")
    return time.perf_counter() - t0


def statement_set(n: int, tables: int) -> list[tuple[str, tuple]]:
    """`n` structurally distinct statements (different tables, columns, predicates, shapes)."""
    templates = [
        ("SELECT id, a, b FROM t{i} WHERE a = %s", lambda r: (r.randint(0, 16),)),
        ("SELECT count(*) FROM t{i} WHERE c > %s AND b IS NOT NULL", lambda r: (r.randint(0, 300),)),
        (
            "SELECT x.id, y.b FROM t{i} x JOIN t{j} y ON y.id = x.id WHERE x.b = %s ORDER BY x.id DESC LIMIT 10",
            lambda r: (f"v{r.randint(0, 49)}",),
        ),
        ("SELECT b, max(c) FROM t{i} WHERE d < now() GROUP BY b ORDER BY 2 DESC LIMIT %s", lambda r: (5,)),
    ]
    if n > tables * len(templates):
        raise SystemExit(f"--statements: at most {tables * len(templates)} distinct statements for {tables} tables")
    out = []
    for k in range(n):
        sql, args = templates[k // tables]
        i = k % tables
        out.append((sql.format(i=i, j=(i + 1) % tables), args))
    return out


def run_statements(dsn: str, stmts: list[tuple[str, tuple]], calls: list[int], seed: int) -> float:
    rnd = random.Random(seed)
    t0 = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for (sql, args), n in zip(stmts, calls):
            for _ in range(n):
                conn.execute(sql, args(rnd)).fetchall()
    return time.perf_counter() - t0


def pgss_count(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone()[0]


# -- store measurement ----------------------------------------------------------------------------------
def store_size(path: Path) -> dict:
    """Bytes of the store after a WAL checkpoint: file, used pages, and per table/index (dbstat)."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        pages = con.execute("PRAGMA page_count").fetchone()[0]
        free = con.execute("PRAGMA freelist_count").fetchone()[0]
        per = dict(con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
        payload = dict(con.execute("SELECT name, sum(payload) FROM dbstat GROUP BY name").fetchall())
    finally:
        con.close()
    wal = Path(str(path) + "-wal")
    return {
        "file": path.stat().st_size + (wal.stat().st_size if wal.exists() else 0),
        "used": (pages - free) * page_size,
        "per": per,
        "payload": sum(payload.values()),
    }


def growth(before: dict, after: dict) -> dict:
    per = {k: after["per"].get(k, 0) - before["per"].get(k, 0) for k in set(after["per"]) | set(before["per"])}
    return {
        "file": after["file"] - before["file"],
        "used": after["used"] - before["used"],
        "payload": after["payload"] - before["payload"],
        "per": {k: v for k, v in per.items() if v},
    }


# -- CLI runs -------------------------------------------------------------------------------------------
def cli_collect(dsn: str, store: Path) -> dict:
    """One `pgadvisor collect` in a subprocess: wall seconds, max RSS (KB) and its JSON result."""
    cmd = ["/usr/bin/time", "-f", "MAXRSS_KB=%M", sys.executable, "-m", "pgadvisor", "collect",
           "--dsn", dsn, "--store", str(store), "--name", SERVER, "--format", "json"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"collect failed ({res.returncode}): {res.stderr.strip()}")
    rss = int(next(line for line in res.stderr.splitlines() if line.startswith("MAXRSS_KB=")).split("=")[1])
    import json

    doc = json.loads(res.stdout)
    return {"wall": wall, "rss_kb": rss, "result": doc["results"][0]}


def fmt_bytes(n: float) -> str:
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{sign}{n:.0f} {unit}" if unit == "B" else f"{sign}{n:.1f} {unit}"
        n /= 1024
    return f"{n}"


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="snapshots per measured case (median reported)")
    ap.add_argument("--tables", type=int, default=2000)
    ap.add_argument("--rows", type=int, default=100, help="rows per table")
    ap.add_argument("--statements", type=int, default=5000)
    ap.add_argument("--changed", type=float, default=0.10, help="fraction of statements run between snapshots")
    ap.add_argument("--profile", default=None, help="write the cProfile stats of one in-process snapshot here")
    args = ap.parse_args()

    cluster = start_cluster(settings={"pg_stat_statements.max": "10000"})
    work = Path(tempfile.mkdtemp(prefix="pgadvisor-bench-"))
    try:
        dsn = cluster.dsn()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        dsn = cluster.dsn("bench")
        print(f"cluster: {cluster.bindir} port {cluster.port}; work dir {work}")
        t_schema = build_schema(dsn, args.tables, args.rows)
        print(f"schema: {args.tables} tables x {args.rows} rows, VACUUM ANALYZE: {t_schema:.1f} s")
        # the benchmark's own set-up is not part of the workload: start pg_stat_statements empty
        # (pgadvisor itself never resets; this is our throwaway cluster)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_statements_reset()")
        stmts = statement_set(args.statements, args.tables)
        rnd = random.Random(7)
        t_work = run_statements(dsn, stmts, [1 + rnd.randint(0, 6) for _ in stmts], seed=1)
        n_pgss = pgss_count(dsn)
        print(f"workload: {len(stmts)} statements run in {t_work:.1f} s; pg_stat_statements holds {n_pgss} entries")

        store = work / "store.sqlite"
        rows: list[tuple] = []

        first = cli_collect(dsn, store)
        size0 = store_size(store)
        print(f"first snapshot: {first['wall']:.2f} s, {first['rss_kb'] / 1024:.0f} MB RSS, "
              f"{first['result'].get('statements')} statements, store {fmt_bytes(size0['file'])}")
        # a second snapshot so that the measured ones all have a previous one
        cli_collect(dsn, store)

        unchanged, changed = [], []
        for r in range(args.runs):
            before = store_size(store)
            res = cli_collect(dsn, store)
            res["growth"] = growth(before, store_size(store))
            unchanged.append(res)
            print(f"  unchanged #{r + 1}: {res['wall']:.2f} s, {res['rss_kb'] / 1024:.0f} MB, "
                  f"changed={res['result'].get('changed')}, growth used={fmt_bytes(res['growth']['used'])} "
                  f"file={fmt_bytes(res['growth']['file'])} {res['growth']['per']}")
        k = int(len(stmts) * args.changed)
        for r in range(args.runs):
            pick = random.Random(100 + r).sample(range(len(stmts)), k)
            run_statements(dsn, [stmts[i] for i in pick], [1] * k, seed=r)
            before = store_size(store)
            res = cli_collect(dsn, store)
            res["growth"] = growth(before, store_size(store))
            changed.append(res)
            print(f"  {args.changed:.0%} changed #{r + 1}: {res['wall']:.2f} s, {res['rss_kb'] / 1024:.0f} MB, "
                  f"changed={res['result'].get('changed')}, growth used={fmt_bytes(res['growth']['used'])} "
                  f"file={fmt_bytes(res['growth']['file'])} {res['growth']['per']}")

        # in process: where the time goes
        phases: list[dict] = []
        for _ in range(args.runs):
            marks = [("start", time.perf_counter())]

            def mark(msg: str, marks: list = marks) -> None:
                marks.append((msg, time.perf_counter()))

            snap = collect(dsn, SERVER, progress=mark)
            t_read = time.perf_counter()
            with open_store(str(store)) as st:
                t_open = time.perf_counter()
                st.save_snapshot(snap)
                t_saved = time.perf_counter()
            names = [m for m, _ in marks] + ["end"]
            stamps = [t for _, t in marks] + [t_read]
            ph = {names[i]: stamps[i + 1] - stamps[i] for i in range(len(marks))}
            ph.update(collect=t_read - marks[0][1], open_store=t_open - t_read, save=t_saved - t_open)
            phases.append(ph)
        prof = cProfile.Profile()
        snap = None
        prof.enable()
        snap = collect(dsn, SERVER)
        with open_store(str(store)) as st:
            st.save_snapshot(snap)
        prof.disable()
        if args.profile:
            prof.dump_stats(args.profile)
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(18)
        print("\ncProfile of one in-process collect + save (cumulative):")
        print("\n".join(buf.getvalue().splitlines()[:45]))
        sizes = {k: len(str(v)) for k, v in snap.parts.items()}
        print(f"snapshot parts (repr chars): {sizes}; plans: {len(snap.plans)}")

        # -- table ---------------------------------------------------------------------------------
        goal_s, goal_mb, goal_kb = 2.0, 150, 10
        rows.append(("first snapshot (empty store), wall s", f"{first['wall']:.2f}", "", ""))
        rows.append(("first snapshot, max RSS MB", f"{first['rss_kb'] / 1024:.0f}", "", ""))
        u_wall = med([r["wall"] for r in unchanged])
        c_wall = med([r["wall"] for r in changed])
        u_rss = med([r["rss_kb"] for r in unchanged]) / 1024
        c_rss = med([r["rss_kb"] for r in changed]) / 1024
        peak = max(r["rss_kb"] for r in [first, *unchanged, *changed]) / 1024
        u_used = med([r["growth"]["used"] for r in unchanged])
        u_file = med([r["growth"]["file"] for r in unchanged])
        u_pay = med([r["growth"]["payload"] for r in unchanged])
        c_used = med([r["growth"]["used"] for r in changed])
        c_file = med([r["growth"]["file"] for r in changed])
        c_pay = med([r["growth"]["payload"] for r in changed])
        ok = lambda v, g: "yes" if v <= g else "NO"  # noqa: E731
        rows += [
            ("unchanged snapshot, wall s (CLI)", f"{u_wall:.2f}", f"<= {goal_s}", ok(u_wall, goal_s)),
            (f"{args.changed:.0%} changed snapshot, wall s (CLI)", f"{c_wall:.2f}", f"<= {goal_s}", ok(c_wall, goal_s)),
            ("max RSS MB, unchanged (CLI)", f"{u_rss:.0f}", f"<= {goal_mb}", ok(u_rss, goal_mb)),
            (f"max RSS MB, {args.changed:.0%} changed (CLI)", f"{c_rss:.0f}", f"<= {goal_mb}", ok(c_rss, goal_mb)),
            ("peak RSS MB over all runs", f"{peak:.0f}", f"<= {goal_mb}", ok(peak, goal_mb)),
            ("growth, unchanged: used pages", fmt_bytes(u_used), f"<= {goal_kb} KB", ok(u_used, goal_kb * 1024)),
            ("growth, unchanged: file + wal", fmt_bytes(u_file), f"<= {goal_kb} KB", ok(u_file, goal_kb * 1024)),
            ("growth, unchanged: row payload", fmt_bytes(u_pay), "", ""),
            (f"growth, {args.changed:.0%} changed: used pages", fmt_bytes(c_used), "", ""),
            (f"growth, {args.changed:.0%} changed: file + wal", fmt_bytes(c_file), "", ""),
            (f"growth, {args.changed:.0%} changed: row payload", fmt_bytes(c_pay), "", ""),
        ]
        labels = {
            "statements": "in-process collect: pg_stat_statements read, s",
            "schema": "in-process collect: schema/settings/db/activity, s",
            "plans": "in-process collect: 20 EXPLAINs + parts to JSON, s",
            "collect": "in-process collect() total, s",
            "open_store": "in-process open_store, s",
            "save": "in-process Store.save_snapshot, s",
        }
        for key, label in labels.items():
            rows.append((label, f"{med([p.get(key, 0) for p in phases]):.3f}", "", ""))
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                      cwd=ROOT).stdout.strip()
        print(f"load average (1/5/15 min) at the end: {os.getloadavg()} on {os.cpu_count()} cores; git HEAD {head}")
        print(f"\nbench_collect: {args.tables} tables, {n_pgss} pg_stat_statements entries, "
              f"median of {args.runs} runs per case, nproc={os.cpu_count()}")
        w = max(len(r[0]) for r in rows)
        print(f"{'measure':<{w}} | {'result':>10} | {'goal':>9} | met")
        print(f"{'-' * w}-|-{'-' * 10}-|-{'-' * 9}-|----")
        for name, val, goal, met in rows:
            print(f"{name:<{w}} | {val:>10} | {goal:>9} | {met}")
    finally:
        cluster.stop()
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Benchmark the read path: `pgadvisor workload --top 20 --since 30d` over 30 days of snapshots.

Run on purpose (not collected by pytest):

    python tests/bench/bench_read.py [--snapshots 4320] [--statements 5000] [--keep PATH | --store PATH]

1. Generates 30 days of 10-minute snapshots (4,320) of one server straight into a SQLite store
   through the real write path (`Store.save_snapshot`, one transaction per snapshot, as `collect`
   does): 5,000 statements, 10% of them move each interval, small constant schema parts.
   Reports the generation time and the per-snapshot save time (start vs end of the run).
2. Times `pgadvisor workload --top 20 --since 30d --format json` in a subprocess and
   `load_workload()` in process (split into its store queries), and reports the store size.

`--keep PATH` keeps the generated store at PATH; `--store PATH` re-uses one (skips step 1);
`--direct` generates the same shape of data with SQL in ~30 s instead of ~20 min (read path only:
it does not exercise `save_snapshot`).
No PostgreSQL server is needed: the snapshots are synthetic (tests/synth.py).

Goal (issue 2): <= 2 s for `workload --top 20 --since 30d`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pgadvisor.store import open_store  # noqa: E402
from pgadvisor.workload import load_workload  # noqa: E402
from tests import synth  # noqa: E402

SERVER = "bench"
INTERVAL_S = 600
GOAL_S = 2.0


def constant_parts(tables: int = 50) -> dict:
    """Small schema parts that do not change (stored once as a blob, referenced by every snapshot)."""
    return {
        "relations": [{"schema": "public", "name": f"t{i}", "reltuples": 100.0, "relpages": 1} for i in range(tables)],
        "settings": [{"name": "work_mem", "setting": "4096", "unit": "kB"}],
    }


def generate(path: Path, n_snap: int, n_stmt: int, changed: float, seed: int = 1) -> dict:
    rows = synth.statement_rows(n_stmt, seed=seed)
    rnd = random.Random(seed)
    parts = constant_parts()
    end = time.time() - 60
    start = end - (n_snap - 1) * INTERVAL_S
    save_s: list[float] = []
    t0 = time.perf_counter()
    with open_store(str(path)) as st:
        for k in range(n_snap):
            if k:
                synth.advance(rows, changed, rnd)
            snap = synth.snapshot(SERVER, start + k * INTERVAL_S, rows, parts=parts)
            t = time.perf_counter()
            res = st.save_snapshot(snap)
            save_s.append(time.perf_counter() - t)
            if res.get("status") != "stored":
                raise SystemExit(f"snapshot {k} not stored: {res}")
            if (k + 1) % 500 == 0 or k + 1 == n_snap:
                el = time.perf_counter() - t0
                print(f"  {k + 1:5d}/{n_snap} snapshots, {el:6.0f} s, last 500 saves: "
                      f"median {statistics.median(save_s[-500:]) * 1000:.0f} ms", flush=True)
    total = time.perf_counter() - t0
    head, tail = save_s[1:101], save_s[-100:]
    return {
        "total_s": total,
        "save_median_ms": statistics.median(save_s[1:]) * 1000,
        "save_first100_ms": statistics.median(head) * 1000,
        "save_last100_ms": statistics.median(tail) * 1000,
        "save_sum_s": sum(save_s),
    }


def generate_direct(path: Path, n_snap: int, n_stmt: int, changed: float, seed: int = 1) -> dict:
    """Fast path for the read benchmark only: the same shape of data written with SQL, not `save_snapshot`.

    Each interval `changed` of the statements get a delta row (rotating, distinct per interval);
    stat_last and plans are not filled (the read path does not use them).
    """
    t0 = time.perf_counter()
    end = time.time() - 60
    per = int(n_stmt * changed)
    step = max(1, n_stmt // max(per, 1))
    with open_store(str(path)) as st, st.write():
        sid = st.server_id(SERVER, create=True)
        rows = synth.statement_rows(n_stmt, seed=seed)
        st.executemany("INSERT INTO texts (hash, query) VALUES (?, ?)",
                       [(f"t{i}", r["query"]) for i, r in enumerate(rows)])
        st.executemany("INSERT INTO statements (id, server_id, queryid, userid, dbid, toplevel, text_hash, own) "
                       "VALUES (?, ?, ?, 10, 5, 1, ?, 0)",
                       [(i + 1, sid, r["queryid"], f"t{i}") for i, r in enumerate(rows)])
        st.executemany("INSERT INTO snapshots (server_id, seq, taken_at, n_statements, n_changed, intervals) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       [(sid, k + 1, end - (n_snap - 1 - k) * INTERVAL_S, n_stmt, per, 0 if k == 0 else 1)
                        for k in range(n_snap)])
        st.execute(
            f"""WITH RECURSIVE sq(seq) AS (SELECT 2 UNION ALL SELECT seq + 1 FROM sq WHERE seq < {int(n_snap)}),
                     kk(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM kk WHERE k < {per - 1})
                SELECT 1""")
        st.execute("CREATE TEMP TABLE d AS SELECT 0 AS seq, 0 AS statement_id, 0 AS calls, 0.0 AS t, 0 AS r, 0 AS h "
                   "WHERE 0")
        st.execute(
            f"""INSERT INTO d WITH RECURSIVE sq(seq) AS (SELECT 2 UNION ALL SELECT seq + 1 FROM sq
                                                      WHERE seq < {int(n_snap)}),
                     kk(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM kk WHERE k < {per - 1})
                SELECT seq, ((seq * 7919 + k * {step}) % {n_stmt}) + 1, 1 + abs(random()) % 50,
                       (abs(random()) % 150000) / 1000.0, 1 + abs(random()) % 50, abs(random()) % 200
                  FROM sq, kk""")
        # the store keeps running totals of the deltas (see store/migrations/)
        st.execute(
            f"""INSERT INTO stat_totals (server_id, statement_id, seq, t_calls, t_total_exec_time, t_rows,
                                         t_shared_blks_hit)
                SELECT {sid}, statement_id, seq,
                       sum(calls) OVER w, sum(t) OVER w, sum(r) OVER w, sum(h) OVER w
                  FROM d WINDOW w AS (PARTITION BY statement_id ORDER BY seq)""")
    return {"total_s": time.perf_counter() - t0}


def store_size(path: Path) -> dict:
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        per = con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
        n_deltas = con.execute("SELECT count(*) FROM stat_totals").fetchone()[0]
        n_snaps = con.execute("SELECT count(*) FROM snapshots").fetchone()[0]
    finally:
        con.close()
    wal = Path(str(path) + "-wal")
    return {"file": path.stat().st_size + (wal.stat().st_size if wal.exists() else 0), "per": per,
            "deltas": n_deltas, "snapshots": n_snaps}


def cli_workload(path: Path, since: str) -> tuple[float, int, dict]:
    cmd = ["/usr/bin/time", "-f", "MAXRSS_KB=%M", sys.executable, "-m", "pgadvisor", "workload", "--top", "20",
           "--since", since, "--store", str(path), "--format", "json"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"workload failed ({res.returncode}): {res.stderr.strip()}")
    import json

    rss = int(next(x for x in res.stderr.splitlines() if x.startswith("MAXRSS_KB=")).split("=")[1])
    return wall, rss, json.loads(res.stdout)


def in_process(path: Path, since_s: float) -> dict:
    """load_workload() timed as a whole and by store query."""
    with open_store(str(path), read_only=True) as st:
        sid = st.server_id(SERVER)
        t0 = time.perf_counter()
        w = load_workload(st, SERVER, since=time.time() - since_s, top=20)
        t1 = time.perf_counter()
        lo, hi = st.window_seqs(sid, time.time() - since_s, None)
        t2 = time.perf_counter()
        st.aggregate(sid, lo, hi, limit=20)
        t3 = time.perf_counter()
        st.coverage(sid, lo, hi)
        t4 = time.perf_counter()
    return {"load_workload": t1 - t0, "window_seqs": t2 - t1, "aggregate": t3 - t2, "coverage": t4 - t3,
            "n": len(w.statements), "snapshots": w.window.get("snapshots")}


def fmt_mb(n: float) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snapshots", type=int, default=4320, help="30 days of 10-minute snapshots")
    ap.add_argument("--statements", type=int, default=5000)
    ap.add_argument("--changed", type=float, default=0.10)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--store", default=None, help="re-use this generated store (skip generation)")
    ap.add_argument("--direct", action="store_true",
                    help="generate with SQL straight into the tables (read path only), not save_snapshot")
    ap.add_argument("--keep", default=None, help="keep the generated store at this path")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="pgadvisor-bench-"))
    try:
        gen = None
        if args.store:
            path = Path(args.store)
        else:
            path = Path(args.keep) if args.keep else tmp / "store.sqlite"
            if path.exists():
                raise SystemExit(f"{path} exists; pass --store {path} to re-use it")
            print(f"generating {args.snapshots} snapshots x {args.statements} statements "
                  f"({args.changed:.0%} changing) into {path}", flush=True)
            if args.direct:
                gen = generate_direct(path, args.snapshots, args.statements, args.changed)
            else:
                gen = generate(path, args.snapshots, args.statements, args.changed)
        size = store_size(path)

        cli = {}
        for since in ("30d", "7d", "1d"):
            runs = [cli_workload(path, since) for _ in range(args.runs)]
            cli[since] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), runs[0][2])
        doc = cli["30d"][2]
        proc = [in_process(path, 30 * 86400) for _ in range(args.runs)]
        pm = {k: statistics.median(p[k] for p in proc) for k in ("load_workload", "window_seqs", "aggregate",
                                                                  "coverage")}
        prof = cProfile.Profile()
        with open_store(str(path), read_only=True) as st:
            prof.enable()
            load_workload(st, SERVER, since=time.time() - 30 * 86400, top=20)
            prof.disable()
            sid = st.server_id(SERVER)
            lo, hi = st.window_seqs(sid, time.time() - 30 * 86400, None)
            plan = st.query(
                "EXPLAIN QUERY PLAN SELECT (SELECT max(x.seq) FROM stat_totals x WHERE x.server_id = s.server_id "
                "AND x.statement_id = s.id AND x.seq <= ?) FROM statements s WHERE s.server_id = ?", (hi, sid))
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(6)
        print("\ncProfile of load_workload (tottime):")
        print("\n".join(line for line in buf.getvalue().splitlines()[4:20] if line.strip()))
        print("aggregate query plan (shape):", " / ".join(r[-1] for r in plan))

        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                      cwd=ROOT).stdout.strip()
        print(f"load average (1/5/15 min) at the end: {os.getloadavg()} on {os.cpu_count()} cores; git HEAD {head}")
        print(f"\nbench_read: {size['snapshots']} snapshots, {args.statements} statements, "
              f"{size['deltas']:,} stored delta rows; median of {args.runs} runs; nproc={os.cpu_count()}")
        rows = []
        if gen and args.direct:
            rows.append(("generate (--direct, SQL): total wall s", f"{gen['total_s']:.0f}", "", ""))
        elif gen:
            rows += [
                ("generate: total wall s", f"{gen['total_s']:.0f}", "", ""),
                ("generate: save_snapshot median ms", f"{gen['save_median_ms']:.0f}", "", ""),
                ("generate: save ms, first 100 / last 100",
                 f"{gen['save_first100_ms']:.0f} / {gen['save_last100_ms']:.0f}", "", ""),
            ]
        for since, (wall, _rss, _doc) in cli.items():
            met = ("yes" if wall <= GOAL_S else "NO") if since == "30d" else ""
            rows.append((f"CLI workload --top 20 --since {since}, s", f"{wall:.2f}",
                         f"<= {GOAL_S}" if since == "30d" else "", met))
        rows.append(("CLI workload --since 30d, max RSS MB", f"{cli['30d'][1] / 1024:.0f}", "", ""))
        for k, v in pm.items():
            rows.append((f"in-process {k}, s", f"{v:.3f}", "", ""))
        rows.append(("store size on disk", fmt_mb(size["file"]), "", ""))
        for name, b in size["per"][:4]:
            rows.append((f"  of which {name}", fmt_mb(b), "", ""))
        w = max(len(r[0]) for r in rows)
        print(f"{'measure':<{w}} | {'result':>11} | {'goal':>6} | met")
        print(f"{'-' * w}-|-{'-' * 11}-|-{'-' * 6}-|----")
        for name, val, goal, met in rows:
            print(f"{name:<{w}} | {val:>11} | {goal:>6} | {met}")
        print(f"window: {doc['window'].get('snapshots')} snapshots, {len(doc['statements'])} statements returned, "
              f"coverage complete={doc['coverage'].get('complete')}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

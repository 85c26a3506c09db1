"""Benchmark workload classes and clusters: OLTP/OLAP classes and behaviour clusters on real counters,
arrival-pattern clusters on planted traces.

Run on purpose (not collected by pytest):

    python tests/bench/bench_classes.py [--seconds 10] [--scale 2] [--tpch PATH] [--seed 1]

1. Behaviour (real pg_stat_statements counters, one row per template):
   - OLTP: pgbench's built-in scripts (tpcb-like, simple-update, select-only; `--seconds` each, 2 clients)
     on a throwaway PostgreSQL 15 cluster, `pgbench -i -s SCALE`;
   - OLAP: TPC-H SF1, the recorded pg_stat_statements of tests/bench/tpc.py (`--tpch`, default the
     cache `python tests/bench/tpc.py tpch` writes: /tmp/pgadvisor-bench/tpch-sf1/pgss-seed1-1-3-300s.json);
   - reporting: dashboard statements over the same pgbench tables (aggregates of accounts, tellers and
     history: REPORTING below), each run `REPORT_RUNS` times.
   Scores: adjusted Rand index of `classes.workload_type` (OLTP/OLAP) against the truth on the 2-class set
   (pgbench vs TPC-H), and of `clusters.behaviour_clusters` (KMeans, k by silhouette) on the 2-class and the
   3-class set. Baseline beside it: one split on mean time alone (OLAP if mean >= 100 ms; for 3 classes
   the tertiles of log mean time).
2. Arrival (planted traces, 30 days at 10 min): groups of templates that share an arrival shape — day peak,
   evening peak, nightly job, hourly job, weekly job, steady, growth — with per-template volumes (lognormal)
   and Poisson noise. Score: ARI of `clusters.arrival_clusters` on the per-interval series, against the
   groups; baseline beside it: QueryBot5000's clustering as published (raw rates, no centring, no steady
   group, rho 0.8).

Goals (issue 12): ARI >= 0.90 for 2 classes, >= 0.75 for 3; arrival clusters ARI >= 0.90.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

from pgadvisor.analyze import classes, clusters  # noqa: E402
from pgadvisor.analyze.features import behaviour_matrix, template_figures  # noqa: E402
from pgadvisor.analyze.templates import build_templates  # noqa: E402

DEFAULT_TPCH = Path("/tmp/pgadvisor-bench/tpch-sf1/pgss-seed1-1-3-300s.json")
REPORT_RUNS = 20
HISTORY_ROWS = 1_000_000  # pgbench_history rows the reporting statements read (pgbench -T 10 leaves ~20,000)
REPORTING = [
    "SELECT bid, count(*), avg(abalance) FROM pgbench_accounts WHERE aid BETWEEN %d AND %d GROUP BY bid",
    "SELECT tid, sum(delta) AS moved FROM pgbench_history GROUP BY tid ORDER BY moved DESC LIMIT 10",
    "SELECT date_trunc('minute', mtime) AS minute, count(*), sum(delta) FROM pgbench_history GROUP BY 1 "
    "ORDER BY 1 DESC LIMIT 60",
    "SELECT b.bid, b.bbalance, sum(t.tbalance) AS tellers FROM pgbench_branches b "
    "JOIN pgbench_tellers t ON t.bid = b.bid GROUP BY b.bid, b.bbalance",
    "SELECT count(*) FILTER (WHERE abalance < 0), count(*) FROM pgbench_accounts WHERE aid <= %d",
    "SELECT h.bid, count(DISTINCT h.aid), sum(h.delta) FROM pgbench_history h "
    "WHERE h.tid <= %d GROUP BY h.bid",
]
GOAL_2, GOAL_3, GOAL_ARRIVAL = 0.90, 0.75, 0.90


def ari(a, b) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(a, b))


# ------------------------------------------------------------------------------------------- behaviour


def run_pgbench(seconds: int, scale: int, seed: int) -> tuple[list, list]:
    """(pgbench statements, reporting statements) with their pg_stat_statements counters."""
    import random

    import psycopg
    import tpc

    from pgadvisor.pg.local import start_cluster

    cluster = start_cluster(settings={"pg_stat_statements.track": "'top'"})
    try:
        dsn = cluster.dsn()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        args = ["-h", str(cluster.sockdir), "-p", str(cluster.port), "-U", cluster.superuser, "postgres"]
        pgbench = str(cluster.bindir / "pgbench")
        subprocess.run([pgbench, "-i", "-q", "-s", str(scale), *args], check=True, capture_output=True)
        tpc.reset_pgss(dsn)
        for script in ("tpcb-like", "simple-update", "select-only"):
            subprocess.run([pgbench, "-n", "-b", script, "-c", "2", "-T", str(seconds), *args], check=True,
                           capture_output=True)
        oltp = [s for s in tpc.read_pgss(dsn) if _workload(s.query)]
        with psycopg.connect(dsn, autocommit=True) as conn:  # a history worth reporting on: HISTORY_ROWS rows
            conn.execute(f"{tpc.HARNESS} INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
                         f"SELECT 1 + i % {10 * scale}, 1 + i % {scale}, 1 + i % 100000, i % 1000 - 500, "
                         f"now() - (i || ' s')::interval FROM generate_series(1, {HISTORY_ROWS}) i")
            conn.execute(f"{tpc.HARNESS} VACUUM ANALYZE")
        tpc.reset_pgss(dsn)
        rnd = random.Random(seed)
        accounts = 100_000 * scale
        with psycopg.connect(dsn, autocommit=True) as conn:
            for _ in range(REPORT_RUNS):
                for q in REPORTING:
                    lo = rnd.randint(1, accounts // 2)
                    if q.count("%d") == 2:
                        values: tuple = (lo, lo + accounts // 4)
                    elif "aid <=" in q:
                        values = (lo + accounts // 4,)
                    else:
                        values = (rnd.randint(1, 10 * scale),) if "%d" in q else ()
                    conn.execute((q % values).encode())
        report = [s for s in tpc.read_pgss(dsn) if _workload(s.query)]
        return oltp, report
    finally:
        cluster.stop()


def _workload(text: str) -> bool:
    """pgbench's and the harness' own statements out: catalog reads, transaction control, the harness."""
    import tpc

    low = text.lstrip().lower()
    return tpc.HARNESS not in text and "pg_catalog" not in low and "pg_stat_statements" not in low \
        and low.split()[0] not in ("begin", "end", "commit", "vacuum", "truncate")


def tpch_statements(path: Path) -> list:
    import tpc

    doc = json.loads(path.read_text())
    return [s for s in tpc.stats_from_json(doc["statements"]) if tpc.is_workload_query(s.query)]


def behaviour_scores(sets: dict[str, list]) -> dict[str, float]:
    """Figures per template of each labelled set, then the scores of the module docstring."""
    figs, truth = [], []
    for label, stmts in sets.items():
        f = template_figures(build_templates(stmts))
        figs += f
        truth += [label] * len(f)
    out: dict[str, float] = {"templates": len(figs)}
    X = behaviour_matrix(figs)
    found = clusters.behaviour_clusters(X)
    out["clusters_ari"] = ari(truth, found["labels"])
    out["k"] = found["k"]
    # for information: KMeans told the true number of classes (the command chooses k by silhouette)
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    told = KMeans(n_clusters=len(sets), n_init=10, random_state=clusters.SEED).fit_predict(
        StandardScaler().fit_transform(X))
    out["told_k_ari"] = ari(truth, told.tolist())
    out["method"] = found["method"]
    if len(sets) == 2:
        out["type_ari"] = ari(truth, [classes.workload_type(f)[0] for f in figs])
        out["baseline_ari"] = ari(truth, [f.mean_ms >= classes.OLAP_MEAN_MS for f in figs])
    else:
        logm = np.log10([f.mean_ms + 1e-3 for f in figs])
        cuts = np.quantile(logm, [1 / 3, 2 / 3])
        out["baseline_ari"] = ari(truth, np.digitize(logm, cuts).tolist())
    return out


# --------------------------------------------------------------------------------------------- arrival

STEP = 600.0
DAYS = 30


def _shape(kind: str, t: np.ndarray) -> np.ndarray:
    hour = (t % 86400) / 3600
    dow = (np.floor(t / 86400).astype(int) + 3) % 7  # 0 = Monday (epoch 0 was a Thursday)
    if kind == "day-peak":
        return (1 + 0.8 * np.cos(2 * math.pi * (hour - 14) / 24)) * np.where(dow < 5, 1.0, 0.4)
    if kind == "evening-peak":
        return 1 + 0.8 * np.cos(2 * math.pi * (hour - 21) / 24)
    if kind == "nightly-job":
        return np.where((hour >= 2) & (hour < 2.5), 12.0, 0.02)
    if kind == "hourly-job":
        minute = (t % 3600) / 60
        return np.where((minute >= 10) & (minute < 20), 6.0, 0.05)
    if kind == "weekly-job":
        return np.where((dow == 0) & (hour >= 6) & (hour < 7), 60.0, 0.02)
    if kind == "steady":
        return np.ones_like(t)
    if kind == "growth":
        return 0.3 + 1.4 * (t - t[0]) / (t[-1] - t[0])
    raise ValueError(kind)


ARRIVAL_GROUPS = ("day-peak", "evening-peak", "nightly-job", "hourly-job", "weekly-job", "steady", "growth")


def planted(seed: int, per_group: int = 12) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    t = 1_700_000_000 // 86400 * 86400 + STEP * np.arange(1, int(DAYS * 86400 / STEP) + 1)
    rows, truth = [], []
    for g in ARRIVAL_GROUPS:
        shape = _shape(g, t)
        for _ in range(per_group):
            rate = float(np.exp(rng.normal(math.log(3), 1.0)))  # calls per interval at shape 1
            rows.append(rng.poisson(rate * shape / shape.mean()))
            truth.append(g)
    return np.array(rows, dtype=float), truth


def hourly_sums(S: np.ndarray) -> np.ndarray:
    per = int(3600 / STEP)
    return S[:, : S.shape[1] // per * per].reshape(len(S), -1, per).sum(axis=2)


def qb5000_raw(S: np.ndarray, rho: float = clusters.ARRIVAL_RHO) -> list[int]:
    """QueryBot5000 as published: cosine of raw rates, online pass, re-assignment."""
    U = S / np.linalg.norm(S, axis=1, keepdims=True)
    return _labels(clusters._online([U], S.sum(axis=1), rho), len(S))


def _labels(groups: list[list[int]], n: int) -> list[int]:
    out = [-1] * n
    for k, g in enumerate(groups):
        for i in g:
            out[i] = k
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--tpch", type=Path, default=DEFAULT_TPCH)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    t0 = time.perf_counter()
    print("1. behaviour: pgbench (OLTP), TPC-H SF1 (OLAP), reporting", flush=True)
    if not args.tpch.exists():
        print(f"   no TPC-H recording at {args.tpch}: run `python tests/bench/tpc.py tpch` first; part 1 skipped")
    else:
        oltp, report = run_pgbench(args.seconds, args.scale, args.seed)
        olap = tpch_statements(args.tpch)
        two = behaviour_scores({"OLTP": oltp, "OLAP": olap})
        three = behaviour_scores({"OLTP": oltp, "OLAP": olap, "reporting": report})
        print(f"   templates: {two['templates']} (2 classes), {three['templates']} (3 classes)")
        print(f"   {'score':<44} {'ours':>7} {'baseline':>9} {'goal':>6}")
        print(f"   {'ARI OLTP/OLAP classes, 2 classes':<44} {two['type_ari']:>7.3f} {two['baseline_ari']:>9.3f} "
              f"{GOAL_2:>6.2f}")
        print(f"   {'ARI behaviour clusters, 2 classes (k=' + str(two['k']) + ')':<44} {two['clusters_ari']:>7.3f} "
              f"{two['baseline_ari']:>9.3f} {GOAL_2:>6.2f}")
        print(f"   {'ARI behaviour clusters, 3 classes (k=' + str(three['k']) + ')':<44} "
              f"{three['clusters_ari']:>7.3f} {three['baseline_ari']:>9.3f} {GOAL_3:>6.2f}")
        print(f"   (KMeans told the true k: {two['told_k_ari']:.3f} for 2 classes, {three['told_k_ari']:.3f} for 3)")
    print("2. arrival clusters on planted traces", flush=True)
    S, truth = planted(args.seed)
    ours = clusters.arrival_clusters(S, hourly_sums(S))
    base = qb5000_raw(S)
    print(f"   {len(truth)} templates in {len(ARRIVAL_GROUPS)} groups, {S.shape[1]} intervals")
    print(f"   {'score':<44} {'ours':>7} {'baseline':>9} {'goal':>6}")
    print(f"   {'ARI arrival clusters (QB5000 raw = baseline)':<44} {ari(truth, ours['labels']):>7.3f} "
          f"{ari(truth, base):>9.3f} {GOAL_ARRIVAL:>6.2f}")
    print(f"   clusters found: ours {ours['clusters']} (steady {ours['steady']}, left out {ours['left_out']}), "
          f"baseline {len(set(base))}")
    print(f"took {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()

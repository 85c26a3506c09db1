"""Benchmark workload classes and clusters: OLTP/OLAP classes and behaviour clusters on real counters,
arrival-pattern clusters on planted traces.

Run on purpose (not collected by pytest):

    python tests/bench/bench_classes.py [--seconds 10] [--scale 2] [--seeds 1 2 3] [--tpch-dir DIR]

1. Behaviour (real pg_stat_statements counters, one row per template):
   - OLTP: pgbench's built-in scripts (tpcb-like, simple-update, select-only; `--seconds` each, 2 clients)
     on a throwaway PostgreSQL 15 cluster, `pgbench -i -s SCALE`;
   - OLAP: TPC-H SF1, the recorded pg_stat_statements of tests/bench/tpc.py for the same seed (the cache
     `tpc.prepare_workload` writes: <tpch-dir>/pgss-seed<N>-1-3-300s.json; recorded here when missing, on
     the cluster `python tests/bench/tpc.py tpch` loaded);
   - reporting: dashboard statements over the same pgbench tables (aggregates of accounts, tellers and
     history: REPORTING below), each run `REPORT_RUNS` times.
   Scores: adjusted Rand index of `classes.workload_type` (OLTP/OLAP) against the truth on the 2-class set
   (pgbench vs TPC-H), and of `clusters.behaviour_clusters` (KMeans, k by silhouette) on the 2-class and the
   3-class set. Beside it: one split on mean time alone (OLAP if mean >= 100 ms; for 3 classes the tertiles
   of log mean time), the behaviour clustering before issue 12a's fix (six standardised per-call features,
   one k by the best silhouette: `previous_clusters`), and today's features with one k by the best
   silhouette (what the top-down split adds). Seed 1 is where the choices were made; the other seeds
   (other TPC-H parameters and instance counts, other reporting parameters, a new pgbench run) are held out.
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

DEFAULT_TPCH_DIR = Path("/tmp/pgadvisor-bench/tpch-sf1")
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

    low = " ".join(text.lower().split())
    return tpc.HARNESS not in text and "pg_catalog" not in low and "pg_stat_statements" not in low \
        and low.split()[0] not in ("begin", "end", "commit", "vacuum", "truncate") \
        and low != PGBENCH_SCALE_PROBE


# pgbench reads the number of branches to learn the scale before it runs (3 calls for 3 scripts): its own
# statement, not the workload's
PGBENCH_SCALE_PROBE = "select count(*) from pgbench_branches"


def tpch_statements(tpch_dir: Path, seed: int) -> list:
    """The TPC-H instances of `seed` (1–3 per template) as pg_stat_statements recorded them; recorded first
    (tpc.prepare_workload, ~1–3 min) when the cache is missing."""
    import tpc

    path = tpch_dir / f"pgss-seed{seed}-1-3-300s.json"
    if not path.exists():
        cluster = tpc.open_cluster(tpch_dir.parent / "pg")
        try:
            tpc.prepare_workload(cluster, "tpch", 1.0, tpch_dir.parent, seed=seed)
        finally:
            cluster.stop(remove=False)
    doc = json.loads(path.read_text())
    return [s for s in tpc.stats_from_json(doc["statements"]) if tpc.is_workload_query(s.query)]


def previous_clusters(figs: list) -> list[int]:
    """The behaviour clustering before issue 12a's fix, for comparison: log mean time (+1 µs), log rows, log
    blocks, miss ratio, log temp and log WAL bytes per call, standardised, KMeans k = 2..8 by the best
    silhouette."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    L = math.log10
    X = np.array([[L(f.mean_ms + 0.001), L(f.rows_per_call + 1), L(f.blocks_per_call + 1),
                   0.0 if f.hit_ratio is None else 1 - f.hit_ratio, L(f.temp_blocks / max(f.calls, 1) + 1),
                   L(f.wal_bytes / max(f.calls, 1) + 1)] for f in figs])
    return _best_silhouette(StandardScaler().fit_transform(X), KMeans, silhouette_score)


def _best_silhouette(Z: np.ndarray, KMeans, silhouette_score) -> list[int]:
    best: tuple[float, list[int]] | None = None
    for k in range(2, min(clusters.MAX_K, len(Z) - 1) + 1):
        labels = KMeans(n_clusters=k, n_init=10, random_state=clusters.SEED).fit_predict(Z)
        score = float(silhouette_score(Z, labels))
        if best is None or score > best[0]:
            best = (score, labels.tolist())
    return best[1] if best else [0] * len(Z)


def behaviour_scores(sets: dict[str, list]) -> dict:
    """Figures per template of each labelled set, then the scores of the module docstring."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    figs, truth = [], []
    for label, stmts in sets.items():
        f = template_figures(build_templates(stmts))
        figs += f
        truth += [label] * len(f)
    out: dict = {"templates": len(figs)}
    X = behaviour_matrix(figs)
    found = clusters.behaviour_clusters(X)
    out.update(clusters_ari=ari(truth, found["labels"]), k=found["k"], method=found["method"],
               splits=found.get("splits", []))
    out["strays"] = _strays(truth, found["labels"], figs)
    before = previous_clusters(figs)
    out.update(previous_ari=ari(truth, before), previous_k=len(set(before)))
    one_k = _best_silhouette(X, KMeans, silhouette_score)
    out.update(one_k_ari=ari(truth, one_k), one_k=len(set(one_k)))
    # for information: KMeans told the true number of classes (the command finds k itself)
    told = KMeans(n_clusters=len(sets), n_init=10, random_state=clusters.SEED).fit_predict(X)
    out["told_k_ari"] = ari(truth, told.tolist())
    if len(sets) == 2:
        out["type_ari"] = ari(truth, [classes.workload_type(f)[0] for f in figs])
        out["baseline_ari"] = ari(truth, [f.mean_ms >= classes.OLAP_MEAN_MS for f in figs])
    else:
        logm = np.log10([f.mean_ms + 1e-3 for f in figs])
        cuts = np.quantile(logm, [1 / 3, 2 / 3])
        out["baseline_ari"] = ari(truth, np.digitize(logm, cuts).tolist())
    return out


def _strays(truth: list[str], labels: list[int], figs: list) -> list[str]:
    """Templates whose cluster is mostly of another class: class, cluster's class, figures, text."""
    from collections import Counter

    major = {c: Counter(t for t, x in zip(truth, labels) if x == c).most_common(1)[0][0] for c in set(labels)}
    return [f"{t} in a {major[x]} cluster: {f.mean_ms:.3g} ms, {f.blocks_per_call:,.0f} blocks per call, "
            f"{f.calls:,} calls: {' '.join(f.text.split())[:60]}"
            for t, x, f in zip(truth, labels, figs) if major[x] != t]


def print_behaviour(seed: int, two: dict, three: dict) -> None:
    print(f"   seed {seed}{' (the seed the choices were made on)' if seed == 1 else ' (held out)'}: "
          f"templates {two['templates']} (2 classes), {three['templates']} (3 classes)")
    print(f"   {'score':<40} {'ours':>7} {'k':>3} {'before':>7} {'k':>3} {'one k':>7} {'k':>3} {'mean time':>9} "
          f"{'goal':>5}")
    print(f"   {'ARI OLTP/OLAP classes, 2 classes':<40} {two['type_ari']:>7.3f} {'':>3} {'':>7} {'':>3} {'':>7} "
          f"{'':>3} {two['baseline_ari']:>9.3f} {GOAL_2:>5.2f}")
    for name, r, goal in (("2 classes", two, GOAL_2), ("3 classes", three, GOAL_3)):
        print(f"   {'ARI behaviour clusters, ' + name:<40} {r['clusters_ari']:>7.3f} {r['k']:>3} "
              f"{r['previous_ari']:>7.3f} {r['previous_k']:>3} {r['one_k_ari']:>7.3f} {r['one_k']:>3} "
              f"{r['baseline_ari']:>9.3f} {goal:>5.2f}")
    print(f"   (KMeans told the true k: {two['told_k_ari']:.3f} for 2 classes, {three['told_k_ari']:.3f} for 3; "
          f"method {three['method']})")
    tried = ", ".join(f"{x['templates']} → {x['silhouette']:.2f}{' split' if x['split'] else ''}"
                      for x in three["splits"])
    print(f"     3 classes, top-down splits tried (templates → silhouette): {tried}")
    for line in three["strays"]:
        print(f"     stray: {line}")


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
    import os
    import resource

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--tpch-dir", type=Path, default=DEFAULT_TPCH_DIR)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = ap.parse_args()
    t0, c0 = time.perf_counter(), time.process_time()
    print(f"1. behaviour: pgbench (OLTP), TPC-H SF1 (OLAP), reporting; load average {os.getloadavg()[0]:.1f}",
          flush=True)
    print("   ours: top-down KMeans on orders of magnitude; before: standardised six features, one k by silhouette;"
          "\n   one k: today's features, one k by silhouette; mean time: one split on mean time")
    if not (args.tpch_dir.parent / "pg" / "data").exists() and not list(args.tpch_dir.glob("pgss-seed*.json")):
        print(f"   no TPC-H cluster or recording under {args.tpch_dir.parent}: run `python tests/bench/tpc.py tpch` "
              "first; part 1 skipped")
    else:
        for seed in args.seeds:
            olap = tpch_statements(args.tpch_dir, seed)
            oltp, report = run_pgbench(args.seconds, args.scale, seed)
            two = behaviour_scores({"OLTP": oltp, "OLAP": olap})
            three = behaviour_scores({"OLTP": oltp, "OLAP": olap, "reporting": report})
            print_behaviour(seed, two, three)
    print("2. arrival clusters on planted traces", flush=True)
    for seed in args.seeds:
        S, truth = planted(seed)
        ours = clusters.arrival_clusters(S, hourly_sums(S))
        base = qb5000_raw(S)
        print(f"   seed {seed}: {len(truth)} templates in {len(ARRIVAL_GROUPS)} groups, {S.shape[1]} intervals: "
              f"ARI ours {ari(truth, ours['labels']):.3f} ({ours['clusters']} clusters, steady {ours['steady']}, "
              f"left out {ours['left_out']}), QB5000 raw {ari(truth, base):.3f} ({len(set(base))}), "
              f"goal {GOAL_ARRIVAL:.2f}")
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"took {time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.1f} s CPU "
          f"(+ {kids.ru_utime + kids.ru_stime:.1f} s in pgbench and the server); load average "
          f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

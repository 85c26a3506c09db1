"""Issue 13: the query-time model against the planner's own cost, on real runs of TPC-H templates.

A throwaway PostgreSQL 15 cluster holds TPC-H at a small scale factor (DuckDB's tpch, tests/bench/tpc.py).
Each of the 19 templates of tpc.py runs with `--params` parameter sets (the specification's substitution
parameters, seeded) under two index designs: `pk` (primary keys only) and `idx` (plus single-column indexes
on the foreign keys and dates). Per instance: the plan is `EXPLAIN (FORMAT JSON)` of the literal statement
through pgadvisor's own explain path (estimates only), and the time is the median of `--repeats` real
executions' "Execution Time" (`EXPLAIN (ANALYZE, TIMING OFF)`: the statement runs to completion; planning
excluded, like pg_stat_statements' exec time), one execution per pass over all instances in a shuffled
order. The machine is shared: timings are noisy, hence the median; the noise floor (odd passes' median
against even passes') is printed with the results.

Then, in one run, the model (xgboost, forest, gbm) beside B0/B1/B2 on the same held-out rows:
- random split (80/20, seeded);
- leave-one-template-out (every template once);
- index design: train on `pk`, test on `idx` (and the other way round);
plus the cost of training on 10,000 plans (resampled from the measured ones) and of one prediction once
the plan is known.

    python tests/bench/bench_query_time.py                       # ~10-15 min on 2 shared cores
    python tests/bench/bench_query_time.py --measurements m.json # keep the runs; again with it: evaluate only
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

import tpc  # noqa: E402

from pgadvisor.models.evaluate import compare_folds  # noqa: E402
from pgadvisor.models.features import flatten, plan_frame  # noqa: E402
from pgadvisor.models.query_time import KINDS, QueryTimeModel  # noqa: E402

# the second design: single-column indexes on the join keys and the date ranges TPC-H filters on
DESIGN_INDEXES = [
    "lineitem (l_shipdate)", "lineitem (l_partkey)", "lineitem (l_suppkey)", "lineitem (l_receiptdate)",
    "orders (o_orderdate)", "orders (o_custkey)", "customer (c_nationkey)", "customer (c_mktsegment)",
    "supplier (s_nationkey)", "partsupp (ps_suppkey)", "part (p_brand)", "part (p_type)", "part (p_size)",
]
SETTINGS = {"shared_buffers": "'256MB'", "max_parallel_workers_per_gather": "2", "jit": "off"}
SINGLE_PLAN_CALLS = 2000  # single-plan predictions timed (the issue asks for a median over >= 1,000)
TARGETS = {"random": (1.10, 1.8), "loto": (1.35, 3.0), "design": (1.6, 5.0)}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def instances(n_params: int, seed: int, sf: float) -> list[tuple[str, str, list]]:
    rng = random.Random(seed)
    out = []
    for n, (sql, gen) in sorted(tpc.TPCH_TEMPLATES.items()):
        for _ in range(n_params):
            params = gen(rng, sf) if gen is tpc._q11 else gen(rng)
            out.append((f"q{n}", sql, params))
    return out


def measure_design(dsn: str, design: str, items: list, repeats: int, timeout_s: float) -> list[dict]:
    """Plan and time every instance: `repeats` passes over all of them, each pass in its own shuffled order,
    so an instance's runs fall at different moments of the shared machine's load (back-to-back runs share
    one moment's load and their median hides it)."""
    from pgadvisor.pg.explain import explain_json

    plans: dict[int, list] = {}
    texts: dict[int, str] = {}
    runs: dict[int, list[float]] = {i: [] for i in range(len(items))}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"SET statement_timeout = '{int(timeout_s)}s'")
        cur = psycopg.ClientCursor(conn)
        for i, (_, sql, params) in enumerate(items):
            texts[i] = cur.mogrify(sql, params)
            plans[i] = explain_json(conn, texts[i])
        t0 = time.monotonic()
        for rep in range(repeats):
            order = list(range(len(items)))
            random.Random(7 + rep).shuffle(order)
            for i in order:
                if len(runs[i]) < rep:
                    continue  # timed out before
                try:
                    r = conn.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + texts[i]).fetchone()[0]
                except psycopg.errors.QueryCanceled:
                    log(f"  {items[i][0]} timed out, left out")
                    continue
                r = json.loads(r) if isinstance(r, str) else r
                runs[i].append(float(r[0]["Execution Time"]))
            log(f"  {design}: pass {rep + 1}/{repeats} in {time.monotonic() - t0:.0f} s")
    return [{"template": items[i][0], "design": design, "instance": i, "plan": plans[i],
             "ms": statistics.median(runs[i]), "runs": runs[i]} for i in range(len(items)) if len(runs[i]) == repeats]


def noise_floor(rows: list[dict]) -> dict:
    """q-error between the medians of an instance's odd and even passes: what timing noise alone gives."""
    import numpy as np

    from pgadvisor.models.evaluate import summary
    from pgadvisor.models.query_time import q_error

    a = [statistics.median(r["runs"][0::2]) for r in rows if len(r["runs"]) >= 2]
    b = [statistics.median(r["runs"][1::2]) for r in rows if len(r["runs"]) >= 2]
    return summary(q_error(np.array(a), np.array(b)))


def measure(args) -> dict:
    cluster = tpc.open_cluster(None, SETTINGS, log)
    try:
        dsn, _ = tpc.ensure_database(cluster, "tpch_qt", "tpch", args.sf, Path(args.data_dir), log)
        with psycopg.connect(dsn, autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        items = instances(args.params, args.seed, args.sf)
        t0 = time.monotonic()
        rows = measure_design(dsn, "pk", items, args.repeats, args.timeout)
        with psycopg.connect(dsn, autocommit=True) as conn:
            for k, d in enumerate(DESIGN_INDEXES):
                conn.execute(f"CREATE INDEX bench_ix{k} ON {d}")
            conn.execute("ANALYZE")
        rows += measure_design(dsn, "idx", items, args.repeats, args.timeout)
        return {"server_version": version, "sf": args.sf, "params": args.params, "repeats": args.repeats,
                "measure_s": round(time.monotonic() - t0), "rows": rows}
    finally:
        cluster.stop()


def frame_of(rows: list[dict]):
    extra = [{"statement": r["template"], "template": r["template"], "design": r["design"], "ms": r["ms"],
              "calls": 1} for r in rows]
    return plan_frame([r["plan"] for r in rows], extra)


def evaluate(frame, kinds: tuple[str, ...]) -> list[dict]:
    """One row per (split, kind): the model beside B0/B1/B2 on the same held-out rows."""
    import numpy as np

    out = []
    rng = np.random.default_rng(0)
    test = rng.random(len(frame)) < 0.2
    splits = [("random", [(frame[~test], frame[test])])]
    splits.append(("loto", [(frame[frame.template != t], frame[frame.template == t])
                            for t in sorted(frame.template.unique())]))
    splits.append(("design pk→idx", [(frame[frame.design == "pk"], frame[frame.design == "idx"])]))
    splits.append(("design idx→pk", [(frame[frame.design == "idx"], frame[frame.design == "pk"])]))
    for name, folds in splits:
        for kind in kinds:
            t0 = time.monotonic()
            preds = []
            for train, held in folds:
                model = QueryTimeModel(kind).fit(train)
                preds.append((model, train, held))
            res = compare_folds(preds)
            res.update(split=name, kind=kind, fit_s=round(time.monotonic() - t0, 1))
            out.append(res)
            log(f"{name:14} {kind:8} model {res['model']} B1 {res['B1']} ({res['fit_s']} s)")
    return out


def cost_of(frame, plans: list) -> dict:
    """Train on 10,000 plans (resampled from the measured rows) and predict one known plan at a time."""
    import numpy as np

    big = frame.sample(n=10_000, replace=True, random_state=0).reset_index(drop=True)
    big["ms"] = big["ms"] * np.exp(np.random.default_rng(1).normal(0, 0.05, len(big)))  # no exact duplicates
    out = {}
    for kind in KINDS:
        t0 = time.monotonic()
        model = QueryTimeModel(kind).fit(big)
        out[f"train_10k_{kind}_s"] = round(time.monotonic() - t0, 1)
        if kind == "xgboost":
            out.update(single_plan_costs(model, plans))
            flats = [flatten(p) for p in plans]
            t0 = time.monotonic()
            model.predict(flats)
            out["predict_batch_ms_per_plan"] = round((time.monotonic() - t0) / len(plans) * 1000, 4)
    return out


def single_plan_costs(model, plans: list, calls: int = SINGLE_PLAN_CALLS) -> dict:
    """One known plan at a time, as `predict` does: median wall ms per call over `calls` calls, and the
    process CPU ms per call (user+sys), for flatten + gate + predict and for `explain` (+ contributions)."""
    import numpy as np

    out = {"single_plan_calls": calls, "load_average_before": round(os.getloadavg()[0], 1)}
    for name, fn, n in (("predict_one", lambda p: model.predict([flatten(p)]), calls),
                        ("explain_one", lambda p: model.explain([flatten(p)]), max(calls // 4, 100))):
        walls = []
        cpu0 = time.process_time()
        for i in range(n):
            t = time.perf_counter()
            fn(plans[i % len(plans)])
            walls.append(time.perf_counter() - t)
        out[f"{name}_median_ms"] = round(float(np.median(walls)) * 1000, 3)
        out[f"{name}_p95_ms"] = round(float(np.quantile(walls, 0.95)) * 1000, 3)
        out[f"{name}_cpu_ms"] = round((time.process_time() - cpu0) / n * 1000, 3)
    out["load_average_after"] = round(os.getloadavg()[0], 1)
    return out


def table(results: list[dict]) -> str:
    lines = ["| split | model | rows | in support | model median / p95 / p99 | statement not known (in support) | "
             "ungated | B0 (coverage) | B1 | B2 | fit s |", "|---|---|---|---|---|---|---|---|---|---|---|"]

    def fmt(s):
        return f"{s['median']:.2f} / {s['p95']:.2f} / {s['p99']:.2f}"

    for r in results:
        lines.append(f"| {r['split']} | {r['kind']} | {r['rows']} | {r['in_support']:.0%} | {fmt(r['model'])} | "
                     f"{fmt(r['model_unknown_statement'])} ({r['in_support_unknown_statement']:.0%}) | "
                     f"{fmt(r['model_ungated'])} | {fmt(r['B0'])} ({r['b0_coverage']:.0%}) | {fmt(r['B1'])} | "
                     f"{fmt(r['B2'])} | {r['fit_s']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sf", type=float, default=0.05, help="TPC-H scale factor")
    ap.add_argument("--params", type=int, default=25, help="parameter sets per template")
    ap.add_argument("--repeats", type=int, default=4, help="passes over all instances, one execution each "
                    "(an instance's median is kept)")
    ap.add_argument("--timeout", type=float, default=30, help="statement_timeout per execution, s")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data-dir", default=str(tpc.DEFAULT_DATA_DIR))
    ap.add_argument("--measurements", help="JSON file: written after measuring; read instead of measuring")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--costs-only", action="store_true", help="with --measurements: only the training and "
                    "prediction costs")
    args = ap.parse_args()
    t0 = time.monotonic()
    if args.measurements and os.path.exists(args.measurements):
        data = json.loads(Path(args.measurements).read_text())
        log(f"read {len(data['rows'])} measurements from {args.measurements}")
    else:
        data = measure(args)
        if args.measurements:
            Path(args.measurements).write_text(json.dumps(data))
    frame = frame_of(data["rows"])
    templates = frame.template.nunique()
    log(f"{len(frame)} instances, {templates} templates, designs {sorted(frame.design.unique())}; "
        f"measured in {data['measure_s']} s; load average {os.getloadavg()[0]:.1f}")
    if args.costs_only:
        costs = cost_of(frame, [r["plan"] for r in data["rows"]])
        print(json.dumps({**costs, "load_average": round(os.getloadavg()[0], 1)}))
        return
    results = evaluate(frame, tuple(args.kinds.split(",")))
    costs = cost_of(frame, [r["plan"] for r in data["rows"]])
    costs["noise_floor_odd_vs_even_passes"] = noise_floor(data["rows"])
    print(f"PostgreSQL {data['server_version']}, TPC-H sf {data['sf']}, {templates} templates × {data['params']} "
          f"parameter sets × 2 index designs = {len(frame)} instances, median of {data['repeats']} runs each; "
          f"load average {os.getloadavg()[0]:.1f} (2 cores, shared)")
    print(table(results))
    print("targets (median, p95): " + ", ".join(f"{k} ≤ {m} / {p}" for k, (m, p) in TARGETS.items()))
    print(json.dumps(costs))
    print(f"total {time.monotonic() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "costs": costs, "instances": len(frame),
                                               "measure_s": data["measure_s"]}, indent=1))


if __name__ == "__main__":
    main()

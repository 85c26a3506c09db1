"""Benchmark `pgadvisor anomalies` on synthetic labelled stores (tests/bench/synth_store.py), beside baselines.

    python tests/bench/bench_anomalies.py [--days 30] [--templates 1000] [--step 600] [--seeds 1 2] [--dir /tmp/x]

For each seed: a store with incidents and a clean one (same workload, no incidents) are generated (kept in
--dir and re-used when present). Detection runs over the whole series; alerts count after the warm-up
(synth_store.WARMUP_DAYS: the history). Scoring is event-level without point adjustment: an alert is a
true positive when it names the incident's statement and starts inside [incident start − 1 h, incident
end + 1 h]; every other alert is a false positive; an incident is recalled when any alert matches it.
- mean-time F1 at ≥ 2× and at 1.5×: precision over all mean-time alerts (regression, spike) against every
  mean-time incident (regression, spike, plan change with a time change, cache drop, temp spill), recall
  over the `regression` incidents of that factor;
- plan changes: precision/recall of `plan_change` alerts (same statement, same snapshot);
- clean traces: every alert (any kind) per day per 1,000 templates;
- baselines on the same series: static (interval mean time > 2× the statement's median so far), MAD
  (robust z of the interval's log mean time ≥ 3.5 against the statement's median/MAD) and an EWMA chart
  (λ = 0.2, L = 3, centre and σ from the warm-up's median/MAD);
- cost: `pgadvisor anomalies --since 1d` and `--since 23d` (CLI, subprocess) and load + detect in process.
Goals (issue 12): F1 ≥ 0.90 at ≥ 2×, ≥ 0.70 at 1.5×; plan-change P and R ≥ 0.95; ≤ 1 alert/day/1,000
templates on clean traces; ≤ 30 s for 30 days × 1,000 templates.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pgadvisor.analyze.anomalies import detect  # noqa: E402
from pgadvisor.analyze.series import load_series  # noqa: E402
from pgadvisor.store import open_store  # noqa: E402
from tests.bench import synth_store  # noqa: E402

TOL_S = 3600.0
COUNTERS = ("calls", "total_exec_time", "rows", "shared_blks_hit", "shared_blks_read", "temp_blks_written")
MEAN_TIME_KINDS = ("regression", "spike", "cache_drop", "temp_spill")
EWMA_LAMBDA, EWMA_L = 0.2, 3.0  # Montgomery's usual EWMA chart parameters


def store(dirpath: Path, seed: int, clean: bool, args: argparse.Namespace) -> tuple[str, dict]:
    name = f"synth-{args.days:g}d-{args.templates}-{int(args.step)}-s{seed}{'-clean' if clean else ''}.sqlite"
    path = dirpath / name
    truth_path = Path(str(path) + ".truth.json")
    if not path.exists():
        truth = synth_store.generate(path, days=args.days, step=args.step, templates=args.templates, clean=clean,
                                     seed=seed)
        truth_path.write_text(json.dumps(truth))
    return str(path), json.loads(truth_path.read_text())


def events(pred: list[tuple[str, float]], truth: list[dict]) -> tuple[int, set[int]]:
    """(true-positive alerts, indexes of the incidents recalled); pred: (queryid, start)."""
    tp, hit = 0, set()
    for q, t in pred:
        m = [i for i, x in enumerate(truth) if x["queryid"] == q and x["start"] - TOL_S <= t <= x["end"] + TOL_S]
        tp += bool(m)
        hit.update(m)
    return tp, hit


def f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def score(pred: list[tuple[str, float]], truth: dict) -> dict:
    """Mean-time precision and recall by regression factor."""
    inc = [i for i in truth["incidents"] if i["kind"] in MEAN_TIME_KINDS or (i["kind"] == "plan_change"
                                                                              and i["factor"] > 1)]
    tp, hit = events(pred, inc)
    prec = tp / len(pred) if pred else 1.0
    out = {"alerts": len(pred), "precision": prec}
    for name, sel in (("ge2", lambda f: f >= 2), ("1.5", lambda f: f == 1.5)):
        idx = [k for k, i in enumerate(inc) if i["kind"] == "regression" and sel(i["factor"])]
        rec = len([k for k in idx if k in hit]) / len(idx) if idx else float("nan")
        out[f"recall_{name}"], out[f"f1_{name}"], out[f"n_{name}"] = rec, f1(prec, rec), len(idx)
    return out


def baselines(s, since: float) -> dict[str, list[tuple[str, float]]]:
    """Alerts (queryid, start) of the simple detectors on interval mean time."""
    calls, tm = s.wide("calls"), s.wide("total_exec_time")
    logm = np.log(tm / calls.where(calls > 0))
    ends = s.intervals["end"].to_numpy()
    qid = s.statements["queryid"]
    med = logm.expanding(min_periods=12).median().shift(1)
    flags = {"static 2x": (logm - med >= np.log(2)).to_numpy()}
    dev = logm - logm.median()
    mad = 1.4826 * dev.abs().median()
    flags["MAD z>=3.5"] = (dev / mad >= 3.5).to_numpy()
    # the textbook EWMA chart: z = EWMA(x, lambda), alarm at mu0 + L sigma sqrt(lambda / (2 - lambda)), with mu0
    # and sigma the statement's robust centre and spread over the history (the warm-up)
    hist = logm[ends <= since]
    mu0 = hist.median()
    sigma = 1.4826 * (hist - mu0).abs().median()
    z = logm.ewm(alpha=EWMA_LAMBDA, ignore_na=True).mean()
    limit = EWMA_L * sigma * np.sqrt(EWMA_LAMBDA / (2 - EWMA_LAMBDA))
    flags[f"EWMA chart L={EWMA_L:g}"] = (z - mu0 >= limit).to_numpy()
    out = {}
    for name, f in flags.items():
        pred = []
        for j, col in enumerate(calls.columns):
            idx = np.nonzero(f[:, j] & (ends > since))[0]
            start = None
            for a, b in zip(idx, list(idx[1:]) + [None]):  # merge alerts closer than an hour into one event
                start = a if start is None else start
                if b is None or b - a > 6:
                    pred.append((qid[col], float(ends[start])))
                    start = None
        out[name] = pred
    return out


def run_cli(path: str, since: str) -> tuple[float, float, int, int]:
    """(wall s, CPU s of the process and its workers, exit code, anomalies) of `pgadvisor anomalies`."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pgadvisor", "anomalies", "--store", path, "--since", since,
                        "--by", "statement", "--format", "json"], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    n = len(json.loads(r.stdout)["anomalies"]) if r.returncode in (0, 1) and r.stdout else -1
    return wall, cpu, r.returncode, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=float, default=30)
    ap.add_argument("--templates", type=int, default=1000)
    ap.add_argument("--step", type=float, default=600)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--dir", default="/tmp/pgadvisor-bench-anomalies")
    ap.add_argument("--no-cli", action="store_true", help="skip the CLI timing")
    args = ap.parse_args()
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    rows, plan_tp, plan_n, plan_pred, clean_alerts, clean_days, costs = {}, 0, 0, 0, 0, 0.0, []
    for seed in args.seeds:
        for clean in (False, True):
            path, truth = store(d, seed, clean, args)
            since = truth["start"] + synth_store.WARMUP_DAYS * 86400
            with open_store(path, read_only=True) as st:
                t0 = time.perf_counter()
                s = load_series(st, truth["server"], counters=COUNTERS)
                t1 = time.perf_counter()
                found = detect(s, since=since)
                costs.append((t1 - t0, time.perf_counter() - t1))
            qid = s.statements["queryid"]
            if clean:
                clean_alerts += len(found)
                clean_days += (truth["end"] - since) / 86400
                continue
            pred = [(qid[int(a.statement)], a.start) for a in found if a.metric == "mean_time"]
            for name, p in {"pgadvisor": pred, **baselines(s, since)}.items():
                rows.setdefault(name, []).append(score(p, truth))
            pt = [i for i in truth["incidents"] if i["kind"] == "plan_change"]
            pp = [(qid[int(a.statement)], a.start) for a in found if a.kind == "plan_change"]
            plan_pred += len(pp)
            plan_n += len(pt)
            plan_tp += sum(any(q == i["queryid"] and abs(t - i["start"]) < 1 for i in pt) for q, t in pp)
    print(f"bench_anomalies: {args.days:g} days x {args.templates} templates at {args.step:g} s, seeds {args.seeds}; "
          f"load average {os.getloadavg()} on {os.cpu_count()} cores (shared machine)")
    print(f"{'detector':<16} | alerts | precision | recall>=2x | F1>=2x (goal 0.90) | recall 1.5x "
          "| F1 1.5x (goal 0.70)")
    for name, sc in rows.items():
        agg = {k: float(np.nanmean([x[k] for x in sc])) for k in sc[0]}
        print(f"{name:<16} | {int(sum(x['alerts'] for x in sc)):6d} | {agg['precision']:9.3f} | "
              f"{agg['recall_ge2']:10.3f} | {agg['f1_ge2']:18.3f} | {agg['recall_1.5']:11.3f} | {agg['f1_1.5']:.3f}")
    n2 = sum(x["n_ge2"] for x in rows["pgadvisor"])
    n15 = sum(x["n_1.5"] for x in rows["pgadvisor"])
    print(f"(regression incidents: {n2} at >= 2x, {n15} at 1.5x)")
    print(f"plan changes: precision {plan_tp / plan_pred if plan_pred else 1:.3f}, recall "
          f"{plan_tp / plan_n if plan_n else float('nan'):.3f} ({plan_n} planted; goal >= 0.95 each)")
    per = clean_alerts / clean_days * 1000 / args.templates if clean_days else float("nan")
    print(f"clean traces: {clean_alerts} alerts over {clean_days:.1f} days -> {per:.2f} per day per 1,000 templates "
          f"(goal <= 1)")
    print(f"in process (median, wall): load_series {np.median([c[0] for c in costs]):.1f} s, detect "
          f"{np.median([c[1] for c in costs]):.1f} s")
    if not args.no_cli:
        path, _ = store(d, args.seeds[0], False, args)
        for since in ("1d", f"{int(args.days) - synth_store.WARMUP_DAYS}d"):
            load = os.getloadavg()[0]
            wall, cpu, rc, n = run_cli(path, since)
            print(f"CLI anomalies --since {since}: {wall:.1f} s wall (goal <= 30), {cpu:.1f} s CPU, load {load:.1f} "
                  f"before it, exit {rc}, {n} anomalies (bench_workload_cost.py: beside the code before)")


if __name__ == "__main__":
    main()

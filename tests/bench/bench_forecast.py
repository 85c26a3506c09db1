"""Benchmark forecasts: MASE at 1 hour and 1 day against seasonal-naive, interval coverage, and the
recall of planted call spikes (scheduled ones recognised as scheduled).

Run on purpose (not collected by pytest):

    python tests/bench/bench_forecast.py [--series 24] [--days 30] [--seed 1] [--store PATH]

Series (planted, 30 days at 10 minutes, calls per interval, Poisson noise; `--series` of each shape is spread
over the shapes): a day cycle, a day cycle with quiet weekends, a day cycle with growth, a day cycle with a
nightly job on top (a 3-10× spike at a fixed time every night), and a day cycle with one-off spikes (3-10×,
at random times). Volumes are lognormal (median 20 calls per interval). With `--store PATH` (a store that
tests/bench/synth_store.py wrote), the per-template calls of its `daily`, `weekly` and `growth` templates
are read with `analyze.series.load_series` and forecast as well.

Forecasts: `analyze.forecast.forecast` (MSTL daily + weekly seasonality, exponential smoothing on the rest)
on hourly sums, made at origins every 12 hours over the last 7 days (history: everything before the origin);
1 h = the next hour, 1 d = the next 24 hours. MASE (Hyndman & Koehler 2006) scales each forecast's MAE by
the in-sample MAE of the lag-24 seasonal-naive forecast; the seasonal-naive forecast's own MASE is beside it.
Coverage: the share of the next 24 hours inside the 80% interval.

Spikes: `analyze.forecast.spikes` on the per-interval series; recall of the planted spikes >= 3× (an
interval is found when flagged), and the share of found nightly-job spikes marked `scheduled` and of found
one-off spikes marked `one-off`.

Goals (issue 12): MASE <= 0.8 at 1 h and <= 0.9 at 1 d; spike recall >= 0.8.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pgadvisor.analyze import forecast as fc  # noqa: E402

STEP = 600.0
SHAPES = ("day", "day+weekend", "day+growth", "day+nightly-job", "day+one-off")
GOAL_1H, GOAL_1D, GOAL_RECALL = 0.8, 0.9, 0.8
ORIGIN_EVERY_H = 12
TEST_DAYS = 7


def planted(shape: str, days: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str]]]:
    """(interval end times, calls per interval, planted spikes as (index, kind))."""
    t = 1_700_006_400.0 + STEP * np.arange(1, int(days * 86400 / STEP) + 1)
    hour = ((t - STEP / 2) % 86400) / 3600
    rate = float(np.exp(rng.normal(math.log(20), 0.8)))
    lam = rate * (1 + rng.uniform(0.3, 0.8) * np.cos(2 * math.pi * (hour - rng.uniform(10, 16)) / 24))
    if "weekend" in shape:
        dow = (np.floor((t - STEP / 2) / 86400).astype(int) + 3) % 7
        lam = lam * np.where(dow >= 5, rng.uniform(0.3, 0.6), 1.0)
    if "growth" in shape:
        lam = lam * (0.6 + 0.8 * (t - t[0]) / (t[-1] - t[0]))
    spikes: list[tuple[int, str]] = []
    if "nightly" in shape:
        slot = int(rng.integers(6, 30))  # 01:00-05:00
        idx = np.where(((t - STEP / 2) % 86400) // STEP == slot)[0]
        lam[idx] *= rng.uniform(3, 10)
        spikes += [(int(i), "scheduled") for i in idx]
    if "one-off" in shape:
        idx = rng.choice(np.arange(144, len(t)), size=8, replace=False)
        lam[idx] *= rng.uniform(3, 10, size=len(idx))
        spikes += [(int(i), "one-off") for i in idx]
    return t, rng.poisson(lam).astype(float), spikes


def evaluate(y: np.ndarray) -> dict[str, list[float]]:
    """MASE per origin for the model and seasonal-naive, and the 80% interval coverage."""
    out: dict[str, list[float]] = {"model_1h": [], "model_1d": [], "naive_1h": [], "naive_1d": [], "coverage": []}
    start = len(y) - TEST_DAYS * 24
    for o in range(start, len(y) - 24 + 1, ORIGIN_EVERY_H):
        hist, actual = y[:o], y[o:o + 24]
        f = fc.forecast(hist, 24)
        if "mean" not in f:
            continue
        for name, pred in (("model", np.asarray(f["mean"])), ("naive", fc.seasonal_naive(hist, 24))):
            for key, h in fc.HORIZONS.items():
                e = fc.mase(actual[:h], pred[:h], hist)
                if e is not None:
                    out[f"{name}_{key}"].append(e)
        out["coverage"].append(float(np.mean((actual >= f["lower"]) & (actual <= f["upper"]))))
    return out


def spike_scores(t: np.ndarray, v: np.ndarray, planted_spikes: list[tuple[int, str]]) -> dict[str, int]:
    found = {s["index"]: s for s in fc.spikes(v, t, STEP)}
    out = {"planted": len(planted_spikes), "found": 0, "kind_right": 0, "flagged": len(found)}
    truth = dict(planted_spikes)
    for i, kind in planted_spikes:
        if i in found:
            out["found"] += 1
            out["kind_right"] += found[i]["kind"] == kind
    out["false"] = sum(1 for i in found if i not in truth)
    return out


def store_series(path: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Per-template calls per interval of a synth_store store's daily/weekly/growth templates."""
    import json

    from pgadvisor.analyze.series import load_series
    from pgadvisor.store import open_store

    truth = json.loads(Path(path + ".truth.json").read_text())
    pattern = {t["template"]: t["pattern"] for t in truth["templates"]
               if t["pattern"] in ("daily", "weekly", "growth")}
    template_of = {str(q): t["template"] for t in truth["templates"] for q in t.get("queryids", [])}
    with open_store(path, read_only=True) as st:
        s = load_series(st, st.servers()[0], counters=("calls",), with_server=False)
    groups = {sid: template_of.get(str(q), -1) for sid, q in zip(s.statements.index, s.statements["queryid"])}
    wide = s.wide("calls", groups=groups)
    times = s.intervals["end"].to_numpy(dtype=float)
    return [(pattern[k], times, wide[k].to_numpy(dtype=float)) for k in wide.columns if k in pattern]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--series", type=int, default=24, help="planted series in all (spread over the shapes)")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--store", help="also forecast the daily/weekly/growth templates of this synth_store store")
    ap.add_argument("--store-templates", type=int, default=20, help="at most this many of the store's templates")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    rows: dict[str, dict[str, list[float]]] = {}
    spikes_total = {"planted": 0, "found": 0, "kind_right": 0, "flagged": 0, "false": 0}
    todo = [(SHAPES[k % len(SHAPES)],) + planted(SHAPES[k % len(SHAPES)], args.days, rng) for k in range(args.series)]
    if args.store:
        for pattern, t, v in store_series(args.store)[: args.store_templates]:
            todo.append((f"store:{pattern}", t, v, []))
    for shape, t, v, sp in todo:
        _, y = fc.hourly(v, t, STEP if not shape.startswith("store") else float(np.median(np.diff(t))))
        r = evaluate(y)
        agg = rows.setdefault(shape, {k: [] for k in r})
        for k, vals in r.items():
            agg[k] += vals
        if sp:
            for k, n in spike_scores(t, v, sp).items():
                spikes_total[k] += n
        print(f"  {shape:<18} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\n{'series':<18} {'n':>3} {'MASE 1h':>8} {'naive 1h':>9} {'MASE 1d':>8} {'naive 1d':>9} {'80% cover':>10}")
    every: dict[str, list[float]] = {}
    for shape, r in rows.items():
        for k, v in r.items():
            every.setdefault(k, []).extend(v)
        n = sum(1 for s in todo if s[0] == shape)
        print(f"{shape:<18} {n:>3} {np.mean(r['model_1h']):>8.3f} {np.mean(r['naive_1h']):>9.3f} "
              f"{np.mean(r['model_1d']):>8.3f} {np.mean(r['naive_1d']):>9.3f} {np.mean(r['coverage']):>10.2f}")
    m1h, m1d = np.mean(every["model_1h"]), np.mean(every["model_1d"])
    print(f"{'all':<18} {len(todo):>3} {m1h:>8.3f} {np.mean(every['naive_1h']):>9.3f} {m1d:>8.3f} "
          f"{np.mean(every['naive_1d']):>9.3f} {np.mean(every['coverage']):>10.2f}")
    s = spikes_total
    recall = s["found"] / s["planted"] if s["planted"] else float("nan")
    print(f"\nspikes >= 3x: planted {s['planted']}, found {s['found']} (recall {recall:.3f}), kind right "
          f"{s['kind_right']}/{s['found']}, flagged {s['flagged']} ({s['false']} not planted)")
    print(f"goals: MASE 1h <= {GOAL_1H}: {'met' if m1h <= GOAL_1H else 'MISSED'} ({m1h:.3f}); "
          f"MASE 1d <= {GOAL_1D}: {'met' if m1d <= GOAL_1D else 'MISSED'} ({m1d:.3f}); "
          f"spike recall >= {GOAL_RECALL}: {'met' if recall >= GOAL_RECALL else 'MISSED'} ({recall:.3f})")
    print(f"took {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()

"""Classes of templates, each with the evidence behind it: OLTP/OLAP, light/heavy, and by arrival
ad-hoc / scheduled / continuous.

- `workload_type(f)`: OLAP when one call is an analytical query — long (mean >= OLAP_MEAN_MS) or wide
  (>= OLAP_BLOCKS_PER_CALL shared blocks per call) — else OLTP (short statements that touch few rows).
- `weight(f)`: heavy when the template takes a large share of the window's time (>= HEAVY_TIME_SHARE)
  or one call is slow (mean >= HEAVY_MEAN_MS), else light.
- `arrival(calls, times, step_s)`: from the per-interval calls series: `scheduled` when the calls fall in
  a narrow band of the hour, day or week (phase concentration) that recurs in most periods; `ad-hoc`
  when the template is active in few intervals without such a rhythm; `continuous` otherwise;
  `unknown` with fewer than MIN_INTERVALS intervals.

Data in, data out: each function returns `(label, evidence)`; nothing here prints.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from pgadvisor.analyze.features import Figures

# OLTP statements are index lookups of a few milliseconds; 100 ms is where the PostgreSQL docs'
# log_min_duration_statement examples and pgbench's own latency reports put "slow" for OLTP, and
# 10,000 blocks (80 MB at 8 kB) per call is a scan no OLTP request makes (pgbench reads ~5 per call).
OLAP_MEAN_MS = 100.0
OLAP_BLOCKS_PER_CALL = 10_000.0
# postgres-checkup K002/K003 list the top statements that make up most of the time: a template with
# >= 5% of the total time is among them on any real workload; one second per call is heavy on its own.
HEAVY_TIME_SHARE = 0.05
HEAVY_MEAN_MS = 1000.0
# arrival: at least 12 intervals (two hours at 10 min) to say anything
MIN_INTERVALS = 12
# scheduled: >= 80% of the calls inside the busiest 5% of the period's phase bins (at least one bin),
# recurring in >= 60% of the periods the window spans, over >= 3 periods. Chosen so that a job that misses
# a run in three still counts and a day-cycle OLTP curve (~10% of calls in 5% of the day) does not.
PHASE_BIN_SHARE = 0.05
SCHEDULE_CONCENTRATION = 0.8
SCHEDULE_RECURRENCE = 0.6
MIN_PERIODS = 3
PERIODS = (("hour", 3600.0), ("day", 86400.0), ("week", 604800.0))
# ad-hoc: active in under 10% of the intervals without a schedule
ADHOC_ACTIVE_SHARE = 0.10


def workload_type(f: Figures) -> tuple[str, dict[str, Any]]:
    """OLTP or OLAP, with the figures that decided it."""
    mean, blocks = f.mean_ms, f.blocks_per_call
    evidence = {"mean_exec_ms": round(mean, 3), "blocks_per_call": round(blocks, 1),
                "rows_per_call": round(f.rows_per_call, 2), "joins": f.joins, "aggregates": f.aggregates}
    if mean >= OLAP_MEAN_MS:
        return "OLAP", evidence | {"why": f"mean {mean:,.1f} ms >= {OLAP_MEAN_MS:g} ms per call"}
    if blocks >= OLAP_BLOCKS_PER_CALL:
        return "OLAP", evidence | {"why": f"{blocks:,.0f} blocks per call >= {OLAP_BLOCKS_PER_CALL:,.0f}"}
    return "OLTP", evidence | {"why": f"mean {mean:,.2f} ms and {blocks:,.0f} blocks per call"}


def weight(f: Figures) -> tuple[str, dict[str, Any]]:
    """heavy or light, with its time share and mean."""
    evidence = {"time_share": round(f.time_share, 4), "mean_exec_ms": round(f.mean_ms, 3)}
    if f.time_share >= HEAVY_TIME_SHARE:
        return "heavy", evidence | {"why": f"{100 * f.time_share:.1f}% of the time >= {100 * HEAVY_TIME_SHARE:g}%"}
    if f.mean_ms >= HEAVY_MEAN_MS:
        return "heavy", evidence | {"why": f"mean {f.mean_ms:,.0f} ms >= {HEAVY_MEAN_MS:g} ms per call"}
    return "light", evidence | {"why": f"{100 * f.time_share:.2f}% of the time, mean {f.mean_ms:,.2f} ms"}


def arrival(calls: np.ndarray, times: np.ndarray, step_s: float) -> tuple[str, dict[str, Any]]:
    """scheduled / ad-hoc / continuous / unknown from calls per interval (NaN: a gap) at interval ends `times`."""
    import numpy as np

    calls = np.asarray(calls, dtype=float)
    times = np.asarray(times, dtype=float)
    ok = ~np.isnan(calls)
    n = int(ok.sum())
    if n < MIN_INTERVALS:
        return "unknown", {"why": f"{n} intervals: needs at least {MIN_INTERVALS}", "intervals": n}
    total = float(calls[ok].sum())
    if total <= 0:
        return "idle", {"why": "no calls in the window", "intervals": n}
    active = float((calls[ok] > 0).mean())
    base = {"intervals": n, "active_share": round(active, 4)}
    for name, period in PERIODS:
        found = _schedule(calls[ok], times[ok], step_s, period)
        if found is not None:
            return "scheduled", base | found | {"every": name, "why": (
                f"{100 * found['concentration']:.0f}% of the calls at {found['at']} in "
                f"{100 * found['recurrence']:.0f}% of the {found['periods']} {name}s")}
    if active < ADHOC_ACTIVE_SHARE:
        return "ad-hoc", base | {"why": f"active in {100 * active:.1f}% of the intervals, no schedule"}
    return "continuous", base | {"why": f"active in {100 * active:.0f}% of the intervals"}


def _schedule(calls: np.ndarray, times: np.ndarray, step_s: float, period: float) -> dict[str, Any] | None:
    """The phase (time within `period`) that holds most calls, if that is a schedule (see module doc)."""
    import numpy as np

    bins = int(round(period / step_s))
    span_periods = (times[-1] - times[0] + step_s) / period
    if bins < 2 or span_periods < MIN_PERIODS:
        return None
    # the interval that ends at t covers (t - step, t]: its calls happened in the bin of its midpoint
    mid = times - step_s / 2
    phase = np.floor((mid % period) / step_s).astype(int) % bins
    per_bin = np.bincount(phase, weights=calls, minlength=bins)
    k = max(1, int(bins * PHASE_BIN_SHARE))
    top = np.argsort(per_bin)[::-1][:k]
    concentration = float(per_bin[top].sum() / calls.sum())
    if concentration < SCHEDULE_CONCENTRATION:
        return None
    period_no = np.floor(mid / period).astype(int)
    in_top = np.isin(phase, top) & (calls > 0)
    seen = len(set(period_no[in_top].tolist()))
    n_periods = max(1, len(set(period_no.tolist())))
    recurrence = seen / n_periods
    if recurrence < SCHEDULE_RECURRENCE or seen < MIN_PERIODS:
        return None
    first = int(top[0]) * step_s
    at = f":{int(first % 3600) // 60:02d}" if period <= 3600 else _clock(first, period)
    return {"concentration": round(concentration, 4), "recurrence": round(recurrence, 4), "periods": n_periods,
            "at": at, "phase_s": first}


def _clock(offset: float, period: float) -> str:
    days = ("Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed")  # epoch 0 was a Thursday
    hhmm = f"{int(offset % 86400) // 3600:02d}:{int(offset % 3600) // 60:02d} UTC"
    return hhmm if period <= 86400 else f"{days[int(offset // 86400) % 7]} {hhmm}"


def classify(f: Figures, calls: np.ndarray | None = None, times: np.ndarray | None = None,
             step_s: float | None = None) -> dict[str, Any]:
    """All three classes of one template: {"type", "weight", "arrival", "evidence": {...}}."""
    t, te = workload_type(f)
    w, we = weight(f)
    if calls is None or times is None or not step_s or math.isnan(step_s):
        a, ae = "unknown", {"why": "no per-interval series (the window needs at least two snapshots)"}
    else:
        a, ae = arrival(calls, times, step_s)
    return {"type": t, "weight": w, "arrival": a, "evidence": {"type": te, "weight": we, "arrival": ae}}

"""Forecasts of calls (and time) per hour, with intervals, and the spikes of scheduled jobs.

`hourly(values, times, step_s)` sums a per-interval series into hours (a gap inside an hour makes that hour
missing, filled by interpolation before fitting). `forecast(y, horizon)` fits exponential smoothing with
daily and weekly seasonality: MSTL (statsmodels; Bandara, Hyndman & Bergmeir 2021) takes out the daily (24 h)
and, with at least two weeks of history, the weekly (168 h) seasonal components; an ETS model with additive
errors (simple exponential smoothing, statsmodels ETSModel) forecasts what is left, with its prediction
interval; each seasonal component goes on as its last cycle. With under two days of history the model is
simple exponential smoothing without seasonality; with under MIN_HOURS hours there is no forecast. The
seasonal-naive forecast (the same hour one day before) comes with it, for comparison: `backtest` scores
both by MASE on the history's last day.

`spikes(values, times, step_s)` finds intervals with >= SPIKE_FACTOR × the local baseline (a rolling
median over a day) and calls a spike `scheduled` when spikes recur at the same time of day (within one
interval) on at least SCHEDULED_MIN_DAYS days, else `one-off`.

Data in, data out; nothing here prints.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

HOUR = 3600.0
DAY_H = 24
WEEK_H = 168
MIN_HOURS = 6  # fewer hours than this: nothing to fit
INTERVAL_ALPHA = 0.2  # 80% prediction intervals (the level forecasting texts show beside 95%)
SPIKE_FACTOR = 3.0  # the planted spikes are >= 3x their baseline
SCHEDULED_MIN_DAYS = 3  # a job seen at the same time on 3 days is a schedule, not chance
HORIZONS = {"1h": 1, "1d": DAY_H}
# statsmodels (58 MB with its formula libraries) is the `forecast` extra: without it a clean install is
# 391 MB instead of 453 (pip and setuptools left out; issue 10's goal is <= 450 MB, docs/benchmarks.md)
MISSING = "forecasts need statsmodels: pip install 'pgadvisor[forecast]' (pipx: pipx inject pgadvisor statsmodels)"
# MSTL's seasonal smoother spans this many cycles (odd), so the seasonal shape is the average of the whole
# history rather than of the last week (MSTL's default is 7 + 4i): on bench_forecast's day+week series the
# day-ahead MASE went from 0.87 to 0.79 with it, and an ETS trend on the remainder did not help (0.787 vs 0.786)
SEASONAL_WINDOW = 51
# cycles of history a seasonal component needs; with few weeks a weekly component can be mostly the noise of
# single days (a 21-day series without a weekly pattern got a jagged forecast whose 80% intervals held 33% of
# the next day): `_seasonal` keeps it only when it stands out of that noise
MIN_CYCLES = {DAY_H: 2, WEEK_H: 2}
WEEKLY_SIGNAL = 2.0  # see _seasonal: twice what noise alone would put in the weekly component


def available() -> bool:
    """Whether statsmodels, which the forecasts fit with, is installed."""
    import importlib.util

    return importlib.util.find_spec("statsmodels") is not None


def hourly(values: np.ndarray, times: np.ndarray, step_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(hour starts (epoch s), sums per hour) of a per-interval series whose intervals end at `times`;
    an hour with a gap (NaN) inside is NaN."""
    values = np.asarray(values, dtype=float)
    times = np.asarray(times, dtype=float)
    if len(values) == 0:
        return np.zeros(0), np.zeros(0)
    hour = np.floor((times - step_s / 2) / HOUR).astype(np.int64)
    first, last = int(hour.min()), int(hour.max())
    idx = hour - first
    sums = np.bincount(idx, weights=np.nan_to_num(values), minlength=last - first + 1)
    gaps = np.bincount(idx, weights=np.isnan(values).astype(float), minlength=last - first + 1)
    seen = np.bincount(idx, minlength=last - first + 1)
    out = np.where((gaps > 0) | (seen == 0), np.nan, sums)
    return (np.arange(first, last + 1) * HOUR).astype(float), out


def _filled(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    if not np.isnan(y).any():
        return y
    idx = np.arange(len(y))
    ok = ~np.isnan(y)
    return np.interp(idx, idx[ok], y[ok]) if ok.any() else np.zeros_like(y)


def seasonal_naive(y: np.ndarray, horizon: int, m: int = DAY_H) -> np.ndarray:
    """The value one season (m steps) before each forecast step."""
    y = _filled(y)
    if len(y) < m:
        return np.full(horizon, y[-1] if len(y) else 0.0)
    return np.array([y[len(y) - m + (h % m)] for h in range(horizon)])


def forecast(y: np.ndarray, horizon: int = DAY_H, alpha: float = INTERVAL_ALPHA) -> dict[str, Any]:
    """Point forecasts and intervals for the next `horizon` hours (see the module docstring)."""
    y = np.asarray(y, dtype=float)
    n = int((~np.isnan(y)).sum())
    if n < MIN_HOURS:
        return {"method": "none", "why": f"{n} hours of history: a forecast needs at least {MIN_HOURS}"}
    y = _filled(y)
    if not available():
        return {"method": "none", "why": MISSING}
    if np.allclose(y, y[0]):
        flat = np.full(horizon, float(y[0]))
        return {"method": "constant", "mean": flat.tolist(), "lower": flat.tolist(), "upper": flat.tolist(),
                "why": "the series is constant"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' convergence chatter; the fit is used as it is
        fitted, seasonal, periods = _seasonal(y, horizon)
        mean, lower, upper = _ets(y - fitted, horizon, alpha)
    # ETS's interval knows the remainder only: each seasonal slot was fitted from the same history (p slots
    # in all), which shrinks the in-sample residuals by (n - p) / n and adds p / n of their variance to a
    # forecast (least squares' prediction variance); widen by both
    p = sum(periods)
    n = len(y)
    if p and n > 2 * p:
        widen = math.sqrt((1 + p / n) * n / (n - p))
        lower, upper = mean - (mean - lower) * widen, mean + (upper - mean) * widen
    season = seasonal.sum(axis=1)
    return {"method": "mstl+ets" if periods else "ets", "periods_h": list(periods),
            "mean": _clip(mean + season), "lower": _clip(lower + season), "upper": _clip(upper + season),
            "level": 1 - alpha, "seasonal_naive": _clip(seasonal_naive(y, horizon))}


def _clip(a: np.ndarray) -> list[float]:
    return np.maximum(a, 0.0).tolist()  # calls and time are never negative


def _mstl(y: np.ndarray, periods: tuple[int, ...]):
    from statsmodels.tsa.seasonal import MSTL

    one = len(periods) == 1
    return MSTL(y, periods=periods[0] if one else periods,
                windows=SEASONAL_WINDOW if one else (SEASONAL_WINDOW,) * len(periods)).fit()


def _seasonal(y: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """(in-sample seasonal sum, its next `horizon` values per component, the periods kept). The weekly
    component stays only when it is more than noise: its variance >= WEEKLY_SIGNAL × the noise variance over
    the number of weeks (what averaging that many weeks of pure noise leaves in it; the noise is the residual
    and the weekly component together, as a weekly component of pure noise took its share of it)."""
    periods = tuple(p for p in (DAY_H, WEEK_H) if len(y) >= MIN_CYCLES[p] * p)
    if not periods:
        return np.zeros(len(y)), np.zeros((horizon, 0)), ()
    fit = _mstl(y, periods)
    comps = np.asarray(fit.seasonal).reshape(len(y), -1)
    if WEEK_H in periods:
        weeks = len(y) / WEEK_H
        weekly, resid = np.var(comps[:, -1]), np.var(np.asarray(fit.resid))
        if weekly < WEEKLY_SIGNAL * (weekly + resid) / weeks:
            periods = (DAY_H,)
            comps = np.asarray(_mstl(y, periods).seasonal).reshape(len(y), -1)
    ahead = np.column_stack([comps[len(y) - p + (np.arange(horizon) % p), j] for j, p in enumerate(periods)])
    return comps.sum(axis=1), ahead, periods


def _ets(y: np.ndarray, horizon: int, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    s = pd.Series(y, index=pd.RangeIndex(len(y)))
    try:
        fit = ETSModel(s, error="add").fit(disp=False)
        frame = fit.get_prediction(start=len(y), end=len(y) + horizon - 1).summary_frame(alpha=alpha)
        return frame["mean"].to_numpy(), frame["pi_lower"].to_numpy(), frame["pi_upper"].to_numpy()
    except (ValueError, np.linalg.LinAlgError):  # degenerate series: the last level and the spread seen
        level = float(y[-DAY_H:].mean())
        spread = float(np.std(y[-DAY_H:])) * 1.2816  # z of the 80% interval
        flat = np.full(horizon, level)
        return flat, flat - spread, flat + spread


def mase(actual: np.ndarray, predicted: np.ndarray, history: np.ndarray, m: int = DAY_H) -> float | None:
    """Mean absolute scaled error: the MAE of `predicted` over the in-sample MAE of the seasonal-naive
    forecast (lag m) on `history` (Hyndman & Koehler 2006); None when that scale is 0."""
    h = _filled(history)
    if len(h) <= m:
        return None
    scale = float(np.mean(np.abs(h[m:] - h[:-m])))
    if scale == 0:
        return None
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(predicted)))) / scale


def backtest(y: np.ndarray, origins: list[int], horizon: int = DAY_H) -> dict[str, dict[str, float | None]]:
    """MASE of the model and of seasonal-naive at 1 h (the next hour) and 1 d (the next 24 hours) over
    forecasts made at each origin (an index into y; history y[:origin])."""
    errs: dict[str, dict[str, list[float]]] = {m: {"1h": [], "1d": []} for m in ("model", "seasonal_naive")}
    y = np.asarray(y, dtype=float)
    for o in origins:
        hist, actual = y[:o], y[o:o + horizon]
        if len(actual) < horizon or np.isnan(actual).any():
            continue
        fc = forecast(hist, horizon)
        if "mean" not in fc:
            continue
        for name, pred in (("model", fc["mean"]), ("seasonal_naive", seasonal_naive(hist, horizon))):
            for key, h in HORIZONS.items():
                e = mase(actual[:h], np.asarray(pred)[:h], hist)
                if e is not None:
                    errs[name][key].append(e)
    return {m: {k: (float(np.mean(v)) if v else None) for k, v in d.items()} for m, d in errs.items()}


def spikes(values: np.ndarray, times: np.ndarray, step_s: float) -> list[dict[str, Any]]:
    """Intervals with >= SPIKE_FACTOR × the rolling daily median (at least one call more), each marked
    `scheduled` (recurring at that time of day) or `one-off`."""
    import pandas as pd

    v = np.asarray(values, dtype=float)
    times = np.asarray(times, dtype=float)
    if len(v) < 3:
        return []
    per_day = max(3, int(round(86400 / step_s)))
    base = pd.Series(v).rolling(per_day, center=True, min_periods=max(3, per_day // 4)).median().to_numpy()
    base = np.where(np.isnan(base), np.nanmedian(v), base)
    hits = np.where((v >= SPIKE_FACTOR * np.maximum(base, 0)) & (v >= base + 1) & ~np.isnan(v))[0]
    if len(hits) == 0:
        return []
    slot = np.floor(((times[hits] - step_s / 2) % 86400) / step_s).astype(int)
    day = np.floor((times[hits] - step_s / 2) / 86400).astype(int)
    slots_per_day = int(round(86400 / step_s))
    out = []
    for i, k in enumerate(hits):
        near = np.abs((slot - slot[i] + slots_per_day // 2) % slots_per_day - slots_per_day // 2) <= 1
        days = len(set(day[near].tolist()))
        out.append({"index": int(k), "time": float(times[k]), "value": float(v[k]),
                    "baseline": float(base[k]), "factor": (float(v[k] / base[k]) if base[k] > 0 else math.inf),
                    "kind": "scheduled" if days >= SCHEDULED_MIN_DAYS else "one-off", "days_at_this_time": days})
    return out

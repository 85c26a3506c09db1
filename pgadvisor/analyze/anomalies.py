"""Anomalies over a server's per-interval series: regressions (level shifts of mean time), spikes, plan
changes, call surges and server-metric shifts, each with a severity, a likely cause and its evidence.

Data in (`analyze.series.Series`), data out (a list of `Anomaly`); nothing here prints.

Mean time per call (per statement or per template): r_t = log(mean_t) − the trailing median of log mean
over the previous `BASELINE_DAYS` (the baseline). An interval's mean over c_t calls is noisier the fewer
the calls: r_t·√c_t has one spread s per statement, estimated robustly (MAD) over the whole series, so
an incident does not inflate it. A regression is a calls-weighted mean of r over a rolling window of 1 h
or 6 h whose z = Σc·r / (s·√Σc) reaches `Z_LEVEL` and whose ratio reaches `MIN_RATIO` (the noise
floor: a smaller change is not worth waking someone). A spike is the same over one interval with
`SPIKE_RATIO`, or a short regression (≤ `SPIKE_MAX_S`). Plan changes are the plan-hash changes `collect`
stored. Calls: a surge over the seasonal baseline (median of the same time 1, 7 and 14 days before and
the trailing day's median; scheduled jobs recur, so they are no surge). Server metrics (connections,
deadlocks, cache hit, temp bytes, dead tuples): robust z over a trailing median, with per-metric floors.
Isolation Forest scores each interval's metrics together; its score is evidence, never an alert alone
(a contamination rule would raise alerts on a clean week by construction).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from pgadvisor.analyze.series import Series

SEVERITIES = ("low", "medium", "high")
BASELINE_DAYS = 3.0  # trailing median window: long enough to span a bad afternoon, short enough to follow drift
MIN_BASELINE_POINTS = 12  # intervals with calls needed before a statement's mean time is judged
# z thresholds: chosen on clean synthetic 30-day traces (bench_anomalies.py --clean) so that 1,000
# templates raise under one alert a day; see docs/benchmarks.md "Issue 12".
Z_LEVEL = 6.0
Z_SPIKE = 6.0
MIN_RATIO = 1.3  # noise floor of a regression: mean time at least 30% above its baseline
SPIKE_RATIO = 3.0
SPIKE_MAX_S = 1800.0  # an elevation this short is a spike, not a regression
MIN_REGRESSION_S = 3600.0  # a level shift lasts at least an hour; shorter elevations must pass as spikes
STRONG_Z = 3.0  # an interval counts towards an event's duration when its own z reaches this
LEVEL_WINDOWS_S = (3600.0, 6 * 3600.0)
S_FLOOR = 0.05  # lower bound of a statement's per-call log spread (a perfectly steady statement)
CALLS_RATIO, CALLS_Z, CALLS_MIN = 3.0, 8.0, 50  # a call surge: 3× its seasonal baseline, Poisson z ≥ 8, ≥ 50 calls
SEASON_LAGS_DAYS = (1, 7, 14)  # the same time yesterday, a week and two weeks ago (Monday is not Sunday)
Z_METRIC = 6.0
# per server metric: (direction, floor of its noise scale, minimum change, label)
METRICS: dict[str, tuple[int, float, float, str]] = {
    "connections": (1, 2.0, 10.0, "connections"),
    "lock_waits": (1, 1.0, 3.0, "sessions waiting on locks"),
    "deadlocks": (1, 1.0, 1.0, "deadlocks"),
    "miss_ratio": (1, 0.01, 0.05, "cache miss ratio"),
    "temp_bytes": (1, 8192.0 * 128, 8192.0 * 1024, "temp bytes written"),
    "dead_tuples": (1, 1000.0, 100_000.0, "dead tuples"),
    "xact_commit": (1, 10.0, 1000.0, "commits"),
}
# cause rules: a counter per call this much higher during the event than before it
ROWS_GREW = 1.5
CACHE_FELL = 0.05  # hit ratio points
TEMP_GREW = 2.0
TEMP_NEW = 10.0  # temp blocks per call this many times the level before: the spill is new, not grown
DEADLOCKS_MIN = 3  # deadlocks inside an event before they count as its cause
DEADLOCKS_PER_H = 1.0  # ... and at least this rate over the event (a burst during a day-long event is not it)
# what detection reads for every statement, and what the cause rules read for the flagged ones only
SERIES_COUNTERS = ("calls", "total_exec_time")
CAUSE_COUNTERS = ("calls", "rows", "shared_blks_hit", "shared_blks_read", "temp_blks_written")


@dataclass
class Anomaly:
    kind: str  # regression | spike | plan_change | calls_surge | metric_shift | metric_spike
    severity: str
    start: float  # epoch s: end of the first interval concerned
    end: float
    size: float  # ratio observed / baseline (plan change: mean time after / before)
    metric: str  # mean_time | calls | plan | a server metric
    statement: str | None = None  # statement_id or template key
    queryids: list[str] = field(default_factory=list)
    query: str | None = None
    baseline: float | None = None
    observed: float | None = None
    z: float | None = None
    likely_cause: str | None = None
    evidence: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("size", "baseline", "observed", "z"):
            if isinstance(d[k], float):
                d[k] = round(d[k], 4) if math.isfinite(d[k]) else None
        return d


def detect(series: Series, *, since: float | None = None, groups: dict[int, Any] | None = None,
           texts: dict[Any, str] | None = None) -> list[Anomaly]:
    """Anomalies whose start lies after `since` (the rest of the series is history), most severe first.
    `groups` maps statement_id → a template key to judge templates instead of statements."""
    import numpy as np

    iv = series.intervals
    since = since if since is not None else float(iv["start"].min())
    calls, time_ = series.wide("calls", groups), series.wide("total_exec_time", groups)
    ids = _ids(series, groups, texts)
    out = _mean_time(series, calls, time_, since, ids, groups)
    out += _plan_changes(series, calls, time_, since, ids, groups)
    out += _calls_surges(iv, calls, since, ids)
    out += _server(series, since)
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    out.sort(key=lambda a: (-rank[a.severity], -(a.size if np.isfinite(a.size) else 0), a.start))
    return out


def _ids(series: Series, groups: dict[int, Any] | None, texts: dict[Any, str] | None) -> dict[Any, tuple]:
    """Per column key: (queryids, a text)."""
    st = series.statements
    if groups is None:
        return {i: ([q], t) for i, q, t in zip(st.index, st["queryid"], st["query"])}
    out: dict[Any, tuple] = {}
    for i, q, t in zip(st.index, st["queryid"], st["query"]):
        k = groups.get(i)
        if k is not None:
            qs, text = out.get(k, ([], None))
            out[k] = (qs + [q], (texts or {}).get(k) or text or t)
    return out


def _baseline(calls: pd.DataFrame, time_: pd.DataFrame, iv: pd.DataFrame) -> pd.DataFrame:
    """Per interval: the trailing median (previous BASELINE_DAYS, not the current hour) of each column's hourly
    log mean time (calls-weighted within the hour). Hourly: a sixth of the work of a per-interval median."""
    import numpy as np
    import pandas as pd

    h = _n(iv, 3600.0)
    hour = np.arange(len(iv)) // h
    ch, th = calls.groupby(hour).sum(min_count=1), time_.groupby(hour).sum(min_count=1)
    logh = np.log(th / ch.where(ch > 0))
    n = max(1, int(round(BASELINE_DAYS * 24)))
    base = logh.rolling(n, min_periods=max(1, MIN_BASELINE_POINTS // h)).median().shift(1)
    return pd.DataFrame(base.to_numpy()[hour], index=calls.index, columns=calls.columns)


def _n(iv: pd.DataFrame, seconds: float) -> int:
    import numpy as np

    step = float(np.nanmedian(iv["seconds"])) if len(iv) else seconds
    return max(1, int(round(seconds / max(step, 1.0))))


def _mean_time(series: Series, calls: pd.DataFrame, time_: pd.DataFrame, since: float, ids: dict,
               groups: dict | None) -> list[Anomaly]:
    import numpy as np

    iv = series.intervals
    c = calls.where(calls > 0)
    logm = np.log(time_ / c)
    r = logm - _baseline(calls, time_, iv)
    c = c.where(r.notna())
    zw = r * np.sqrt(c)
    s = (1.4826 * (zw - zw.median()).abs().median()).clip(lower=S_FLOOR)
    ends = iv["end"].to_numpy()
    step = float(np.nanmedian(iv["seconds"]))
    flags = np.zeros(r.shape, dtype=bool)
    weighted = (c * r).fillna(0.0)
    cw = c.fillna(0.0)
    for w_s in LEVEL_WINDOWS_S:
        w = _n(iv, w_s)
        s1 = weighted.rolling(w, min_periods=1).sum()
        s0 = cw.rolling(w, min_periods=1).sum()
        npts = c.notna().rolling(w, min_periods=1).sum()
        z = s1 / (s * np.sqrt(s0))
        ok = (z >= Z_LEVEL) & (np.exp(s1 / s0) >= MIN_RATIO) & (npts >= max(1, w // 2))
        # the window [t-w+1, t] is elevated: flag the intervals inside it that are themselves up
        okv = ok.to_numpy()
        spread = np.zeros_like(okv)
        for k in range(w):
            spread[: len(okv) - k] |= okv[k:]
        flags |= spread & (r.to_numpy() >= math.log(MIN_RATIO) / 2)
    zt = (r * np.sqrt(c) / s).to_numpy()
    flags |= (zt >= Z_SPIKE) & (r.to_numpy() >= math.log(SPIKE_RATIO))
    out = []
    cols = list(calls.columns)
    rv, cv, tv = r.to_numpy(), calls.to_numpy(), time_.to_numpy()
    base = np.exp(logm.to_numpy() - rv)
    total_time = np.nansum(tv[ends > since])
    flagged = np.nonzero(flags.any(axis=0))[0]
    # the cause counters of every statement that may raise an event inside the window, in one read
    late = {cols[j] for j in np.nonzero(flags[ends > since].any(axis=0))[0]}
    series.detail([int(i) for i in late] if groups is None else [i for i, k in groups.items() if k in late],
                  CAUSE_COUNTERS)
    for j in flagged:
        for a, b in _runs(flags[:, j], max_gap=_n(iv, 3600.0)):
            a, b = _edges(cv[a:b + 1, j], rv[a:b + 1, j], a)
            if ends[a] <= since:
                continue
            sl = slice(a, b + 1)
            cc, tt = np.nansum(cv[sl, j]), np.nansum(tv[sl, j])
            if cc <= 0:
                continue
            before = np.nanmedian(base[sl, j])
            ratio = (tt / cc) / before if before > 0 else float("inf")
            hour = _n(iv, 3600.0)
            strong = np.nonzero((zt[sl, j] >= STRONG_Z) & (rv[sl, j] >= math.log(MIN_RATIO)))[0]
            nxt = slice(a + (strong[-1] if len(strong) else b - a) + 1, a + (strong[-1] if len(strong) else b - a)
                        + 1 + hour)
            dur = ends[b] - ends[a] + step
            kind = _kind(zt[sl, j], rv[sl, j], cv[sl, j], tv[sl, j], before, ends[sl], step,
                         (np.nansum(cv[nxt, j]), np.nansum(tv[nxt, j])))
            if ratio < (SPIKE_RATIO if kind == "spike" or dur < MIN_REGRESSION_S else MIN_RATIO):
                continue  # a short elevation must be a real spike; a level shift must last
            zmax = float(np.nanmax(np.where(np.isfinite(zt[sl, j]), zt[sl, j], np.nan)))
            key = cols[j]
            extra = tt - cc * before
            an = Anomaly(kind, _severity(ratio, extra / total_time if total_time else 0), float(ends[a]),
                         float(ends[b]), float(ratio), "mean_time", str(key), list(ids.get(key, ([], ""))[0]),
                         ids.get(key, ([], ""))[1], float(before), float(tt / cc), zmax)
            an.likely_cause, an.evidence = _cause(series, key, groups, a, b)
            an.evidence.insert(0, f"mean time {tt / cc:.3g} ms over {int(cc)} calls vs {before:.3g} ms before "
                                  f"(×{ratio:.2f}); extra time {extra / 1000:.3g} s")
            out.append(an)
    return out


def _kind(z: np.ndarray, r: np.ndarray, calls: np.ndarray, time_: np.ndarray, before: float, ends: np.ndarray,
          step: float, after: tuple[float, float]) -> str:
    """spike: the elevation is a few strong intervals (≤ SPIKE_MAX_S) and the hour after them is normal again
    (`after`: calls and time in the hour after the last strong interval)."""
    import numpy as np

    strong = np.nonzero((z >= STRONG_Z) & (r >= math.log(MIN_RATIO)))[0]
    if not len(strong) or ends[strong[-1]] - ends[strong[0]] + step > SPIKE_MAX_S:
        return "regression"
    c, t = after
    return "regression" if c and t / c >= MIN_RATIO * before else "spike"


def _edges(calls: np.ndarray, r: np.ndarray, a: int) -> tuple[int, int]:
    """The run's first and last interval by CUSUM: the start maximises the calls-weighted excess
    Σ c·(r − δ) from it to the end, the end the excess from the start to it (δ: the noise floor)."""
    import numpy as np

    x = np.nan_to_num(calls * (r - math.log(MIN_RATIO)))
    start = int(np.argmax(np.cumsum(x[::-1])[::-1]))
    end = start + int(np.argmax(np.cumsum(x[start:])))
    return a + start, a + end


def _runs(flag: np.ndarray, max_gap: int) -> list[tuple[int, int]]:
    """(first, last) index of each run of True, runs closer than max_gap merged."""
    import numpy as np

    idx = np.nonzero(flag)[0]
    if not len(idx):
        return []
    runs, a, prev = [], idx[0], idx[0]
    for i in idx[1:]:
        if i - prev > max_gap:
            runs.append((int(a), int(prev)))
            a = i
        prev = i
    runs.append((int(a), int(prev)))
    return runs


def _severity(ratio: float, share: float) -> str:
    """high: ≥ 3× or ≥ 2× costing ≥ 10% of the window's time; medium: ≥ 2× or ≥ 10%; low otherwise."""
    if ratio >= 3 or (ratio >= 2 and share >= 0.10):
        return "high"
    if ratio >= 2 or share >= 0.10:
        return "medium"
    return "low"


def _cause(series: Series, key: Any, groups: dict | None, a: int, b: int) -> tuple[str, list[str]]:
    """The likely cause of a mean-time change in intervals a..b of column `key`: plan, rows, cache, temp, locks."""
    import numpy as np

    iv = series.intervals
    seqs = iv.index.to_numpy()
    members = [key] if groups is None else [i for i, k in groups.items() if k == key]
    d = series.detail([int(m) for m in members], CAUSE_COUNTERS)
    d = d[~d["gap"]]
    nb = _n(iv, BASELINE_DAYS * 86400)
    # "before" stops an hour short of the event: its start is placed within about an hour (see _edges)
    lo_seq, a_seq, b_seq = seqs[max(0, a - nb)], seqs[a], seqs[b]
    cut = seqs[max(0, a - _n(iv, 3600.0))]
    before, during = d[(d["seq"] >= lo_seq) & (d["seq"] < cut)], d[(d["seq"] >= a_seq) & (d["seq"] <= b_seq)]
    causes, ev = [], []
    p = series.plans
    ch = p[p["statement_id"].isin(members) & p["changed"] & (p["seq"] >= seqs[max(0, a - 1)]) & (p["seq"] <= b_seq)]
    if len(ch):
        causes.append("plan changed")
        at = ch["seq"].iloc[0]
        ev.append(f"plan hash changed to {ch['plan_hash'].iloc[0]}"
                  + (f" at {_iso(iv.loc[at, 'end'])}" if at in iv.index else ""))

    def per_call(frame: pd.DataFrame, col: str) -> float:
        n = frame["calls"].sum() if "calls" in frame else 0
        return float(frame[col].sum() / n) if n and col in frame else float("nan")

    rb, rd = per_call(before, "rows"), per_call(during, "rows")
    if rb > 0 and rd >= ROWS_GREW * rb:
        causes.append("rows per call grew")
        ev.append(f"rows per call {rd:.3g} vs {rb:.3g} before")
    if {"shared_blks_hit", "shared_blks_read"} <= set(d.columns):
        def hit(f: pd.DataFrame) -> float:
            t = f["shared_blks_hit"].sum() + f["shared_blks_read"].sum()
            return float(f["shared_blks_hit"].sum() / t) if t else float("nan")
        hb, hd = hit(before), hit(during)
        if np.isfinite(hb) and np.isfinite(hd) and hb - hd >= CACHE_FELL:
            causes.append("cache hit fell")
            ev.append(f"shared buffer hit ratio {hd:.1%} vs {hb:.1%} before")
    tb, td = per_call(before, "temp_blks_written"), per_call(during, "temp_blks_written")
    if td > 0 and (not tb or td >= TEMP_GREW * tb):
        causes.append("temp spill appeared" if td >= TEMP_NEW * tb else "temp spill grew")
        ev.append(f"temp blocks written per call {td:.3g} vs {tb:.3g} before")
    m = series.server_metrics
    if "lock_waits" in m and "deadlocks" in m and len(m):
        w = m.loc[(m.index >= a_seq) & (m.index <= b_seq)]
        prior = m.loc[(m.index >= lo_seq) & (m.index < a_seq)]
        hours = max(len(w), 1) * float(np.nanmedian(iv["seconds"])) / 3600
        dl_now = w["deadlocks"].sum() / hours
        dl_before = prior["deadlocks"].sum() / max(len(prior) * float(np.nanmedian(iv["seconds"])) / 3600, 1e-9)
        waits_up = (w["lock_waits"].mean() or 0) > 2 * (prior["lock_waits"].mean() or 0) + 1
        if waits_up or (w["deadlocks"].sum() >= DEADLOCKS_MIN and dl_now >= DEADLOCKS_PER_H and dl_now > 3 * dl_before):
            causes.append("lock waits")
            ev.append(f"sessions waiting on locks {w['lock_waits'].mean():.2g} vs {prior['lock_waits'].mean():.2g} "
                      f"before; deadlocks {int(w['deadlocks'].sum() or 0)}")
    return (", ".join(causes) if causes else "unexplained by the counters (load, I/O or waits outside "
            "pg_stat_statements)"), ev


def _iso(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(float(t), dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _plan_changes(series: Series, calls: pd.DataFrame, time_: pd.DataFrame, since: float, ids: dict,
                  groups: dict | None) -> list[Anomaly]:
    """Each plan-hash change inside the window, sized by mean time after / before."""
    import numpy as np

    p = series.plans
    iv = series.intervals
    p = p[p["changed"] & p["seq"].isin(iv.index)]
    out = []
    nb = _n(iv, 86400.0)
    pos = {s: i for i, s in enumerate(iv.index)}
    for st_id, seq, h in zip(p["statement_id"], p["seq"], p["plan_hash"]):
        key = st_id if groups is None else groups.get(st_id)
        end = float(iv.loc[seq, "end"])
        if key is None or key not in calls.columns or end <= since:
            continue
        i = pos[seq]
        cb, tb = np.nansum(calls[key].iloc[max(0, i - nb):i]), np.nansum(time_[key].iloc[max(0, i - nb):i])
        ca, ta = np.nansum(calls[key].iloc[i:i + nb]), np.nansum(time_[key].iloc[i:i + nb])
        before = tb / cb if cb else float("nan")
        after = ta / ca if ca else float("nan")
        ratio = after / before if before and np.isfinite(before) and np.isfinite(after) else float("nan")
        sev = "high" if ratio >= 2 else "medium" if ratio >= MIN_RATIO else "low"
        ev = [f"plan hash {h} from {_iso(end)}"]
        if np.isfinite(ratio):
            ev.append(f"mean time {after:.3g} ms after vs {before:.3g} ms before (×{ratio:.2f})")
        out.append(Anomaly("plan_change", sev, end, end, float(ratio), "plan", str(key), list(ids[key][0]),
                           ids[key][1], before, after, None, "plan changed", ev))
    return out


def _calls_surges(iv: pd.DataFrame, calls: pd.DataFrame, since: float, ids: dict) -> list[Anomaly]:
    """Calls far above the same time on previous days and the trailing day (scheduled jobs recur: no surge)."""
    import numpy as np

    day = _n(iv, 86400.0)
    v = calls.to_numpy()
    if len(v) <= day:
        return []
    lags = np.stack([np.roll(v, k * day, axis=0) for k in SEASON_LAGS_DAYS])
    for i, k in enumerate(SEASON_LAGS_DAYS):
        lags[i, : k * day] = np.nan
    lags.sort(axis=0)  # NaN last
    valid = np.isfinite(lags).sum(axis=0)
    seasonal = np.take_along_axis(lags, (valid // 2)[None].clip(max=len(lags) - 1), axis=0)[0]  # upper median
    seasonal[valid == 0] = np.nan
    h = _n(iv, 3600.0)
    hour = np.arange(len(iv)) // h
    hourly = calls.groupby(hour).sum(min_count=1)  # the trailing day's median on hourly sums: cheaper
    trailing = (hourly.rolling(24, min_periods=12).median().shift(1) / h).to_numpy()[hour]
    base = np.fmax(seasonal, trailing)
    z = (v - base) / np.sqrt(base + 1)
    flag = (v >= CALLS_MIN) & (v >= CALLS_RATIO * np.maximum(base, 1)) & (z >= CALLS_Z) & np.isfinite(base)
    ends = iv["end"].to_numpy()
    out = []
    for j in np.nonzero(flag.any(axis=0))[0]:
        for a, b in _runs(flag[:, j], max_gap=1):
            if ends[a] <= since:
                continue
            obs, bl = float(np.nanmax(v[a:b + 1, j])), float(np.nanmax(base[a:b + 1, j]))
            key = calls.columns[j]
            ratio = obs / max(bl, 1.0)
            out.append(Anomaly("calls_surge", "medium" if ratio >= 10 else "low", float(ends[a]), float(ends[b]),
                               ratio, "calls", str(key), list(ids.get(key, ([], ""))[0]), ids.get(key, ([], ""))[1],
                               bl, obs, float(np.nanmax(z[a:b + 1, j])), "more calls than usual at this time",
                               [f"{int(obs)} calls in an interval vs {bl:.3g} usually at this time of day"]))
    return out


def _server(series: Series, since: float) -> list[Anomaly]:
    """Shifts and spikes of the server metrics (robust z over a trailing median, per-metric floors)."""
    import numpy as np

    m = series.server_metrics
    if m.empty:
        return []
    m = m.assign(miss_ratio=1 - m["cache_hit"]) if "cache_hit" in m else m
    iv = series.intervals
    ends = iv["end"].to_numpy()
    out = []
    day = _n(iv, 86400.0)
    iso: Any = None  # computed once, only when a metric is flagged (scikit-learn takes seconds to import)
    for name, (_sign, floor, min_change, label) in METRICS.items():
        if name not in m or m[name].notna().sum() < MIN_BASELINE_POINTS:
            continue
        x = m[name].astype(float)
        base = x.rolling(day, min_periods=MIN_BASELINE_POINTS).median().shift(1)
        dev = x - base
        if not np.isfinite(dev.to_numpy()).any():
            continue  # too few points for a baseline (e.g. table counters read once a day)
        scale = max(floor, 1.4826 * float(np.nanmedian(np.abs(dev - np.nanmedian(dev)))))
        z = (dev / scale).to_numpy()
        flag = (z >= Z_METRIC) & (dev.to_numpy() >= min_change)
        for a, b in _runs(np.nan_to_num(flag).astype(bool), max_gap=1):
            if ends[a] <= since:
                continue
            obs, bl = float(np.nanmax(x.iloc[a:b + 1])), float(base.iloc[a])
            kind = "metric_spike" if b - a < 3 else "metric_shift"
            ratio = obs / bl if bl else float("inf")
            sev = "high" if name == "deadlocks" and obs >= 5 or ratio >= 3 else "medium" if ratio >= 1.5 else "low"
            ev = [f"{label}: {obs:.4g} vs {bl:.4g} usually (robust z {float(np.nanmax(z[a:b + 1])):.1f})"]
            iso = _isolation(m) if iso is None else iso
            if iso is not False:
                ev.append(f"isolation forest: {float(np.nanmin(iso[a:b + 1])):.2f} (how unusual the interval's "
                          f"metrics are together; below -0.6 is rare)")
            out.append(Anomaly(kind, sev, float(ends[a]), float(ends[b]), ratio, name, None, [], None, bl, obs,
                               float(np.nanmax(z[a:b + 1])), _metric_cause(name), ev))
    return out


def _metric_cause(name: str) -> str:
    return {"deadlocks": "lock waits (deadlocks)", "lock_waits": "lock waits", "miss_ratio": "cache hit fell",
            "temp_bytes": "temp spill appeared", "connections": "connection surge",
            "dead_tuples": "dead tuples piling up (vacuum falling behind)", "xact_commit": "more transactions"
            }.get(name, name)


def _isolation(m: pd.DataFrame) -> Any:
    """Isolation Forest score per interval over the metrics together (lower: more unusual), or False."""

    cols = [c for c in METRICS if c in m and m[c].notna().mean() > 0.9]
    if len(cols) < 2 or len(m) < 50:
        return False
    from sklearn.ensemble import IsolationForest

    x = m[cols].astype(float)
    x = ((x - x.median()) / (1.4826 * (x - x.median()).abs().median()).replace(0, 1)).fillna(0).to_numpy()
    forest = IsolationForest(n_estimators=100, random_state=0).fit(x)
    return forest.score_samples(x)


HISTORY_S = 7 * 86400.0  # history read before the window: the baselines (BASELINE_DAYS) and noise scales


def find(store: Any, server: str, *, since: float, until: float | None = None, history_s: float = HISTORY_S,
         by: str = "template") -> tuple[list[Anomaly], dict[str, Any]]:
    """Anomalies of `server` starting inside (since, until], judged against `history_s` before it; by
    template (analyze.templates' grouping of the statement texts) or by statement. (anomalies, meta)."""
    from pgadvisor.analyze.series import load_series
    from pgadvisor.analyze.templates import keys_parsed_meanwhile, template_keys

    with keys_parsed_meanwhile(store, server, enabled=by == "template"):
        s = load_series(store, server, since - history_s, until, counters=SERIES_COUNTERS,
                        detail_counters=CAUSE_COUNTERS)
    groups = texts = None
    if by == "template":
        groups, texts = {}, {}
        st = s.statements
        keys = template_keys([(q, int(db)) for q, db in zip(st["query"], st["dbid"])])
        for i, (key, norm, _) in zip(st.index, keys):
            groups[int(i)] = key
            texts.setdefault(key, norm)
    found = detect(s, since=since, groups=groups, texts=texts)
    iv = s.intervals
    inside = iv[iv["end"] > since]
    meta = {"server": server, "since": since, "until": float(iv["end"].max()), "history_from": float(iv["start"].min()),
            "intervals": int(len(inside)), "history_intervals": int(len(iv) - len(inside)), "by": by,
            "series": int(len(set(groups.values())) if groups else len(s.statements)),
            "resets": [{"at": float(e), "reason": r} for e, r in zip(inside["end"], inside["reset_reason"]) if r],
            "evictions": int(inside["evicted"].sum())}
    return found, meta

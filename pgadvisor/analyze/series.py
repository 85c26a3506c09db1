"""Per-interval series from the store as pandas frames, for the analyzers (anomalies, forecasts, models).

`load_series(store, server, since, until)` reads `Store.interval_series` (store/read.py) and returns a
`Series`:

- `intervals` — index `seq` (the snapshot that ends the interval); `start`, `end` (epoch s), `time`
  (the end as a UTC pandas Timestamp), `seconds`, `intervals` (>1: retention merged several into one),
  `reset` (bool: every counter started over inside it), `reset_reason`, `evicted`, `dealloc`.
- `statements` — index `statement_id`; `queryid`, `userid`, `dbid`, `toplevel`, `query`.
- `deltas` — long format, one row per (statement, interval) where the statement moved or has a gap:
  `statement_id`, `seq`, one column per counter read (COUNTERS names: `calls`, `total_exec_time`, `rows`,
  `shared_blks_hit`, ...), `gap` (bool). A (statement, interval) pair that is absent is zero activity.
  A gap row's counters are partial (a reset inside the interval; a statement's first row after an eviction,
  a new baseline) or NaN (evicted inside it): never compare them with their neighbours as if they were whole.
- `plans` — `statement_id`, `seq`, `plan_hash`, `total_cost`, `changed` (False for the plan each statement
  entered the window with, True for each change inside it; with bins, `seq` is the bin's label).
- `server` — index `seq` (per interval); deltas of the database's cumulative pg_stat_database counters
  (`xact_commit`, `blks_hit`, `blks_read`, `temp_files`, `temp_bytes`, `deadlocks`, `conflicts`, `tup_*`),
  `cache_hit` (blks_hit / (hit + read) in the interval), gauges at the interval's end (`numbackends`,
  `connections`, `conn_active`, `conn_idle`, `conn_idle_in_transaction`, `lock_waits`, `longest_xact_s`,
  `size_bytes`, and `dead_tuples`, `live_tuples`, `table_bytes` where table counters were read then, else
  NaN), and `gap` (bool: the database's statistics were reset, a counter went down or the part is missing).

`Series.wide(counter)` pivots one counter to a frame indexed by `seq` with one column per statement (or per
group, with `groups` mapping statement_id → key, e.g. a template): zeros where nothing happened, NaN at
gaps and inside reset intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pgadvisor.errors import UsageError
from pgadvisor.snapshot import COUNTERS

if TYPE_CHECKING:
    import pandas as pd

    from pgadvisor.store.api import Store

NEED_TWO = ("a series needs at least two snapshots of the server (one interval); run `pgadvisor collect` again "
            "later, e.g. from cron every 5-10 minutes")
# pg_stat_database fields that are cumulative (per-interval deltas) and those that are gauges (values)
DB_COUNTERS = ("xact_commit", "xact_rollback", "blks_read", "blks_hit", "tup_returned", "tup_fetched",
               "tup_inserted", "tup_updated", "tup_deleted", "conflicts", "temp_files", "temp_bytes", "deadlocks")
GAUGES = ("numbackends", "size_bytes", "connections", "conn_active", "conn_idle", "conn_idle_in_transaction",
          "lock_waits", "longest_xact_s", "dead_tuples", "live_tuples", "table_bytes")


@dataclass
class Series:
    """A server's per-interval series over a window (see the module docstring for the frames)."""

    server: str
    intervals: pd.DataFrame
    statements: pd.DataFrame
    deltas: pd.DataFrame
    plans: pd.DataFrame
    server_metrics: pd.DataFrame
    # statement ids -> their deltas with more counters (load_series' `detail_counters`)
    detail_reader: Callable[[list[int]], pd.DataFrame] | None = field(default=None, repr=False)
    _detail_rows: pd.DataFrame | None = field(default=None, repr=False)  # what detail_reader gave, by statement
    _detail_read: set[int] = field(default_factory=set, repr=False)  # asked for (a statement without rows too)

    @property
    def counters(self) -> list[str]:
        return [c for c in self.deltas.columns if c in COUNTERS]

    def wide(self, counter: str, groups: dict[int, Any] | None = None) -> pd.DataFrame:
        """`counter` per interval (rows: seq) per statement or group (columns); NaN at gaps and resets."""
        import numpy as np
        import pandas as pd

        d = self.deltas
        key = d["statement_id"] if groups is None else d["statement_id"].map(groups)
        ok = key.notna().to_numpy()
        codes, cols = pd.factorize(key[ok], sort=True)
        rows = self.intervals.index.get_indexer(d["seq"].to_numpy()[ok])
        n, m = len(self.intervals), len(cols)
        inside = rows >= 0
        flat = (rows[inside] * m + codes[inside]).astype(np.int64)
        v = d[counter].to_numpy(dtype=float)[ok][inside]
        values = np.bincount(flat, weights=np.nan_to_num(v), minlength=n * m).reshape(n, m).astype(float)
        gap = d["gap"].to_numpy(dtype=bool)[ok][inside]
        values.reshape(-1)[flat[gap]] = np.nan
        values[self.intervals["reset"].to_numpy()] = np.nan
        table = pd.DataFrame(values, index=self.intervals.index, columns=pd.Index(cols))
        table.columns.name = "statement_id" if groups is None else "group"
        return table

    def detail(self, ids: list[int], columns: tuple[str, ...]) -> pd.DataFrame:
        """`deltas`' rows of statements `ids` (by statement, then seq), with `columns` where they were read: sliced
        from `deltas` when it holds them all, else read for those statements alone (`detail_counters`; one read
        for all the ids asked at once: ask for every statement of interest first)."""
        import numpy as np
        import pandas as pd

        key = sorted({int(i) for i in ids})
        source = self.deltas
        if self.detail_reader is not None and not set(columns) <= set(self.deltas.columns):
            todo = [i for i in key if i not in self._detail_read]
            if todo:
                parts = [f for f in (self._detail_rows, self.detail_reader(todo)) if f is not None]
                self._detail_rows = pd.concat(parts, ignore_index=True).sort_values(
                    "statement_id", kind="stable", ignore_index=True)
                self._detail_read.update(todo)
            source = self._detail_rows
        sid = source["statement_id"].to_numpy()  # sorted by statement (frames): slices, not a scan
        rows = [np.arange(np.searchsorted(sid, m), np.searchsorted(sid, m, "right")) for m in key]
        return source.iloc[np.concatenate(rows) if rows else np.zeros(0, dtype=int)]

    def plan_at(self) -> pd.DataFrame:
        """The plan hash per statement (columns) at each interval's end (rows: seq), forward-filled."""
        p = self.plans
        if p.empty:
            import pandas as pd

            return pd.DataFrame(index=self.intervals.index)
        first = self.intervals.index.min()
        p = p.assign(seq=p["seq"].clip(lower=first))
        table = p.pivot_table(index="seq", columns="statement_id", values="plan_hash", aggfunc="last")
        return table.reindex(self.intervals.index).ffill()


def load_series(store: Store, server: str, since: float | None = None, until: float | None = None, *,
                counters: tuple[str, ...] | None = None, with_server: bool = True,
                max_points: int | None = None, detail_counters: tuple[str, ...] | None = None) -> Series:
    """The series of the intervals that end inside (since, until] (epoch s; None: unbounded). With
    `max_points`, consecutive intervals are merged into bins of equal snapshot counts so that no series has
    more points than that (a long window read at full resolution costs seconds per million rows). With
    `detail_counters`, `Series.detail` reads those counters later for the statements it is asked about, from
    `store` (keep it open): the bulk read of every statement holds `counters` only (each counter read costs
    about a second per million rows, bench_anomalies)."""
    sid = store.server_id(server)
    if sid is None:
        raise UsageError(f"no server {server!r} in the store (see `pgadvisor snapshots`)")
    seqs = store.window_seqs(sid, since, until)
    if seqs is None:
        raise UsageError(f"the window holds no snapshot of {server!r}; {NEED_TWO}")
    lo, hi = seqs
    every = max(1, -(-(hi - lo + 1) // max_points)) if max_points else 1
    raw = store.interval_series(sid, lo, hi, counters=counters, with_server=with_server, every=every)
    if not any(i["start"] is not None for i in raw["intervals"]):
        raise UsageError(f"{server!r} has only one snapshot in the window; {NEED_TWO}")
    series = frames(server, raw, lo=lo, every=every)
    if detail_counters:
        def reader(ids: list[int]) -> pd.DataFrame:
            part = store.interval_series(sid, lo, hi, counters=detail_counters, with_server=False, every=every,
                                         statement_ids=ids)
            return frames(server, part, lo=lo, every=every).deltas

        series.detail_reader = reader
    return series


def frames(server: str, raw: dict[str, Any], *, lo: int, every: int = 1) -> Series:
    """`Store.interval_series`'s rows as a Series, intervals merged into bins of `every` seqs from `lo`."""
    import pandas as pd

    iv = _bins(pd.DataFrame([i for i in raw["intervals"] if i["start"] is not None]), lo, every)
    stmts = pd.DataFrame(raw["statements"], columns=["statement_id", "queryid", "userid", "dbid", "toplevel",
                                                     "query"]).set_index("statement_id")
    label = pd.Series(iv.index, index=(iv.index - lo) // every)
    deltas = _deltas(raw, lo, every, label, stmts.index)
    resets = iv.index[iv["reset"]]
    deltas["gap"] = deltas["seq"].isin(resets)
    deltas = _add_evictions(deltas, raw["gaps"], label, lo, every, stmts.index)
    plans = pd.DataFrame.from_records(raw["plans"], columns=["statement_id", "seq", "plan_hash", "total_cost"])
    plans["changed"] = plans["seq"] >= lo
    if every > 1:  # a change inside the window is dated by the bin (interval) it falls in
        inside = plans["changed"].to_numpy()
        mapped = label.reindex((plans.loc[inside, "seq"] - lo) // every).to_numpy()
        plans.loc[inside, "seq"] = mapped
        plans = plans.dropna(subset=["seq"]).astype({"seq": "int64"})
    server_rows = raw.get("server") or []
    return Series(server, iv, stmts, deltas, plans, server_frame(server_rows, iv, lo, every))


def _bins(iv: pd.DataFrame, lo: int, every: int) -> pd.DataFrame:
    """Intervals (one row per snapshot seq) merged into bins labelled by their last seq."""
    import pandas as pd

    iv = iv.assign(bin=(iv["seq"] - lo) // every)
    g = iv.groupby("bin", sort=True)
    out = pd.DataFrame({
        "seq": g["seq"].max(), "start": g["start"].min(), "end": g["end"].max(), "intervals": g["intervals"].sum(),
        "reset_reason": g["reset_reason"].agg(_reasons),
        "evicted": g["evicted"].sum(), "dealloc": g["dealloc"].sum(), "snapshots": g["seq"].count(),
    }).set_index("seq")
    out["seconds"] = out["end"] - out["start"]
    out["time"] = pd.to_datetime(out["end"], unit="s", utc=True)
    out["reset"] = out["reset_reason"].notna()
    return out


def _reasons(x: pd.Series) -> str | None:
    return "; ".join(sorted({r for r in x if isinstance(r, str)})) or None


def _deltas(raw: dict[str, Any], lo: int, every: int, label: pd.Series, keep: pd.Index) -> pd.DataFrame:
    """Differences of each statement's consecutive running totals, on the window's rows, labelled by bin."""
    import itertools

    import numpy as np
    import pandas as pd

    cols = list(raw["columns"])
    rows = raw["totals"]
    a = np.fromiter(itertools.chain.from_iterable(rows), dtype=float, count=len(rows) * len(cols))
    a = a.reshape(len(rows), len(cols))
    ids, seqs = a[:, 0].astype(np.int64), a[:, 1].astype(np.int64)
    # by statement, then seq: the rows come as sorted runs (the bases, then the window in key order), which
    # a stable sort of one int64 key merges in about linear time (lexsort: ~1 s for 3.7 M rows)
    order = np.argsort((ids << 32) | seqs, kind="stable")
    a, ids, seqs = a[order], ids[order], seqs[order]
    values = a[:, 2:]
    d = values - np.vstack([np.zeros((1, values.shape[1])), values[:-1]])
    first = np.ones(len(a), dtype=bool)
    first[1:] = ids[1:] != ids[:-1]
    d[first] = values[first]  # a statement's first row: its total since it entered the store
    wanted = np.zeros(int(max(ids.max(initial=0), keep.max() if len(keep) else 0)) + 1, dtype=bool)
    wanted[keep.to_numpy(dtype=np.int64)] = True
    inside = (seqs >= lo) & wanted[ids]
    bins = (seqs[inside] - lo) // every
    # bin -> its label seq; -1: no interval (the rows of the server's first snapshot, a baseline)
    lut = np.full(int(max(bins.max(initial=0), label.index.max() if len(label) else 0)) + 1, -1, dtype=np.int64)
    lut[label.index.to_numpy(dtype=np.int64)] = label.to_numpy(dtype=np.int64)
    seq = lut[bins]
    has = seq >= 0
    out = pd.DataFrame(d[inside][has], columns=cols[2:])
    out.insert(0, "seq", seq[has])
    out.insert(0, "statement_id", ids[inside][has])
    return out


def _add_evictions(deltas: pd.DataFrame, gaps: list[tuple], label: pd.Series, lo: int, every: int,
                   keep: pd.Index) -> pd.DataFrame:
    """Mark (statement, bin) pairs with an eviction inside as gaps; NaN rows where the statement has none."""
    import numpy as np
    import pandas as pd

    own = [(s, label.get((q - lo) // every)) for s, q, _ in gaps if s is not None and s in keep]
    own = [(s, q) for s, q in own if q is not None]
    if not own:
        return deltas
    ev = pd.DataFrame(own, columns=["statement_id", "seq"]).drop_duplicates()
    key = deltas["statement_id"].to_numpy() * (1 << 32) + deltas["seq"].to_numpy()
    ekey = ev["statement_id"].to_numpy() * (1 << 32) + ev["seq"].to_numpy()
    hit = np.isin(key, ekey)
    deltas.loc[hit, "gap"] = True
    ev = ev[~np.isin(ekey, key)].assign(**{c: np.nan for c in deltas.columns[2:] if c != "gap"}, gap=True)
    return pd.concat([deltas, ev], ignore_index=True).sort_values(["statement_id", "seq"], kind="stable",
                                                                  ignore_index=True)


def server_frame(rows: list[dict[str, Any]], iv: pd.DataFrame, lo: int = 0, every: int = 1) -> pd.DataFrame:
    """Per interval (bin): deltas of the database counters, gauges at its end, cache hit and a gap flag."""
    import numpy as np
    import pandas as pd

    raw = pd.DataFrame(rows)
    if raw.empty:
        return pd.DataFrame(index=iv.index)
    raw = raw.set_index("seq").sort_index()
    for c in (*DB_COUNTERS, *GAUGES, "stats_reset"):
        if c not in raw:
            raw[c] = np.nan
    cum = raw[list(DB_COUNTERS)].astype(float)
    diff = cum.diff()
    reset = raw["stats_reset"].astype(float)
    gap = (diff < 0).any(axis=1) | (reset.diff().abs() > 1e-3) | cum.isna().all(axis=1) | cum.shift().isna().all(axis=1)
    per = pd.concat([diff.where(~gap, np.nan), raw[list(GAUGES)].astype(float), gap.rename("gap")], axis=1)
    per = per[per.index >= lo]
    b = pd.Series((per.index - lo) // every, index=per.index)
    g = per.groupby(b.to_numpy())
    out = g[list(DB_COUNTERS)].sum(min_count=1)
    gauges = g[list(GAUGES)].last()  # at the bin's end
    gauges[["connections", "lock_waits", "numbackends"]] = g[["connections", "lock_waits", "numbackends"]].max()
    out = pd.concat([out, gauges, g["gap"].any()], axis=1)
    out.loc[out["gap"], list(DB_COUNTERS)] = np.nan
    total = out["blks_hit"] + out["blks_read"]
    out["cache_hit"] = (out["blks_hit"] / total).where(total > 0)
    labels = pd.Series(iv.index, index=(iv.index - lo) // every)
    out.index = labels.reindex(out.index).to_numpy()
    out = out[out.index.notna()]
    out.index = out.index.astype(np.int64)
    return out.reindex(iv.index)

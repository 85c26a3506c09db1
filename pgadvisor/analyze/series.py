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
  A gap row's counters are partial (a reset inside the interval) or NaN (evicted inside it): never compare
  them with their neighbours as if they were whole.
- `plans` — `statement_id`, `seq`, `plan_hash`, `total_cost`, `changed` (False for the plan each statement
  entered the window with, True for each change inside it).
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

from dataclasses import dataclass
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

    @property
    def counters(self) -> list[str]:
        return [c for c in self.deltas.columns if c in COUNTERS]

    def wide(self, counter: str, groups: dict[int, Any] | None = None) -> pd.DataFrame:
        """`counter` per interval (rows: seq) per statement or group (columns); NaN at gaps and resets."""
        import numpy as np
        import pandas as pd

        d = self.deltas
        key = d["statement_id"] if groups is None else d["statement_id"].map(groups)
        frame = pd.DataFrame({"key": key, "seq": d["seq"], "v": d[counter].astype(float),
                              "gap": d["gap"]}).dropna(subset=["key"])
        table = frame.pivot_table(index="seq", columns="key", values="v", aggfunc="sum", fill_value=0.0)
        table = table.reindex(index=self.intervals.index, fill_value=0.0)
        gaps = frame[frame["gap"]]
        if len(gaps):
            cols = table.columns.get_indexer(gaps["key"])
            rows = table.index.get_indexer(gaps["seq"])
            ok = (cols >= 0) & (rows >= 0)
            values = table.to_numpy(copy=True)
            values[rows[ok], cols[ok]] = np.nan
            table = pd.DataFrame(values, index=table.index, columns=table.columns)
        table.loc[self.intervals["reset"].to_numpy()] = np.nan
        table.columns.name = "statement_id" if groups is None else "group"
        return table

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
                counters: tuple[str, ...] | None = None, with_server: bool = True) -> Series:
    """The series of the intervals that end inside (since, until] (epoch s; None: unbounded)."""
    sid = store.server_id(server)
    if sid is None:
        raise UsageError(f"no server {server!r} in the store (see `pgadvisor snapshots`)")
    seqs = store.window_seqs(sid, since, until)
    if seqs is None:
        raise UsageError(f"the window holds no snapshot of {server!r}; {NEED_TWO}")
    raw = store.interval_series(sid, *seqs, counters=counters, with_server=with_server)
    iv = [i for i in raw["intervals"] if i["start"] is not None]  # the server's first snapshot ends no interval
    if not iv:
        raise UsageError(f"{server!r} has only one snapshot in the window; {NEED_TWO}")
    return frames(server, {**raw, "intervals": iv})


def frames(server: str, raw: dict[str, Any]) -> Series:
    """`Store.interval_series`'s rows as a Series (the first snapshot of a server already dropped)."""
    import pandas as pd

    iv = pd.DataFrame(raw["intervals"]).set_index("seq")
    iv["seconds"] = iv["end"] - iv["start"]
    iv["time"] = pd.to_datetime(iv["end"], unit="s", utc=True)
    iv["reset"] = iv["reset_reason"].notna()
    stmts = pd.DataFrame(raw["statements"], columns=["statement_id", "queryid", "userid", "dbid", "toplevel",
                                                     "query"]).set_index("statement_id")
    cols = list(raw["columns"])
    deltas = pd.DataFrame.from_records(raw["deltas"], columns=cols)
    deltas = deltas[deltas["seq"].isin(iv.index)]
    deltas["gap"] = deltas["seq"].isin(iv.index[iv["reset"]])
    own = [(s, q) for s, q, _ in raw["gaps"] if s is not None]
    if own:
        ev = pd.DataFrame(own, columns=["statement_id", "seq"])
        ev = ev[ev["statement_id"].isin(stmts.index) & ev["seq"].isin(iv.index)]
        ev = ev.assign(**{c: float("nan") for c in cols[2:]}, gap=True)
        deltas = pd.concat([deltas, ev], ignore_index=True)
    deltas = deltas.sort_values(["statement_id", "seq"], kind="stable").reset_index(drop=True)
    plans = pd.DataFrame.from_records(raw["plans"], columns=["statement_id", "seq", "plan_hash", "total_cost"])
    plans["changed"] = plans["seq"] >= iv.index.min()
    return Series(server, iv, stmts, deltas, plans, server_frame(raw.get("server") or [], iv))


def server_frame(rows: list[dict[str, Any]], iv: pd.DataFrame) -> pd.DataFrame:
    """Per interval: deltas of the database counters, gauges at its end, cache hit and a gap flag."""
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
    out = diff.where(~gap, np.nan)
    out = pd.concat([out, raw[list(GAUGES)].astype(float)], axis=1)
    total = out["blks_hit"] + out["blks_read"]
    out["cache_hit"] = (out["blks_hit"] / total).where(total > 0)
    out["gap"] = gap
    return out.reindex(iv.index)

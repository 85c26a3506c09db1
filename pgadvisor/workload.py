"""Snapshots → Workload: counter deltas over a window, with resets and evictions accounted for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pgadvisor.snapshot import COUNTERS


@dataclass
class StatementStats:
    """One statement's activity inside a window (deltas, not cumulative values)."""

    queryid: str
    query: str
    userid: int
    dbid: int
    toplevel: bool
    calls: int
    total_exec_ms: float
    rows: int
    counters: dict[str, float] = field(default_factory=dict)  # every COUNTERS delta
    datname: str | None = None
    # the pg_stat_statements text when `query` is a logged sample with real parameter values
    template: str | None = None
    # literal texts (logged bind values substituted into `query`) to cost custom plans with; not stored
    examples: tuple[str, ...] = ()

    @property
    def mean_exec_ms(self) -> float:
        return self.total_exec_ms / self.calls if self.calls else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "queryid": self.queryid,
            "query": self.query,
            "calls": self.calls,
            "total_exec_ms": round(self.total_exec_ms, 3),
            "mean_exec_ms": round(self.mean_exec_ms, 3),
            "rows": self.rows,
            "userid": self.userid,
            "dbid": self.dbid,
            "datname": self.datname,
            "toplevel": self.toplevel,
            "shared_blks_hit": int(self.counters.get("shared_blks_hit", 0)),
            "shared_blks_read": int(self.counters.get("shared_blks_read", 0)),
            "total_plan_ms": round(self.counters.get("total_plan_time", 0.0), 3),
        }


@dataclass
class Workload:
    """What analyzers and advisors take: a server's statements over a window plus its schema."""

    server: str
    window: dict[str, Any]
    coverage: dict[str, Any]
    statements: list[StatementStats]
    schema: dict[str, Any] = field(default_factory=dict)  # relations, indexes, columns at window end
    settings: dict[str, str] = field(default_factory=dict)


def load_workload(store, server: str, *, since: float | None = None, until: float | None = None,
                  top: int | None = None, dbid: int | None = None, order: str = "total_exec_time",
                  with_schema: bool = False) -> Workload:
    """Statements of `server` over (since, until] as deltas, with coverage of what may be missing."""
    from pgadvisor.errors import UsageError

    sid = store.server_id(server)
    if sid is None:
        known = ", ".join(store.servers()) or "none"
        raise UsageError(f"no snapshots for server {server!r} in the store (servers: {known})")
    seqs = store.window_seqs(sid, since, until)
    window: dict[str, Any] = {"since": since, "until": until}
    if seqs is None:
        return Workload(server, window | {"snapshots": 0}, {"intervals": 0, "complete": False}, [])
    lo, hi = seqs
    rows = store.aggregate(sid, lo, hi, limit=top, dbid=dbid, order=order)
    coverage = store.coverage(sid, lo, hi)
    window.update(start=coverage.pop("start"), end=coverage.pop("end"), snapshots=coverage["snapshots"])
    statements = [
        StatementStats(queryid=str(r["queryid"]), query=r["query"], userid=int(r["userid"]), dbid=int(r["dbid"]),
                       toplevel=bool(r["toplevel"]), calls=int(r["calls"]), total_exec_ms=float(r["total_exec_time"]),
                       rows=int(r["rows"]), counters={c: float(r[c]) for c in COUNTERS})
        for r in rows]
    parts = store.parts(sid, hi) if with_schema else {}
    settings = {s["name"]: s["setting"] for s in parts.pop("settings", [])}
    return Workload(server, window, coverage, statements, schema=parts, settings=settings)

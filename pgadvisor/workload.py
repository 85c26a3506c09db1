"""Store → Workload: what every analyzer and advisor takes (DESIGN.md §3).

For one server and a window of its snapshots: each statement's counter deltas (resets and evictions
accounted for by the store, and reported in `coverage`), its logged text where the server log gave
one (`with_samples`), the per-table write deltas (`table_write_deltas`) and the schema at the window's
end. `Workload.to_json`/`from_json` record one for offline tests (fixtures/workloads/).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pgadvisor.errors import UsageError
from pgadvisor.pg.logs import examples, template_from_samples
from pgadvisor.snapshot import COUNTERS, SCHEMA_KINDS

# the version of Workload.to_json's document; from_json reads this one only
WORKLOAD_FORMAT = 1
_KIND = "pgadvisor-workload"
_WRITE_KEYS = ("n_tup_ins", "n_tup_upd", "n_tup_del", "n_tup_hot_upd")
NO_SNAPSHOTS = "the store holds no snapshots yet: run `pgadvisor collect --dsn ...` first"


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
    # literal texts (logged bind values substituted into `query`) to cost custom plans with; derived
    # from the store's samples when a window is loaded, never stored themselves
    examples: tuple[str, ...] = ()

    @property
    def mean_exec_ms(self) -> float:
        return self.total_exec_ms / self.calls if self.calls else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The statement as `pgadvisor workload --format json` shows it (rounded, a few counters)."""
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

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> StatementStats:
        """The inverse of `dataclasses.asdict` after a JSON round trip (lists back to tuples, numbers typed)."""
        return cls(queryid=str(d["queryid"]), query=d["query"], userid=int(d["userid"]), dbid=int(d["dbid"]),
                   toplevel=bool(d["toplevel"]), calls=int(d["calls"]), total_exec_ms=float(d["total_exec_ms"]),
                   rows=int(d["rows"]), counters={k: float(v) for k, v in d.get("counters", {}).items()},
                   datname=d.get("datname"), template=d.get("template"), examples=tuple(d.get("examples", ())))


@dataclass
class Workload:
    """A server's statements over a window, with the table writes in it and the schema at its end."""

    server: str
    window: dict[str, Any]  # since, until (as asked), start, end (epoch seconds), snapshots
    coverage: dict[str, Any]  # intervals, resets, evictions: what the counters may be missing
    statements: list[StatementStats]
    # "schema.table" → n_tup_ins/upd/del/hot_upd over the window
    table_writes: dict[str, dict[str, float]] = field(default_factory=dict)
    # relations, indexes, columns, foreign_keys at the window's end, as pg.catalog.read_schema returns them
    schema: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)  # name → setting at the window's end

    @property
    def sampled_statements(self) -> int:
        """How many statements carry a logged text (their pg_stat_statements text is in `template`)."""
        return sum(1 for s in self.statements if s.template)

    @property
    def days(self) -> float | None:
        """The window's length in days; None when it holds no interval."""
        start, end = self.window.get("start"), self.window.get("end")
        # a window of one snapshot has no length: a floor keeps the per-day rates finite
        return max((end - start) / 86400, 1e-6) if start and end else None

    def summary(self) -> dict[str, Any]:
        """What a review document says about the window it advised on."""
        return {"window": self.window, "coverage": self.coverage, "sampled_statements": self.sampled_statements}

    def to_json(self, indent: int | None = None) -> str:
        """A versioned JSON document that `from_json` reads back into an equal Workload."""
        doc = {"format": WORKLOAD_FORMAT, "kind": _KIND, "server": self.server, "window": self.window,
               "coverage": self.coverage, "statements": [asdict(s) for s in self.statements],
               "table_writes": self.table_writes, "schema": self.schema, "settings": self.settings}
        return json.dumps(doc, indent=indent, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Workload:
        """Read a `to_json` document; UsageError for anything else or another format version."""
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"not a workload file: {exc}") from None
        if not isinstance(doc, dict) or doc.get("kind") != _KIND:
            raise UsageError("not a workload file (no \"kind\": \"pgadvisor-workload\")")
        if doc.get("format") != WORKLOAD_FORMAT:
            raise UsageError(f"workload file format {doc.get('format')!r}: this pgadvisor reads format "
                             f"{WORKLOAD_FORMAT}")
        try:
            return cls(server=doc["server"], window=doc["window"], coverage=doc["coverage"],
                       statements=[StatementStats.from_record(s) for s in doc["statements"]],
                       table_writes=doc.get("table_writes", {}), schema=doc.get("schema", {}),
                       settings=doc.get("settings", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"workload file: a field is missing or of the wrong type ({exc!r})") from None


def pick_server(store, name: str | None, *, none_yet: str = NO_SNAPSHOTS) -> str:
    """`name`, or the store's only server; UsageError (`none_yet` as its text) when the store holds
    none, and when it holds several and no name says which."""
    if name:
        return name
    names = store.servers()
    if len(names) == 1:
        return names[0]
    if not names:
        raise UsageError(none_yet)
    raise UsageError(f"the store holds several servers, choose one with --server: {', '.join(names)}")


def load_workload(store, server: str, *, since: float | None = None, until: float | None = None,
                  top: int | None = None, dbid: int | None = None, order: str = "total_exec_time",
                  statements_only: bool = False) -> Workload:
    """The Workload of `server` over the snapshots taken in (since, until] (epoch seconds).

    `top`/`order`/`dbid` limit the statements (the `order` counter's top). `statements_only`: their
    pg_stat_statements texts and counters only, no log samples, table writes or schema (what
    `pgadvisor workload` lists)."""
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
    if statements_only:
        return Workload(server, window, coverage, statements)
    statements = with_samples(statements, store.samples(sid, [s.queryid for s in statements]))
    schema = store.parts(sid, hi, kinds=SCHEMA_KINDS)
    settings = {s["name"]: s["setting"] for s in schema.pop("settings", [])}
    writes: dict[str, dict[str, float]] = {}
    # the window opens at the snapshot before its first interval (or at its first, baseline, snapshot)
    before = store.parts(sid, max(lo - 1, 1), kinds=("relations",)).get("relations")
    if before and schema.get("relations"):
        writes = table_write_deltas(before, schema["relations"])
    return Workload(server, window, coverage, statements, table_writes=writes, schema=schema, settings=settings)


def table_write_deltas(before: list[dict] | None, after: list[dict]) -> dict[str, dict[str, float]]:
    """Per-table write counters between two relation snapshots (a counter that went down: take `after`)."""
    old = {f"{r['schema']}.{r['name']}": r for r in before or []}
    out = {}
    for r in after:
        key = f"{r['schema']}.{r['name']}"
        prev = old.get(key)
        row = {}
        for k in _WRITE_KEYS:
            a = r.get(k) or 0
            b = (prev or {}).get(k) or 0
            row[k] = float(a - b if prev is not None and a >= b else a)
        out[key] = row
    return out


def with_samples(
    statements: list[StatementStats], samples: dict[str, list[tuple[str, list[tuple[str, ...]], int]]]
) -> list[StatementStats]:
    """Statements whose logged text (the application's own constants, $n only for bind parameters)
    replaces pg_stat_statements' text, where all constants are $n; with literal examples (logged
    parameter values substituted) to cost the custom plans the application gets."""
    out = []
    for s in statements:
        mine = samples.get(s.queryid, [])
        text = template_from_samples([t for t, _, _ in mine], [n for _, _, n in mine])
        if text:
            pairs = [(t, sets) for t, sets, _ in mine]
            out.append(replace(s, query=text, template=s.query, examples=tuple(examples(text, pairs))))
        else:
            out.append(s)
    return out

"""Per-template figures (what `pgadvisor workload` shows) and the behaviour features clustering reads.

`template_figures(templates)` → one `Figures` per template: calls, time share, rows, cache hit ratio,
temp spill, WAL, the tables and columns it touches (sql.parse), read or write. `behaviour_matrix(figures)`
→ what one call of each template costs and how often it runs, as orders of magnitude (BEHAVIOUR_FEATURES).
`hot_objects(figures)` ranks tables and columns by the time of the templates that touch them. Data in, data
out; nothing here prints.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pgadvisor.sql.parse import parse_statement

if TYPE_CHECKING:
    import numpy as np

    from pgadvisor.analyze.templates import Template, TemplateSet

WRITE_KINDS = frozenset({"insert", "update", "delete", "merge"})
_AGGREGATE = re.compile(r"\b(?:SUM|COUNT|AVG|MIN|MAX|ARRAY_AGG|STRING_AGG|PERCENTILE_CONT)\(", re.I)
BLOCK_BYTES = 8192  # PostgreSQL's default block size (pg_stat_statements counts blocks)
# The three axes a workload class is told by — how long one call runs, how much data it moves (shared
# pages hit or read plus temp pages; WAL pages written on their own axis) and how often it runs — each as
# log10(1 + x) in its natural unit (ms, 8 kB pages, calls). A factor of 10 weighs the same on every axis, so
# the matrix needs no per-feature scaling, and differences below one unit (a 5 µs vs a 15 µs lookup, a
# 100-byte WAL record) are not behaviour. Shown in the profiles but not clustered on: rows per call (result
# size: 1 to 18,000 within TPC-H's analytics alone), the cache miss ratio (the cache's state, not the
# statement's), temp share (work_mem's), and structure (tables, joins: bench_classes split pgbench by
# statement kind with it). Measured in bench_classes (docs/benchmarks.md, issue 12).
BEHAVIOUR_FEATURES = ("log_ms_per_call", "log_pages_per_call", "log_wal_pages_per_call", "log_calls")


@dataclass
class Figures:
    """One template's activity over the window and its shape (per call)."""

    id: str
    text: str
    status: str
    queryids: list[str]
    calls: int
    total_ms: float
    time_share: float  # of the window's total execution time, 0..1
    rows: int
    shared_hit: float
    shared_read: float
    temp_blocks: float  # temp_blks_written + temp_blks_read
    wal_bytes: float
    kind: str  # select | insert | update | delete | merge | utility | unknown
    tables: list[str] = field(default_factory=list)  # "schema.table" or "table"
    columns: list[str] = field(default_factory=list)  # "table.column"
    joins: int = 0
    aggregates: bool = False
    example: str = ""  # the text of the template's busiest statement, as pg_stat_statements keeps it

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0

    @property
    def rows_per_call(self) -> float:
        return self.rows / self.calls if self.calls else 0.0

    @property
    def blocks_per_call(self) -> float:
        return (self.shared_hit + self.shared_read) / self.calls if self.calls else 0.0

    @property
    def hit_ratio(self) -> float | None:
        """Shared-buffer hits / (hits + reads); None when the template touched no block."""
        total = self.shared_hit + self.shared_read
        return self.shared_hit / total if total else None

    @property
    def writes(self) -> bool:
        return self.kind in WRITE_KINDS

    def to_dict(self) -> dict[str, Any]:
        hit = self.hit_ratio
        return {"id": self.id, "text": self.text, "example": self.example, "parsed": self.status != "unparsed",
                "kind": self.kind,
                "queryids": self.queryids, "calls": self.calls, "total_exec_ms": round(self.total_ms, 3),
                "mean_exec_ms": round(self.mean_ms, 4), "time_share": round(self.time_share, 5),
                "rows": self.rows, "rows_per_call": round(self.rows_per_call, 3),
                "cache_hit_ratio": None if hit is None else round(hit, 5),
                "temp_blocks": int(self.temp_blocks), "temp_bytes": int(self.temp_blocks * BLOCK_BYTES),
                "wal_bytes": int(self.wal_bytes), "tables": self.tables, "columns": self.columns,
                "joins": self.joins, "aggregates": self.aggregates}


def template_figures(templates: TemplateSet | list[Template]) -> list[Figures]:
    """The figures of every template (in the order given), parsing each template's text once."""
    from pgadvisor.analyze.templates import parallel_map

    items = templates.templates if hasattr(templates, "templates") else templates
    total = sum(t.total_exec_ms for t in items) or 1.0
    shapes = parallel_map(text_shape, [t.example if t.status == "parsed" else None for t in items])
    out = []
    for t, (kind, tables, columns, joins) in zip(items, shapes):
        out.append(Figures(
            id=t.id, text=t.text, status=t.status, queryids=t.queryids, calls=t.calls, total_ms=t.total_exec_ms,
            time_share=t.total_exec_ms / total, rows=t.rows, shared_hit=t.counter("shared_blks_hit"),
            shared_read=t.counter("shared_blks_read"),
            temp_blocks=t.counter("temp_blks_written") + t.counter("temp_blks_read"), wal_bytes=t.counter("wal_bytes"),
            kind=kind or ("utility" if t.status == "utility" else "unknown"), tables=tables, columns=columns,
            joins=joins, aggregates=bool(_AGGREGATE.search(t.text)), example=t.example))
    return out


def text_shape(text: str | None) -> tuple[str | None, list[str], list[str], int]:
    """(kind, tables, columns, joins) of a statement text; (None, [], [], 0) when it does not parse."""
    ps = parse_statement(text) if text is not None else None
    if ps is None or not ps.ok:
        return None, [], [], 0
    tables = sorted({_table(k) for k in ps.tables})
    columns = sorted({f"{_table(k)}.{c}" for k, cols in ps.columns_used.items() for c in cols})
    return ps.kind, tables, columns, len(ps.joins)


def _table(key: tuple[str | None, str]) -> str:
    schema, name = key
    return f"{schema}.{name}" if schema else name


def behaviour_vector(f: Figures) -> list[float]:
    """What one call of a template costs and how often it runs, in the order of BEHAVIOUR_FEATURES."""
    calls = max(f.calls, 1)
    pages = (f.shared_hit + f.shared_read + f.temp_blocks) / calls
    return [math.log10(1 + f.mean_ms), math.log10(1 + pages), math.log10(1 + f.wal_bytes / calls / BLOCK_BYTES),
            math.log10(1 + f.calls)]


def behaviour_matrix(figures: list[Figures]) -> np.ndarray:
    """One row per template (behaviour_vector); already on one scale (orders of magnitude)."""
    import numpy as np

    return np.array([behaviour_vector(f) for f in figures], dtype=float).reshape(len(figures),
                                                                                   len(BEHAVIOUR_FEATURES))


def hot_objects(figures: list[Figures], top: int = 10) -> dict[str, list[dict[str, Any]]]:
    """Tables and columns by the execution time of the templates that touch them (time share, calls,
    templates, and for tables the share of that time spent in writes)."""
    tables: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    columns: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for f in figures:
        for name in f.tables:
            row = tables[name]
            row["time_share"] += f.time_share
            row["calls"] += f.calls
            row["templates"] += 1
            row["write_time_share"] += f.time_share if f.writes else 0.0
        for name in f.columns:
            row = columns[name]
            row["time_share"] += f.time_share
            row["calls"] += f.calls
            row["templates"] += 1

    def ranked(d: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
        rows = sorted(d.items(), key=lambda kv: (-kv[1]["time_share"], -kv[1]["calls"], kv[0]))[:top]
        return [{"name": k, **{m: (int(v) if m in ("calls", "templates") else round(v, 5)) for m, v in row.items()}}
                for k, row in rows]

    return {"tables": ranked(tables), "columns": ranked(columns)}


def read_write_mix(figures: list[Figures]) -> dict[str, float]:
    """Shares of calls and of execution time that read (select) and that write."""
    calls = sum(f.calls for f in figures) or 1
    time = sum(f.total_ms for f in figures) or 1.0
    w_calls = sum(f.calls for f in figures if f.writes)
    w_time = sum(f.total_ms for f in figures if f.writes)
    return {"write_calls_share": round(w_calls / calls, 5), "write_time_share": round(w_time / time, 5),
            "read_calls_share": round(1 - w_calls / calls, 5), "read_time_share": round(1 - w_time / time, 5)}

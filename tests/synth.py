"""Synthetic snapshots for store tests and benchmarks (no server needed)."""

from __future__ import annotations

import random

from pgadvisor.snapshot import COUNTERS, Snapshot


def statement_rows(n: int, seed: int = 1) -> list[dict]:
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        row = {c: 0 for c in COUNTERS}
        row.update(queryid=str(10_000_000 + i), userid=10, dbid=5, toplevel=True,
                   query=f"SELECT * FROM t{i % 2000} WHERE c{i % 7} = $1 AND k = {i}",
                   calls=rnd.randint(1, 1000), total_exec_time=rnd.random() * 1000, rows=rnd.randint(0, 10_000))
        rows.append(row)
    return rows


def advance(rows: list[dict], fraction: float, rnd: random.Random) -> None:
    """Move the counters of a random `fraction` of the statements forward (in place)."""
    for row in rnd.sample(rows, int(len(rows) * fraction)):
        calls = rnd.randint(1, 50)
        row["calls"] += calls
        row["total_exec_time"] += calls * rnd.random() * 3
        row["rows"] += calls
        row["shared_blks_hit"] += calls * 4


def snapshot(server: str, taken_at: float, rows: list[dict], *, parts: dict | None = None,
             postmaster_start: float = 1.0, stats_reset: float = 1.0, dealloc: int = 0) -> Snapshot:
    return Snapshot(server=server, taken_at=taken_at,
                    info={"system_identifier": "42", "version": "15.0", "version_num": 150000,
                          "postmaster_start": postmaster_start, "datname": "app", "dbid": 5},
                    pgss={"extversion": "1.10", "dealloc": dealloc, "stats_reset": stats_reset},
                    statements=[dict(r) for r in rows], parts=parts or {})

"""Retention: snapshots older than a cutoff are downsampled to one per day per server; no total is lost.

Because stat_totals holds running totals, downsampling only moves each statement's last row of the day
to the day's kept snapshot and deletes the rows and snapshots in between; the kept snapshot absorbs the
intervals, evictions, deallocations and reset reasons of the ones it replaces.
"""

from __future__ import annotations

import time
from typing import Any

from pgadvisor.store.backend import Backend, chunks

SECONDS_PER_DAY = 86400


def prune(db: Backend, older_than_s: float, now: float | None = None) -> dict[str, Any]:
    """Downsample snapshots older than the cutoff to one per day per server."""
    cutoff = (now or time.time()) - older_than_s
    merged = removed = 0
    with db.write():
        for (sid,) in db.query("SELECT id FROM servers"):
            days: dict[int, list[tuple]] = {}
            for row in db.query(
                "SELECT seq, taken_at, intervals, n_evicted, dealloc_delta, reset_reason "
                "FROM snapshots WHERE server_id = ? AND taken_at < ? ORDER BY seq",
                (sid, cutoff),
            ):
                days.setdefault(int(row[1] // SECONDS_PER_DAY), []).append(row)
            for rows in days.values():
                if len(rows) < 2:
                    continue
                removed += _merge_day(db, sid, rows)
                merged += 1
        db.execute("DELETE FROM blobs WHERE hash NOT LIKE 'plan:%' AND hash NOT IN (SELECT hash FROM snapshot_parts)")
    if db.dialect == "sqlite" and removed:
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"days_downsampled": merged, "snapshots_removed": removed}


def _merge_day(db: Backend, sid: int, rows: list[tuple]) -> int:
    """Merge one day's snapshots (seq, taken_at, intervals, n_evicted, dealloc_delta, reset_reason) into
    its last one; how many snapshots were removed."""
    keep = rows[-1][0]
    # the first snapshot of the day keeps its own interval (it ends the previous day)
    absorbed = rows[1:]
    lo = absorbed[0][0]
    # running totals: each statement's last row of the day moves to the kept snapshot
    db.execute(
        "UPDATE stat_totals SET seq = ? WHERE server_id = ? AND seq BETWEEN ? AND ? "
        "AND (statement_id, seq) IN (SELECT statement_id, max(seq) FROM stat_totals "
        "WHERE server_id = ? AND seq BETWEEN ? AND ? GROUP BY statement_id)",
        (keep, sid, lo, keep, sid, lo, keep),
    )
    db.execute("DELETE FROM stat_totals WHERE server_id = ? AND seq BETWEEN ? AND ?", (sid, lo, keep - 1))
    reasons = sorted({r[5] for r in absorbed if r[5]})
    db.execute(
        "UPDATE snapshots SET intervals = ?, n_evicted = ?, dealloc_delta = ?, reset_reason = ? "
        "WHERE server_id = ? AND seq = ?",
        (
            sum(r[2] for r in absorbed),
            sum(r[3] for r in absorbed),
            sum(r[4] for r in absorbed),
            "; ".join(reasons) or None,
            sid,
            keep,
        ),
    )
    gone = [r[0] for r in absorbed[:-1]]
    for chunk, marks in chunks(gone):
        db.execute(
            f"DELETE FROM snapshot_parts WHERE snapshot_id IN (SELECT id FROM snapshots "
            f"WHERE server_id = ? AND seq IN ({marks}))",
            (sid, *chunk),
        )
        db.execute(f"DELETE FROM snapshots WHERE server_id = ? AND seq IN ({marks})", (sid, *chunk))
    return len(gone)

"""The read path: servers, windows of snapshots, a window's activity per statement, coverage, parts, samples.

A window (lo, hi] of snapshot seqs is read as two running-total lookups per statement (`aggregate`), so
its cost does not grow with the number of snapshots inside it. Readers cope with stores an older
pgadvisor wrote and may not migrate (a read-only file): columns added later read as their default.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pgadvisor.snapshot import COUNTERS
from pgadvisor.store.backend import Backend, chunks, unpack

# Bounds that include every snapshot when a window has no start or no end (epoch seconds, seqs).
BEFORE_ANY_TIME = -1.0
AFTER_ANY_TIME = 1e18
AFTER_ANY_SEQ = 1 << 62

# Each pg_stat_statements deallocation run evicts 5% of pg_stat_statements.max entries, at least 10
# (USAGE_DEALLOC_PERCENT and Max(10, ...) in contrib/pg_stat_statements/pg_stat_statements.c, entry_dealloc);
# 5000 is pg_stat_statements.max's default, assumed for snapshots stored before migration 7 recorded it.
DEALLOC_SHARE = 0.05
DEALLOC_MIN_ENTRIES = 10
PGSS_MAX_DEFAULT = 5000

# the store versions that added columns read here (older read-only stores lack them)
SAMPLE_PARAMS_SINCE = 4
SAMPLE_TIMES_SINCE = 5
PGSS_MAX_SINCE = 7


def server_id(db: Backend, name: str, create: bool = False) -> int | None:
    """The id of server `name` (made when `create`; inside a write transaction then)."""
    rows = db.query("SELECT id FROM servers WHERE name = ?", (name,))
    if rows:
        return int(rows[0][0])
    if not create:
        return None
    db.execute("INSERT INTO servers (name, created_at) VALUES (?, ?)", (name, time.time()))
    return int(db.query("SELECT id FROM servers WHERE name = ?", (name,))[0][0])


def servers(db: Backend) -> list[str]:
    return [r[0] for r in db.query("SELECT name FROM servers ORDER BY name")]


def present(db: Backend, sid: int, seq: int) -> list[int]:
    """Statement ids present in pg_stat_statements at snapshot `seq` (a deduplicated part)."""
    rows = db.query(
        "SELECT b.data FROM snapshots s JOIN snapshot_parts p ON p.snapshot_id = s.id "
        "JOIN blobs b ON b.hash = p.hash WHERE s.server_id = ? AND s.seq = ? AND p.kind = 'present'",
        (sid, seq),
    )
    return unpack(rows[0][0]) if rows else []


def window_seqs(db: Backend, sid: int, since: float | None, until: float | None) -> tuple[int, int] | None:
    """Seq range of the intervals that end inside (since, until]; None when the window has none."""
    row = db.query(
        "SELECT min(seq), max(seq) FROM snapshots WHERE server_id = ? AND taken_at > ? AND taken_at <= ?",
        (sid, since if since is not None else BEFORE_ANY_TIME, until if until is not None else AFTER_ANY_TIME),
    )[0]
    return None if row[0] is None else (int(row[0]), int(row[1]))


def aggregate(
    db: Backend,
    sid: int,
    lo: int,
    hi: int,
    *,
    limit: int | None = None,
    dbid: int | None = None,
    order: str = "total_exec_time",
) -> list[dict[str, Any]]:
    """Per statement (not pgadvisor's own), its activity in the window (lo-1, hi] and its text."""
    if order not in COUNTERS:
        raise ValueError(order)
    # activity in (lo-1, hi] = running total at the last row <= hi minus the one at the last row < lo
    diffs = ", ".join(f"h.t_{c} - coalesce(l.t_{c}, 0) AS {c}" for c in COUNTERS)
    where = " AND s.dbid = ?" if dbid is not None else ""
    params: list[Any] = [hi, lo, sid] + ([dbid] if dbid is not None else [])
    # MATERIALIZED keeps the planner from driving the join from all stat_totals rows of the server
    sql = (
        "WITH b AS MATERIALIZED (SELECT s.id, s.server_id, s.queryid, s.userid, s.dbid, s.toplevel, s.text_hash, "
        "(SELECT x.seq FROM stat_totals x WHERE x.server_id = s.server_id AND x.statement_id = s.id "
        "AND x.seq <= ? ORDER BY x.seq DESC LIMIT 1) AS hi_seq, "
        "(SELECT x.seq FROM stat_totals x WHERE x.server_id = s.server_id AND x.statement_id = s.id "
        "AND x.seq < ? ORDER BY x.seq DESC LIMIT 1) AS lo_seq "
        f"FROM statements s WHERE s.server_id = ? AND s.own = 0{where}) "
        f"SELECT queryid, userid, dbid, toplevel, text_hash, {', '.join(COUNTERS)} FROM ("
        f"SELECT b.queryid, b.userid, b.dbid, b.toplevel, b.text_hash, {diffs} FROM b "
        "JOIN stat_totals h ON h.server_id = b.server_id AND h.statement_id = b.id AND h.seq = b.hi_seq "
        "LEFT JOIN stat_totals l ON l.server_id = b.server_id AND l.statement_id = b.id AND l.seq = b.lo_seq) w "
        f"WHERE calls > 0 OR total_exec_time > 0 ORDER BY {order} DESC, queryid"
    )
    if limit:
        sql += f" LIMIT {int(limit)}"
    names = ["queryid", "userid", "dbid", "toplevel", "text_hash", *COUNTERS]
    rows = [dict(zip(names, r)) for r in db.query(sql, params)]
    texts: dict[str, str] = {}
    for chunk, marks in chunks(sorted({r["text_hash"] for r in rows})):
        texts.update(db.query(f"SELECT hash, query FROM texts WHERE hash IN ({marks})", chunk))
    for r in rows:
        r["query"] = texts.get(r.pop("text_hash"), "")
    return rows


def coverage(db: Backend, sid: int, lo: int, hi: int) -> dict[str, Any]:
    """How complete the window's record is: intervals, evictions, deallocations, hidden rows, resets."""
    r = db.query(
        "SELECT count(*), coalesce(sum(intervals), 0), coalesce(sum(n_evicted), 0), "
        "coalesce(sum(dealloc_delta), 0), "
        "coalesce(max(n_hidden), 0), min(taken_at), max(taken_at) FROM snapshots "
        "WHERE server_id = ? AND seq BETWEEN ? AND ?",
        (sid, lo, hi),
    )[0]
    resets = [
        x[0]
        for x in db.query(
            "SELECT reset_reason FROM snapshots WHERE server_id = ? AND seq BETWEEN ? AND ? "
            "AND reset_reason IS NOT NULL "
            "ORDER BY seq",
            (sid, lo, hi),
        )
    ]
    lost = 0.0
    if r[3]:
        max_col = "pgss_max" if db.schema_version() >= PGSS_MAX_SINCE else "NULL"
        lost = sum(d * max(DEALLOC_MIN_ENTRIES, DEALLOC_SHARE * (m or PGSS_MAX_DEFAULT)) for d, m in db.query(
            f"SELECT dealloc_delta, {max_col} FROM snapshots WHERE server_id = ? AND seq BETWEEN ? AND ? "
            "AND dealloc_delta > 0", (sid, lo, hi)))
    start = db.query("SELECT max(taken_at) FROM snapshots WHERE server_id = ? AND seq < ?", (sid, lo))[0][0]
    if start is None:  # the window opens on the server's first snapshot: it is the baseline
        start = r[5]
    return {
        "start": start,
        "end": r[6],
        "snapshots": r[0],
        "intervals": r[1],
        "evicted_statements": r[2],
        "dealloc": r[3],  # deallocation runs, not statements
        "dealloc_evicted_estimate": int(round(lost)),  # statement entries those runs evicted, about
        "hidden_statements": r[4],
        "resets": len(resets),
        "reset_reasons": sorted(set(resets)),
        "complete": r[2] == 0 and r[3] == 0 and not resets and r[4] == 0,
    }


def parts(db: Backend, sid: int, seq: int | None = None, kinds: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Schema/settings parts of the snapshot at `seq` (default: the latest)."""
    row = db.query(
        "SELECT id FROM snapshots WHERE server_id = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
        (sid, seq if seq is not None else AFTER_ANY_SEQ),
    )
    if not row:
        return {}
    out = {}
    for kind, data in db.query(
        "SELECT p.kind, b.data FROM snapshot_parts p JOIN blobs b ON b.hash = p.hash WHERE p.snapshot_id = ?",
        (row[0][0],),
    ):
        if kinds is None or kind in kinds:
            out[kind] = unpack(data)
    return out


def snapshots(db: Backend) -> list[dict[str, Any]]:
    """Per server: how many snapshots, their span, resets, evictions and the latest one's identity."""
    rows = db.query(
        "SELECT v.name, count(s.id), min(s.taken_at), max(s.taken_at), max(s.seq), "
        "coalesce(sum(CASE WHEN s.reset_reason IS NULL THEN 0 ELSE 1 END), 0), coalesce(sum(s.n_evicted), 0), "
        "coalesce(sum(s.dealloc_delta), 0), coalesce(sum(s.intervals), 0) "
        "FROM servers v LEFT JOIN snapshots s ON s.server_id = v.id GROUP BY v.id, v.name ORDER BY v.name"
    )
    out = []
    for name, n, first, last, seq, resets, evicted, dealloc, intervals in rows:
        latest = db.query(
            "SELECT server_version, n_statements, n_hidden, datname FROM snapshots s JOIN servers v "
            "ON v.id = s.server_id WHERE v.name = ? ORDER BY seq DESC LIMIT 1",
            (name,),
        )
        ver, nst, hidden, datname = latest[0] if latest else (None, 0, 0, None)
        out.append(
            {
                "server": name,
                "snapshots": n,
                "first": first,
                "last": last,
                "last_seq": seq,
                "resets": resets,
                "evicted_statements": evicted,
                "dealloc": dealloc,
                "intervals": intervals,
                "server_version": ver,
                "statements": nst,
                "hidden_statements": hidden,
                "database": datname,
            }
        )
    return out


def schema_state(db: Backend, server: str) -> tuple[str | None, float | None]:
    """Schema fingerprint of the server's latest snapshot and when its definitions were last read."""
    sid = server_id(db, server)
    if sid is None:
        return None, None
    rows = db.query("SELECT schema_fingerprint, schema_read_at FROM snapshots WHERE server_id = ? "
                    "ORDER BY seq DESC LIMIT 1", (sid,))
    return (rows[0][0], rows[0][1]) if rows else (None, None)


def log_offsets(db: Backend, server: str) -> dict[str, int]:
    """Where reading each of the server's log files stopped."""
    sid = server_id(db, server)
    if sid is None:
        return {}
    return {
        k: int(v)
        for k, v in db.query("SELECT file_key, file_offset FROM log_offsets WHERE server_id = ?", (sid,))
    }


def samples(db: Backend, sid: int, queryids: list[str]) -> dict[str, list[tuple[str, list[tuple[str, ...]], int]]]:
    """The logged samples kept per queryid, newest first: (text, the bind parameters' value sets logged
    with it, newest last, how many times the text was logged)."""
    out: dict[str, list[tuple[str, list[tuple[str, ...]], int]]] = {}
    version = db.schema_version()
    params_col = "s.params" if version >= SAMPLE_PARAMS_SINCE else "NULL"
    times_col = "COALESCE(s.times, 1)" if version >= SAMPLE_TIMES_SINCE else "1"
    for chunk, marks in chunks(queryids):
        for qid, text, params, times in db.query(
            f"SELECT s.queryid, t.query, {params_col}, {times_col} FROM samples s "
            f"JOIN texts t ON t.hash = s.text_hash "
            f"WHERE s.server_id = ? AND s.queryid IN ({marks}) ORDER BY s.queryid, s.seen_at DESC",
            (sid, *chunk),
        ):
            sets = [tuple(v) for v in json.loads(params)] if params else []
            out.setdefault(qid, []).append((text, sets, int(times)))
    return out

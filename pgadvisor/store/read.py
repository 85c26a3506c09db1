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
    # a statement gone while pg_stat_statements' dealloc count (PG 14+) stood still was not evicted: a partial
    # pg_stat_statements_reset(userid, dbid, queryid) removed it (a full reset is a reset_reason instead)
    removed = db.query(
        "SELECT coalesce(sum(n_evicted), 0) FROM snapshots WHERE server_id = ? AND seq BETWEEN ? AND ? "
        "AND pgss_dealloc IS NOT NULL AND dealloc_delta = 0", (sid, lo, hi))[0][0]
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
        "evicted_statements": r[2] - removed,
        "reset_statements": removed,  # removed by a partial reset, not evicted
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


# the store version that added schema_read_at (older stores: table counters are not dated)
SCHEMA_READ_AT_SINCE = 3
# pg_stat_database and activity fields interval_series returns per snapshot (collect's "database"/"activity")
DATABASE_FIELDS = ("numbackends", "xact_commit", "xact_rollback", "blks_read", "blks_hit", "tup_returned",
                   "tup_fetched", "tup_inserted", "tup_updated", "tup_deleted", "conflicts", "temp_files",
                   "temp_bytes", "deadlocks", "stats_reset", "size_bytes")


def interval_series(
    db: Backend, sid: int, lo: int, hi: int, *, counters: tuple[str, ...] = COUNTERS, with_server: bool = True,
    every: int = 1, statement_ids: list[int] | None = None,
) -> dict[str, Any]:
    """Per interval (consecutive stored snapshots) of the window (lo-1, hi]: each statement's counter deltas.

    Returns a dict of plain rows (analyze/series.py makes pandas frames of them):
    - "intervals": one dict per snapshot seq in [lo, hi] — seq, start (the previous snapshot's taken_at,
      None for the server's first snapshot), end, intervals (>1: retention merged several), reset_reason,
      evicted, dealloc;
    - "statements": statement_id, queryid, userid, dbid, toplevel, query (not pgadvisor's own);
    - "columns"/"totals": ("statement_id", "seq", *counters) running totals of the deltas (in no particular
      order; sort by statement and seq): each statement's last row before lo (its base), its rows inside the window
      (only where it moved; with `every` > 1 only its last row in each bin of `every` seqs from lo, for long
      windows). A delta is the difference of a statement's consecutive rows (the first row: minus 0);
      every other (statement, interval) is zero activity, except the gaps below. Running totals never go
      down (a reset or eviction starts a new baseline whose counts are added), so no delta is negative;
    - "gaps": (statement_id or None for every statement, seq, reason): the interval's deltas are partial —
      "reset" (every counter started over inside it: the part before the reset is lost), "evicted"
      (the statement left pg_stat_statements inside it: its activity since the previous snapshot is lost) or
      "returned" (its first row after an eviction: a new baseline, possibly more than that interval's work);
    - "plans": (statement_id, seq, plan_hash, total_cost) — each statement's plan at its last change at or
      before lo (the state entering the window) and every change inside it;
    - "server": one dict per snapshot seq in [lo-1, hi] with the snapshot's own database's pg_stat_database
      fields (cumulative, DATABASE_FIELDS), activity (connections by state, lock_waits, longest_xact_s) and,
      where the table counters were read at that snapshot, dead_tuples/live_tuples/table_bytes (sums).
    With `statement_ids`, "statements", "totals", eviction "gaps" and "plans" hold those statements only (a
    few statements' every counter after a long window's calls and time: the primary key's range reads).
    """
    bad = [c for c in counters if c not in COUNTERS]
    if bad:
        raise ValueError(bad)
    snaps = db.query(
        "SELECT seq, taken_at, intervals, reset_reason, n_evicted, dealloc_delta FROM snapshots "
        "WHERE server_id = ? AND seq <= ? AND seq >= coalesce((SELECT max(seq) FROM snapshots "
        "WHERE server_id = ? AND seq < ?), ?) ORDER BY seq", (sid, hi, sid, lo, lo))
    intervals = []
    prev_seq, prev_at = None, None
    for seq, at, n, reason, evicted, dealloc in snaps:
        if seq >= lo:
            intervals.append({"seq": seq, "start": prev_at, "end": at, "intervals": n, "reset_reason": reason,
                              "evicted": evicted, "dealloc": dealloc})
        prev_seq, prev_at = seq, at
    del prev_seq
    stmts = series_statements(db, sid)
    only = None if statement_ids is None else {int(i) for i in statement_ids}
    evicted = _eviction_gaps(db, sid, [s[0] for s in snaps], {s[0] for s in snaps if s[4] and s[0] >= lo})
    if only is None:
        totals, plans = _series_totals(db, sid, lo, hi, counters, every), _series_plans(db, sid, lo, hi)
    else:
        stmts = [s for s in stmts if s["statement_id"] in only]
        totals, plans = [], []
        for chunk, marks in chunks(sorted(only)):
            totals += _series_totals(db, sid, lo, hi, counters, every, (chunk, marks))
            plans += _series_plans(db, sid, lo, hi, (chunk, marks))
        evicted = [g for g in evicted if g[0] in only]
    out = {
        "intervals": intervals,
        "statements": stmts,
        "columns": ("statement_id", "seq", *counters),
        "totals": totals,
        "gaps": [(None, i["seq"], "reset") for i in intervals if i["reset_reason"]] + evicted,
        "plans": plans,
        "server": _server_rows(db, sid, snaps[0][0] if snaps else lo, hi) if with_server else [],
    }
    return out


def series_statements(db: Backend, sid: int) -> list[dict[str, Any]]:
    """The server's statements (not pgadvisor's own) with their texts, as `interval_series` returns them."""
    rows = db.query("SELECT s.id, s.queryid, s.userid, s.dbid, s.toplevel, t.query FROM statements s "
                    "LEFT JOIN texts t ON t.hash = s.text_hash WHERE s.server_id = ? AND s.own = 0 ORDER BY s.id",
                    (sid,))
    return [{"statement_id": r[0], "queryid": r[1], "userid": r[2], "dbid": r[3], "toplevel": bool(r[4]),
             "query": r[5] or ""} for r in rows]


def _series_totals(db: Backend, sid: int, lo: int, hi: int, counters: tuple[str, ...], every: int,
                   only: tuple[tuple, str] | None = None) -> list[tuple]:
    """Running totals: each statement's last row before lo (the base), then the rows inside [lo, hi] — with
    `every` > 1 each statement's last row of each bin of `every` seqs from lo. Unordered. `only`: a chunk of
    statement ids and its placeholders (store.backend.chunks), to read those statements alone."""
    cols = ", ".join(f"t_{c}" for c in counters)
    ids, marks = only if only is not None else ((), "")
    mine, mine_s = (f" AND statement_id IN ({marks})", f" AND s.id IN ({marks})") if only is not None else ("", "")
    base = db.query(
        f"SELECT t.statement_id, t.seq, {cols} FROM (SELECT s.id, (SELECT x.seq FROM stat_totals x "
        f"WHERE x.server_id = s.server_id AND x.statement_id = s.id AND x.seq < ? ORDER BY x.seq DESC LIMIT 1) "
        f"AS seq FROM statements s WHERE s.server_id = ?{mine_s}) b JOIN stat_totals t ON t.server_id = ? "
        f"AND t.statement_id = b.id AND t.seq = b.seq", (lo, sid, *ids, sid))
    if every <= 1:
        inside = db.query(f"SELECT statement_id, seq, {cols} FROM stat_totals WHERE server_id = ? "
                          f"AND seq BETWEEN ? AND ?{mine}", (sid, lo, hi, *ids))
    elif db.dialect == "sqlite":  # SQLite: the bare columns of a max() aggregate come from the max row
        inside = [r[:1] + r[2:] for r in db.query(
            f"SELECT statement_id, (seq - ?) / ? AS bin, max(seq), {cols} FROM stat_totals WHERE server_id = ? "
            f"AND seq BETWEEN ? AND ?{mine} GROUP BY statement_id, bin", (lo, every, sid, lo, hi, *ids))]
    else:
        inside = db.query(
            f"SELECT DISTINCT ON (statement_id, (seq - ?) / ?) statement_id, seq, {cols} FROM stat_totals "
            f"WHERE server_id = ? AND seq BETWEEN ? AND ?{mine} ORDER BY statement_id, (seq - ?) / ?, seq DESC",
            (lo, every, sid, lo, hi, *ids, lo, every))
    return base + inside


def _eviction_gaps(db: Backend, sid: int, seqs: list[int], evicting: set[int]) -> list[tuple]:
    """(statement_id, seq, "evicted") for each statement present at the snapshot before `seq` and not at it,
    and (statement_id, seq, "returned") at its first row after that: a new baseline whose counts cannot be
    told from a statement that was only out of sight (a spike that never happened if read as one interval)."""
    gaps = []
    for prev, seq in zip(seqs, seqs[1:]):
        if seq not in evicting:
            continue
        gone = sorted(set(present(db, sid, prev)) - set(present(db, sid, seq)))
        gaps += [(st, seq, "evicted") for st in gone]
        for chunk, marks in chunks(gone):
            gaps += [(st, int(first), "returned") for st, first in db.query(
                f"SELECT statement_id, min(seq) FROM stat_totals WHERE server_id = ? AND seq > ? "
                f"AND statement_id IN ({marks}) GROUP BY statement_id", (sid, seq, *chunk))]
    return gaps


def _series_plans(db: Backend, sid: int, lo: int, hi: int, only: tuple[tuple, str] | None = None) -> list[tuple]:
    ids, marks = only if only is not None else ((), "")
    mine = f" AND s.id IN ({marks})" if only is not None else ""
    return db.query(
        "SELECT p.statement_id, p.seq, p.plan_hash, p.total_cost FROM plans p JOIN statements s "
        f"ON s.id = p.statement_id WHERE s.server_id = ?{mine} AND p.seq <= ? AND (p.seq >= ? OR p.seq = "
        "(SELECT max(q.seq) FROM plans q WHERE q.statement_id = p.statement_id AND q.seq <= ?)) "
        "ORDER BY p.statement_id, p.seq", (sid, *ids, hi, lo, lo))


def _server_rows(db: Backend, sid: int, first: int, hi: int) -> list[dict[str, Any]]:
    """Per snapshot: its database's counters, the activity summary and (when read then) table totals."""
    read_at = "s.schema_read_at" if db.schema_version() >= SCHEMA_READ_AT_SINCE else "NULL"
    rows = db.query(
        f"SELECT s.seq, s.taken_at, s.dbid, {read_at}, p.kind, p.hash FROM snapshots s JOIN snapshot_parts p "
        "ON p.snapshot_id = s.id WHERE s.server_id = ? AND s.seq BETWEEN ? AND ? "
        "AND p.kind IN ('database', 'activity', 'relations') ORDER BY s.seq", (sid, first, hi))
    by_seq: dict[int, dict[str, Any]] = {}
    cache: dict[str, Any] = {}
    blobs: dict[str, Any] = {}
    for chunk, marks in chunks(sorted({r[5] for r in rows})):
        blobs.update((h, unpack(d)) for h, d in db.query(f"SELECT hash, data FROM blobs WHERE hash IN ({marks})",
                                                          chunk))
    for seq, taken_at, dbid, schema_read_at, kind, h in rows:
        row = by_seq.setdefault(seq, {"seq": seq, "end": taken_at})
        if kind == "relations" and (schema_read_at is None or abs(schema_read_at - taken_at) > 1e-3):
            continue  # definitions re-used from an earlier snapshot: their counters are not this snapshot's
        if h not in cache:
            cache[h] = _server_part(kind, blobs.get(h), dbid)
        row.update(cache[h])
    return [by_seq[k] for k in sorted(by_seq)]


def _server_part(kind: str, value: Any, dbid: int | None) -> dict[str, Any]:
    if not value:
        return {}
    if kind == "database":
        mine = [d for d in value if d.get("dbid") == dbid] or value[:1]
        return {f: mine[0].get(f) for f in DATABASE_FIELDS}
    if kind == "activity":
        acts = value.get("activity") or []
        out: dict[str, Any] = {"connections": sum(a.get("n") or 0 for a in acts)}
        for state in ("active", "idle", "idle in transaction"):
            out["conn_" + state.replace(" ", "_")] = sum(a.get("n") or 0 for a in acts if a.get("state") == state)
        out["lock_waits"] = sum(a.get("n") or 0 for a in acts if a.get("wait_event_type") == "Lock")
        out["longest_xact_s"] = max((a.get("longest_xact_s") or 0 for a in acts), default=0)
        return out
    return {"dead_tuples": sum(r.get("n_dead_tup") or 0 for r in value),
            "live_tuples": sum(r.get("n_live_tup") or 0 for r in value),
            "table_bytes": sum(r.get("total_bytes") or 0 for r in value)}

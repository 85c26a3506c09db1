"""The write path: one snapshot into the store, in one transaction.

`save_snapshot` reads what the store knows of the server (its last snapshot, the statements' last seen
counters), lets `accounting.account` decide the deltas, and writes: statement identities and texts
(texts once per hash), the changed statements' last seen state and running totals, the snapshot row,
its catalog parts (deduplicated by content), changed plans and log samples. Unchanged statements write
nothing. A crash or a kill at any point leaves the store as it was (the transaction rolls back).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from typing import Any

from pgadvisor.marker import is_own
from pgadvisor.snapshot import COUNTERS, SCHEMA_KINDS, Snapshot
from pgadvisor.store.accounting import Accounting, LastSeen, Observed, Previous, account
from pgadvisor.store.backend import Backend, pack, put_blob, text_hash
from pgadvisor.store.read import present, server_id

# Logged samples kept per statement: its newest distinct texts (a choice; the advisor reads them all).
SAMPLES_PER_STATEMENT = 5
# Bind-value sets kept per sample: the advisor costs up to three literal examples per statement
# (docs/benchmarks.md, "Custom plans with logged values").
VALUE_SETS_PER_SAMPLE = 3
# A value set longer than this in total is not kept (a multi-MB bytea parameter is no useful example).
MAX_VALUES_CHARS = 10_000
# Samples of one snapshot are stamped this far apart so that their newest-first order is kept.
SAMPLE_ORDER_STEP_S = 1e-6

StatementKey = tuple[str, int, int, int]  # queryid, userid, dbid, toplevel

_COLS = ", ".join(COUNTERS)
_TCOLS = ", ".join(f"t_{c}" for c in COUNTERS)


def save_snapshot(db: Backend, snap: Snapshot) -> dict[str, Any]:
    """Store one snapshot in one transaction; returns what was written."""
    with db.write():
        return _save(db, snap)


def _save(db: Backend, snap: Snapshot) -> dict[str, Any]:
    sid = server_id(db, snap.server, create=True)
    prev = db.query(
        "SELECT seq, taken_at, system_identifier, postmaster_start, pgss_stats_reset, pgss_dealloc "
        "FROM snapshots WHERE server_id = ? ORDER BY seq DESC LIMIT 1",
        (sid,),
    )
    if prev and prev[0][1] >= snap.taken_at:
        return {"status": "skipped", "reason": "a newer snapshot of this server is already stored"}
    prev_seq = prev[0][0] if prev else None
    seq = prev_seq + 1 if prev_seq is not None else 1
    keys = [statement_key(s) for s in snap.statements]
    known, n_new = _save_statements(db, sid, snap, keys)
    acc = account(
        Previous(*prev[0][2:]) if prev else None,
        snap.info,
        snap.pgss,
        [Observed(known[k], tuple(s[c] or 0 for c in COUNTERS), s.get("stats_since"))
         for s, k in zip(snap.statements, keys)],
        _last_seen(db, sid),
        set(present(db, sid, prev_seq)) if prev_seq is not None else set(),
    )
    _save_stats(db, sid, seq, acc)
    snap = replace(snap, parts={**snap.parts, "present": sorted(acc.present)})
    snap_id = _insert_snapshot(db, sid, seq, snap, acc, first=prev_seq is None)
    _save_schema_state(db, sid, seq, snap_id, snap)
    _save_parts(db, snap_id, snap)
    _save_plans(db, sid, seq, snap, known)
    _save_samples(db, sid, snap)
    return {
        "status": "stored",
        "server": snap.server,
        "seq": seq,
        "statements": len(snap.statements),
        "changed": acc.changed,
        "new": n_new,
        "evicted": acc.evicted,
        "hidden": snap.n_hidden,
        "reset": acc.reset_reason,
        "notes": [*snap.notes, *acc.notes],
    }


def statement_key(row: dict[str, Any]) -> StatementKey:
    """A pg_stat_statements entry's identity."""
    return (row["queryid"], int(row["userid"]), int(row["dbid"]), int(bool(row["toplevel"])))


def _statement_ids(db: Backend, sid: int) -> dict[StatementKey, int]:
    return {
        (q, u, d, t): i
        for i, q, u, d, t in db.query(
            "SELECT id, queryid, userid, dbid, toplevel FROM statements WHERE server_id = ?", (sid,)
        )
    }


def _save_statements(db: Backend, sid: int, snap: Snapshot, keys: list[StatementKey]
                     ) -> tuple[dict[StatementKey, int], int]:
    """Identities and texts of statements new to the store; (every statement id by key, how many were new)."""
    known = _statement_ids(db, sid)
    new_texts: dict[str, str] = {}
    new_stmts = []
    for s, key in zip(snap.statements, keys):
        if key not in known:
            h = text_hash(s["query"])
            new_texts[h] = s["query"]
            new_stmts.append((sid, *key, h, int(is_own(s["query"]))))
    if new_texts:
        db.executemany(
            "INSERT INTO texts (hash, query) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING", list(new_texts.items())
        )
    if new_stmts:
        db.executemany(
            "INSERT INTO statements (server_id, queryid, userid, dbid, toplevel, text_hash, own) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            new_stmts,
        )
        known = _statement_ids(db, sid)
    return known, len(new_stmts)


def _last_seen(db: Backend, sid: int) -> dict[int, LastSeen]:
    n = len(COUNTERS)
    return {
        r[0]: LastSeen(r[1 : 1 + n], r[1 + n : 1 + 2 * n], r[1 + 2 * n])
        for r in db.query(f"SELECT statement_id, {_COLS}, {_TCOLS}, stats_since FROM stat_last "
                          "WHERE server_id = ?", (sid,))
    }


def _save_stats(db: Backend, sid: int, seq: int, acc: Accounting) -> None:
    """The changed statements' last seen state, and a running-total row for each one that moved."""
    n = len(COUNTERS)
    db.executemany(
        f"INSERT INTO stat_last (statement_id, server_id, {_COLS}, {_TCOLS}, stats_since) "
        f"VALUES ({', '.join(['?'] * (3 + 2 * n))})",
        [(r.statement_id, sid, *r.counters, *r.totals, r.stats_since) for r in acc.rows if r.new],
    )
    sets = ", ".join([f"{c} = ?" for c in COUNTERS] + [f"t_{c} = ?" for c in COUNTERS] + ["stats_since = ?"])
    db.executemany(f"UPDATE stat_last SET {sets} WHERE statement_id = ?",
                   [(*r.counters, *r.totals, r.stats_since, r.statement_id) for r in acc.rows if not r.new])
    db.executemany(
        f"INSERT INTO stat_totals (server_id, statement_id, seq, {_TCOLS}) VALUES ({', '.join(['?'] * (3 + n))})",
        [(sid, r.statement_id, seq, *r.totals) for r in acc.rows if r.moved],
    )


def _insert_snapshot(db: Backend, sid: int, seq: int, snap: Snapshot, acc: Accounting, *, first: bool) -> int:
    info = snap.info
    db.execute(
        "INSERT INTO snapshots (server_id, seq, taken_at, system_identifier, server_version, version_num, "
        "postmaster_start, datname, dbid, pgss_version, pgss_dealloc, pgss_stats_reset, n_statements, n_hidden, "
        "n_changed, n_evicted, dealloc_delta, reset_reason, duration_ms, intervals, pgss_max) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            sid,
            seq,
            snap.taken_at,
            info.get("system_identifier"),
            info.get("version"),
            info.get("version_num"),
            info.get("postmaster_start"),
            info.get("datname"),
            info.get("dbid"),
            snap.pgss.get("extversion"),
            snap.pgss.get("dealloc"),
            snap.pgss.get("stats_reset"),
            len(snap.statements),
            snap.n_hidden,
            acc.changed,
            acc.evicted,
            acc.dealloc_delta,
            acc.reset_reason,
            snap.duration_ms,
            0 if first else 1,  # the first snapshot ends no interval: it is the baseline
            snap.pgss.get("max"),
        ),
    )
    return db.query("SELECT id FROM snapshots WHERE server_id = ? AND seq = ?", (sid, seq))[0][0]


def _save_schema_state(db: Backend, sid: int, seq: int, snap_id: int, snap: Snapshot) -> None:
    """The schema fingerprint; unchanged definitions reuse the previous snapshot's schema parts."""
    read_at = snap.taken_at
    if snap.schema_reused:
        prev = db.query("SELECT id, schema_read_at FROM snapshots WHERE server_id = ? AND seq < ? "
                        "ORDER BY seq DESC LIMIT 1", (sid, seq))
        if prev:
            read_at = prev[0][1]
            marks = ", ".join("?" * len(SCHEMA_KINDS))
            db.execute(f"INSERT INTO snapshot_parts (snapshot_id, kind, hash) SELECT ?, kind, hash "
                       f"FROM snapshot_parts WHERE snapshot_id = ? AND kind IN ({marks})",
                       (snap_id, prev[0][0], *SCHEMA_KINDS))
    db.execute("UPDATE snapshots SET schema_fingerprint = ?, schema_read_at = ? WHERE id = ?",
               (snap.schema_fingerprint, read_at, snap_id))


def _save_parts(db: Backend, snap_id: int, snap: Snapshot) -> None:
    rows = [(snap_id, kind, put_blob(db, value)) for kind, value in sorted(snap.parts.items())]
    db.executemany("INSERT INTO snapshot_parts (snapshot_id, kind, hash) VALUES (?, ?, ?)", rows)


def _save_plans(db: Backend, sid: int, seq: int, snap: Snapshot, known: dict[StatementKey, int]) -> None:
    """Plans that changed since the statement's last stored one (keyed 'plan:<plan hash>' in blobs)."""
    if not snap.plans:
        return
    last = {
        r[0]: r[1]
        for r in db.query(
            "SELECT p.statement_id, p.plan_hash FROM plans p JOIN (SELECT statement_id, max(seq) AS seq FROM plans "
            "GROUP BY statement_id) m ON m.statement_id = p.statement_id AND m.seq = p.seq "
            "JOIN statements s ON s.id = p.statement_id WHERE s.server_id = ?",
            (sid,),
        )
    }
    for p in snap.plans:
        st_id = known.get(statement_key(p))
        if st_id is None or last.get(st_id) == p["plan_hash"]:
            continue  # unchanged plan: not stored again
        _, data = pack(p["plan"])
        db.execute(
            "INSERT INTO blobs (hash, data) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING",
            ("plan:" + p["plan_hash"], data),
        )
        db.execute(
            "INSERT INTO plans (statement_id, seq, plan_hash, total_cost) VALUES (?, ?, ?, ?)",
            (st_id, seq, p["plan_hash"], p["total_cost"]),
        )


def _save_samples(db: Backend, sid: int, snap: Snapshot) -> None:
    """Where the log reading stopped, and each statement's newest logged texts with their newest values."""
    if snap.log_offsets is not None:
        db.executemany(
            "INSERT INTO log_offsets (server_id, file_key, file_offset) VALUES (?, ?, ?) "
            "ON CONFLICT (server_id, file_key) DO UPDATE SET file_offset = excluded.file_offset",
            [(sid, k, v) for k, v in sorted(snap.log_offsets.items())],
        )
    latest: dict[str, dict[str, Any]] = {}
    values: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    times = Counter((s.queryid, s.text) for s in snap.samples)
    for s in snap.samples:  # the newest distinct texts per statement, each with its newest value sets
        bucket = latest.setdefault(s.queryid, {})
        bucket.pop(s.text, None)
        bucket[s.text] = s
        if s.values and sum(map(len, s.values)) <= MAX_VALUES_CHARS:
            sets = values.setdefault((s.queryid, s.text), [])
            if s.values in sets:
                sets.remove(s.values)
            sets.append(s.values)
    for queryid, bucket in latest.items():
        rows = []
        for i, s in enumerate(list(bucket.values())[-SAMPLES_PER_STATEMENT:]):
            h = text_hash(s.text)
            db.execute("INSERT INTO texts (hash, query) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING", (h, s.text))
            sets = values.get((queryid, s.text))
            params = json.dumps(sets[-VALUE_SETS_PER_SAMPLE:]) if sets else None
            rows.append((sid, queryid, h, s.dbname, snap.taken_at + i * SAMPLE_ORDER_STEP_S, s.duration_ms, params,
                         times[(queryid, s.text)]))
        db.executemany(
            "INSERT INTO samples (server_id, queryid, text_hash, dbname, seen_at, duration_ms, params, times) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (server_id, queryid, text_hash) "
            "DO UPDATE SET seen_at = excluded.seen_at, duration_ms = excluded.duration_ms, "
            "params = COALESCE(excluded.params, samples.params), "
            "times = COALESCE(samples.times, 1) + excluded.times",
            rows,
        )
        db.execute(
            "DELETE FROM samples WHERE server_id = ? AND queryid = ? AND text_hash NOT IN "
            "(SELECT text_hash FROM samples WHERE server_id = ? AND queryid = ? "
            "ORDER BY seen_at DESC LIMIT ?)",
            (sid, queryid, sid, queryid, SAMPLES_PER_STATEMENT),
        )

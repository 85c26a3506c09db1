"""Store API over SQLite or PostgreSQL: write snapshots, read windows of deltas, prune.

Cumulative pg_stat_statements counters are kept per statement in `stat_last`; each new snapshot
stores only the statements whose counters moved, as running totals of the deltas against the
previous snapshot of the same server (a counter that went down, a server restart, a stats reset or
a changed system identifier starts a new baseline instead of a negative delta). A window's activity
is the difference of two running totals, and downsampling old snapshots only deletes rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import zlib
from collections import Counter
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from pgadvisor.errors import StoreError
from pgadvisor.snapshot import COUNTERS, Snapshot
from pgadvisor.store.schema import LATEST, MIGRATIONS, render


def default_store_path() -> str:
    """$PGADVISOR_STORE or the platform data dir (e.g. ~/.local/share/pgadvisor/store.sqlite)."""
    env = os.environ.get("PGADVISOR_STORE")
    if env:
        return env
    from platformdirs import user_data_dir

    return str(Path(user_data_dir("pgadvisor")) / "store.sqlite")


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def pack(obj: Any) -> tuple[str, bytes]:
    raw = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha1(raw).hexdigest(), zlib.compress(raw, 6)


def unpack(data: bytes) -> Any:
    return json.loads(zlib.decompress(bytes(data)))


class Store:
    """One store; `open_store()` picks the backend from the URL or path."""

    def __init__(self, conn: Any, dialect: str, location: str, read_only: bool = False):
        self.conn = conn
        self.dialect = dialect
        self.location = location
        self.read_only = read_only
        self._lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql if self.dialect == "sqlite" else sql.replace("?", "%s")

    def execute(self, sql: str, params: Any = ()) -> Any:
        if self.dialect == "postgres" and not params:
            return self.conn.execute(sql)  # no placeholders to fill: '%' in literals stays literal
        try:
            return self.conn.execute(self._sql(sql), params)
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None

    def executemany(self, sql: str, rows: list) -> None:
        if not rows:
            return
        if self.dialect == "sqlite":
            try:
                self.conn.executemany(sql, rows)
            except sqlite3.DatabaseError as exc:
                raise self._corrupt(exc) from None
        else:
            with self.conn.cursor() as cur:
                cur.executemany(self._sql(sql), rows)

    def query(self, sql: str, params: Any = ()) -> list[tuple]:
        try:
            return list(self.execute(sql, params).fetchall())
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None

    def _corrupt(self, exc: sqlite3.DatabaseError) -> BaseException:
        """A damaged SQLite file (SQLITE_CORRUPT/NOTADB are plain DatabaseErrors) becomes one line naming
        the file; any other error (locked, constraint, …) stays what it is."""
        if type(exc) is not sqlite3.DatabaseError:
            return exc
        return StoreError(f"store {self.location} is damaged: {_line(exc)}",
                          hint="pgadvisor left it as it is; restore it from a backup, or point --store at a new file")

    @contextmanager
    def write(self):
        """One write transaction (serialised between processes: SQLite BEGIN IMMEDIATE / PG advisory lock)."""
        if self.read_only:
            raise StoreError(f"store {self.location} is opened read-only")
        with self._lock:
            try:
                if self.dialect == "sqlite":
                    self.conn.execute("BEGIN IMMEDIATE")
                else:
                    self.conn.execute("BEGIN")
                    self.conn.execute("SELECT pg_advisory_xact_lock(7395013)")
                yield self
                self.conn.execute("COMMIT")
            except BaseException as exc:
                try:
                    self.conn.execute("ROLLBACK")
                except Exception:  # noqa: BLE001 - the original error matters more
                    pass
                if isinstance(exc, sqlite3.DatabaseError):
                    damaged = self._corrupt(exc)
                    if damaged is not exc:
                        raise damaged from None
                raise

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001
            pass

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- migrations ---------------------------------------------------------------------------------
    def schema_version(self) -> int:
        try:
            rows = self.query("SELECT max(version) FROM schema_migrations")
        except StoreError:
            raise  # a damaged file
        except Exception:  # noqa: BLE001 - no table yet means an empty store
            if self.dialect == "postgres":
                self.conn.rollback()
            return 0
        return int(rows[0][0] or 0)

    def migrate(self) -> None:
        current = self.schema_version()
        if current == 0:
            other = self._other_tables()
            if other:
                raise StoreError(_not_ours(self.location, other),
                                 hint="point --store at a new file (or an empty database)")
        if current > LATEST:
            raise StoreError(
                f"store {self.location} was written by a newer pgadvisor (store schema v{current}, "
                f"this version knows up to v{LATEST})",
                hint="upgrade pgadvisor: pip install -U pgadvisor",
            )
        if current == LATEST or self.read_only:
            return
        with self.write():
            current = self.schema_version_in_tx()
            if current == 0:
                self.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                    "description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
                )
            for version, description, sql in MIGRATIONS:
                if version <= current:
                    continue
                if sql.startswith("python:"):
                    getattr(self, "_migrate_" + sql.removeprefix("python:"))()
                else:
                    for stmt in render(sql, self.dialect).split(";"):
                        if stmt.strip():
                            self.execute(stmt)
                self.execute(
                    "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
                    (version, description, time.time()),
                )
        if getattr(self, "_checkpoint_after_migrate", False):  # no old page of a scrubbed text left in the WAL
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _migrate_redact_secrets(self) -> None:
        """Migration 6: passwords stored before texts were redacted (ALTER ROLE … PASSWORD '…', connection
        strings) are redacted in place. A changed text gets the hash of its redacted form (the old hash,
        a SHA-1 of the text with the password, would let anyone test password guesses) and every
        reference moves with it; log samples' bind values and stored settings are redacted too."""
        from pgadvisor.redact import might_hold_secret, redact, redact_settings

        if self.dialect == "sqlite":  # the old texts' bytes are zeroed, not left on free pages
            self.execute("PRAGMA secure_delete = ON")
            self._checkpoint_after_migrate = True
        moved: dict[str, str] = {}
        for h, query in self.query("SELECT hash, query FROM texts"):
            new = redact(query) if might_hold_secret(query) else query
            if new != query:
                moved[h] = text_hash(new)
                self.execute("INSERT INTO texts (hash, query) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING",
                             (moved[h], new))
        for old, new in moved.items():
            self.execute("UPDATE statements SET text_hash = ? WHERE text_hash = ?", (new, old))
            # a sample whose redacted text is already stored for the same statement: keep that one
            self.execute("DELETE FROM samples WHERE text_hash = ? AND EXISTS (SELECT 1 FROM samples x WHERE "
                         "x.server_id = samples.server_id AND x.queryid = samples.queryid AND x.text_hash = ?)",
                         (old, new))
            self.execute("UPDATE samples SET text_hash = ? WHERE text_hash = ?", (new, old))
            self.execute("DELETE FROM texts WHERE hash = ?", (old,))
        for server_id, queryid, h, params in self.query(
            "SELECT server_id, queryid, text_hash, params FROM samples WHERE params IS NOT NULL"
        ):
            if not might_hold_secret(params):
                continue
            new_params = json.dumps([[redact(v) for v in values] for values in json.loads(params)])
            if new_params != params:
                self.execute("UPDATE samples SET params = ? WHERE server_id = ? AND queryid = ? AND text_hash = ?",
                             (new_params, server_id, queryid, h))
        old_blobs = set()
        for snap_id, h, data in self.query(
            "SELECT p.snapshot_id, p.hash, b.data FROM snapshot_parts p JOIN blobs b ON b.hash = p.hash "
            "WHERE p.kind = 'settings'"
        ):
            rows = unpack(data)
            new_rows = redact_settings([dict(r) for r in rows]) if isinstance(rows, list) else rows
            if new_rows != rows:
                self.execute("UPDATE snapshot_parts SET hash = ? WHERE snapshot_id = ? AND kind = 'settings'",
                             (self._put_blob(new_rows), snap_id))
                old_blobs.add(h)
        for h in old_blobs:
            self.execute("DELETE FROM blobs WHERE hash = ? AND hash NOT IN (SELECT hash FROM snapshot_parts)", (h,))

    def _other_tables(self) -> list[str]:
        """Tables and views of a store without pgadvisor's schema: another application's database."""
        if self.dialect == "sqlite":
            rows = self.query("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                              "AND name NOT LIKE 'sqlite_%' ORDER BY name")
        else:
            rows = self.query("SELECT table_name FROM information_schema.tables "
                              "WHERE table_schema = current_schema() ORDER BY table_name")
        return [r[0] for r in rows if r[0] != "schema_migrations"]

    def schema_version_in_tx(self) -> int:
        exists = self.query(
            "SELECT count(*) FROM sqlite_master WHERE name = 'schema_migrations'"
            if self.dialect == "sqlite"
            else "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations' "
            "AND table_schema = current_schema()"
        )[0][0]
        if not exists:
            return 0
        return int(self.query("SELECT max(version) FROM schema_migrations")[0][0] or 0)

    # -- servers and snapshots -------------------------------------------------------------------------
    def server_id(self, name: str, create: bool = False) -> int | None:
        rows = self.query("SELECT id FROM servers WHERE name = ?", (name,))
        if rows:
            return int(rows[0][0])
        if not create:
            return None
        self.execute("INSERT INTO servers (name, created_at) VALUES (?, ?)", (name, time.time()))
        return int(self.query("SELECT id FROM servers WHERE name = ?", (name,))[0][0])

    def servers(self) -> list[str]:
        return [r[0] for r in self.query("SELECT name FROM servers ORDER BY name")]

    def save_snapshot(self, snap: Snapshot) -> dict[str, Any]:
        """Store one snapshot in one transaction; returns what was written."""
        with self.write():
            result = self._save(snap)
            pause = os.environ.get("PGADVISOR_TEST_PAUSE_IN_WRITE")
            if pause:  # fault injection for the crash-safety test: a kill here must leave the store as before
                time.sleep(float(pause))
            return result

    def _save(self, snap: Snapshot) -> dict[str, Any]:
        sid = self.server_id(snap.server, create=True)
        prev = self.query(
            "SELECT seq, taken_at, system_identifier, postmaster_start, pgss_stats_reset, pgss_dealloc "
            "FROM snapshots WHERE server_id = ? ORDER BY seq DESC LIMIT 1",
            (sid,),
        )
        if prev and prev[0][1] >= snap.taken_at:
            return {"status": "skipped", "reason": "a newer snapshot of this server is already stored"}
        seq = prev[0][0] + 1 if prev else 1
        reset_reason = self._reset_reason(prev[0] if prev else None, snap)
        prev_seq = prev[0][0] if prev else None

        # statement identities and texts (texts once per hash)
        keys = [(s["queryid"], int(s["userid"]), int(s["dbid"]), int(bool(s["toplevel"]))) for s in snap.statements]
        known = {
            (q, u, d, t): i
            for i, q, u, d, t in self.query(
                "SELECT id, queryid, userid, dbid, toplevel FROM statements WHERE server_id = ?", (sid,)
            )
        }
        new_texts: dict[str, str] = {}
        new_stmts = []
        from pgadvisor.marker import is_own

        for s, key in zip(snap.statements, keys):
            if key not in known:
                h = text_hash(s["query"])
                new_texts[h] = s["query"]
                new_stmts.append((sid, *key, h, int(is_own(s["query"]))))
        if new_texts:
            self.executemany(
                "INSERT INTO texts (hash, query) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING", list(new_texts.items())
            )
        if new_stmts:
            self.executemany(
                "INSERT INTO statements (server_id, queryid, userid, dbid, toplevel, text_hash, own) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                new_stmts,
            )
            known = {
                (q, u, d, t): i
                for i, q, u, d, t in self.query(
                    "SELECT id, queryid, userid, dbid, toplevel FROM statements WHERE server_id = ?", (sid,)
                )
            }

        # deltas against the cumulative values we last saw, added to each statement's running total
        cols = ", ".join(COUNTERS)
        tcols = ", ".join(f"t_{c}" for c in COUNTERS)
        n = len(COUNTERS)
        last = {
            r[0]: r[1:]
            for r in self.query(f"SELECT statement_id, {cols}, {tcols}, stats_since FROM stat_last "
                                "WHERE server_id = ?", (sid,))
        }
        was_present = set(self._present(sid, prev_seq)) if prev_seq is not None else set()
        notes = list(snap.notes)
        if prev and reset_reason is None and self._restarted(prev[0], snap):
            # a clean shutdown saves pg_stat_statements' counters (pg_stat_statements.save) and a crash loses
            # them; without stats_reset (pg_stat_statements < 1.9) a counter below the last one tells a crash
            keyed = dict(zip(keys, snap.statements))
            down = any(
                st_id in was_present and st_id in last and (keyed[k]["calls"] or 0) < (last[st_id][0] or 0)
                for k, st_id in known.items() if k in keyed
            ) if not (prev[0][4] and snap.pgss.get("stats_reset")) else False
            if down:
                reset_reason = "server restarted and pg_stat_statements' counters went down (lost in the restart)"
            else:
                notes.append("server restarted; pg_stat_statements kept its counters (clean shutdown): "
                             "counted as continuous")
        totals, last_upd, last_ins = [], [], []
        present: list[int] = []
        for s, key in zip(snap.statements, keys):
            st_id = known[key]
            present.append(st_id)
            cur = [s[c] or 0 for c in COUNTERS]
            row = last.get(st_id)
            old, tot = (row[:n], row[n : 2 * n]) if row is not None else ([0] * n, [0] * n)
            since, old_since = s.get("stats_since"), row[2 * n] if row is not None else None
            same_entry = since is None or old_since is None or abs(since - old_since) < 1e-3
            if row is not None and list(old) == cur and st_id in was_present and same_entry:
                continue  # unchanged: nothing is written
            continuous = (
                row is not None
                and st_id in was_present
                and reset_reason is None
                and same_entry  # PG 17+: a re-created entry (evicted or reset since) starts from zero
                and cur[0] >= old[0]
                and cur[1] >= old[1]
            )
            # not continuous: new, back after an eviction, or reset, so all it counts is new since then
            delta = [c - o for c, o in zip(cur, old)] if continuous else cur
            if prev_seq is None or not any(delta):
                delta = [0] * n  # the first snapshot is only a baseline
            new_tot = [t + d for t, d in zip(tot, delta)]
            if any(delta):
                totals.append((sid, st_id, seq, *new_tot))
            if row is None:
                last_ins.append((st_id, sid, *cur, *new_tot, since))
            else:
                last_upd.append((*cur, *new_tot, since, st_id))
        changed = len(totals)
        # statements that left because of a reset (or another server) were not evicted: pg_stat_statements.max
        # is not to blame for them
        evicted = len(was_present - set(present)) if reset_reason is None else 0
        self.executemany(
            f"INSERT INTO stat_last (statement_id, server_id, {cols}, {tcols}, stats_since) "
            f"VALUES ({', '.join(['?'] * (3 + 2 * n))})",
            last_ins,
        )
        sets = ", ".join([f"{c} = ?" for c in COUNTERS] + [f"t_{c} = ?" for c in COUNTERS] + ["stats_since = ?"])
        self.executemany(f"UPDATE stat_last SET {sets} WHERE statement_id = ?", last_upd)
        self.executemany(
            f"INSERT INTO stat_totals (server_id, statement_id, seq, {tcols}) VALUES ({', '.join(['?'] * (3 + n))})",
            totals,
        )
        snap = replace(snap, parts={**snap.parts, "present": sorted(present)})

        dealloc = snap.pgss.get("dealloc")
        dealloc_delta = 0
        if prev and dealloc is not None and prev[0][5] is not None:
            dealloc_delta = dealloc - prev[0][5] if dealloc >= prev[0][5] and reset_reason is None else dealloc
        info = snap.info
        self.execute(
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
                dealloc,
                snap.pgss.get("stats_reset"),
                len(snap.statements),
                snap.n_hidden,
                changed,
                evicted,
                dealloc_delta,
                reset_reason,
                snap.duration_ms,
                0 if prev_seq is None else 1,
                snap.pgss.get("max"),
            ),
        )
        snap_id = self.query("SELECT id FROM snapshots WHERE server_id = ? AND seq = ?", (sid, seq))[0][0]
        self._save_schema_state(sid, seq, snap_id, snap)
        self._save_parts(snap_id, snap)
        self._save_plans(sid, seq, snap, known)
        self._save_samples(sid, snap)
        return {
            "status": "stored",
            "server": snap.server,
            "seq": seq,
            "statements": len(snap.statements),
            "changed": changed,
            "new": len(new_stmts),
            "evicted": evicted,
            "hidden": snap.n_hidden,
            "reset": reset_reason,
            "notes": notes,
        }

    SAMPLES_PER_STATEMENT = 5
    VALUE_SETS_PER_SAMPLE = 3
    MAX_VALUES_CHARS = 10_000

    def _save_schema_state(self, sid: int, seq: int, snap_id: int, snap: Snapshot) -> None:
        read_at = snap.taken_at
        if snap.schema_reused:
            from pgadvisor.snapshot import SCHEMA_KINDS

            prev = self.query("SELECT id, schema_read_at FROM snapshots WHERE server_id = ? AND seq < ? "
                              "ORDER BY seq DESC LIMIT 1", (sid, seq))
            if prev:
                read_at = prev[0][1]
                marks = ", ".join("?" * len(SCHEMA_KINDS))
                self.execute(f"INSERT INTO snapshot_parts (snapshot_id, kind, hash) SELECT ?, kind, hash "
                             f"FROM snapshot_parts WHERE snapshot_id = ? AND kind IN ({marks})",
                             (snap_id, prev[0][0], *SCHEMA_KINDS))
        self.execute("UPDATE snapshots SET schema_fingerprint = ?, schema_read_at = ? WHERE id = ?",
                     (snap.schema_fingerprint, read_at, snap_id))

    def schema_state(self, server: str) -> tuple[str | None, float | None]:
        """Schema fingerprint of the server's latest snapshot and when its definitions were last read."""
        sid = self.server_id(server)
        if sid is None:
            return None, None
        rows = self.query("SELECT schema_fingerprint, schema_read_at FROM snapshots WHERE server_id = ? "
                          "ORDER BY seq DESC LIMIT 1", (sid,))
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    def _present(self, sid: int, seq: int) -> list[int]:
        """Statement ids present in pg_stat_statements at snapshot `seq` (a deduplicated part)."""
        rows = self.query(
            "SELECT b.data FROM snapshots s JOIN snapshot_parts p ON p.snapshot_id = s.id "
            "JOIN blobs b ON b.hash = p.hash WHERE s.server_id = ? AND s.seq = ? AND p.kind = 'present'",
            (sid, seq),
        )
        return unpack(rows[0][0]) if rows else []

    def _save_samples(self, sid: int, snap: Snapshot) -> None:
        if snap.log_offsets is not None:
            self.executemany(
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
            if s.values and sum(map(len, s.values)) <= self.MAX_VALUES_CHARS:  # not a multi-MB bytea
                sets = values.setdefault((s.queryid, s.text), [])
                if s.values in sets:
                    sets.remove(s.values)
                sets.append(s.values)
        for queryid, bucket in latest.items():
            keep = list(bucket.values())[-self.SAMPLES_PER_STATEMENT :]
            rows = []
            for i, s in enumerate(keep):
                h = text_hash(s.text)
                self.execute("INSERT INTO texts (hash, query) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING", (h, s.text))
                sets = values.get((queryid, s.text))
                params = json.dumps(sets[-self.VALUE_SETS_PER_SAMPLE :]) if sets else None
                rows.append((sid, queryid, h, s.dbname, snap.taken_at + i * 1e-6, s.duration_ms, params,
                             times[(queryid, s.text)]))
            self.executemany(
                "INSERT INTO samples (server_id, queryid, text_hash, dbname, seen_at, duration_ms, params, times) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (server_id, queryid, text_hash) "
                "DO UPDATE SET seen_at = excluded.seen_at, duration_ms = excluded.duration_ms, "
                "params = COALESCE(excluded.params, samples.params), "
                "times = COALESCE(samples.times, 1) + excluded.times",
                rows,
            )
            self.execute(
                "DELETE FROM samples WHERE server_id = ? AND queryid = ? AND text_hash NOT IN "
                "(SELECT text_hash FROM samples WHERE server_id = ? AND queryid = ? "
                "ORDER BY seen_at DESC LIMIT ?)",
                (sid, queryid, sid, queryid, self.SAMPLES_PER_STATEMENT),
            )

    def log_offsets(self, server: str) -> dict[str, int]:
        sid = self.server_id(server)
        if sid is None:
            return {}
        return {
            k: int(v)
            for k, v in self.query("SELECT file_key, file_offset FROM log_offsets WHERE server_id = ?", (sid,))
        }

    def samples(self, sid: int, queryids: list[str]) -> dict[str, list[tuple[str, list[tuple[str, ...]], int]]]:
        """Up to SAMPLES_PER_STATEMENT logged samples per queryid, newest first: (text, the bind
        parameters' value sets logged with it, newest last, how many times the text was logged)."""
        out: dict[str, list[tuple[str, list[tuple[str, ...]], int]]] = {}
        version = self.schema_version()  # a read-only store from before v4/v5 lacks the newer columns
        params_col = "s.params" if version >= 4 else "NULL"
        times_col = "COALESCE(s.times, 1)" if version >= 5 else "1"
        for i in range(0, len(queryids), 500):
            chunk = queryids[i : i + 500]
            marks = ", ".join("?" * len(chunk))
            for qid, text, params, times in self.query(
                f"SELECT s.queryid, t.query, {params_col}, {times_col} FROM samples s "
                f"JOIN texts t ON t.hash = s.text_hash "
                f"WHERE s.server_id = ? AND s.queryid IN ({marks}) ORDER BY s.queryid, s.seen_at DESC",
                (sid, *chunk),
            ):
                sets = [tuple(v) for v in json.loads(params)] if params else []
                out.setdefault(qid, []).append((text, sets, int(times)))
        return out

    @staticmethod
    def _restarted(prev: tuple, snap: Snapshot) -> bool:
        pm_start = prev[3]
        return bool(pm_start and snap.info.get("postmaster_start")
                    and abs(pm_start - snap.info["postmaster_start"]) > 1e-3)

    @classmethod
    def _reset_reason(cls, prev: tuple | None, snap: Snapshot) -> str | None:
        """Why every counter starts a new baseline at `snap`, None when they continue.

        A restart alone is not a reset: a clean shutdown saves pg_stat_statements' counters
        (pg_stat_statements.save, the default) together with its stats_reset time, which therefore does
        not change; a crash, an immediate stop or save = off loses them, and pg_stat_statements starts
        over with a new stats_reset. (Without stats_reset, before 1.9, `_save` compares the counters.)
        """
        if prev is None:
            return None
        _, _, sysid, _, stats_reset, _ = prev
        if sysid and snap.info.get("system_identifier") and sysid != snap.info["system_identifier"]:
            return "system identifier changed (another server behind this name)"
        if stats_reset and snap.pgss.get("stats_reset") and abs(stats_reset - snap.pgss["stats_reset"]) > 1e-3:
            if cls._restarted(prev, snap):
                return ("server restarted without keeping pg_stat_statements' counters (a crash, an immediate "
                        "stop or pg_stat_statements.save = off)")
            return "pg_stat_statements was reset"
        return None

    def _put_blob(self, obj: Any) -> str:
        h, data = pack(obj)
        self.execute("INSERT INTO blobs (hash, data) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING", (h, data))
        return h

    def _save_parts(self, snap_id: int, snap: Snapshot) -> None:
        rows = [(snap_id, kind, self._put_blob(value)) for kind, value in sorted(snap.parts.items())]
        self.executemany("INSERT INTO snapshot_parts (snapshot_id, kind, hash) VALUES (?, ?, ?)", rows)

    def _save_plans(self, sid: int, seq: int, snap: Snapshot, known: dict) -> None:
        if not snap.plans:
            return
        last = {
            r[0]: r[1]
            for r in self.query(
                "SELECT p.statement_id, p.plan_hash FROM plans p JOIN (SELECT statement_id, max(seq) AS seq FROM plans "
                "GROUP BY statement_id) m ON m.statement_id = p.statement_id AND m.seq = p.seq "
                "JOIN statements s ON s.id = p.statement_id WHERE s.server_id = ?",
                (sid,),
            )
        }
        for p in snap.plans:
            st_id = known.get((p["queryid"], int(p["userid"]), int(p["dbid"]), int(bool(p["toplevel"]))))
            if st_id is None or last.get(st_id) == p["plan_hash"]:
                continue  # unchanged plan: not stored again
            _, data = pack(p["plan"])
            self.execute(
                "INSERT INTO blobs (hash, data) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING",
                ("plan:" + p["plan_hash"], data),
            )
            self.execute(
                "INSERT INTO plans (statement_id, seq, plan_hash, total_cost) VALUES (?, ?, ?, ?)",
                (st_id, seq, p["plan_hash"], p["total_cost"]),
            )

    # -- read path and retention ------------------------------------------------------------------------
    def window_seqs(self, sid: int, since: float | None, until: float | None) -> tuple[int, int] | None:
        """Seq range of the intervals that end inside (since, until]; None when the window has none."""
        row = self.query(
            "SELECT min(seq), max(seq) FROM snapshots WHERE server_id = ? AND taken_at > ? AND taken_at <= ?",
            (sid, since if since is not None else -1.0, until if until is not None else 1e18),
        )[0]
        return None if row[0] is None else (int(row[0]), int(row[1]))

    def aggregate(
        self,
        sid: int,
        lo: int,
        hi: int,
        *,
        limit: int | None = None,
        dbid: int | None = None,
        order: str = "total_exec_time",
    ) -> list[dict[str, Any]]:
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
        rows = [dict(zip(names, r)) for r in self.query(sql, params)]
        hashes = sorted({r["text_hash"] for r in rows})
        texts: dict[str, str] = {}
        for i in range(0, len(hashes), 500):
            chunk = hashes[i : i + 500]
            marks = ", ".join("?" * len(chunk))
            texts.update(self.query(f"SELECT hash, query FROM texts WHERE hash IN ({marks})", chunk))
        for r in rows:
            r["query"] = texts.get(r.pop("text_hash"), "")
        return rows

    def coverage(self, sid: int, lo: int, hi: int) -> dict[str, Any]:
        r = self.query(
            "SELECT count(*), coalesce(sum(intervals), 0), coalesce(sum(n_evicted), 0), "
            "coalesce(sum(dealloc_delta), 0), "
            "coalesce(max(n_hidden), 0), min(taken_at), max(taken_at) FROM snapshots "
            "WHERE server_id = ? AND seq BETWEEN ? AND ?",
            (sid, lo, hi),
        )[0]
        resets = [
            x[0]
            for x in self.query(
                "SELECT reset_reason FROM snapshots WHERE server_id = ? AND seq BETWEEN ? AND ? "
                "AND reset_reason IS NOT NULL "
                "ORDER BY seq",
                (sid, lo, hi),
            )
        ]
        # each deallocation run evicts the least-used 5% of pg_stat_statements.max entries, at least 10
        lost = 0.0
        if r[3]:
            max_col = "pgss_max" if self.schema_version() >= 7 else "NULL"
            lost = sum(d * max(10.0, 0.05 * (m or 5000)) for d, m in self.query(
                f"SELECT dealloc_delta, {max_col} FROM snapshots WHERE server_id = ? AND seq BETWEEN ? AND ? "
                "AND dealloc_delta > 0", (sid, lo, hi)))
        start = self.query("SELECT max(taken_at) FROM snapshots WHERE server_id = ? AND seq < ?", (sid, lo))[0][0]
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

    def parts(self, sid: int, seq: int | None = None, kinds: tuple[str, ...] | None = None) -> dict[str, Any]:
        """Schema/settings parts of the snapshot at `seq` (default: the latest)."""
        row = self.query(
            "SELECT id FROM snapshots WHERE server_id = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
            (sid, seq if seq is not None else 1 << 62),
        )
        if not row:
            return {}
        out = {}
        for kind, data in self.query(
            "SELECT p.kind, b.data FROM snapshot_parts p JOIN blobs b ON b.hash = p.hash WHERE p.snapshot_id = ?",
            (row[0][0],),
        ):
            if kinds is None or kind in kinds:
                out[kind] = unpack(data)
        return out

    def snapshots(self) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT v.name, count(s.id), min(s.taken_at), max(s.taken_at), max(s.seq), "
            "coalesce(sum(CASE WHEN s.reset_reason IS NULL THEN 0 ELSE 1 END), 0), coalesce(sum(s.n_evicted), 0), "
            "coalesce(sum(s.dealloc_delta), 0), coalesce(sum(s.intervals), 0) "
            "FROM servers v LEFT JOIN snapshots s ON s.server_id = v.id GROUP BY v.id, v.name ORDER BY v.name"
        )
        out = []
        for name, n, first, last, seq, resets, evicted, dealloc, intervals in rows:
            latest = self.query(
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

    def prune(self, older_than_s: float, now: float | None = None) -> dict[str, Any]:
        """Downsample snapshots older than the cutoff to one per day per server; no total is lost."""
        cutoff = (now or time.time()) - older_than_s
        merged = removed = 0
        with self.write():
            for (sid,) in self.query("SELECT id FROM servers"):
                groups: dict[int, list[tuple]] = {}
                for row in self.query(
                    "SELECT seq, taken_at, intervals, n_evicted, dealloc_delta, reset_reason "
                    "FROM snapshots WHERE server_id = ? AND taken_at < ? ORDER BY seq",
                    (sid, cutoff),
                ):
                    groups.setdefault(int(row[1] // 86400), []).append(row)
                for rows in groups.values():
                    if len(rows) < 2:
                        continue
                    keep = rows[-1][0]
                    # the first snapshot of the day keeps its own interval (it ends the previous day)
                    absorbed = rows[1:]
                    lo = absorbed[0][0]
                    # running totals: each statement's last row of the day moves to the kept snapshot
                    self.execute(
                        "UPDATE stat_totals SET seq = ? WHERE server_id = ? AND seq BETWEEN ? AND ? "
                        "AND (statement_id, seq) IN (SELECT statement_id, max(seq) FROM stat_totals "
                        "WHERE server_id = ? AND seq BETWEEN ? AND ? GROUP BY statement_id)",
                        (keep, sid, lo, keep, sid, lo, keep),
                    )
                    self.execute(
                        "DELETE FROM stat_totals WHERE server_id = ? AND seq BETWEEN ? AND ?", (sid, lo, keep - 1)
                    )
                    reasons = sorted({r[5] for r in absorbed if r[5]})
                    self.execute(
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
                    for i in range(0, len(gone), 500):
                        chunk = gone[i : i + 500]
                        marks = ", ".join("?" * len(chunk))
                        self.execute(
                            f"DELETE FROM snapshot_parts WHERE snapshot_id IN (SELECT id FROM snapshots "
                            f"WHERE server_id = ? AND seq IN ({marks}))",
                            (sid, *chunk),
                        )
                        self.execute(f"DELETE FROM snapshots WHERE server_id = ? AND seq IN ({marks})", (sid, *chunk))
                    merged += 1
                    removed += len(gone)
            self.execute(
                "DELETE FROM blobs WHERE hash NOT LIKE 'plan:%' AND hash NOT IN (SELECT hash FROM snapshot_parts)"
            )
        if self.dialect == "sqlite" and removed:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return {"days_downsampled": merged, "snapshots_removed": removed}


def open_store(location: str | None = None, read_only: bool = False) -> Store:
    """Open (and migrate) the store at a path or postgresql:// URL; errors are StoreError with one line."""
    location = location or default_store_path()
    store = _connect(location, read_only)
    try:
        store.migrate()
        if read_only and store.schema_version() < LATEST:
            # a reader of a store an older pgadvisor wrote: bring it up to date if we may write to it
            store.close()
            try:
                open_store(location).close()
            except StoreError:
                pass  # not writable: read it as it is (readers cope with older schemas)
            store = _connect(location, read_only=True)
    except StoreError:
        store.close()
        raise
    except Exception as exc:  # noqa: BLE001
        store.close()
        raise StoreError(f"store {store.location} is unusable: {_line(exc)}") from None
    return store


def _connect(location: str, read_only: bool) -> Store:
    """The store at a path or postgresql:// URL, opened without any migration check."""
    if location.startswith(("postgresql://", "postgres://")) or "dbname=" in location:
        return _open_postgres(location, read_only)
    return _open_sqlite(location, read_only)


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or exc.__class__.__name__


def _open_sqlite(path: str, read_only: bool) -> Store:
    p = Path(path).expanduser()
    if read_only:
        if not p.exists():
            raise StoreError(f"no store at {p}", hint="run `pgadvisor collect` first, or pass --store")
    else:
        try:
            _private_dirs(p.parent)
        except OSError as exc:
            raise StoreError(f"cannot create the store directory {p.parent}: {exc.strerror}") from None
        if not os.access(p.parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
            raise StoreError(f"store {p} is not writable", hint="choose another --store or fix the permissions")
        try:  # a new store is owner-only (0600): it holds statement texts and bind values
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            os.chmod(p, 0o600)  # whatever the umask; SQLite gives -wal/-shm the database file's mode
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot create the store {p}: {exc.strerror}") from None
    try:
        uri = f"file:{p}?mode=ro" if read_only else f"file:{p}"
        conn = sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 60000")
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                                            "AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()]
        if names and "schema_migrations" not in names and not read_only:
            conn.close()  # before switching it to WAL, which would change its header
            raise StoreError(_not_ours(str(p), names), hint="point --store at a new file (or an empty database)")
        if not read_only:
            for attempt in range(100):  # two first collects at once: switching to WAL is not retried by SQLite
                try:
                    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or attempt == 99:
                        raise
                    time.sleep(0.05)
            if mode.lower() != "wal":
                conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"store {p} is not a readable pgadvisor store ({_line(exc)})",
            hint="it was left untouched; point --store at another file",
        ) from None
    return Store(conn, "sqlite", str(p), read_only)


def _not_ours(location: str, tables: list[str]) -> str:
    return (f"{location} is not a pgadvisor store: it holds other tables ({', '.join(tables[:3])}"
            f"{', …' if len(tables) > 3 else ''}) and no pgadvisor schema; it was left unchanged")


def _private_dirs(path: Path) -> None:
    """Create `path` and its missing parents owner-only (0700); existing directories are left as they are."""
    missing = []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(d, 0o700)


def store_permission_problems(location: str) -> list[str]:
    """The store's files (and pgadvisor's data directory) that group or others may read or write."""
    if location.startswith(("postgresql://", "postgres://")) or "dbname=" in location:
        return []
    p = Path(location).expanduser()
    out = []
    for f in (p, Path(f"{p}-wal"), Path(f"{p}-shm")):
        if f.exists() and f.stat().st_mode & 0o077:
            out.append(str(f))
    return out


def _open_postgres(url: str, read_only: bool) -> Store:
    import psycopg

    from pgadvisor.pg.connect import describe, scrub

    try:
        conn = psycopg.connect(url, autocommit=True, application_name="pgadvisor-store", connect_timeout=10)
    except psycopg.Error as exc:
        raise StoreError(f"cannot open store {describe(url)}: {scrub(_line(exc), url)}") from None
    return Store(conn, "postgres", describe(url), read_only)

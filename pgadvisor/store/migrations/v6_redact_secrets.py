"""Store migration 6: passwords stored before texts were redacted are redacted in place.

A data migration: `ALTER ROLE … PASSWORD '…'` texts, connection strings, log samples' bind values and
stored settings are rewritten with `pgadvisor.redact`. A changed text gets the hash of its redacted form
(the old hash, a SHA-1 of the text with the password, would let anyone test password guesses) and every
reference moves with it. On SQLite the old bytes are zeroed (secure_delete) and the WAL is truncated
after the migration commits (`TRUNCATE_WAL`), so no page of a scrubbed text is left in the file.
"""

from __future__ import annotations

import json

from pgadvisor.store.backend import Backend, put_blob, text_hash, unpack

DESCRIPTION = "redact passwords in stored texts, log samples and settings"

TRUNCATE_WAL = True


def run(db: Backend) -> None:
    if db.dialect == "sqlite":
        db.execute("PRAGMA secure_delete = ON")
    _texts(db)
    _sample_values(db)
    _settings(db)


def _texts(db: Backend) -> None:
    from pgadvisor.redact import might_hold_secret, redact  # the lexer: imported only when a store needs it

    moved: dict[str, str] = {}
    for h, query in db.query("SELECT hash, query FROM texts"):
        new = redact(query) if might_hold_secret(query) else query
        if new != query:
            moved[h] = text_hash(new)
            db.execute("INSERT INTO texts (hash, query) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING", (moved[h], new))
    for old, new in moved.items():
        db.execute("UPDATE statements SET text_hash = ? WHERE text_hash = ?", (new, old))
        # a sample whose redacted text is already stored for the same statement: keep that one
        db.execute("DELETE FROM samples WHERE text_hash = ? AND EXISTS (SELECT 1 FROM samples x WHERE "
                   "x.server_id = samples.server_id AND x.queryid = samples.queryid AND x.text_hash = ?)",
                   (old, new))
        db.execute("UPDATE samples SET text_hash = ? WHERE text_hash = ?", (new, old))
        db.execute("DELETE FROM texts WHERE hash = ?", (old,))


def _sample_values(db: Backend) -> None:
    from pgadvisor.redact import might_hold_secret, redact

    for server_id, queryid, h, params in db.query(
        "SELECT server_id, queryid, text_hash, params FROM samples WHERE params IS NOT NULL"
    ):
        if not might_hold_secret(params):
            continue
        new_params = json.dumps([[redact(v) for v in values] for values in json.loads(params)])
        if new_params != params:
            db.execute("UPDATE samples SET params = ? WHERE server_id = ? AND queryid = ? AND text_hash = ?",
                       (new_params, server_id, queryid, h))


def _settings(db: Backend) -> None:
    from pgadvisor.redact import redact_settings

    old_blobs = set()
    for snap_id, h, data in db.query(
        "SELECT p.snapshot_id, p.hash, b.data FROM snapshot_parts p JOIN blobs b ON b.hash = p.hash "
        "WHERE p.kind = 'settings'"
    ):
        rows = unpack(data)
        new_rows = redact_settings([dict(r) for r in rows]) if isinstance(rows, list) else rows
        if new_rows != rows:
            db.execute("UPDATE snapshot_parts SET hash = ? WHERE snapshot_id = ? AND kind = 'settings'",
                       (put_blob(db, new_rows), snap_id))
            old_blobs.add(h)
    for h in old_blobs:
        db.execute("DELETE FROM blobs WHERE hash = ? AND hash NOT IN (SELECT hash FROM snapshot_parts)", (h,))

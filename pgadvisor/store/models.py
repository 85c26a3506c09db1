"""Query-time models in the store (table `models`, migration 8), and the plans they are trained on.

A model is a row: its native bytes (`body`: xgboost's own JSON, or the tree arrays of a scikit-learn
ensemble as JSON — never a pickle), a sha256 of them so a damaged row is recognised, the format version
of the code that wrote it, and its metadata as JSON. Versions only grow; nothing is overwritten, so a
previous version stays selectable.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from pgadvisor.store.backend import Backend, unpack

MODELS_SINCE = 8  # the store version that added the models table
_COLUMNS = ("version", "server", "kind", "format", "pgadvisor_version", "created_at", "window_start", "window_end",
            "n_rows", "metadata")


def statement_plans(db: Backend, sid: int) -> dict[tuple, list[tuple[int, str, Any]]]:
    """Per statement key (queryid, userid, dbid, toplevel): its stored plans as (seq, plan hash, plan
    document), oldest first. A plan row is written when the statement's plan shape changed."""
    rows = db.query(
        "SELECT s.queryid, s.userid, s.dbid, s.toplevel, p.seq, p.plan_hash, b.data FROM plans p "
        "JOIN statements s ON s.id = p.statement_id JOIN blobs b ON b.hash = 'plan:' || p.plan_hash "
        "WHERE s.server_id = ? AND s.own = 0 ORDER BY p.statement_id, p.seq",
        (sid,),
    )
    out: dict[tuple, list[tuple[int, str, Any]]] = {}
    docs: dict[str, Any] = {}  # one decoded document per plan hash
    for qid, uid, dbid, top, seq, phash, data in rows:
        doc = docs.get(phash) or docs.setdefault(phash, unpack(data))
        out.setdefault((qid, uid, dbid, bool(top)), []).append((int(seq), phash, doc))
    return out


def save_model(db: Backend, *, server: str, kind: str, fmt: int, pgadvisor_version: str, body: bytes,
               metadata: dict[str, Any], window: tuple[float | None, float | None], n_rows: int) -> int:
    """Store a model as a new version; its version number."""
    meta = json.dumps(metadata, sort_keys=True, default=str)
    with db.write():
        db.execute(
            "INSERT INTO models (server, kind, format, pgadvisor_version, created_at, window_start, window_end, "
            "n_rows, metadata, body, body_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (server, kind, fmt, pgadvisor_version, time.time(), window[0], window[1], n_rows, meta, body,
             hashlib.sha256(body).hexdigest()),
        )
        return int(db.query("SELECT max(version) FROM models WHERE server = ?", (server,))[0][0])


def list_models(db: Backend, server: str | None = None) -> list[dict[str, Any]]:
    """The stored models (without their bytes), newest first; metadata parsed when it parses."""
    if db.schema_version() < MODELS_SINCE:
        return []
    where, params = ("WHERE server = ?", (server,)) if server else ("", ())
    out = []
    for row in db.query(f"SELECT {', '.join(_COLUMNS)} FROM models {where} ORDER BY version DESC", params):
        rec = dict(zip(_COLUMNS, row))
        try:
            rec["metadata"] = json.loads(rec["metadata"])
        except ValueError:
            rec["metadata"] = None  # damaged: loading the model says so
        out.append(rec)
    return out


def model_body(db: Backend, version: int) -> tuple[bytes, str] | None:
    """The model's bytes and the sha256 stored with them; None when there is no such version."""
    if db.schema_version() < MODELS_SINCE:
        return None
    rows = db.query("SELECT body, body_sha256 FROM models WHERE version = ?", (version,))
    return (bytes(rows[0][0]), rows[0][1]) if rows else None

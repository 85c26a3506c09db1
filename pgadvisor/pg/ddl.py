"""DDL for `recommend --apply`: create recommended indexes for real, on a test database the user names."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from pgadvisor.errors import one_line
from pgadvisor.findings import Recommendation
from pgadvisor.indexdef import qualified
from pgadvisor.marker import mark
from pgadvisor.pg.connect import connect

# an index build may take long on a large table; the lock wait is bounded so that a busy table fails
# fast instead of queueing every writer behind the build (chosen by hand)
BUILD_TIMEOUT_MS = 3_600_000
LOCK_TIMEOUT_MS = 60_000


def apply_indexes(
    dsn: str, recs: list[Recommendation], *, statement_timeout_ms: int = BUILD_TIMEOUT_MS,
    lock_timeout_ms: int = LOCK_TIMEOUT_MS,
) -> list[dict[str, Any]]:
    """Create the recommended indexes for real (CONCURRENTLY, autocommit); per index: seconds and real size.

    Meant for a test database and only on an explicit `--apply`. An index that fails to build is
    dropped again (a failed CREATE INDEX CONCURRENTLY leaves an invalid index behind).
    """
    out = []
    with connect(
        dsn, read_only=False, statement_timeout_ms=statement_timeout_ms, lock_timeout_ms=lock_timeout_ms
    ) as conn:
        conn.autocommit = True
        for rec in recs:
            ix = (rec.evidence or {}).get("index") or {}
            if not rec.sql.upper().startswith("CREATE INDEX") or not ix.get("name"):
                continue
            out.append(_create(conn, rec, qualified(ix["schema"], ix["name"])))
    return out


def _create(conn: psycopg.Connection, rec: Recommendation, name: str) -> dict[str, Any]:
    row: dict[str, Any] = {"id": rec.id, "index": name, "sql": rec.sql}
    exists = conn.execute(mark("SELECT to_regclass(%s) IS NOT NULL"), (name,)).fetchone()[0]
    if exists:
        row.update(ok=False, error="an index of that name already exists", seconds=0.0)
        return row
    t0 = time.monotonic()
    try:
        # extended protocol: the DDL carries expressions and predicates taken from statement texts,
        # and a second statement can never ride along
        conn.execute(mark(rec.sql), binary=True)
        row["ok"] = True
    except psycopg.Error as exc:
        row.update(ok=False, error=one_line(exc))
        try:
            conn.execute(mark(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))
        except psycopg.Error:
            pass
    row["seconds"] = round(time.monotonic() - t0, 3)
    if row["ok"]:
        row["size_bytes"] = conn.execute(mark("SELECT pg_relation_size(to_regclass(%s))"), (name,)).fetchone()[0]
        row["estimated_size_bytes"] = (rec.cost or {}).get("size_bytes")
    return row

"""Server → Snapshot: one consistent, read-only pass over the statistics views."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg

from pgadvisor.errors import ExtensionMissing
from pgadvisor.marker import is_own
from pgadvisor.pg import catalog, guard
from pgadvisor.pg.connect import connect, describe
from pgadvisor.pg.explain import explain_generic, plan_hash
from pgadvisor.pg.guard import CodeGuard
from pgadvisor.redact import redact, redact_settings
from pgadvisor.snapshot import Snapshot

HIDDEN_TEXT = "<insufficient privilege>"
MAX_EXPLAINED_CHARS = 1_000_000  # longer texts are not planned: a generated IN list of this size says little
# generic plans read per snapshot, of the top statements by time: each is one EXPLAIN on the monitored
# server (pgadvisor's choice, not measured; the --plans default)
PLANS_TOP = 20

Progress = Callable[[str], None]


def _epoch(value: Any) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None


def _require_pgss(conn: psycopg.Connection) -> dict[str, Any]:
    state = catalog.pgss_state(conn)
    if not state["extversion"]:
        if not state["available_version"]:
            raise ExtensionMissing(
                "pg_stat_statements is not installed on the server",
                hint="install the PostgreSQL contrib package on the server",
            )
        raise ExtensionMissing(
            "pg_stat_statements is not created in this database",
            hint="run CREATE EXTENSION pg_stat_statements; (see `pgadvisor doctor`)",
        )
    if state["preloaded"] is False:
        raise ExtensionMissing(
            "pg_stat_statements is created but not loaded via shared_preload_libraries",
            hint="add pg_stat_statements to shared_preload_libraries in postgresql.conf and restart the server",
        )
    return state


def collect(
    dsn: str,
    server: str | None = None,
    *,
    plans_top: int = PLANS_TOP,
    with_schema: bool = True,
    known_schema: str | None = None,
    progress: Progress | None = None,
    trusted_roles: tuple[str, ...] = (),
) -> Snapshot:
    """Read one snapshot from the server at `dsn` (read-only transaction, timeouts, marked statements).

    `known_schema` is the schema fingerprint of a recent snapshot of this server in the store: when
    the server's fingerprint still matches, definitions, table counters and settings are not read
    again (the store keeps the previous ones), which makes a snapshot of a big schema cheap.
    Plans are read only for statements the code guard lets through (pg/guard.py; `trusted_roles`
    are trusted besides the superusers).
    """
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    notes: list[str] = []
    with connect(dsn) as conn:
        with catalog.snapshot_transaction(conn):
            info = catalog.server_info(conn)
            state = _require_pgss(conn)
            extversion = state["extversion"]
            say("statements")
            statements, hidden = _statements(conn, state, info["dbid"], notes)
            pinfo = catalog.pgss_info(conn, extversion, state["extschema"] or "public")
            parts: dict[str, Any] = {}
            fingerprint, reused = None, False
            if with_schema:
                say("schema")
                parts, fingerprint, reused = _schema_parts(conn, known_schema, notes)
            say("plans")
            plans = _plans(conn, statements, info, plans_top, guard.load(conn, trusted_roles), notes)
    return Snapshot(
        server=server or describe(dsn),
        taken_at=info["taken_at"].timestamp(),
        info={
            "system_identifier": info["system_identifier"],
            "version": info["version"],
            "version_num": info["version_num"],
            "postmaster_start": _epoch(info["postmaster_start"]),
            "datname": info["datname"],
            "dbid": info["dbid"],
        },
        pgss={"extversion": extversion, "dealloc": pinfo["dealloc"], "stats_reset": _epoch(pinfo["stats_reset"]),
              "max": int(state["max"]) if str(state.get("max") or "").isdigit() else None},
        statements=statements,
        n_hidden=hidden,
        parts=_jsonable(parts),
        plans=plans,
        notes=notes,
        duration_ms=(time.perf_counter() - t0) * 1000,
        schema_fingerprint=fingerprint,
        schema_reused=reused,
    )


def _statements(conn: psycopg.Connection, state: dict[str, Any], dbid: int,
                notes: list[str]) -> tuple[list[dict[str, Any]], int]:
    """pg_stat_statements' rows of the workload, redacted, and how many of this database's are hidden
    from our role; our own statements are left out."""
    try:
        rows = catalog.pgss_statements(conn, state["extversion"], state["extschema"] or "public")
    except psycopg.errors.ObjectNotInPrerequisiteState as exc:
        raise ExtensionMissing(
            f"pg_stat_statements cannot be read: {str(exc).strip()}",
            hint="add pg_stat_statements to shared_preload_libraries and restart",
        ) from None
    statements, hidden = [], 0
    for r in rows:
        if r["queryid"] is None or r["query"] == HIDDEN_TEXT:
            hidden += r["dbid"] == dbid  # other databases' statements are not this workload
            continue
        if is_own(r["query"]):
            continue  # our own catalog reads are never part of the workload
        r["query"] = redact(r["query"])  # no password literal reaches the store (redact.py)
        r["toplevel"] = bool(r["toplevel"])
        statements.append(r)
    if hidden:
        notes.append(f"{hidden} statements of other roles in this database are hidden: grant "
                     "pg_read_all_stats to see them")
    return statements, hidden


def _schema_parts(conn: psycopg.Connection, known_schema: str | None,
                  notes: list[str]) -> tuple[dict[str, Any], str | None, bool]:
    """(parts, schema fingerprint, whether the stored definitions still hold): definitions, table
    counters and settings only when the fingerprint changed; database counters and activity always."""
    parts: dict[str, Any] = {}
    fingerprint: str | None = catalog.schema_fingerprint(conn)
    reused = known_schema is not None and fingerprint == known_schema
    if not reused:
        parts.update(catalog.read_schema(conn, notes))
        if parts.pop("locked", None):
            fingerprint = None  # incomplete: read the definitions again next time
        parts["settings"] = redact_settings(catalog.settings(conn))
    parts["database"] = catalog.database_counters(conn)
    parts["activity"] = catalog.activity_summary(conn)
    return parts, fingerprint, reused


def _plans(conn: psycopg.Connection, statements: list[dict], info: dict, top: int, code: CodeGuard,
           notes: list[str]) -> list[dict]:
    """Generic plans of the `top` statements by time that the code guard lets through; a note counts
    the statements it refused because they reach untrusted code."""
    out: list[dict] = []
    if top <= 0:
        return out
    mine = [
        s
        for s in statements
        if s["dbid"] == info["dbid"]
        and not is_own(s["query"])
        and len(s["query"]) < MAX_EXPLAINED_CHARS
    ]
    mine.sort(key=lambda s: s["total_exec_time"], reverse=True)
    seen: set[str] = set()
    untrusted = 0
    for s in mine:
        if len(out) >= top:
            break
        if s["queryid"] in seen:
            continue
        seen.add(s["queryid"])
        untrusted += code.untrusted(s["query"])
        plan = explain_generic(conn, s["query"], code)
        if plan is None:
            continue
        out.append(
            {
                "queryid": s["queryid"],
                "userid": s["userid"],
                "dbid": s["dbid"],
                "toplevel": s["toplevel"],
                "plan_hash": plan_hash(plan),
                "total_cost": plan[0]["Plan"].get("Total Cost"),
                "plan": plan,
            }
        )
    if untrusted:
        notes.append(f"{untrusted} statement(s) not explained: they reach functions, operators or relations "
                     "of roles that are not trusted (planning could run that code as pgadvisor; --trust-role ROLE "
                     "trusts a role)")
    return out


def _jsonable(value: Any) -> Any:
    """Datetimes → epoch seconds, Decimals → float, so parts serialize deterministically."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.timestamp()
    if hasattr(value, "is_finite"):  # Decimal
        return float(value)
    return value

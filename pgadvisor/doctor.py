"""`pgadvisor doctor`: prerequisites, each with a ✓/✗ and the exact fix."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pgadvisor.errors import PgAdvisorError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None
    level: str = "error"  # error | warning: a failed warning does not make doctor fail

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_checks(dsn: str, store_location: str | None) -> list[Check]:
    """Run every check; connection problems become a failed check, not an exception."""
    from pgadvisor.pg import catalog
    from pgadvisor.pg.connect import connect

    checks: list[Check] = []
    try:
        with connect(dsn) as conn, catalog.snapshot_transaction(conn):
            info = catalog.server_info(conn)
            state = catalog.pgss_state(conn)
            ok_version = info["version_num"] >= 130000
            checks.append(Check("server version", ok_version, f"PostgreSQL {info['version']}",
                                None if ok_version else "pgadvisor needs PostgreSQL 13 or newer"))
            checks.append(Check("pg_stat_statements preloaded", state["preloaded"] is not False,
                                f"shared_preload_libraries = '{state['preload']}'" if state["preload"] is not None
                                else "unknown: this role may not read shared_preload_libraries",
                                None if state["preloaded"] is not False else
                                "add pg_stat_statements to shared_preload_libraries in postgresql.conf, restart"))
            created = bool(state["extversion"])
            checks.append(Check("pg_stat_statements created", created,
                                f"version {state['extversion']}" if created else "not created in this database",
                                None if created else "CREATE EXTENSION pg_stat_statements;"))
            hypo = catalog.hypopg_state(conn)
            hypo = {"v": hypo["version"], "a": hypo["available"]}
            checks.append(Check(
                "hypopg available", bool(hypo["v"]),
                f"version {hypo['v']}" if hypo["v"] else ("installed, not created" if hypo["a"] else "not installed"),
                None if hypo["v"] else ("CREATE EXTENSION hypopg;" if hypo["a"] else
                                        "install hypopg on the server (Debian: apt-get install postgresql-15-hypopg), "
                                        "then CREATE EXTENSION hypopg; without it index advice is heuristic"),
                level="warning"))
            priv = bool(state["read_all_stats"] or state["superuser"])
            checks.append(Check("can read other roles' query texts", priv,
                                f"role {info['username']}" + (" has pg_read_all_stats" if priv else
                                                              " lacks pg_read_all_stats"),
                                None if priv else f"GRANT pg_monitor TO {info['username']};", level="warning"))
            checks.append(_plan_privilege_check(conn, info["username"]))
            checks.append(_untrusted_code_check(conn))
            io = state["track_io_timing"] == "on"
            checks.append(Check("track_io_timing", io, f"track_io_timing = {state['track_io_timing']}",
                                None if io else "ALTER SYSTEM SET track_io_timing = on; SELECT pg_reload_conf();",
                                level="warning"))
            if created and state["preloaded"] is not False:
                checks.append(_capacity_check(conn, state))
    except PgAdvisorError as exc:
        checks.append(Check("connect", False, str(exc), exc.hint or "check --dsn, the server and pg_hba.conf"))
    checks.append(_store_check(store_location))
    checks += _store_permissions_check(store_location)
    return checks


def _plan_privilege_check(conn, role: str) -> Check:
    """EXPLAIN needs SELECT on every table a statement reads: a pg_monitor role alone plans nothing."""
    from pgadvisor.pg import catalog

    total, denied, examples = catalog.unreadable_tables(conn)
    ok = denied == 0
    return Check("privilege to plan statements (recommend)", ok,
                 f"role {role} may read all {total} tables" if ok else
                 f"role {role} has no SELECT on {denied} of {total} tables (e.g. {', '.join(examples)}): recommend "
                 "cannot EXPLAIN statements that read them",
                 None if ok else f"GRANT pg_read_all_data TO {role}; (PostgreSQL 14+) or GRANT SELECT ON ALL TABLES "
                                 f"IN SCHEMA <schema> TO {role};", level="warning")


def _untrusted_code_check(conn) -> Check:
    """Functions of roles pgadvisor does not trust: statements that reach them are not planned (pg/guard.py)."""
    from collections import Counter

    from pgadvisor.pg import catalog

    rows = [r for r in catalog.untrusted_code(conn) if r["kind"] == "function"]
    owners = Counter(r["owner"] for r in rows)
    ok = not owners
    who = ", ".join(f"{o} ({n})" for o, n in owners.most_common(5))
    return Check("functions pgadvisor may plan", ok,
                 "all functions here are owned by superusers (or are C/internal)" if ok else
                 f"{len(rows)} function(s) of other roles: {who}; statements that call them, or read views, "
                 "defaults or policies that do, are skipped (planning could run them as pgadvisor)",
                 None if ok else "if you trust that code: --trust-role " + " --trust-role ".join(
                     o for o, _ in owners.most_common(5)) + " (on collect and recommend)", level="warning")


def _capacity_check(conn, state) -> Check:
    from pgadvisor.pg import catalog

    schema = state["extschema"] or "public"
    n = catalog.pgss_count(conn, schema)
    info = catalog.pgss_info(conn, state["extversion"], schema)
    mx = int(state["max"] or 5000)
    dealloc = info.get("dealloc") or 0
    hours = catalog.hours_since(conn, info.get("stats_reset"))
    rate = f"{dealloc / float(hours):.1f}/h" if hours else "unknown"
    ok = n < 0.9 * mx and (not hours or dealloc / float(hours) < 1)
    return Check("pg_stat_statements.max", ok,
                 f"{n} of {mx} entries in use, {dealloc} deallocation runs (each evicts ~5% of the entries) "
                 f"since reset ({rate})",
                 None if ok else f"ALTER SYSTEM SET pg_stat_statements.max = {max(mx * 2, 10000)}; then restart, "
                                 "or collect more often", level="warning")


def _store_permissions_check(location: str | None) -> list[Check]:
    """A SQLite store readable by group or others (it holds statement texts and bind values): the chmod fix."""
    import shlex

    from pgadvisor.store import default_store_path, store_permission_problems

    loc = location or default_store_path()
    if loc.startswith(("postgresql://", "postgres://")) or "dbname=" in loc:
        return []
    bad = store_permission_problems(loc)
    return [Check("store owner-only", not bad,
                  f"{', '.join(bad)} readable or writable by group/others" if bad else f"{loc} is owner-only (0600)",
                  f"chmod 600 {' '.join(shlex.quote(f) for f in bad)}" if bad else None, level="warning")]


def _store_check(location: str | None) -> Check:
    from pgadvisor.store import default_store_path, open_store

    loc = location or default_store_path()
    try:
        with open_store(loc) as store:
            with store.write():
                pass
        return Check("store writable", True, loc)
    except PgAdvisorError as exc:
        return Check("store writable", False, str(exc), exc.hint or "pass --store with a writable path")

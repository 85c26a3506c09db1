"""`pgadvisor recommend`: statements (from the store's window or given by hand) → ranked recommendations."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pgadvisor.documents import document
from pgadvisor.errors import CannotRun, UsageError
from pgadvisor.findings import Recommendation, Rejected, rank
from pgadvisor.workload import StatementStats

# the default deadline of the index advisor's run (see recommend_indexes: screening and the search stop
# by then): `recommend` on 5,000 statements over 300 tables stays within 2 min (docs/benchmarks.md, Scale)
DEFAULT_TIME_LIMIT_S = 100.0

_WRITE_KEYS = ("n_tup_ins", "n_tup_upd", "n_tup_del", "n_tup_hot_upd")


def table_write_deltas(before: list[dict] | None, after: list[dict]) -> dict[str, dict[str, float]]:
    """Per-table write counters between two relation snapshots (a counter that went down: take `after`)."""
    old = {f"{r['schema']}.{r['name']}": r for r in before or []}
    out = {}
    for r in after:
        key = f"{r['schema']}.{r['name']}"
        prev = old.get(key)
        row = {}
        for k in _WRITE_KEYS:
            a = r.get(k) or 0
            b = (prev or {}).get(k) or 0
            row[k] = float(a - b if prev is not None and a >= b else a)
        out[key] = row
    return out


def store_statements(store, server: str | None, since_s: float) -> tuple[str, list[StatementStats], dict, dict]:
    """The window's statements of one server, plus window/coverage and per-table writes from its snapshots."""
    from pgadvisor.workload import load_workload

    names = store.servers()
    if server is None:
        if not names:
            raise UsageError("the store holds no snapshots: run `pgadvisor collect` first, or pass statements "
                             "as arguments or with --file")
        if len(names) > 1:
            raise UsageError(f"the store holds several servers, choose one with --server: {', '.join(names)}")
        server = names[0]
    w = load_workload(store, server, since=time.time() - since_s)
    if not w.statements:
        raise UsageError(f"no statement activity for {server!r} in the last {since_s / 86400:g} days of the store "
                         "(collect at least two snapshots, or widen --since)")
    sid = store.server_id(server)
    statements = with_samples(w.statements, store.samples(sid, [s.queryid for s in w.statements]))
    seqs = store.window_seqs(sid, time.time() - since_s, None)
    writes: dict = {}
    if seqs:
        after = store.parts(sid, seqs[1], kinds=("relations",)).get("relations")
        # the window opens at the snapshot before its first interval (or at its first, baseline, snapshot)
        before = store.parts(sid, max(seqs[0] - 1, 1), kinds=("relations",)).get("relations")
        if after and before:
            writes = table_write_deltas(before, after)
    sampled = sum(1 for s in statements if s.template)
    return server, statements, {"window": w.window, "coverage": w.coverage, "sampled_statements": sampled}, writes


def with_samples(
    statements: list[StatementStats], samples: dict[str, list[tuple[str, list[tuple[str, ...]], int]]]
) -> list[StatementStats]:
    """Statements whose logged text (the application's own constants, $n only for bind parameters)
    replaces pg_stat_statements' text, where all constants are $n; with literal examples (logged
    parameter values substituted) to cost the custom plans the application gets."""
    from dataclasses import replace

    from pgadvisor.pg.logs import examples, template_from_samples

    out = []
    for s in statements:
        mine = samples.get(s.queryid, [])
        text = template_from_samples([t for t, _, _ in mine], [n for _, _, n in mine])
        if text:
            pairs = [(t, sets) for t, sets, _ in mine]
            out.append(replace(s, query=text, template=s.query, examples=tuple(examples(text, pairs))))
        else:
            out.append(s)
    return out


def recommend(dsn: str, *, statements: list[StatementStats] | None = None, texts: list[str] | None = None,
              window: dict | None = None, table_writes: dict | None = None, budget_bytes: int | None = None,
              max_indexes: int | None = None, max_width: int = 3, apply: bool = False, allow_prefixes: bool = False,
              time_limit_s: float | None = DEFAULT_TIME_LIMIT_S, max_slowdown_pct: float | None = None,
              progress: Callable[[str, int, int], None] | None = None, write_aware: bool = True,
              trusted_roles: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run the index and drop advisors against the live database at `dsn`; returns the JSON document.

    `time_limit_s` (None: none) bounds the index advisor's screening and search, `max_slowdown_pct` the
    estimated slowdown of any writing statement (see recommend_indexes).
    `write_aware=False` turns the index advisor's write-overhead model off (a write-blind baseline for
    benchmarks; the CLI always runs write-aware). `trusted_roles`: roles whose functions may be planned
    besides the superusers' (pg/guard.py).

    Raises CannotRun when `apply` is asked of a hot standby, and when not one statement could be
    planned (no privilege on its tables, or none the code guard lets through): an empty advice would
    read as an all-clear."""
    from pgadvisor.advise.drops import recommend_drops
    from pgadvisor.advise.indexes import apply_indexes, recommend_indexes, whatif_single
    from pgadvisor.pg import catalog
    from pgadvisor.pg.connect import connect

    doc: dict[str, Any] = document()
    notes: list[str] = []
    with connect(dsn) as conn:
        info = catalog.server_info(conn)
        if apply and info["in_recovery"]:
            raise CannotRun("the server is a hot standby (pg_is_in_recovery() is true): --apply cannot create "
                            "indexes on it", hint="run --apply against the primary (a test copy of it), or leave "
                            "out --apply to get the advice from this standby")
        if info["in_recovery"]:
            notes.append("this server is a hot standby: its workload is its read-only queries; indexes are "
                         "created on the primary")
        schema = catalog.read_schema(conn, notes)
        age_days = catalog.stats_age_days(conn)
        conn.rollback()
        window_days = 1.0
        if window and window.get("window", {}).get("start") and window["window"].get("end"):
            window_days = max((window["window"]["end"] - window["window"]["start"]) / 86400, 1e-6)
        skipped_other_db = 0
        if statements is not None:
            mine = [s for s in statements if s.dbid in (0, info["dbid"])]
            skipped_other_db = len(statements) - len(mine)
            recs, rejected, stats = recommend_indexes(
                conn, mine, budget_bytes=budget_bytes, max_indexes=max_indexes, max_width=max_width, schema=schema,
                window_days=window_days, table_writes=table_writes or None, time_limit_s=time_limit_s,
                progress=progress, narrower_than_existing=allow_prefixes, write_aware=write_aware,
                max_slowdown_pct=max_slowdown_pct, connect=lambda: connect(dsn), trusted_roles=trusted_roles)
        else:
            recs, rejected, stats = whatif_single(conn, texts or [], budget_bytes=budget_bytes,
                                                  max_indexes=max_indexes, max_width=max_width, schema=schema,
                                                  time_limit_s=time_limit_s, progress=progress,
                                                  narrower_than_existing=allow_prefixes,
                                                  max_slowdown_pct=max_slowdown_pct, connect=lambda: connect(dsn),
                                                  trusted_roles=trusted_roles)
        stats["statements_other_databases"] = skipped_other_db
    notes += _unplanned(stats, info["username"])
    drops, drop_rejected = recommend_drops(schema, stats_window_days=age_days)
    all_recs: list[Recommendation] = rank(_dedupe(recs + drops))
    doc.update(database=info["datname"], server_version=info["version"], stats=stats,
               recommendations=[r.to_dict() for r in all_recs],
               rejected=[r.to_dict() for r in _sorted_rejected(rejected + drop_rejected)])
    if notes:
        doc["notes"] = notes
    if window:
        doc.update(window)
    if apply:
        creates = [r for r in all_recs if r.rule == "create-index" and r.verified in ("hypopg", "heuristic")]
        doc["applied"] = apply_indexes(dsn, creates)
        full = {s.queryid: s.query for s in statements or []}
        doc["remeasured"] = remeasure(dsn, creates, full, trusted_roles)
    return doc


# the start of the skip reasons of statements that were meant to be planned and could not be
_UNPLANNED = ("EXPLAIN failed", "not explained")


def _unplanned(stats: dict[str, Any], role: str) -> list[str]:
    """Notes on statements that could not be planned; CannotRun when none of them could: with no plan,
    "no recommendations" would read as an all-clear (a pg_monitor role has no SELECT on the tables)."""
    st = stats.get("statements") or {}
    failed = [s for s in st.get("skipped_detail") or [] if s["reason"].startswith(_UNPLANNED)]
    denied = [s for s in failed if "permission denied" in s["reason"]]
    grant = (f"EXPLAIN needs SELECT on the tables a statement reads: GRANT pg_read_all_data TO {role} "
             f"(PostgreSQL 14+), or GRANT SELECT ON ALL TABLES IN SCHEMA <schema> TO {role}")
    if failed and not st.get("considered"):
        first = failed[0]["reason"]
        raise CannotRun(f"none of the {st.get('total', 0)} statements could be planned ({len(failed)} failed: "
                        f"{first})", hint=grant if denied else "see `recommend -v --format json` for each reason")
    if denied:
        return [f"{len(denied)} statement(s) could not be planned: {denied[0]['reason']}; {grant}"]
    return []


def _dedupe(recs: list[Recommendation]) -> list[Recommendation]:
    """One recommendation per index: a foreign-key rule that the workload advisor also chose is merged into it."""
    import re

    def body(r: Recommendation) -> str:
        return re.sub(r"^CREATE INDEX CONCURRENTLY \S+ ON ", "", r.sql) if r.sql.startswith("CREATE INDEX") else r.id

    out: dict[str, Recommendation] = {}
    for r in sorted(recs, key=lambda r: r.verified != "hypopg"):
        key = body(r)
        if key in out:
            out[key].evidence.setdefault("also", []).append({"rule": r.rule, "why": r.evidence.get("why")})
        else:
            out[key] = r
    return list(out.values())


def _sorted_rejected(rejected: list[Rejected]) -> list[Rejected]:
    return sorted(rejected, key=lambda r: (r.target, r.id))


def remeasure(dsn: str, recs: list[Recommendation], texts: dict[str, str],
              trusted_roles: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """After --apply: the generic-plan cost of each served statement with the real indexes in place."""
    from pgadvisor.collect import explain_generic
    from pgadvisor.pg import guard
    from pgadvisor.pg.connect import connect

    out = []
    with connect(dsn) as conn:
        code = guard.load(conn, trusted_roles)
        conn.rollback()
        for rec in recs:
            for st in rec.evidence.get("statements", []):
                text = texts.get(st.get("queryid")) or st.get("query")
                if not text:
                    continue
                plan = explain_generic(conn, text, code)
                out.append({"id": rec.id, "queryid": st.get("queryid"), "cost_before": st.get("cost_before"),
                            "cost_estimated_after": st.get("cost_after"),
                            "cost_real_after": plan[0]["Plan"]["Total Cost"] if plan else None})
    return out

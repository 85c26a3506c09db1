"""`pgadvisor recommend`: statements (from the store's window or given by hand) → ranked recommendations."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pgadvisor.errors import CannotRun
from pgadvisor.findings import Recommendation, Rejected, Review, Verified, rank

if TYPE_CHECKING:  # the CLI imports this module at start-up; the workload loader (and its lexer) only when used
    from pgadvisor.advise.partitions.hook import PartitionOptions
    from pgadvisor.workload import Workload

# the default deadline of the index advisor's run (see recommend_indexes: screening and the search stop
# by then): `recommend` on 5,000 statements over 300 tables stays within 2 min (docs/benchmarks.md, Scale)
DEFAULT_TIME_LIMIT_S = 100.0


def recommend(dsn: str, *, workload: Workload | None = None, texts: list[str] | None = None,
              budget_bytes: int | None = None,
              max_indexes: int | None = None, max_width: int = 3, apply: bool = False, allow_prefixes: bool = False,
              time_limit_s: float | None = DEFAULT_TIME_LIMIT_S, max_slowdown_pct: float | None = None,
              progress: Callable[[str, int, int], None] | None = None, write_aware: bool = True,
              trusted_roles: tuple[str, ...] = (), partitions: PartitionOptions | None = None) -> Review:
    """Run the index advisor and the catalog rules against the live database at `dsn`; the Review's
    `to_document()` is the JSON document.

    The statements are the `workload`'s (weighted by their calls over its window, with its table
    writes), else the `texts` given by hand.
    `time_limit_s` (None: none) bounds the index advisor's screening and search, `max_slowdown_pct` the
    estimated slowdown of any writing statement (see recommend_indexes).
    `write_aware=False` turns the index advisor's write-overhead model off (a write-blind baseline for
    benchmarks; the CLI always runs write-aware). `trusted_roles`: roles whose functions may be planned
    besides the superusers' (pg/guard.py). `partitions` (None: not run) runs the partition advisor after
    the index advice, on the same statements (advise/partitions/hook.py); its failure is one note.

    Raises CannotRun when `apply` is asked of a hot standby, and when not one statement could be
    planned (no privilege on its tables, or none the code guard lets through): an empty advice would
    read as an all-clear."""
    from pgadvisor.advise.drops import recommend_drops
    from pgadvisor.advise.indexes import AdvisorOptions, recommend_indexes, whatif_single
    from pgadvisor.advise.indexes.candidates import TS_CONFIG_KEY
    from pgadvisor.advise.rules import create_index
    from pgadvisor.pg import catalog
    from pgadvisor.pg.connect import connect
    from pgadvisor.pg.ddl import apply_indexes

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
        # the configuration a `to_tsvector($n, col)` is assumed to use when no logged sample names one
        schema[TS_CONFIG_KEY] = next((x["setting"] for x in catalog.settings(conn)
                                      if x["name"] == "default_text_search_config"), None)
        age_days = catalog.stats_age_days(conn)
        conn.rollback()
        skipped_other_db = 0
        options = AdvisorOptions(budget_bytes=budget_bytes, max_indexes=max_indexes, max_width=max_width,
                                 time_limit_s=time_limit_s, max_slowdown_pct=max_slowdown_pct, write_aware=write_aware,
                                 allow_prefixes=allow_prefixes, trusted_roles=trusted_roles)
        if workload is not None:
            mine = [s for s in workload.statements if s.dbid in (0, info["dbid"])]
            skipped_other_db = len(workload.statements) - len(mine)
            recs, rejected, stats = recommend_indexes(
                conn, mine, options, window_days=workload.days or 1.0, table_writes=workload.table_writes or None,
                schema=schema, progress=progress, connect=lambda: connect(dsn))
        else:
            recs, rejected, stats = whatif_single(conn, texts or [], options, schema=schema, progress=progress,
                                                  connect=lambda: connect(dsn))
        stats["statements_other_databases"] = skipped_other_db
    notes += _unplanned(stats, info["username"])
    drops, drop_rejected = recommend_drops(schema, stats_window_days=age_days)
    parts: list[Recommendation] = []
    if partitions is not None:
        parts, part_rejected, part_notes, stats["partitions"] = _partition_advice(
            dsn, partitions, statements=mine if workload is not None else None, texts=texts, index_recs=recs,
            trusted_roles=trusted_roles, progress=progress)
        rejected, notes = rejected + part_rejected, notes + part_notes
    review = Review(database=info["datname"], server_version=info["version"], stats=stats,
                    recommendations=rank(_dedupe(recs + drops + parts)),
                    rejected=_sorted_rejected(rejected + drop_rejected), notes=notes)
    if workload is not None:
        review.workload = workload.summary()
        review.server = workload.server
    if apply:
        creates = [r for r in review.recommendations
                   if r.rule == create_index.ID and r.verified in (Verified.hypopg, Verified.heuristic)]
        review.applied = apply_indexes(dsn, creates)
        full = {s.queryid: s.query for s in workload.statements} if workload else {}
        review.remeasured = remeasure(dsn, creates, full, trusted_roles)
    return review


def _partition_advice(dsn: str, options: PartitionOptions, *, statements: list[Any] | None,
                      texts: list[str] | None, index_recs: list[Recommendation], trusted_roles: tuple[str, ...],
                      progress: Callable[[str, int, int], None] | None
                      ) -> tuple[list[Recommendation], list[Rejected], list[str], dict[str, Any]]:
    """The partition advisor's (recommendations, rejections, notes, stats); whatever goes wrong in it is
    one note, and the index advice already found stands."""
    from pgadvisor.advise.partitions.hook import for_review
    from pgadvisor.errors import one_line

    steps = [0]

    def say(_message: str) -> None:  # the advisor reports steps of unknown number: one bar that keeps growing
        steps[0] += 1
        if progress is not None:
            progress("partition copies", steps[0], steps[0] + 1)

    try:
        return for_review(dsn, options, statements=statements, texts=texts, index_recs=index_recs,
                          trusted_roles=trusted_roles, progress=say)
    except Exception as exc:  # noqa: BLE001 - a defect in the partition advisor must not cost the index advice
        line = f"partition advisor failed ({type(exc).__name__}): {one_line(exc)}"
        return [], [], [line], {"skipped": line}


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


def _index_key(r: Recommendation) -> str:
    """What a recommendation is about: the definition of the index it creates (whatever its name), else its id."""
    return r.index.body_sql() if r.index is not None else r.id


def _dedupe(recs: list[Recommendation]) -> list[Recommendation]:
    """One recommendation per need: the same index twice is one, and a foreign key's index is merged into
    a chosen index that leads with the foreign-key columns (`order_items(order_id) INCLUDE (...)` serves
    the child lookups of `order_items(order_id)`), whatever their SQL texts say."""
    out: dict[str, Recommendation] = {}
    for r in sorted(recs, key=lambda r: r.verified is not Verified.hypopg):
        key = _index_key(r)
        host = out.get(key) or _fk_host(r, out.values())
        if host is not None:
            host.evidence.setdefault("also", []).append({"rule": r.rule, "why": r.evidence.get("why")})
        else:
            out[key] = r
    return list(out.values())


def _fk_host(r: Recommendation, kept: Iterable[Recommendation]) -> Recommendation | None:
    """The kept create-index recommendation that serves foreign-key finding `r`, if any."""
    from pgadvisor.advise.rules import create_index, fk_without_index

    if r.rule != fk_without_index.ID or r.index is None:
        return None
    cols = [k.column for k in r.index.keys if k.column]
    for k in kept:
        if (k.rule == create_index.ID and k.index is not None and k.index.table_key == r.index.table_key
                and fk_without_index.served_by_new(k.index, cols)):
            return k
    return None


def _sorted_rejected(rejected: list[Rejected]) -> list[Rejected]:
    return sorted(rejected, key=lambda r: (r.target, r.id))


def remeasure(dsn: str, recs: list[Recommendation], texts: dict[str, str],
              trusted_roles: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """After --apply: the generic-plan cost of each served statement with the real indexes in place."""
    from pgadvisor.pg import guard
    from pgadvisor.pg.connect import connect
    from pgadvisor.pg.explain import explain_generic

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

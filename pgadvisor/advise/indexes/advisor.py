"""The run, top to bottom: `recommend_indexes` and `whatif_single` are the functions to call."""

from __future__ import annotations

import psycopg

from pgadvisor.advise.indexes.candidates import CandidateGenerator
from pgadvisor.advise.indexes.evaluate import Evaluator
from pgadvisor.advise.indexes.evidence import Evidence
from pgadvisor.advise.indexes.options import AdvisorOptions
from pgadvisor.advise.indexes.runtime import Clock, Connect, Progress, Run, Sessions, quiet
from pgadvisor.advise.indexes.screen import Screening
from pgadvisor.advise.indexes.search import EXTEND_MIN_IMPROVEMENT, Result, Searcher, extend_singles
from pgadvisor.advise.indexes.statements import Statements, baseline, prepare, text_digest
from pgadvisor.advise.indexes.stats import (
    CandidateCounts,
    EngineCounts,
    Laps,
    RunStats,
    Selection,
    StatementCounts,
)
from pgadvisor.advise.indexes.writes import WriteModel
from pgadvisor.advise.schema import SchemaView
from pgadvisor.findings import Recommendation, Rejected, rank
from pgadvisor.indexdef import IndexDef
from pgadvisor.pg import catalog, guard
from pgadvisor.pg.hypo import WhatIf
from pgadvisor.workload import StatementStats

# under a time limit, search runs one after another each get a share of the time left when they start, so
# that every run gets some: under a budget or cap greedy by benefit per byte 35%, greedy by benefit 50% of
# what is left, Extend's moves the rest (docs/benchmarks.md, "Scale"); without one the greedy 90% and
# Extend the rest. Chosen by hand, not measured. Runs in parallel (a session each) may each use all of it.
GREEDY_SHARE_BOUND = 0.35
GAIN_SHARE_BOUND = 0.5
GREEDY_SHARE_FREE = 0.9

Outcome = tuple[list[Recommendation], list[Rejected], dict]


class IndexAdvisor:
    """One run over the database of `conn`: the catalog is read when it is made (`schema`, when given,
    is used instead of reading it), `run(statements)` is the pipeline.

    `progress(stage, done, total)` is told how far each stage is; `connect` opens another read-only
    session on the same database (a context manager): under a budget or cap the searches then run in
    parallel, one session each, and a large pool is screened by two."""

    def __init__(self, conn: psycopg.Connection, options: AdvisorOptions | None = None, *, schema: dict | None = None,
                 progress: Progress | None = None, connect: Connect | None = None):
        opts = options or AdvisorOptions()
        clock = Clock(opts.time_limit_s)  # the run starts here: the catalog reads count
        self.conn = conn
        with catalog.without_snapshot(conn):  # nothing written: hold no snapshot after the catalog reads
            if schema is None:
                schema = catalog.read_schema(conn)
            session = catalog.search_path(conn)
            # what may be planned: statements that reach code of untrusted roles are skipped (pg/guard.py)
            self.guard = guard.load(conn, opts.trusted_roles)
        self.dbid = session["dbid"]
        view = SchemaView(schema, session["path"] or ["public"])
        sessions = Sessions(view.schema, opts.max_hypothetical, connect, clock.cancel)
        self.context = Run(opts, view, clock, sessions, progress or quiet)
        self.writes = WriteModel(view, opts.write_aware)
        self.ws = Statements()
        self.ev = Evaluator(self.ws, sessions, self.writes, opts.max_slowdown_pct)

    def prepare(self, statements: list[StatementStats]) -> dict:
        """Stage 1: the statements to advise on; returns the parse report."""
        self.ws, report = prepare(statements, self.context.view, self.guard, self.dbid)
        self.ev = Evaluator(self.ws, self.context.sessions, self.writes, self.context.options.max_slowdown_pct)
        return report

    def start(self, engine: WhatIf, table_writes: dict[str, dict] | None = None) -> None:
        """Stage 2, on the run's what-if engine: every statement's baseline cost, the write model's rates."""
        self.context.sessions.main = engine
        baseline(self.ws, engine, self.writes, table_writes or {}, self.context.progress)

    def run(self, statements: list[StatementStats], *, window_days: float = 1.0,
            table_writes: dict[str, dict] | None = None) -> Outcome:
        """Ranked recommendations, rejected candidates with reasons, and the run's stats (`RunStats.to_dict`).

        `window_days` converts the window's benefit into ms per day; `table_writes` gives per-table write
        counters over the window ({"public.orders": {"n_tup_ins": …, "n_tup_upd": …, "n_tup_del": …,
        "n_tup_hot_upd": …}})."""
        run, opts = self.context, self.context.options
        laps = Laps(run.sessions)
        parse_report = self.prepare(statements)
        laps.lap("prepare")
        with WhatIf(self.conn, schema=run.view.schema, max_hypothetical=opts.max_hypothetical,
                    create_extension=opts.create_extension, heuristic=opts.heuristic, guard=self.guard) as engine:
            self.start(engine, table_writes)
            laps.lap("baseline")
            gen = CandidateGenerator(run.view, max_width=opts.max_width, hypopg_brin=engine.mode == "hypopg")
            cands, pre_rejected = gen.generate([(q.key, q.ps) for q in self.ws.stmts])
            run.rejected.update((r.id, r) for r in pre_rejected)
            whatif = [c for c in cands if c.verify == "whatif"]
            rules = [c for c in cands if c.verify == "rule"]
            laps.lap("candidates")
            run.clock.start()
            screening = Screening(run, self.ev)
            pool = screening.screen(whatif)
            laps.lap("screening")
            searcher = Searcher(run, self.ev, screening)
            results, winner = self.select(searcher, [c.index for c in pool], gen)
            best = results[winner]
            laps.lap("search")
            run.progress("recommendations", 0, len(best.config))
            evidence = Evidence(run, self.ev, window_days if window_days and window_days > 0 else 1.0)
            recs = evidence.recommendations(best.config, {c.index: c for c in cands})
            recs += evidence.rule_recommendations(rules, best.config)
            run.progress("rejections", 0, len(pool))
            evidence.reject_rest(pool, best, screening.solo)
            laps.lap("report")
            engine_counts = EngineCounts.of(run.sessions)
            counts = CandidateCounts(
                generated=len(cands) + len(pre_rejected), whatif=len(whatif), rule=len(rules), screened_in=len(pool),
                not_screened=screening.not_screened,
                served_by_existing=sum("existing index" in r.reason for r in pre_rejected),
                kept_for_joins=screening.joins,
            )
            selection = Selection.of(
                winner, best, results, self.ws.weighted_base(), sum(self.ev.size(d) or 0 for d in best.config),
                max_slowdown_pct=opts.max_slowdown_pct, slowed_statements=evidence.slowed(best.config),
                time_limit_s=opts.time_limit_s, time_limit_hit=sorted(set(run.clock.hit)),
            )
        stats = RunStats(
            parse_report, engine_counts, counts, selection, round(run.clock.seconds(), 3), laps.seconds, laps.calls,
            dict(searcher.moves), StatementCounts.of(len(statements), len(self.ws.stmts), self.ws.skipped),
        )
        rejected = sorted(run.rejected.values(), key=lambda r: (r.target, r.id))
        return rank(recs), rejected, stats.to_dict()

    def select(
        self, searcher: Searcher, indexes: list[IndexDef], gen: CandidateGenerator
    ) -> tuple[dict[str, Result], str]:
        """Stage 4: the search runs (greedy by benefit per byte; under a budget or cap also by benefit and a
        swap pass; Extend's moves from single-column indexes), the cheapest configuration, consolidated.
        Returns every run's result and the winner's name."""
        opts, sessions = self.context.options, self.context.sessions
        singles = extend_singles(self.context.view, gen.indexable, searcher.copies)
        bound = opts.bound
        jobs = {}
        apart = bound and sessions.connect is not None
        if opts.algorithm in ("auto", "greedy"):
            if apart:
                share = 1.0
            elif bound:
                share = GREEDY_SHARE_BOUND
            else:
                share = GREEDY_SHARE_FREE if opts.algorithm == "auto" else 1.0
            jobs["greedy"] = lambda: searcher.search(
                indexes, gen.attributes, "greedy", opts.min_improvement, share=share)
            if bound:
                # benefit per byte is myopic under a budget (a tiny index first can crowd out the best one)
                jobs["greedy-gain"] = lambda: searcher.search(
                    indexes, gen.attributes, "greedy-gain", opts.min_improvement, by="gain",
                    share=1.0 if apart else GAIN_SHARE_BOUND)
        if opts.algorithm in ("auto", "extend"):
            jobs["extend"] = lambda: searcher.search(singles, gen.attributes, "extend", EXTEND_MIN_IMPROVEMENT)
        results: dict[str, Result] = sessions.parallel(jobs) if apart else {n: job() for n, job in jobs.items()}
        winner = min(results, key=lambda k: (results[k].objective, k))
        best = results[winner]
        if opts.algorithm != "extend" and bound:
            improved = searcher.improve(best, indexes + [d for d in best.config if d not in indexes], gen.attributes)
            if improved is not best:
                winner, best = f"{winner}+swap", improved
                results[winner] = best
        pool = indexes + [d for d in best.config if d not in indexes]
        cleaned = searcher.consolidate(best)
        if cleaned is not best:
            cleaned = searcher.refill(cleaned, pool, gen.attributes)
        results[winner] = cleaned
        return self.never_worse(searcher, results, winner, best)

    def never_worse(self, searcher: Searcher, results: dict[str, Result], winner: str,
                    raw: Result) -> tuple[dict[str, Result], str]:
        """The reported configuration is never costlier than one the search itself found: every run's result,
        before and after its pruning, and the winner before consolidation (`raw`). When one of them is
        cheaper by more than the pruning threshold (half the minimum improvement: what `prune` counts as
        an index nearly no plan gains from), it is reported instead: the clean-up passes trade a little
        estimated cost for fewer indexes, never more than that."""
        reported = results[winner]
        seen = [(f"{name} before pruning", r.unpruned) for name, r in results.items() if r.unpruned is not None]
        seen += [(name, r) for name, r in results.items() if name != winner]
        seen.append((f"{winner} before consolidation", raw))
        name, cheapest = min(seen, key=lambda kv: (kv[1].objective, kv[0]))
        slack = self.context.options.min_improvement / 2 * max(cheapest.objective, 1e-9)
        if reported.objective <= cheapest.objective + slack:
            return results, winner
        cheapest.history = cheapest.history + [f"reported instead of {winner} ({reported.objective:.1f}), which "
                                               f"costs more than {name} ({cheapest.objective:.1f})"]
        results[name] = cheapest
        return results, name


def recommend_indexes(
    conn: psycopg.Connection,
    statements: list[StatementStats],
    options: AdvisorOptions | None = None,
    *,
    window_days: float = 1.0,
    table_writes: dict[str, dict] | None = None,
    schema: dict | None = None,
    progress: Progress | None = None,
    connect: Connect | None = None,
) -> Outcome:
    """New indexes for a workload: ranked recommendations, rejected candidates with reasons, and run stats.

    `statements` are the window's statements (calls are the weights); `window_days` converts the window's
    benefit into ms per day; `table_writes` optionally gives per-table write counters over the window.
    `options` (AdvisorOptions) holds budget, cap, width, limits and trust. Under a time limit
    (`options.time_limit_s`, from the run's start) parsing and the baseline always run in full; screening
    stops at SCREEN_SHARE of the time left (the most promising candidates first; the rest are rejected as
    not costed), the searches at the deadline (screening and the search get at least MIN_SHARE of the
    limit each, even past it), then the best configuration found is recommended;
    stats["selection"]["time_limit_hit"] says what was cut. A strict key prefix of a wider existing index
    must cut its statements' cost by PREFIX_MIN_GAIN unless `options.allow_prefixes` (any gain will do,
    as for Extend). A statement that reaches code of an untrusted role is skipped with the reason.
    `schema`, `progress`, `connect`: see IndexAdvisor. The connection may be read-only; hypothetical
    indexes are reset before returning.
    """
    advisor = IndexAdvisor(conn, options, schema=schema, progress=progress, connect=connect)
    return advisor.run(statements, window_days=window_days, table_writes=table_writes)


def whatif_single(
    conn: psycopg.Connection,
    texts: list[str],
    options: AdvisorOptions | None = None,
    *,
    schema: dict | None = None,
    progress: Progress | None = None,
    connect: Connect | None = None,
) -> Outcome:
    """Indexes for statements given by hand (`recommend "SELECT …"`): one call each, no timings."""
    stmts = [
        StatementStats(
            queryid=f"text-{text_digest(t)}",
            query=t,
            userid=0,
            dbid=0,
            toplevel=True,
            calls=1,
            total_exec_ms=0.0,
            rows=0,
        )
        for t in texts
        if t and t.strip()
    ]
    return recommend_indexes(conn, stmts, options, schema=schema, progress=progress, connect=connect)

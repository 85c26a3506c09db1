"""The run's statistics: typed here, a nested dict for the document (`RunStats.to_dict`), whose keys and
shape the renderers and `--format json` readers rely on (`stats["selection"]["time_limit_hit"]` …)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from pgadvisor.advise.indexes.runtime import Sessions
from pgadvisor.advise.indexes.search import Result

# skipped statements listed one by one in the stats (the rest are only counted)
SKIPPED_DETAIL_MAX = 500


class Laps:
    """Seconds and what-if calls per phase, added up when a phase is timed more than once."""

    def __init__(self, sessions: Sessions):
        self.sessions = sessions
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._mark = time.monotonic()
        self._calls = 0

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._mark, 3)
        self._mark = now
        calls = self.sessions.whatif_calls()
        self.calls[name] = self.calls.get(name, 0) + calls - self._calls
        self._calls = calls


@dataclass
class CandidateCounts:
    generated: int
    whatif: int
    rule: int
    screened_in: int
    not_screened: int
    served_by_existing: int
    kept_for_joins: int = 0  # screened in on a join column although no plan gains from them alone


@dataclass
class SearchRun:
    """One search run's outcome (greedy, greedy-gain, extend, and a swap pass's `…+swap`)."""

    objective: float
    steps: int
    stopped: str
    seconds: float
    read_cost: float
    indexes: list[str]

    @classmethod
    def of(cls, r: Result) -> SearchRun:
        return cls(round(r.objective, 2), r.steps, r.stopped, round(r.seconds, 2), round(r.read_cost, 2),
                   [d.label() for d in r.config])


@dataclass
class Selection:
    """The chosen configuration: which run won, its costs and size, and where the time limit cut (fields
    in the document's order)."""

    algorithm: str
    baseline_cost: float
    final_read_cost: float
    write_cost: float
    relative_cost: float
    size_bytes: int
    steps: int
    stopped: str
    max_slowdown_pct: float | None
    slowed_statements: list[dict[str, Any]]  # the writing statements the chosen indexes slow down, by estimate
    time_limit_s: float | None
    time_limit_hit: list[str]  # where the time limit cut the run short (screening, a search run, the swap pass)
    history: list[str]
    runs: dict[str, SearchRun]

    @classmethod
    def of(cls, winner: str, best: Result, results: dict[str, Result], base_total: float, size_bytes: int,
           **limits: Any) -> Selection:
        """`limits`: max_slowdown_pct, slowed_statements, time_limit_s, time_limit_hit."""
        return cls(
            algorithm=winner,
            baseline_cost=round(base_total, 2),
            final_read_cost=round(best.read_cost, 2),
            write_cost=round(best.write_cost, 2),
            relative_cost=round(best.read_cost / base_total, 4) if base_total else 1.0,
            size_bytes=size_bytes,
            steps=best.steps,
            stopped=best.stopped,
            history=best.history,
            runs={k: SearchRun.of(v) for k, v in results.items()},
            **limits,
        )


@dataclass
class StatementCounts:
    total: int
    considered: int
    skipped: int
    skip_reasons: dict[str, int]
    skipped_detail: list[dict[str, Any]]

    @classmethod
    def of(cls, total: int, considered: int, skipped: list[dict[str, Any]]) -> StatementCounts:
        """Skip reasons are counted by their text, unparseable and EXPLAIN failures by their kind only."""
        reasons = Counter(
            s["reason"].split(":")[0] if s["reason"].startswith(("unparseable", "EXPLAIN")) else s["reason"]
            for s in skipped
        )
        return cls(total, considered, len(skipped), dict(reasons), skipped[:SKIPPED_DETAIL_MAX])


@dataclass
class EngineCounts:
    """What the what-if engines did: their mode and why, EXPLAINs, cache hits, sessions, hypopg work."""

    mode: str
    mode_reason: str | None
    whatif_calls: int
    cache_hits: int
    parallel_sessions: int
    selectivity_samples: int
    hypothetical_created: int
    hypopg_resets: int

    @classmethod
    def of(cls, sessions: Sessions) -> EngineCounts:
        e = sessions.main
        return cls(e.mode, e.reason, sessions.whatif_calls(), sessions.cache_hits(), 1 + len(sessions.helpers),
                   e.samples_taken, e.created, e.resets)


@dataclass
class RunStats:
    """Everything `recommend_indexes` reports about its run besides the advice."""

    parse: dict[str, Any]  # total, parsed, failed, failures by kind, parse_rate
    engine: EngineCounts
    candidates: CandidateCounts
    selection: Selection
    seconds: float
    phases: dict[str, float]
    phase_whatif_calls: dict[str, int]
    search_moves: dict[str, int]
    statements: StatementCounts

    def to_dict(self) -> dict[str, Any]:
        """The nested dict of the document, keys in their documented order."""
        return {
            "parse": self.parse,
            **asdict(self.engine),
            "candidates": asdict(self.candidates),
            "selection": asdict(self.selection),
            "seconds": self.seconds,
            "phases": self.phases,
            "phase_whatif_calls": self.phase_whatif_calls,
            "search_moves": self.search_moves,
            "statements": asdict(self.statements),
        }

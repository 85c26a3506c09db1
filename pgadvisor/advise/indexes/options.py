"""What the caller decides about one index advisor run: budget, caps, search, limits and trust."""

from __future__ import annotations

from dataclasses import dataclass

from pgadvisor.pg.hypo import MAX_HYPOTHETICAL

ALGORITHMS = ("auto", "greedy", "extend")
# a move must save this share of the workload's estimated cost to be taken: 0.05%, chosen by hand, not
# measured (the search also skips, without a what-if, every move that cannot save this much: the long
# tail of a wide workload, docs/benchmarks.md "Scale")
MIN_IMPROVEMENT = 0.0005


@dataclass(frozen=True)
class AdvisorOptions:
    """The settings of one run of `recommend_indexes`; the defaults are those of a run by hand.

    `budget_bytes`, `max_indexes`: the chosen indexes' estimated size and count (None: no limit).
    `max_width`: key columns per index. `time_limit_s`: a deadline for the run from its start (None or
    0: none; see `recommend_indexes`). `max_slowdown_pct`: no writing statement may get slower than this
    by estimate (None: no limit; the slowdowns are reported in the evidence). `write_aware`: charge the
    new indexes' maintenance against their read gain (off: a write-blind baseline for benchmarks).
    `allow_prefixes` (the CLI's `--allow-prefixes`): a strict key prefix of a wider existing index needs
    any gain, not PREFIX_MIN_GAIN. `trusted_roles`: roles whose functions may be planned besides the
    superusers' (pg/guard.py). `algorithm`: "auto" (the best of the greedy runs and of Extend's
    moves), "greedy" or "extend". `min_improvement`: a move must save this share of the workload's
    estimated cost. `create_extension`: try `CREATE EXTENSION hypopg` when it is installed but not
    created (a write). `heuristic`: do not use hypopg even when it is there. `max_hypothetical`:
    hypothetical indexes a session holds before hypopg is reset.

    Out-of-range values raise ValueError; a width below 1 is 1, a negative `min_improvement` 0, and a
    time limit that is not positive means none.
    """

    budget_bytes: int | None = None
    max_indexes: int | None = None
    max_width: int = 3
    time_limit_s: float | None = None
    max_slowdown_pct: float | None = None
    write_aware: bool = True
    allow_prefixes: bool = False
    trusted_roles: tuple[str, ...] = ()
    algorithm: str = "auto"
    min_improvement: float = MIN_IMPROVEMENT
    create_extension: bool = False
    heuristic: bool = False
    max_hypothetical: int = MAX_HYPOTHETICAL

    def __post_init__(self) -> None:
        if self.budget_bytes is not None and self.budget_bytes < 0:
            raise ValueError("budget_bytes must be >= 0")
        if self.max_indexes is not None and self.max_indexes < 0:
            raise ValueError("max_indexes must be >= 0")
        if self.algorithm not in ALGORITHMS:
            raise ValueError("algorithm must be auto, greedy or extend")
        if self.max_slowdown_pct is not None and self.max_slowdown_pct < 0:
            raise ValueError("max_slowdown_pct must be >= 0")
        # normalized in place: a frozen dataclass sets its own fields through object.__setattr__
        object.__setattr__(self, "max_width", max(1, int(self.max_width)))
        object.__setattr__(self, "min_improvement", max(0.0, self.min_improvement))
        limit = self.time_limit_s
        object.__setattr__(self, "time_limit_s", limit if limit and limit > 0 else None)

    @property
    def bound(self) -> bool:
        """Whether a budget or a cap bounds the result (then more search runs and a swap pass run)."""
        return self.budget_bytes is not None or self.max_indexes is not None

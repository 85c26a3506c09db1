"""The partition advisor's values: the statements of one table, its candidates, their costs and the advice."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pgadvisor.pg.partition import PartitionSpec
from pgadvisor.sql.model import ParsedStatement


@dataclass
class Stmt:
    """One workload statement that reads or writes the table."""

    queryid: str
    text: str  # the pg_stat_statements text (or a logged sample)
    calls: float
    total_ms: float
    parsed: ParsedStatement
    examples: tuple[str, ...] = ()  # logged literal texts

    @property
    def kind(self) -> str:
        return self.parsed.kind


@dataclass(frozen=True)
class Candidate:
    """A partition layout to evaluate ("none" is `spec is None`), with why it was proposed."""

    spec: PartitionSpec | None
    why: str

    @property
    def label(self) -> str:
        return self.spec.label if self.spec else "none"


@dataclass
class Cost:
    """One statement on one copy: estimated total cost, pages touched, planning time (ms)."""

    cost: float
    pages: float
    plan_ms: float
    partitions: int = 0  # scans of partitions in the plan


@dataclass
class StatementResult:
    """One statement across the candidates: the full-size baseline and the copies' costs."""

    stmt: Stmt
    literal: str | None  # the literal text costed (None: not costed)
    full_cost: float | None  # the target's estimate of the literal statement (the unpartitioned table)
    full_pages: float = 0.0  # the pages its plan on the target touches (pg.partition.pages_touched)
    copies: dict[str, Cost] = field(default_factory=dict)  # candidate label → cost on its copy
    skipped: str | None = None  # why it was not costed
    retention: bool = False  # a DELETE by a range of the time key alone

    def ratio(self, label: str) -> float | None:
        """Cost on the partitioned copy ÷ cost on the unpartitioned copy."""
        base, mine = self.copies.get("none"), self.copies.get(label)
        if base is None or mine is None or base.cost <= 0:
            return None
        return mine.cost / base.cost


@dataclass
class TableAdvice:
    """The decision for one table, with the evidence every renderer and the JSON document show."""

    table: str
    decision: str  # partition | none | skipped | interval
    chosen: Candidate | None = None
    blocker: str | None = None
    why: str = ""
    weighted_ratio: dict[str, float] = field(default_factory=dict)  # candidate label → Σ w·ratio / Σ w
    statements: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    migration: dict[str, str] = field(default_factory=dict)  # native, pg_partman
    assumed_indexes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "decision": self.decision, "chosen": self.chosen.label if self.chosen else None,
                "blocker": self.blocker, "why": self.why,
                "weighted_ratio": {k: round(v, 4) for k, v in self.weighted_ratio.items()},
                "candidates": self.candidates, "statements": self.statements, "migration": self.migration,
                "assumed_indexes": self.assumed_indexes, "notes": self.notes, "stats": self.stats}

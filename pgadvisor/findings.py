"""The Recommendation contract every advisor returns, and the deterministic ranking."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}


@dataclass
class Recommendation:
    id: str  # stable across runs: CI allow-lists key on it
    rule: str  # create-index | drop-index | fk-index | ...
    severity: str  # high | medium | low | info
    title: str
    target: str  # schema.table (or schema.index)
    sql: str
    rollback_sql: str
    benefit: dict[str, Any] = field(default_factory=dict)  # ms_per_day, cost_before, cost_after, reduction_pct
    cost: dict[str, Any] = field(default_factory=dict)  # size_bytes, write_overhead_pct
    confidence: float = 0.5
    verified: str = "heuristic"  # hypopg | heuristic | rule | catalog
    evidence: dict[str, Any] = field(default_factory=dict)  # statements: [...], why: "..."

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Rejected:
    """A candidate that was considered and not recommended, with the reason (for --verbose)."""

    id: str
    target: str
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rank(recs: list[Recommendation]) -> list[Recommendation]:
    """By benefit (ms/day, then cost reduction), then rule, then target: deterministic."""

    def key(r: Recommendation):
        b = r.benefit or {}
        return (-(b.get("ms_per_day") or 0.0), -(b.get("cost_saved") or 0.0), r.rule, r.target, r.id)

    return sorted(recs, key=key)

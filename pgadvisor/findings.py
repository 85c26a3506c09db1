"""The Recommendation contract every advisor returns, the deterministic ranking, and the typed review
that `recommend` hands to every renderer (DESIGN §3)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import TYPE_CHECKING, Any

from pgadvisor.documents import document

if TYPE_CHECKING:  # indexdef imports psycopg, which `pgadvisor --help` does not load
    from pgadvisor.indexdef import IndexDef


class _Text(str, Enum):
    """An enum whose members are their JSON strings (`str(x)` and f-strings print the value)."""

    def __str__(self) -> str:
        return self.value


class Severity(_Text):
    """How much a finding matters; `check --fail-on` compares these in `SEVERITY_ORDER`."""

    high = "high"
    medium = "medium"
    low = "low"
    info = "info"


class Verified(_Text):
    """What a recommendation's benefit rests on."""

    hypopg = "hypopg"  # the planner costed the workload with the hypothetical index
    heuristic = "heuristic"  # estimated from column statistics (no hypopg in the database)
    rule = "rule"  # proposed by a rule the what-if cannot check (GIN, BRIN, a foreign key)
    catalog = "catalog"  # read from the catalog: index validity, definitions, scan counters


SEVERITY_ORDER = {Severity.high: 0, Severity.medium: 1, Severity.low: 2, Severity.info: 3}


@dataclass
class Recommendation:
    id: str  # `rule:schema.object[:column]`, stable across runs: CI allow-lists key on it
    rule: str  # a kebab-case rule id of pgadvisor.advise.rules
    severity: Severity
    title: str
    target: str  # schema.table (or schema.index)
    sql: str
    rollback_sql: str
    benefit: dict[str, Any] = field(default_factory=dict)  # ms_per_day, cost_before, cost_after, reduction_pct
    cost: dict[str, Any] = field(default_factory=dict)  # size_bytes, write_overhead_pct
    confidence: float = 0.5
    verified: Verified = Verified.heuristic
    evidence: dict[str, Any] = field(default_factory=dict)  # statements: [...], why: "..."
    # the index it creates (not serialized): one recommendation per index when advisors agree
    index: IndexDef | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.severity = Severity(self.severity)
        self.verified = Verified(self.verified)

    @property
    def why(self) -> str:
        return self.evidence.get("why", "")

    @property
    def statements(self) -> list[dict[str, Any]]:
        """The served statements of the evidence (queryid, calls, mean_ms, costs, query)."""
        return self.evidence.get("statements") or []

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "index":
                continue
            value = getattr(self, f.name)
            out[f.name] = value.value if isinstance(value, Enum) else copy.deepcopy(value)
        return out


@dataclass
class Rejected:
    """A candidate that was considered and not recommended, with the reason (for --verbose)."""

    id: str
    target: str
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "target": self.target, "reason": self.reason, "detail": copy.deepcopy(self.detail)}


def rank(recs: list[Recommendation]) -> list[Recommendation]:
    """Verified before unverified (proposed by rule: no plan checked them), then by benefit (ms/day, then
    cost reduction), then rule, then target: deterministic."""

    def key(r: Recommendation):
        b = r.benefit or {}
        return (r.verified == Verified.rule, -(b.get("ms_per_day") or 0.0), -(b.get("cost_saved") or 0.0), r.rule,
                r.target, r.id)

    return sorted(recs, key=key)


@dataclass
class Review:
    """What `recommend` found for one database: the ranked recommendations, the rejected candidates and
    the advisor's run statistics; `to_document()` is the `--format json` document.

    `stats` is the index advisor's nested dict (it is printed as it is); renderers read it through the
    properties below, which name what they need.
    """

    database: str
    server_version: str
    recommendations: list[Recommendation]
    rejected: list[Rejected]
    stats: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    workload: dict[str, Any] | None = None  # Workload.summary(): window, coverage, sampled_statements
    applied: list[dict[str, Any]] | None = None  # --apply: per index, ok/error, seconds, real size
    remeasured: list[dict[str, Any]] | None = None  # --apply: generic-plan costs with the real indexes
    server: str | None = None  # the store's server name, when the workload came from the store

    def to_document(self) -> dict[str, Any]:
        doc = document(database=self.database, server_version=self.server_version, stats=self.stats,
                       recommendations=[r.to_dict() for r in self.recommendations],
                       rejected=[r.to_dict() for r in self.rejected])
        if self.notes:
            doc["notes"] = self.notes
        if self.workload is not None:
            doc.update(self.workload)
        if self.applied is not None:
            doc["applied"] = self.applied
        if self.remeasured is not None:
            doc["remeasured"] = self.remeasured
        if self.server is not None:
            doc["server"] = self.server
        return doc

    # -- what the renderers read of the advisor's statistics -----------------------------------------
    def _part(self, name: str) -> dict[str, Any]:
        return self.stats.get(name) or {}

    @property
    def statements_total(self) -> int:
        return self._part("statements").get("total", 0)

    @property
    def statements_considered(self) -> int:
        return self._part("statements").get("considered", 0)

    @property
    def skip_reasons(self) -> dict[str, int]:
        """Why statements were left out, with how many each."""
        return self._part("statements").get("skip_reasons") or {}

    @property
    def statements_other_databases(self) -> int:
        return self.stats.get("statements_other_databases") or 0

    @property
    def parse_rate(self) -> float:
        return self._part("parse").get("parse_rate", 1)

    @property
    def whatif_calls(self) -> int:
        return self.stats.get("whatif_calls", 0)

    @property
    def seconds(self) -> float:
        return self.stats.get("seconds", 0)

    @property
    def heuristic_reason(self) -> str | None:
        """Why the advice was not verified with hypopg, or None when it was (or could be)."""
        if self.stats.get("mode") != "heuristic":
            return None
        return self.stats.get("mode_reason") or "hypopg is not available"

    @property
    def time_limit_hit(self) -> list[str]:
        """The phases the time limit cut short: "screening" and the names of the searches."""
        return self._part("selection").get("time_limit_hit") or []

    @property
    def time_limit_s(self) -> float:
        return self._part("selection").get("time_limit_s") or 0

    @property
    def search_steps(self) -> int:
        return self._part("selection").get("steps", 0)

    @property
    def not_screened(self) -> int:
        """Candidates the time limit left unscreened."""
        return self._part("candidates").get("not_screened", 0)

    @property
    def slowed_statements(self) -> list[dict[str, Any]]:
        """Writing statements the recommended indexes slow down (query, slowdown_pct, why), slowest first."""
        return self._part("selection").get("slowed_statements") or []

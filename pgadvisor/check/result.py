"""What one `check` run found: findings with their key, level and status, each rule's run, the exit code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pgadvisor.check.config import LEVEL_OF_SEVERITY, LEVEL_RANK, AllowEntry
from pgadvisor.documents import document
from pgadvisor.errors import EXIT_CANNOT_RUN, EXIT_FINDINGS, EXIT_OK
from pgadvisor.findings import Recommendation

LEVELS = ("error", "warning", "info")


def level_of(severity: str) -> str:
    """Our severities in CI terms: high → error, medium → warning, low and info → info."""
    return LEVEL_OF_SEVERITY[str(severity)]


def at_or_above(level: str, fail_on: str) -> bool:
    return fail_on != "never" and LEVEL_RANK[level] <= LEVEL_RANK[fail_on]


@dataclass
class Finding:
    """A rule's recommendation as a CI finding. `status`: "new" (counts for --fail-on), "allowed" (an
    allow-list entry suppresses it) or "baseline" (the baseline file knows it)."""

    rec: Recommendation
    key: str
    level: str
    status: str = "new"
    allowed_by: AllowEntry | None = None
    anchor: tuple[str, int] | None = None  # (file, line) that defines the object

    @property
    def rule(self) -> str:
        return self.rec.rule

    @property
    def title(self) -> str:
        return self.rec.title

    @property
    def message(self) -> str:
        """The title and, when the rule says it, why."""
        why = self.rec.why
        return f"{self.rec.title}: {why}" if why else self.rec.title

    def to_dict(self) -> dict[str, Any]:
        out = {"key": self.key, "level": self.level, "status": self.status, **self.rec.to_dict()}
        if self.allowed_by:
            out["allowed"] = {"reason": self.allowed_by.reason, "entry": self.allowed_by.key,
                              "expires": self.allowed_by.expires.isoformat() if self.allowed_by.expires else None}
        if self.anchor:
            out["location"] = {"path": self.anchor[0], "line": self.anchor[1]}
        return out


@dataclass
class RuleRun:
    """One rule in one run: "ran", "skipped" (the server cannot run it: why and the fix), "off" (not in
    scope: include/exclude/runtime) or "failed" (the rule raised: the error)."""

    id: str
    kind: str
    severity: str
    summary: str
    doc: str
    status: str
    reason: str = ""
    findings: int = 0
    seconds: float = 0.0  # the rule's own run time (a workload rule's first one includes gathering the facts)
    limit: str = ""  # what cut a rule that ran short (a statement cap, a time limit): it may have missed findings

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "severity": self.severity, "summary": self.summary,
                "status": self.status, "reason": self.reason, "findings": self.findings,
                "seconds": round(self.seconds, 3), "limit": self.limit or None}


@dataclass
class CheckResult:
    database: str
    server_version: str
    fail_on: str
    rules: list[RuleRun]
    findings: list[Finding]
    fixed: list[dict[str, Any]] = field(default_factory=list)  # baseline rows no longer found
    notes: list[str] = field(default_factory=list)  # expired or unused allow-list entries, scope notes
    baseline: str | None = None
    config: str | None = None
    seconds: float = 0.0
    statements: list[str] = field(default_factory=list)  # fingerprints of the test statements (workload rules)

    def counted(self, status: str = "new") -> dict[str, int]:
        counts = dict.fromkeys(LEVELS, 0)
        for f in self.findings:
            if f.status == status:
                counts[f.level] += 1
        return counts

    @property
    def failing(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "new" and at_or_above(f.level, self.fail_on)]

    def by_status(self, status: str) -> list[RuleRun]:
        return [r for r in self.rules if r.status == status]

    @property
    def exit_code(self) -> int:
        """1 when a new finding is at or above --fail-on; else 3 when a rule failed; else 0."""
        if self.failing:
            return EXIT_FINDINGS
        return EXIT_CANNOT_RUN if self.by_status("failed") else EXIT_OK

    def summary_line(self) -> str:
        ran, skipped, failed = self.by_status("ran"), self.by_status("skipped"), self.by_status("failed")
        new = self.counted()
        parts = [f"{len(ran)} rules run"]
        if skipped:
            parts.append(f"{len(skipped)} skipped ({'; '.join(f'{r.id}: {_short(r.reason)}' for r in skipped)})")
        if failed:
            parts.append(f"{len(failed)} failed ({', '.join(r.id for r in failed)})")
        off = self.by_status("off")
        if off:
            parts.append(f"{len(off)} off")
        parts += [f"{r.id} cut short ({r.limit})" for r in ran if r.limit]
        total = sum(new.values())
        found = f"{total} finding{'s' if total != 1 else ''}: " + ", ".join(f"{new[lv]} {lv}" for lv in LEVELS)
        extra = []
        for status, label in (("allowed", "allowed"), ("baseline", "in the baseline")):
            n = sum(self.counted(status).values())
            if n:
                extra.append(f"{n} {label}")
        if self.fixed:
            extra.append(f"{len(self.fixed)} fixed since the baseline")
        if extra:
            found += f" (+{', '.join(extra)})"
        verdict = ("never fails" if self.fail_on == "never" else
                   f"fail-on {self.fail_on}: {'FAIL' if self.failing else 'pass'}")
        return f"pgadvisor check: {', '.join(parts)}; {found}; {verdict} (exit {self.exit_code})"

    def to_document(self) -> dict[str, Any]:
        return document(kind="pgadvisor-check", database=self.database, server_version=self.server_version,
                        fail_on=self.fail_on, exit_code=self.exit_code, summary=self.summary_line(),
                        counts={"new": self.counted(), "allowed": self.counted("allowed"),
                                "baseline": self.counted("baseline")},
                        rules=[r.to_dict() for r in self.rules], findings=[f.to_dict() for f in self.findings],
                        fixed=self.fixed, notes=self.notes, baseline=self.baseline, config=self.config,
                        seconds=round(self.seconds, 3))


def _short(reason: str, width: int = 80) -> str:
    first = reason.split("; fix:")[0]
    return first if len(first) <= width else first[: width - 1] + "…"

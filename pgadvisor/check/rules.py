"""Which rules `check` runs: their kind (static, runtime, workload), what each requires of the server,
and include/exclude.

The registry is `pgadvisor.advise.rules.ALL`. A rule's `kind` says what it reads: "static" rules read
only the catalog (safe on an empty test database); "runtime" rules read statistics a test database does
not have (unused index, bloat, statistics age: off unless `--include-runtime`); "workload" rules read
the statements the tests ran (pg_stat_statements). `requires` names what the server must offer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

KINDS = ("static", "runtime", "workload")
PGSS_FIX = ("preload and create pg_stat_statements in the test database: shared_preload_libraries = "
            "'pg_stat_statements' (a restart) and CREATE EXTENSION pg_stat_statements; the docker/ image has it")


@dataclass(frozen=True)
class ServerFacts:
    """What the rules' requirements are checked against."""

    version_num: int
    extensions: dict[str, str] = field(default_factory=dict)  # created extension → version
    superuser: bool = False
    read_all_stats: bool = False
    pgss_readable: bool = False  # pg_stat_statements created and its view readable (preloaded)
    pgss_problem: str | None = None  # why it is not
    model: str | None = None  # the query-time model `check` loaded from --production-store ("v3 (xgboost) of prod")
    model_problem: str | None = None  # why none was loaded


@dataclass(frozen=True)
class RuleInfo:
    """A registry rule as `check` sees it."""

    id: str
    kind: str
    severity: str
    summary: str
    doc: str
    rule: Any  # the registry's Rule

    @property
    def find(self) -> Callable | None:
        return getattr(self.rule, "find", None)

    @property
    def find_workload(self) -> Callable | None:
        return getattr(self.rule, "find_workload", None)

    @property
    def thresholds(self) -> dict[str, float]:
        return dict(getattr(self.rule, "thresholds", None) or {})


def kind_of(rule: Any) -> str:
    kind = getattr(rule, "kind", "static")
    return kind if kind in KINDS else "static"


def registry() -> dict[str, RuleInfo]:
    """Every rule `check` can run, by id (the index advisor's create-index is `recommend`'s, not check's:
    its workload counterpart is a workload rule)."""
    from pgadvisor.advise.rules import ALL

    out = {}
    for rid, rule in ALL.items():
        kind = kind_of(rule)
        runnable = getattr(rule, "find", None) is not None or (
            kind == "workload" and getattr(rule, "find_workload", None) is not None)
        if not runnable:
            continue
        summary = getattr(rule, "summary", "") or rid
        if summary.startswith(f"{rid}:"):
            summary = summary[len(rid) + 1:].strip()
        out[rid] = RuleInfo(rid, kind, str(getattr(rule, "default_severity", "info")), summary,
                            getattr(rule, "doc", ""), rule)
    return out


def unmet(rule: RuleInfo, facts: ServerFacts) -> str | None:
    """Why the server cannot run `rule` (its `requires`), or None."""
    if rule.kind == "workload" and not facts.pgss_readable:
        return f"{facts.pgss_problem or 'pg_stat_statements is not available'}; fix: {PGSS_FIX}"
    req = getattr(rule.rule, "requires", None)  # a pgadvisor.advise.rules.Requires
    if req is None:
        return None
    if req.min_version and facts.version_num < req.min_version:
        return (f"needs PostgreSQL {req.min_version // 10000} or later (the server is "
                f"{facts.version_num // 10000})")
    missing = [e for e in req.extensions if e not in facts.extensions]
    if missing:
        return f"needs the extension {missing[0]}; fix: CREATE EXTENSION {missing[0]}"
    privilege = req.privilege
    if privilege == "superuser" and not facts.superuser:
        return "needs a superuser"
    if privilege in ("pg_read_all_stats", "pg_monitor") and not (facts.read_all_stats or facts.superuser):
        return f"needs {privilege}; fix: GRANT {privilege} TO <the role check connects as>"
    if req.model and facts.model is None:
        return (f"needs a query-time model: {facts.model_problem or 'no --production-store'}; fix: "
                "`pgadvisor train` on the production store, then check --production-store")
    return None


def select(rules: dict[str, RuleInfo], include: tuple[str, ...], exclude: tuple[str, ...],
           include_runtime: bool) -> tuple[list[RuleInfo], dict[str, str]]:
    """(rules to run in registry order, {rule id: why it is not run}) for include/exclude/runtime."""
    from pgadvisor.errors import UsageError

    for rid in (*include, *exclude):
        if rid not in rules:
            raise UsageError(f"unknown rule id {rid!r} (see `pgadvisor check --list-rules`)")
    run, off = [], {}
    for rid, rule in rules.items():
        if include and rid not in include:
            off[rid] = "not included (include)"
        elif rid in exclude:
            off[rid] = "excluded (exclude)"
        elif rule.kind == "runtime" and not include_runtime and rid not in include:
            off[rid] = "runtime rule: test-database statistics say nothing about production (--include-runtime)"
        else:
            run.append(rule)
    return run, off

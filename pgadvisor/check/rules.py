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
# until a rule says its kind: the registry's runtime rule (idx_scan counters) by id
_RUNTIME_IDS = {"drop-unused-index"}
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
        return getattr(self.rule, "find_workload", None) or getattr(self.rule.module, "find_workload", None)


def kind_of(rule: Any) -> str:
    kind = getattr(rule, "kind", None)
    if kind in KINDS:
        return kind
    return "runtime" if rule.id in _RUNTIME_IDS else "static"


def registry() -> dict[str, RuleInfo]:
    """Every rule `check` can run, by id (the index advisor's create-index is `recommend`'s, not check's:
    its workload counterpart is a workload rule)."""
    from pgadvisor.advise.rules import ALL

    out = {}
    for rid, rule in ALL.items():
        kind = kind_of(rule)
        runnable = getattr(rule, "find", None) is not None or (kind == "workload" and (
            getattr(rule, "find_workload", None) or getattr(rule.module, "find_workload", None)))
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
    req = getattr(rule.rule, "requires", None)
    if req is None:
        return None
    if callable(req):
        return req(facts)
    get = req.get if isinstance(req, dict) else (lambda k, d=None: getattr(req, k, d))
    version = get("min_version") or get("server_version") or get("version_num")
    if version and facts.version_num < int(version):
        return f"needs PostgreSQL {int(version) // 10000} or later (server is {facts.version_num // 10000})"
    extensions = get("extensions") or ([get("extension")] if get("extension") else [])
    missing = [e for e in extensions if e not in facts.extensions]
    if missing:
        return f"needs the extension {missing[0]} (CREATE EXTENSION {missing[0]})"
    privilege = get("privilege")
    if privilege == "superuser" and not facts.superuser:
        return "needs a superuser"
    if privilege in ("pg_read_all_stats", "pg_monitor") and not (facts.read_all_stats or facts.superuser):
        return f"needs {privilege} (GRANT {privilege} TO <role>)"
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

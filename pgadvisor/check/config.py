"""`check`'s policy from the `[check]` table of the configuration file, validated key by key.

```toml
[check]
fail_on = "warning"                 # error | warning | info | never
include = ["fk-without-index"]      # only these rules (default: every rule but the runtime ones)
exclude = ["type-timestamp-without-tz"]
schemas = ["public", "billing"]     # schemas in scope (default: every schema but the system ones)
skip_migration_tables = true        # flyway, liquibase, alembic, django, rails tables (default true)
include_runtime = false             # rules that read runtime statistics (unused index, ...)
baseline = ".pgadvisor-baseline.json"

[check.thresholds.sequence-near-overflow]
used_pct = 75

[check.rows]                        # declared production row counts for the workload rules
"public.orders" = 5e7

[[check.allow]]
key = "fk-without-index:public.audit_log:user_id"
reason = "append-only table, users are never deleted"
expires = 2027-01-31
```

Errors are `UsageError`s that name the file, the line and the key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pgadvisor.config import ConfigFile, table_headers
from pgadvisor.errors import UsageError

FAIL_ON = ("error", "warning", "info", "never")
# what each of our severities is called in CI terms; `--fail-on` compares these levels
LEVEL_OF_SEVERITY = {"high": "error", "medium": "warning", "low": "info", "info": "info"}
LEVEL_RANK = {"error": 0, "warning": 1, "info": 2}

# Tables that migration tools keep in the application's schema: their shapes are the tools', not the
# team's (flyway, liquibase, alembic, django, rails; golang-migrate, dbmate and sqlx use similar names).
MIGRATION_TABLES = frozenset({
    "flyway_schema_history", "schema_version",  # flyway (schema_version before flyway 5)
    "databasechangelog", "databasechangeloglock",  # liquibase
    "alembic_version",  # alembic
    "django_migrations",  # django
    "schema_migrations", "ar_internal_metadata",  # rails (and golang-migrate, dbmate)
    "_sqlx_migrations",  # sqlx
})


@dataclass(frozen=True)
class AllowEntry:
    """One `[[check.allow]]` entry: a finding key (or a shell-style pattern of keys) it suppresses."""

    key: str
    reason: str
    expires: dt.date | None = None
    where: str = ""  # file:line, for messages

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and self.expires < today


@dataclass(frozen=True)
class CheckConfig:
    """What `check` runs and how it judges; flags replace fields (`with_flags`)."""

    fail_on: str = "warning"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    schemas: tuple[str, ...] = ()
    skip_migration_tables: bool = True
    include_runtime: bool = False
    baseline: str | None = None
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    rows: dict[str, float] = field(default_factory=dict)
    allow: tuple[AllowEntry, ...] = ()
    source: str | None = None  # the configuration file, when one was read

    def with_flags(self, **flags: Any) -> CheckConfig:
        """Flags beat the file: every flag that was given (not None, not empty) replaces its field."""
        given = {k: v for k, v in flags.items() if v is not None and v != () and v != []}
        if "thresholds" in given:  # per-rule merge: a flag for one threshold keeps the file's others
            merged = {r: dict(t) for r, t in self.thresholds.items()}
            for rule, values in given["thresholds"].items():
                merged.setdefault(rule, {}).update(values)
            given["thresholds"] = merged
        for name in ("include", "exclude", "schemas"):
            if name in given:
                given[name] = tuple(given[name])
        return replace(self, **given)


_TYPES: dict[str, tuple[type, ...]] = {
    "fail_on": (str,), "include": (list,), "exclude": (list,), "schemas": (list,),
    "skip_migration_tables": (bool,), "include_runtime": (bool,), "baseline": (str,),
    "thresholds": (dict,), "rows": (dict,), "allow": (list,),
}
_TYPE_NAMES = {str: "a string", list: "an array", bool: "true or false", dict: "a table"}
_ALLOW_KEYS = {"key", "reason", "expires"}


def check_config(found: ConfigFile | None, known_rules: Mapping[str, Any] | None = None) -> CheckConfig:
    """The `[check]` table of `found` as a CheckConfig (defaults when there is none). `known_rules`:
    {rule id: its threshold names} that `include`, `exclude` and `thresholds` may name (None: any)."""
    if found is None:
        return CheckConfig()
    table = found.conf.get("check", {})
    if not isinstance(table, dict):
        raise UsageError(f"{found.where('')}: [check] must be a table")
    for key, value in table.items():
        if key not in _TYPES:
            raise UsageError(f"{found.where('check', key)}: unknown key '{key}' in [check] "
                             f"(known: {', '.join(sorted(_TYPES))})")
        if not isinstance(value, _TYPES[key]) or (_TYPES[key] != (bool,) and isinstance(value, bool)):
            want = " or ".join(_TYPE_NAMES[t] for t in _TYPES[key])
            raise UsageError(f"{found.where('check', key)}: [check] {key} must be {want}, "
                             f"not {type(value).__name__} {value!r}")
    out: dict[str, Any] = {"source": str(found.path)}
    for key in ("skip_migration_tables", "include_runtime", "baseline"):
        if key in table:
            out[key] = table[key]
    if "fail_on" in table:
        out["fail_on"] = _fail_on(table["fail_on"], found.where("check", "fail_on"))
    for key in ("include", "exclude", "schemas"):
        if key in table:
            out[key] = _strings(table[key], f"{found.where('check', key)}: [check] {key}")
            if key != "schemas" and known_rules is not None:
                _known(out[key], known_rules, f"{found.where('check', key)}: [check] {key}")
    if "thresholds" in table:
        out["thresholds"] = _thresholds(table["thresholds"], found, known_rules)
    if "rows" in table:
        out["rows"] = _rows(table["rows"], found)
    if "allow" in table:
        out["allow"] = _allow(table["allow"], found)
    return CheckConfig(**out)


def _fail_on(value: str, where: str) -> str:
    if value not in FAIL_ON:
        raise UsageError(f"{where}: [check] fail_on must be one of {', '.join(FAIL_ON)}, not {value!r}")
    return value


def _strings(value: list, what: str) -> tuple[str, ...]:
    bad = [v for v in value if not isinstance(v, str)]
    if bad:
        raise UsageError(f"{what} must be an array of strings, not one holding {bad[0]!r}")
    return tuple(value)


def _known(ids: tuple[str, ...], known: set[str], what: str) -> None:
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise UsageError(f"{what}: unknown rule id {unknown[0]!r} (see `pgadvisor check --list-rules`)")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _thresholds(table: dict, found: ConfigFile, known: Mapping[str, Any] | None) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for rule, values in table.items():
        where = found.where("check.thresholds", rule) if found.line_of("check.thresholds", rule) else \
            found.where(f"check.thresholds.{rule}")
        if known is not None and rule not in known:
            raise UsageError(f"{where}: [check.thresholds] unknown rule id {rule!r}")
        if not isinstance(values, dict):
            raise UsageError(f"{where}: [check.thresholds] {rule} must be a table of numbers")
        for name, value in values.items():
            line = found.where(f"check.thresholds.{rule}", name)
            if known is not None and name not in known[rule]:
                raise UsageError(f"{line}: {rule} has no threshold {name!r} ({_names(known[rule])})")
            if not _number(value):
                raise UsageError(f"{line}: threshold {rule}.{name} must be a number, not {value!r}")
        out[rule] = {name: float(v) for name, v in values.items()}
    return out


def _names(names: Any) -> str:
    return "its thresholds: " + ", ".join(sorted(names)) if names else "it has none"


def validate_thresholds(thresholds: dict[str, dict[str, float]] | None, known: Mapping[str, Any]) -> None:
    """UsageError for a `--threshold` of an unknown rule or name."""
    for rule, values in (thresholds or {}).items():
        if rule not in known:
            raise UsageError(f"--threshold: unknown rule id {rule!r} (see `pgadvisor check --list-rules`)")
        for name in values:
            if name not in known[rule]:
                raise UsageError(f"--threshold {rule}.{name}: {rule} has no threshold {name!r} ({_names(known[rule])})")


def _rows(table: dict, found: ConfigFile) -> dict[str, float]:
    for name, value in table.items():
        if not _number(value) or value < 0:
            raise UsageError(f"{found.where('check.rows', name)}: [check.rows] {name!r} must be a row count "
                             f"(a number ≥ 0), not {value!r}")
        if "." not in name:
            raise UsageError(f"{found.where('check.rows', name)}: [check.rows] {name!r}: name the table as "
                             "schema.table")
    return {name: float(v) for name, v in table.items()}


def _allow(entries: list, found: ConfigFile) -> tuple[AllowEntry, ...]:
    out = []
    headers = _allow_lines(found)
    for i, entry in enumerate(entries):
        where = f"{found.path}:{headers[i]}" if i < len(headers) else found.where("check", "allow")
        if not isinstance(entry, dict):
            raise UsageError(f"{where}: each [[check.allow]] entry must be a table (key, reason, expires)")
        unknown = sorted(set(entry) - _ALLOW_KEYS)
        if unknown:
            raise UsageError(f"{where}: unknown key '{unknown[0]}' in [[check.allow]] (known: expires, key, reason)")
        key = entry.get("key")
        if not isinstance(key, str) or ":" not in key:
            raise UsageError(f"{where}: [[check.allow]] needs key = \"rule:schema.object[:column]\", "
                             f"not {key!r}")
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise UsageError(f"{where}: [[check.allow]] {key!r} has no reason: say why the finding is accepted "
                             "(reason = \"...\")")
        expires = entry.get("expires")
        if isinstance(expires, str):
            try:
                expires = dt.date.fromisoformat(expires)
            except ValueError:
                expires = False
        if isinstance(expires, dt.datetime):
            expires = expires.date()
        if expires is not None and not isinstance(expires, dt.date):
            raise UsageError(f"{where}: [[check.allow]] {key!r}: expires must be a date (expires = 2027-01-31), "
                             f"not {entry.get('expires')!r}")
        out.append(AllowEntry(key, reason.strip(), expires, where))
    return tuple(out)


def _allow_lines(found: ConfigFile) -> list[int]:
    """The header line of each `[[check.allow]]` entry, in order (inline arrays give none)."""
    return table_headers(found.text, f"{found.prefix}check.allow")


def parse_threshold_flag(text: str) -> tuple[str, str, float]:
    """`--threshold RULE.NAME=VALUE` → (rule, name, value)."""
    head, sep, value = text.partition("=")
    rule, dot, name = head.strip().rpartition(".")
    try:
        number = float(value)
    except ValueError:
        number = None
    if not sep or not dot or not rule or not name or number is None:
        raise UsageError(f"--threshold {text!r}: write RULE.NAME=NUMBER, e.g. sequence-near-overflow.used_pct=80")
    return rule, name, number


def config_path_for(found: ConfigFile | None, path: str | None) -> Path | None:
    """A path from the configuration, relative to the file's directory."""
    if path is None:
        return None
    p = Path(path)
    return p if p.is_absolute() or found is None else found.path.parent / p

"""What the catalog rules share: one scan over a schema snapshot (each table's indexes, the indexes a
rule already flagged, the rejected) and how a drop recommendation is written."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pgadvisor.advise.schema import ExistingIndex, SchemaView, existing_from_catalog
from pgadvisor.findings import Recommendation, Rejected, Severity, Verified
from pgadvisor.indexdef import qualified, quote_ident

# the room a rebuilt index's temporary name keeps of the old name: 63 bytes less "_rebuilt"
REBUILT_ROOM = 55

# a week of statistics sees the weekly jobs (chosen by hand): below it no index is called unused
MIN_TRUSTED_WINDOW_DAYS = 7.0
# an unused index under 1 MiB costs too little to be worth a finding (chosen by hand)
MIN_UNUSED_BYTES = 1 << 20
# a foreign key on a child table under 1,000 rows: each check scans a few pages (chosen by hand)
FK_MIN_CHILD_ROWS = 1000.0


@dataclass(frozen=True)
class Requires:
    """What the server must offer for a rule to run; `check` reports an unmet one as a skipped rule."""

    min_version: int | None = None  # server_version_num, e.g. 150000
    extensions: tuple[str, ...] = ()  # created in the database
    privilege: str | None = None  # "superuser" | "pg_read_all_stats" | "pg_monitor"
    model: bool = False  # a query-time model in `check --production-store` (`pgadvisor train`)


@dataclass(frozen=True)
class CatalogOptions:
    """The thresholds of the catalog rules.

    `stats_window_days` is how long the idx_scan counters have been counting (since the stats reset,
    or the store's window when the counters are deltas); None when unknown. `thresholds` overrides the
    rules' named `THRESHOLDS` ({rule id: {name: value}}). `trust_statistics` is False on a test
    database (`check`): row counts and write counters say nothing about production, so a rule that
    gates on them (fk-without-index) reports from the definitions alone."""

    stats_window_days: float | None = None
    min_window_days: float = MIN_TRUSTED_WINDOW_DAYS
    min_size_bytes: int = MIN_UNUSED_BYTES
    fk_min_child_rows: float = FK_MIN_CHILD_ROWS
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    trust_statistics: bool = True


IndexPair = tuple[dict[str, Any], ExistingIndex]  # the catalog's dict and its comparable form


class CatalogScan:
    """One run of the catalog rules over `pgadvisor.pg.catalog.read_schema`'s dicts. Rules run in the
    order of `rules.CATALOG` and propose at most one drop per index: the first rule that flags it."""

    def __init__(self, schema: dict[str, Any], options: CatalogOptions):
        self.view = SchemaView(schema)
        self.options = options
        self.by_table: dict[str, list[IndexPair]] = {}
        for ix in schema.get("indexes", []):
            self.by_table.setdefault(f"{ix['schema']}.{ix['table']}", []).append((ix, existing_from_catalog(ix)))
        self.flagged: set[tuple[str, str]] = set()
        self.rejected: list[Rejected] = []

    def indexes(self) -> Iterator[IndexPair]:
        for pairs in self.by_table.values():
            yield from pairs

    def is_flagged(self, ix: dict[str, Any]) -> bool:
        return (ix["schema"], ix["name"]) in self.flagged

    def flag(self, ix: dict[str, Any]) -> None:
        self.flagged.add((ix["schema"], ix["name"]))

    def reject(self, rule: str, ix: dict[str, Any], reason: str) -> None:
        self.rejected.append(Rejected(index_id(rule, ix), table_of(ix), reason))

    def threshold(self, rule: str, name: str) -> float:
        """A rule's named threshold: the override in `options.thresholds`, else the rule module's
        `THRESHOLDS[name]` (KeyError for a name the rule does not define)."""
        from pgadvisor.advise.rules import thresholds_of  # the registry imports this module

        default = thresholds_of(rule)[name]
        return float(self.options.thresholds.get(rule, {}).get(name, default))


def finding_key(rule: str, schema: str, name: str, column: str | None = None) -> str:
    """The stable finding id `rule:schema.object[:column]` that allow-lists and baselines match on."""
    return f"{rule}:{schema}.{name}" + (f":{column}" if column else "")


def index_id(rule: str, ix: dict[str, Any]) -> str:
    """`drop-unused-index:public.orders_note_idx`."""
    return f"{rule}:{ix['schema']}.{ix['name']}"


def table_of(ix: dict[str, Any]) -> str:
    return f"{ix['schema']}.{ix['table']}"


def mib(n: float) -> str:
    return f"{n / 1048576:.1f} MiB"


def size_of(ix: dict[str, Any]) -> int:
    return int(ix.get("size_bytes") or 0)


def protected(ix: dict[str, Any]) -> str | None:
    """Why an index is never proposed for dropping (it enforces something), or None."""
    if ix.get("is_primary"):
        return "primary key"
    if ix.get("backs_constraint"):
        return f"backs constraint {ix.get('constraint_name') or ''}".strip()
    if ix.get("is_unique"):
        return "unique index (enforces uniqueness)"
    return None


def partitioned(ix: dict[str, Any]) -> bool:
    """Whether the index is a partitioned table's (`ON ONLY` in its definition): PostgreSQL builds and
    drops those only without CONCURRENTLY."""
    return " ON ONLY " in (ix.get("definition") or "")


def drop_index_sql(ix: dict[str, Any]) -> str:
    concurrently = "" if partitioned(ix) else "CONCURRENTLY "
    return f"DROP INDEX {concurrently}{qualified(ix['schema'], ix['name'])};"


def rollback_sql(ix: dict[str, Any]) -> str:
    """The original definition, CONCURRENTLY inserted, to recreate the dropped index; a partitioned
    table's index is recreated on the table and its partitions (no ONLY), without CONCURRENTLY."""
    definition = ix.get("definition") or ""
    if partitioned(ix):
        return definition.replace(" ON ONLY ", " ON ", 1) + ";"
    for head in ("CREATE UNIQUE INDEX ", "CREATE INDEX "):
        if definition.startswith(head):
            return f"{head}CONCURRENTLY {definition[len(head) :]};"
    return definition + ";"


@dataclass(frozen=True)
class Drop:
    """What one drop rule says about one index; `kind` is kept in the evidence (the rule's old name)."""

    rule: str
    kind: str
    severity: Severity
    why: str
    confidence: float


def drop_recommendation(ix: dict[str, Any], drop: Drop, extra: dict[str, Any] | None = None) -> Recommendation:
    size = size_of(ix)
    evidence = {
        "why": drop.why,
        "kind": drop.kind,
        "index": {
            "schema": ix["schema"],
            "table": ix["table"],
            "name": ix["name"],
            "definition": ix.get("definition"),
            "idx_scan": ix.get("idx_scan"),
        },
    }
    evidence.update(extra or {})
    return Recommendation(
        id=index_id(drop.rule, ix),
        rule=drop.rule,
        severity=drop.severity,
        title=f"Drop {drop.kind} index {ix['name']} on {ix['table']} ({mib(size)})",
        target=table_of(ix),
        sql=drop_index_sql(ix),
        rollback_sql=rollback_sql(ix),
        benefit={"ms_per_day": None, "bytes_freed": size, "write_overhead_removed": True},
        cost={"size_bytes": -size, "write_overhead_pct": 0.0},
        confidence=drop.confidence,
        verified=Verified.catalog,
        evidence=evidence,
    )


def finding(rule: str, severity: Severity, *, key: str, title: str, target: str, sql: str, rollback_sql: str,
            why: str, confidence: float, evidence: dict[str, Any] | None = None) -> Recommendation:
    """A finding of a definition rule (verified by the catalog): the fields every static rule fills."""
    return Recommendation(id=key, rule=rule, severity=severity, title=title, target=target, sql=sql,
                          rollback_sql=rollback_sql, confidence=confidence, verified=Verified.catalog,
                          evidence={"why": why, **(evidence or {})})


def manual(text: str) -> str:
    """A fix that is not one SQL statement we can write: a SQL comment saying what to do."""
    return "-- manual: " + " ".join(text.split())


def user_tables(scan: CatalogScan) -> list[dict[str, Any]]:
    """Ordinary and partitioned tables (not partitions, not materialized views)."""
    return [r for r in scan.view.relations.values() if r.get("kind") in ("r", "p") and not r.get("is_partition")]


def is_partition(scan: CatalogScan, schema: str, table: str) -> bool:
    return bool((scan.view.relations.get(f"{schema}.{table}") or {}).get("is_partition"))


def key_columns(scan: CatalogScan, ix: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None]]:
    """An index's key parts as (column name or expression, the column's dict or None for an expression)."""
    e = existing_from_catalog(ix)
    table = table_of(ix)
    return [(k.text, scan.view.column(table, k.text) if k.is_column else None) for k, _ in e.keys]


def rebuild_sql(ix: dict[str, Any], new_body: str) -> str:
    """Replace index `ix` by `CREATE INDEX ... <new_body>` under its own name, without blocking writes:
    build the new one CONCURRENTLY under a temporary name, drop the old one, rename (a partitioned
    table's index: without CONCURRENTLY, which PostgreSQL refuses there)."""
    tmp = ix["name"][:REBUILT_ROOM] + "_rebuilt"
    unique = "UNIQUE " if ix.get("is_unique") else ""
    concurrently = "" if partitioned(ix) else "CONCURRENTLY "
    body = new_body.replace("ON ONLY ", "ON ", 1) if new_body.startswith("ON ONLY ") else new_body
    return (f"CREATE {unique}INDEX {concurrently}{quote_ident(tmp)} {body}; "
            f"{drop_index_sql(ix)} "
            f"ALTER INDEX {qualified(ix['schema'], tmp)} RENAME TO {quote_ident(ix['name'])};")


def index_body(ix: dict[str, Any]) -> str:
    """`ON schema.table USING method (keys) [INCLUDE ...] [WHERE ...]` of an index's definition."""
    definition = ix.get("definition") or ""
    at = definition.find(" ON ")
    return definition[at + 1:] if at >= 0 else definition

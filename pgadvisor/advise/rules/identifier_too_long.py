"""identifier-too-long: a name as long as PostgreSQL allows, which it may have truncated.

**What it finds.** A table, materialized view, index, sequence, constraint or column whose name is
at least `THRESHOLDS["max_bytes"]` (63) bytes long: the longest a name can be by default
(`NAMEDATALEN` − 1), which a longer name is silently cut to (pg-index-health's
`possible_object_name_overflow`, which also looks at functions; this rule does not read functions).
A constraint whose index has the same name is reported once, as the index; the NOT NULL constraints
PostgreSQL 18 names after their table and column are left out (a long table name is reported once).

**Why it matters.** PostgreSQL truncates a longer name with only a NOTICE: two long names that
share their first 63 bytes become the same name, so a migration's `CREATE INDEX IF NOT EXISTS`
silently skips the second index, and code that names the object in full finds nothing.

**The fix.** Manual: rename it to something shorter (`ALTER TABLE|INDEX|SEQUENCE ... RENAME TO`,
`ALTER TABLE ... RENAME COLUMN|CONSTRAINT`), and the migration that created it; the undo renames it
back.

**When it is safe.** When no code names the object (column names are in every query; index and
constraint names in hints, error handlers and later migrations).

**False positives.** A name of exactly 63 bytes that was written that way, not cut.
"""

from __future__ import annotations

from typing import Any

from pgadvisor.advise.rules.common import CatalogScan, finding, finding_key, manual
from pgadvisor.findings import Recommendation, Severity

ID = "identifier-too-long"
DEFAULT_SEVERITY = Severity.low
CONFIDENCE = 0.8  # a 63-byte name may have been written that way (chosen by hand)
THRESHOLDS = {
    "max_bytes": 63.0,  # NAMEDATALEN − 1, PostgreSQL's default identifier limit (max_identifier_length)
}
_RELKINDS = {"r": "table", "p": "table", "m": "materialized view"}


def _names(scan: CatalogScan) -> list[tuple[str, str, str, str | None, str]]:
    """(kind, schema, object, column or None, name) of every name the rule looks at."""
    schema = scan.view.schema
    out: list[tuple[str, str, str, str | None, str]] = []
    out += [(_RELKINDS.get(r.get("kind"), "table"), r["schema"], r["name"], None, r["name"])
            for r in schema.get("relations", [])]
    out += [("index", ix["schema"], ix["name"], None, ix["name"]) for ix in schema.get("indexes", [])]
    out += [("sequence", s["schema"], s["name"], None, s["name"]) for s in schema.get("sequences", [])]
    indexes = {(ix["schema"], ix["name"]) for ix in schema.get("indexes", [])}
    out += [("constraint", c["schema"], c["table"], c["name"], c["name"]) for c in schema.get("constraints", [])
            if (c["schema"], c["name"]) not in indexes and c.get("type") != "n"]
    out += [("column", c["schema"], c["table"], c["column"], c["column"]) for c in schema.get("columns", [])
            if not (scan.view.relations.get(f"{c['schema']}.{c['table']}") or {}).get("is_partition")]
    return out


def find(scan: CatalogScan) -> list[Recommendation]:
    recs: list[Recommendation] = []
    limit = scan.threshold(ID, "max_bytes")
    seen: set[str] = set()
    for kind, schema, obj, column, name in _names(scan):
        size = len(name.encode())
        key = finding_key(ID, schema, obj, column)
        if size < limit or key in seen:
            continue
        seen.add(key)
        where: dict[str, Any] = {"kind": kind, "bytes": size}
        recs.append(finding(
            ID, DEFAULT_SEVERITY, key=key, target=f"{schema}.{obj}",
            title=f"The {kind} name {name[:30]}… is {size} bytes long",
            sql=manual(f"rename the {kind} {name} to a name shorter than {limit:g} bytes, in its migration too;"),
            rollback_sql=manual(f"rename it back to {name};"),
            why=(f"the {kind} name {name!r} is {size} bytes: PostgreSQL cuts longer names to {limit:g} bytes with "
                 "only a NOTICE, so it may have been cut, and two names that share those bytes become one"),
            confidence=CONFIDENCE, evidence=where))
    return recs

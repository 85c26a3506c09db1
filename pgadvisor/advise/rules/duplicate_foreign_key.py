"""duplicate-foreign-key: two foreign keys of one table with the same columns referencing the same columns.

**What it finds.** Foreign keys of one table (not inherited by a partition) whose columns, referenced
table and referenced columns are the same, whatever their names and actions (pg-index-health's
`duplicated_foreign_keys`). The first by name is kept; each other one is a finding.

**Why it matters.** Every insert and key update of the child checks each copy against the parent,
and every delete or key update of the parent checks the child once per copy: the work is done twice
for one rule. Copies with different `ON DELETE` actions make the outcome depend on which runs
first — usually a migration that added the key again under another name.

**The fix.** `ALTER TABLE ... DROP CONSTRAINT <the copy>` (a brief ACCESS EXCLUSIVE lock on both
tables). The undo adds it back `NOT VALID` and validates it (without blocking writes).

**When it is safe.** When the copies' actions are the same (the finding shows both definitions);
otherwise decide which action is meant and drop the other.

**False positives.** None in the definitions; a tool that names a constraint (an ORM's migration
state) may expect the copy's name.
"""

from __future__ import annotations

from typing import Any

from pgadvisor.advise.rules.common import CatalogScan, finding, finding_key, is_partition
from pgadvisor.findings import Recommendation, Severity
from pgadvisor.indexdef import qualified, quote_ident

ID = "duplicate-foreign-key"
DEFAULT_SEVERITY = Severity.low
CONFIDENCE = 0.95  # the definitions say it (chosen by hand)


def _definitions(scan: CatalogScan) -> dict[tuple[str, str, str], str]:
    return {(c["schema"], c["table"], c["name"]): c.get("definition") or ""
            for c in scan.view.schema.get("constraints", []) if c.get("type") == "f"}


def find(scan: CatalogScan) -> list[Recommendation]:
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for fk in scan.view.schema.get("foreign_keys", []):
        if fk.get("inherited") or is_partition(scan, fk["schema"], fk["table"]):
            continue
        key = (fk["schema"], fk["table"], tuple(fk.get("columns") or []), fk["ref_schema"], fk["ref_table"],
               tuple(fk.get("ref_columns") or []))
        groups.setdefault(key, []).append(fk)
    definitions = _definitions(scan)
    recs = []
    for copies in groups.values():
        keep, *others = sorted(copies, key=lambda f: f["name"])
        for fk in others:
            table = qualified(fk["schema"], fk["table"])
            name = quote_ident(fk["name"])
            definition = definitions.get((fk["schema"], fk["table"], fk["name"]), "")
            recs.append(finding(
                ID, DEFAULT_SEVERITY, key=finding_key(ID, fk["schema"], fk["table"], fk["name"]),
                target=f"{fk['schema']}.{fk['table']}",
                title=f"Foreign key {fk['name']} on {fk['table']} repeats {keep['name']}",
                sql=f"ALTER TABLE {table} DROP CONSTRAINT {name};",
                rollback_sql=(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition} NOT VALID; "
                              f"ALTER TABLE {table} VALIDATE CONSTRAINT {name};"),
                why=(f"{fk['name']} ({definition}) and {keep['name']} "
                     f"({definitions.get((keep['schema'], keep['table'], keep['name']), '')}) check the same "
                     "columns against the same parent: every check runs twice"),
                confidence=CONFIDENCE, evidence={"constraint": fk["name"], "kept": keep["name"]}))
    return recs

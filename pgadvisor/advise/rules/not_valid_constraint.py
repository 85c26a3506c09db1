"""not-valid-constraint: a CHECK, foreign-key or NOT NULL constraint added NOT VALID and never validated.

**What it finds.** A constraint with `pg_constraint.convalidated` false: a CHECK or foreign key (or,
on PostgreSQL 18, a NOT NULL) added with `NOT VALID` (pg-index-health's `not_valid_constraints`).
Constraints a partition inherits are reported on the parent.

**Why it matters.** `NOT VALID` is the right first step of a migration — the constraint holds for new
and updated rows without a long lock — but until `VALIDATE CONSTRAINT` runs, old rows may break it,
and the planner cannot use an unvalidated CHECK to exclude partitions or to prove `IS NOT NULL`.
Forgotten, it is a constraint that promises less than it says.

**The fix.** `ALTER TABLE ... VALIDATE CONSTRAINT ...`: it scans the table under a SHARE UPDATE
EXCLUSIVE lock (reads and writes go on; for a foreign key, a ROW SHARE lock on the parent). There is
nothing to undo: validation changes no data (to go back, drop the constraint and add it `NOT VALID`
again).

**When it is safe.** Validation fails, and changes nothing, when an old row breaks the constraint:
find and fix those rows first.

**False positives.** A migration that is still in progress (validation scheduled for later in the
same release): allow-list it with an `expires` date.
"""

from __future__ import annotations

from pgadvisor.advise.rules.common import CatalogScan, finding, finding_key, is_partition, manual
from pgadvisor.findings import Recommendation, Severity
from pgadvisor.indexdef import qualified, quote_ident

ID = "not-valid-constraint"
DEFAULT_SEVERITY = Severity.medium
CONFIDENCE = 0.95  # the catalog says it (chosen by hand)
KINDS = {"c": "check", "f": "foreign-key", "n": "not-null"}


def find(scan: CatalogScan) -> list[Recommendation]:
    recs = []
    for con in scan.view.schema.get("constraints", []):
        if con.get("validated", True) or con.get("type") not in KINDS or is_partition(scan, con["schema"],
                                                                                        con["table"]):
            continue
        table = qualified(con["schema"], con["table"])
        kind = KINDS[con["type"]]
        recs.append(finding(
            ID, DEFAULT_SEVERITY, key=finding_key(ID, con["schema"], con["table"], con["name"]),
            target=f"{con['schema']}.{con['table']}",
            title=f"{kind.capitalize()} constraint {con['name']} on {con['table']} is NOT VALID",
            sql=f"ALTER TABLE {table} VALIDATE CONSTRAINT {quote_ident(con['name'])};",
            rollback_sql=manual("nothing to undo: validation changes no data;"),
            why=(f"{kind} constraint {con['name']} ({con.get('definition')}) on {con['schema']}.{con['table']} was "
                 "added NOT VALID and never validated: rows written before it may break it"),
            confidence=CONFIDENCE, evidence={"constraint": con["name"], "definition": con.get("definition")}))
    return recs

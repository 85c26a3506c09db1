"""fk-type-mismatch: a foreign-key column whose type differs from the column it references.

**What it finds.** A foreign key where a referencing column's type (with its modifier: `varchar(20)`
against `varchar(40)`, `integer` against `bigint`) is not the referenced column's
(pg-index-health's `foreign_keys_with_unmatched_column_type`). One finding per column; keys that a
partition inherits are reported on the parent.

**Why it matters.** The smaller side overflows first: an `integer` column referencing a `bigint`
key fails inserts once the parent's ids pass 2^31 − 1. Joins and the foreign-key checks compare
through a cast, and a mismatch in type modifiers lets the child accept values the parent could
never hold.

**The fix.** `ALTER TABLE child ALTER COLUMN col TYPE <the referenced column's type>`; the undo
changes it back. It rewrites the child (and its indexes) under an ACCESS EXCLUSIVE lock, except
for widening a `varchar`: plan it as a migration.

**When it is safe.** When the application's code uses the wider type too (an `int` field in an ORM
entity mapped to a `bigint` column overflows in the application instead).

**False positives.** Deliberate: a `text` column referencing a `varchar(n)` key is harmless, and is
still reported (the types differ); allow-list it.
"""

from __future__ import annotations

from pgadvisor.advise.rules.common import CatalogScan, finding, finding_key, is_partition
from pgadvisor.findings import Recommendation, Severity
from pgadvisor.indexdef import qualified, quote_ident

ID = "fk-type-mismatch"
DEFAULT_SEVERITY = Severity.medium
CONFIDENCE = 0.9  # the catalog says it; some mismatches are harmless (chosen by hand)


def find(scan: CatalogScan) -> list[Recommendation]:
    recs = []
    seen: set[str] = set()
    for fk in scan.view.schema.get("foreign_keys", []):
        if fk.get("inherited") or is_partition(scan, fk["schema"], fk["table"]):
            continue
        pairs = zip(fk.get("columns") or [], fk.get("ref_columns") or [], fk.get("column_types") or [],
                    fk.get("ref_column_types") or [], strict=False)
        for col, ref_col, typ, ref_typ in pairs:
            key = finding_key(ID, fk["schema"], fk["table"], col)
            if typ == ref_typ or key in seen:
                continue
            seen.add(key)
            table = qualified(fk["schema"], fk["table"])
            alter = f"ALTER TABLE {table} ALTER COLUMN {quote_ident(col)} TYPE"
            recs.append(finding(
                ID, DEFAULT_SEVERITY, key=key, target=f"{fk['schema']}.{fk['table']}",
                title=f"Foreign key {fk['table']}.{col} is {typ}, {fk['ref_table']}.{ref_col} is {ref_typ}",
                sql=f"{alter} {ref_typ};", rollback_sql=f"{alter} {typ};",
                why=(f"{fk['schema']}.{fk['table']}.{col} ({typ}) references {fk['ref_schema']}.{fk['ref_table']}."
                     f"{ref_col} ({ref_typ}) in constraint {fk['name']}: the narrower side overflows or truncates "
                     "first, and every check compares through a cast"),
                confidence=CONFIDENCE, evidence={"constraint": fk["name"], "type": typ, "ref_type": ref_typ}))
    return recs

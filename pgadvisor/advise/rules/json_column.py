"""json-column: a column of type `json` where `jsonb` is meant.

**What it finds.** A column of an ordinary or partitioned table of type `json` (pg-index-health's
`columns_with_json_type`).

**Why it matters.** `json` keeps the input text and re-parses it for every operator; it has no
equality operator (so no `DISTINCT`, `GROUP BY` or B-tree), no GIN operator class and no
containment (`@>`). `jsonb` stores the parsed form: faster to query, indexable with GIN.

**The fix.** `ALTER TABLE ... ALTER COLUMN ... TYPE jsonb USING col::jsonb`; the undo casts back to
`json`, but the fix is lossy: key order, whitespace and duplicate keys of the original text are gone
for good. It rewrites the table under an ACCESS EXCLUSIVE lock.

**When it is safe.** When nothing depends on the exact text (a signature over the raw payload, a
log of what a client sent, duplicate keys).

**False positives.** A column that must keep the document byte for byte: allow-list it.
"""

from __future__ import annotations

from pgadvisor.advise.rules.column_types import alter_type, find_columns
from pgadvisor.advise.rules.common import CatalogScan
from pgadvisor.findings import Recommendation, Severity
from pgadvisor.indexdef import quote_ident

ID = "json-column"
DEFAULT_SEVERITY = Severity.low
CONFIDENCE = 0.8  # raw payloads kept verbatim are a real use (chosen by hand)


def find(scan: CatalogScan) -> list[Recommendation]:
    return find_columns(
        scan, ID, DEFAULT_SEVERITY, CONFIDENCE, lambda c: c["type"] == "json",
        "Column {table}.{column} is json, not jsonb",
        "{schema}.{table}.{column} is json: re-parsed by every operator, no equality, no GIN index; jsonb stores "
        "the parsed document",
        lambda c: (alter_type(c, "jsonb", f"{quote_ident(c['column'])}::jsonb"),
                   alter_type(c, "json", f"{quote_ident(c['column'])}::json")))

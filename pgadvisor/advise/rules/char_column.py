"""char-column: a column of type `char(n)` (`character(n)`).

**What it finds.** A column of an ordinary or partitioned table of type `character(n)` — not the
one-byte internal type `"char"` (pg-index-health's `columns_with_char_type`).

**Why it matters.** `char(n)` pads values with spaces to `n` characters, and the padding is
insignificant in comparisons but not everywhere else (`LIKE`, `length`, concatenation, drivers),
which surprises; it is not faster or smaller than `varchar(n)` or `text`: the padding is stored (the
PostgreSQL wiki's "Don't Do This").

**The fix.** `ALTER TABLE ... ALTER COLUMN ... TYPE varchar(n)` keeps the length limit (trailing
spaces are dropped by the cast, as char semantics already ignored them); the undo is
`TYPE character(n)`. It rewrites the table under an ACCESS EXCLUSIVE lock.

**When it is safe.** When no code relies on the padding being returned.

**False positives.** A fixed-width code (a country code that is always two letters) is harmless as
`char(2)`: allow-list it.
"""

from __future__ import annotations

import re

from pgadvisor.advise.rules.column_types import alter_type, find_columns
from pgadvisor.advise.rules.common import CatalogScan
from pgadvisor.findings import Recommendation, Severity

ID = "char-column"
DEFAULT_SEVERITY = Severity.low
CONFIDENCE = 0.8  # fixed-width codes are a common, harmless use (chosen by hand)
_TYPE = re.compile(r"character\((\d+)\)")


def find(scan: CatalogScan) -> list[Recommendation]:
    return find_columns(
        scan, ID, DEFAULT_SEVERITY, CONFIDENCE, lambda c: bool(_TYPE.fullmatch(c["type"])),
        "Column {table}.{column} is {type}",
        "{schema}.{table}.{column} is {type}: blank-padded, no smaller or faster than varchar(n) or text, and the "
        "padding surprises",
        lambda c: (alter_type(c, f"varchar({_TYPE.fullmatch(c['type'])[1]})"), alter_type(c, c["type"])))

"""timestamp-without-time-zone: a column of type `timestamp` (without time zone).

**What it finds.** A column of an ordinary or partitioned table whose type is `timestamp` or
`timestamp(p)` without time zone (arrays of it are left alone). pg-index-health's
`columns_with_timestamp_or_timetz_type` also flags `timetz`; this rule does not (it is rare, and a
separate mistake).

**Why it matters.** A `timestamp` stores a wall-clock reading without saying where: the same value
means different instants for sessions in different time zones, arithmetic across a daylight-saving
change is off by an hour, and comparing it with `now()` converts with the session's `TimeZone`
silently. `timestamptz` stores an instant (in UTC) and shows it in the reader's zone; it takes the
same 8 bytes (the PostgreSQL wiki's "Don't Do This").

**The fix.** `ALTER TABLE ... ALTER COLUMN ... TYPE timestamptz USING col AT TIME ZONE 'UTC'` (say
which zone the stored values were written in, if not UTC). The undo converts back the same way.
It rewrites the table under an ACCESS EXCLUSIVE lock (unless the session's TimeZone is UTC on
PostgreSQL 12+, when no rewrite is needed): run it in a maintenance window on a large table.

**When it is safe.** When the application writes and reads the column through a driver that maps
`timestamptz` (nearly all do); code that formats the value as text sees an offset appended.

**False positives.** A column that really holds a wall-clock time with no place (a recurring
"09:00 local" schedule, a birthday at midnight) is right as `timestamp`: allow-list it.
"""

from __future__ import annotations

import re

from pgadvisor.advise.rules.column_types import alter_type, find_columns
from pgadvisor.advise.rules.common import CatalogScan
from pgadvisor.findings import Recommendation, Severity
from pgadvisor.indexdef import quote_ident

ID = "timestamp-without-time-zone"
DEFAULT_SEVERITY = Severity.low
# the type says it; the rest of 1 is the wall-clock column that means it (chosen by hand)
CONFIDENCE = 0.85
_TYPE = re.compile(r"timestamp(\(\d+\))? without time zone")


def _fix(c: dict) -> tuple[str, str]:
    precision = _TYPE.fullmatch(c["type"])[1] or ""
    col = c["column"]
    return (alter_type(c, f"timestamptz{precision}", f"{quote_ident(col)} AT TIME ZONE 'UTC'"),
            alter_type(c, f"timestamp{precision}", f"{quote_ident(col)} AT TIME ZONE 'UTC'"))


def find(scan: CatalogScan) -> list[Recommendation]:
    return find_columns(
        scan, ID, DEFAULT_SEVERITY, CONFIDENCE, lambda c: bool(_TYPE.fullmatch(c["type"])),
        "Column {table}.{column} is timestamp without time zone",
        "{schema}.{table}.{column} is {type}: it stores a wall-clock reading without its time zone; timestamptz "
        "stores the instant in the same 8 bytes", _fix)

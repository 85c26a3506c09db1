"""sequence-near-overflow: a sequence, or the integer key it feeds, that has used most of its range.

**What it finds.** A sequence (not `CYCLE`) whose last value has used at least
`THRESHOLDS["used_pct"]` (90 %) of its range, where the range ends at the sequence's own bound or at
the bound of the column it feeds, whichever comes first: an `integer` column fed by a `bigint`
sequence overflows at 2^31 − 1 (pg-index-health's `sequence_overflow` looks at the sequence's
bound only). The column is the one that owns the sequence (serial, identity) or whose default calls
`nextval` of it. A sequence this role may not read, or that was never used, is skipped.

**Why it matters.** When the range is used up, every INSERT fails (`nextval: reached maximum
value`, or `integer out of range` in the column): an outage that the remaining values put a date on.

**The fix.** Widen to `bigint`: `ALTER TABLE ... ALTER COLUMN ... TYPE bigint` for the column (a
rewrite of the table and its indexes under an ACCESS EXCLUSIVE lock: plan it, or migrate through a
new column on a large table) and `ALTER SEQUENCE ... AS bigint` for the sequence. The undo narrows
them back, which fails once a value beyond the old range exists. A `bigint` sequence near its end is
a manual fix.

**When it is safe.** Widening never loses data; the application's code must read 64-bit values too.

**False positives.** A sequence restarted by hand far into its range (sharding schemes that give
each shard a block) reads as used; allow-list it or raise the threshold.
"""

from __future__ import annotations

import re
from typing import Any

from pgadvisor.advise.rules.common import CatalogScan, finding, finding_key, manual
from pgadvisor.findings import Recommendation, Severity
from pgadvisor.indexdef import qualified, quote_ident

ID = "sequence-near-overflow"
DEFAULT_SEVERITY = Severity.high
CONFIDENCE = 0.95  # arithmetic on the catalog (chosen by hand)
THRESHOLDS = {
    # 10 % left: an int4 key then has 214 million ids, ~7 months at a million inserts a day: time to
    # migrate a large table (chosen by hand)
    "used_pct": 90.0,
}
TYPE_RANGE = {"smallint": (-(2**15), 2**15 - 1), "integer": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}
_NEXTVAL = re.compile(r"nextval\('([^']+)'::regclass\)")


def _fed_columns(scan: CatalogScan) -> dict[str, dict[str, Any]]:
    """{sequence name as the default writes it: column} for columns whose default calls nextval."""
    out = {}
    for c in scan.view.schema.get("columns", []):
        m = _NEXTVAL.search(c.get("default") or "")
        if m:
            out.setdefault(m[1], c)
    return out


def _column_of(seq: dict[str, Any], fed: dict[str, dict[str, Any]]) -> tuple[str, str, str, str] | None:
    """(schema, table, column, type) of the column the sequence feeds, or None."""
    if seq.get("owner_column"):
        return seq["owner_schema"], seq["owner_table"], seq["owner_column"], seq["owner_type"]
    for name in (f"{seq['schema']}.{seq['name']}", qualified(seq["schema"], seq["name"]), seq["name"]):
        c = fed.get(name)
        if c and (name != seq["name"] or seq["schema"] == "public"):
            return c["schema"], c["table"], c["column"], c["type"]
    return None


def _used_pct(seq: dict[str, Any], column_type: str | None) -> tuple[float, int, int]:
    """(percent of the range used, effective min, effective max)."""
    lo, hi = int(seq["min"]), int(seq["max"])
    if column_type in TYPE_RANGE:
        tlo, thi = TYPE_RANGE[column_type]
        lo, hi = max(lo, tlo), min(hi, thi)
    last = int(seq["last_value"])
    span = max(hi - lo, 1)
    used = (last - lo) / span if int(seq["increment"]) > 0 else (hi - last) / span
    return 100.0 * used, lo, hi


def _fix(seq: dict[str, Any], col: tuple[str, str, str, str] | None) -> tuple[str, str]:
    name = qualified(seq["schema"], seq["name"])
    steps, undo = [], []
    if col and col[3] in ("smallint", "integer"):
        alter = f"ALTER TABLE {qualified(col[0], col[1])} ALTER COLUMN {quote_ident(col[2])} TYPE"
        steps.append(f"{alter} bigint;")
        undo.append(f"{alter} {col[3]};")
    if seq["type"] in ("smallint", "integer"):
        steps.append(f"ALTER SEQUENCE {name} AS bigint;")
        undo.insert(0, f"ALTER SEQUENCE {name} AS {seq['type']};")
    if not steps:
        return (manual(f"{name} is a bigint sequence near its end: restart it on a new range, or move the key "
                       "to uuid;"), manual("nothing to undo;"))
    return " ".join(steps), " ".join(undo)


def find(scan: CatalogScan) -> list[Recommendation]:
    recs = []
    limit = scan.threshold(ID, "used_pct")
    fed = _fed_columns(scan)
    for seq in scan.view.schema.get("sequences", []):
        if seq.get("cycle") or seq.get("last_value") is None:
            continue
        col = _column_of(seq, fed)
        used, lo, hi = _used_pct(seq, col[3] if col else None)
        if used < limit:
            continue
        bound = f"the {col[3]} column {col[0]}.{col[1]}.{col[2]}" if col and col[3] in TYPE_RANGE and (
            hi < int(seq["max"]) or lo > int(seq["min"])) else f"the sequence's own bound ({seq['type']})"
        sql, undo = _fix(seq, col)
        recs.append(finding(
            ID, DEFAULT_SEVERITY, key=finding_key(ID, seq["schema"], seq["name"]),
            target=f"{col[0]}.{col[1]}" if col else f"{seq['schema']}.{seq['name']}",
            title=f"Sequence {seq['name']} has used {used:.0f}% of its range",
            sql=sql, rollback_sql=undo,
            why=(f"{seq['schema']}.{seq['name']} is at {seq['last_value']} of {lo}..{hi} ({used:.1f}% used, "
                 f"threshold {limit:g}%); the range ends at {bound}: inserts fail when it is used up"),
            confidence=CONFIDENCE,
            evidence={"last_value": int(seq["last_value"]), "min": lo, "max": hi, "used_pct": round(used, 2),
                      "column": ".".join(col[:3]) if col else None}))
    return recs

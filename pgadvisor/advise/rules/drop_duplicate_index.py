"""drop-duplicate-index: two or more valid indexes on one table that are exact copies of each other.

**What it finds.** Indexes with the same access method, the same keys in the same order and
directions, the same INCLUDE columns and the same predicate (`schema.same_index`), whatever their
names. One of each group is kept: the one backing a constraint, else the primary key, else a
unique index, else the most scanned, else the first by name; each other copy is a finding.

**Why it matters.** The planner uses one copy; every write maintains all of them, and each takes
the same disk, cache, WAL and vacuum time again.

**The fix.** `DROP INDEX CONCURRENTLY` of the copy, without blocking reads or writes; the rollback
is the copy's own definition, built `CONCURRENTLY`.

**When it is safe.** The kept index serves every lookup the copy did. A copy that is a primary
key, unique or backs a constraint is never dropped (it is listed among the rejected): drop the
other copy by hand, or drop the constraint first.

**False positives.** Queries or hints that name an index (`pg_hint_plan`, `CLUSTER ... USING`,
`ALTER TABLE ... REPLICA IDENTITY USING INDEX`) break when that name goes: check for them before
dropping. Two copies with different storage parameters or tablespaces are still reported.
"""

from __future__ import annotations

from pgadvisor.advise.rules import severity
from pgadvisor.advise.rules.common import CatalogScan, Drop, IndexPair, drop_recommendation, protected, size_of
from pgadvisor.advise.schema import same_index
from pgadvisor.findings import Recommendation, Severity

ID = "drop-duplicate-index"
DEFAULT_SEVERITY = Severity.low  # medium from severity.DROP_MEDIUM_BYTES
# the definitions are equal; the rest of 1 is an application that names the index (chosen by hand)
CONFIDENCE = 0.95


def groups(pairs: list[IndexPair]) -> list[list[IndexPair]]:
    """The groups of exact copies among one table's valid indexes, by their first name."""
    out: list[list[IndexPair]] = []
    seen: set[str] = set()
    for ix, e in sorted(pairs, key=lambda p: p[0]["name"]):
        if ix["name"] in seen:
            continue
        twins = [(d, o) for d, o in pairs if o is not e and same_index(e, o)]
        if twins:
            out.append([(ix, e), *twins])
            seen.update(d["name"] for d, _ in twins)
    return out


def keep_order(pair: IndexPair) -> tuple:
    """Which copy to keep: constraint-backing, primary, unique, most used, then by name."""
    d, _ = pair
    return (
        not d.get("backs_constraint"),
        not d.get("is_primary"),
        not d.get("is_unique"),
        -int(d.get("idx_scan") or 0),
        d["name"],
    )


def find(scan: CatalogScan) -> list[Recommendation]:
    recs = []
    for pairs in scan.by_table.values():
        valid = [(d, e) for d, e in pairs if e.valid and not scan.is_flagged(d)]
        for group in groups(valid):
            keeper, *copies = (d for d, _ in sorted(group, key=keep_order))
            for d in copies:
                reason = protected(d)
                if reason:
                    scan.reject(ID, d, f"duplicate of {keeper['name']} but {reason}: never dropped")
                    continue
                scan.flag(d)
                why = f"exact duplicate of {keeper['name']} ({keeper.get('definition')}); one of them is enough"
                drop = Drop(ID, "duplicate", severity.drop(size_of(d)), why, CONFIDENCE)
                recs.append(drop_recommendation(d, drop, {"kept": keeper["name"]}))
    return recs

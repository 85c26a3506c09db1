"""drop-redundant-index: a B-tree whose keys lead a wider B-tree on the same table.

**What it finds.** A valid, non-unique B-tree `(a)` or `(a, b)` next to a valid B-tree `(a, b, c)`:
the same leading keys in the same directions, the same predicate, and its INCLUDE columns among the
wider index's columns (`schema.extends`). Indexes with an exact copy are left to
drop-duplicate-index.

**Why it matters.** The wider index serves every lookup, range and sort on the leading keys; the
narrower one is maintained on every write for a scan that is only a little cheaper.

**The fix.** `DROP INDEX CONCURRENTLY` of the narrower index; the rollback is its own definition,
built `CONCURRENTLY`.

**When it is safe.** When the narrower index is not much smaller. A used prefix at most
1/`SMALL_PREFIX` of the wider index's size is kept (listed among the rejected): B-tree
deduplication can make `(a)` far smaller than `(a, b)`, and its scans then read far fewer pages
(what `recommend` itself may propose). Unique indexes, primary keys and constraint indexes enforce
something the wider index does not and are never proposed.

**False positives.** A narrower index also serves plans that a wider one serves worse: an
index-only scan of a much smaller index, or a bitmap scan combined with another index. The finding
says which index covers it; confirm with EXPLAIN of the statements on the table.
"""

from __future__ import annotations

from pgadvisor.advise.rules import severity
from pgadvisor.advise.rules.common import CatalogScan, Drop, drop_recommendation, mib, protected, size_of
from pgadvisor.advise.schema import extends, same_index
from pgadvisor.findings import Recommendation, Severity

ID = "drop-redundant-index"
DEFAULT_SEVERITY = Severity.low  # medium from severity.DROP_MEDIUM_BYTES
# the wider index serves the same lookups, but the planner may still prefer the smaller one (chosen by hand)
CONFIDENCE = 0.8
# a used key-prefix index this many times smaller than the wider index is worth its upkeep (chosen by hand;
# lineitem(l_orderkey) is 2.4x smaller than the TPC-H primary key it prefixes, docs/benchmarks.md)
SMALL_PREFIX = 2


def find(scan: CatalogScan) -> list[Recommendation]:
    recs = []
    for pairs in scan.by_table.values():
        valid = [(d, e) for d, e in pairs if e.valid]
        for ix, e in sorted(valid, key=lambda p: p[0]["name"]):
            if e.method != "btree" or protected(ix) or any(o is not e and same_index(e, o) for _, o in valid):
                continue
            wider = [(d, o) for d, o in valid if o is not e and extends(o, e)]
            if not wider:
                continue
            d, _ = min(wider, key=lambda p: (len(p[1].keys), p[0]["name"]))
            size, wide_size = size_of(ix), size_of(d)
            if size and int(ix.get("idx_scan") or 0) > 0 and size * SMALL_PREFIX <= wide_size:
                scan.reject(ID, ix, f"a key prefix of {d['name']} but used and at most 1/{SMALL_PREFIX} of its size "
                            f"({mib(size)} vs {mib(wide_size)}): its scans read far fewer pages")
                continue
            scan.flag(ix)
            why = (f"its keys are a leading prefix of {d['name']} ({d.get('definition')}), which serves the same "
                   "lookups; the narrower index is only a little faster to scan")
            drop = Drop(ID, "prefix-redundant", severity.drop(size), why, CONFIDENCE)
            recs.append(drop_recommendation(ix, drop, {"covered_by": d["name"]}))
    return recs

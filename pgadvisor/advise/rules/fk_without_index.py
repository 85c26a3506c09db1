"""fk-without-index: a foreign key whose columns lead no index, on a child table its parent's writes scan.

**What it finds.** A foreign key of a child table where no valid, non-partial B-tree of the child
starts with the key's columns (in any order), when the parent table saw deletes or updates in the
statistics and the child has at least `CatalogOptions.fk_min_child_rows` rows (`check` on a test
database, whose statistics say nothing about production, reports every such key). The id is
`fk-without-index:schema.child(columns)`; `evidence.kind` stays `fk-index`.

**Why it matters.** Each delete of a parent row, and each update of its key, makes PostgreSQL look
up the referencing child rows (to refuse, cascade or set null). Without an index that lookup reads
the whole child table, once per parent row, while holding the parent row's lock.

**The fix.** `CREATE INDEX CONCURRENTLY` on the child's foreign-key columns, in the key's order;
the rollback is `DROP INDEX CONCURRENTLY`. When the workload advisor chose the same index, the two
findings are one recommendation (its evidence lists this rule under `also`).

**When it is safe.** Building the index blocks no writes; it costs the disk and the write overhead of
one more index on the child.

**False positives.** Updates that leave the parent's key unchanged skip the check, and the
statistics count every update: a parent that is updated often but never deleted from may need no
index. A parent with no deletes or updates, or a small child, is listed among the rejected.
"""

from __future__ import annotations

from pgadvisor.advise.rules import create_index, severity
from pgadvisor.advise.rules.common import CatalogScan
from pgadvisor.advise.schema import ExistingIndex, Key, index_name, key_of, unquote
from pgadvisor.findings import Recommendation, Rejected, Severity, Verified
from pgadvisor.indexdef import IndexDef, KeyPart

ID = "fk-without-index"
DEFAULT_SEVERITY = Severity.low  # medium from severity.FK_MEDIUM_PAGE_READS
# the lookups are certain, their cost is estimated from pages and the parent's writes (chosen by hand)
CONFIDENCE = 0.7


def find(scan: CatalogScan) -> list[Recommendation]:
    recs = []
    view = scan.view
    taken = set(view.index_names)
    seen: set[str] = set()
    for fk in view.schema.get("foreign_keys", []):
        child_key = f"{fk['schema']}.{fk['table']}"
        parent_key = f"{fk['ref_schema']}.{fk['ref_table']}"
        cols = [unquote(c) for c in fk.get("columns") or []]
        if not cols or served([e for _, e in scan.by_table.get(child_key, [])], cols):
            continue
        d = IndexDef(fk["schema"], fk["table"], tuple(KeyPart(column=c, expr_columns=(c,)) for c in cols))
        rid = f"{ID}:{child_key}({','.join(cols)})"
        if rid in seen:
            continue
        seen.add(rid)
        parent = view.relations.get(parent_key) or {}
        child = view.relations.get(child_key) or {}
        parent_writes = float(parent.get("n_tup_del") or 0) + float(parent.get("n_tup_upd") or 0)
        child_rows = float(child.get("reltuples") or 0)
        trust = scan.options.trust_statistics
        if trust and parent_writes <= 0:
            scan.rejected.append(Rejected(rid, child_key, f"foreign key {fk['name']} has no index, but {parent_key} "
                                          "sees no deletes or updates"))
            continue
        if trust and child_rows < scan.options.fk_min_child_rows:
            scan.rejected.append(Rejected(rid, child_key, f"foreign key {fk['name']} has no index, but {child_key} "
                                          f"is small ({child_rows:.0f} rows)"))
            continue
        name = index_name(d, taken)
        taken.add((d.schema, name))
        pages = float(child.get("relpages") or 0)
        seen_writes = f"{parent_key} had {parent_writes:.0f} deletes/updates; " if trust else ""
        why = (f"{seen_writes}each delete (or key update) looks up "
               f"{child_key} by ({', '.join(cols)}) for constraint {fk['name']}, and no index starts with these "
               f"columns, so every lookup scans the table ({pages:.0f} pages); updates that leave the key "
               "unchanged skip the check")
        recs.append(create_index.recommendation(
            d, name, id=rid, rule=ID,
            severity=severity.fk_without_index(pages, parent_writes),
            title=f"Index foreign key {fk['table']}({', '.join(cols)}) → {fk['ref_table']}",
            benefit={"ms_per_day": None, "parent_deletes_updates": int(parent_writes), "child_pages": int(pages)},
            cost={"size_bytes": None, "write_overhead_pct": None},
            confidence=CONFIDENCE,
            verified=Verified.rule,
            evidence={"why": why, "kind": "fk-index", "constraint": fk["name"],
                      "index": {"schema": d.schema, "table": d.table, "name": name, "method": "btree"}},
        ))
    return recs


def _leads_with(keys: list[Key], cols: list[str] | tuple[str, ...]) -> bool:
    """Whether the leading keys are the foreign-key columns, in any order (later keys do not matter)."""
    return len(keys) >= len(cols) and set(keys[: len(cols)]) == {Key(c, True) for c in cols}


def served(existing: list[ExistingIndex], cols: list[str]) -> bool:
    """Whether an existing index serves the child lookups of foreign-key columns `cols`: valid, a plain
    B-tree, not partial, leading with those columns in any order and either direction — unlike
    `schema.served_by`, which compares one candidate's ordered keys."""
    return any(e.valid and e.predicate is None and e.method == "btree" and _leads_with([k for k, _ in e.keys], cols)
               for e in existing)


def served_by_new(d: IndexDef, cols: list[str] | tuple[str, ...]) -> bool:
    """The same question of a proposed index `d` (INCLUDE columns do not matter)."""
    return d.method == "btree" and d.predicate is None and _leads_with([key_of(k) for k in d.keys], cols)

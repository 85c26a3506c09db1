"""Indexes to drop, and foreign keys without an index: pure over the catalog dicts (runs offline).

Rules, one small function each:

* `invalid`: a failed CREATE INDEX CONCURRENTLY leaves an index that is maintained but never used;
* `duplicate`: same table, method, keys, INCLUDE columns and predicate as another index;
* `prefix-redundant`: a B-tree whose keys are a leading prefix of another valid B-tree's keys (same
  predicate), not unique (a unique index enforces something the wider one does not), unless it is
  used and at most 1/SMALL_PREFIX of the wider index's size;
* `unused`: no scan over a statistics window long enough to trust, above a size floor;
* `fk-index`: a foreign key whose columns lead no index, on a table whose parent sees deletes or
  updates (each one scans the child table).

Never proposed for dropping: primary keys, unique indexes and indexes backing a constraint.
"""

from __future__ import annotations

from typing import Any

from pgadvisor.advise.schema import (
    ExistingIndex,
    Key,
    SchemaView,
    create_sql,
    existing_from_catalog,
    index_name,
    unquote,
)
from pgadvisor.findings import Recommendation, Rejected, rank
from pgadvisor.indexdef import IndexDef, KeyPart, qualified

MIN_TRUSTED_WINDOW_DAYS = 7.0
# a used key-prefix index this many times smaller than the wider index is worth its upkeep
SMALL_PREFIX = 2
REPLICA_NOTE = (
    "index statistics are per server: a replica (or a monthly job) may use this index even though "
    "this server never scanned it; check them before dropping"
)


def _mib(n: float) -> str:
    return f"{n / 1048576:.1f} MiB"


def _protected(ix: dict[str, Any]) -> str | None:
    if ix.get("is_primary"):
        return "primary key"
    if ix.get("backs_constraint"):
        return f"backs constraint {ix.get('constraint_name') or ''}".strip()
    if ix.get("is_unique"):
        return "unique index (enforces uniqueness)"
    return None


def _rollback(ix: dict[str, Any]) -> str:
    """The original definition, CONCURRENTLY inserted, to recreate the dropped index."""
    definition = ix.get("definition") or ""
    for head in ("CREATE UNIQUE INDEX ", "CREATE INDEX "):
        if definition.startswith(head):
            return f"{head}CONCURRENTLY {definition[len(head) :]};"
    return definition + ";"


def _drop_rec(
    ix: dict[str, Any], kind: str, severity: str, why: str, confidence: float, extra: dict[str, Any] | None = None
) -> Recommendation:
    name = qualified(ix["schema"], ix["name"])
    size = int(ix.get("size_bytes") or 0)
    evidence = {
        "why": why,
        "kind": kind,
        "index": {
            "schema": ix["schema"],
            "table": ix["table"],
            "name": ix["name"],
            "definition": ix.get("definition"),
            "idx_scan": ix.get("idx_scan"),
        },
    }
    evidence.update(extra or {})
    return Recommendation(
        id=f"drop-index:{ix['schema']}.{ix['name']}",
        rule="drop-index",
        severity=severity,
        title=f"Drop {kind} index {ix['name']} on {ix['table']} ({_mib(size)})",
        target=f"{ix['schema']}.{ix['table']}",
        sql=f"DROP INDEX CONCURRENTLY {name};",
        rollback_sql=_rollback(ix),
        benefit={"ms_per_day": None, "bytes_freed": size, "write_overhead_removed": True},
        cost={"size_bytes": -size, "write_overhead_pct": 0.0},
        confidence=confidence,
        verified="catalog",
        evidence=evidence,
    )


def _size_severity(size: int) -> str:
    return "medium" if size >= 1 << 30 else "low"


def recommend_drops(
    schema: dict[str, Any],
    *,
    stats_window_days: float | None,
    min_size_bytes: int = 1 << 20,
    min_window_days: float = MIN_TRUSTED_WINDOW_DAYS,
    fk_min_child_rows: float = 1000.0,
) -> tuple[list[Recommendation], list[Rejected]]:
    """Indexes to drop and foreign keys to index, from a snapshot's catalog dicts; no connection needed.

    `stats_window_days` is how long the idx_scan counters have been counting (since the stats reset,
    or the store's window when the counters are deltas); below `min_window_days` no index is called
    unused. Indexes smaller than `min_size_bytes` are not worth an unused-index finding.
    """
    view = SchemaView(schema)
    recs: list[Recommendation] = []
    rejected: list[Rejected] = []
    flagged: set[tuple[str, str]] = set()

    by_table: dict[str, list[tuple[dict, ExistingIndex]]] = {}
    for ix in schema.get("indexes", []):
        by_table.setdefault(f"{ix['schema']}.{ix['table']}", []).append((ix, existing_from_catalog(ix)))

    # invalid
    for ixs in by_table.values():
        for ix, e in ixs:
            if e.valid:
                continue
            flagged.add((ix["schema"], ix["name"]))
            recs.append(
                _drop_rec(
                    ix,
                    "invalid",
                    "medium",
                    "the index is invalid (a failed or interrupted CREATE INDEX CONCURRENTLY, "
                    "or REINDEX): "
                    "it is maintained on every write but never used; drop it, or rebuild it with the "
                    "rollback statement if it is wanted",
                    0.95,
                )
            )

    # exact duplicates and prefix-redundant
    for ixs in by_table.values():
        valid = [(d, e) for d, e in ixs if e.valid and (d["schema"], d["name"]) not in flagged]
        for ix, e in sorted(valid, key=lambda p: p[0]["name"]):
            if (ix["schema"], ix["name"]) in flagged:
                continue
            twins = [(d, o) for d, o in valid if o is not e and _same(e, o)]
            if twins:
                group = sorted([(ix, e), *twins], key=_keep_order)
                keeper = group[0]
                for d, _o in group[1:]:
                    if (d["schema"], d["name"]) in flagged:
                        continue
                    reason = _protected(d)
                    rid = f"drop-index:{d['schema']}.{d['name']}"
                    if reason:
                        rejected.append(
                            Rejected(
                                rid,
                                f"{d['schema']}.{d['table']}",
                                f"duplicate of {keeper[0]['name']} but {reason}: never dropped",
                            )
                        )
                        continue
                    flagged.add((d["schema"], d["name"]))
                    recs.append(
                        _drop_rec(
                            d,
                            "duplicate",
                            _size_severity(int(d.get("size_bytes") or 0)),
                            f"exact duplicate of {keeper[0]['name']} ({keeper[0].get('definition')}); "
                            "one of them is enough",
                            0.95,
                            {"kept": keeper[0]["name"]},
                        )
                    )
                continue
            if e.method != "btree" or _protected(ix):
                continue
            wider = [
                (d, o)
                for d, o in valid
                if o is not e
                and o.method == "btree"
                and len(o.keys) > len(e.keys)
                and o.keys[: len(e.keys)] == e.keys
                and o.predicate == e.predicate
                and e.include <= (o.key_columns | o.include)
            ]
            if wider:
                d, o = sorted(wider, key=lambda p: (len(p[1].keys), p[0]["name"]))[0]
                size, wide_size = int(ix.get("size_bytes") or 0), int(d.get("size_bytes") or 0)
                if size and int(ix.get("idx_scan") or 0) > 0 and size * SMALL_PREFIX <= wide_size:
                    # what `recommend` may propose: B-tree deduplication can make (a) far smaller than (a, b)
                    rejected.append(
                        Rejected(
                            f"drop-index:{ix['schema']}.{ix['name']}",
                            f"{ix['schema']}.{ix['table']}",
                            f"a key prefix of {d['name']} but used and at most 1/{SMALL_PREFIX} of its size "
                            f"({_mib(size)} vs {_mib(wide_size)}): its scans read far fewer pages",
                        )
                    )
                    continue
                flagged.add((ix["schema"], ix["name"]))
                recs.append(
                    _drop_rec(
                        ix,
                        "prefix-redundant",
                        _size_severity(int(ix.get("size_bytes") or 0)),
                        f"its keys are a leading prefix of {d['name']} ({d.get('definition')}), which "
                        "serves the same lookups; the narrower index is only a little faster to scan",
                        0.8,
                        {"covered_by": d["name"]},
                    )
                )

    # unused
    for ixs in by_table.values():
        for ix, e in ixs:
            if (ix["schema"], ix["name"]) in flagged or not e.valid:
                continue
            scans = ix.get("idx_scan")
            if scans is None or int(scans) > 0:
                continue
            rid = f"drop-index:{ix['schema']}.{ix['name']}"
            target = f"{ix['schema']}.{ix['table']}"
            size = int(ix.get("size_bytes") or 0)
            reason = _protected(ix)
            if reason:
                rejected.append(Rejected(rid, target, f"unused but {reason}: never dropped"))
                continue
            if stats_window_days is None or stats_window_days < min_window_days:
                shown = "unknown" if stats_window_days is None else f"{stats_window_days:.1f} days"
                rejected.append(
                    Rejected(
                        rid,
                        target,
                        f"no scans, but the statistics window ({shown}) is shorter "
                        f"than {min_window_days:g} days: not enough to call it unused",
                    )
                )
                continue
            if size < min_size_bytes:
                rejected.append(Rejected(rid, target, f"unused but small ({_mib(size)} < {_mib(min_size_bytes)})"))
                continue
            flagged.add((ix["schema"], ix["name"]))
            why = f"no index scan in {stats_window_days:.0f} days; it still costs {_mib(size)} and every write; "
            why += REPLICA_NOTE
            if e.has_expression:
                why += "; an expression index also gives the planner statistics on its expression"
            recs.append(
                _drop_rec(ix, "unused", _size_severity(size), why, 0.6, {"stats_window_days": stats_window_days})
            )

    recs += _fk_indexes(view, by_table, rejected, fk_min_child_rows)
    return rank(recs), rejected


def _same(a: ExistingIndex, b: ExistingIndex) -> bool:
    return (a.method, a.keys, a.include, a.predicate) == (b.method, b.keys, b.include, b.predicate)


def _keep_order(pair: tuple[dict, ExistingIndex]) -> tuple:
    """Which twin to keep: constraint-backing, primary, unique, most used, then by name."""
    d, _ = pair
    return (
        not d.get("backs_constraint"),
        not d.get("is_primary"),
        not d.get("is_unique"),
        -int(d.get("idx_scan") or 0),
        d["name"],
    )


def _fk_indexes(
    view: SchemaView,
    by_table: dict[str, list[tuple[dict, ExistingIndex]]],
    rejected: list[Rejected],
    min_child_rows: float,
) -> list[Recommendation]:
    recs = []
    taken = set(view.index_names)
    seen: set[str] = set()
    for fk in view.schema.get("foreign_keys", []):
        child_key = f"{fk['schema']}.{fk['table']}"
        parent_key = f"{fk['ref_schema']}.{fk['ref_table']}"
        cols = [unquote(c) for c in fk.get("columns") or []]
        if not cols:
            continue
        existing = [e for _, e in by_table.get(child_key, [])]
        if _fk_served(cols, existing):
            continue
        d = IndexDef(fk["schema"], fk["table"], tuple(KeyPart(column=c, expr_columns=(c,)) for c in cols))
        rid = f"fk-index:{child_key}({','.join(cols)})"
        if rid in seen:
            continue
        seen.add(rid)
        parent = view.relations.get(parent_key) or {}
        child = view.relations.get(child_key) or {}
        parent_writes = float(parent.get("n_tup_del") or 0) + float(parent.get("n_tup_upd") or 0)
        child_rows = float(child.get("reltuples") or 0)
        if parent_writes <= 0:
            rejected.append(
                Rejected(
                    rid,
                    child_key,
                    f"foreign key {fk['name']} has no index, but {parent_key} sees no deletes or updates",
                )
            )
            continue
        if child_rows < min_child_rows:
            rejected.append(
                Rejected(
                    rid,
                    child_key,
                    f"foreign key {fk['name']} has no index, but {child_key} is small ({child_rows:.0f} rows)",
                )
            )
            continue
        name = index_name(d, taken)
        taken.add((d.schema, name))
        pages = float(child.get("relpages") or 0)
        recs.append(
            Recommendation(
                id=rid,
                rule="fk-index",
                severity="medium" if pages * parent_writes > 1e7 else "low",
                title=f"Index foreign key {fk['table']}({', '.join(cols)}) → {fk['ref_table']}",
                target=child_key,
                sql=create_sql(d, name),
                rollback_sql=f"DROP INDEX CONCURRENTLY {qualified(d.schema, name)};",
                benefit={"ms_per_day": None, "parent_deletes_updates": int(parent_writes), "child_pages": int(pages)},
                cost={"size_bytes": None, "write_overhead_pct": None},
                confidence=0.7,
                verified="rule",
                evidence={
                    "why": f"{parent_key} had {parent_writes:.0f} deletes/updates; each delete (or key update) "
                    f"looks up {child_key} by ({', '.join(cols)}) for constraint {fk['name']}, and no index "
                    "starts with these columns, so every lookup scans the table "
                    f"({pages:.0f} pages); updates that leave the key unchanged skip the check",
                    "kind": "fk-index",
                    "constraint": fk["name"],
                    "index": {"schema": d.schema, "table": d.table, "name": name, "method": "btree"},
                },
            )
        )
    return recs


def _fk_served(cols: list[str], existing: list[ExistingIndex]) -> bool:
    """An index whose leading keys are the FK columns (in any order), valid and not partial."""
    want = {Key(c, True) for c in cols}
    for e in existing:
        if not e.valid or e.predicate is not None or e.method != "btree":
            continue
        if {k for k, _ in e.keys[: len(cols)]} == want:
            return True
    return False

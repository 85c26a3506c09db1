"""Candidates costed on real copies of a sample, in the scratch place; the target is only read.

For one table: a BERNOULLI sample (≤ 10%, at most `MAX_SAMPLE_ROWS`) is copied into the scratch place
as the unpartitioned copy ("none"); each candidate is a partitioned copy of the same rows. Every copy
gets the table's existing plain indexes and the recommended ones (`extra_indexes`, the index advice
carried over), as real indexes (per partition), then ANALYZE. Each statement that reads or writes the
table is costed with literal values (literals.py) on every copy (EXPLAIN without ANALYZE, through the
code guards of the target and of the scratch place) and once on the target itself: the full-size
cost its ratio (partitioned copy ÷ unpartitioned copy) is transferred to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from pgadvisor.advise.partitions.literals import ColumnValues, NoValues, literal_text, retarget
from pgadvisor.advise.partitions.model import Candidate, Cost, StatementResult, Stmt
from pgadvisor.errors import one_line
from pgadvisor.pg import partition
from pgadvisor.pg.explain import Refused, explain_casting
from pgadvisor.pg.guard import CodeGuard
from pgadvisor.pg.scratch import Copy, Scratch, table_columns

# the sample: 10% (issue 14's bound), but no more than this many rows, so a copy is built in seconds
# (chosen by hand: 300k rows of the bench's 3M-row table copy and index in ~5 s on 2 shared cores)
SAMPLE_FRACTION = 0.10
MAX_SAMPLE_ROWS = 300_000
# the copies are vacuumed (all pages all-visible) when at least this share of the target's pages is: index-only
# scans are costed by that share, and a fresh copy has none (chosen by hand: the nearer of 0% and 100%)
ALL_VISIBLE_VACUUM = 0.5
_SCAN_NODES = ("Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan")


def sample_fraction(reltuples: float) -> float:
    if reltuples <= 0:
        return SAMPLE_FRACTION
    return min(SAMPLE_FRACTION, MAX_SAMPLE_ROWS / reltuples)


def all_visible_share(profile: dict[str, Any]) -> float:
    """pg_class.relallvisible / relpages of the target table (0 when never vacuumed)."""
    pages = float(profile.get("relpages") or 0)
    return float(profile.get("relallvisible") or 0) / pages if pages > 0 else 0.0


class Copies:
    """The copies of one table in the scratch place: "none" and one per candidate, indexed and analyzed;
    `fraction` is the sample's share of the table's rows."""

    def __init__(self, scratch: Scratch, table: tuple[str, str], by_label: dict[str, Copy], indexes: list[tuple],
                 fraction: float):
        self.scratch = scratch
        self.table = table
        self.by_label = by_label
        self.indexes = indexes
        self.fraction = fraction
        self.pages = partition.relpages(scratch)


def build_copies(target: psycopg.Connection, scratch: Scratch, table: tuple[str, str], profile: dict[str, Any],
                 candidates: list[Candidate], extra_indexes: list[tuple[str, ...]] = (),
                 fraction: float | None = None, progress: Callable[[str], None] | None = None) -> Copies:
    """Copy a sample of `table` and build every candidate from it (see the module's docstring)."""
    say = progress or (lambda _m: None)
    fraction = sample_fraction(float(profile.get("reltuples") or 0)) if fraction is None else fraction
    say(f"copying a {fraction:.1%} sample of {table[0]}.{table[1]}")
    base = scratch.copy_sample(target, table, fraction, name=scratch.name(table[1], "none"))
    types = dict(table_columns(target, table))
    indexes = _index_columns(profile, extra_indexes, set(types))
    copies = {"none": base}
    for i, cand in enumerate(c for c in candidates if c.spec is not None):
        say(f"building {cand.label}")
        copies[cand.label] = partition.build_partitioned(scratch, base, types, cand.spec,
                                                         scratch.name(table[1], f"c{i}"))
    vacuum = all_visible_share(profile) >= ALL_VISIBLE_VACUUM
    for copy in copies.values():
        for cols, method in indexes:
            partition.create_index(scratch, copy, cols, method)
        partition.analyze(scratch, copy, vacuum)
    rows = scratch.execute(sql.SQL("SELECT count(*) FROM {}").format(base.ident))[0][0]
    reltuples = float(profile.get("reltuples") or 0)
    real = min(1.0, rows / reltuples) if reltuples > 0 else fraction
    return Copies(scratch, table, copies, indexes, real or fraction)


def _index_columns(profile: dict[str, Any], extra: list[tuple[str, ...]], names: set[str]) -> list[tuple]:
    """(columns, method) of the existing plain indexes and the recommended ones, once each."""
    out: list[tuple] = []
    for ix in profile.get("indexes", []):
        cols = tuple(ix["columns"] or ())
        if ix["has_expr"] or ix["partial"] or not cols or not set(cols) <= names:
            continue
        if (cols, ix["method"]) not in out:
            out.append((cols, ix["method"]))
    for cols in extra:
        if cols and set(cols) <= names and (tuple(cols), "btree") not in out:
            out.append((tuple(cols), "btree"))
    return out


def cost_statements(target: psycopg.Connection, copies: Copies, profile: dict[str, Any], stmts: list[Stmt],
                    codes: tuple[CodeGuard, CodeGuard]) -> list[StatementResult]:
    """Each statement's full-size cost on the target and its cost on every copy, with literal values."""
    values = ColumnValues(profile["columns"])
    partition.mirror_planner_settings(target, copies.scratch, copies.fraction)
    full_pages = partition.target_pages(profile, copies.table[1])
    out = []
    for s in stmts:
        res = StatementResult(stmt=s, literal=None, full_cost=None)
        out.append(res)
        try:
            res.literal = literal_text(s.examples[0], values) if s.examples else literal_text(s.text, values)
        except NoValues as exc:
            res.skipped = str(exc)
            continue
        except Exception as exc:  # noqa: BLE001 - a text sqlglot cannot rewrite is skipped with its reason
            res.skipped = f"cannot substitute literal values: {one_line(exc, first_line=True, limit=120)}"
            continue
        try:
            plan = explain_casting(target, res.literal, codes[0])
            res.full_cost = float(plan[0]["Plan"]["Total Cost"])
            res.full_pages = partition.pages_touched(plan[0]["Plan"], full_pages)
        except Refused as exc:
            res.skipped = str(exc)
            continue
        except psycopg.Error as exc:
            res.skipped = f"EXPLAIN failed on the target: {one_line(exc, limit=160)}"
            continue
        _cost_copies(res, copies, codes)
    return out


def _cost_copies(res: StatementResult, copies: Copies, codes: tuple[CodeGuard, CodeGuard]) -> None:
    for label, copy in copies.by_label.items():
        text = retarget(res.literal, copies.table, (copy.schema, copy.name))
        if text is None:
            res.skipped = "reads or writes other tables too: the copies hold only this one"
            res.copies.clear()
            return
        try:
            doc = partition.explain_literal(copies.scratch.conn, text, codes)
        except (Refused, psycopg.Error) as exc:
            res.skipped = f"EXPLAIN failed on the copy {label}: {one_line(exc, limit=160)}"
            res.copies.clear()
            return
        plan = doc["Plan"]
        res.copies[label] = Cost(cost=float(plan["Total Cost"]), pages=partition.pages_touched(plan, copies.pages),
                                 plan_ms=float(doc.get("Planning Time") or 0.0), partitions=_scans(plan))


def _scans(plan: dict[str, Any]) -> int:
    n = 1 if plan.get("Node Type") in _SCAN_NODES else 0
    return n + sum(_scans(c) for c in plan.get("Plans", []) or [])

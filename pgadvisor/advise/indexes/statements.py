"""Stage 1 and 2: the workload's statements as the advisor works on them.

`prepare` leaves out what cannot be advised (our own statements, other databases, no calls,
unparseable, utility, code the guard refuses, missing tables), each with the reason, merges the same
text seen under several users or queryids, and parses the rest; `baseline` costs every statement as
it is (generic plans for `$n` texts) and tells the write model about the writing statements.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from pgadvisor.advise.indexes.runtime import Progress
from pgadvisor.advise.indexes.writes import WriteModel
from pgadvisor.advise.schema import SchemaView
from pgadvisor.indexdef import norm_expr
from pgadvisor.marker import is_marked
from pgadvisor.pg.guard import CodeGuard
from pgadvisor.pg.hypo import Filter, WhatIf, WhatIfStatement
from pgadvisor.sql.model import ParsedStatement
from pgadvisor.workload import StatementStats

READ_KINDS = ("select", "update", "delete", "merge", "insert")
WRITE_KINDS = ("insert", "update", "delete", "merge")
# an expression filter of a logged example: (example, table key, normalized expression, kind, SQL to sample)
ExprPredicate = tuple[int, str, str, str, str]


def text_digest(text: str) -> str:
    """Identity of a statement text up to whitespace (not a template: `sql.fingerprint` merges literals)."""
    return hashlib.sha1(" ".join(text.split()).encode()).hexdigest()[:16]


@dataclass
class Stmt:
    """One statement the advisor works on: its stats, parse, what-if form, weight (calls) and baseline cost."""

    key: str
    stats: StatementStats
    ps: ParsedStatement
    wis: WhatIfStatement
    weight: float
    base: float = 0.0
    parameterized: bool = False
    join_columns: dict[str, set[str]] = field(default_factory=dict)  # table key → columns it joins on
    # table key → columns an index can search or order by for it (filters, joins, ORDER BY, GROUP BY)
    sargable: dict[str, set[str]] = field(default_factory=dict)


class Statements:
    """The statements the advisor works on (`stmts`; after the baseline also `by_key`, and `by_table` for
    those an index can help) and those it left out, each with the reason (`skipped`)."""

    def __init__(self) -> None:
        self.stmts: list[Stmt] = []
        self.by_key: dict[str, Stmt] = {}
        self.by_table: dict[str, list[Stmt]] = {}
        self.skipped: list[dict[str, Any]] = []

    def skip(self, st: StatementStats, reason: str) -> None:
        self.skipped.append(
            {"queryid": st.queryid, "reason": reason, "calls": st.calls, "query": " ".join(st.query.split())[:200]}
        )

    def weighted_base(self) -> float:
        """Σ calls × baseline cost: the workload's estimated cost without new indexes."""
        return sum(q.weight * q.base for q in self.stmts)


def prepare(
    statements: list[StatementStats], view: SchemaView, guard: CodeGuard, dbid: int | None
) -> tuple[Statements, dict[str, Any]]:
    """The statements to advise on, and the parse report (total, parsed, failed, failures by kind, rate)."""
    from pgadvisor.sql.parse import parse_statement

    out = Statements()
    parser_schema = view.parser_schema()
    report: dict[str, Any] = {"total": 0, "parsed": 0, "failed": 0, "failures": Counter()}
    for fp, st in _merged(statements, dbid, out).items():
        report["total"] += 1
        ps = parse_statement(st.query, parser_schema)
        if not ps.ok:
            report["failed"] += 1
            report["failures"][(ps.error or "").split(":", 1)[0]] += 1
            out.skip(st, f"unparseable: {ps.error}")
            continue
        report["parsed"] += 1
        why = _refusal(st, ps, view, guard)
        if why:
            out.skip(st, why)
            continue
        out.stmts.append(_statement(fp, st, ps, view, parser_schema))
    report["parse_rate"] = report["parsed"] / report["total"] if report["total"] else 1.0
    report["failures"] = dict(report["failures"])
    return out, report


def _merged(statements: list[StatementStats], dbid: int | None, out: Statements) -> dict[str, StatementStats]:
    """The statements by text digest: ours, other databases' and those without calls are skipped; the same
    text under another user or queryid is one statement to the advisor (calls, time and rows added)."""
    merged: dict[str, StatementStats] = {}
    for st in statements:
        if is_marked(st.query):
            out.skip(st, "pgadvisor's own statement")
            continue
        if st.dbid and dbid and int(st.dbid) != int(dbid):
            out.skip(st, f"ran in another database (dbid {st.dbid})")
            continue
        if st.calls <= 0:
            out.skip(st, "no calls in the window")
            continue
        fp = text_digest(st.query)
        if fp in merged:
            m = merged[fp]
            merged[fp] = replace(
                m,
                calls=m.calls + st.calls,
                total_exec_ms=m.total_exec_ms + st.total_exec_ms,
                rows=m.rows + st.rows,
                examples=m.examples or st.examples,
            )
        else:
            merged[fp] = st
    return merged


def _refusal(st: StatementStats, ps: ParsedStatement, view: SchemaView, guard: CodeGuard) -> str | None:
    """Why a parsed statement cannot be advised on, or None."""
    if ps.kind not in READ_KINDS:
        return f"{ps.kind} statement: nothing to index"
    why = next(filter(None, map(guard.reason, (st.query, *st.examples))), None)
    if why:
        return why
    if not ps.tables:
        return "reads no table"
    for schema, name in ps.tables:
        if view.resolve(schema, name) is None:
            shown = f"{schema}.{name}" if schema else name
            return f"table {shown} does not exist in this database (dropped, temporary, or in another database)"
    return None


def _statement(fp: str, st: StatementStats, ps: ParsedStatement, view: SchemaView,
               parser_schema: dict[str, list[str]]) -> Stmt:
    from pgadvisor.sql.parse import parse_statement, with_example_kinds

    # the examples (logged values in place) tell which LIKE $n are prefix searches
    example_ps = [parse_statement(t, parser_schema) for t in st.examples]
    if example_ps:
        ps = with_example_kinds(ps, example_ps)
    joins: dict[str, set[str]] = {}
    for j in ps.joins:
        for ref in (j.left, j.right):
            k = view.resolve(ref.schema, ref.table)
            if k:
                joins.setdefault(k, set()).add(ref.column)
    sargable: dict[str, set[str]] = {t: set(c) for t, c in joins.items()}
    refs = [p.column for p in ps.predicates] + [k.column for k in ps.order_by] + list(ps.group_by)
    for ref in refs:
        k = view.resolve(ref.schema, ref.table)
        if k:
            sargable.setdefault(k, set()).add(ref.column)
    wis = whatif_statement(view, fp, ps, st.examples, _expr_predicates(view, example_ps))
    return Stmt(fp, st, ps, wis, float(st.calls), "$" in st.query, join_columns=joins, sargable=sargable)


def _expr_predicates(view: SchemaView, examples: list[ParsedStatement]) -> tuple[ExprPredicate, ...]:
    """The examples' equality and prefix-LIKE filters on expressions, as SQL to sample with."""
    out = []
    for i, ex in enumerate(examples):
        for p in ex.predicates if ex.ok else ():
            k = view.resolve(p.column.schema, p.column.table)
            if k and p.expression and p.constant and p.kind in ("eq", "prefix_like"):
                op = "LIKE" if p.kind == "prefix_like" else "="
                out.append((i, k, norm_expr(p.expression), p.kind, f"{p.expression} {op} {p.constant}"))
    return tuple(out)


def whatif_statement(
    view: SchemaView, key: str, ps: ParsedStatement, examples: tuple[str, ...] = (),
    expr_predicates: tuple[ExprPredicate, ...] = (),
) -> WhatIfStatement:
    """The statement as the what-if engine takes it: its tables, the columns it uses and filters on (as
    table keys), its filters, and the text to EXPLAIN."""
    from pgadvisor.sql.parse import prepare_sql

    res = view.resolve
    tables = frozenset(k for k in (res(s, n) for s, n in ps.tables) if k)
    cols: set[tuple[str, str]] = set()
    fcols: set[tuple[str, str]] = set()
    filters = []
    for (s, n), used in ps.columns_used.items():
        k = res(s, n)
        if k:
            cols |= {(k, c) for c in used if c != "*"}
    for p in ps.predicates:
        k = res(p.column.schema, p.column.table)
        if not k:
            continue
        extra = [r.column for r in p.extra_columns]
        cols |= {(k, p.column.column), *((k, c) for c in extra)}
        fcols.add((k, p.column.column))
        filters.append(Filter(k, p.column.column, p.expression, p.kind, p.bound == "both"))
    refs = [r for j in ps.joins for r in (j.left, j.right)] + [s.column for s in ps.order_by] + list(ps.group_by)
    for ref in refs:
        k = res(ref.schema, ref.table)
        if k:
            cols.add((k, ref.column))
    # pg_stat_statements writes `date '2024-01-01'` as `date $1`, which PostgreSQL cannot parse back
    text = prepare_sql(ps.text) if "$" in ps.text else ps.text
    return WhatIfStatement(
        key, text, tables, frozenset(cols), frozenset(fcols), tuple(filters), examples, expr_predicates
    )


def baseline(
    ws: Statements, engine: WhatIf, writes: WriteModel, table_writes: dict[str, dict], progress: Progress
) -> None:
    """Each statement's plan cost with no new index (a statement EXPLAIN fails on is skipped with the
    error); the writing statements and the per-table write counters go to the write model."""
    kept = []
    for i, q in enumerate(ws.stmts):
        progress("baseline", i, len(ws.stmts))
        r = engine.cost(q.wis, ())
        if r.cost is None:
            ws.skip(q.stats, f"EXPLAIN failed: {r.error}")
            continue
        q.base = r.cost
        kept.append(q)
        ps = q.ps
        if ps.predicates or ps.joins or ps.order_by or ps.group_by:  # else no index can help it
            for t in q.wis.tables:
                ws.by_table.setdefault(t, []).append(q)
        if ps.kind in WRITE_KINDS:
            _add_writer(q, writes)
    ws.stmts = kept
    ws.by_key = {q.key: q for q in kept}
    for table_key, counters in table_writes.items():
        writes.add_counters(table_key, counters)


def _add_writer(q: Stmt, writes: WriteModel) -> None:
    """A writing statement's rows (per call and over the window) on the table it writes."""
    rows = float(q.stats.rows) if q.stats.rows else float(q.stats.calls)
    kind = q.ps.kind
    set_cols = q.ps.set_columns if kind in ("update", "merge", "insert") else None
    target = writes.view.resolve(*q.ps.tables[0])
    if kind == "insert" and set_cols:  # INSERT … ON CONFLICT DO UPDATE: count both
        writes.add_statement(target, "update", rows, set_cols, 0.0)
    writes.add_statement(target, kind, rows, set_cols, q.weight * q.base)
    writes.add_writer(target, q.key, kind, rows / max(1.0, q.weight), set_cols, q.base, q.stats.mean_exec_ms)

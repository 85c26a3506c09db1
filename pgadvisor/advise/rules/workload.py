"""What the workload rules read: the statements the application's tests ran (the test database's
pg_stat_statements), their plans, and the production size of the tables they touch.

`check` calls `gather` once when any workload rule runs, then each rule's `find_workload(facts, scan)`.

Sizes. A test database's tables are small and their statistics (`reltuples`, `relpages`) stay so; the
planner sizes a table from its real file. So the plans are the test's, and the rules cost them at the
production size instead: the production row and page counts of each table come from the latest
snapshot of a store `collect` filled from production (`production_store`, `server`), else from row
counts declared per table in the config (`rows`: pages are then estimated from the row width). A
node's rows scale by (production rows ÷ the rows the planner assumed for the test table); a
sequential scan is costed with the planner's own formula (pages × seq_page_cost + rows ×
(cpu_tuple_cost + cpu_operator_cost)). Whether an index serves a scan at production size is asked of
the planner itself: the statement is planned again with `enable_seqscan = off`; if the table is then
reached through an index, the sequential scan was the small table's choice and is not a finding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pgadvisor.errors import CannotRun, UsageError

# the statements the tests ran, by total time, whose plans are read: one EXPLAIN each, two for those with a
# sequential scan (chosen by hand: a test suite runs a few hundred distinct statements)
MAX_STATEMENTS = 300
# a heap tuple's header and line pointer (23 + 4 bytes, aligned to 8: 32), and the page size: how the pages
# of a table whose size was declared by rows are estimated (PostgreSQL's storage layout)
TUPLE_OVERHEAD_BYTES = 32
PAGE_BYTES = 8192
# a column's width when the test table was never analyzed (pg_stats has none): a bigint's (chosen by hand)
DEFAULT_COLUMN_BYTES = 8
_PLANNED = ("select", "with", "insert", "update", "delete")


@dataclass(frozen=True)
class TableSize:
    """A table's production size, and where it comes from."""

    rows: float
    pages: float
    source: str  # "store <server>" | "config"


@dataclass(frozen=True)
class Node:
    """A sequential scan or a sort of a statement's test plan."""

    kind: str  # "seq-scan" | "sort"
    table: str  # schema.table (a sort: the largest production table under it)
    plan_rows: float  # the node's rows in the test plan
    width: int  # the node's row width in bytes
    table_rows: float  # the rows the planner assumed for the table in the test database
    served_by_index: bool = False  # seq scans: with enable_seqscan off, the planner reaches the table by an index
    filtered: bool = False  # seq scans: the node has a Filter
    under_limit: bool = False  # sorts: a Limit above it (a top-N sort keeps only the limit's rows)


@dataclass
class TestStatement:
    fingerprint: str
    queryid: str
    query: str
    calls: int
    mean_ms: float
    nodes: list[Node] = field(default_factory=list)
    plan: Any = None  # the generic test plan (EXPLAIN (FORMAT JSON) document); None when not planned

    @property
    def planned(self) -> bool:
        return self.plan is not None


@dataclass
class WorkloadFacts:
    """What `gather` read: the test statements, production sizes, the baseline's statements and costs."""

    dsn: str
    database: str
    statements: list[TestStatement]
    sizes: dict[str, TableSize]
    baseline: frozenset[str] | None
    costs: dict[str, float]
    notes: list[str] = field(default_factory=list)
    # the catalog the rules read (check's own read, passed through) and the server's text search configuration
    # (what the index advisor assumes for a `to_tsvector($n, col)`)
    schema: dict[str, Any] = field(default_factory=dict)
    ts_config: str | None = None
    search_path: list[str] = field(default_factory=lambda: ["public"])
    # what a rule cut short, by rule id (a statement cap, a time limit): `check` says it in its summary line
    limits: dict[str, str] = field(default_factory=dict)
    # plans → one prediction dict each (`predicted_ms`, `interval_ms`, `in_support`, ...): the query-time model
    # `check` loaded from the production store, passed in (advise may not import models, a sibling layer)
    predict: Callable[[list[Any]], list[dict[str, Any]]] | None = None
    model: str | None = None  # which model that is, e.g. "v3 (xgboost) of prod"

    @property
    def fingerprints(self) -> list[str]:
        """The statements' fingerprints, sorted: what a baseline stores as its `statements`."""
        return sorted({s.fingerprint for s in self.statements})

    def scale(self, node: Node) -> float:
        """Production rows ÷ the rows the planner assumed for the node's table in the test database."""
        size = self.sizes.get(node.table)
        return size.rows / max(node.table_rows, 1.0) if size else 1.0


def gather(dsn: str, *, production_store: str | None = None, server: str | None = None,
           rows: dict[str, float] | None = None, baseline_statements: Iterable[str] | None = None,
           max_statements: int = MAX_STATEMENTS, schema: dict[str, Any] | None = None,
           production_sizes: dict[str, TableSize] | None = None,
           predict: Callable[[list[Any]], list[dict[str, Any]]] | None = None, model: str | None = None
           ) -> WorkloadFacts:
    """Read the test database's statements and plans and the production sizes of their tables.

    `schema`: the catalog as `pg.catalog.read_schema` read it in this run (`check` reads it once: on
    2,000 tables a read costs a second or more); None reads it here. `production_sizes`: `store_sizes`
    of `production_store` read already (`check` reads it before connecting: a bad store fails first).
    `predict`, `model`: the production store's query-time model, when `check` loaded one.

    UsageError: a `production_store` that does not exist, holds no such server or no snapshot of it.
    CannotRun: pg_stat_statements is not created or readable in the test database."""
    from pgadvisor.advise.schema import SchemaView
    from pgadvisor.pg import catalog
    from pgadvisor.pg.connect import connect
    from pgadvisor.pg.guard import CodeGuard

    notes: list[str] = []
    production = production_sizes if production_sizes is not None else \
        store_sizes(production_store, server) if production_store else {}
    with connect(dsn) as conn:
        info = catalog.server_info(conn)
        state = catalog.pgss_state(conn)
        if not state.get("extversion"):
            raise CannotRun("pg_stat_statements is not created in the test database",
                            hint="CREATE EXTENSION pg_stat_statements (preloaded: shared_preload_libraries)")
        try:
            raw = catalog.pgss_statements(conn, state["extversion"], state["extschema"])
        except Exception as exc:  # noqa: BLE001 - not preloaded, or no privilege: one line
            raise CannotRun(f"pg_stat_statements cannot be read: {str(exc).splitlines()[0]}") from None
        conn.rollback()
        if schema is None:
            schema = catalog.read_schema(conn)
        path = catalog.search_path(conn)["path"] or ["public"]
        view = SchemaView(schema, path)
        costs = catalog.planner_costs(conn)
        ts_config = next((x["setting"] for x in catalog.settings(conn) if x["name"] == "default_text_search_config"),
                         None)
        guard = CodeGuard.from_rows(catalog.untrusted_code(conn))
        conn.rollback()
        sizes = dict(production)
        for table, n in (rows or {}).items():
            if table not in sizes:
                sizes[table] = TableSize(float(n), _declared_pages(view, table, float(n)), "config")
        statements = _statements(raw, int(info["dbid"]))
        if len(statements) > max_statements:
            notes.append(f"the workload rules read the {max_statements} statements of most total time of the "
                         f"{len(statements)} the tests ran")
            statements = statements[:max_statements]
        table_rows: dict[str, float] = {}
        for s in statements:
            s.nodes, s.plan = _nodes(conn, s.query, guard, view, table_rows, sizes)
    unplanned = sum(not s.planned for s in statements)
    if unplanned:
        notes.append(f"{unplanned} of {len(statements)} statements could not be planned (refused by the code "
                     "guard, or EXPLAIN failed): the workload rules did not read them")
    baseline = frozenset(baseline_statements) if baseline_statements is not None else None
    return WorkloadFacts(dsn, info["datname"], statements, sizes, baseline, costs, notes, schema, ts_config,
                         list(path), predict=predict, model=model)


def _statements(raw: list[dict[str, Any]], dbid: int) -> list[TestStatement]:
    """The application's statements in this database, one per fingerprint, by total time."""
    from pgadvisor.marker import is_own
    from pgadvisor.sql.fingerprint import fingerprint
    from pgadvisor.sql.parse import first_keyword

    out: dict[str, TestStatement] = {}
    for r in sorted(raw, key=lambda r: -float(r.get("total_exec_time") or 0)):
        text = r.get("query") or ""
        if int(r["dbid"]) != dbid or not r.get("toplevel", True) or is_own(text) or \
                first_keyword(text) not in _PLANNED:
            continue
        fp = fingerprint(text)
        calls = int(r.get("calls") or 0)
        s = out.get(fp)
        if s is None:
            out[fp] = TestStatement(fp, str(r["queryid"]), text, calls,
                                    float(r.get("total_exec_time") or 0) / max(calls, 1))
        else:
            s.calls += calls
    return list(out.values())


def _walk(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans") or []:
        yield from _walk(child)


def _with_parents(plan: dict[str, Any], parent: dict[str, Any] | None = None) -> Iterator[tuple[dict, dict | None]]:
    yield plan, parent
    for child in plan.get("Plans") or []:
        yield from _with_parents(child, plan)


def _table(view: Any, node: dict[str, Any]) -> str | None:
    name = node.get("Relation Name")
    return view.resolve(node.get("Schema"), name) if name else None


def _nodes(conn: Any, text: str, guard: Any, view: Any, table_rows: dict[str, float],
           sizes: dict[str, TableSize]) -> tuple[list[Node], Any]:
    """The sequential scans and sorts of one statement's generic test plan; (nodes, the plan or None when it
    could not be planned)."""
    from pgadvisor.pg import catalog
    from pgadvisor.pg.explain import explain_generic

    plan = explain_generic(conn, text, guard)
    conn.rollback()
    if not plan:
        return [], None
    root = plan[0]["Plan"]
    nodes: list[Node] = []
    seq_tables = set()
    for n, parent in _with_parents(root):
        table = _table(view, n)
        if n.get("Node Type") == "Seq Scan" and table:
            seq_tables.add(table)
            nodes.append(Node("seq-scan", table, float(n.get("Plan Rows") or 0), int(n.get("Plan Width") or 0),
                              _planner_rows(conn, guard, table, table_rows), filtered="Filter" in n))
        elif n.get("Node Type") in ("Sort", "Incremental Sort"):
            under = [t for t in (_table(view, c) for c in _walk(n)) if t]
            if under:
                big = max(under, key=lambda t: sizes[t].rows if t in sizes else 0.0)
                nodes.append(Node("sort", big, float(n.get("Plan Rows") or 0), int(n.get("Plan Width") or 0),
                                  _planner_rows(conn, guard, big, table_rows),
                                  under_limit=(parent or {}).get("Node Type") == "Limit"))
    if seq_tables:
        probe = catalog.explain_with(conn, text, guard, {"enable_seqscan": "off"})
        conn.rollback()
        still = {t for n in _walk(probe[0]["Plan"]) if n.get("Node Type") == "Seq Scan"
                 for t in [_table(view, n)] if t} if probe else seq_tables
        nodes = [replace(n, served_by_index=n.table not in still) if n.kind == "seq-scan" else n for n in nodes]
    return nodes, plan


def _planner_rows(conn: Any, guard: Any, table: str, cache: dict[str, float]) -> float:
    """The rows the planner assumes for the whole test table (its estimate for `SELECT * FROM table`)."""
    if table not in cache:
        from psycopg import sql

        from pgadvisor.pg.explain import explain_generic

        schema, _, name = table.partition(".")
        text = sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(name)).as_string(conn)
        plan = explain_generic(conn, text, guard)
        conn.rollback()
        cache[table] = float(plan[0]["Plan"].get("Plan Rows") or 1) if plan else 1.0
    return cache[table]


def _declared_pages(view: Any, table: str, rows: float) -> float:
    """Pages of `rows` rows of `table`: the test table's bytes per row when it has rows, else its columns' widths."""
    rel = view.relations.get(table) or {}
    if float(rel.get("reltuples") or 0) > 0 and float(rel.get("relpages") or 0) > 0:
        return rows * float(rel["relpages"]) / float(rel["reltuples"])
    width = sum(int(c.get("avg_width") or DEFAULT_COLUMN_BYTES) for c in view.columns.get(table, {}).values())
    return rows * (width + TUPLE_OVERHEAD_BYTES) / PAGE_BYTES


def store_sizes(location: str, server: str | None) -> dict[str, TableSize]:
    """The production size of every table in the latest snapshot of `server` in the store at `location`."""
    from pgadvisor.store.api import open_store
    from pgadvisor.workload import pick_server

    if "://" not in location and not Path(location).exists():
        raise UsageError(f"--production-store: no store at {location}")
    with open_store(location, read_only=True) as store:
        name = pick_server(store, server, none_yet=f"--production-store: {location} holds no snapshots yet")
        sid = store.server_id(name)
        if sid is None:
            raise UsageError(f"--production-store: {location} holds no server {name!r} "
                             f"(servers: {', '.join(store.servers()) or 'none'})")
        relations = store.parts(sid, kinds=("relations",)).get("relations")
    if not relations:
        raise UsageError(f"--production-store: {location} holds no snapshot of {name!r} with table sizes "
                         "(run `pgadvisor collect` against production)")
    return {f"{r['schema']}.{r['name']}": TableSize(max(float(r.get("reltuples") or 0), 0.0),
                                                    float(r.get("relpages") or 0), f"store {name}")
            for r in relations}

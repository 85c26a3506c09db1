"""Plan features: an `EXPLAIN (FORMAT JSON)` plan flattened to one row of numbers, and the training table
(plans joined with the measured mean times of pg_stat_statements over the store's intervals).

A plan is only estimates (no ANALYZE): per operator (node type, with the aggregate/set-op strategy) its
count, estimated rows × loops, own cost × loops (its total cost less its children's) and widest row; over
the whole plan the root's total and startup cost, rows and width, node count, depth, joins, index and
sequential scans, parallel workers, sub-plans, the largest loop count and the bytes scanned. Loops are
estimated: a nested loop runs its inner side once per outer row, a correlated sub-plan once per row of its
parent. Every sum goes through log1p: costs and rows span ten orders of magnitude.

Besides the numbers, each row carries what the in-support gate compares with training (`operators`,
`access_paths`: node type, relation and index of every scan) and the statement it belongs to (`statement`,
for the B0 baseline).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported where a frame is built: pgadvisor.cli must start fast
    import pandas as pd

    from pgadvisor.store.api import Store

# the columns of a frame that are not features
META = ("statement", "ms", "calls", "seq", "plan_hash", "operators", "access_paths", "op_costs", "template", "design")
SCAN_TYPES = ("Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Bitmap Index Scan", "Tid Scan",
              "Tid Range Scan", "Function Scan", "Values Scan", "CTE Scan", "Subquery Scan")
JOIN_TYPES = ("Nested Loop", "Hash Join", "Merge Join")
INDEX_TYPES = ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
# the operators of LIKE, ILIKE and regular-expression matches as EXPLAIN prints them (~~ is LIKE)
PATTERN_MATCH = re.compile(r"~~|~\*|!~| ~ ")
# a statement needs this many calls in an interval for its mean time to count as a measurement: one call's
# time is as noisy as it gets, but pg_stat_statements cannot tell us more (pgadvisor's choice)
MIN_CALLS = 1


@dataclass
class FlatPlan:
    """One plan flattened: its features, the operators and access paths it uses."""

    features: dict[str, float] = field(default_factory=dict)
    operators: set[str] = field(default_factory=set)
    access_paths: set[str] = field(default_factory=set)
    # the root's total cost split over operator categories (operator_cost.category), summing to it
    op_costs: dict[str, float] = field(default_factory=dict)


def operator(node: dict[str, Any]) -> str:
    """The operator's name: its node type, with the strategy of aggregates and set operations."""
    kind = node.get("Node Type", "?")
    strategy = node.get("Strategy")
    return f"{kind} {strategy}" if strategy and kind in ("Aggregate", "SetOp") else kind


def category(node: dict[str, Any]) -> str:
    """The operator-cost category of a node: its operator, marked ` +like` when its filter matches a pattern
    (LIKE, ILIKE, regular expressions: per row far dearer than the planner's one cpu_operator_cost)."""
    filters = f"{node.get('Filter', '')} {node.get('Join Filter', '')}"
    return f"{operator(node)} +like" if PATTERN_MATCH.search(filters) else operator(node)


def access_path(node: dict[str, Any]) -> str | None:
    """`node type:relation:index` of a scan that names a relation or an index, else None."""
    rel, idx = node.get("Relation Name"), node.get("Index Name")
    if rel is None and idx is None:
        return None
    return f"{node.get('Node Type')}:{rel or ''}:{idx or ''}"


def _root(plan: Any) -> dict[str, Any]:
    if isinstance(plan, list):
        plan = plan[0]
    return plan.get("Plan", plan)


def flatten(plan: Any) -> FlatPlan:
    """An `EXPLAIN (FORMAT JSON)` document (or its root node) as one row of features."""
    root = _root(plan)
    flat = FlatPlan()
    raw: dict[str, float] = {}
    stats = {"n_nodes": 0, "depth": 0, "max_loops": 1.0, "workers": 0, "subplans": 0, "bytes": 0.0,
             "leaf_rows": 0.0}

    def add(key: str, value: float) -> None:
        raw[key] = raw.get(key, 0.0) + value

    def walk(node: dict[str, Any], loops: float, depth: int, counted: bool) -> None:
        op = operator(node)
        flat.operators.add(op)
        path = access_path(node)
        if path:
            flat.access_paths.add(path)
        children = node.get("Plans", [])
        rows = float(node.get("Plan Rows", 0) or 0)
        own = max(0.0, float(node.get("Total Cost", 0) or 0)
                  - sum(float(c.get("Total Cost", 0) or 0) for c in children
                        if c.get("Parent Relationship") not in ("InitPlan", "SubPlan")))
        width = float(node.get("Plan Width", 0) or 0)
        if counted:  # a sub-plan's cost is inside its parent's own cost already
            key = category(node)
            flat.op_costs[key] = flat.op_costs.get(key, 0.0) + own
        stats["n_nodes"] += 1
        stats["depth"] = max(stats["depth"], depth)
        stats["max_loops"] = max(stats["max_loops"], loops)
        stats["workers"] = max(stats["workers"], int(node.get("Workers Planned", 0) or 0))
        stats["bytes"] += rows * loops * width
        if not children:
            stats["leaf_rows"] += rows * loops
        add(f"n[{op}]", 1)
        add(f"rows[{op}]", rows * loops)
        add(f"cost[{op}]", own * loops)
        raw[f"width[{op}]"] = max(raw.get(f"width[{op}]", 0.0), width)
        outer_rows = 1.0
        for child in children:
            rel = child.get("Parent Relationship")
            child_loops = loops
            if rel == "Inner" and node.get("Node Type") == "Nested Loop":
                child_loops = loops * max(outer_rows, 1.0)
            elif rel == "SubPlan":
                stats["subplans"] += 1
                child_loops = loops * max(rows, 1.0)
            elif rel == "InitPlan":
                stats["subplans"] += 1
                child_loops = 1.0
            if rel == "Outer":
                outer_rows = float(child.get("Plan Rows", 0) or 0)
            walk(child, child_loops, depth + 1, counted and rel not in ("InitPlan", "SubPlan"))

    walk(root, 1.0, 1, True)
    f = flat.features
    f["total_cost"] = math.log1p(float(root.get("Total Cost", 0) or 0))
    f["startup_cost"] = math.log1p(float(root.get("Startup Cost", 0) or 0))
    f["plan_rows"] = math.log1p(float(root.get("Plan Rows", 0) or 0))
    f["plan_width"] = float(root.get("Plan Width", 0) or 0)
    f["n_nodes"] = stats["n_nodes"]
    f["depth"] = stats["depth"]
    f["n_joins"] = sum(raw.get(f"n[{j}]", 0) for j in JOIN_TYPES)
    f["n_scans"] = sum(raw.get(f"n[{s}]", 0) for s in SCAN_TYPES)
    f["n_index_scans"] = sum(raw.get(f"n[{s}]", 0) for s in INDEX_TYPES)
    f["n_indexes"] = len({p.rsplit(":", 1)[1] for p in flat.access_paths if not p.endswith(":")})
    f["workers"] = stats["workers"]
    f["subplans"] = stats["subplans"]
    f["max_loops"] = math.log1p(stats["max_loops"])
    f["bytes"] = math.log1p(stats["bytes"])
    f["leaf_rows"] = math.log1p(stats["leaf_rows"])
    for key, value in raw.items():
        f[key] = value if key.startswith(("n[", "width[")) else math.log1p(value)
    return flat


def plan_frame(plans: list[Any], extra: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """One row per plan: its features (0 where an operator is absent) and, from `extra`, meta columns."""
    import pandas as pd

    rows = []
    flats: dict[int, FlatPlan] = {}  # the same plan document serves many intervals: flatten it once
    for i, plan in enumerate(plans):
        flat = flats.get(id(plan)) or flats.setdefault(id(plan), flatten(plan))
        row: dict[str, Any] = dict(flat.features)
        row["operators"] = frozenset(flat.operators)
        row["access_paths"] = frozenset(flat.access_paths)
        row["op_costs"] = flat.op_costs
        if extra is not None:
            row.update(extra[i])
        rows.append(row)
    frame = pd.DataFrame(rows)
    feats = feature_columns(frame)
    frame[feats] = frame[feats].fillna(0.0).astype(float)
    return frame


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The feature columns of a frame, in their order."""
    return [c for c in frame.columns if c not in META]


def training_frame(store: Store, server: str, since: float | None = None, until: float | None = None) -> pd.DataFrame:
    """Plans the store holds for `server`, joined with each statement's mean time per interval in the window.

    The per-interval deltas come from the store's series read (`Store.interval_series`, running totals per
    statement); an interval the series marks as a gap for the statement (a reset or an eviction inside it,
    or its first interval back after one: partial deltas) is left out. One row per (statement, interval) in
    which the statement ran (calls ≥ MIN_CALLS) and a plan of it is known: the newest plan stored at or
    before the interval's end, else the statement's first plan (it was read at the end of the first interval
    it ran in). `ms` is total_exec_time / calls of the interval, `calls` its weight.
    """
    import pandas as pd

    from pgadvisor.errors import UsageError

    sid = store.server_id(server)
    if sid is None:
        raise UsageError(f"no server {server!r} in the store (see `pgadvisor snapshots`)")
    seqs = store.window_seqs(sid, since, until)
    plans = store.statement_plans(sid)  # key → [(seq, plan_hash, plan)] ascending
    if seqs is None or not plans:
        return pd.DataFrame()
    raw = store.interval_series(sid, *seqs, counters=("calls", "total_exec_time"), with_server=False)
    deltas = _interval_deltas(raw, seqs[0])
    keys = {s["statement_id"]: (s["queryid"], s["userid"], s["dbid"], s["toplevel"]) for s in raw["statements"]}
    extra, docs = [], []
    for st_id, seq, calls, exec_ms in deltas.itertuples(index=False):
        known = plans.get(keys.get(st_id))
        if not known or calls < MIN_CALLS:
            continue
        _, phash, plan = next((p for p in reversed(known) if p[0] <= seq), known[0])
        docs.append(plan)
        extra.append({"statement": keys[st_id][0], "ms": exec_ms / calls, "calls": int(calls), "seq": int(seq),
                      "plan_hash": phash})
    return plan_frame(docs, extra) if docs else pd.DataFrame()


def _interval_deltas(raw: dict[str, Any], lo: int) -> pd.DataFrame:
    """(statement_id, seq, calls, total_exec_time) per interval inside the window from the series' running
    totals, without the gap intervals. (analyze/series.py does the same for the analyzers; models may not
    import analyze, a sibling layer.)"""
    import pandas as pd

    t = pd.DataFrame(raw["totals"], columns=list(raw["columns"])).sort_values(["statement_id", "seq"])
    diff = t.groupby("statement_id")[["calls", "total_exec_time"]].diff()
    t[["calls", "total_exec_time"]] = diff.fillna(t[["calls", "total_exec_time"]])
    t = t[t["seq"] >= lo]
    gaps = {(g[0], g[1]) for g in raw["gaps"]}
    bad = t.apply(lambda r: (r["statement_id"], r["seq"]) in gaps or (None, r["seq"]) in gaps, axis=1) \
        if gaps and len(t) else pd.Series(False, index=t.index)
    return t[~bad][["statement_id", "seq", "calls", "total_exec_time"]]

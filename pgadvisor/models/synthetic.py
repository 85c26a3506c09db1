"""A small synthetic plan table: for `pgadvisor plugins --check` and the tests (no server needed).

Plans of one aggregate over a sequential or an index scan whose time follows their cost, with a seeded
log-normal noise. The index scans take three times what their cost says (a per-operator factor learns that:
operator_cost.py), and every plan takes longer with the rows it reads, up to three times, which its cost
does not count (a learned model finds that, no cost factor can)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

NOISE_SIGMA = 0.05  # log-normal noise of the synthetic times
ROWS_SLOWDOWN = 5e3  # the time grows by (1 + rows / ROWS_SLOWDOWN), rows up to 1e4


def synthetic_plan(cost: float, rows: float, index: bool, relation: str = "t") -> list[dict[str, Any]]:
    """An `EXPLAIN (FORMAT JSON)`-shaped plan: a hashed aggregate over one scan."""
    scan: dict[str, Any] = {"Node Type": "Index Scan" if index else "Seq Scan", "Relation Name": relation,
                            "Parent Relationship": "Outer", "Startup Cost": 0.0, "Total Cost": cost,
                            "Plan Rows": rows, "Plan Width": 20}
    if index:
        scan["Index Name"] = f"{relation}_idx"
    return [{"Plan": {"Node Type": "Aggregate", "Strategy": "Hashed", "Startup Cost": cost, "Total Cost": cost * 1.1,
                      "Plan Rows": 10, "Plan Width": 8, "Plans": [scan]}}]


def plan_table(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """`n` synthetic plans with their times (ms), seven statements, one interval per row."""
    import numpy as np

    from pgadvisor.models.features import plan_frame

    rng = np.random.default_rng(seed)
    plans, extra = [], []
    for i in range(n):
        cost, rows, index = float(rng.uniform(10, 1e5)), float(rng.uniform(1, 1e4)), i % 3 == 0
        plans.append(synthetic_plan(cost, rows, index))
        ms = cost / 100 * (3 if index else 1) * (1 + rows / ROWS_SLOWDOWN) * float(rng.lognormal(0, NOISE_SIGMA))
        extra.append({"statement": f"s{i % 7}", "ms": ms, "calls": 1, "seq": i, "plan_hash": f"p{i}"})
    return plan_frame(plans, extra)

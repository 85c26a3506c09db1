"""A per-query index baseline with Dexter's rules (ankane/dexter), for the index advisor benchmark.

For each statement alone (no workload view, no storage budget, no write cost):

1. its cost without new indexes; statements cheaper than `min_cost` (Dexter: 100) are left alone;
2. hypothetical single-column B-trees on every column of its tables that it references → cost1;
3. in addition, every 2-column permutation of those columns (Dexter's multicolumn round) → cost2;
4. Dexter's decision: the single-column round wins when cost1 < 50% of the cost; the 2-column round
   when cost1 > 100 and cost2 < 50% of cost1; the index(es) the winning plan uses are the suggestion;
   when the 2-column plan uses more than one index the single-column plan is taken instead, and a
   suggestion of more than one index is dropped: at most one index per statement.

The suggestions of all statements are merged (one index can serve several statements). Dexter has no
budget: `truncate_to_budget` adds them in order of total saving while they fit, so the baseline can
be shown at every budget of the benchmark.

The costing object is passed in (`coster`, from bench_index_advisor.py), so the three methods of the
benchmark are costed the same way: hypopg + generic plans.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

MIN_COST = 100.0
MIN_SAVINGS = 0.5


@dataclass
class DexterIndex:
    table: str
    columns: tuple[str, ...]
    statements: list[str] = field(default_factory=list)
    saving: float = 0.0  # Σ calls × (cost − cost with it) over the statements it was suggested for

    @property
    def body(self) -> str:
        return f"ON public.{self.table} USING btree ({', '.join(self.columns)})"


def dexter_like(coster, statements: list[Any], *, min_cost: float = MIN_COST, min_savings: float = MIN_SAVINGS,
                multicolumn: bool = True) -> tuple[list[DexterIndex], dict[str, Any]]:
    """`statements`: objects with .key, .text, .calls and .columns ({table: [columns]}, referenced columns)."""
    t0 = time.monotonic()
    calls0 = coster.calls
    found: dict[tuple[str, tuple[str, ...]], DexterIndex] = {}
    decisions: list[dict[str, Any]] = []
    max_hypo = 0
    for st in statements:
        coster.reset()
        base = coster.cost(st.text)
        if base is None or base < min_cost:
            decisions.append({"statement": st.key, "decision": "skipped", "cost": base})
            continue
        singles = {}
        for table, cols in st.columns.items():
            for c in cols:
                oid = coster.hypo_create(f"CREATE INDEX ON public.{table} ({c})")
                if oid is not None:
                    singles[oid] = (table, (c,))
        cost1, used1 = coster.cost_and_used(st.text)
        everything = dict(singles)
        if multicolumn:
            for table, cols in st.columns.items():
                for a, b in itertools.permutations(cols, 2):
                    oid = coster.hypo_create(f"CREATE INDEX ON public.{table} ({a}, {b})")
                    if oid is not None:
                        everything[oid] = (table, (a, b))
            cost2, used2 = coster.cost_and_used(st.text)
        else:
            cost2, used2 = cost1, used1
        max_hypo = max(max_hypo, len(everything))
        coster.reset()
        if cost1 is None or cost2 is None:
            decisions.append({"statement": st.key, "decision": "explain failed"})
            continue
        savings1 = cost1 < base * min_savings
        savings2 = cost1 > 100 and cost2 < cost1 * min_savings
        used, new_cost = (used2, cost2) if savings2 else (used1, cost1)
        if savings2 and len(used) > 1:
            used, new_cost, savings2 = used1, cost1, False
        suggest = (savings1 or savings2) and len(used) == 1
        dec = {"statement": st.key, "cost": base, "cost1": cost1, "cost2": cost2, "used": len(used)}
        if suggest:
            table, cols = everything[next(iter(used))]
            d = found.setdefault((table, cols), DexterIndex(table, cols))
            d.statements.append(st.key)
            d.saving += st.calls * (base - new_cost)
            dec["decision"] = f"{table}({', '.join(cols)})"
        else:
            dec["decision"] = "none" if not (savings1 or savings2) else f"{len(used)} indexes used: dropped"
        decisions.append(dec)
    indexes = sorted(found.values(), key=lambda d: -d.saving)
    stats = {"seconds": round(time.monotonic() - t0, 3), "whatif_calls": coster.calls - calls0,
             "max_hypothetical_at_once": max_hypo, "decisions": decisions}
    return indexes, stats


def truncate_to_budget(indexes: list[DexterIndex], sizes: dict[str, int], budget_bytes: float) -> list[DexterIndex]:
    """Dexter's suggestions in order of total saving, while they fit into the budget."""
    out, used = [], 0
    for d in sorted(indexes, key=lambda d: -d.saving):
        s = sizes.get(d.body) or 0
        if used + s <= budget_bytes:
            out.append(d)
            used += s
    return out

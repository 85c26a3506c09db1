"""Calibrated operator cost: the optimizer's total cost, split over the plan's operators, each share scaled by
its operator's own fitted factor.

B1 scales the whole cost by one factor: it is right only where every operator's cost units take the same
time. They do not: a hash join's cpu_operator_cost, a LIKE filter's and a page read cost different times on
one machine. Here the root's total cost is split into the own costs of its operators (features.FlatPlan.
op_costs: a node's total less its children's, sub-plans counted inside their parent; the shares sum to the
total) and the time is

    ms = Σ_category share × f · exp(θ_category)

with f the one factor of B1 and θ fitted in log space (scipy's least_squares, soft-L1 loss) with a ridge
pull towards 0. θ = 0 everywhere is B1, and so is an operator category training never saw: this stays a
calibrated cost, linear in the planner's estimates, and does not fall off a learned table's edge on a plan
unlike the training plans (the in-support gate's fallback; query_time.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# the ridge weight pulling each category's log factor towards B1's one factor, per row and category: picked
# among 0.03, 0.1 and 0.3 on the issue-13 benchmark (docs/benchmarks.md), where 0.1 was best or within
# noise of the best on every split
RIDGE = 0.1
# the soft-L1 loss's scale, in log units: errors beyond a factor of 1.65 count linearly, so that a few
# statements the planner misestimates badly do not set the factors of everyone (pgadvisor's choice)
LOSS_SCALE = 0.5
COST_FLOOR = 1e-2  # a plan's cost is floored here (a Result node costs 0.01); B1 and B2 floor it likewise
MAX_EVALUATIONS = 500  # least_squares' budget (converges in well under 100 on the benchmark)


def matrix(op_costs: list[dict[str, float]], categories: list[str]) -> np.ndarray:
    """The rows' shares in the columns of `categories` (a share of another category is left out)."""
    import numpy as np

    index = {c: j for j, c in enumerate(categories)}
    X = np.zeros((len(op_costs), len(categories)))
    for i, shares in enumerate(op_costs):
        for c, v in shares.items():
            j = index.get(c)
            if j is not None:
                X[i, j] = v
    return X


@dataclass
class OperatorCost:
    """A fitted calibrated operator cost: B1's log factor and each category's log correction to it."""

    log_factor: float = 0.0
    log_weights: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(cls, op_costs: list[dict[str, float]], lms: np.ndarray) -> OperatorCost:
        """Fit on the rows' operator shares and their log times (ms)."""
        import numpy as np
        from scipy.optimize import least_squares

        categories = sorted({c for shares in op_costs for c, v in shares.items() if v > 0})
        X = matrix(op_costs, categories)
        total = np.maximum(X.sum(axis=1), COST_FLOOR)
        factor = float(np.median(lms - np.log(total))) if len(lms) else 0.0
        if not categories or len(lms) < 2:
            return cls(factor, {})
        pull = RIDGE * np.sqrt(len(lms) / len(categories))
        floor = COST_FLOOR * np.exp(factor)

        def residuals(theta: np.ndarray) -> np.ndarray:
            pred = X @ np.exp(factor + theta)
            return np.concatenate([np.log(np.maximum(pred, floor)) - lms, pull * theta])

        fitted = least_squares(residuals, np.zeros(len(categories)), loss="soft_l1", f_scale=LOSS_SCALE,
                               max_nfev=MAX_EVALUATIONS)
        return cls(factor, {c: float(t) for c, t in zip(categories, fitted.x)})

    def predict_log(self, op_costs: list[dict[str, float]]) -> np.ndarray:
        """log ms per row; a category not seen in training is scaled by B1's factor."""
        import numpy as np

        out = np.empty(len(op_costs))
        for i, shares in enumerate(op_costs):
            units = sum(v * np.exp(self.log_weights.get(c, 0.0)) for c, v in shares.items())
            out[i] = self.log_factor + np.log(max(units, COST_FLOOR))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"log_factor": self.log_factor, "log_weights": dict(self.log_weights)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OperatorCost:
        return cls(float(d["log_factor"]), {str(k): float(v) for k, v in d["log_weights"].items()})

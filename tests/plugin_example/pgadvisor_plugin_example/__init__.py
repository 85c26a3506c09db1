"""An example pgadvisor plugin package: one model, two analyzers (one raises on purpose), and a module
that fails to import on purpose (`broken`), so the tests see each way a plugin behaves."""

from __future__ import annotations

import json
import math


class CostFactorModel:
    """Time = total cost × one factor (the geometric mean of ms / cost over the training rows)."""

    def __init__(self, factor: float | None = None):
        self.factor = factor

    def fit(self, frame) -> CostFactorModel:
        ratios = [math.log(max(ms, 1e-3)) - math.log(max(math.expm1(c), 1e-2))
                  for ms, c in zip(frame["ms"], frame["total_cost"])]
        self.factor_ = math.exp(sum(ratios) / len(ratios))
        return self

    def predict(self, frame) -> list[float]:
        return [max(math.expm1(c), 1e-2) * self.factor_ for c in frame["total_cost"]]

    def save(self) -> bytes:
        return json.dumps({"factor": self.factor_}).encode()

    @classmethod
    def load(cls, data: bytes) -> CostFactorModel:
        model = cls()
        model.factor_ = float(json.loads(data)["factor"])
        return model


def count_statements(workload) -> list[dict]:
    """One finding: how many statements the workload holds."""
    return [{"rule": "statement-count", "server": workload.server, "statements": len(workload.statements)}]


def always_raises(workload) -> list[dict]:
    raise RuntimeError("this analyzer fails on purpose")

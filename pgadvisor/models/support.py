"""The learned model's support in feature space: how far a plan lies from the plans the model was trained on,
and the radius within which its learned correction is trusted.

A tree ensemble is a lookup of what it has seen: on a plan identical or close to a training plan it is far
better than the cost; a plan far from all of them falls into leaves learned from other plans, and there it
can be worse than the cost (measured: trained on one index design, the plans of the other design that the
trees had not seen were 2–5× off where the calibrated cost was 1.4×; docs/benchmarks.md, issue 13). So the
gate measures the distance from a plan to its nearest training plan (Euclidean, each feature scaled by its
spread in training) and trusts the model only within a radius.

The radius is not a guess: `best_radius` picks it as the distance up to which the learned model's mean
|log error| beat the fallback's (query_time.py), on held-out rows of the training data — held-out runs of
the statements seen (`QueryTimeModel.fit`), and held-out *statements* in grouped folds (what a statement
production has not run yet looks like; `QueryTimeModel._fit_fallback`). Nothing of the test data is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# a feature's spread is floored here (log1p units) before scaling by it: a feature nearly constant in
# training would otherwise make any small change an enormous distance (pgadvisor's choice: half a log unit,
# a factor of 1.6 in rows or cost, is about the noise of the planner's estimates)
SCALE_FLOOR = 0.5
VALIDATION_FOLDS = 3  # grouped folds over statements that pick the radius (3: each fit costs one training)
MIN_GROUPS = 3  # fewer statements than this: no held-out statements to learn a radius from
CHUNK = 2048  # rows per block of the distance computation (bounds the memory of the distance matrix)


@dataclass
class Support:
    """The distinct training plans, scaled, and two radii: `radius_seen` for a plan of a statement seen in
    training (picked on held-out rows of those statements), `radius_new` for a statement not seen (picked on
    held-out statements). A plan whose statement is not known gets the smaller. None: no limit."""

    points: np.ndarray
    scale: np.ndarray
    radius_seen: float | None = None
    radius_new: float | None = None
    statements: frozenset[str] = frozenset()
    # the points in float64 and their squared norms, made at the first `distance` (predict asks per plan)
    _P: np.ndarray | None = field(default=None, init=False, repr=False)
    _pp: np.ndarray | None = field(default=None, init=False, repr=False)

    @classmethod
    def build(cls, X: np.ndarray) -> Support:
        import numpy as np

        scale = np.maximum(X.std(axis=0), SCALE_FLOOR)
        points = np.unique((X / scale).astype(np.float32), axis=0)
        return cls(points, scale.astype(np.float64))

    def distance(self, X: np.ndarray) -> np.ndarray:
        """Each row's distance to the nearest training plan."""
        import numpy as np

        if self._pp is None:
            self._P = self.points.astype(np.float64)
            self._pp = (self._P * self._P).sum(axis=1)
        P, pp = self._P, self._pp
        out = np.empty(len(X))
        for lo in range(0, len(X), CHUNK):
            B = X[lo:lo + CHUNK] / self.scale
            d2 = (B * B).sum(axis=1)[:, None] + pp[None, :] - 2.0 * (B @ P.T)
            out[lo:lo + CHUNK] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
        return out

    def radius(self, statement: Any = None) -> tuple[float | None, str]:
        """The radius for a plan of `statement` (None: not known) and what it was picked on."""
        if statement is not None and str(statement) in self.statements:
            return self.radius_seen, "held-out runs of the statements seen"
        if statement is not None:
            return self.radius_new, "held-out statements"
        radii = [r for r in (self.radius_seen, self.radius_new) if r is not None]
        return (min(radii) if radii else None), "held-out runs and statements"


def best_radius(distance: np.ndarray, model_err: np.ndarray, fallback_err: np.ndarray) -> float:
    """The radius that minimises the mean |log error| when rows within it get the model and the others the
    fallback; the smallest such radius on ties (0 when the fallback is better everywhere)."""
    import numpy as np

    if not len(distance):
        return 0.0
    order = np.argsort(distance, kind="stable")
    d, em, ef = distance[order], model_err[order], fallback_err[order]
    # loss[k]: the first k rows (the nearest) get the model, the rest the fallback
    loss = np.concatenate([[ef.sum()], np.cumsum(em) + (ef.sum() - np.cumsum(ef))])
    # a radius separates rows only between two distinct distances
    valid = np.concatenate([[True], np.append(d[1:] > d[:-1], True)])
    loss = np.where(valid, loss, np.inf)
    k = int(np.argmin(loss))
    return float(d[k - 1]) if k else 0.0

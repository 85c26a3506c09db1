"""The query-time model: a learned correction on top of the optimizer's cost, gated by what it has seen.

Prediction, in log milliseconds: the log-log fit of total cost (baseline B2) plus a tree ensemble's
correction learned from the plan's features (xgboost by default; scikit-learn's random forest or gradient
boosting on request). Learning the residual rather than the time keeps an unseen, larger cost on the cost's
own slope instead of the trees' last leaf.

In-support gate (after Stage, Redshift, and zero-shot cost models, Hilprecht & Binnig): a plan with an
operator, an access path (scan type, relation, index) or a total cost outside what training saw, or too far
from every training plan (support.py), gets the fallback instead, with `in_support = False` and the reasons.
The fallback is the calibrated operator cost (operator_cost.py: the total cost split over its operators,
each scaled by its own fitted factor), blended in log space with the learned model's answer by the weight
`blend_` that did best on held-out statements of the training rows (BLEND_WEIGHTS; 0: the operator cost
alone). A model stored before the operator cost falls back to B1 (total cost × one fitted factor).

Interval: split-conformal. `fit` holds out CALIBRATION_SHARE of the rows, fits on the rest, and takes the
(1 − coverage)/2 and (1 + coverage)/2 quantiles of the held-out log residuals; then it refits on all rows.
The fallback's interval comes from its residuals on held-out statements (on the training rows when there
are too few statements to hold any out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pgadvisor.models.features import FlatPlan, feature_columns
from pgadvisor.models.operator_cost import COST_FLOOR, OperatorCost
from pgadvisor.models.support import MIN_GROUPS, VALIDATION_FOLDS, Support, best_radius

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    Plans = pd.DataFrame | list[FlatPlan]  # a plan frame (features.plan_frame) or flattened plans

KINDS = ("xgboost", "forest", "gbm")
# Hyper-parameters: common starting points of each library's documentation, not tuned on the benchmark
# (xgboost's learning rate 0.05 with a few hundred shallow trees; scikit-learn's defaults otherwise).
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "xgboost": {"n_estimators": 400, "max_depth": 6, "learning_rate": 0.05, "subsample": 0.8,
                "colsample_bytree": 0.8, "min_child_weight": 2.0},
    "forest": {"n_estimators": 200, "min_samples_leaf": 2, "max_features": 0.5, "max_depth": 16},
    "gbm": {"n_estimators": 300, "max_depth": 4, "learning_rate": 0.05, "subsample": 0.8},
}
COVERAGE = 0.9  # the interval's nominal coverage
CALIBRATION_SHARE = 0.2  # rows held out inside fit for the interval
MIN_CALIBRATION_ROWS = 10  # fewer held-out rows than this: the interval comes from the training residuals
# a total cost this many times above the largest (or below the smallest) seen in training is out of support:
# the trees' correction is flat beyond the data (pgadvisor's choice; the index-design benchmark's p99 with
# 1.5, 2 and 4 differed by less than its noise)
COST_SLACK = 2.0
MIN_MS = 1e-3  # times are floored here before taking logs (pg_stat_statements rounds to µs)
# the learned model's weights in the fallback's log-space blend with the operator cost, tried on held-out
# statements (quarters: finer steps would fit the folds' noise). Never 1: out of support the model is
# extrapolating further than held-out statements of its own training data do (measured: a new index design,
# docs/benchmarks.md issue 13), so the fallback always keeps the calibrated cost in it (pgadvisor's choice)
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75)
TOP_CONTRIBUTIONS = 5
# threads per fit: one, since on the shared 2-core bench machine two threads took 3× longer than one
# (docs/benchmarks.md, issue 13); xgboost and scikit-learn also take more on a free machine
N_JOBS = 1


def log_cost(frame: pd.DataFrame) -> np.ndarray:
    """log of each row's total cost (the `total_cost` feature is its log1p)."""
    import numpy as np

    return np.log(np.maximum(np.expm1(frame["total_cost"].to_numpy(float)), COST_FLOOR))


def log_ms(ms: Any) -> np.ndarray:
    import numpy as np

    return np.log(np.maximum(np.asarray(ms, dtype=float), MIN_MS))


def q_error(pred_ms: Any, true_ms: Any) -> np.ndarray:
    """max(pred/true, true/pred) per row."""
    import numpy as np

    d = np.abs(log_ms(pred_ms) - log_ms(true_ms))
    return np.exp(d)


@dataclass
class Baselines:
    """B1 (cost × one factor) and B2 (log-log fit of cost), fitted on training rows."""

    b1_log_factor: float = 0.0
    b2_intercept: float = 0.0
    b2_slope: float = 1.0

    @classmethod
    def fit(cls, lcost: np.ndarray, lms: np.ndarray) -> Baselines:
        import numpy as np

        # the median log ratio: the one factor that minimises the median q-error
        factor = float(np.median(lms - lcost))
        if len(set(np.round(lcost, 9))) > 1:
            slope, intercept = np.polyfit(lcost, lms, 1)
        else:
            slope, intercept = 1.0, factor
        return cls(factor, float(intercept), float(slope))

    def b1(self, lcost: np.ndarray) -> np.ndarray:
        return lcost + self.b1_log_factor

    def b2(self, lcost: np.ndarray) -> np.ndarray:
        return self.b2_intercept + self.b2_slope * lcost


@dataclass
class Prediction:
    """One plan's prediction."""

    predicted_ms: float
    interval_ms: tuple[float, float]
    in_support: bool
    reasons: list[str] = field(default_factory=list)
    contributions: list[dict[str, Any]] = field(default_factory=list)
    baseline_ms: float = 0.0  # the calibrated cost (B1)
    fallback_ms: float = 0.0  # the out-of-support answer (what `fallback` names)
    fallback: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"predicted_ms": round(self.predicted_ms, 4),
                "interval_ms": [round(self.interval_ms[0], 4), round(self.interval_ms[1], 4)],
                "in_support": self.in_support, "out_of_support_reasons": self.reasons,
                "contributions": self.contributions, "calibrated_cost_ms": round(self.baseline_ms, 4),
                "fallback_ms": round(self.fallback_ms, 4), "fallback": self.fallback}


def make_estimator(kind: str, params: dict[str, Any], random_state: int) -> Any:
    """An unfitted regressor of `kind` with `params` over the defaults."""
    if kind not in KINDS:
        raise ValueError(f"unknown model {kind!r}: one of {', '.join(KINDS)}")
    merged = {**DEFAULT_PARAMS[kind], **params}
    if kind == "xgboost":
        import xgboost

        return xgboost.XGBRegressor(**merged, random_state=random_state, n_jobs=N_JOBS, tree_method="hist")
    if kind == "forest":
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(**merged, random_state=random_state, n_jobs=N_JOBS)
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(**merged, random_state=random_state)


class QueryTimeModel:
    """Predicts a statement's mean execution time from its plan (scikit-learn estimator conventions)."""

    op_cost_: OperatorCost | None  # None in a model stored before the operator cost (persist.load)
    blend_: float

    def __init__(self, kind: str = "xgboost", params: dict[str, Any] | None = None, coverage: float = COVERAGE,
                 cost_slack: float = COST_SLACK, random_state: int = 0):
        self.kind = kind
        self.params = params
        self.coverage = coverage
        self.cost_slack = cost_slack
        self.random_state = random_state

    # -- fit ------------------------------------------------------------------------------------------------

    def fit(self, frame: pd.DataFrame, y_ms: Any = None) -> QueryTimeModel:
        """Fit on a plan frame (features.plan_frame); times from `y_ms` or the frame's `ms` column."""
        import numpy as np

        y = log_ms(frame["ms"] if y_ms is None else y_ms)
        self.feature_names_ = feature_columns(frame)
        lcost = log_cost(frame)
        shares = list(frame["op_costs"])
        self.baselines_ = Baselines.fit(lcost, y)
        X = self._matrix(frame)
        target = y - self.baselines_.b2(lcost)
        statements = frame["statement"] if "statement" in frame else None
        radius_new, fallback_resid = self._fit_fallback(X, y, lcost, shares, statements)
        rng = np.random.default_rng(self.random_state)
        n_cal = int(len(y) * CALIBRATION_SHARE)
        radius_seen = 0.0  # no held-out rows: the model only for the plans seen
        if n_cal >= MIN_CALIBRATION_ROWS:
            order = rng.permutation(len(y))
            cal, fit_rows = order[:n_cal], order[n_cal:]
            est = make_estimator(self.kind, self.params or {}, self.random_state).fit(X[fit_rows], target[fit_rows])
            learned = self.baselines_.b2(lcost[cal]) + est.predict(X[cal])
            cost = OperatorCost.fit([shares[i] for i in fit_rows], y[fit_rows])
            fallback = self._blend(learned, cost.predict_log([shares[i] for i in cal]))
            radius_seen = best_radius(Support.build(X[fit_rows]).distance(X[cal]), np.abs(learned - y[cal]),
                                      np.abs(fallback - y[cal]))
            resid = y[cal] - learned
        else:
            resid = None
        self.estimator_ = make_estimator(self.kind, self.params or {}, self.random_state).fit(X, target)
        if resid is None:
            resid = target - self.estimator_.predict(X)
        self.op_cost_ = OperatorCost.fit(shares, y)
        tail = (1 - self.coverage) / 2
        self.interval_ = (float(np.quantile(resid, tail)), float(np.quantile(resid, 1 - tail)))
        if fallback_resid is None:  # no held-out statements: the fallback's residuals on the training rows
            fallback_resid = y - self._fallback(self.baselines_.b2(lcost) + self._raw(X), lcost, shares)
        self.fallback_interval_ = (float(np.quantile(fallback_resid, tail)),
                                   float(np.quantile(fallback_resid, 1 - tail)))
        self.operators_ = sorted(set().union(*frame["operators"])) if len(frame) else []
        self.access_paths_ = sorted(set().union(*frame["access_paths"])) if len(frame) else []
        self.cost_range_ = (float(lcost.min()), float(lcost.max()))
        self.n_rows_ = len(y)
        self.support_ = Support.build(X)
        self.support_.radius_seen = radius_seen
        self.support_.radius_new = radius_new
        self.support_.statements = frozenset(map(str, statements)) if statements is not None else frozenset()
        return self

    def _fit_fallback(self, X: np.ndarray, y: np.ndarray, lcost: np.ndarray, shares: list[dict[str, float]],
                      groups: Any) -> tuple[float, np.ndarray | None]:
        """On held-out statements of the training rows (VALIDATION_FOLDS grouped folds, each fitting the model,
        the baselines and the operator cost on the other statements): sets the fallback's blend weight
        `blend_`; returns the support radius for new statements (support.best_radius) and the fallback's
        log residuals. With fewer than MIN_GROUPS statements there is nothing to learn them from: the
        operator cost alone, radius 0, no residuals."""
        import numpy as np

        self.blend_ = 0.0
        if groups is None or groups.nunique() < MIN_GROUPS:
            return 0.0, None
        from sklearn.model_selection import GroupKFold

        dist, learned, cost, truth = [], [], [], []
        folds = GroupKFold(n_splits=min(VALIDATION_FOLDS, groups.nunique()))
        for tr, te in folds.split(X, y, groups.to_numpy()):
            base = Baselines.fit(lcost[tr], y[tr])
            est = make_estimator(self.kind, self.params or {}, self.random_state)
            est.fit(X[tr], y[tr] - base.b2(lcost[tr]))
            dist.append(Support.build(X[tr]).distance(X[te]))
            learned.append(base.b2(lcost[te]) + est.predict(X[te]))
            cost.append(OperatorCost.fit([shares[i] for i in tr], y[tr]).predict_log([shares[i] for i in te]))
            truth.append(y[te])
        m, c, t = np.concatenate(learned), np.concatenate(cost), np.concatenate(truth)
        self.blend_ = min(BLEND_WEIGHTS, key=lambda w: float(np.mean(np.abs(w * m + (1 - w) * c - t))))
        fallback = self._blend(m, c)
        return best_radius(np.concatenate(dist), np.abs(m - t), np.abs(fallback - t)), t - fallback

    def fallback_name(self) -> str:
        """What answers out of support, in words."""
        if self.op_cost_ is None:
            return "calibrated cost (total cost × one factor)"
        if not self.blend_:
            return "calibrated operator cost"
        return f"calibrated operator cost blended with the model (model weight {self.blend_:g})"

    def _blend(self, learned: np.ndarray, cost: np.ndarray) -> np.ndarray:
        return self.blend_ * learned + (1 - self.blend_) * cost

    def _fallback(self, learned: np.ndarray, lcost: np.ndarray, shares: list[dict[str, float]]) -> np.ndarray:
        """The out-of-support answer in log ms, given the learned model's (B1 for a model stored before the
        operator cost)."""
        if self.op_cost_ is None:
            return self.baselines_.b1(lcost)
        return self._blend(learned, self.op_cost_.predict_log(shares))

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        return frame.reindex(columns=self.feature_names_, fill_value=0.0).to_numpy(dtype=float)

    # -- predict --------------------------------------------------------------------------------------------

    def _inputs(self, plans: Plans) -> tuple[np.ndarray, list, list, np.ndarray, list, list]:
        """(feature matrix, operators, access paths, log cost, statements, operator costs) of a frame or of
        flattened plans (a frame's `statement` column, else None per plan: not known); the flattened path
        skips pandas."""
        import numpy as np

        if not isinstance(plans, list):
            stmts = list(plans["statement"]) if "statement" in plans else [None] * len(plans)
            return (self._matrix(plans), list(plans["operators"]), list(plans["access_paths"]), log_cost(plans),
                    stmts, list(plans["op_costs"]))
        index = getattr(self, "_index", None)
        if index is None:
            index = self._index = {name: j for j, name in enumerate(self.feature_names_)}
        X = np.zeros((len(plans), len(index)))
        for i, flat in enumerate(plans):
            for name, value in flat.features.items():
                j = index.get(name)
                if j is not None:
                    X[i, j] = value
        costs = np.expm1(np.array([flat.features.get("total_cost", 0.0) for flat in plans], dtype=float))
        return (X, [f.operators for f in plans], [f.access_paths for f in plans], np.log(np.maximum(costs, COST_FLOOR)),
                [None] * len(plans), [f.op_costs for f in plans])

    def _why(self, X: np.ndarray, ops: list, paths: list, lcost: np.ndarray, stmts: list) -> list[list[str]]:
        known_ops, known_paths = set(self.operators_), set(self.access_paths_)
        lo = self.cost_range_[0] - math.log(self.cost_slack)
        hi = self.cost_range_[1] + math.log(self.cost_slack)
        support = getattr(self, "support_", None)  # None: a model stored before the distance gate
        dist = support.distance(X) if support is not None else None
        out = []
        for i, (row_ops, row_paths, lc) in enumerate(zip(ops, paths, lcost)):
            why = [f"operator not seen in training: {o}" for o in sorted(set(row_ops) - known_ops)]
            why += [f"access path not seen in training: {p}" for p in sorted(set(row_paths) - known_paths)]
            if not lo <= lc <= hi:
                why.append(f"total cost {math.exp(lc):.6g} outside the trained range "
                           f"{math.exp(self.cost_range_[0]):.6g}..{math.exp(self.cost_range_[1]):.6g}")
            radius, picked = support.radius(stmts[i]) if support is not None else (None, "")
            if radius is not None and dist[i] > radius:
                why.append(f"plan {dist[i]:.3g} from the nearest trained plan, beyond the support radius "
                           f"{radius:.3g} (picked on {picked})")
            out.append(why)
        return out

    def support(self, plans: Plans) -> list[list[str]]:
        """Per plan, why it is out of support (an empty list: in support)."""
        return self._why(*self._inputs(plans)[:5])

    def _raw(self, X: np.ndarray) -> np.ndarray:
        if self.kind == "xgboost":  # inplace_predict: no DMatrix, no validation — the fast path
            return self.estimator_.get_booster().inplace_predict(X)
        return self.estimator_.predict(X)

    def predict_log(self, plans: Plans, gate: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(log ms, in support) per plan; `gate=False` gives the learned model's answer everywhere."""
        logp, ok, _, _ = self._gated(*self._inputs(plans), gate=gate)
        return logp, ok

    def _gated(self, X: np.ndarray, ops: list, paths: list, lcost: np.ndarray, stmts: list, shares: list,
               gate: bool = True) -> tuple[np.ndarray, np.ndarray, list[list[str]], np.ndarray]:
        """(log ms, in support, why not, the learned model's log ms) per plan."""
        import numpy as np

        learned = self.baselines_.b2(lcost) + self._raw(X)
        reasons = self._why(X, ops, paths, lcost, stmts) if gate else [[] for _ in range(len(lcost))]
        ok = np.array([not w for w in reasons], dtype=bool)
        if ok.all():
            return learned, ok, reasons, learned
        out = learned.copy()
        out[~ok] = self._fallback(learned[~ok], lcost[~ok], [shares[i] for i in np.flatnonzero(~ok)])
        return out, ok, reasons, learned

    def predict(self, plans: Plans) -> np.ndarray:
        """Predicted mean execution time (ms) per plan, gated."""
        import numpy as np

        return np.exp(self.predict_log(plans)[0])

    def explain(self, plans: Plans, top: int = TOP_CONTRIBUTIONS) -> list[Prediction]:
        """Per plan: prediction, interval, support and (xgboost) the top feature contributions."""
        import numpy as np

        inputs = self._inputs(plans)
        X, lcost = inputs[0], inputs[3]
        logp, ok, reasons, learned = self._gated(*inputs)
        fallback = self._fallback(learned, lcost, inputs[5])
        contribs = self._contributions(X) if self.kind == "xgboost" else None
        out = []
        for i in range(len(lcost)):
            lo, hi = self.interval_ if ok[i] else self.fallback_interval_
            p = Prediction(float(np.exp(logp[i])), (float(np.exp(logp[i] + lo)), float(np.exp(logp[i] + hi))),
                           bool(ok[i]), reasons[i], baseline_ms=float(np.exp(self.baselines_.b1(lcost[i]))),
                           fallback_ms=float(np.exp(fallback[i])), fallback=self.fallback_name())
            if contribs is not None and ok[i]:
                row = contribs[i]
                p.contributions = [{"feature": self.feature_names_[j], "value": round(float(X[i, j]), 4),
                                    "log_ms": round(float(row[j]), 4), "factor": round(float(np.exp(row[j])), 4)}
                                   for j in np.argsort(-np.abs(row[:-1]))[:top] if row[j] != 0]
            out.append(p)
        return out

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        """xgboost's own per-feature contributions (SHAP values, `pred_contribs`) to the log-time correction;
        the last column is the bias."""
        import xgboost

        # nthread: a DMatrix takes every core by default, and its OpenMP start-up cost 15–40 ms per single plan
        # on the loaded bench machine (1.4 ms with one thread)
        return self.estimator_.get_booster().predict(xgboost.DMatrix(X, nthread=N_JOBS), pred_contribs=True)

"""Held-out evaluation of a query-time model beside the baselines, in q-error = max(pred/true, true/pred).

- B0: the statement's own recent mean where it exists: the calls-weighted mean time of its newest
  training rows (up to B0_RECENT intervals); where the statement has no training rows B0 answers with B1,
  and `b0_coverage` says how often it had its own history.
- B1: total cost × one factor fitted on the training rows.
- B2: a log-log fit of total cost on the training rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgadvisor.models.query_time import Baselines, QueryTimeModel, log_cost, log_ms, q_error

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

B0_RECENT = 5  # the statement's newest intervals B0 averages (pgadvisor's choice: an hour at 12-minute collects)
HELD_OUT_SHARE = 0.2  # the share of rows `train` holds out for its evaluation
QUANTILES = {"median": 0.5, "p95": 0.95, "p99": 0.99}


def summary(q: np.ndarray) -> dict[str, float]:
    import numpy as np

    return {k: round(float(np.quantile(q, v)), 3) for k, v in QUANTILES.items()} if len(q) else {}


def b0_predict(train: pd.DataFrame, test: pd.DataFrame, fallback: np.ndarray) -> tuple[np.ndarray, float]:
    """B0's prediction per test row (its statement's recent training mean, else `fallback`) and coverage."""
    import numpy as np

    order = "seq" if "seq" in train.columns else None
    means: dict[Any, float] = {}
    for key, rows in train.groupby("statement", sort=False):
        if order:
            rows = rows.sort_values(order).tail(B0_RECENT)
        calls = rows["calls"].to_numpy(float) if "calls" in rows.columns else np.ones(len(rows))
        means[key] = float(np.average(rows["ms"].to_numpy(float), weights=calls))
    own = np.array([means.get(k, np.nan) for k in test["statement"]])
    has = ~np.isnan(own)
    return np.where(has, own, fallback), float(has.mean()) if len(has) else 0.0


def compare(model: QueryTimeModel, train: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    """q-error summaries on `test` of the fitted `model` (gated and not) and of B0, B1, B2 fitted on `train`."""
    return compare_folds([(model, train, test)])


def compare_folds(folds: list[tuple[QueryTimeModel, pd.DataFrame, pd.DataFrame]]) -> dict[str, Any]:
    """`compare` over the union of several folds' held-out rows, each predicted by its own fold's model and
    baselines (leave-one-template-out pools its folds this way)."""
    import numpy as np

    parts: dict[str, list] = {k: [] for k in ("model", "model_ungated", "model_unknown_statement", "B0", "B1", "B2",
                                              "true", "ok", "ok_unknown", "b0has")}
    for model, train, test in folds:
        base = Baselines.fit(log_cost(train), log_ms(train["ms"]))
        lc = log_cost(test)
        b1 = np.exp(base.b1(lc))
        gated, ok = model.predict_log(test)
        raw, _ = model.predict_log(test, gate=False)
        # as `predict` on a text, which does not know the plan's statement: the smaller support radius
        anon, ok_anon = model.predict_log(test.drop(columns=["statement"])) if isinstance(model, QueryTimeModel) \
            else (gated, ok)
        b0, _ = b0_predict(train, test, b1)
        parts["model"].append(np.exp(gated))
        parts["model_ungated"].append(np.exp(raw))
        parts["model_unknown_statement"].append(np.exp(anon))
        parts["ok_unknown"].append(ok_anon)
        parts["B0"].append(b0)
        parts["B1"].append(b1)
        parts["B2"].append(np.exp(base.b2(lc)))
        parts["true"].append(test["ms"].to_numpy(float))
        parts["ok"].append(ok)
        parts["b0has"].append(np.isin(test["statement"].to_numpy(), train["statement"].unique()))
    cat = {k: np.concatenate(v) if v else np.array([]) for k, v in parts.items()}
    n = len(cat["true"])
    out: dict[str, Any] = {"rows": n, "in_support": round(float(cat["ok"].mean()), 3) if n else 0.0,
                           "in_support_unknown_statement": round(float(cat["ok_unknown"].mean()), 3) if n else 0.0,
                           "b0_coverage": round(float(cat["b0has"].mean()), 3) if n else 0.0}
    out.update({k: summary(q_error(cat[k], cat["true"]))
                for k in ("model", "model_ungated", "model_unknown_statement", "B0", "B1", "B2")})
    return out


def held_out_split(frame: pd.DataFrame, share: float = HELD_OUT_SHARE, seed: int = 0
                   ) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(train, test, how): the newest `share` of the intervals when the frame spans several (what a model
    meets next), else a seeded random `share` of the rows."""
    import numpy as np

    if "seq" in frame.columns and frame["seq"].nunique() >= 5:
        cut = float(np.quantile(frame["seq"].to_numpy(float), 1 - share))
        test = frame["seq"] > cut
        if 0 < test.sum() < len(frame):
            return frame[~test], frame[test], f"the newest intervals (seq > {cut:g})"
    rng = np.random.default_rng(seed)
    test = rng.random(len(frame)) < share
    return frame[~test], frame[test], f"a random {share:.0%} of the rows"

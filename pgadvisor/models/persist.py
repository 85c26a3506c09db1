"""A fitted QueryTimeModel as bytes and back, without pickle: nothing loaded can run code.

The body is zlib-compressed JSON: the model's own state (features, baselines, interval, support sets, the
distinct training plans and radii of the distance gate, the operator cost's factors and the fallback's blend)
and its estimator in a native, data-only form —
- xgboost: the booster's own JSON (`save_raw("json")`), loaded with `load_model`;
- random forest / gradient boosting (scikit-learn): no data-only format ships with scikit-learn and skops
  is not installed here, so each tree's arrays (`Tree.__getstate__`: the node records and leaf values)
  are kept as base64 bytes with their dtype, and trees are rebuilt with `Tree.__setstate__`. The node
  layout belongs to the scikit-learn version: a model is read only by the same major.minor version
  (else `ModelError`: retrain), which the metadata records.

`FORMAT` is this layout's version: a model written by a newer pgadvisor (a higher format) is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from typing import Any

from pgadvisor import __version__
from pgadvisor.errors import PgAdvisorError
from pgadvisor.models.operator_cost import OperatorCost
from pgadvisor.models.query_time import N_JOBS, Baselines, QueryTimeModel
from pgadvisor.models.support import Support

FORMAT = 1


class ModelError(PgAdvisorError):
    """A stored model that cannot be used: damaged, from a newer pgadvisor, or for another library version."""


def library_versions() -> dict[str, str]:
    import numpy
    import pandas
    import sklearn
    import xgboost

    return {"xgboost": xgboost.__version__, "scikit-learn": sklearn.__version__, "numpy": numpy.__version__,
            "pandas": pandas.__version__}


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


# -- scikit-learn trees as arrays ---------------------------------------------------------------------------------


def _array(a: Any) -> dict[str, Any]:
    return {"dtype": a.dtype.descr, "shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode()}


def _unarray(d: dict[str, Any]) -> Any:
    import numpy as np

    descr = d["dtype"]
    descr = descr if isinstance(descr, str) else [tuple(f) for f in descr]
    if isinstance(descr, list) and len(descr) == 1 and descr[0][0] == "":
        descr = descr[0][1]  # a plain array's descr
    dtype = np.lib.format.descr_to_dtype(descr)
    return np.frombuffer(base64.b64decode(d["data"]), dtype=dtype).reshape(d["shape"]).copy()


def _dump_tree(tree: Any) -> dict[str, Any]:
    st = tree.tree_.__getstate__()
    return {"max_depth": int(st["max_depth"]), "node_count": int(st["node_count"]),
            "nodes": _array(st["nodes"]), "values": _array(st["values"])}


def _load_tree(d: dict[str, Any], n_features: int) -> Any:
    import numpy as np
    from sklearn.tree import DecisionTreeRegressor
    from sklearn.tree._tree import Tree

    tree = Tree(n_features, np.array([1], dtype=np.intp), 1)
    tree.__setstate__({"max_depth": d["max_depth"], "node_count": d["node_count"], "nodes": _unarray(d["nodes"]),
                       "values": _unarray(d["values"])})
    est = DecisionTreeRegressor()
    est.tree_, est.n_features_in_, est.n_outputs_, est.max_features_ = tree, n_features, 1, n_features
    return est


class TreeEnsemble:
    """A loaded scikit-learn ensemble: init + scale × (sum or mean) of its trees' predictions."""

    def __init__(self, trees: list[Any], init: float, scale: float, mean: bool):
        self.trees, self.init, self.scale, self.mean = trees, init, scale, mean

    def predict(self, X: Any) -> Any:
        total = sum(t.predict(X) for t in self.trees)
        return self.init + self.scale * (total / len(self.trees) if self.mean else total)


def _dump_estimator(model: QueryTimeModel) -> dict[str, Any]:
    est = model.estimator_
    if model.kind == "xgboost":
        return {"xgboost": bytes(est.get_booster().save_raw("json")).decode()}
    if isinstance(est, TreeEnsemble):
        trees, init, scale, mean = est.trees, est.init, est.scale, est.mean
    elif model.kind == "forest":
        trees, init, scale, mean = est.estimators_, 0.0, 1.0, True
    else:
        trees, init, scale, mean = list(est.estimators_[:, 0]), float(est.init_.constant_.ravel()[0]), \
            float(est.learning_rate), False
    return {"trees": [_dump_tree(t) for t in trees], "init": init, "scale": scale, "mean": mean}


def _load_estimator(kind: str, d: dict[str, Any], n_features: int) -> Any:
    if kind == "xgboost":
        import xgboost

        reg = xgboost.XGBRegressor(n_jobs=N_JOBS)
        reg.load_model(bytearray(d["xgboost"].encode()))
        return reg
    return TreeEnsemble([_load_tree(t, n_features) for t in d["trees"]], d["init"], d["scale"], d["mean"])


def _dump_support(support: Support) -> dict[str, Any]:
    return {"points": _array(support.points), "scale": [float(v) for v in support.scale],
            "radius_seen": support.radius_seen, "radius_new": support.radius_new,
            "statements": sorted(support.statements)}


def _load_support(d: dict[str, Any] | None) -> Support | None:
    import numpy as np

    if d is None:
        return None
    return Support(_unarray(d["points"]), np.asarray(d["scale"], dtype=float), d["radius_seen"], d["radius_new"],
                   frozenset(d["statements"]))


# -- the model --------------------------------------------------------------------------------------------------


def dump(model: QueryTimeModel) -> bytes:
    """The fitted model as bytes (zlib-compressed JSON)."""
    state = {
        "format": FORMAT, "pgadvisor": __version__, "libraries": library_versions(),
        "kind": model.kind, "params": model.params, "coverage": model.coverage, "cost_slack": model.cost_slack,
        "random_state": model.random_state, "feature_names": model.feature_names_,
        "baselines": vars(model.baselines_), "interval": model.interval_,
        "fallback_interval": model.fallback_interval_, "operators": model.operators_,
        "access_paths": model.access_paths_, "cost_range": model.cost_range_, "n_rows": model.n_rows_,
        "estimator": _dump_estimator(model), "support": _dump_support(model.support_),
        "operator_cost": model.op_cost_.to_dict() if model.op_cost_ is not None else None, "blend": model.blend_,
    }
    return zlib.compress(json.dumps(state).encode(), 6)


def load(body: bytes, sha256: str | None = None, version: int | None = None) -> QueryTimeModel:
    """A model from its bytes; ModelError when they are damaged, newer than this pgadvisor, or unreadable."""
    name = f"model v{version}" if version is not None else "the model"
    if sha256 is not None and hashlib.sha256(body).hexdigest() != sha256:
        raise ModelError(f"{name} is damaged (its bytes do not match their checksum)",
                         hint="select an older one with --model-version, or run `pgadvisor train` again")
    try:
        state = json.loads(zlib.decompress(body))
    except (zlib.error, ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{name} is damaged: {exc}", hint="select an older one with --model-version") from None
    if not isinstance(state, dict) or int(state.get("format", 0)) > FORMAT:
        raise ModelError(f"{name} was written by a newer pgadvisor ({state.get('pgadvisor', '?')}, model format "
                         f"{state.get('format', '?')}; this version reads up to {FORMAT})",
                         hint="upgrade pgadvisor, or select an older model with --model-version")
    kind = state.get("kind")
    if kind in ("forest", "gbm"):
        ours, theirs = library_versions()["scikit-learn"], state.get("libraries", {}).get("scikit-learn", "?")
        if _minor(ours) != _minor(theirs):
            raise ModelError(f"{name} ({kind}) was trained with scikit-learn {theirs}; this is {ours}",
                             hint="run `pgadvisor train` again with this scikit-learn")
    try:
        model = QueryTimeModel(kind, state["params"], state["coverage"], state["cost_slack"], state["random_state"])
        model.feature_names_ = list(state["feature_names"])
        model.baselines_ = Baselines(**state["baselines"])
        model.interval_ = tuple(state["interval"])
        model.fallback_interval_ = tuple(state["fallback_interval"])
        model.operators_, model.access_paths_ = list(state["operators"]), list(state["access_paths"])
        model.cost_range_, model.n_rows_ = tuple(state["cost_range"]), int(state["n_rows"])
        model.estimator_ = _load_estimator(kind, state["estimator"], len(model.feature_names_))
        model.support_ = _load_support(state.get("support"))  # None: a model stored before the distance gate
        cost = state.get("operator_cost")  # None: a model stored before the operator cost falls back to B1
        model.op_cost_ = OperatorCost.from_dict(cost) if cost is not None else None
        model.blend_ = float(state.get("blend", 0.0))
    except Exception as exc:  # noqa: BLE001 - any damage in the document is one line for the user
        raise ModelError(f"{name} is damaged or unreadable: {exc.__class__.__name__}: {exc}",
                         hint="select an older one with --model-version, or run `pgadvisor train` again") from None
    return model

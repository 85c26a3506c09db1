"""The query-time model without a database: plan features, the gate, the interval, persistence."""

from __future__ import annotations

import hashlib
import json
import zlib

import numpy as np
import pytest

from pgadvisor.errors import EXIT_CANNOT_RUN
from pgadvisor.models import persist
from pgadvisor.models.evaluate import compare, held_out_split
from pgadvisor.models.features import flatten, plan_frame
from pgadvisor.models.operator_cost import OperatorCost
from pgadvisor.models.query_time import BLEND_WEIGHTS, QueryTimeModel, q_error
from pgadvisor.models.support import best_radius
from pgadvisor.models.synthetic import plan_table, synthetic_plan

SMALL = {"n_estimators": 100}  # enough trees for these tests' simple tables (30 underfit the rows effect), fast


@pytest.fixture(scope="module")
def table():
    return plan_table(160)


@pytest.fixture(scope="module")
def fitted(table):
    train, test, _ = held_out_split(table)
    return QueryTimeModel("xgboost", SMALL).fit(train), train, test


def test_flatten_counts_operators_loops_and_access_paths():
    plan = [{"Plan": {
        "Node Type": "Nested Loop", "Total Cost": 500.0, "Startup Cost": 0.5, "Plan Rows": 100, "Plan Width": 16,
        "Plans": [
            {"Node Type": "Seq Scan", "Relation Name": "a", "Parent Relationship": "Outer", "Total Cost": 100.0,
             "Plan Rows": 50, "Plan Width": 8},
            {"Node Type": "Index Scan", "Relation Name": "b", "Index Name": "b_pkey", "Parent Relationship": "Inner",
             "Total Cost": 8.0, "Plan Rows": 2, "Plan Width": 8, "Workers Planned": 0},
        ]}}]
    flat = flatten(plan)
    f = flat.features
    assert flat.operators == {"Nested Loop", "Seq Scan", "Index Scan"}
    assert flat.access_paths == {"Seq Scan:a:", "Index Scan:b:b_pkey"}
    assert f["n_nodes"] == 3 and f["depth"] == 2 and f["n_joins"] == 1 and f["n_index_scans"] == 1
    # the inner side runs once per outer row: 50 loops of 2 rows, 50 loops of 8 cost units
    assert f["max_loops"] == pytest.approx(np.log1p(50))
    assert f["rows[Index Scan]"] == pytest.approx(np.log1p(100))
    assert f["cost[Index Scan]"] == pytest.approx(np.log1p(400))
    assert f["cost[Nested Loop]"] == pytest.approx(np.log1p(392))  # its own cost: 500 less its children's
    assert f["total_cost"] == pytest.approx(np.log1p(500))


def test_estimator_conventions(table):
    m = QueryTimeModel("forest", {"n_estimators": 10}, coverage=0.8)
    assert vars(m) == {"kind": "forest", "params": {"n_estimators": 10}, "coverage": 0.8, "cost_slack": 2.0,
                       "random_state": 0}
    assert m.fit(table) is m
    assert m.feature_names_ and m.estimator_ is not None and m.n_rows_ == len(table)


def test_model_beats_the_cost_baselines_on_held_out_rows(fitted):
    model, train, test = fitted
    res = compare(model, train, test)
    # the time grows with rows the cost does not count: one factor (B1) or one slope (B2) cannot learn that
    # held-out rows of trained statements: all but the few farther from a trained plan than the rows the
    # support radius was picked on
    assert res["in_support"] >= 0.9
    assert res["model"]["median"] < 1.1 and res["model"]["p95"] < res["B1"]["p95"]
    assert res["model"]["p95"] < res["B2"]["p95"]


def test_interval_and_contributions(fitted):
    model, _, test = fitted
    preds = model.explain(test)
    inside = np.mean([p.interval_ms[0] <= t <= p.interval_ms[1] for p, t in zip(preds, test["ms"])])
    assert inside >= 0.7  # nominal 90%, on a few dozen rows
    p = preds[0]
    assert p.interval_ms[0] < p.predicted_ms < p.interval_ms[1]
    assert p.contributions and {"feature", "value", "log_ms", "factor"} <= set(p.contributions[0])
    # the contributions are xgboost's own: they add up (with the bias) to the learned correction
    X = model._inputs(test.iloc[:1])[0]
    contribs = model._contributions(X)[0]
    assert contribs.sum() == pytest.approx(float(model._raw(X)[0]), rel=1e-4, abs=1e-4)


def test_unseen_index_or_cost_falls_back_to_the_calibrated_cost(fitted):
    model, _, _ = fitted
    unseen = plan_frame([synthetic_plan(5000.0, 100.0, True, relation="other"),  # another relation's index
                         synthetic_plan(1e9, 100.0, False)])  # far beyond the trained costs
    preds = model.explain(unseen)
    assert [p.in_support for p in preds] == [False, False]
    assert any("access path not seen in training: Index Scan:other:other_idx" in r for r in preds[0].reasons)
    assert any("outside the trained range" in r for r in preds[1].reasons)
    for p in preds:
        assert p.predicted_ms == pytest.approx(p.fallback_ms) and not p.contributions
        assert p.fallback.startswith("calibrated operator cost")
    _, train, _ = fitted
    seen = model.explain(train.iloc[:1])[0]  # a trained plan of a trained statement
    assert seen.in_support and not seen.reasons


def test_a_plan_far_from_every_trained_plan_falls_back(fitted):
    model, train, _ = fitted
    far = plan_frame([synthetic_plan(5000.0, 1e9, False)], [{"statement": train["statement"].iloc[0]}])
    p = model.explain(far)[0]  # operators, access path and cost all seen; the estimated rows never
    assert not p.in_support and p.predicted_ms == pytest.approx(p.fallback_ms)
    assert [r for r in p.reasons if "beyond the support radius" in r and "statements seen" in r] == p.reasons
    radius_seen, radius_new = model.support_.radius_seen, model.support_.radius_new
    assert 0 < radius_seen and 0 < radius_new  # the model beat the fallback on held-out rows and statements
    assert model.support_.radius(None)[0] == min(radius_seen, radius_new)


def test_best_radius_keeps_the_model_where_it_beat_the_fallback():
    d = np.array([0.0, 1.0, 2.0, 3.0, 3.0])
    fallback = np.full(5, 0.5)
    assert best_radius(d, np.array([0.1, 0.1, 1.0, 1.0, 0.1]), fallback) == 1.0
    assert best_radius(d, np.full(5, 0.9), fallback) == 0.0  # the fallback everywhere
    assert best_radius(d, np.full(5, 0.1), fallback) == 3.0
    # two rows at one distance go together: 3.0 is in (0.1 + 1.0 < 1.0) or out, never half
    assert best_radius(d, np.array([0.1, 0.1, 1.0, 0.1, 0.2]), fallback) == 3.0


def test_flattened_plans_predict_like_the_frame(fitted):
    model, _, test = fitted
    plans = [synthetic_plan(c, 10.0, i % 2 == 0) for i, c in enumerate([50.0, 800.0, 20000.0])]
    assert np.allclose(model.predict([flatten(p) for p in plans]), model.predict(plan_frame(plans)))


@pytest.mark.parametrize("kind", ["xgboost", "forest", "gbm"])
def test_persist_round_trip_without_pickle(table, kind):
    model = QueryTimeModel(kind, {"n_estimators": 20}).fit(table)
    body = persist.dump(model)
    assert b"pickle" not in zlib.decompress(body) and zlib.decompress(body).startswith(b"{")
    again = persist.load(body, hashlib.sha256(body).hexdigest())
    assert np.allclose(again.predict(table), model.predict(table))
    assert again.support(table) == model.support(table)
    assert np.array_equal(again.support_.points, model.support_.points)
    state = json.loads(zlib.decompress(body))
    del state["support"]  # a model stored before the distance gate: read, gated by what it has
    older = persist.load(zlib.compress(json.dumps(state).encode()))
    # operators, access paths and costs all seen: the learned model's answer
    ungated = np.exp(model.predict_log(table[:5], gate=False)[0])
    assert older.support_ is None and np.allclose(older.predict(table[:5]), ungated)


def test_damaged_or_newer_models_are_refused(table):
    body = persist.dump(QueryTimeModel("xgboost", SMALL).fit(table))
    with pytest.raises(persist.ModelError, match="damaged") as exc:
        persist.load(body[:-10] + b"0123456789", hashlib.sha256(body).hexdigest(), version=3)
    assert exc.value.exit_code == EXIT_CANNOT_RUN and "--model-version" in exc.value.hint
    with pytest.raises(persist.ModelError, match="damaged"):
        persist.load(b"not zlib at all")
    state = json.loads(zlib.decompress(body))
    state["format"] = persist.FORMAT + 1
    with pytest.raises(persist.ModelError, match="newer pgadvisor"):
        persist.load(zlib.compress(json.dumps(state).encode()))
    state["format"] = persist.FORMAT
    state["estimator"] = {"xgboost": "{not a booster"}
    with pytest.raises(persist.ModelError, match="damaged or unreadable"):
        persist.load(zlib.compress(json.dumps(state).encode()))


def test_q_error_is_symmetric():
    assert list(q_error([2.0, 1.0, 5.0], [1.0, 2.0, 5.0])) == pytest.approx([2.0, 2.0, 1.0])


def test_operator_costs_split_the_total_cost_sub_plans_inside_their_parent():
    plan = [{"Plan": {
        "Node Type": "Hash Join", "Total Cost": 1000.0, "Plan Rows": 10, "Plan Width": 8,
        "Filter": "((SubPlan 1) > 3)",
        "Plans": [
            {"Node Type": "Seq Scan", "Relation Name": "a", "Parent Relationship": "Outer", "Total Cost": 300.0,
             "Plan Rows": 50, "Plan Width": 8, "Filter": "((a.name)::text ~~ '%green%'::text)"},
            {"Node Type": "Hash", "Parent Relationship": "Inner", "Total Cost": 200.0, "Plan Rows": 20,
             "Plan Width": 8, "Plans": [
                 {"Node Type": "Seq Scan", "Relation Name": "b", "Parent Relationship": "Outer",
                  "Total Cost": 150.0, "Plan Rows": 20, "Plan Width": 8}]},
            {"Node Type": "Index Scan", "Relation Name": "c", "Index Name": "c_pkey", "Parent Relationship": "SubPlan",
             "Total Cost": 8.0, "Plan Rows": 1, "Plan Width": 4},
        ]}}]
    costs = flatten(plan).op_costs
    assert costs == {"Hash Join": 500.0, "Seq Scan +like": 300.0, "Hash": 50.0, "Seq Scan": 150.0}
    assert sum(costs.values()) == pytest.approx(1000.0)  # the sub-plan's cost is in its parent's own


def test_operator_cost_learns_each_operators_factor(table):
    cost = OperatorCost.fit(list(table["op_costs"]), np.log(table["ms"].to_numpy()))
    # the synthetic index scans take 3× what their cost says, the sequential scans 1×
    ratio = np.exp(cost.log_weights["Index Scan"] - cost.log_weights["Seq Scan"])
    assert 2.5 < ratio < 3.3
    q = q_error(np.exp(cost.predict_log(list(table["op_costs"]))), table["ms"])
    lcost = np.log(np.expm1(table["total_cost"].to_numpy()))
    lms = np.log(table["ms"].to_numpy())
    b1 = q_error(np.exp(lcost + np.median(lms - lcost)), table["ms"])
    assert np.median(q) < np.median(b1)
    # an operator training never saw is scaled by the one factor of B1
    alone = cost.predict_log([{"Merge Join": 100.0}])[0]
    assert alone == pytest.approx(cost.log_factor + np.log(100.0))


def test_the_fallback_is_picked_on_held_out_statements_and_stored(fitted, table):
    model, _, _ = fitted
    assert model.blend_ in BLEND_WEIGHTS and model.op_cost_ is not None
    body = persist.dump(model)
    again = persist.load(body)
    assert again.blend_ == model.blend_ and again.op_cost_ == model.op_cost_
    state = json.loads(zlib.decompress(body))
    del state["operator_cost"], state["blend"]  # a model stored before the operator cost falls back to B1
    older = persist.load(zlib.compress(json.dumps(state).encode()))
    far = plan_frame([synthetic_plan(1e9, 100.0, False)])
    p = older.explain(far)[0]
    assert not p.in_support and p.predicted_ms == pytest.approx(p.baseline_ms)
    assert p.fallback == "calibrated cost (total cost × one factor)"

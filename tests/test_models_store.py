"""train / predict / models against a real PostgreSQL and a store built by collect: training data from the
stored plans and intervals, versions, damaged and newer models, bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import psycopg
import pytest
from test_plugins import example_plugin  # noqa: F401  (the session fixture that installs the example plugin)

from pgadvisor.collect import collect
from pgadvisor.models.features import training_frame
from pgadvisor.models.train import MIN_TRAIN_PLANS, MIN_TRAIN_ROWS
from pgadvisor.store import open_store

# statements of different shapes and costs: each gets its own plan, each interval its own mean time
WORKLOAD = [
    ("SELECT * FROM items WHERE id = %s", lambda i: (i * 7 % 20000 + 1,)),
    ("SELECT count(*) FROM items WHERE price < %s", lambda i: (1000 + i,)),
    ("SELECT cat, count(*), avg(price) FROM items GROUP BY cat", lambda i: None),
    ("SELECT * FROM items ORDER BY price DESC LIMIT 10", lambda i: None),
    ("SELECT i.cat, c.label FROM items i JOIN cats c ON c.cat = i.cat WHERE i.id < %s", lambda i: (500 + i,)),
    ("SELECT count(*) FROM items i WHERE EXISTS (SELECT 1 FROM cats c WHERE c.cat = i.cat AND c.label = %s)",
     lambda i: (f"l{i % 5}",)),
    ("SELECT * FROM cats WHERE cat = %s", lambda i: (f"c{i % 50}",)),
    ("SELECT count(DISTINCT cat) FROM items WHERE price BETWEEN %s AND %s", lambda i: (i, i + 5000)),
]
INTERVALS = 6


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pgadvisor", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PGADVISOR_STORE": ""})


def _run_workload(dsn: str, round_: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for k, (sql, params) in enumerate(WORKLOAD):
            for i in range(2 + (round_ + k) % 3):
                conn.execute(sql, params(i + round_))


@pytest.fixture(scope="module")
def trained(admin_dsn, tmp_path_factory):
    from conftest import scratch_db

    with scratch_db(admin_dsn, "models", "CREATE TABLE items (id int PRIMARY KEY, cat text, price numeric); "
                     "INSERT INTO items SELECT g, 'c' || (g % 50), g FROM generate_series(1, 20000) g; "
                     "CREATE TABLE cats (cat text PRIMARY KEY, label text); "
                     "INSERT INTO cats SELECT 'c' || g, 'l' || (g % 5) FROM generate_series(0, 49) g; ANALYZE",
                    extensions=("pg_stat_statements",)) as dsn:
        store = str(tmp_path_factory.mktemp("models") / "store.sqlite")
        with open_store(store) as st:
            for round_ in range(INTERVALS + 1):
                if round_:
                    _run_workload(dsn, round_)
                st.save_snapshot(collect(dsn, "app", plans_top=20))
        r = run_cli("train", "--store", store, "--format", "json")
        assert r.returncode == 0, r.stderr
        yield {"dsn": dsn, "store": store, "train": json.loads(r.stdout)}


def test_training_rows_are_stored_plans_joined_with_interval_means(trained):
    with open_store(trained["store"], read_only=True) as st:
        frame = training_frame(st, "app")
    # every statement in every interval; plan shapes (the hash leaves out filters and costs) may coincide
    assert len(frame) == len(WORKLOAD) * INTERVALS >= MIN_TRAIN_ROWS
    assert frame["plan_hash"].nunique() >= MIN_TRAIN_PLANS and frame["statement"].nunique() == len(WORKLOAD)
    assert (frame["ms"] > 0).all() and (frame["calls"] >= 1).all()
    assert frame["seq"].nunique() == INTERVALS  # one row per statement per interval it ran in
    point = frame[frame["n[Index Scan]"] > 0]
    assert len(point)  # the id lookup's plan is an index scan


def test_train_prints_the_evaluation_beside_the_baselines(trained):
    doc = trained["train"]
    assert doc["trained"] and doc["model_version"] == 1 and doc["kind"] == "xgboost"
    m = doc["metrics"]
    assert {"model", "B0", "B1", "B2"} <= set(m) and set(m["B1"]) == {"median", "p95", "p99"}
    assert m["rows"] > 0 and doc["rows"] >= MIN_TRAIN_ROWS and "xgboost" in doc["libraries"]
    assert set(m["model_unknown_statement"]) == {"median", "p95", "p99"}  # the gate as `predict` applies it
    assert set(doc["support_radius"]) == {"seen_statements", "new_statements"}
    assert all(v >= 0 for v in doc["support_radius"].values())
    assert doc["fallback"]["name"].startswith("calibrated operator cost")
    assert doc["fallback"]["model_weight"] in (0.0, 0.25, 0.5, 0.75)
    r = run_cli("train", "--store", trained["store"], "--model", "forest")
    assert r.returncode == 0, r.stderr
    assert "model v2 (forest)" in r.stdout and "B0 own recent mean" in r.stdout and "p99" in r.stdout
    assert "model, as predict" in r.stdout and "support radius:" in r.stdout
    assert "out of support: calibrated operator cost" in r.stdout
    r = run_cli("train", "--store", trained["store"], "--if-needed")
    assert r.returncode == 0 and "is current: no retrain needed" in r.stdout


def test_predict_with_contributions_and_versions(trained):
    sql = "SELECT count(*) FROM items WHERE price < 5000"
    r = run_cli("predict", sql, "--dsn", trained["dsn"], "--store", trained["store"], "--model-version", "1",
                "--format", "json")
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)["predictions"][0]
    assert {"predicted_ms", "interval_ms", "in_support", "contributions", "model_version"} <= set(p)
    assert p["model_version"] == 1 and p["predicted_ms"] > 0 and p["interval_ms"][0] <= p["predicted_ms"]
    if p["in_support"]:
        assert p["contributions"]
    r = run_cli("predict", sql, "--dsn", trained["dsn"], "--store", trained["store"])
    assert r.returncode == 0 and "ms (90% interval" in r.stdout and "model v" in r.stdout
    # a LIKE filter and a sort by an expression: a plan far from every trained plan
    unseen = "SELECT * FROM items WHERE cat LIKE '%1%' ORDER BY price * 2"
    r = run_cli("predict", unseen, "--dsn", trained["dsn"], "--store", trained["store"], "--format", "json")
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)["predictions"][0]
    assert not p["in_support"] and p["out_of_support_reasons"]
    assert p["predicted_ms"] == pytest.approx(p["fallback_ms"], rel=1e-3) and p["fallback_ms"] > 0
    assert p["fallback"].startswith("calibrated operator cost") and not p["contributions"]
    r = run_cli("predict", unseen, "--dsn", trained["dsn"], "--store", trained["store"])
    assert r.returncode == 0 and "OUT OF SUPPORT: calibrated" in r.stdout and "beyond the support radius" in r.stdout
    r = run_cli("models", "--store", trained["store"], "--format", "json")
    assert [m["version"] for m in json.loads(r.stdout)["models"]][:2] == sorted(
        [m["version"] for m in json.loads(r.stdout)["models"]], reverse=True)[:2]


def test_statements_that_do_not_parse_or_plan_are_one_line_exit_3(trained):
    for sql, why in (("SELECT * FROM items WHERE", "does not plan: syntax error"),
                     ("SELEC oops", "cannot be predicted: not explained"),
                     ("SELECT * FROM no_such_table", 'does not plan: relation "no_such_table" does not exist'),
                     ("DROP TABLE items", "cannot be predicted: not explained")):
        r = run_cli("predict", sql, "--dsn", trained["dsn"], "--store", trained["store"])
        assert r.returncode == 3, (sql, r.stderr)
        assert why in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 2


def test_a_damaged_or_newer_model_is_refused_and_the_older_one_stays_usable(trained, tmp_path):
    import shutil

    store = str(tmp_path / "copy.sqlite")
    shutil.copy(trained["store"], store)
    cols = ("server, kind, format, pgadvisor_version, created_at, window_start, window_end, n_rows, metadata, body, "
            "body_sha256")
    with open_store(store) as st, st.write():  # a newer version (a copy of v1), then damaged
        st.execute(f"INSERT INTO models ({cols}) SELECT {cols} FROM models WHERE version = 1")
        newest = st.query("SELECT max(version) FROM models")[0][0]
        st.execute("UPDATE models SET body = ? WHERE version = ?", (b"garbage", newest))
    sql = "SELECT * FROM items WHERE id = 3"
    r = run_cli("predict", sql, "--dsn", trained["dsn"], "--store", store)
    assert r.returncode == 3 and f"model v{newest} is damaged" in r.stderr and "--model-version" in r.stderr
    r = run_cli("predict", sql, "--dsn", trained["dsn"], "--store", store, "--model-version", "1")
    assert r.returncode == 0, r.stderr
    with open_store(store) as st, st.write():  # a model a newer pgadvisor wrote (a higher format)
        st.execute("UPDATE models SET format = 99 WHERE version = ?", (newest,))
    r = run_cli("predict", sql, "--dsn", trained["dsn"], "--store", store, "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["model_version"] < newest  # an older model stays in use
    r = run_cli("predict", sql, "--dsn", trained["dsn"], "--store", store, "--model-version", str(newest))
    assert r.returncode == 3 and "newer pgadvisor" in r.stderr


def test_too_few_plans_to_train_says_how_many_are_needed(db, tmp_path):
    store = str(tmp_path / "small.sqlite")
    with open_store(store) as st:
        st.save_snapshot(collect(db, "tiny", plans_top=5))
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("SELECT 1")
        st.save_snapshot(collect(db, "tiny", plans_top=5))
    r = run_cli("train", "--store", store)
    assert r.returncode == 3
    assert "too few plans to train" in r.stderr and f"at least {MIN_TRAIN_ROWS} rows" in r.stderr


@pytest.mark.usefixtures("example_plugin")
def test_a_model_plugin_trains_and_predicts_through_the_store(trained, tmp_path):
    import shutil

    store = str(tmp_path / "plugin.sqlite")
    shutil.copy(trained["store"], store)
    r = run_cli("train", "--store", store, "--model", "cost-factor", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["kind"] == "plugin:cost-factor" and set(doc["metrics"]["model"]) == {"median", "p95", "p99"}
    r = run_cli("predict", "SELECT count(*) FROM items", "--dsn", trained["dsn"], "--store", store,
                "--model-version", str(doc["model_version"]), "--format", "json")
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)["predictions"][0]
    assert p["predicted_ms"] > 0 and p["model_version"] == doc["model_version"] and p["contributions"] == []
    r = run_cli("train", "--store", store, "--model", "no-such-model")
    assert r.returncode == 2 and "--model: one of xgboost, forest, gbm, cost-factor" in r.stderr


def _check(trained, *args: str) -> tuple[int, dict]:
    r = run_cli("check", "--dsn", trained["dsn"], "--format", "json", "--fail-on", "error",
                "--rule", "predicted-time-over-budget", *args)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


def test_check_fails_a_statement_whose_predicted_time_is_over_the_budget(trained, tmp_path):
    rule = "predicted-time-over-budget"
    # every statement is over a budget of 1 ns: one finding per statement the tests ran, high (the whole
    # interval is over it), with the model's prediction as evidence
    code, doc = _check(trained, "--production-store", trained["store"], "--threshold", f"{rule}.max_ms=0.000001")
    run = next(r for r in doc["rules"] if r["id"] == rule)
    assert run["status"] == "ran" and run["findings"] >= len(WORKLOAD) - 1
    keys = [f["key"] for f in doc["findings"]]
    assert len(keys) == run["findings"] and all(k.startswith(f"{rule}:") for k in keys)
    f = doc["findings"][0]
    pred = f["evidence"]["prediction"]
    assert pred["predicted_ms"] > 0 and pred["interval_ms"][0] <= pred["predicted_ms"] <= pred["interval_ms"][1]
    assert re.fullmatch(r"v\d+ \((xgboost|forest|gbm)\) of app", f["evidence"]["model"])  # the newest model
    assert f["severity"] == "high" and code == 1
    # a budget of an hour: nothing over it, exit 0
    code, doc = _check(trained, "--production-store", trained["store"], "--threshold", f"{rule}.max_ms=3600000")
    assert code == 0 and not doc["findings"]
    assert next(r for r in doc["rules"] if r["id"] == rule)["status"] == "ran"
    # no model to predict with: the rule is skipped with why, never a silent pass
    code, doc = _check(trained)
    run = next(r for r in doc["rules"] if r["id"] == rule)
    assert run["status"] == "skipped" and "needs a query-time model" in run["reason"] and "train" in run["reason"]
    empty = str(tmp_path / "empty.sqlite")
    from pgadvisor.collect import collect

    with open_store(empty) as st:
        st.save_snapshot(collect(trained["dsn"], "app", plans_top=0))
    code, doc = _check(trained, "--production-store", empty)
    run = next(r for r in doc["rules"] if r["id"] == rule)
    assert run["status"] == "skipped" and "no query-time model in the store" in run["reason"]

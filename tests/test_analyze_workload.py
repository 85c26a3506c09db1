"""Issue 12's workload analyzers (classes, clusters, forecasts) and `pgadvisor workload` over a store.

No server: the analyzers take data; the command reads synthetic snapshots in a temporary SQLite store."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from synth import snapshot, statement_rows

from pgadvisor.analyze import classes, clusters, forecast
from pgadvisor.analyze.features import Figures, hot_objects, read_write_mix
from pgadvisor.store import open_store

STEP = 600.0
T0 = 1_700_006_400.0  # a midnight (UTC)


def _fig(i: int = 0, calls: int = 100, ms: float = 50.0, share: float = 0.01, blocks: float = 400.0,
         kind: str = "select", tables=("t",)) -> Figures:
    return Figures(id=f"t{i}", text=f"SELECT {i}", status="parsed", queryids=[str(i)], calls=calls, total_ms=ms,
                   time_share=share, rows=calls, shared_hit=blocks * 0.9, shared_read=blocks * 0.1, temp_blocks=0,
                   wal_bytes=0, kind=kind, tables=list(tables), columns=[f"{t}.id" for t in tables])


def _times(days: float) -> np.ndarray:
    return T0 + STEP * np.arange(1, int(days * 86400 / STEP) + 1)


# ------------------------------------------------------------------------------------------- classes


def test_workload_type_and_weight_with_evidence():
    kind, ev = classes.workload_type(_fig(calls=1000, ms=500.0))  # 0.5 ms per call, 0.4 blocks
    assert kind == "OLTP" and "mean 0.50 ms" in ev["why"]
    kind, ev = classes.workload_type(_fig(calls=2, ms=900.0))
    assert kind == "OLAP" and ev["mean_exec_ms"] == 450.0
    assert classes.workload_type(_fig(calls=1, ms=5.0, blocks=50_000))[0] == "OLAP"  # wide, not long
    assert classes.weight(_fig(share=0.2))[0] == "heavy" and classes.weight(_fig(share=0.001))[0] == "light"
    assert classes.weight(_fig(calls=1, ms=2000.0, share=0.001))[0] == "heavy"


def test_arrival_scheduled_adhoc_continuous_unknown_idle():
    t = _times(7)
    nightly = np.where(((t - STEP / 2) % 86400) // STEP == 12, 40.0, 0.0)  # 02:00-02:10 every night
    label, ev = classes.arrival(nightly, t, STEP)
    assert label == "scheduled" and ev["every"] == "day" and ev["at"] == "02:00 UTC" and ev["recurrence"] == 1.0
    hourly_job = np.where(((t - STEP / 2) % 3600) // STEP == 2, 5.0, 0.0)  # :20 past every hour
    assert classes.arrival(hourly_job, t, STEP)[:1] == ("scheduled",)
    assert classes.arrival(hourly_job, t, STEP)[1]["at"] == ":20"
    rng = np.random.default_rng(1)
    sparse = np.zeros(len(t))
    sparse[rng.choice(len(t), 12, replace=False)] = 1
    assert classes.arrival(sparse, t, STEP)[0] == "ad-hoc"
    steady = rng.poisson(20, len(t)).astype(float)
    assert classes.arrival(steady, t, STEP)[0] == "continuous"
    assert classes.arrival(steady[:5], t[:5], STEP)[0] == "unknown"
    assert classes.arrival(np.zeros(len(t)), t, STEP)[0] == "idle"
    assert classes.classify(_fig())["arrival"] == "unknown"  # no series: said so, not guessed


# ------------------------------------------------------------------------------------------ clusters


def test_behaviour_clusters_split_obvious_groups_and_refuse_tiny_sets():
    rng = np.random.default_rng(0)
    fast = rng.normal([-1, 0.3, 0.5, 0, 0, 0], 0.05, (10, 6))
    slow = rng.normal([3, 2, 5, 0.3, 1, 0], 0.05, (10, 6))
    got = clusters.behaviour_clusters(np.vstack([fast, slow]))
    assert got["k"] == 2 and len(set(got["labels"][:10])) == 1 and set(got["labels"][:10]) != set(got["labels"][10:])
    assert clusters.behaviour_clusters(fast[:2])["method"] == "none"
    same = clusters.behaviour_clusters(np.ones((6, 6)))
    assert same["k"] == 1 and "same features" in same["why"]


def test_arrival_clusters_by_shape_not_volume():
    rng = np.random.default_rng(2)
    t = _times(14)
    hour = ((t - STEP / 2) % 86400) / 3600
    day = 1 + 0.8 * np.cos(2 * math.pi * (hour - 14) / 24)
    night = np.where((hour >= 2) & (hour < 2.5), 10.0, 0.05)
    rows = [rng.poisson(r * day) for r in (5, 50, 500)] + [rng.poisson(r * night) for r in (1, 10)] \
        + [rng.poisson(np.full(len(t), r)) for r in (3, 30)] + [np.zeros(len(t))]
    got = clusters.arrival_clusters(np.array(rows, dtype=float))
    lab = got["labels"]
    assert lab[0] == lab[1] == lab[2] and lab[3] == lab[4] and lab[5] == lab[6]
    assert len({lab[0], lab[3], lab[5]}) == 3 and lab[7] == -1  # an idle template has no arrival pattern
    assert got["steady"] == 2 and got["left_out"] == 1


def test_profiles_and_hot_objects():
    figs = [_fig(0, ms=80.0, share=0.8, tables=("orders",)), _fig(1, ms=20.0, share=0.2, kind="update",
                                                                   tables=("orders", "users"))]
    prof = clusters.profiles([0, 0], figs)
    assert prof[0]["size"] == 2 and prof[0]["calls"] == 200 and prof[0]["hot_tables"][0] == "orders"
    assert prof[0]["write_time_share"] == pytest.approx(0.2) and prof[0]["cache_hit_ratio"] == pytest.approx(0.9)
    hot = hot_objects(figs)
    assert hot["tables"][0] == {"name": "orders", "time_share": 1.0, "calls": 200, "templates": 2,
                                "write_time_share": 0.2}
    assert read_write_mix(figs)["write_calls_share"] == 0.5


# ------------------------------------------------------------------------------------------ forecast


def test_forecast_beats_seasonal_naive_on_a_daily_cycle():
    rng = np.random.default_rng(3)
    h = np.arange(24 * 21)
    y = rng.poisson(40 + 25 * np.sin(2 * np.pi * h / 24)).astype(float)
    fc = forecast.forecast(y[:-24], 24)
    assert fc["method"] == "mstl+ets" and fc["periods_h"] == [24]  # no weekly pattern: no weekly component
    truth = 40 + 25 * np.sin(2 * np.pi * h[-24:] / 24)
    assert np.mean(np.abs(np.array(fc["mean"]) - truth)) < np.mean(np.abs(np.array(fc["seasonal_naive"]) - truth))
    inside = np.mean((y[-24:] >= fc["lower"]) & (y[-24:] <= fc["upper"]))
    assert inside >= 0.5  # a sanity floor on 24 points; bench_forecast measures the coverage of the 80% interval


def test_forecast_bad_input():
    assert forecast.forecast(np.array([1.0, 2.0]))["method"] == "none"
    assert forecast.forecast(np.zeros(100))["method"] == "constant"
    flat = forecast.forecast(np.full(60, 7.0), 3)
    assert flat["mean"] == [7.0, 7.0, 7.0]
    gappy = np.r_[np.full(30, np.nan), np.arange(30.0)]
    assert "mean" in forecast.forecast(gappy, 2)
    assert forecast.mase(np.ones(3), np.ones(3), np.full(50, 2.0)) is None  # no scale on a constant history


def test_hourly_sums_and_marks_gaps():
    t = _times(0.5)
    v = np.ones(len(t))
    v[7] = np.nan
    hours, sums = forecast.hourly(v, t, STEP)
    assert len(hours) == 12 and sums[0] == 6 and math.isnan(sums[1])


def test_spikes_scheduled_and_one_off():
    rng = np.random.default_rng(4)
    t = _times(10)
    v = rng.poisson(5, len(t)).astype(float)
    nightly = np.where(((t - STEP / 2) % 86400) // STEP == 18)[0]  # 03:00 every night
    v[nightly] = 60
    v[500] = 80  # once
    found = forecast.spikes(v, t, STEP)
    kinds = {s["index"]: s["kind"] for s in found}
    assert all(kinds.get(int(i)) == "scheduled" for i in nightly) and kinds.get(500) == "one-off"
    assert forecast.spikes(np.zeros(len(t)), t, STEP) == []


# ------------------------------------------------------------------------------------------ command


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pgadvisor", *args], capture_output=True, text=True, timeout=180,
                          env=dict(os.environ))


@pytest.fixture
def store_path(tmp_path):
    """Four days of 10-minute snapshots: three statements, two of them one template (IN lists of other
    lengths), a nightly job, and a text sqlglot cannot parse."""
    rows = statement_rows(4)
    rows[0]["query"] = "SELECT * FROM orders WHERE id IN ($1, $2)"
    rows[1]["query"] = "SELECT * FROM orders WHERE id IN ($1, $2, $3)"
    rows[2]["query"] = "SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id WHERE o.created_at > $1"
    rows[3]["query"] = "SELECT * FROM broken WHERE ((("
    path = str(tmp_path / "s.sqlite")
    now = T0 + 30 * 86400
    start = now - 4 * 86400
    rng = np.random.default_rng(5)
    with open_store(path) as st:
        for k in range(int(4 * 86400 / STEP) + 1):
            at = start + k * STEP
            if k:
                rows[0]["calls"] += int(rng.poisson(20))
                rows[1]["calls"] += int(rng.poisson(10))
                if ((at - STEP / 2) % 86400) // STEP == 6:
                    rows[2]["calls"] += 3
                    rows[2]["total_exec_time"] += 3000.0
                rows[3]["calls"] += 1
                for r in rows[:2]:
                    r["total_exec_time"] = r["calls"] * 0.2
            st.save_snapshot(snapshot("app", at, rows))
    return path, now


def test_workload_json_has_templates_classes_and_clusters(store_path):
    path, now = store_path
    r = run_cli("workload", "--store", path, "--since", "30000d", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == 1 and len(doc["statements"]) == 4  # the statements list stays
    tpl = {t["text"]: t for t in doc["templates"]}
    orders = tpl["SELECT * FROM orders WHERE id IN (?)"]
    assert sorted(orders["queryids"]) == sorted([doc["statements"][i]["queryid"] for i in range(4)
                                                 if "IN (" in doc["statements"][i]["query"]])
    assert orders["classes"]["type"] == "OLTP" and orders["classes"]["arrival"] == "continuous"
    job = next(t for t in doc["templates"] if "JOIN" in t["text"])
    assert job["classes"]["arrival"] == "scheduled" and job["evidence"]["arrival"]["at"] == "01:00 UTC"
    assert job["classes"]["type"] == "OLAP" and set(job["tables"]) == {"orders", "users"}
    assert doc["summary"]["unparsed"] == 1 and doc["summary"]["templates"] == 3
    assert {c["kind"] for c in doc["clusters"]} == {"behaviour", "arrival"}
    assert doc["hot_tables"][0]["name"] == "orders" and len(orders["calls_per_hour"]) >= 95
    assert doc["forecasts"] == []


def test_workload_forecast_and_terminal_view(store_path):
    path, _ = store_path
    r = run_cli("workload", "--store", path, "--since", "30000d", "--forecast", "--format", "json")
    assert r.returncode == 0, r.stderr
    fcs = json.loads(r.stdout)["forecasts"]
    assert fcs and all("calls" in f and "total_exec_ms" in f for f in fcs)
    top = next(f for f in fcs if f["target"] == "template")
    assert top["calls"]["method"] in ("mstl+ets", "ets") and top["calls"]["next_hour"]["mean"] >= 0
    r = run_cli("workload", "--store", path, "--since", "30000d")
    assert r.returncode == 0 and "templates" in r.stdout and "clusters by behaviour" in r.stdout
    assert "SELECT * FROM broken" in r.stdout or "not parsed" in r.stdout


def test_workload_with_one_snapshot_says_what_is_needed(tmp_path):
    path = str(tmp_path / "one.sqlite")
    with open_store(path) as st:
        st.save_snapshot(snapshot("app", T0, statement_rows(3)))
    r = run_cli("workload", "--store", path, "--since", "30000d")
    assert r.returncode == 0 and "collect at least two snapshots" in r.stdout
    doc = json.loads(run_cli("workload", "--store", path, "--since", "30000d", "--format", "json").stdout)
    assert doc["statements"] == [] and "templates" not in doc

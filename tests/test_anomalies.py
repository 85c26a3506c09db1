"""Issue 12: `pgadvisor anomalies` — planted incidents found, clean traces quiet, gaps never a spike, bad input."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

from pgadvisor.analyze.anomalies import Z_METRIC, detect
from pgadvisor.analyze.series import load_series
from pgadvisor.store import open_store
from tests import synth
from tests.bench import synth_store

TOL = 3600.0
# the onset of a 1.5x shift on a statement with ~3 calls per interval is placed within about an hour either way
# (per-interval noise ~0.35 in log mean time); the bench scores with TOL, this test checks no alert is unrelated
LOOSE = 2 * TOL


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pgadvisor", "anomalies", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    path = tmp_path_factory.mktemp("an") / "planted.sqlite"
    truth = synth_store.generate(path, days=10, templates=80, seed=5)
    return str(path), truth


def test_planted_incidents_are_found_with_their_cause(planted):
    path, truth = planted
    since = truth["start"] + synth_store.WARMUP_DAYS * 86400
    with open_store(path, read_only=True) as st:
        s = load_series(st, truth["server"])
    found = detect(s, since=since)
    qid = s.statements["queryid"]
    alerts = [(qid[int(a.statement)], a) for a in found if a.statement is not None]
    incidents = truth["incidents"]
    assert incidents
    for inc in incidents:
        if inc["kind"] == "plan_change":
            assert any(q == inc["queryid"] and a.kind == "plan_change" and a.start == inc["start"] for q, a in alerts)
        elif inc["factor"] >= 2:
            hits = [a for q, a in alerts if q == inc["queryid"] and a.metric == "mean_time"
                    and inc["start"] - TOL <= a.start <= inc["end"] + TOL]
            assert hits, inc
            cause = {"cache_drop": "cache hit fell", "temp_spill": "temp spill appeared"}.get(inc["kind"])
            if cause:
                assert cause in hits[0].likely_cause
    # every mean-time alert is one of the planted incidents (no false alarm on this trace)
    for q, a in alerts:
        if a.metric == "mean_time":
            assert any(q == i["queryid"] and i["start"] - LOOSE <= a.start <= i["end"] + TOL for i in incidents), a
    kinds = {a.metric for a in found if a.statement is None}
    # the planted server incidents; a burst of fewer than Z_METRIC deadlocks (noise floor 1) is under the floor
    # (synth_store draws 5-19: its draws follow the store's end, which is now, so the burst changes run to run)
    planted = {i["metric"] for i in truth["server_incidents"] if i["kind"] != "deadlocks" or i["factor"] >= Z_METRIC}
    assert "connections" in planted and planted <= kinds
    assert all(a.severity in ("low", "medium", "high") and a.evidence for a in found)


def test_clean_trace_is_quiet(tmp_path):
    path = tmp_path / "clean.sqlite"
    truth = synth_store.generate(path, days=10, templates=80, seed=5, clean=True)
    with open_store(str(path), read_only=True) as st:
        s = load_series(st, truth["server"])
    found = detect(s, since=truth["start"] + synth_store.WARMUP_DAYS * 86400)
    assert len(found) <= 1, [a.to_dict() for a in found]  # 3 days x 80 templates: the goal is <= 0.24 alerts


def test_cli_json_fail_on_and_template_grouping(planted):
    path, truth = planted
    r = _cli("--store", path, "--since", "3d", "--format", "json", "--fail-on", "high")
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == 1 and doc["window"]["by"] == "template"
    an = doc["anomalies"]
    assert an and {"kind", "severity", "start", "size", "metric", "likely_cause", "evidence"} <= set(an[0])
    assert any(a["kind"] == "plan_change" for a in an)
    assert r.returncode == (1 if any(a["severity"] == "high" for a in an) else 0)
    r = _cli("--store", path, "--since", "3d", "--fail-on", "low", "--by", "statement")
    assert r.returncode == 1 and "likely cause" in r.stdout and "statements" in r.stdout


def test_bad_input(tmp_path):
    store = str(tmp_path / "s.sqlite")
    r = _cli("--store", store)  # no store there: exit 3 (cannot run), as `workload` says it
    assert r.returncode == 3 and "collect" in r.stderr and "Traceback" not in r.stderr
    rows = synth.statement_rows(3)
    with open_store(store) as st:
        st.save_snapshot(synth.snapshot("a", 1e9, rows))
    r = _cli("--store", store, "--since", "100000d")
    assert r.returncode == 2 and "at least two snapshots" in r.stderr
    r = _cli("--store", store, "--since", "soon")
    assert r.returncode == 2 and "--since" in r.stderr


def test_a_reset_or_constant_series_raises_nothing(tmp_path):
    """A pg_stat_statements reset inside the window (counters start again: a gap), an eviction, steady and idle
    statements: no anomaly — the partial interval is not read as a drop or a spike."""
    rows = synth.statement_rows(6)
    rnd = random.Random(2)
    t0 = 1_700_000_000.0
    with open_store(str(tmp_path / "s.sqlite")) as st:
        for k in range(400):
            for r in rows[:4]:  # steady statements; rows[4:] never move (all-zero series)
                n = 20 + rnd.randint(-3, 3)
                r["calls"] += n
                r["total_exec_time"] += n * 2.0 * rnd.uniform(0.9, 1.1)
            reset = 1.0 if k < 300 else 2.0
            if k == 300:
                for r in rows:
                    r.update(calls=3, total_exec_time=6.0)  # a few calls since the reset
            present = rows if k not in (350,) else rows[1:]  # rows[0] evicted once, back after
            st.save_snapshot(synth.snapshot("a", t0 + k * 600, present, stats_reset=reset))
        s = load_series(st, "a")
    assert s.intervals["reset"].sum() == 1
    found = detect(s, since=t0 + 200 * 600)
    assert found == [], [a.to_dict() for a in found]

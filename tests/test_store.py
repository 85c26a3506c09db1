"""Store semantics on both backends: deltas, resets, evictions, dedup, prune, versions, crash safety."""

from __future__ import annotations

import random
import sqlite3

import psycopg
import pytest
from synth import advance, snapshot, statement_rows

from pgadvisor.errors import StoreError
from pgadvisor.store import open_store
from pgadvisor.store.migrations import LATEST
from pgadvisor.workload import load_workload


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path, make_db):
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite")
    return make_db(extensions=())


def _calls(w) -> dict[str, int]:
    return {s.queryid: s.calls for s in w.statements}


def test_deltas_between_snapshots(store_url):
    rows = statement_rows(50)
    with open_store(store_url) as st:
        st.save_snapshot(snapshot("s1", 1000.0, rows))
        before = {r["queryid"]: r["calls"] for r in rows}
        advance(rows, 0.2, random.Random(3))
        res = st.save_snapshot(snapshot("s1", 1600.0, rows))
        assert res["status"] == "stored" and res["changed"] == 10
        w = load_workload(st, "s1", since=0)
        expected = {r["queryid"]: r["calls"] - before[r["queryid"]] for r in rows if r["calls"] != before[r["queryid"]]}
        assert _calls(w) == expected
        assert w.coverage["complete"] is True and w.coverage["intervals"] == 1


def test_counter_going_down_is_a_reset_not_negative(store_url):
    rows = statement_rows(5)
    with open_store(store_url) as st:
        st.save_snapshot(snapshot("s", 1000.0, rows))
        for r in rows:
            r["calls"] += 10
        st.save_snapshot(snapshot("s", 1100.0, rows))
        # pg_stat_statements_reset() on the server: counters restart from zero
        for r in rows:
            r["calls"], r["total_exec_time"] = 3, 1.5
        res = st.save_snapshot(snapshot("s", 1200.0, rows, stats_reset=1150.0))
        assert res["reset"] == "pg_stat_statements was reset"
        w = load_workload(st, "s", since=0)
        assert all(c == 13 for c in _calls(w).values())
        assert w.coverage["resets"] == 1 and not w.coverage["complete"]


def test_restart_and_eviction_are_recorded(store_url):
    rows = statement_rows(10)
    with open_store(store_url) as st:
        st.save_snapshot(snapshot("s", 1000.0, rows))
        gone = rows.pop()  # evicted between snapshots
        rows[0]["calls"] += 5
        res = st.save_snapshot(snapshot("s", 1100.0, rows, dealloc=1))
        assert res["evicted"] == 1
        for r in rows:
            r["calls"] = 2  # a crash: every counter starts over, with a new stats_reset
        res = st.save_snapshot(snapshot("s", 1200.0, rows, postmaster_start=1150.0, stats_reset=1150.0, dealloc=0))
        assert res["reset"].startswith("server restarted without keeping")
        w = load_workload(st, "s", since=0)
        assert w.coverage["evicted_statements"] == 1 and w.coverage["dealloc"] == 1
        assert gone["queryid"] not in _calls(w)
        assert _calls(w)[rows[0]["queryid"]] == 5 + 2


def test_unchanged_snapshot_stores_no_statement_rows(store_url):
    rows = statement_rows(200)
    with open_store(store_url) as st:
        st.save_snapshot(snapshot("s", 1000.0, rows, parts={"settings": [{"name": "a", "setting": "1"}]}))
        count = lambda table: st.query(f"SELECT count(*) FROM {table}")[0][0]  # noqa: E731
        before = {t: count(t) for t in ("texts", "statements", "stat_totals", "blobs", "stat_last")}
        res = st.save_snapshot(snapshot("s", 1600.0, rows, parts={"settings": [{"name": "a", "setting": "1"}]}))
        assert res["changed"] == 0
        after = {t: count(t) for t in before}
        assert after == before
        assert count("snapshots") == 2


def test_older_snapshot_than_stored_is_skipped(store_url):
    rows = statement_rows(3)
    with open_store(store_url) as st:
        st.save_snapshot(snapshot("s", 2000.0, rows))
        assert st.save_snapshot(snapshot("s", 1000.0, rows))["status"] == "skipped"


def test_prune_downsamples_and_keeps_totals(store_url):
    rows = statement_rows(30)
    rnd = random.Random(7)
    day = 86400.0
    with open_store(store_url) as st:
        for i in range(3 * 24):  # three days of hourly snapshots
            st.save_snapshot(snapshot("s", day + i * 3600.0, rows))
            advance(rows, 0.3, rnd)
        full = _calls(load_workload(st, "s", since=0))
        result = st.prune(older_than_s=day, now=5 * day)
        assert result["snapshots_removed"] > 40
        assert st.query("SELECT count(*) FROM snapshots")[0][0] == 3 * 2  # first + last of each day
        assert _calls(load_workload(st, "s", since=0)) == full


def test_store_newer_than_code_is_refused(tmp_path):
    path = tmp_path / "s.sqlite"
    with open_store(str(path)):
        pass
    con = sqlite3.connect(path)
    con.execute("INSERT INTO schema_migrations VALUES (?, 'from the future', 0)", (LATEST + 1,))
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer pgadvisor"):
        open_store(str(path))


def test_corrupted_store_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "s.sqlite"
    junk = b"this is not sqlite" * 100
    path.write_bytes(junk)
    with pytest.raises(StoreError, match="not a readable pgadvisor store"):
        open_store(str(path))
    assert path.read_bytes() == junk


def test_postgres_store_unreachable_hides_password():
    with pytest.raises(StoreError) as exc:
        open_store("postgresql://bob:hunter2secret@127.0.0.1:1/store")
    assert "hunter2secret" not in str(exc.value)


def test_two_writers_serialise(tmp_path):
    path = str(tmp_path / "s.sqlite")
    a, b = open_store(path), open_store(path)
    rows = statement_rows(20)
    a.save_snapshot(snapshot("a", 1000.0, rows))
    b.save_snapshot(snapshot("b", 1000.0, rows))
    a.save_snapshot(snapshot("b", 1100.0, rows))
    assert sorted(a.servers()) == ["a", "b"]
    a.close()
    b.close()


def test_postgres_backend_rejects_bad_url():
    with pytest.raises(StoreError):
        open_store("postgresql://nouser@127.0.0.1:1/none?connect_timeout=1")
    assert psycopg  # the backend is psycopg itself


def test_reader_of_an_older_store(tmp_path):
    from pgadvisor.store.api import connect_store as _connect

    path = str(tmp_path / "s.sqlite")
    with open_store(path) as st:
        st.execute("INSERT INTO servers (name, created_at) VALUES ('x', 0)")
        st.execute("INSERT INTO texts (hash, query) VALUES ('h', 'SELECT 1 WHERE a = $1')")
        st.execute("INSERT INTO samples (server_id, queryid, text_hash, seen_at, params) VALUES (1, 'q', 'h', 0, ?)",
                   ('[["\'5\'"]]',))
    con = sqlite3.connect(path)  # what pgadvisor wrote before migration 4 (no bind values, no counts)
    con.execute("ALTER TABLE samples DROP COLUMN params")
    con.execute("ALTER TABLE samples DROP COLUMN times")
    con.execute("ALTER TABLE stat_last DROP COLUMN stats_since")  # migration 7
    con.execute("ALTER TABLE snapshots DROP COLUMN pgss_max")
    con.execute("DROP TABLE models")  # migration 8
    con.execute("DELETE FROM schema_migrations WHERE version >= 4")
    con.commit()
    con.close()
    with _connect(path, read_only=True) as old:  # a store we may not write to is read as it is
        assert old.schema_version() == 3 and LATEST >= 5
        assert old.samples(1, ["q"]) == {"q": [("SELECT 1 WHERE a = $1", [], 1)]}
    with open_store(path, read_only=True) as st:  # a reader that may write brings the store up to date first
        assert st.schema_version() == LATEST and st.read_only
        assert st.samples(1, ["q"]) == {"q": [("SELECT 1 WHERE a = $1", [], 1)]}


def test_sample_values_are_kept_newest_last_and_never_huge(tmp_path):
    from dataclasses import replace

    from pgadvisor.pg.logs import Sample

    text = "SELECT * FROM t WHERE a = $1"
    small = [Sample("q", "app", "u", text, 1.0, (f"'{i}'",)) for i in range(5)]
    huge = Sample("q2", "app", "u", "SELECT * FROM t WHERE b = $1", 1.0, ("'" + "x" * 20_000 + "'",))
    with open_store(str(tmp_path / "s.sqlite")) as st:
        st.save_snapshot(replace(snapshot("srv", 100.0, statement_rows(2)), samples=[*small, huge]))
        got = st.samples(st.server_id("srv"), ["q", "q2"])
    assert got["q"] == [(text, [("'2'",), ("'3'",), ("'4'",)], 5)]  # the last three value sets; logged 5 times
    assert got["q2"] == [("SELECT * FROM t WHERE b = $1", [], 1)]  # a 20 kB value is not stored


def test_a_sample_text_counts_the_times_it_was_logged(tmp_path):
    from dataclasses import replace

    from pgadvisor.pg.logs import SAME_TEXT_MIN, Sample
    from pgadvisor.workload import StatementStats, with_samples

    text = "UPDATE o SET status = 'processing' WHERE id = (SELECT id FROM o WHERE status = 'pending' LIMIT 1)"
    with open_store(str(tmp_path / "s.sqlite")) as st:
        st.save_snapshot(replace(snapshot("srv", 100.0, statement_rows(2)), samples=[Sample("q", "a", "u", text, 1.0)]))
        sid = st.server_id("srv")
        once = st.samples(sid, ["q"])
        st.save_snapshot(replace(snapshot("srv", 200.0, statement_rows(2)),
                                 samples=[Sample("q", "a", "u", text, 1.0)] * (SAME_TEXT_MIN - 1)))
        often = st.samples(sid, ["q"])
    assert once == {"q": [(text, [], 1)]} and often == {"q": [(text, [], SAME_TEXT_MIN)]}
    pgss = StatementStats("q", "UPDATE o SET status = $1 WHERE id = (SELECT id FROM o WHERE status = $2 LIMIT $3)",
                          10, 0, True, 40, 4.0, 40)
    # logged once, its constants could be a parameter's value; logged every time the same, they are its own
    assert with_samples([pgss], once)[0].query == pgss.query
    [s] = with_samples([pgss], often)
    assert s.query == text and s.template == pgss.query and s.examples == (text,)

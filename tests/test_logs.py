"""Statement samples from the JSON log: parsing (recorded lines) and collect --log end to end."""

from __future__ import annotations

import json
import time

import psycopg
from test_collect import run_cli

from pgadvisor.pg.local import JSONLOG_SETTINGS, start_cluster
from pgadvisor.pg.logs import examples, parse_record, read_samples, substitute, template_from_samples
from pgadvisor.store import open_store


def rec(message: str, detail: str | None = None, query_id: int = 77) -> dict:
    r = {"error_severity": "LOG", "message": message, "dbname": "app", "user": "u", "query_id": query_id}
    if detail:
        r["detail"] = detail
    return r


def test_execute_keeps_the_applications_constants_and_bind_parameters():
    text = "select * from t where a = $1 and b like $2 and c = '$1' and d = 'pending' -- $2"
    s = parse_record(rec(f"duration: 0.010 ms  execute <unnamed>: {text}", "parameters: $1 = '7', $2 = 'it''s%'"))
    assert s.queryid == "77" and s.dbname == "app"
    assert s.text == text and s.values == ("'7'", "'it''s%'")
    assert substitute(text, {1: "'7'", 2: "'x'"}) == \
        "select * from t where a = '7' and b like 'x' and c = '$1' and d = 'pending' -- $2"


def test_template_from_inlined_samples():
    a = "SELECT * FROM o WHERE status = 'pending' AND user_id = 42 AND t1.x > 3.5 LIMIT 20"
    b = "SELECT * FROM o WHERE status = 'pending' AND user_id = 7 AND t1.x > 9 LIMIT 20"
    assert template_from_samples([a, b]) == \
        "SELECT * FROM o WHERE status = 'pending' AND user_id = $1 AND t1.x > $2 LIMIT 20"
    assert template_from_samples([a]) is None  # one inlined sample cannot tell constants from values
    assert template_from_samples([a, "SELECT 1"]) is None
    assert template_from_samples([a, "SELECT * FROM o WHERE x = $1"]) == "SELECT * FROM o WHERE x = $1"


def test_simple_statement_and_null_parameter():
    assert parse_record(rec("duration: 1.5 ms  statement: SELECT 1 WHERE 'x' = 'x'")).text == \
        "SELECT 1 WHERE 'x' = 'x'"
    assert substitute("update t set a = $1 where id = $10", {1: "NULL", 10: "'3'"}) == \
        "update t set a = NULL where id = '3'"


def test_what_is_not_kept():
    assert parse_record(rec("duration: 1 ms  statement: ALTER ROLE bob PASSWORD 'secret'")) is None
    assert parse_record(rec("duration: 1 ms  statement: SELECT * FROM users WHERE password = 'x'")) is None
    assert parse_record(rec("duration: 1 ms  statement: /* pgadvisor */ SELECT 1")) is None
    assert parse_record(rec("duration: 1 ms  parse <unnamed>: SELECT $1")) is None  # bind/parse lines repeat
    assert parse_record(rec("duration: 1 ms  execute <unnamed>: SELECT $1", "parameters: $2 = '1'")) is None
    assert parse_record(rec("duration: 1 ms  statement: SELECT 1", query_id=0)) is None
    assert parse_record({"error_severity": "ERROR", "message": "boom"}) is None
    assert parse_record(rec("duration: 1 ms  statement: VACUUM t")) is None
    assert parse_record(rec("duration: 1 ms  statement: /* select */ SET x = 'select'")) is None


def test_kept_statements_are_those_the_guard_lets_explain():
    """A sample is kept when its first keyword is one EXPLAIN plans (pg/guard.py's EXPLAINABLE), after
    comments of either kind and opening parentheses, as the code guard reads it."""
    for text in ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
                 "-- the app's comment\nSELECT * FROM t WHERE a = 1",
                 "(SELECT a FROM t) UNION (SELECT a FROM u)",
                 "/* a /* nested */ comment */ values (1)"):
        assert parse_record(rec(f"duration: 1 ms  statement: {text}")).text == text


def test_incremental_reading_and_half_written_lines(tmp_path):
    f = tmp_path / "pg.json"
    line = json.dumps(rec("duration: 1 ms  statement: SELECT 2"))
    f.write_text(line + "\n" + line[:20])
    samples, offsets = read_samples(str(tmp_path), {})
    assert len(samples) == 1
    with open(f, "a") as fh:
        fh.write(line[20:] + "\n")
    samples2, offsets2 = read_samples(str(tmp_path), offsets)
    assert len(samples2) == 1 and list(offsets2.values())[0] == f.stat().st_size
    assert read_samples(str(tmp_path), offsets2)[0] == []


def test_examples_substitute_logged_values_newest_first():
    t = "SELECT * FROM o WHERE s = 'x' AND id > $1 LIMIT $2"
    samples = [(t, [("'1'", "'10'"), ("'2'", "'20'"), ("'3'", "'30'")]), ("SELECT * FROM o WHERE s = $1", [("'y'",)])]
    assert examples(t, samples, limit=2) == ["SELECT * FROM o WHERE s = 'x' AND id > '3' LIMIT '30'",
                                    "SELECT * FROM o WHERE s = 'x' AND id > '2' LIMIT '20'"]
    assert examples(t, [(t, [])]) == []  # no values logged (or --no-log-values): the generic plan only
    inlined = ["SELECT * FROM o WHERE id = 5", "SELECT * FROM o WHERE id = 6"]
    tpl = template_from_samples(inlined)
    assert examples(tpl, [(x, []) for x in inlined], limit=3) == inlined


def test_collect_with_log_stores_samples_and_recommend_uses_them(tmp_path):
    cluster = start_cluster(settings=JSONLOG_SETTINGS)
    try:
        dsn = cluster.dsn()
        with psycopg.connect(dsn, autocommit=True) as conn:
            for ext in ("pg_stat_statements", "hypopg"):
                conn.execute(f"CREATE EXTENSION {ext}")
            conn.execute("CREATE TABLE orders (id int PRIMARY KEY, status text, created_at timestamptz)")
            conn.execute("INSERT INTO orders SELECT g, CASE WHEN g % 500 = 0 THEN 'pending' ELSE 'delivered' END, "
                         "now() - (g || ' s')::interval FROM generate_series(1, 200000) g")
            conn.execute("ANALYZE orders")
        store = str(tmp_path / "s.sqlite")
        log = str(cluster.logdir)
        assert run_cli("collect", "--dsn", dsn, "--store", store, "--log", log, "--name", "x").returncode == 0
        with psycopg.connect(dsn, autocommit=True) as conn:
            cur = psycopg.RawCursor(conn)
            for i in range(30):  # extended protocol: pg_stat_statements shows status = $1 too
                cur.execute("SELECT id FROM orders WHERE status = 'pending' AND id > $1 ORDER BY created_at LIMIT 20",
                            [str(i)])
        time.sleep(0.3)
        r = run_cli("collect", "--dsn", dsn, "--store", store, "--log", log, "--name", "x", "--format", "json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["results"][0]["samples"] >= 1
        with open_store(store) as st:
            texts = [t for (t,) in st.query("SELECT t.query FROM samples s JOIN texts t ON t.hash = s.text_hash")]
        assert any("status = 'pending' AND id > $1" in t for t in texts)
        assert not any("pgadvisor" in t for t in texts)
        with open_store(store) as st:
            [(text, values, _)] = [x for xs in st.samples(st.server_id("x"), [q for (q,) in st.query(
                "SELECT queryid FROM samples")]).values() for x in xs if "status = 'pending'" in x[0]]
        assert len(values) == 3 and values[-1] == ("'29'",)  # the newest value sets, for custom plans
        quiet = str(tmp_path / "novalues.sqlite")
        r = run_cli("collect", "--dsn", dsn, "--store", quiet, "--log", log, "--name", "x", "--no-log-values")
        assert r.returncode == 0, r.stderr
        with open_store(quiet) as st:
            assert st.query("SELECT count(*), count(params) FROM samples")[0][0] >= 1
            assert st.query("SELECT count(params) FROM samples")[0][0] == 0
        r = run_cli("recommend", "--dsn", dsn, "--store", store, "--format", "json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["sampled_statements"] >= 1
        sqls = " ".join(x["sql"] for x in doc["recommendations"])
        assert "status = 'pending'" in sqls, json.dumps(doc["stats"])[:3000]  # the app's own constant
        r = run_cli("collect", "--dsn", dsn, "--store", store, "--log", str(tmp_path / "nope"))
        assert r.returncode == 2 and "--log: no such file or directory" in r.stderr
    finally:
        cluster.stop()

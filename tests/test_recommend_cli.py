"""`pgadvisor recommend` end to end against a real PostgreSQL with hypopg."""

from __future__ import annotations

import json

import psycopg
import pytest
from test_collect import exec_sql, run_cli


@pytest.fixture
def shop(make_db) -> str:
    dsn = make_db(extensions=("pg_stat_statements", "hypopg"))
    exec_sql(dsn,
             'CREATE TABLE "Customer Orders" (id int PRIMARY KEY, "UserId" int, status text, "créé" timestamptz, '
             "total numeric)",
             'INSERT INTO "Customer Orders" SELECT g, g % 5000, CASE WHEN g % 100 = 0 THEN \'pending\' ELSE '
             "'done' END, now() - (g || ' minutes')::interval, g FROM generate_series(1, 60000) g",
             'ANALYZE "Customer Orders"')
    return dsn


def rec_json(*args: str) -> dict:
    r = run_cli("recommend", *args, "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_statement_given_by_hand_gets_a_verified_index(shop):
    doc = rec_json('SELECT * FROM "Customer Orders" WHERE "UserId" = 42 ORDER BY "créé" DESC LIMIT 10', "--dsn", shop)
    assert doc["schema"] == 1
    creates = [r for r in doc["recommendations"] if r["rule"] == "create-index"]
    assert creates, doc
    top = creates[0]
    assert top["verified"] == "hypopg" and top["sql"].startswith("CREATE INDEX CONCURRENTLY")
    assert '"Customer Orders"' in top["sql"] and '"UserId"' in top["sql"]
    assert top["rollback_sql"].startswith("DROP INDEX CONCURRENTLY")
    assert top["benefit"]["cost_after"] < top["benefit"]["cost_before"]
    with psycopg.connect(shop) as conn:  # hypothetical indexes never outlive the session; nothing real was made
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'Customer Orders'").fetchone()[0] == 1


def test_apply_creates_the_index_and_remeasures(shop):
    doc = rec_json('SELECT * FROM "Customer Orders" WHERE "UserId" = $1', "--dsn", shop, "--apply")
    applied = doc["applied"]
    assert applied and all(a["ok"] for a in applied)
    with psycopg.connect(shop) as conn:
        names = [r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'Customer Orders'")]
    assert any(a["index"].split(".")[-1].strip('"') in names for a in applied)
    assert doc["remeasured"] and all(m["cost_real_after"] < m["cost_before"] for m in doc["remeasured"])


def test_budget_junk_is_a_usage_error(shop):
    r = run_cli("recommend", "SELECT 1", "--dsn", shop, "--budget", "lots")
    assert r.returncode == 2 and r.stderr.startswith("error: --budget: invalid size 'lots'")


def test_store_without_that_server(shop, tmp_path):
    from synth import snapshot, statement_rows

    from pgadvisor.store import open_store

    with open_store(str(tmp_path / "s.sqlite")) as st:
        st.save_snapshot(snapshot("elsewhere", 1.0, statement_rows(2)))
    r = run_cli("recommend", "--dsn", shop, "--store", str(tmp_path / "s.sqlite"), "--server", "prod")
    assert r.returncode == 2 and "no snapshots for server 'prod'" in r.stderr


def test_dropped_table_and_unparseable_texts_are_reported_not_fatal(shop):
    doc = rec_json("SELECT * FROM no_such_table WHERE a = 1", "SELEC garbage FRM", 'SELECT * FROM "Customer Orders" '
                   "WHERE status = 'pending'", "--dsn", shop)
    st = doc["stats"]
    assert st["parse"]["failed"] == 1
    reasons = " ".join(st["statements"]["skip_reasons"])
    assert "no_such_table" in reasons or "does not exist" in reasons or "unknown table" in reasons
    assert any(r["target"] == "public.Customer Orders" for r in doc["recommendations"])


def test_without_hypopg_advice_is_heuristic(make_db, admin_dsn):
    dsn = make_db(extensions=())
    exec_sql(dsn, "CREATE TABLE t (id int PRIMARY KEY, k int)",
             "INSERT INTO t SELECT g, g % 1000 FROM generate_series(1, 50000) g", "ANALYZE t")
    exec_sql(admin_dsn, "DROP ROLE IF EXISTS weak", "CREATE ROLE weak LOGIN")
    exec_sql(dsn, "GRANT SELECT ON t TO weak")
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    params["user"] = "weak"
    doc = rec_json("SELECT * FROM t WHERE k = 7", "--dsn", psycopg.conninfo.make_conninfo(**params))
    creates = [r for r in doc["recommendations"] if r["rule"] == "create-index"]
    assert creates and all(r["verified"] == "heuristic" for r in creates)
    assert all(r["confidence"] <= 0.5 for r in creates)


def test_from_the_store_weighted_by_calls(shop, tmp_path):
    store = str(tmp_path / "s.sqlite")
    assert run_cli("collect", "--dsn", shop, "--store", store, "--name", "shop").returncode == 0
    with psycopg.connect(shop, autocommit=True) as conn:
        for i in range(40):
            conn.execute('SELECT id, total FROM "Customer Orders" WHERE "UserId" = %s', (i,))
    assert run_cli("collect", "--dsn", shop, "--store", store, "--name", "shop").returncode == 0
    doc = rec_json("--dsn", shop, "--store", store)
    assert doc["server"] == "shop"
    served = [s for r in doc["recommendations"] for s in r["evidence"].get("statements", [])]
    assert any(s["calls"] == 40 for s in served)
    md = run_cli("recommend", "--dsn", shop, "--store", store, "--format", "markdown")
    assert md.returncode == 0 and md.stdout.startswith("# pgadvisor recommendations") and "```sql" in md.stdout


def test_statements_file(shop, tmp_path):
    f = tmp_path / "q.sql"
    f.write_text('-- two statements\nSELECT * FROM "Customer Orders" WHERE "UserId" = 1;\n'
                 "SELECT * FROM \"Customer Orders\" WHERE status = 'x;y';\n")
    doc = rec_json("--file", str(f), "--dsn", shop)
    assert doc["stats"]["statements"]["total"] == 2
    r = run_cli("recommend", "--file", str(tmp_path / "missing.sql"), "--dsn", shop)
    assert r.returncode == 2 and "cannot read" in r.stderr


def test_prefix_of_an_existing_index_only_for_a_large_gain(make_db):
    dsn = make_db(extensions=("hypopg",))
    exec_sql(dsn,
             "CREATE TABLE lines (order_id int, code text, qty int, PRIMARY KEY (order_id, code))",
             "INSERT INTO lines SELECT g / 4, md5(g::text) || md5(g::text), g % 10 FROM generate_series(1, 200000) g "
             "ORDER BY random()",
             "CREATE TABLE slim (order_id int, code text, qty int, PRIMARY KEY (order_id, code))",
             "INSERT INTO slim SELECT g / 4, left(md5(g::text), 8), g % 10 FROM generate_series(1, 200000) g "
             "ORDER BY random()",
             "VACUUM ANALYZE lines, slim")
    # a 64-character second key: (order_id) alone is far smaller than the primary key, and cheaper to scan
    q = "SELECT count(*) FROM lines WHERE order_id BETWEEN 1000 AND 5000"
    [rec] = [r for r in rec_json(q, "--dsn", dsn)["recommendations"] if r["rule"] == "create-index"]
    assert rec["sql"].endswith("lines USING btree (order_id);"), rec["sql"]
    assert "a narrower version of public.lines_pkey" in rec["evidence"]["why"]
    assert rec["benefit"]["cost_after"] < 0.9 * rec["benefit"]["cost_before"]
    # an 8-character second key: the primary key costs only 6% more; the prefix is not worth a second index
    q = "SELECT count(*) FROM slim WHERE order_id BETWEEN 1000 AND 5000"
    default = rec_json(q, "--dsn", dsn, "--verbose")
    assert not [r for r in default["recommendations"] if r["rule"] == "create-index"]
    [why] = [r["reason"] for r in default["rejected"] if r["id"].startswith("create-index:public.slim(order_id")]
    assert why.startswith("a key prefix of public.slim_pkey") and "must cut its statements' cost by 10%" in why, why
    wide = rec_json(q, "--dsn", dsn, "--allow-prefixes")
    [rec] = [r for r in wide["recommendations"] if r["rule"] == "create-index"]
    assert rec["sql"].endswith("slim USING btree (order_id);"), rec["sql"]
    assert rec["benefit"]["cost_after"] < rec["benefit"]["cost_before"]


def test_max_slowdown_option(shop):
    r = run_cli("recommend", "SELECT 1", "--dsn", shop, "--max-slowdown", "fast")
    assert r.returncode == 2 and r.stderr.startswith("error: --max-slowdown: invalid percentage 'fast'"), r.stderr
    q = 'SELECT * FROM "Customer Orders" WHERE "UserId" = 42 ORDER BY "créé" DESC LIMIT 10'
    assert rec_json(q, "--dsn", shop, "--max-slowdown", "7.5%")["stats"]["selection"]["max_slowdown_pct"] == 7.5
    assert rec_json(q, "--dsn", shop)["stats"]["selection"]["max_slowdown_pct"] is None
    # an index on status ends the UPDATE's HOT updates: reported by default, kept out under a limit
    pending = """SELECT * FROM "Customer Orders" WHERE status = 'pending' ORDER BY "créé" LIMIT 50"""
    update = """UPDATE "Customer Orders" SET status = 'done' WHERE id = 7"""
    doc = rec_json(pending, update, "--dsn", shop)
    [slowed] = doc["stats"]["selection"]["slowed_statements"]
    assert slowed["query"] == update and "its updates of status stop being HOT" in slowed["why"]
    for fmt, title in (("table", "Writing statements these indexes slow down"),
                       ("markdown", "## Writing statements these indexes slow down")):
        out = run_cli("recommend", pending, update, "--dsn", shop, "--format", fmt)
        assert out.returncode == 0 and title in out.stdout and "stop being HOT" in out.stdout, out.stdout
    capped = rec_json(pending, update, "--dsn", shop, "--max-slowdown", "10%", "--verbose")
    assert not [r for r in capped["recommendations"] if r["rule"] == "create-index" and "status" in r["sql"]]
    assert any("would slow `UPDATE" in r["reason"] for r in capped["rejected"])


def test_time_limit_option(shop):
    r = run_cli("recommend", "SELECT 1", "--dsn", shop, "--time-limit", "soon")
    assert r.returncode == 2 and r.stderr.startswith("error: --time-limit: invalid duration 'soon'")
    q = 'SELECT * FROM "Customer Orders" WHERE "UserId" = 42 ORDER BY "créé" DESC LIMIT 10'
    default = rec_json(q, "--dsn", shop)
    assert default["stats"]["selection"]["time_limit_s"] == 100 and not default["stats"]["selection"]["time_limit_hit"]
    assert rec_json(q, "--dsn", shop, "--time-limit", "none")["stats"]["selection"]["time_limit_s"] is None
    cut = rec_json(q, "--dsn", shop, "--time-limit", "0.001s")
    assert cut["stats"]["selection"]["time_limit_hit"] and cut["stats"]["candidates"]["not_screened"] > 0
    assert not [x for x in cut["recommendations"] if x["verified"] == "hypopg"]
    # the terminal and Markdown reports say that the run was cut short, and by what
    for fmt in ("table", "markdown"):
        out = run_cli("recommend", q, "--dsn", shop, "--time-limit", "0.001s", "--format", fmt)
        assert out.returncode == 0, out.stderr
        text = " ".join(out.stdout.split()).lower()
        assert "not screened before the time limit (0.001 s)" in text and "search stopped at the time limit" in text
        assert "no recommendations found before the time limit" in text and "already serve" not in text

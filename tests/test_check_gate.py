"""`pgadvisor check` and `baseline` end to end on a real PostgreSQL: exit codes, the summary line, scope,
the allow-list, baselines, GitHub Actions, and every bad input as one line with exit 2 or 3."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg
import pytest

from tests.conftest import scratch_db

SEED = """
CREATE TABLE customers (id bigint PRIMARY KEY, email text);
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer_id bigint REFERENCES customers (id),
    note text
);
CREATE INDEX orders_note_idx ON orders (note);
CREATE INDEX orders_note_copy ON orders (note);
CREATE TABLE flyway_schema_history (installed_rank int PRIMARY KEY, version text);
CREATE INDEX fl_v1 ON flyway_schema_history (version);
CREATE INDEX fl_v2 ON flyway_schema_history (version);
CREATE SCHEMA other;
CREATE TABLE other.t (id int PRIMARY KEY, a int);
CREATE INDEX o1 ON other.t (a);
CREATE INDEX o2 ON other.t (a);
CREATE TABLE dupes (id int PRIMARY KEY, a int);
INSERT INTO dupes VALUES (1, 1), (2, 1);
"""
RULES = ["--rule", "drop-invalid-index", "--rule", "drop-duplicate-index", "--rule", "fk-without-index"]
INVALID = "drop-invalid-index:public.dupes_a"
COPY = "drop-duplicate-index:public.orders_note_idx"  # by name, the copy kept is orders_note_copy
FK = "fk-without-index:public.orders:customer_id"


def seed(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SEED)
        with pytest.raises(psycopg.errors.UniqueViolation):  # leaves an invalid index behind
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY dupes_a ON dupes (a)")


@pytest.fixture(scope="module")
def seeded(admin_dsn):
    with scratch_db(admin_dsn, "check", "", extensions=("pg_stat_statements",)) as dsn:
        seed(dsn)
        yield dsn


def check(*args: str, cwd=None, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "PGADVISOR_"))}
    return subprocess.run([sys.executable, "-m", "pgadvisor", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env={**base, **(env or {})})


def doc_of(r: subprocess.CompletedProcess) -> dict:
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def keys(doc: dict, status: str = "new") -> set[str]:
    return {f["key"] for f in doc["findings"] if f["status"] == status}


def test_exit_codes_by_fail_on_and_the_summary_line(seeded, tmp_path):
    r = check("check", "--dsn", seeded, *RULES, "--format", "json", cwd=tmp_path)
    assert r.returncode == 1  # the invalid index: medium → warning, at the default fail-on
    doc = doc_of(r)
    assert {INVALID, COPY, FK, "drop-duplicate-index:other.o2"} == keys(doc)
    levels = {f["key"]: f["level"] for f in doc["findings"]}
    assert levels[INVALID] == "warning" and levels[COPY] == "info"
    assert doc["exit_code"] == 1 and doc["counts"]["new"] == {"error": 0, "warning": 1, "info": 3}
    assert r.stderr.strip().endswith("fail-on warning: FAIL (exit 1)")
    assert "3 rules run" in r.stderr and "1 warning, 3 info" in r.stderr
    assert check("check", "--dsn", seeded, *RULES, "--fail-on", "error", cwd=tmp_path).returncode == 0
    assert check("check", "--dsn", seeded, *RULES, "--fail-on", "never", cwd=tmp_path).returncode == 0
    only_info = ["--rule", "drop-duplicate-index"]
    assert check("check", "--dsn", seeded, *only_info, cwd=tmp_path).returncode == 0
    r = check("check", "--dsn", seeded, *only_info, "--fail-on", "info", cwd=tmp_path)
    assert r.returncode == 1 and f"\nINFO    {COPY}\n" in r.stdout


def test_runtime_rules_are_off_unless_asked_and_the_text_says_so(seeded, tmp_path):
    r = check("check", "--dsn", seeded, "--fail-on", "never", "-v", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "off     drop-unused-index: runtime rule" in r.stdout
    doc = doc_of(check("check", "--dsn", seeded, "--include-runtime", "--format", "json", cwd=tmp_path))
    unused = next(x for x in doc["rules"] if x["id"] == "drop-unused-index")
    assert unused["status"] == "ran"


def test_scope_schemas_and_migration_tables(seeded, tmp_path):
    doc = doc_of(check("check", "--dsn", seeded, *RULES, "--format", "json", cwd=tmp_path))
    assert "drop-duplicate-index:other.o2" in keys(doc)
    assert not any("fl_v" in k for k in keys(doc))  # flyway's table is skipped by default
    doc = doc_of(check("check", "--dsn", seeded, *RULES, "--schema", "public", "--format", "json", cwd=tmp_path))
    assert not any(k.startswith("drop-duplicate-index:other.") for k in keys(doc))
    (tmp_path / "pgadvisor.toml").write_text("[check]\nskip_migration_tables = false\nschemas = [\"public\"]\n")
    doc = doc_of(check("check", "--dsn", seeded, *RULES, "--format", "json", cwd=tmp_path))
    assert "drop-duplicate-index:public.fl_v2" in keys(doc) and "drop-duplicate-index:other.o2" not in keys(doc)


def test_allow_list_suppresses_and_an_expired_entry_stops_and_says_so(seeded, tmp_path):
    sub = tmp_path / "app" / "src"
    sub.mkdir(parents=True)
    (tmp_path / "pgadvisor.toml").write_text(
        f'[check]\nfail_on = "warning"\n\n[[check.allow]]\nkey = "{INVALID}"\nreason = "rebuilt nightly"\n'
        'expires = 2999-12-31\n')
    r = check("check", "--dsn", seeded, *RULES, "--format", "json", cwd=sub)  # found walking up
    doc = doc_of(r)
    assert r.returncode == 0 and INVALID in keys(doc, "allowed")
    allowed = next(f for f in doc["findings"] if f["key"] == INVALID)
    assert allowed["allowed"]["reason"] == "rebuilt nightly"
    (tmp_path / "pgadvisor.toml").write_text(
        f'[check]\nfail_on = "warning"\n\n[[check.allow]]\nkey = "{INVALID}"\nreason = "rebuilt nightly"\n'
        'expires = 2020-01-31\n')
    r = check("check", "--dsn", seeded, *RULES, cwd=sub)
    assert r.returncode == 1
    assert f"pgadvisor.toml:4: allow-list entry '{INVALID}' expired on 2020-01-31: it no longer suppresses " \
           "(1 finding)" in r.stdout
    r = check("check", "--dsn", seeded, *RULES, "--format", "sarif", cwd=sub)  # report on stdout, note on stderr
    assert r.returncode == 1 and "note: " in r.stderr and "expired on 2020-01-31" in r.stderr
    (tmp_path / "pgadvisor.toml").write_text(f'[[check.allow]]\nkey = "{INVALID}"\n')
    r = check("check", "--dsn", seeded, cwd=sub)
    assert r.returncode == 2 and "pgadvisor.toml:1: [[check.allow]]" in r.stderr and "has no reason" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_config_flag_and_its_dsn(seeded, tmp_path):
    conf = tmp_path / "ci.toml"
    conf.write_text(f'dsn = "{seeded}"\n[check]\nfail_on = "never"\ninclude = ["drop-invalid-index"]\n')
    r = check("check", "--config", str(conf), cwd=tmp_path)
    assert r.returncode == 0 and "1 rules run" in r.stdout and INVALID in r.stdout
    r = check("check", "--config", str(conf), "--fail-on", "warning", cwd=tmp_path)  # the flag beats the file
    assert r.returncode == 1


def test_baseline_fails_only_on_new_findings_and_lists_fixed_ones(make_db, tmp_path):
    dsn = make_db()
    seed(dsn)
    base = tmp_path / ".pgadvisor-baseline.json"
    r = check("baseline", "--dsn", dsn, "--output", str(base), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    written = json.loads(base.read_text())
    assert {INVALID, COPY, FK} <= {f["key"] for f in written["findings"]}
    from pgadvisor import __version__
    from pgadvisor.documents import DOC_SCHEMA

    assert written["schema"] == DOC_SCHEMA and written["pgadvisor"] == __version__  # the JSON envelope
    r = check("check", "--dsn", dsn, "--baseline", str(base), "--fail-on", "info", cwd=tmp_path)
    assert r.returncode == 0, r.stdout
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX orders_note_idx; CREATE INDEX customers_email_a ON customers (email);"
                     "CREATE INDEX customers_email_b ON customers (email)")
    doc = doc_of(check("check", "--dsn", dsn, *RULES, "--baseline", str(base), "--fail-on", "info",
                       "--format", "json", cwd=tmp_path))
    assert keys(doc) == {"drop-duplicate-index:public.customers_email_b"} and doc["exit_code"] == 1
    assert {INVALID, FK} <= keys(doc, "baseline")
    assert [x["key"] for x in doc["fixed"]] == [COPY]
    r = check("check", "--dsn", dsn, *RULES, "--baseline", str(base), cwd=tmp_path)
    assert "fixed since the baseline (1):\n  " + COPY in r.stdout


def test_baseline_of_another_database_or_version_or_not_a_baseline(seeded, make_db, tmp_path):
    base = tmp_path / "b.json"
    assert check("baseline", "--dsn", seeded, "-o", str(base), cwd=tmp_path).returncode == 0
    other = make_db()
    r = check("check", "--dsn", other, "--baseline", str(base), cwd=tmp_path)
    assert r.returncode == 2 and "is of database 'check_" in r.stderr and "hint: re-create it" in r.stderr
    doc = json.loads(base.read_text())
    doc["pgadvisor"] = "0.0.9"
    base.write_text(json.dumps(doc))
    r = check("check", "--dsn", seeded, "--baseline", str(base), cwd=tmp_path)
    assert r.returncode == 2 and "was written by pgadvisor 0.0.9" in r.stderr
    base.write_text('{"findings": []}')
    r = check("check", "--dsn", seeded, "--baseline", str(base), cwd=tmp_path)
    assert r.returncode == 2 and "is not a pgadvisor baseline" in r.stderr
    r = check("check", "--dsn", seeded, "--baseline", str(tmp_path / "missing.json"), cwd=tmp_path)
    assert r.returncode == 2 and "cannot read" in r.stderr
    assert "Traceback" not in r.stderr


def test_without_pg_stat_statements_static_rules_still_run(make_db, tmp_path):
    from pgadvisor.check.rules import PGSS_FIX, RuleInfo, ServerFacts, unmet

    dsn = make_db(extensions=())
    seed(dsn)
    doc = doc_of(check("check", "--dsn", dsn, "--format", "json", cwd=tmp_path))
    assert INVALID in keys(doc) and doc["exit_code"] == 1
    workload = [x for x in doc["rules"] if x["kind"] == "workload" and x["status"] != "off"]
    assert workload
    assert all(x["status"] == "skipped" and "CREATE EXTENSION pg_stat_statements" in x["reason"] for x in workload)
    fake = RuleInfo("new-statement", "workload", "medium", "", "", rule=None)
    facts = ServerFacts(150000, pgss_readable=False, pgss_problem="pg_stat_statements is not created in this database")
    assert unmet(fake, facts) == f"pg_stat_statements is not created in this database; fix: {PGSS_FIX}"


def test_output_that_cannot_be_written_and_a_server_that_cannot_be_reached(seeded, tmp_path):
    r = check("check", "--dsn", seeded, "--output", str(tmp_path / "no" / "such" / "dir" / "r.sarif"), cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: --output: cannot write") and "does not exist" in r.stderr
    r = check("check", "--dsn", seeded, "--output", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 2 and "is a directory" in r.stderr
    r = check("check", "--dsn", "host=/nonexistent-socket-dir port=1 connect_timeout=2", cwd=tmp_path)
    assert r.returncode == 3 and r.stderr.startswith("error: cannot connect") and len(r.stderr.splitlines()) == 1
    r = check("check", "--dsn", seeded, "--production-store", str(tmp_path / "none.sqlite"), "--server", "prod",
              cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: --production-store: ") and "Traceback" not in r.stderr
    r = check("check", "--dsn", seeded, "--server", "prod", cwd=tmp_path)
    assert r.returncode == 2 and "give --production-store too" in r.stderr
    r = check("check", "--dsn", seeded, "--rule", "no-such-rule", cwd=tmp_path)
    assert r.returncode == 2 and "unknown rule id 'no-such-rule'" in r.stderr


def test_github_actions_annotations_and_step_summary(seeded, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    r = check("check", "--dsn", seeded, *RULES, env=env, cwd=tmp_path)
    assert r.returncode == 1
    assert f"::warning title=pgadvisor drop-invalid-index%3A {INVALID.replace(':', '%3A')}::" in r.stderr
    assert "::notice title=pgadvisor fk-without-index" in r.stderr
    text = summary.read_text()
    assert text.startswith("earlier step\n### pgadvisor check: ❌ failed") and f"`{INVALID}`" in text


def test_findings_point_at_the_schema_file(seeded, tmp_path):
    schema = tmp_path / "db" / "schema.sql"
    schema.parent.mkdir()
    schema.write_text(SEED)
    doc = doc_of(check("check", "--dsn", seeded, *RULES, "--schema-file", "db/schema.sql", "--format", "json",
                       cwd=tmp_path))
    where = {f["key"]: f.get("location") for f in doc["findings"]}
    lines = SEED.splitlines()

    def at(text: str) -> dict:
        return {"path": "db/schema.sql", "line": lines.index(text) + 1}

    assert where[COPY] == at("CREATE INDEX orders_note_idx ON orders (note);")
    assert where[FK] == at("    customer_id bigint REFERENCES customers (id),")  # the column's line
    assert where[INVALID] == at("CREATE TABLE dupes (id int PRIMARY KEY, a int);")  # created by hand: its table


def test_production_store_without_the_server_or_a_snapshot_is_one_line(seeded, make_db, tmp_path):
    from pgadvisor.collect import collect
    from pgadvisor.store import open_store

    empty, full = str(tmp_path / "empty.sqlite"), str(tmp_path / "prod.sqlite")
    open_store(empty).close()
    with open_store(full) as st:
        st.save_snapshot(collect(seeded, "prod", plans_top=0))
    no_pgss = make_db(extensions=())  # the store is read before the database: a bad one fails even here
    for dsn in (seeded, no_pgss):
        r = check("check", "--dsn", dsn, "--production-store", empty, cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.startswith("error: --production-store: ") and "no snapshots" in r.stderr
        r = check("check", "--dsn", dsn, "--production-store", full, "--server", "staging", cwd=tmp_path)
        assert r.returncode == 2 and "holds no server 'staging' (servers: prod)" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) <= 2 and "Traceback" not in r.stderr  # the error and its hint
    (tmp_path / "junk.sqlite").write_text("not a store")
    r = check("check", "--dsn", seeded, "--production-store", str(tmp_path / "junk.sqlite"), cwd=tmp_path)
    assert r.returncode == 3 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    r = check("check", "--dsn", seeded, "--production-store", full, "--fail-on", "never", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_baseline_output_that_cannot_be_written(seeded, tmp_path):
    r = check("baseline", "--dsn", seeded, "--output", str(tmp_path / "no" / "dir" / "b.json"), cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: --output: cannot write") and "Traceback" not in r.stderr

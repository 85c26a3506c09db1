"""Every `--format json` document says which document shape and which pgadvisor wrote it (issue 10)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg
import typer.main

from pgadvisor import __version__
from pgadvisor.cli import app
from pgadvisor.documents import DOC_SCHEMA

# the commands issue 10 names; `demo`'s document is checked in tests/test_install.py
# (test_demo_runs_on_the_embedded_server_when_the_system_has_none)
COMMANDS = {"collect", "snapshots", "workload", "recommend", "doctor", "prune"}
# issue 11's gate: `check --format json` and `baseline` (JSON only), checked below on a database of their own
GATE_COMMANDS = {"check", "baseline"}
# commands whose document's envelope is checked in another test: command → "file::test"
ELSEWHERE = {
    "demo": "tests/test_install.py::test_demo_runs_on_the_embedded_server_when_the_system_has_none",
    "baseline": "tests/test_check_gate.py::test_baseline_fails_only_on_new_findings_and_lists_fixed_ones",
}


def _cli(*args: str, cwd: str | None = None) -> dict:
    r = subprocess.run([sys.executable, "-m", "pgadvisor", *args, "--format", "json"], capture_output=True,
                       text=True, timeout=300, env={k: v for k, v in os.environ.items() if k != "PGADVISOR_STORE"},
                       cwd=cwd)
    assert r.returncode in (0, 1), (args, r.stderr)
    doc = json.loads(r.stdout)
    assert doc["schema"] == DOC_SCHEMA and doc["pgadvisor"] == __version__, (args, list(doc)[:5])
    return doc


def _json_commands() -> set[str]:
    group = typer.main.get_command(app)
    out = set()
    for name, command in group.commands.items():
        for param in command.params:
            if "--format" in getattr(param, "opts", ()) and "json" in getattr(param.type, "choices", ()):
                out.add(name)
    return out


def test_every_json_document_carries_schema_and_version(make_db, tmp_path):
    dsn = make_db(("pg_stat_statements", "hypopg"))
    store = str(tmp_path / "s.sqlite")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, k int, v text)")
        conn.execute("INSERT INTO t SELECT i, i % 500, md5(i::text) FROM generate_series(1, 20000) i")
        conn.execute("ANALYZE t")
    seen = {}
    seen["collect"] = _cli("collect", "--dsn", dsn, "--store", store, "--name", "app")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for k in range(30):
            conn.execute("SELECT v FROM t WHERE k = %s", [k])
    _cli("collect", "--dsn", dsn, "--store", store, "--name", "app")
    seen["snapshots"] = _cli("snapshots", "--store", store)
    seen["workload"] = _cli("workload", "--store", store)
    seen["recommend"] = _cli("recommend", "--dsn", dsn, "SELECT v FROM t WHERE k = 42")
    seen["doctor"] = _cli("doctor", "--dsn", dsn, "--store", store)
    seen["prune"] = _cli("prune", "--older-than", "30d", "--store", store)
    assert seen["snapshots"]["servers"][0]["snapshots"] == 2  # the documents are the real ones
    assert any("public.t USING btree (k)" in r.get("sql", "") for r in seen["recommend"]["recommendations"])
    assert set(seen) == COMMANDS and COMMANDS <= _json_commands()


def test_check_and_baseline_documents_carry_schema_and_version(make_db, tmp_path):
    dsn = make_db(("pg_stat_statements",))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE no_key (a int)")
    # in an empty directory: no pgadvisor.toml or pyproject.toml above it changes the policy
    check = _cli("check", "--dsn", dsn, cwd=str(tmp_path))
    base = _cli("baseline", "--dsn", dsn, cwd=str(tmp_path))
    assert check["kind"] == "pgadvisor-check" and base["kind"] == "pgadvisor-baseline"
    keys = {f["key"] for f in check["findings"]}
    assert "table-without-primary-key:public.no_key" in keys
    assert {f["key"] for f in base["findings"]} == keys  # the baseline is the same findings (none allowed)
    assert GATE_COMMANDS <= _json_commands()


def test_the_documents_tested_elsewhere_are_json_commands_with_their_test():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    assert set(ELSEWHERE) <= _json_commands()
    for command, where in ELSEWHERE.items():
        path, _, name = where.partition("::")
        source = (root / path).read_text()
        assert f"def {name}(" in source, (command, where)
        body = source.split(f"def {name}(", 1)[1].split("\ndef ", 1)[0]
        assert '["pgadvisor"] == __version__' in body, (command, where)  # the envelope is asserted there

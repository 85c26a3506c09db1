"""The CI recipe, docker/ci-check.sh, run as a CI system would: wait for the database, migrate, check.

`python3 tests/test_check_recipe.py` (in .ci/run) runs it on a throwaway cluster against the seeded
fixture (fixtures/check/); pytest runs it on the session's cluster, with its failure modes."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "docker" / "ci-check.sh"
FIXTURE = ROOT / "fixtures" / "check"
SCHEMAS = Path(__file__).parent / "schemas"


def migrate_command() -> str:
    """The seeded fixture's files in order (some statements fail on purpose: they leave an invalid index,
    so psql goes on after an error), or the e-commerce schema when the fixture is missing."""
    files = sorted(FIXTURE.glob("*.sql")) or [ROOT / "pgadvisor" / "data" / "ecommerce" / "schema.sql"]
    return " && ".join(f'psql "$PGADVISOR_DSN" -X -q -f {shlex.quote(str(f))} >/dev/null 2>&1' for f in files)


def run_recipe(dsn: str, *args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "PGADVISOR_"))}
    env = {**base, "PGADVISOR_DSN": dsn, "PGADVISOR": f"{shlex.quote(sys.executable)} -m pgadvisor", **(env or {})}
    return subprocess.run(["sh", str(RECIPE), *args], capture_output=True, text=True, env=env, timeout=300,
                          cwd=cwd or ROOT)


def prove(dsn: str, out: Path) -> list[str]:
    """Run the recipe on the fixture; the problems found with it (empty: proven)."""
    import jsonschema

    sarif = out / "pgadvisor.sarif"
    r = run_recipe(dsn, "--wait", "30", "--migrate", migrate_command(), "--", "--format", "sarif",
                   "--output", str(sarif))
    problems = []
    if r.returncode != 1:
        problems.append(f"exit {r.returncode}, expected 1 (the fixture's seeded problems): {r.stderr.strip()}")
    if "ci-check: database ready" not in r.stderr or "pgadvisor check: " not in r.stderr:
        problems.append(f"no readiness or summary line: {r.stderr.strip()}")
    if sarif.exists():
        doc = json.loads(sarif.read_text())
        jsonschema.Draft4Validator(json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())).validate(doc)
        if not doc["runs"][0]["results"]:
            problems.append("the SARIF report holds no results")
    else:
        problems.append("no SARIF report written")
    return problems


def _fresh_db(admin_dsn: str) -> str:
    import psycopg

    name = f"recipe_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    dsn = psycopg.conninfo.make_conninfo(**{**params, "dbname": name})
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    return dsn


def test_recipe_migrates_and_checks_the_fixture(admin_dsn, tmp_path):
    assert prove(_fresh_db(admin_dsn), tmp_path) == []


def test_recipe_failure_modes_are_one_line_and_exit_3_or_2(admin_dsn, tmp_path):
    r = run_recipe("host=/nonexistent-dir port=1", "--wait", "1")
    assert r.returncode == 3 and r.stderr.strip() == "ci-check: the database did not accept connections within 1s"
    dsn = _fresh_db(admin_dsn)
    r = run_recipe(dsn, "--migrate", "exit 7")
    assert r.returncode == 3 and r.stderr.strip().endswith("ci-check: the migrations failed: exit 7")
    bad = tmp_path / "bad.sql"
    bad.write_text("CREATE TABLE t (a int);\nSELECT no_such_function();\n")
    r = run_recipe(dsn, "--sql", str(bad))
    assert r.returncode == 3 and r.stderr.strip().endswith(f"ci-check: applying {bad} failed")
    r = run_recipe(dsn, "--bogus")
    assert r.returncode == 2 and "unknown option --bogus" in r.stderr
    r = run_recipe(dsn, "--", "--fail-on", "sometimes")
    assert r.returncode == 2  # pgadvisor check's own usage error comes through


if __name__ == "__main__":  # .ci/run: prove the recipe on a throwaway cluster
    import tempfile

    from pgadvisor.pg.local import start_cluster

    with start_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        found = prove(_fresh_db(cluster.dsn()), Path(tmp))
    print("docker/ci-check.sh on the seeded fixture: " + ("ok" if not found else "; ".join(found)))
    sys.exit(1 if found else 0)

"""Issue 8's attacks 1, 2, 7, 8 and 9 against the pgadvisor code in a directory, on PostgreSQL 15.

    git worktree add /tmp/pgadvisor-before 0337fde
    python3 tests/bench/bench_security.py /tmp/pgadvisor-before    # the code before
    python3 tests/bench/bench_security.py .                        # this checkout

The CLI runs with PYTHONPATH set to that directory; the cluster and the traps come from this
checkout's tests (test_security.EVIL). Prints one line per observation (docs/security.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402
from conftest import dsn_for  # noqa: E402
from test_security import ATTACKS, EVIL, evil_runs  # noqa: E402

from pgadvisor.pg.local import JSONLOG_SETTINGS, start_cluster  # noqa: E402

PAYLOAD = ("select * from victim where id = 1; commit; set default_transaction_read_only = off; commit; "
           "select mark() from victim where id = 1")


def cli(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": code, "COLUMNS": "300"}
    return subprocess.run([sys.executable, "-m", "pgadvisor", *args], capture_output=True, text=True, env=env, cwd=code,
                          timeout=300)


def sql(dsn: str, *stmts: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in stmts:
            conn.execute(s)


def run(code: str) -> dict:
    out: dict = {}
    cluster = start_cluster(settings=JSONLOG_SETTINGS)
    store = str(Path(tempfile.mkdtemp()) / "s.sqlite")
    try:
        app = cluster.create_database("app", ("pg_stat_statements", "hypopg"))
        sql(app, "CREATE ROLE mallory LOGIN", "GRANT ALL ON SCHEMA public TO mallory")
        mal = dsn_for(app, "app", "mallory")
        sql(mal, EVIL)
        log = str(cluster.logdir)
        cli(code, "collect", "--dsn", app, "--store", store, "--log", log, "--name", "app")
        with psycopg.connect(mal, autocommit=True) as conn:
            for _ in range(3):
                for text in ATTACKS:
                    conn.execute(text)
                conn.execute(PAYLOAD)
            conn.execute("DELETE FROM marks")
        time.sleep(0.5)
        out["1/2 collect exit"] = cli(code, "collect", "--dsn", app, "--store", store, "--log", log,
                                      "--name", "app").returncode
        out["2 mallory's code run as postgres by collect"] = int(evil_runs(app))
        out["1 recommend --store exit"] = cli(code, "recommend", "--dsn", app, "--store", store).returncode
        with psycopg.connect(app) as conn:
            out["1 rows mark() wrote"] = conn.execute(
                "SELECT count(*), string_agg(who || ' ro=' || ro, ',') FROM marks").fetchone()
        out["2 ... and after recommend --store"] = int(evil_runs(app))
        cli(code, "recommend", ATTACKS[0], "--dsn", app)
        out["2 ... and after recommend by hand"] = int(evil_runs(app))
        sql(app, "select pg_sleep(0.01) /* [/] */")
        cli(code, "collect", "--dsn", app, "--store", store, "--name", "app")
        r = cli(code, "workload", "--store", store)
        out["7 workload exit, stderr"] = (r.returncode, r.stderr.strip()[:120])
        sql(app, "CREATE ROLE mon LOGIN IN ROLE pg_monitor")
        r = cli(code, "recommend", "SELECT * FROM victim WHERE v = 'x'", "--dsn", dsn_for(app, "app", "mon"))
        out["8 recommend as pg_monitor: exit, output"] = (r.returncode,
                                                          (r.stdout + r.stderr).strip().splitlines()[:2])
        with psycopg.connect(app) as locker:
            locker.execute("LOCK TABLE marks IN ACCESS EXCLUSIVE MODE")
            r = cli(code, "collect", "--dsn", app, "--store", store, "--name", "app", "--schema-every", "0s")
            out["9 collect exit, stderr"] = (r.returncode, r.stderr.strip()[:120])
            r = cli(code, "recommend", "SELECT * FROM victim WHERE v = 'x'", "--dsn", app)
            out["9 recommend exit, stderr"] = (r.returncode, r.stderr.strip()[:120])
    finally:
        cluster.stop()
    return out


if __name__ == "__main__":
    for key, value in run(str(Path(sys.argv[1]).resolve())).items():
        print(f"{key}: {value}")

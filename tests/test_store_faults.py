"""Issue 8 items 4 and 11: an owner-only store, doctor's warning, and bad stores/targets refused before anything
is written; a snapshot's write is all or nothing, whatever stops it (real server, the CLI as a user runs it)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys

import psycopg

from pgadvisor.store import open_store


def run_cli(*args: str, env: dict | None = None, umask: int = 0o022) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pgadvisor", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "250", **(env or {})}, preexec_fn=lambda: os.umask(umask))


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def run(dsn: str, *stmts: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in stmts:
            conn.execute(s)


# -- item 4: owner-only store -------------------------------------------------------------------------------


def test_new_store_and_its_directories_are_owner_only(db, tmp_path):
    store = tmp_path / "made" / "by" / "pgadvisor" / "s.sqlite"
    r = run_cli("collect", "--dsn", db, "--store", str(store))  # the usual umask 022 (0644 files, 0755 dirs)
    assert r.returncode == 0, r.stderr
    assert mode(store) == 0o600
    assert [mode(d) for d in (store.parent, store.parent.parent, store.parent.parent.parent)] == [0o700] * 3
    old = os.umask(0o022)
    try:
        with open_store(str(store)) as st, st.write():  # while it is open its WAL and shared memory exist
            st.execute("INSERT INTO servers (name, created_at) VALUES ('w', 0)")
            for f in (f"{store}-wal", f"{store}-shm"):
                assert os.path.exists(f) and mode(f) == 0o600, f
    finally:
        os.umask(old)


def test_default_store_location_is_owner_only(db, tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "PGADVISOR_STORE": ""}
    r = run_cli("collect", "--dsn", db, env=env)
    assert r.returncode == 0, r.stderr
    store = tmp_path / "xdg" / "pgadvisor" / "store.sqlite"
    assert mode(store) == 0o600 and mode(store.parent) == 0o700 and mode(tmp_path / "xdg") == 0o700


def test_doctor_warns_about_a_store_others_can_read(db, tmp_path):
    store = tmp_path / "s.sqlite"
    assert run_cli("collect", "--dsn", db, "--store", str(store)).returncode == 0
    os.chmod(store, 0o644)  # as pgadvisor created it before
    r = run_cli("doctor", "--dsn", db, "--store", str(store))
    assert r.returncode == 0, r.stdout + r.stderr  # a warning, not a failure
    assert "✗ store owner-only" in r.stdout and f"fix: chmod 600 {store}" in r.stdout
    doc = json.loads(run_cli("doctor", "--dsn", db, "--store", str(store), "--format", "json").stdout)
    check = next(c for c in doc["checks"] if c["name"] == "store owner-only")
    assert check["ok"] is False and check["level"] == "warning" and check["fix"] == f"chmod 600 {store}"
    os.chmod(store, 0o600)
    r = run_cli("doctor", "--dsn", db, "--store", str(store))
    assert "✓ store owner-only" in r.stdout


# -- item 11: targets files -----------------------------------------------------------------------------------


def test_duplicate_target_name_errors_before_anything_is_collected(db, make_db, tmp_path):
    other = make_db()
    targets = tmp_path / "t.toml"
    targets.write_text(f'[[targets]]\nname = "app"\ndsn = "{db}"\n\n[[targets]]\nname = "app"\ndsn = "{other}"\n')
    store = tmp_path / "s.sqlite"
    r = run_cli("collect", "--targets", str(targets), "--store", str(store))
    assert r.returncode == 2 and "duplicate target name 'app'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not store.exists()  # nothing was collected, no store was made


def test_empty_targets_file_message_keeps_its_brackets(tmp_path):
    targets = tmp_path / "t.toml"
    targets.write_text("targets = []\n")
    r = run_cli("collect", "--targets", str(targets), "--store", str(tmp_path / "s.sqlite"))
    assert r.returncode == 2 and "has no [[targets]] entries" in r.stderr, r.stderr


def test_dsn_next_to_targets_is_a_usage_error(db, tmp_path):
    targets = tmp_path / "t.toml"
    targets.write_text(f'[[targets]]\nname = "app"\ndsn = "{db}"\n')
    store = tmp_path / "s.sqlite"
    r = run_cli("collect", "--targets", str(targets), "--dsn", db, "--store", str(store))
    assert r.returncode == 2 and "--dsn and --targets" in r.stderr and not store.exists()
    r = run_cli("collect", "--targets", str(targets), "--name", "other", "--store", str(store))
    assert r.returncode == 2 and "--name and --targets" in r.stderr and not store.exists()
    # PGADVISOR_DSN in the environment is a default, not a conflict
    r = run_cli("collect", "--targets", str(targets), "--store", str(store), env={"PGADVISOR_DSN": db})
    assert r.returncode == 0, r.stderr


# -- item 11: stores that are not ours, or damaged -------------------------------------------------------------


def test_unrelated_sqlite_file_is_refused_and_left_unchanged(db, tmp_path):
    other = tmp_path / "crm.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT)")
    con.execute("INSERT INTO customers (email) VALUES ('a@example.com')")
    con.commit()
    con.close()
    before = digest(other)
    for args in (["collect", "--dsn", db], ["workload"], ["snapshots"], ["prune", "--older-than", "1d"]):
        r = run_cli(*args, "--store", str(other))
        assert r.returncode == 3, (args, r.stderr)
        assert "is not a pgadvisor store" in r.stderr and "customers" in r.stderr
        assert len([x for x in r.stderr.splitlines() if x.startswith("error:")]) == 1
        assert "internal error" not in r.stderr
    assert digest(other) == before
    con = sqlite3.connect(other)
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["customers"]


def test_database_with_other_tables_is_refused_as_a_postgres_store(db, make_db):
    app = make_db(extensions=())
    run(app, "CREATE TABLE orders (id int)")
    r = run_cli("collect", "--dsn", db, "--store", app)
    assert r.returncode == 3 and "is not a pgadvisor store" in r.stderr and "orders" in r.stderr
    with psycopg.connect(app) as conn:
        assert conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
                            ).fetchone()[0] == 1


def test_corrupt_page_is_one_clear_line(db, tmp_path):
    store = tmp_path / "s.sqlite"
    run(db, "CREATE TABLE t (a int)")
    assert run_cli("collect", "--dsn", db, "--store", str(store)).returncode == 0
    run(db, *[f"SELECT {i} AS c{i} FROM t" for i in range(30)])
    assert run_cli("collect", "--dsn", db, "--store", str(store)).returncode == 0
    con = sqlite3.connect(store)
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    roots = [r[0] for r in con.execute("SELECT rootpage FROM sqlite_master WHERE name IN ('texts', 'stat_last')")]
    con.close()
    with open(store, "r+b") as fh:  # damaged pages: the root pages of the texts and stat_last tables
        for root in roots:
            fh.seek((root - 1) * page_size)
            fh.write(b"\xde\xad\xbe\xef" * (page_size // 4))
    before = digest(store)
    for args in (["workload", "--since", "1d"], ["collect", "--dsn", db]):
        r = run_cli(*args, "--store", str(store))
        assert r.returncode == 3, (args, r.stdout, r.stderr)
        errors = [x for x in r.stderr.splitlines() if x.startswith("error:")]
        assert len(errors) == 1 and str(store) in errors[0] and "malformed" in errors[0], r.stderr
        assert "internal error" not in r.stderr and "DatabaseError" not in r.stderr
    assert digest(store) == before


# -- crash safety: one snapshot is one transaction (DESIGN §4) -------------------------------------------------

# `python -m pgadvisor` whose write path, once everything of a snapshot is written, says so and hangs inside
# the still open transaction (the fault is injected here, by patching the module; pgadvisor has no hook)
HANG_IN_WRITE = """
import runpy, sys, time
from pgadvisor.store import write
save_samples = write._save_samples
def save_and_hang(*args):
    save_samples(*args)
    print("in the write transaction", flush=True)
    time.sleep(120)
write._save_samples = save_and_hang
sys.argv = ["pgadvisor", *sys.argv[1:]]
runpy.run_module("pgadvisor", run_name="__main__")
"""


def test_kill_during_write_leaves_store_as_before(db, tmp_path):
    store = str(tmp_path / "s.sqlite")
    assert run_cli("collect", "--dsn", db, "--store", store).returncode == 0
    con = sqlite3.connect(store)
    before = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("snapshots", "snapshot_parts")}
    con.close()
    proc = subprocess.Popen([sys.executable, "-c", HANG_IN_WRITE, "collect", "--dsn", db, "--store", store],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "in the write transaction", proc.stderr.read()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    con = sqlite3.connect(store)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in before} == before
    con.close()
    assert run_cli("collect", "--dsn", db, "--store", store).returncode == 0


def test_error_during_write_leaves_store_as_before(make_db, tmp_path, monkeypatch):
    from synth import snapshot, statement_rows

    from pgadvisor.store import write

    rows = statement_rows(20)
    for url in (str(tmp_path / "s.sqlite"), make_db(extensions=())):
        with open_store(url) as st:
            st.save_snapshot(snapshot("s", 1000.0, rows))
            tables = ("snapshots", "stat_last", "stat_totals", "statements", "texts", "blobs", "snapshot_parts")
            before = {t: st.query(f"SELECT * FROM {t} ORDER BY 1, 2") for t in tables}

            def fail(*args):
                raise OSError("disk full")

            with monkeypatch.context() as m:
                m.setattr(write, "_save_parts", fail)  # after the statements, counters and snapshot row
                rows[0]["calls"] += 1
                new = [*rows, {**rows[0], "queryid": "1", "query": "SELECT 'new'"}]
                try:
                    st.save_snapshot(snapshot("s", 1100.0, new, parts={"settings": [{"name": "a"}]}))
                except OSError:
                    pass
                else:
                    raise AssertionError("the injected fault did not fire")
            assert {t: st.query(f"SELECT * FROM {t} ORDER BY 1, 2") for t in tables} == before
            assert st.save_snapshot(snapshot("s", 1100.0, rows))["changed"] == 1

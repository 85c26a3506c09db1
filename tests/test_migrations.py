"""Frozen store migrations: the schema they build is the one released pgadvisor built, nothing in them is
generated from live code, and a store at every historical version migrates to the latest with its data
intact (SQLite and PostgreSQL)."""

from __future__ import annotations

import ast
import hashlib
import time
from pathlib import Path

import pytest

from pgadvisor.snapshot import COUNTERS, Snapshot
from pgadvisor.store import migrations, open_store
from pgadvisor.store.backend import Backend, connect, pack, text_hash
from pgadvisor.store.migrations import LATEST, MIGRATIONS, MIGRATIONS_TABLE

# Schemas captured once from a store created from scratch by pgadvisor at a3d1a83 (store schema v7, when
# migration 1 was still rendered from COUNTERS), with sqlite_schema / postgres_schema below; schema_v8.* is
# schema_v7.* plus migration 8's models table, captured the same way when it was added (issue 13).
EXPECTED = Path(__file__).parent.parent / "fixtures" / "store"

# sha256 of each migration's SQL (SQLite, NUL, PostgreSQL), first 16 hex digits. A released migration
# never changes: a store that ran it will not run it again. Change the schema with a new migration.
FROZEN = {
    1: "170e9c3688be0787",
    2: "2836e3f3bc29b636",
    3: "2a0b9aef9ed7dbd8",
    4: "9cb06244ee441c20",
    5: "0a3a838dc0a8a9ed",
    6: "6e340b9cffb37a98",  # a data step, no SQL
    7: "33013c339e475325",
    8: "6c56d241c0729915",
}


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path, make_db):
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite")
    return make_db(extensions=())


def sqlite_schema(db: Backend) -> str:
    rows = db.query("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
    return "".join(f"-- {t} {n} on {tb}\n{sql or ''}\n" for t, n, tb, sql in rows)


def postgres_schema(db: Backend) -> str:
    cols = db.query("SELECT table_name, ordinal_position, column_name, data_type, is_nullable, column_default "
                    "FROM information_schema.columns WHERE table_schema = current_schema() "
                    "ORDER BY table_name, ordinal_position")
    cons = db.query("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE connamespace = current_schema()::regnamespace ORDER BY 1, 2")
    idx = db.query("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                   "ORDER BY 1, 2")
    lines = [f"column {t}.{c} #{n} {ty} {'NULL' if nul == 'YES' else 'NOT NULL'} DEFAULT {d}"
             for t, n, c, ty, nul, d in cols]
    lines += [f"constraint {t}.{n} {d}" for t, n, d in cons]
    lines += [f"index {t}.{n} {d}" for t, n, d in idx]
    return "".join(line + "\n" for line in lines)


def schema(db: Backend) -> str:
    return sqlite_schema(db) if db.dialect == "sqlite" else postgres_schema(db)


def build_at(url: str, version: int) -> None:
    """A store as the pgadvisor whose latest migration was `version` left it: migrations 1..version."""
    with connect(url, read_only=False, cls=Backend) as db, db.write():
        db.execute(MIGRATIONS_TABLE)
        for m in MIGRATIONS[:version]:
            m.apply(db)
            db.execute("INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
                       (m.version, m.description, time.time()))


# -- the schema -------------------------------------------------------------------------------------------------


def test_a_new_store_has_the_schema_released_code_built(store_url):
    dialect = "sqlite" if "://" not in store_url and "dbname=" not in store_url else "postgres"
    with open_store(store_url) as st:
        assert st.schema_version() == LATEST == 8
        assert schema(st) == (EXPECTED / f"schema_v8.{dialect}.txt").read_text()


def test_migrations_are_frozen_literal_sql():
    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST + 1))
    for m in MIGRATIONS:
        assert m.description and "\n" not in m.description
        assert (m.sqlite.strip() and m.postgres.strip()) or (m.data and not m.sqlite and not m.postgres), m.version
        digest = hashlib.sha256((m.sqlite + "\0" + m.postgres).encode()).hexdigest()[:16]
        assert digest == FROZEN.get(m.version), f"migration {m.version} changed: add a new migration instead"
    for path in Path(migrations.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # SQLITE and POSTGRES are plain string literals, not built from code
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") in ("SQLITE", "POSTGRES")
                                                    for t in node.targets):
                assert isinstance(node.value, ast.Constant) and isinstance(node.value.value, str), path.name
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "pgadvisor.snapshot" not in imported, path.name  # nothing rendered from COUNTERS


def test_a_store_newer_than_the_code_is_refused(store_url):
    from pgadvisor.errors import StoreError

    build_at(store_url, LATEST)
    with connect(store_url, read_only=False, cls=Backend) as db, db.write():
        db.execute("INSERT INTO schema_migrations VALUES (?, 'from the future', 0)", (LATEST + 1,))
    with pytest.raises(StoreError, match=f"newer pgadvisor .*v{LATEST + 1}, this version knows up to v{LATEST}"):
        open_store(store_url)


# -- a store at every version ------------------------------------------------------------------------------------

ORDERS = "SELECT * FROM orders WHERE id = $1"
STATUS = "UPDATE orders SET status = $1 WHERE id = $2"
SECRET = "ALTER ROLE app PASSWORD 'hunter2'"  # stored as it was before migration 6 redacted texts
REDACTED = "ALTER ROLE app PASSWORD '<redacted>'"
SAMPLE = "SELECT * FROM orders WHERE id = 7"
RELATIONS = [{"schema": "public", "name": "orders", "reltuples": 1000.0, "n_tup_ins": 1000}]

# per statement (queryid, text): cumulative counters last seen, and its running totals at snapshot 2
# (calls, total_exec_time, rows); 101 moved by 20 calls in interval 1-2, 102 did not, 103 appeared at 2
STATEMENTS = [
    ("101", ORDERS, (50, 25.0, 50), (20, 10.0, 20)),
    ("102", STATUS, (7, 3.5, 7), None),
    ("103", SECRET, (1, 0.5, 0), (1, 0.5, 0)),
]


def fill(db: Backend, version: int) -> None:
    """Two snapshots of one server as pgadvisor at store `version` wrote them (only columns it had)."""
    with db.write():
        db.execute("INSERT INTO servers (name, created_at) VALUES ('app', 0)")
        for seq, taken_at, dealloc, changed in ((1, 1000.0, 0, 0), (2, 1600.0, 1, 2)):
            db.execute(
                "INSERT INTO snapshots (server_id, seq, taken_at, system_identifier, server_version, version_num, "
                "postmaster_start, datname, dbid, pgss_version, pgss_dealloc, pgss_stats_reset, n_statements, "
                "n_changed, dealloc_delta, intervals, duration_ms) "
                "VALUES (1, ?, ?, '42', '15.0', 150000, 1.0, 'app', 5, '1.10', ?, 1.0, ?, ?, ?, ?, 5.0)",
                (seq, taken_at, dealloc, seq + 1, changed, dealloc, seq - 1),
            )
        if version >= 3:
            db.execute("UPDATE snapshots SET schema_fingerprint = 'fp', schema_read_at = 1600 WHERE seq = 2")
        if version >= 7:
            db.execute("UPDATE snapshots SET pgss_max = 1000")
        for queryid, text, last, total in STATEMENTS:
            text = REDACTED if version >= 6 and text == SECRET else text
            db.execute("INSERT INTO texts (hash, query) VALUES (?, ?)", (text_hash(text), text))
            db.execute("INSERT INTO statements (server_id, queryid, userid, dbid, toplevel, text_hash) "
                       "VALUES (1, ?, 10, 5, 1, ?)", (queryid, text_hash(text)))
            st_id = db.query("SELECT id FROM statements WHERE queryid = ?", (queryid,))[0][0]
            db.execute("INSERT INTO stat_last (statement_id, server_id, calls, total_exec_time, rows, "
                       "t_calls, t_total_exec_time, t_rows) VALUES (?, 1, ?, ?, ?, ?, ?, ?)",
                       (st_id, *last, *(total or (0, 0.0, 0))))
            if total:
                db.execute("INSERT INTO stat_totals (server_id, statement_id, seq, t_calls, t_total_exec_time, "
                           "t_rows) VALUES (1, ?, 2, ?, ?, ?)", (st_id, *total))
        ids = [r[0] for r in db.query("SELECT id FROM statements ORDER BY id")]
        for seq, parts in ((1, {"present": ids[:2]}), (2, {"present": ids, "relations": RELATIONS})):
            snap_id = db.query("SELECT id FROM snapshots WHERE seq = ?", (seq,))[0][0]
            for kind, value in parts.items():
                h, data = pack(value)
                db.execute("INSERT INTO blobs (hash, data) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING", (h, data))
                db.execute("INSERT INTO snapshot_parts (snapshot_id, kind, hash) VALUES (?, ?, ?)", (snap_id, kind, h))
        if version >= 2:
            db.execute("INSERT INTO texts (hash, query) VALUES (?, ?)", (text_hash(SAMPLE), SAMPLE))
            db.execute("INSERT INTO samples (server_id, queryid, text_hash, dbname, seen_at, duration_ms) "
                       "VALUES (1, '101', ?, 'app', 1500, 3.0)", (text_hash(SAMPLE),))
            db.execute("INSERT INTO log_offsets (server_id, file_key, file_offset) VALUES (1, 'pg.json', 4096)")
        if version >= 4:
            db.execute("UPDATE samples SET params = ?", ('[["\'7\'"]]',))
        if version >= 5:
            db.execute("UPDATE samples SET times = 4")


def counters(calls: int, exec_ms: float, rows: int) -> dict:
    return {**{c: 0 for c in COUNTERS}, "calls": calls, "total_exec_time": exec_ms, "rows": rows}


def window(st) -> dict[str, tuple]:
    lo, hi = st.window_seqs(1, None, None)
    return {r["queryid"]: (r["calls"], r["total_exec_time"], r["rows"], r["query"]) for r in st.aggregate(1, lo, hi)}


@pytest.mark.parametrize("version", range(1, LATEST + 1))
def test_a_store_at_every_version_migrates_with_its_data(store_url, version):
    build_at(store_url, version)
    with connect(store_url, read_only=False, cls=Backend) as db:
        assert db.schema_version() == version
        fill(db, version)
    with open_store(store_url) as st:
        assert st.schema_version() == LATEST
        assert window(st) == {"101": (20, 10.0, 20, ORDERS), "103": (1, 0.5, 0, REDACTED)}
        cov = st.coverage(1, 1, 2)
        assert (cov["snapshots"], cov["intervals"], cov["dealloc"], cov["resets"]) == (2, 1, 1, 0)
        # a deallocation run evicts 5% of pg_stat_statements.max: the recorded 1,000, else the default 5,000
        assert cov["dealloc_evicted_estimate"] == (50 if version >= 7 else 250)
        assert st.parts(1)["relations"] == RELATIONS and len(st.parts(1, 1)["present"]) == 2
        sample = (SAMPLE, [("'7'",)] if version >= 4 else [], 4 if version >= 5 else 1)
        assert st.samples(1, ["101"]) == ({"101": [sample]} if version >= 2 else {})
        assert st.log_offsets("app") == ({"pg.json": 4096} if version >= 2 else {})
        assert st.schema_state("app") == (("fp", 1600.0) if version >= 3 else (None, None))
        assert st.query("SELECT query FROM texts WHERE query LIKE '%hunter2%'") == []
        # the current write path carries on from the counters the older version stored
        res = st.save_snapshot(Snapshot(
            server="app", taken_at=2200.0,
            info={"system_identifier": "42", "version": "15.0", "version_num": 150000, "postmaster_start": 1.0,
                  "datname": "app", "dbid": 5},
            pgss={"extversion": "1.10", "dealloc": 1, "stats_reset": 1.0},
            statements=[{**counters(*last), "queryid": q, "userid": 10, "dbid": 5, "toplevel": True, "query": t}
                        for q, t, last, _ in STATEMENTS[1:]]
            + [{**counters(60, 30.0, 60), "queryid": "101", "userid": 10, "dbid": 5, "toplevel": True,
                "query": ORDERS}]))
        assert (res["status"], res["changed"], res["new"], res["evicted"], res["reset"]) == ("stored", 1, 0, 0, None)
        assert window(st) == {"101": (30, 15.0, 30, ORDERS), "103": (1, 0.5, 0, REDACTED)}
        assert st.snapshots()[0]["snapshots"] == 3

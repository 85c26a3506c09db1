"""The partition advisor (issue 14) on a real cluster: the scratch place's checks, candidates, evaluation on
copies, the decision (gain, the primary-key trap, blockers) and a native migration that runs."""

from __future__ import annotations

import psycopg
import pytest
from conftest import dsn_for, scratch_db

from pgadvisor.advise.partitions import advise_partitions, migration
from pgadvisor.errors import CannotRun, UsageError
from pgadvisor.pg.connect import connect
from pgadvisor.pg.partition import PartitionSpec, table_profile
from pgadvisor.pg.scratch import open_scratch
from pgadvisor.workload import StatementStats

# 60 days × 2,000 rows a day, 20 tenants with a skew; small enough to build in a second
EVENTS = """
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ts timestamptz NOT NULL,
                     tenant_id int NOT NULL, kind int NOT NULL, value float8, payload text);
INSERT INTO events (ts, tenant_id, kind, value, payload)
SELECT timestamptz '2026-01-01' + (g * interval '60 days' / 120000), (g % 97) % 20, g % 13, g * 0.5,
       repeat('x', 40)
  FROM generate_series(1, 120000) g;
CREATE INDEX events_tenant_ts ON events (tenant_id, ts);
CREATE TABLE small (id int PRIMARY KEY, note text);
CREATE TABLE parted (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
CREATE TABLE parted_2 PARTITION OF parted FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
ANALYZE;
"""


@pytest.fixture(scope="module")
def target(admin_dsn):
    with scratch_db(admin_dsn, "parts_target", EVENTS, extensions=()) as dsn:
        yield dsn


@pytest.fixture(scope="module")
def scratch(admin_dsn):
    with scratch_db(admin_dsn, "parts_scratch", "", extensions=()) as dsn:
        yield dsn


def stmt(qid: str, text: str, calls: int, ms: float) -> StatementStats:
    return StatementStats(queryid=qid, query=text, userid=10, dbid=0, toplevel=True, calls=calls,
                          total_exec_ms=ms, rows=calls)


WINDOW = stmt("1", "SELECT tenant_id, count(*), avg(value) FROM events WHERE ts >= $1 AND ts < $2 "
                   "GROUP BY tenant_id", 2000, 60000.0)
RETENTION = stmt("2", "DELETE FROM events WHERE ts < $1", 30, 9000.0)
PK = stmt("3", "SELECT * FROM events WHERE id = $1", 50000, 4000.0)
INSERT = stmt("4", "INSERT INTO events (ts, tenant_id, kind, value, payload) VALUES ($1, $2, $3, $4, $5)",
              20000, 2000.0)


def run(target, scratch, statements, **kw):
    return advise_partitions(target, statements, scratch_dsn=scratch, include_small=True, **kw)


def test_time_window_workload_gets_range_partitions_with_a_migration(target, scratch):
    report = run(target, scratch, [WINDOW, RETENTION, INSERT])
    assert report.skipped is None, report.skipped
    [advice] = [a for a in report.advice if a.table == "public.events"]
    assert advice.decision == "partition", advice.why
    assert advice.chosen.spec.strategy == "range" and advice.chosen.spec.column == "ts"
    assert advice.weighted_ratio[advice.chosen.label] < 0.9
    retention = [s for s in advice.statements if s["queryid"] == "2"][0]
    assert retention["retention"] is True
    window = [s for s in advice.statements if s["queryid"] == "1"][0]
    assert window["change_pct"] < 0 and "'2026-" in window["literal"]
    assert "create_parent" in advice.migration["pg_partman"]
    assert "PARTITION BY RANGE" in advice.migration["native"]
    assert any("events(tenant_id, ts)" in i for i in advice.assumed_indexes)


def test_primary_key_lookups_are_the_blocker(target, scratch):
    report = run(target, scratch, [WINDOW, PK, INSERT], tables=["public.events"])
    [advice] = report.advice
    assert advice.decision == "none", advice.why
    assert "primary-key trap" in advice.why or "primary-key trap" in " ".join(advice.notes)


def test_unique_constraint_without_the_key_blocks(target, scratch, admin_dsn):
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("ALTER TABLE events ADD COLUMN ext text")
        conn.execute("UPDATE events SET ext = id::text")
        conn.execute("ALTER TABLE events ADD CONSTRAINT events_ext_key UNIQUE (ext)")
        conn.execute("ANALYZE events")
    try:
        report = run(target, scratch, [WINDOW, RETENTION], tables=["public.events"])
        [advice] = report.advice
        assert advice.decision == "none"
        assert advice.blocker and "events_ext_key" in advice.blocker
    finally:
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("ALTER TABLE events DROP COLUMN ext")
            conn.execute("ANALYZE events")


def test_bad_input_each_one_line(target, scratch):
    small = stmt("9", "SELECT * FROM small WHERE id = $1", 10, 1.0)
    report = run(target, scratch, [small], tables=["public.small"])
    assert report.advice[0].decision == "skipped" and "no time-like column" in report.advice[0].why
    # below shared_buffers: not considered unless asked
    report = advise_partitions(target, [WINDOW], scratch_dsn=scratch, tables=["public.events"])
    assert "too small" in report.notes[0] and not report.advice
    # already partitioned: advice on the interval
    parted = stmt("8", "SELECT * FROM parted WHERE ts >= $1", 10, 1.0)
    report = run(target, scratch, [parted])
    assert report.advice[0].decision == "interval" and "already partitioned" in report.advice[0].why
    # no scratch place: one line, the rest of the report is still there
    report = run(target, None, [WINDOW])
    assert report.skipped.startswith("no scratch place")


def test_scratch_place_checks(target, scratch, admin_dsn):
    with connect(target) as conn:
        with pytest.raises(UsageError, match="is the database being advised on"):
            with open_scratch(target, conn):
                pass
        with open_scratch(target, conn, schema="pgadvisor_scratch") as s:  # a dedicated schema: allowed
            assert s.schema == "pgadvisor_scratch"
        with pytest.raises(UsageError, match="holds the application's table"):
            with open_scratch(target, conn, schema="public"):
                pass
        ro = scratch + " options='-c default_transaction_read_only=on'"
        with pytest.raises(CannotRun, match="read-only"):
            with open_scratch(ro, conn):
                pass
        with psycopg.connect(admin_dsn, autocommit=True) as a:
            a.execute("DROP ROLE IF EXISTS pgadv_nocreate")
            a.execute("CREATE ROLE pgadv_nocreate LOGIN")
        try:
            with psycopg.connect(scratch, autocommit=True) as s:
                s.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            with pytest.raises(CannotRun, match="cannot create tables"):
                with open_scratch(dsn_for(admin_dsn, psycopg.conninfo.conninfo_to_dict(scratch)["dbname"],
                                          "pgadv_nocreate"), conn):
                    pass
        finally:
            with psycopg.connect(admin_dsn, autocommit=True) as a:
                a.execute("DROP ROLE IF EXISTS pgadv_nocreate")


def test_no_statistics_for_the_key_column(admin_dsn, scratch):
    setup = EVENTS.replace("ANALYZE;", "")
    with scratch_db(admin_dsn, "parts_nostats", setup, extensions=()) as dsn:
        report = run(dsn, scratch, [WINDOW], tables=["public.events"])
    [advice] = report.advice
    assert advice.decision == "skipped"
    assert "ANALYZE" in advice.why


def test_native_migration_runs_and_keeps_every_row(admin_dsn, target, scratch):
    report = run(target, scratch, [WINDOW, RETENTION, INSERT], tables=["public.events"])
    native = report.advice[0].migration["native"]
    with scratch_db(admin_dsn, "parts_migrate", EVENTS, extensions=()) as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            check = "SELECT count(*), sum(hashtext(e::text)::bigint) FROM events e"
            before = conn.execute(check).fetchone()
            conn.execute(native)
            after = conn.execute(check).fetchone()
            kind = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'events'").fetchone()[0]
            parts = conn.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass").fetchone()
            conn.execute("INSERT INTO events (ts, tenant_id, kind) VALUES ('2026-02-15', 1, 1)")
            new_id = conn.execute("SELECT max(id) FROM events").fetchone()[0]
    assert before == after and before[0] == 120000
    assert kind == "p" and parts[0] > 3
    assert new_id == 120001


def test_on_postgresql_18(pg18_admin_dsn):
    with scratch_db(pg18_admin_dsn, "parts18", EVENTS, extensions=()) as dsn:
        report = advise_partitions(dsn, [WINDOW, RETENTION, INSERT], scratch_dsn=dsn, scratch_schema="pgadv_scratch",
                                   include_small=True, tables=["public.events"])
    assert report.skipped is None, report.skipped
    [advice] = report.advice
    assert advice.decision == "partition" and advice.chosen.spec.column == "ts"


def test_inside_recommend_each_advice_knows_the_other(target, scratch):
    from pgadvisor.advise.partitions.hook import NO_SCRATCH, PartitionOptions, for_review
    from pgadvisor.findings import Recommendation
    from pgadvisor.indexdef import IndexDef, KeyPart

    index = IndexDef("public", "events", (KeyPart(column="kind", expr_columns=("kind",)),
                                          KeyPart(column="ts", expr_columns=("ts",))))
    rec = Recommendation(id="create-index:public.events(kind,ts)", rule="create-index", severity="low",
                         title="Create index", target="public.events", sql="CREATE INDEX ...", rollback_sql="DROP ...",
                         index=index)
    assert for_review(target, PartitionOptions(), statements=[WINDOW], texts=None, index_recs=[rec])[2] == [NO_SCRATCH]
    recs, rejected, notes, stats = for_review(target, PartitionOptions(scratch, include_small=True),
                                              statements=[WINDOW, RETENTION], texts=None, index_recs=[rec])
    assert [r.rule for r in recs] == ["partition-table"] and not rejected
    assert "public.events(kind, ts)" in recs[0].evidence["assumed_indexes"]  # the index advice, carried over
    assert rec.evidence["partitioned_by"] == "range(ts) by day"  # and the index advice knows
    assert stats["tables"][0]["chosen"] == "range(ts) by day"
    recs, rejected, notes, stats = for_review(target, PartitionOptions(target), statements=[WINDOW], texts=None,
                                              index_recs=[rec])
    assert not recs and notes[0].startswith("partition advisor skipped: --scratch-dsn")
    assert "is the database being advised on" in stats["skipped"]


@pytest.mark.parametrize("spec", [PartitionSpec("hash", "tenant_id", modulus=4),
                                  PartitionSpec("list", "kind", values=("0", "1", "2")),
                                  PartitionSpec("range", "ts", interval="week")], ids=lambda s: s.strategy)
def test_every_strategy_migrates_every_row(admin_dsn, spec):
    with scratch_db(admin_dsn, "parts_mig", EVENTS, extensions=()) as dsn:
        with connect(dsn) as conn:
            profile = table_profile(conn, ("public", "events"))
        script = migration.native("public", "events", profile, spec)
        with psycopg.connect(dsn, autocommit=True) as conn:
            check = "SELECT count(*), sum(hashtext(e::text)::bigint) FROM events e"
            before = conn.execute(check).fetchone()
            conn.execute(script)
            after = conn.execute(check).fetchone()
            strategy = conn.execute("SELECT partstrat FROM pg_partitioned_table "
                                    "WHERE partrelid = 'events'::regclass").fetchone()[0]
    assert before == after and after[0] == 120000
    assert strategy == spec.strategy[0]

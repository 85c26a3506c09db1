"""Re-record the Workload snapshots in fixtures/workloads/ that the offline tests read.

    python3 tests/record_fixtures.py            # both fixtures
    python3 tests/record_fixtures.py ecommerce  # one of them (ecommerce, seeded_problems)

Each fixture is recorded as `pgadvisor` sees a real server: a throwaway local cluster (logging every
statement as JSON, as `pgadvisor demo` does), a snapshot with `pgadvisor.collect.collect` and the log
samples (`fleet.with_log_samples`) into a temporary store, a workload, a second snapshot, then
`workload.load_workload` over the interval between the two snapshots, restricted to the fixture's
database, written with `Workload.to_json`. Settings are cut down to the ones not at their defaults,
so that each file stays small (tests/test_offline_advice.py checks < 300 KB).

* ecommerce.json: the demo's e-commerce schema (pgadvisor/data/ecommerce/) at scale ECOMMERCE_SCALE and
  ECOMMERCE_CALLS calls of its API mix (workload.toml), seeded, on two clients.
* seeded_problems.json: a small schema with one of each problem the schema rules look for (see
  SEEDED_SCHEMA: a duplicate, a prefix-redundant, an unused and an invalid index, a foreign key
  without an index, a table without a primary key) and a few statements on it.

Names that differ between runs (oids, queryids, timestamps, sizes) are recorded as they came; the
tests assert on what the advisors derive from them, not on these values. Not collected by pytest
(no test_ prefix); needs the local PostgreSQL binaries (pgadvisor.pg.local.find_bindir).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from pgadvisor.collect import collect
from pgadvisor.demo_data import load_ecommerce, run_workload
from pgadvisor.fleet import with_log_samples
from pgadvisor.pg.local import JSONLOG_SETTINGS, LocalCluster, start_cluster
from pgadvisor.store import open_store
from pgadvisor.workload import Workload, load_workload

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "workloads"
# scale 0.05 loads ~10k products, 5k users, 25k orders in a few seconds: tables large enough that the
# planner prefers an index, small enough to record in under a minute
ECOMMERCE_SCALE = 0.05
ECOMMERCE_CALLS = 3000
SEED = 42

SEEDED_SCHEMA = """
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, name text, created_at timestamptz NOT NULL);
CREATE TABLE invoices (id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers (id),
                       status text NOT NULL, amount numeric(10, 2), created_at timestamptz NOT NULL);
CREATE TABLE events (ts timestamptz NOT NULL, kind text NOT NULL, payload text);  -- no primary key

INSERT INTO customers SELECT i, 'c' || i || '@example.com', 'customer ' || i, now() - i * interval '1 hour'
  FROM generate_series(1, 20000) i;
INSERT INTO invoices SELECT i, 1 + i % 15000, (ARRAY['open', 'paid', 'paid', 'paid', 'void'])[1 + i % 5],
                            (i % 997) / 7.0, now() - i * interval '10 minutes'
  FROM generate_series(1, 40000) i;
INSERT INTO events SELECT now() - i * interval '1 second', 'kind' || i % 20, md5(i::text) || md5((i * 7)::text)
  FROM generate_series(1, 30000) i;

CREATE INDEX customers_email ON customers (email);
CREATE INDEX customers_email_again ON customers (email);                  -- duplicate
CREATE INDEX invoices_status ON invoices (status);                        -- prefix of the next one
CREATE INDEX invoices_status_created ON invoices (status, created_at);
CREATE INDEX events_payload ON events (payload);                          -- never scanned, > 1 MiB
-- invoices.customer_id: a foreign key without an index; customers sees updates and deletes
"""
# a failed attempt to add a unique key leaves an invalid index behind (kind repeats)
SEEDED_INVALID = "CREATE UNIQUE INDEX CONCURRENTLY events_kind_key ON events (kind)"
SEEDED_STATEMENTS = (
    ("SELECT id, name FROM customers WHERE email = %s", lambda r: (f"c{r.randint(1, 20000)}@example.com",)),
    ("SELECT id, amount FROM invoices WHERE customer_id = %s ORDER BY created_at DESC LIMIT 10",
     lambda r: (r.randint(1, 15000),)),
    ("SELECT count(*) FROM invoices WHERE status = 'open' AND created_at > now() - %s::interval",
     lambda r: (f"{r.randint(1, 30)} days",)),
    ("UPDATE customers SET name = %s WHERE id = %s", lambda r: (f"renamed {r.random():.4f}", r.randint(1, 20000))),
    ("DELETE FROM customers WHERE id = %s", lambda r: (r.randint(15001, 20000),)),  # no invoice refers to these
    ("SELECT ts, payload FROM events WHERE kind = %s AND ts > now() - %s::interval ORDER BY ts LIMIT 20",
     lambda r: (f"kind{r.randint(0, 19)}", f"{r.randint(1, 60)} minutes")),
    ("INSERT INTO events (ts, kind, payload) VALUES (now(), %s, %s)",
     lambda r: (f"kind{r.randint(0, 19)}", f"p{r.randint(1, 10**6)}")),
)
SEEDED_CALLS = 60  # per statement


def snapshot(store, cluster: LocalCluster, dsn: str, server: str) -> float:
    """One snapshot with the log samples since the last one; its taken_at."""
    snap = with_log_samples(collect(dsn, server, plans_top=0), str(cluster.logdir), store.log_offsets(server))
    store.save_snapshot(snap)
    return snap.taken_at


def record(cluster: LocalCluster, dsn: str, server: str, run) -> Workload:
    """Snapshot, `run()`, snapshot; the Workload of the interval between them, of this database only."""
    with tempfile.TemporaryDirectory() as tmp, open_store(str(Path(tmp) / "store.sqlite")) as st:
        first = snapshot(st, cluster, dsn, server)
        run()
        time.sleep(0.5)  # the log collector writes the last statements' records
        snapshot(st, cluster, dsn, server)
        with psycopg.connect(dsn) as conn:
            dbid = conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]
        w = load_workload(st, server, since=first, dbid=int(dbid))
    changed = _changed_settings(dsn)
    w.settings = {k: v for k, v in w.settings.items() if k in changed}
    return w


def _changed_settings(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM pg_settings WHERE source NOT IN ('default', 'override')")}


def ecommerce(cluster: LocalCluster) -> Workload:
    dsn = cluster.create_database("shop", ("pg_stat_statements", "hypopg", "pg_trgm"))
    load_ecommerce(dsn, ECOMMERCE_SCALE)
    return record(cluster, dsn, "shop", lambda: run_workload(dsn, total_calls=ECOMMERCE_CALLS, clients=2, seed=SEED))


def seeded_problems(cluster: LocalCluster) -> Workload:
    dsn = cluster.create_database("seeded", ("pg_stat_statements",))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SEEDED_SCHEMA)
        conn.execute("VACUUM ANALYZE")
        try:
            conn.execute(SEEDED_INVALID)
        except psycopg.errors.UniqueViolation:
            pass
        else:
            raise RuntimeError(f"expected {SEEDED_INVALID!r} to fail and leave an invalid index")

    def run() -> None:
        rng = random.Random(SEED)
        with psycopg.connect(dsn, autocommit=True) as conn:
            for _ in range(SEEDED_CALLS):
                for sql, params in SEEDED_STATEMENTS:
                    conn.execute(sql, params(rng))

    return record(cluster, dsn, "seeded", run)


FIXTURES = {"ecommerce": ecommerce, "seeded_problems": seeded_problems}


def main(names: list[str]) -> None:
    unknown = set(names) - set(FIXTURES)
    if unknown:
        sys.exit(f"unknown fixture(s) {', '.join(sorted(unknown))}; one of {', '.join(FIXTURES)}")
    OUT.mkdir(parents=True, exist_ok=True)
    with start_cluster(settings=JSONLOG_SETTINGS) as cluster:
        for name in names or list(FIXTURES):
            w = FIXTURES[name](cluster)
            path = OUT / f"{name}.json"
            path.write_text(w.to_json(indent=1) + "\n")
            print(f"{path}: {len(w.statements)} statements ({w.sampled_statements} with a log sample), "
                  f"{len(w.schema.get('indexes', []))} indexes, {path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main(sys.argv[1:])

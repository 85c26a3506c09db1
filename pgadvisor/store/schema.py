"""Store schema as numbered, forward-only migrations (same SQL for SQLite and PostgreSQL).

stat_last holds, per statement, the cumulative pg_stat_statements counters last seen and the
running totals of reset-aware deltas (t_*); stat_totals keeps a running-total row for every
snapshot in which a statement moved, so a window's activity is two index seeks per statement.

Placeholders: {pk} auto-increment primary key, {int} 64-bit integer, {real} double, {blob} bytes.
"""

from __future__ import annotations

from pgadvisor.snapshot import COUNTERS


def _cols(prefix: str = "") -> str:
    return ",\n    ".join(
        f"{prefix}{c} {{real}} NOT NULL DEFAULT 0" if "time" in c else f"{prefix}{c} {{int}} NOT NULL DEFAULT 0"
        for c in COUNTERS
    )

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "initial schema",
        f"""
CREATE TABLE servers (
    id {{pk}},
    name TEXT NOT NULL UNIQUE,
    created_at {{real}} NOT NULL
);
CREATE TABLE snapshots (
    id {{pk}},
    server_id {{int}} NOT NULL REFERENCES servers(id),
    seq {{int}} NOT NULL,
    taken_at {{real}} NOT NULL,
    system_identifier TEXT,
    server_version TEXT,
    version_num {{int}},
    postmaster_start {{real}},
    datname TEXT,
    dbid {{int}},
    pgss_version TEXT,
    pgss_dealloc {{int}},
    pgss_stats_reset {{real}},
    n_statements {{int}} NOT NULL DEFAULT 0,
    n_hidden {{int}} NOT NULL DEFAULT 0,
    n_changed {{int}} NOT NULL DEFAULT 0,
    n_evicted {{int}} NOT NULL DEFAULT 0,
    dealloc_delta {{int}} NOT NULL DEFAULT 0,
    reset_reason TEXT,
    intervals {{int}} NOT NULL DEFAULT 1,
    duration_ms {{real}},
    UNIQUE (server_id, seq)
);
CREATE TABLE texts (
    hash TEXT PRIMARY KEY,
    query TEXT NOT NULL
);
CREATE TABLE statements (
    id {{pk}},
    server_id {{int}} NOT NULL REFERENCES servers(id),
    queryid TEXT NOT NULL,
    userid {{int}} NOT NULL,
    dbid {{int}} NOT NULL,
    toplevel {{int}} NOT NULL,
    text_hash TEXT NOT NULL,
    own {{int}} NOT NULL DEFAULT 0,
    UNIQUE (server_id, queryid, userid, dbid, toplevel)
);
CREATE TABLE stat_last (
    statement_id {{int}} PRIMARY KEY,
    server_id {{int}} NOT NULL,
    {_cols()},
    {_cols("t_")}
);
CREATE TABLE stat_totals (
    server_id {{int}} NOT NULL,
    statement_id {{int}} NOT NULL,
    seq {{int}} NOT NULL,
    {_cols("t_")},
    PRIMARY KEY (server_id, statement_id, seq)
){{without_rowid}};
CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    data {{blob}} NOT NULL
);
CREATE TABLE snapshot_parts (
    snapshot_id {{int}} NOT NULL,
    kind TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, kind)
);
CREATE TABLE plans (
    statement_id {{int}} NOT NULL,
    seq {{int}} NOT NULL,
    plan_hash TEXT NOT NULL,
    total_cost {{real}},
    PRIMARY KEY (statement_id, seq)
);
""",
    ),
]

MIGRATIONS.append((2, "statement samples from the server log", """
CREATE TABLE samples (
    server_id {int} NOT NULL,
    queryid TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    dbname TEXT,
    seen_at {real} NOT NULL,
    duration_ms {real},
    PRIMARY KEY (server_id, queryid, text_hash)
);
CREATE TABLE log_offsets (
    server_id {int} NOT NULL,
    file_key TEXT NOT NULL,
    file_offset {int} NOT NULL,
    PRIMARY KEY (server_id, file_key)
);
"""))

MIGRATIONS.append((3, "schema fingerprint per snapshot", """
ALTER TABLE snapshots ADD COLUMN schema_fingerprint TEXT;
ALTER TABLE snapshots ADD COLUMN schema_read_at {real};
"""))

MIGRATIONS.append((4, "bind parameter values of log samples", """
ALTER TABLE samples ADD COLUMN params TEXT;
"""))

MIGRATIONS.append((5, "how many times each log sample's text was seen", """
ALTER TABLE samples ADD COLUMN times {int};
"""))

# A migration whose SQL is "python:NAME" runs Store._migrate_NAME() (in the same transaction).
MIGRATIONS.append((6, "redact passwords in stored texts, log samples and settings", "python:redact_secrets"))

MIGRATIONS.append((7, "stats_since per statement and pg_stat_statements.max per snapshot", """
ALTER TABLE stat_last ADD COLUMN stats_since {real};
ALTER TABLE snapshots ADD COLUMN pgss_max {int};
"""))

LATEST = MIGRATIONS[-1][0]


def render(sql: str, dialect: str) -> str:
    """Fill the type placeholders for a dialect ('sqlite' or 'postgres')."""
    if dialect == "sqlite":
        types = {
            "pk": "INTEGER PRIMARY KEY AUTOINCREMENT",
            "int": "INTEGER",
            "real": "REAL",
            "blob": "BLOB",
            "without_rowid": " WITHOUT ROWID",
        }
    else:
        types = {
            "pk": "BIGSERIAL PRIMARY KEY",
            "int": "BIGINT",
            "real": "DOUBLE PRECISION",
            "blob": "BYTEA",
            "without_rowid": "",
        }
    return sql.format(**types)

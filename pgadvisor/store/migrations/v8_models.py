"""Store migration 8, frozen: stores were built from exactly this SQL; a change is a new migration."""

DESCRIPTION = "query-time models, versioned: native model bytes and their metadata"

SQLITE = """
CREATE TABLE models (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    server TEXT NOT NULL,
    kind TEXT NOT NULL,
    format INTEGER NOT NULL,
    pgadvisor_version TEXT NOT NULL,
    created_at REAL NOT NULL,
    window_start REAL,
    window_end REAL,
    n_rows INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    body BLOB NOT NULL,
    body_sha256 TEXT NOT NULL
);
CREATE INDEX models_server ON models (server, version);
"""

POSTGRES = """
CREATE TABLE models (
    version BIGSERIAL PRIMARY KEY,
    server TEXT NOT NULL,
    kind TEXT NOT NULL,
    format INTEGER NOT NULL,
    pgadvisor_version TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    window_start DOUBLE PRECISION,
    window_end DOUBLE PRECISION,
    n_rows BIGINT NOT NULL,
    metadata TEXT NOT NULL,
    body BYTEA NOT NULL,
    body_sha256 TEXT NOT NULL
);
CREATE INDEX models_server ON models (server, version);
"""

"""Store migration 2, frozen: stores were built from exactly this SQL; a change is a new migration."""

DESCRIPTION = "statement samples from the server log"

SQLITE = """
CREATE TABLE samples (
    server_id INTEGER NOT NULL,
    queryid TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    dbname TEXT,
    seen_at REAL NOT NULL,
    duration_ms REAL,
    PRIMARY KEY (server_id, queryid, text_hash)
);
CREATE TABLE log_offsets (
    server_id INTEGER NOT NULL,
    file_key TEXT NOT NULL,
    file_offset INTEGER NOT NULL,
    PRIMARY KEY (server_id, file_key)
);
"""

POSTGRES = """
CREATE TABLE samples (
    server_id BIGINT NOT NULL,
    queryid TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    dbname TEXT,
    seen_at DOUBLE PRECISION NOT NULL,
    duration_ms DOUBLE PRECISION,
    PRIMARY KEY (server_id, queryid, text_hash)
);
CREATE TABLE log_offsets (
    server_id BIGINT NOT NULL,
    file_key TEXT NOT NULL,
    file_offset BIGINT NOT NULL,
    PRIMARY KEY (server_id, file_key)
);
"""

"""Store migration 3, frozen: stores were built from exactly this SQL; a change is a new migration."""

DESCRIPTION = "schema fingerprint per snapshot"

SQLITE = """
ALTER TABLE snapshots ADD COLUMN schema_fingerprint TEXT;
ALTER TABLE snapshots ADD COLUMN schema_read_at REAL;
"""

POSTGRES = """
ALTER TABLE snapshots ADD COLUMN schema_fingerprint TEXT;
ALTER TABLE snapshots ADD COLUMN schema_read_at DOUBLE PRECISION;
"""

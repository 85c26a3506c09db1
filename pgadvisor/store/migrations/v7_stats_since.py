"""Store migration 7, frozen: stores were built from exactly this SQL; a change is a new migration."""

DESCRIPTION = "stats_since per statement and pg_stat_statements.max per snapshot"

SQLITE = """
ALTER TABLE stat_last ADD COLUMN stats_since REAL;
ALTER TABLE snapshots ADD COLUMN pgss_max INTEGER;
"""

POSTGRES = """
ALTER TABLE stat_last ADD COLUMN stats_since DOUBLE PRECISION;
ALTER TABLE snapshots ADD COLUMN pgss_max BIGINT;
"""

"""Store migration 4, frozen: stores were built from exactly this SQL; a change is a new migration."""

DESCRIPTION = "bind parameter values of log samples"

SQLITE = """
ALTER TABLE samples ADD COLUMN params TEXT;
"""

POSTGRES = """
ALTER TABLE samples ADD COLUMN params TEXT;
"""

"""Store migration 5, frozen: stores were built from exactly this SQL; a change is a new migration."""

DESCRIPTION = "how many times each log sample's text was seen"

SQLITE = """
ALTER TABLE samples ADD COLUMN times INTEGER;
"""

POSTGRES = """
ALTER TABLE samples ADD COLUMN times BIGINT;
"""

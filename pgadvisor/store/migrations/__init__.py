"""Numbered, forward-only store migrations; each one is frozen once released.

A migration is literal SQL per dialect (SQLite and PostgreSQL differ in their type names) or a data
step, with a one-line description; it is applied in one transaction together with its row in
`schema_migrations`, so a store is always at exactly one version. Nothing here is generated from live
code (such as `snapshot.COUNTERS`): a new counter is a new migration. A store newer than the code is
refused; a store someone else's tables live in is left alone.

Tables (migration 1 unless noted): `servers`; `snapshots` (one row per snapshot: identity, pg_stat_statements
info, accounting); `texts` (statement texts once per hash); `statements` (identities); `stat_last` (per
statement, the cumulative counters last seen and the running totals `t_*` of reset-aware deltas);
`stat_totals` (a running-total row for every snapshot in which a statement moved, so a window's activity is
two index seeks per statement); `blobs` and `snapshot_parts` (catalog parts, deduplicated by content);
`plans`; `samples` and `log_offsets` (2); `models` (8: query-time models, versioned).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pgadvisor.errors import StoreError
from pgadvisor.store.backend import Backend, not_ours
from pgadvisor.store.migrations import (
    v1_initial_schema,
    v2_log_samples,
    v3_schema_fingerprint,
    v4_sample_params,
    v5_sample_times,
    v6_redact_secrets,
    v7_stats_since,
    v8_models,
)

# the record of applied migrations; created before migration 1, identical on both dialects
MIGRATIONS_TABLE = ("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                    "description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)")


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sqlite: str = ""  # literal SQL script
    postgres: str = ""
    data: Callable[[Backend], None] | None = None  # a data step, run in the migration's transaction
    truncate_wal: bool = False  # SQLite: checkpoint and truncate the WAL once it committed

    def statements(self, dialect: str) -> list[str]:
        script = self.sqlite if dialect == "sqlite" else self.postgres
        return [s for s in script.split(";") if s.strip()]

    def apply(self, db: Backend) -> None:
        for stmt in self.statements(db.dialect):
            db.execute(stmt)
        if self.data is not None:
            self.data(db)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, v1_initial_schema.DESCRIPTION, v1_initial_schema.SQLITE, v1_initial_schema.POSTGRES),
    Migration(2, v2_log_samples.DESCRIPTION, v2_log_samples.SQLITE, v2_log_samples.POSTGRES),
    Migration(3, v3_schema_fingerprint.DESCRIPTION, v3_schema_fingerprint.SQLITE, v3_schema_fingerprint.POSTGRES),
    Migration(4, v4_sample_params.DESCRIPTION, v4_sample_params.SQLITE, v4_sample_params.POSTGRES),
    Migration(5, v5_sample_times.DESCRIPTION, v5_sample_times.SQLITE, v5_sample_times.POSTGRES),
    Migration(6, v6_redact_secrets.DESCRIPTION, data=v6_redact_secrets.run,
              truncate_wal=v6_redact_secrets.TRUNCATE_WAL),
    Migration(7, v7_stats_since.DESCRIPTION, v7_stats_since.SQLITE, v7_stats_since.POSTGRES),
    Migration(8, v8_models.DESCRIPTION, v8_models.SQLITE, v8_models.POSTGRES),
)

# the store schema version this code writes and reads
LATEST = MIGRATIONS[-1].version


def migrate(db: Backend) -> None:
    """Bring the store up to the latest migration (a read-only store is only checked)."""
    current = db.schema_version()
    if current == 0:
        other = db.other_tables()
        if other:
            raise StoreError(not_ours(db.location, other), hint="point --store at a new file (or an empty database)")
    if current > LATEST:
        raise StoreError(
            f"store {db.location} was written by a newer pgadvisor (store schema v{current}, "
            f"this version knows up to v{LATEST})",
            hint="upgrade pgadvisor: pip install -U pgadvisor",
        )
    if current == LATEST or db.read_only:
        return
    with db.write():
        current = _version_in_transaction(db)
        if current == 0:
            db.execute(MIGRATIONS_TABLE)
        applied = [m for m in MIGRATIONS if m.version > current]
        for m in applied:
            m.apply(db)
            db.execute("INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
                       (m.version, m.description, time.time()))
    if db.dialect == "sqlite" and any(m.truncate_wal for m in applied):
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _version_in_transaction(db: Backend) -> int:
    """The store's version read inside the write transaction (another process may have migrated it)."""
    exists = db.query(
        "SELECT count(*) FROM sqlite_master WHERE name = 'schema_migrations'"
        if db.dialect == "sqlite"
        else "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations' "
        "AND table_schema = current_schema()"
    )[0][0]
    if not exists:
        return 0
    return int(db.query("SELECT max(version) FROM schema_migrations")[0][0] or 0)

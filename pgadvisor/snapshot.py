"""The Snapshot contract: what one `collect` reads from one server (DESIGN §3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# pg_stat_statements counters a snapshot carries per statement (cumulative), by the name the store uses
COUNTERS = (
    "calls",
    "total_exec_time",
    "total_plan_time",
    "plans",
    "rows",
    "shared_blks_hit",
    "shared_blks_read",
    "shared_blks_dirtied",
    "shared_blks_written",
    "local_blks_hit",
    "local_blks_read",
    "temp_blks_read",
    "temp_blks_written",
    "blk_read_time",
    "blk_write_time",
    "wal_records",
    "wal_bytes",
)

# the catalog parts of a snapshot that describe the schema (re-used while its fingerprint is unchanged)
SCHEMA_KINDS = ("relations", "indexes", "columns", "foreign_keys", "constraints", "sequences", "settings")


@dataclass(frozen=True)
class Snapshot:
    server: str  # the target's name in the store (never a DSN with a password)
    taken_at: float  # epoch seconds, from the server's clock
    info: dict[str, Any]  # system_identifier, version, version_num, postmaster_start, datname, dbid
    pgss: dict[str, Any]  # extversion, dealloc, stats_reset (epoch or None)
    statements: list[dict[str, Any]]  # cumulative counters + queryid/userid/dbid/toplevel/query
    n_hidden: int = 0  # rows whose text/queryid we may not see (no pg_read_all_stats)
    parts: dict[str, Any] = field(default_factory=dict)  # relations, indexes, columns, settings, ...
    plans: list[dict[str, Any]] = field(default_factory=list)  # queryid.., plan_hash, total_cost, plan
    notes: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
    samples: list[Any] = field(default_factory=list)  # pg.logs.Sample: statements with real parameter values
    log_offsets: dict[str, int] | None = None  # where the log reading stopped (None: no log was read)
    schema_fingerprint: str | None = None  # catalog.schema_fingerprint at this snapshot
    schema_reused: bool = False  # definitions unchanged and recently read: the previous parts stand

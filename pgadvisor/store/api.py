"""`Store`, the store's one public face, and `open_store`.

Each method hands over to the module that owns its part: `write` (snapshots in), `read` (windows,
coverage, parts, samples), `retention` (prune), `migrations`; `Store` itself is the open database
(`backend.Backend`: SQL on either dialect, the write lock).
"""

from __future__ import annotations

from typing import Any

from pgadvisor.errors import StoreError, one_line
from pgadvisor.snapshot import Snapshot
from pgadvisor.store import models, read, retention, write
from pgadvisor.store.backend import Backend, connect, default_store_path
from pgadvisor.store.migrations import LATEST, migrate


class Store(Backend):
    """One open store; `open_store()` picks the backend from the URL or path."""

    def migrate(self) -> None:
        migrate(self)

    def save_snapshot(self, snap: Snapshot) -> dict[str, Any]:
        """Store one snapshot in one transaction; returns what was written."""
        return write.save_snapshot(self, snap)

    def prune(self, older_than_s: float, now: float | None = None) -> dict[str, Any]:
        """Downsample snapshots older than the cutoff to one per day per server; no total is lost."""
        return retention.prune(self, older_than_s, now)

    def server_id(self, name: str, create: bool = False) -> int | None:
        return read.server_id(self, name, create)

    def servers(self) -> list[str]:
        return read.servers(self)

    def window_seqs(self, sid: int, since: float | None, until: float | None) -> tuple[int, int] | None:
        """Seq range of the intervals that end inside (since, until]; None when the window has none."""
        return read.window_seqs(self, sid, since, until)

    def aggregate(self, sid: int, lo: int, hi: int, *, limit: int | None = None, dbid: int | None = None,
                  order: str = "total_exec_time") -> list[dict[str, Any]]:
        """Per statement, its activity in the window (lo-1, hi] and its text."""
        return read.aggregate(self, sid, lo, hi, limit=limit, dbid=dbid, order=order)

    def coverage(self, sid: int, lo: int, hi: int) -> dict[str, Any]:
        return read.coverage(self, sid, lo, hi)

    def interval_series(self, sid: int, lo: int, hi: int, *, counters: tuple[str, ...] | None = None,
                        with_server: bool = True, every: int = 1,
                        statement_ids: list[int] | None = None) -> dict[str, Any]:
        """Per interval of (lo-1, hi]: statement running totals, gaps (resets, evictions), plans, server metrics
        (with `statement_ids`: of those statements only)."""
        return read.interval_series(self, sid, lo, hi, counters=counters or read.COUNTERS, with_server=with_server,
                                    every=every, statement_ids=statement_ids)

    def series_statements(self, sid: int) -> list[dict[str, Any]]:
        """The server's statements (not pgadvisor's own) with their texts, as interval_series gives them."""
        return read.series_statements(self, sid)

    def parts(self, sid: int, seq: int | None = None, kinds: tuple[str, ...] | None = None) -> dict[str, Any]:
        """Schema/settings parts of the snapshot at `seq` (default: the latest)."""
        return read.parts(self, sid, seq, kinds)

    def snapshots(self) -> list[dict[str, Any]]:
        return read.snapshots(self)

    def schema_state(self, server: str) -> tuple[str | None, float | None]:
        """Schema fingerprint of the server's latest snapshot and when its definitions were last read."""
        return read.schema_state(self, server)

    def log_offsets(self, server: str) -> dict[str, int]:
        return read.log_offsets(self, server)

    def samples(self, sid: int, queryids: list[str]) -> dict[str, list[tuple[str, list[tuple[str, ...]], int]]]:
        """The logged samples kept per queryid, newest first (text, value sets, times logged)."""
        return read.samples(self, sid, queryids)

    # query-time models (issue 13; store/models.py)
    def statement_plans(self, sid: int) -> dict[tuple, list[tuple[int, str, Any]]]:
        """Per statement key (queryid, userid, dbid, toplevel): its stored plans (seq, hash, document)."""
        return models.statement_plans(self, sid)

    def save_model(self, **fields: Any) -> int:
        """Store a query-time model as a new version; its version number."""
        return models.save_model(self, **fields)

    def list_models(self, server: str | None = None) -> list[dict[str, Any]]:
        return models.list_models(self, server)

    def model_body(self, version: int) -> tuple[bytes, str] | None:
        return models.model_body(self, version)


def open_store(location: str | None = None, read_only: bool = False) -> Store:
    """Open (and migrate) the store at a path or postgresql:// URL; errors are StoreError with one line."""
    location = location or default_store_path()
    store = connect_store(location, read_only)
    try:
        store.migrate()
        if read_only and store.schema_version() < LATEST:
            # a reader of a store an older pgadvisor wrote: bring it up to date if we may write to it
            store.close()
            try:
                open_store(location).close()
            except StoreError:
                pass  # not writable: read it as it is (readers cope with older schemas)
            store = connect_store(location, read_only=True)
    except StoreError:
        store.close()
        raise
    except Exception as exc:  # noqa: BLE001
        store.close()
        raise StoreError(f"store {store.location} is unusable: {one_line(exc)}") from None
    return store


def connect_store(location: str, read_only: bool) -> Store:
    """The store at a path or postgresql:// URL, opened without any migration check."""
    return connect(location, read_only, Store)

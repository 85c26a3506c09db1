"""The local store: SQLite by default, a PostgreSQL repository database for fleets (DESIGN §4)."""

from pgadvisor.store.core import Store, default_store_path, open_store

__all__ = ["Store", "default_store_path", "open_store"]

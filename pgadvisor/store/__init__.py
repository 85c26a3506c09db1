"""The local store: SQLite by default, a PostgreSQL repository database for fleets (DESIGN §4).

    api.py         Store (the methods other modules call) and open_store
    backend.py     the connection on either dialect, the write lock, owner-only files, blob encoding
    migrations/    numbered, frozen migrations (literal SQL per dialect, one module each)
    write.py       one snapshot into the store, in one transaction
    accounting.py  the counter accounting of a snapshot (deltas, baselines, resets, evictions): pure
    read.py        windows, a window's activity per statement, coverage, parts, samples
    retention.py   prune: downsampling of old snapshots
"""

from pgadvisor.store.api import Store, open_store
from pgadvisor.store.backend import default_store_path, store_permission_problems

__all__ = ["Store", "default_store_path", "open_store", "store_permission_problems"]

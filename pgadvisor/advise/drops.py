"""The catalog rules over a schema snapshot: indexes to drop, and foreign keys without an index.

Pure over `pgadvisor.pg.catalog.read_schema`'s dicts (runs offline). Each rule is a module of
`pgadvisor.advise.rules` (its docstring is its documentation): drop-invalid-index,
drop-duplicate-index, drop-redundant-index, drop-unused-index, fk-without-index. Never proposed for
dropping: primary keys, unique indexes and indexes backing a constraint.
"""

from __future__ import annotations

from typing import Any

from pgadvisor.advise.rules import DROPS
from pgadvisor.advise.rules.common import (
    FK_MIN_CHILD_ROWS,
    MIN_TRUSTED_WINDOW_DAYS,
    MIN_UNUSED_BYTES,
    CatalogOptions,
    CatalogScan,
)
from pgadvisor.findings import Recommendation, Rejected, rank


def recommend_drops(
    schema: dict[str, Any],
    *,
    stats_window_days: float | None,
    min_size_bytes: int = MIN_UNUSED_BYTES,
    min_window_days: float = MIN_TRUSTED_WINDOW_DAYS,
    fk_min_child_rows: float = FK_MIN_CHILD_ROWS,
) -> tuple[list[Recommendation], list[Rejected]]:
    """Indexes to drop and foreign keys to index, from a snapshot's catalog dicts; no connection needed.

    `stats_window_days` is how long the idx_scan counters have been counting (since the stats reset,
    or the store's window when the counters are deltas); below `min_window_days` no index is called
    unused. Indexes smaller than `min_size_bytes` are not worth an unused-index finding.
    """
    options = CatalogOptions(stats_window_days, min_window_days, min_size_bytes, fk_min_child_rows)
    scan = CatalogScan(schema, options)
    recs = [rec for rule in DROPS for rec in rule.find(scan)]
    return rank(recs), scan.rejected

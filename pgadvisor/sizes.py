"""Index size estimates from table statistics, for when hypopg cannot tell (heuristic mode, GIN, BRIN),
and `n_distinct_rows`, pg_stats' n_distinct as a count (pg/ and advise/ both read it).

A B-tree leaf tuple is an 8-byte header plus the aligned key/INCLUDE data, plus a 4-byte line pointer;
leaf pages are filled to 90% (the default fillfactor) and inner pages add about 1%.
"""

from __future__ import annotations

import math

PAGE = 8192
_PAGE_USABLE = PAGE - 24 - 16  # page header and btree special space

# average width by type name when pg_stats has no avg_width (never analyzed)
_TYPE_WIDTH = {
    "smallint": 2,
    "integer": 4,
    "bigint": 8,
    "real": 4,
    "double precision": 8,
    "boolean": 1,
    "date": 4,
    "timestamp without time zone": 8,
    "timestamp with time zone": 8,
    "uuid": 16,
    "numeric": 12,
    "time without time zone": 8,
    "oid": 4,
}


def n_distinct_rows(n_distinct: float | None, reltuples: float | None) -> float:
    """pg_stats.n_distinct as a number of distinct values: a negative n_distinct is minus a fraction of
    the rows (-1: unique), scaled by the table's reltuples (at least 1); 0 or None (unknown) stay 0."""
    nd = float(n_distinct or 0.0)
    if nd < 0:
        nd = -nd * max(1.0, float(reltuples or 1.0))
    return nd


def column_width(column: dict | None) -> int:
    """Average stored width of a column from its catalog dict (pg_stats avg_width, else its type)."""
    if not column:
        return 8
    if column.get("avg_width"):
        return int(column["avg_width"])
    return _TYPE_WIDTH.get(str(column.get("type") or "").split("(")[0], 16)


def _align8(n: float) -> int:
    return int(math.ceil(n / 8.0) * 8)


def btree_size(reltuples: float, widths: list[int], fraction: float = 1.0, fillfactor: float = 0.9) -> int:
    """Estimated bytes of a B-tree over `reltuples × fraction` rows with key/INCLUDE columns of `widths`."""
    rows = max(0.0, float(reltuples or 0)) * max(0.0, min(1.0, fraction))
    tuple_bytes = _align8(8 + sum(max(1, w) for w in widths)) + 4
    per_page = max(1, int(_PAGE_USABLE * fillfactor // tuple_bytes))
    leaf = math.ceil(rows / per_page) if rows else 0
    return int((1 + leaf + max(1, leaf // 100)) * PAGE)  # metapage + leaves + inner pages


def brin_size(relpages: float, pages_per_range: int = 128) -> int:
    """Estimated bytes of a BRIN index: one small summary tuple per block range."""
    ranges = math.ceil(max(1.0, float(relpages or 0)) / pages_per_range)
    return int((2 + math.ceil(ranges / 400) + 1) * PAGE)


def gin_size(reltuples: float, width: int, trigram: bool = False) -> int:
    """Rough GIN size: posting entries per row (about one per 3 characters for trigrams)."""
    entries = max(1.0, width / 3.0) if trigram else max(1.0, width / 8.0)
    return int(max(2, float(reltuples or 0) * entries * 6 / (PAGE * 0.9) + 2) * PAGE)

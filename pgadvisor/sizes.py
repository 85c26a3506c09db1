"""Index size estimates from table statistics, and `n_distinct_rows`, pg_stats' n_distinct as a count
(pg/ and advise/ both read it).

`btree_model_size` is the B-tree as `CREATE INDEX` builds it (nbtsort.c), from pg_stats (avg_width,
n_distinct, null_frac) and reltuples: leaf tuples of an 8-byte header (16 with a null bitmap) plus the
key and INCLUDE data aligned per type, MAXALIGNed, plus a 4-byte line pointer; with deduplication
(PostgreSQL 13+) the rows of one key value share posting-list tuples of 6 bytes per heap TID; leaves
filled to 90%, inner levels to 70% with pivot tuples of the key columns only. `btree_size` is the older,
deduplication-blind estimate heuristic mode still uses.
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


# -- the B-tree model --------------------------------------------------------------------------------
# page layout (PostgreSQL's bufpage.h/nbtree.h): 24-byte page header, 16-byte btree special space
_LEAF_FILL = PAGE - int(PAGE * 10 / 100)  # BTREE_DEFAULT_FILLFACTOR 90: a leaf is closed when free < 10%
_INNER_FILL = PAGE - int(PAGE * 30 / 100)  # BTREE_NONLEAF_FILLFACTOR 70
_HEADER = 8  # IndexTupleData: heap TID + t_info
_NULL_HEADER = 16  # MAXALIGN(8 + 4-byte null bitmap)
_LINE_POINTER = 4
_TID = 6  # ItemPointerData in a posting list
# a posting-list tuple is at most half of BTMaxItemSize (2704 bytes on 8 kB pages): nbtdedup.c, nbtsort.c
MAX_POSTING_BYTES = 1352

# (width, alignment) of fixed-width types (pg_type typlen/typalign); others are varlena
_FIXED = {
    "smallint": (2, 2), "integer": (4, 4), "bigint": (8, 8), "real": (4, 4), "double precision": (8, 8),
    "boolean": (1, 1), "date": (4, 4), "timestamp without time zone": (8, 8), "timestamp with time zone": (8, 8),
    "uuid": (16, 1), "time without time zone": (8, 8), "time with time zone": (12, 8), "oid": (4, 4),
    "money": (8, 8), "interval": (16, 8), '"char"': (1, 1), "macaddr": (6, 4), "tid": (6, 2),
}
# key types whose equal values may differ in their bytes, so that nbtree does not deduplicate
# (`_bt_allequalimage`: no BTEQUALIMAGE_PROC; the CREATE INDEX documentation's list); also arrays,
# ranges and composites (container types), and text under a nondeterministic collation, which the
# statistics do not show
NO_DEDUP_TYPES = frozenset({"numeric", "real", "double precision", "jsonb", "interval", "json", "xml",
                            "point", "tsvector", "money"})


def _type_name(column: dict | None) -> str:
    return str((column or {}).get("type") or "").split("(")[0].strip()


def dedup_safe(column: dict | None) -> bool:
    """Whether nbtree deduplicates equal values of this column's type."""
    t = _type_name(column)
    return not (t in NO_DEDUP_TYPES or t.endswith("[]") or t.endswith("range") or t.endswith("multirange"))


def _layout(column: dict | None) -> tuple[float, int]:
    """(average stored width, alignment) of a column inside an index tuple."""
    t = _type_name(column)
    if t in _FIXED:
        return _FIXED[t]
    # pg_stats.avg_width is truncated to an integer (analyze.c: stawidth = total_width / nonnull_cnt):
    # half a byte on average, which decides the MAXALIGN of narrow tuples (`(date, numeric)` on TPC-H)
    width = column_width(column) + (0.5 if (column or {}).get("avg_width") else 0.0)
    # a short varlena (under 127 bytes) is stored with a 1-byte header and no alignment
    return (float(width), 1 if width < 127 else 4)


def _data_bytes(columns: list[dict | None], header: int) -> int:
    """MAXALIGNed bytes of an index tuple holding these columns after a header of `header` bytes."""
    off = float(header)
    for c in columns:
        width, align = _layout(c)
        off = math.ceil(off / align) * align + width
    return _align8(off)


def _tuple_bytes(columns: list[dict | None]) -> float:
    """Average MAXALIGNed size of a plain index tuple, weighing in the rows where a column is NULL."""
    p_null = 1.0 - math.prod(1.0 - min(1.0, float((c or {}).get("null_frac") or 0.0)) for c in columns)
    full = _data_bytes(columns, _HEADER)
    if p_null <= 0:
        return float(full)
    most_null = max(columns, key=lambda c: float((c or {}).get("null_frac") or 0.0))
    with_null = _data_bytes([c for c in columns if c is not most_null], _NULL_HEADER)
    return (1.0 - p_null) * full + p_null * with_null


def _distinct(columns: list[dict | None], rows: float) -> float:
    """Distinct key values among `rows`: the product of the columns' (NULL counts as a value), at most rows."""
    d = 1.0
    for c in columns:
        nd = n_distinct_rows((c or {}).get("n_distinct"), rows)
        if nd <= 0:
            return rows  # unknown: no duplicates assumed (the larger size)
        d *= nd + (1.0 if float((c or {}).get("null_frac") or 0.0) > 0 else 0.0)
    return max(1.0, min(rows, d))


def _bytes_per_group(key_tuple: float, k: int) -> float:
    """Leaf bytes (tuples and line pointers) of the `k` rows of one key value, deduplicated."""
    if k <= 1:
        return key_tuple + _LINE_POINTER
    per_posting = max(2, int((MAX_POSTING_BYTES - key_tuple) // _TID))
    full, rest = divmod(k, per_posting)
    out = full * (_align8(key_tuple + per_posting * _TID) + _LINE_POINTER)
    if rest == 1:
        out += key_tuple + _LINE_POINTER
    elif rest:
        out += _align8(key_tuple + rest * _TID) + _LINE_POINTER
    return out


def btree_leaf_bytes_per_row(rows: float, keys: list[dict | None], include: list[dict | None],
                             unique: bool = False) -> float:
    """Average leaf bytes a row takes (its tuple's share and line pointer), deduplication counted."""
    plain = _tuple_bytes(keys + include)
    if unique or include or rows <= 1 or not all(dedup_safe(c) for c in keys):
        return plain + _LINE_POINTER
    per_value = rows / _distinct(keys, rows)
    if per_value < 1.0 + 1e-9:
        return plain + _LINE_POINTER
    lo = int(per_value)
    w_hi = per_value - lo  # groups of lo and lo + 1 rows, in the shares that give the mean
    n_hi = w_hi / (lo + 1) / (w_hi / (lo + 1) + (1 - w_hi) / lo) if lo else 1.0
    avg = (1 - n_hi) * _bytes_per_group(plain, lo) / lo + n_hi * _bytes_per_group(plain, lo + 1) / (lo + 1)
    return avg


def btree_model_size(reltuples: float, keys: list[dict | None], include: list[dict | None] = (),  # type: ignore[assignment]
                     *, unique: bool = False, fraction: float = 1.0) -> int:
    """Bytes of a B-tree as CREATE INDEX builds it over `reltuples × fraction` rows whose key and INCLUDE
    columns have these catalog dicts (type, avg_width, n_distinct, null_frac, as `pg.catalog.columns`)."""
    keys, include = list(keys), list(include)
    rows = max(0.0, float(reltuples or 0)) * max(0.0, min(1.0, fraction))
    if rows < 1:
        return 2 * PAGE  # metapage and one empty leaf
    pivot = _data_bytes(keys, _HEADER) + _LINE_POINTER  # high keys and downlinks: key columns only
    per_row = btree_leaf_bytes_per_row(rows, keys, include, unique)
    leaf_room = _LEAF_FILL - (PAGE - _PAGE_USABLE) - pivot  # one high key per leaf
    leaves = max(1, math.ceil(rows * per_row / max(per_row, leaf_room)))
    per_inner = max(2, int((_INNER_FILL - (PAGE - _PAGE_USABLE)) // pivot))
    pages, level = 1 + leaves, leaves  # the metapage
    while level > 1:
        level = math.ceil(level / per_inner)
        pages += level
    return int(pages * PAGE)

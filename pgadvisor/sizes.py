"""Index size estimates from table statistics, and `n_distinct_rows`, pg_stats' n_distinct as a count
(pg/ and advise/ both read it).

`btree_model_size` is the B-tree as `CREATE INDEX` builds it (nbtsort.c), from pg_stats (avg_width,
n_distinct, null_frac) and reltuples: leaf tuples of an 8-byte header (16 with a null bitmap) plus the
key and INCLUDE data aligned per type, MAXALIGNed, plus a 4-byte line pointer; with deduplication
(PostgreSQL 13+) the rows of one key value share posting-list tuples of 6 bytes per heap TID; leaves
filled to 90%, inner levels to 70% with pivot tuples of the key columns only. `index_model_size` is the
same for an IndexDef, `ext_distinct` reads extended statistics' distinct counts, and `duj1` turns a block
sample into a distinct count (pg/heuristic.py samples). docs/sizes.md says how exact each is.
"""

from __future__ import annotations

import json
import math

from pgadvisor.indexdef import IndexDef

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


def independent_distinct(columns: list[dict | None], rows: float) -> float:
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


def deduplicated(keys: list[dict | None], include: list[dict | None], unique: bool = False) -> bool:
    """Whether nbtree deduplicates this index (so that its size depends on the number of distinct keys)."""
    return not unique and not include and all(dedup_safe(c) for c in keys)


def btree_leaf_bytes_per_row(rows: float, keys: list[dict | None], include: list[dict | None],
                             unique: bool = False, distinct: float | None = None) -> float:
    """Average leaf bytes a row takes (its tuple's share and line pointer), deduplication counted;
    `distinct`: the number of distinct keys when known better than from the columns' statistics."""
    plain = _tuple_bytes(keys + include)
    if rows <= 1 or not deduplicated(keys, include, unique):
        return plain + _LINE_POINTER
    d = independent_distinct(keys, rows) if distinct is None or distinct <= 0 else max(1.0, min(rows, distinct))
    per_value = rows / d
    if per_value < 1.0 + 1e-9:
        return plain + _LINE_POINTER
    lo = int(per_value)
    w_hi = per_value - lo  # groups of lo and lo + 1 rows, in the shares that give the mean
    n_hi = w_hi / (lo + 1) / (w_hi / (lo + 1) + (1 - w_hi) / lo) if lo else 1.0
    avg = (1 - n_hi) * _bytes_per_group(plain, lo) / lo + n_hi * _bytes_per_group(plain, lo + 1) / (lo + 1)
    return avg


def btree_model_size(reltuples: float, keys: list[dict | None], include: list[dict | None] = (),  # type: ignore[assignment]
                     *, unique: bool = False, fraction: float = 1.0, distinct: float | None = None) -> int:
    """Bytes of a B-tree as CREATE INDEX builds it over `reltuples × fraction` rows whose key and INCLUDE
    columns have these catalog dicts (type, avg_width, n_distinct, null_frac, as `pg.catalog.columns`);
    `distinct`: distinct keys in the whole table (extended statistics, a sample), else from the columns."""
    keys, include = list(keys), list(include)
    rows = max(0.0, float(reltuples or 0)) * max(0.0, min(1.0, fraction))
    if rows < 1:
        return 2 * PAGE  # metapage and one empty leaf
    pivot = _data_bytes(keys, _HEADER) + _LINE_POINTER  # high keys and downlinks: key columns only
    if distinct is not None and distinct > 0 and fraction < 1.0:
        distinct = distinct * fraction  # a partial index: its share of the keys, roughly
    per_row = btree_leaf_bytes_per_row(rows, keys, include, unique, distinct)
    leaf_room = _LEAF_FILL - (PAGE - _PAGE_USABLE) - pivot  # one high key per leaf
    leaves = max(1, math.ceil(rows * per_row / max(per_row, leaf_room)))
    per_inner = max(2, int((_INNER_FILL - (PAGE - _PAGE_USABLE)) // pivot))
    pages, level = 1 + leaves, leaves  # the metapage
    while level > 1:
        level = math.ceil(level / per_inner)
        pages += level
    return int(pages * PAGE)


def model_columns(d: IndexDef, columns: dict[str, dict]) -> tuple[list[dict], list[dict]] | None:
    """The catalog dicts (`pg.catalog.columns`, by name) of `d`'s keys and INCLUDE columns as the model takes
    them: an expression key as wide and as distinct as its widest column. None: a key over no column or a
    column the catalog lacks (the model cannot size it)."""
    keys = []
    for k in d.keys:
        base = [columns.get(c) for c in k.base_columns]
        if not base or any(c is None for c in base):
            return None
        keys.append(base[0] if len(base) == 1 else max(base, key=column_width))  # type: ignore[arg-type]
    include = [columns.get(c) for c in d.include]
    if any(c is None for c in include):
        return None
    return keys, include  # type: ignore[return-value]


def index_model_size(d: IndexDef, columns: dict[str, dict], relation: dict | None, fraction: float = 1.0,
                     distinct: float | None = None) -> int | None:
    """`btree_model_size` of the B-tree `d` over a table (`pg.catalog.relations` dict) with these columns;
    without `distinct`, the extended statistics' count when they have the key's columns. None: not a B-tree,
    or `model_columns` cannot describe it."""
    cols = model_columns(d, columns) if d.method == "btree" else None
    if cols is None:
        return None
    keys, include = cols
    if distinct is None and all(k.column for k in d.keys):
        distinct = ext_distinct(relation, keys)
    return btree_model_size(float((relation or {}).get("reltuples") or 0), keys, include, fraction=fraction,
                            distinct=distinct)


def ext_distinct(relation: dict | None, keys: list[dict | None]) -> float | None:
    """Distinct combinations of these key columns from the table's extended statistics (`CREATE STATISTICS
    … (ndistinct)`, ANALYZE's sample estimate, as `pg.catalog.relations` reads them into `ext_ndistinct`);
    None when no statistics object covers them all (or the key has one column: pg_stats has it)."""
    attnums = {(c or {}).get("attnum") for c in keys}
    if len(keys) < 2 or None in attnums or len(attnums) != len(keys):
        return None
    for text in (relation or {}).get("ext_ndistinct") or ():
        for nums, n in _ndistinct_items(text):
            if set(nums) == attnums and n > 0:
                return float(n)
    return None


def _ndistinct_items(text: str | None) -> list[tuple[list[int], float]]:
    """(attnums, distinct) of a pg_ndistinct value's text: `{"1, 2": 33178}` up to PostgreSQL 18, a list of
    `{"attributes": [1, 2], "ndistinct": 33178}` after; anything else gives nothing."""
    try:
        value = json.loads(text or "null")
        if isinstance(value, dict):
            return [([int(a) for a in k.split(",")], float(v)) for k, v in value.items()]
        if isinstance(value, list):
            return [([int(a) for a in x["attributes"]], float(x["ndistinct"])) for x in value]
    except (ValueError, TypeError, KeyError, AttributeError):
        pass
    return []


def duj1(units: float, seen: float, once: float, total_units: float) -> float:
    """Haas and Stokes' Duj1 estimate of the distinct values among `total_units` from a sample of `units`
    with `seen` distinct values of which `once` occur once: n·d / (n − f1 + f1·n/N), what ANALYZE uses for
    pg_stats.n_distinct (analyze.c). Between `seen` and `total_units`."""
    if units <= 0 or seen <= 0:
        return 0.0
    total_units = max(total_units, units)
    denom = units - once + once * units / total_units
    est = units * seen / denom if denom > 0 else total_units
    return max(seen, min(total_units, est))

"""Every query pgadvisor runs against catalog and statistics views: one place, version-gated.

Each function takes an open psycopg connection and returns plain Python data (lists of dicts),
so the rest of the code never builds catalog SQL. Every statement carries the /* pgadvisor */
marker so that our own activity is recognisable in pg_stat_statements and filtered out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgadvisor.marker import mark
from pgadvisor.snapshot import COUNTERS

# pg_stat_statements counters we keep, by the name we store them under; the value is the column
# expression per extension version (pganalyze/collector does the same).
# counters whose column differs between extension versions; the rest of COUNTERS keep their names
_PGSS_VERSIONED = {"total_exec_time", "total_plan_time", "plans", "wal_records", "wal_bytes", "blk_read_time",
                   "blk_write_time"}


def _pgss_columns(extversion: str) -> dict[str, str]:
    major, minor = (int(x) for x in extversion.split(".")[:2])
    v = (major, minor)
    cols = {c: c for c in COUNTERS if c not in _PGSS_VERSIONED}
    if v >= (1, 8):
        cols.update(
            total_exec_time="total_exec_time",
            total_plan_time="total_plan_time",
            plans="plans",
            wal_records="wal_records",
            wal_bytes="wal_bytes::bigint",
        )
    else:
        cols.update(total_exec_time="total_time", total_plan_time="0", plans="0", wal_records="0", wal_bytes="0")
    if v >= (1, 11):
        cols.update(
            blk_read_time="shared_blk_read_time + local_blk_read_time",
            blk_write_time="shared_blk_write_time + local_blk_write_time",
        )
    else:
        cols.update(blk_read_time="blk_read_time", blk_write_time="blk_write_time")
    cols["toplevel"] = "toplevel" if v >= (1, 9) else "true"
    return cols


def q(conn: psycopg.Connection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    """Run one marked read query and return rows as dicts."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(mark(sql), params)
        return cur.fetchall() if cur.description else []


@contextmanager
def savepoint(conn: psycopg.Connection, keep: bool = True) -> Iterator[None]:
    """A marked savepoint, or a marked transaction when none is open (psycopg's own SAVEPOINT/BEGIN
    would show up unmarked in pg_stat_statements); an error inside rolls back only this block.
    `keep=False` rolls the block back when it succeeds too (an EXPLAIN: nothing it did may outlive it)."""
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE and conn.autocommit:
        begin, done, undo = "BEGIN", "COMMIT", ["ROLLBACK"]
    else:
        sp = "SAVEPOINT pgadvisor_sp"
        begin, done, undo = sp, f"RELEASE {sp}", [f"ROLLBACK TO {sp}", f"RELEASE {sp}"]
    conn.execute(mark(begin))
    try:
        yield
    except BaseException:
        if not conn.closed:
            for sql in undo:
                conn.execute(mark(sql))
        raise
    for sql in [done] if keep else undo:
        conn.execute(mark(sql))


@contextmanager
def snapshot_transaction(conn: psycopg.Connection) -> Iterator[None]:
    """One marked, read-only REPEATABLE READ transaction: every view is read at the same moment."""
    conn.autocommit = True
    conn.execute(mark("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
    try:
        yield
    except BaseException:
        if not conn.closed:
            conn.execute(mark("ROLLBACK"))
        raise
    conn.execute(mark("COMMIT"))


def server_info(conn: psycopg.Connection) -> dict[str, Any]:
    row = q(
        conn,
        """
        SELECT current_setting('server_version_num')::int AS version_num,
               current_setting('server_version') AS version,
               pg_postmaster_start_time() AS postmaster_start,
               current_database() AS datname,
               (SELECT oid FROM pg_database WHERE datname = current_database()) AS dbid,
               current_user AS username,
               pg_is_in_recovery() AS in_recovery,
               now() AS taken_at""",
    )[0]
    try:
        with savepoint(conn):
            row["system_identifier"] = str(
                q(conn, "SELECT system_identifier FROM pg_control_system()")[0]["system_identifier"]
            )
    except psycopg.Error:
        row["system_identifier"] = None  # needs pg_monitor or superuser on some versions
    return row


def pgss_state(conn: psycopg.Connection) -> dict[str, Any]:
    """Whether pg_stat_statements is created here and preloaded, and its version."""
    rows = q(
        conn,
        """
        SELECT (SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements') AS extversion,
               (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                 WHERE e.extname = 'pg_stat_statements') AS extschema,
               CASE WHEN pg_has_role(current_user, 'pg_read_all_settings', 'USAGE')
                    THEN current_setting('shared_preload_libraries') END AS preload,
               (SELECT default_version FROM pg_available_extensions WHERE name = 'pg_stat_statements')
                 AS available_version,
               current_setting('pg_stat_statements.max', true) AS max,
               current_setting('pg_stat_statements.track', true) AS track,
               current_setting('track_io_timing') AS track_io_timing,
               pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS read_all_stats,
               (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser""",
    )
    row = rows[0]
    # None when this role may not read shared_preload_libraries: reading the view will tell
    row["preloaded"] = None if row["preload"] is None else "pg_stat_statements" in row["preload"]
    return row


def pgss_statements(conn: psycopg.Connection, extversion: str, schema: str = "public") -> list[dict[str, Any]]:
    """All rows of pg_stat_statements (cumulative), normalized column names; texts as stored."""
    cols = _pgss_columns(extversion)
    select = ", ".join(f"{expr} AS {name}" for name, expr in cols.items())
    ident = psycopg.sql.Identifier(schema).as_string(conn)
    # 1.11 (PostgreSQL 17): when the entry was created; it survives a clean restart, a re-created entry
    # (evicted or reset in between) gets a new one
    major, minor = (int(x) for x in extversion.split(".")[:2])
    since = "extract(epoch FROM stats_since)::float8" if (major, minor) >= (1, 11) else "NULL::float8"
    return q(
        conn,
        f"""
        SELECT queryid::text AS queryid, userid::bigint AS userid, dbid::bigint AS dbid, query, {select},
               {since} AS stats_since
          FROM {ident}.pg_stat_statements(true)""",
    )


def pgss_info(conn: psycopg.Connection, extversion: str, schema: str = "public") -> dict[str, Any]:
    major, minor = (int(x) for x in extversion.split(".")[:2])
    if (major, minor) < (1, 9):
        return {"dealloc": None, "stats_reset": None}
    ident = psycopg.sql.Identifier(schema).as_string(conn)
    return q(conn, f"SELECT dealloc, stats_reset FROM {ident}.pg_stat_statements_info")[0]


def relations(conn: psycopg.Connection, locked: list[int] | None = None) -> list[dict[str, Any]]:
    """Tables, partitioned tables and materialized views with their sizes and counters; the sizes of the
    `locked` relations (oids) are NULL: reading them would wait for another session's lock. `ext_ndistinct`:
    the texts of the table's extended statistics' pg_ndistinct values (attnums → distinct count; only the
    tables the role owns show, pg_stats_ext's rule), read by `sizes.ext_distinct`."""
    return q(
        conn,
        """
        SELECT n.nspname AS schema, c.relname AS name, c.oid::bigint AS relid, c.relkind::text AS kind,
               c.reltuples::float8 AS reltuples, c.relpages::bigint AS relpages,
               CASE WHEN c.oid <> ALL(%(locked)s) THEN pg_total_relation_size(c.oid) END AS total_bytes,
               CASE WHEN c.oid <> ALL(%(locked)s) THEN pg_relation_size(c.oid) END AS table_bytes,
               c.relpersistence::text AS persistence, c.relispartition AS is_partition,
               s.seq_scan, s.seq_tup_read, s.idx_scan, s.idx_tup_fetch, s.n_tup_ins, s.n_tup_upd,
               s.n_tup_del, s.n_tup_hot_upd, s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze,
               s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
               s.vacuum_count, s.autovacuum_count, s.analyze_count, s.autoanalyze_count,
               (SELECT json_agg(x.n_distinct::text) FROM pg_stats_ext x
                 WHERE x.schemaname = n.nspname AND x.tablename = c.relname AND x.n_distinct IS NOT NULL
                   AND NOT coalesce((to_jsonb(x) ->> 'inherited')::bool, false)) AS ext_ndistinct
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
         WHERE c.relkind IN ('r', 'p', 'm')
           AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
           AND n.nspname NOT LIKE 'pg_temp%%' AND n.nspname NOT LIKE 'pg_toast_temp%%'
         ORDER BY 1, 2""",
        {"locked": locked or []},
    )


def indexes(conn: psycopg.Connection, locked: list[int] | None = None) -> list[dict[str, Any]]:
    """Existing indexes with their key columns/expressions, INCLUDE columns, predicate and usage; not
    those of a `locked` table or themselves locked (their definition cannot be read without the lock)."""
    return q(
        conn,
        """
        SELECT n.nspname AS schema, t.relname AS table, i.relname AS name, x.indexrelid::bigint AS indexrelid,
               pg_get_indexdef(x.indexrelid) AS definition, am.amname AS method,
               x.indnkeyatts AS n_key, x.indisunique AS is_unique, x.indisprimary AS is_primary,
               x.indisvalid AS is_valid, x.indisready AS is_ready,
               coalesce((to_jsonb(x) ->> 'indnullsnotdistinct')::boolean, false) AS nulls_not_distinct,
               (con.oid IS NOT NULL) AS backs_constraint, con.conname AS constraint_name,
               pg_get_expr(x.indpred, x.indrelid) AS predicate,
               ARRAY(SELECT pg_get_indexdef(x.indexrelid, k + 1, true)
                       FROM generate_subscripts(x.indkey, 1) AS k ORDER BY k) AS columns,
               ARRAY(SELECT (x.indoption[k] & 1) = 1
                       FROM generate_subscripts(x.indkey, 1) AS k ORDER BY k) AS desc_flags,
               pg_relation_size(x.indexrelid) AS size_bytes,
               s.idx_scan, s.idx_tup_read, s.idx_tup_fetch
          FROM pg_index x
          JOIN pg_class i ON i.oid = x.indexrelid
          JOIN pg_class t ON t.oid = x.indrelid
          JOIN pg_namespace n ON n.oid = t.relnamespace
          JOIN pg_am am ON am.oid = i.relam
          LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.contype IN ('p', 'u', 'x')
          LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = x.indexrelid
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
           AND n.nspname NOT LIKE 'pg_temp%%'
           AND x.indexrelid <> ALL(%(locked)s) AND x.indrelid <> ALL(%(locked)s)
         ORDER BY 1, 2, 3""",
        {"locked": locked or []},
    )


def locked_relations(conn: psycopg.Connection) -> dict[int, str]:
    """Relations of this database that another session holds (or waits for) in ACCESS EXCLUSIVE mode:
    reading their size would wait for it, then fail at lock_timeout."""
    return {r["oid"]: r["name"] for r in q(conn, """
        SELECT DISTINCT l.relation::bigint AS oid, l.relation::regclass::text AS name FROM pg_locks l
         WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' AND l.pid <> pg_backend_pid()
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())""")}


def columns(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Columns with their type and planner statistics (pg_stats; NULLs when never analyzed), default,
    identity ('a' always, 'd' by default), generated ('s') and the sequence a serial column owns."""
    return q(
        conn,
        """
        SELECT n.nspname AS schema, c.relname AS table, a.attname AS column, a.attnum AS attnum,
               format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
               s.null_frac::float8 AS null_frac, s.n_distinct::float8 AS n_distinct,
               s.avg_width AS avg_width, s.correlation::float8 AS correlation,
               ty.typcategory::text AS type_category, pg_get_expr(ad.adbin, ad.adrelid) AS "default",
               nullif(a.attidentity::text, '') AS identity, nullif(a.attgenerated::text, '') AS generated,
               (SELECT sq.oid::regclass::text FROM pg_depend d JOIN pg_class sq ON sq.oid = d.objid
                 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
                   AND d.refobjid = c.oid AND d.refobjsubid = a.attnum AND d.deptype = 'a'
                   AND sq.relkind = 'S' LIMIT 1) AS serial_sequence
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_type ty ON ty.oid = a.atttypid
          LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
          LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname
                              AND s.attname = a.attname AND NOT s.inherited
         WHERE c.relkind IN ('r', 'p', 'm') AND a.attnum > 0 AND NOT a.attisdropped
           AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
           AND n.nspname NOT LIKE 'pg_temp%'
         ORDER BY 1, 2, a.attnum""",
    )


def foreign_keys(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return q(
        conn,
        """
        SELECT n.nspname AS schema, c.relname AS table, con.conname AS name,
               ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                       JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                      ORDER BY k.ord) AS columns,
               rn.nspname AS ref_schema, rc.relname AS ref_table,
               ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
                       JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
                      ORDER BY k.ord) AS ref_columns,
               ARRAY(SELECT format_type(a.atttypid, a.atttypmod) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                       JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                      ORDER BY k.ord) AS column_types,
               ARRAY(SELECT format_type(a.atttypid, a.atttypmod) FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
                       JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
                      ORDER BY k.ord) AS ref_column_types,
               con.convalidated AS validated, con.conparentid <> 0 AS inherited
          FROM pg_constraint con
          JOIN pg_class c ON c.oid = con.conrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_class rc ON rc.oid = con.confrelid
          JOIN pg_namespace rn ON rn.oid = rc.relnamespace
         WHERE con.contype = 'f'
         ORDER BY 1, 2, 3""",
    )


def constraints(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Table constraints (p primary, u unique, c check, f foreign, x exclusion, n not-null on 18): whether
    validated, their definition and columns; those a partition inherits are left out."""
    return q(
        conn,
        """
        SELECT n.nspname AS schema, c.relname AS table, con.conname AS name, con.contype::text AS type,
               con.convalidated AS validated, pg_get_constraintdef(con.oid) AS definition,
               ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                       JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                      ORDER BY k.ord) AS columns
          FROM pg_constraint con
          JOIN pg_class c ON c.oid = con.conrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE con.conparentid = 0 AND con.coninhcount = 0
           AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
           AND n.nspname NOT LIKE 'pg_temp%%'
         ORDER BY 1, 2, 3""",
    )


def sequences(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Sequences with their type, bounds, last value (NULL when never used or not readable by this role)
    and the column that owns them (serial or identity), with the column's type."""
    return q(
        conn,
        """
        SELECT n.nspname AS schema, c.relname AS name, format_type(s.seqtypid, NULL) AS type,
               s.seqstart AS start, s.seqmin AS min, s.seqmax AS max, s.seqincrement AS increment,
               s.seqcycle AS cycle,
               CASE WHEN has_sequence_privilege(c.oid, 'SELECT,USAGE') THEN pg_sequence_last_value(c.oid) END
                 AS last_value,
               tn.nspname AS owner_schema, t.relname AS owner_table, a.attname AS owner_column,
               format_type(a.atttypid, a.atttypmod) AS owner_type, d.deptype::text AS owner_dep
          FROM pg_sequence s
          JOIN pg_class c ON c.oid = s.seqrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
                               AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
                               AND d.deptype IN ('a', 'i')
          LEFT JOIN pg_class t ON t.oid = d.refobjid
          LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
          LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
           AND n.nspname NOT LIKE 'pg_temp%%'
         ORDER BY 1, 2""",
    )


def settings(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return q(
        conn,
        """
        SELECT name, setting, unit, source, boot_val, reset_val, pending_restart
          FROM pg_settings ORDER BY name""",
    )


def database_counters(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return q(
        conn,
        """
        SELECT datid::bigint AS dbid, datname, numbackends, xact_commit, xact_rollback, blks_read, blks_hit,
               tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted, conflicts, temp_files,
               temp_bytes, deadlocks, blk_read_time, blk_write_time, stats_reset,
               pg_database_size(datid) AS size_bytes
          FROM pg_stat_database WHERE datname IS NOT NULL ORDER BY datname""",
    )


def activity_summary(conn: psycopg.Connection) -> dict[str, Any]:
    acts = q(
        conn,
        """
        SELECT coalesce(state, 'unknown') AS state, coalesce(wait_event_type, '') AS wait_event_type,
               count(*) AS n,
               coalesce(max(extract(epoch FROM now() - xact_start)), 0)::float8 AS longest_xact_s
          FROM pg_stat_activity WHERE backend_type = 'client backend'
         GROUP BY 1, 2 ORDER BY 1, 2""",
    )
    locks = q(
        conn,
        """
        SELECT mode, granted, count(*) AS n FROM pg_locks GROUP BY 1, 2 ORDER BY 1, 2""",
    )
    return {"activity": acts, "locks": locks}


def database_names(conn: psycopg.Connection) -> dict[int, str]:
    return {r["oid"]: r["datname"] for r in q(conn, "SELECT oid::bigint AS oid, datname FROM pg_database")}


def schema_fingerprint(conn: psycopg.Connection) -> str:
    """A cheap hash of what read_schema/settings return apart from counters: relations, indexes,
    constraints, ANALYZE times and settings. Equal fingerprints mean the definitions did not change."""
    return q(conn, """
        SELECT md5(string_agg(x, ',' ORDER BY x)) AS fp FROM (
          SELECT concat_ws(':', 'r', c.oid, c.relfilenode, c.relnatts, c.relkind::text, c.relnamespace,
                           c.relname) AS x
            FROM pg_class c WHERE c.relkind IN ('r', 'p', 'm', 'i', 'I')
          UNION ALL SELECT concat_ws(':', 'i', indexrelid, indisvalid, indisready) FROM pg_index
          UNION ALL SELECT concat_ws(':', 'f', oid, conrelid) FROM pg_constraint WHERE contype IN ('f', 'p', 'u', 'x')
          UNION ALL SELECT 'a' || coalesce(max(last_analyze)::text, '') || coalesce(max(last_autoanalyze)::text, '')
            FROM pg_stat_all_tables
          UNION ALL SELECT 's' || md5(string_agg(name || '=' || setting, ',' ORDER BY name)) FROM pg_settings
        ) t""")[0]["fp"]


# how often read_schema looks again for locked relations when a lock was taken while it read
SCHEMA_LOCK_RETRIES = 3


def read_schema(conn: psycopg.Connection, notes: list[str] | None = None) -> dict[str, Any]:
    """Schema and statistics of the connected database, as stored in a snapshot. A relation another
    session holds in ACCESS EXCLUSIVE mode is listed without its size and indexes (a note says which;
    the result's "locked" lists them) instead of making the whole read wait and fail."""
    for attempt in range(SCHEMA_LOCK_RETRIES + 1):
        locked = locked_relations(conn)
        try:
            with savepoint(conn):
                out = {
                    "relations": relations(conn, list(locked)),
                    "indexes": indexes(conn, list(locked)),
                    "columns": columns(conn),
                    "foreign_keys": foreign_keys(conn),
                    "constraints": constraints(conn),
                    "sequences": sequences(conn),
                }
            break
        except psycopg.errors.LockNotAvailable:
            if attempt == SCHEMA_LOCK_RETRIES:
                raise
    if locked:
        out["locked"] = sorted(locked.values())
        if notes is not None:
            names = ", ".join(out["locked"][:5]) + (" …" if len(locked) > 5 else "")
            notes.append(f"{len(locked)} relation(s) locked by another session (ACCESS EXCLUSIVE): their sizes "
                         f"and indexes were not read: {names}")
    return out


def pgss_count(conn: psycopg.Connection, schema: str = "public") -> int:
    ident = psycopg.sql.Identifier(schema).as_string(conn)
    return int(q(conn, f"SELECT count(*) AS n FROM {ident}.pg_stat_statements(false)")[0]["n"])


def unreadable_tables(conn: psycopg.Connection) -> tuple[int, int, list[str]]:
    """(tables, tables this role may not SELECT from, a few of those): EXPLAIN needs the privilege."""
    rows = q(conn, """
        SELECT c.oid::regclass::text AS name, has_table_privilege(c.oid, 'SELECT') AS ok
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'm', 'v', 'f')
           AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
           AND n.nspname NOT LIKE 'pg_temp%%' AND n.nspname NOT LIKE 'pg_toast_temp%%'""")
    denied = sorted(r["name"] for r in rows if not r["ok"])
    return len(rows), len(denied), denied[:3]


def hypopg_state(conn: psycopg.Connection) -> dict[str, Any]:
    """hypopg: created version (`version`), the schema of its functions (`schema`) and the installable
    version (`available`)."""
    return q(conn, """
        SELECT (SELECT extversion FROM pg_extension WHERE extname = 'hypopg') AS version,
               (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                 WHERE e.extname = 'hypopg') AS schema,
               (SELECT default_version FROM pg_available_extensions WHERE name = 'hypopg') AS available""")[0]


def c_collation(conn: psycopg.Connection) -> bool:
    """Whether this database's collation is C (or POSIX): then a plain B-tree serves a prefix LIKE."""
    row = q(conn, "SELECT datcollate FROM pg_database WHERE datname = current_database()")
    return bool(row) and str(row[0]["datcollate"]) in ("C", "POSIX")


def hours_since(conn: psycopg.Connection, ts: Any) -> float | None:
    if ts is None:
        return None
    return float(q(conn, "SELECT extract(epoch FROM now() - %s::timestamptz) / 3600 AS h", (ts,))[0]["h"])


def stats_age_days(conn: psycopg.Connection) -> float | None:
    """How long this database's cumulative statistics (idx_scan, n_tup_*) have been counting."""
    row = q(conn, """
        SELECT extract(epoch FROM now() - coalesce(d.stats_reset, pg_postmaster_start_time())) / 86400 AS days
          FROM pg_stat_database d WHERE d.datname = current_database()""")
    return float(row[0]["days"]) if row and row[0]["days"] is not None else None


def untrusted_code(conn: psycopg.Connection, trusted_roles: list[str] | None = None) -> list[dict[str, Any]]:
    """What planning a statement could run that a role we do not trust wrote (see pg/guard.py): functions
    (owner neither a superuser nor trusted, language neither C nor internal), the
    operators and types (casts, domain checks) built on them, and the relations whose planning reaches
    them (view rules, also through other views; column defaults; policies; check constraints; index
    expressions). Rows: {kind, name, what, owner (of a function, else NULL)}."""
    return q(conn, """
        WITH RECURSIVE trusted AS (
          SELECT oid FROM pg_roles WHERE rolsuper OR rolname = ANY(%(roles)s)
        ), fn AS (
          SELECT p.oid FROM pg_proc p
           WHERE p.proowner NOT IN (SELECT oid FROM trusted)
             AND p.prolang NOT IN (SELECT oid FROM pg_language WHERE lanname IN ('internal', 'c'))
        ), op AS (
          SELECT o.oid FROM pg_operator o WHERE o.oprcode IN (SELECT oid FROM fn)
        ), typ AS (
          SELECT castsource AS oid FROM pg_cast WHERE castfunc IN (SELECT oid FROM fn)
          UNION SELECT casttarget FROM pg_cast WHERE castfunc IN (SELECT oid FROM fn)
          UNION SELECT c.contypid FROM pg_depend d JOIN pg_constraint c ON c.oid = d.objid
           WHERE d.classid = 'pg_constraint'::regclass AND c.contypid <> 0
             AND ((d.refclassid = 'pg_proc'::regclass AND d.refobjid IN (SELECT oid FROM fn))
               OR (d.refclassid = 'pg_operator'::regclass AND d.refobjid IN (SELECT oid FROM op)))
        ), dep AS (  -- objects whose definition calls one of those
          SELECT d.classid, d.objid FROM pg_depend d
           WHERE (d.refclassid = 'pg_proc'::regclass AND d.refobjid IN (SELECT oid FROM fn))
              OR (d.refclassid = 'pg_operator'::regclass AND d.refobjid IN (SELECT oid FROM op))
              OR (d.refclassid = 'pg_type'::regclass AND d.refobjid IN (SELECT oid FROM typ))
        ), rel(oid) AS (
          SELECT r.ev_class FROM dep JOIN pg_rewrite r ON r.oid = dep.objid WHERE dep.classid = 'pg_rewrite'::regclass
          UNION SELECT a.adrelid FROM dep JOIN pg_attrdef a ON a.oid = dep.objid
           WHERE dep.classid = 'pg_attrdef'::regclass
          UNION SELECT p.polrelid FROM dep JOIN pg_policy p ON p.oid = dep.objid
           WHERE dep.classid = 'pg_policy'::regclass
          UNION SELECT c.conrelid FROM dep JOIN pg_constraint c ON c.oid = dep.objid
           WHERE dep.classid = 'pg_constraint'::regclass AND c.conrelid <> 0
          UNION SELECT coalesce(i.indrelid, dep.objid) FROM dep LEFT JOIN pg_index i ON i.indexrelid = dep.objid
           WHERE dep.classid = 'pg_class'::regclass
          UNION  -- a view over a relation that reaches untrusted code reaches it too
          SELECT r.ev_class FROM rel JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = rel.oid
            AND d.classid = 'pg_rewrite'::regclass JOIN pg_rewrite r ON r.oid = d.objid
        )
        SELECT 'function' AS kind, p.proname::text AS name,
               format('function %%s (owner %%s)', p.oid::regprocedure, pg_get_userbyid(p.proowner)) AS what,
               pg_get_userbyid(p.proowner)::text AS owner
          FROM pg_proc p WHERE p.oid IN (SELECT oid FROM fn)
        UNION ALL
        SELECT 'operator', o.oprname::text,
               format('operator %%s (function %%s)', o.oid::regoperator, o.oprcode::regprocedure), NULL
          FROM pg_operator o WHERE o.oid IN (SELECT oid FROM op)
        UNION ALL
        SELECT 'type', t.typname::text, format('type %%s (a cast or check calls untrusted code)', t.oid::regtype),
               NULL
          FROM pg_type t WHERE t.oid IN (SELECT oid FROM typ)
        UNION ALL
        SELECT 'relation', c.relname::text,
               format('relation %%s (a view, default, policy, check or index of it calls untrusted code)',
                      c.oid::regclass), NULL
          FROM pg_class c WHERE c.oid IN (SELECT oid FROM rel)
        ORDER BY 1, 2, 3""", {"roles": list(trusted_roles or [])})


def search_path(conn: psycopg.Connection) -> dict[str, Any]:
    """The session's schema search path (`path`, implicit schemas left out) and this database's oid (`dbid`)."""
    return q(
        conn,
        "SELECT current_schemas(false) AS path, "
        "(SELECT oid FROM pg_database WHERE datname = current_database())::bigint AS dbid",
    )[0]


@contextmanager
def without_snapshot(conn: psycopg.Connection) -> Iterator[None]:
    """Reads that hold no snapshot after them: the transaction they opened is rolled back when they are
    done (nothing was written); a transaction the caller had open, or autocommit, is left as it is."""
    was_idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE and not conn.autocommit
    yield
    if was_idle and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.rollback()


def planner_costs(conn: psycopg.Connection) -> dict[str, float]:
    """The planner's cost settings the workload rules cost production sizes with, and work_mem in bytes."""
    return q(conn, """
        SELECT current_setting('seq_page_cost')::float8 AS seq_page_cost,
               current_setting('cpu_tuple_cost')::float8 AS cpu_tuple_cost,
               current_setting('cpu_operator_cost')::float8 AS cpu_operator_cost,
               pg_size_bytes(current_setting('work_mem'))::float8 AS work_mem_bytes""")[0]


def explain_with(conn: psycopg.Connection, text: str, code: Any, settings: dict[str, str]) -> list | None:
    """`explain.explain_generic` under planner settings set for this plan only (`enable_seqscan`: "off"),
    in a savepoint that is rolled back; None when the code guard refuses the text or it cannot be planned.
    Only `enable_*` settings are accepted: the names and values are ours, never a statement's."""
    from pgadvisor.pg.explain import explain_generic  # explain imports this module

    for name, value in settings.items():
        if not name.startswith("enable_") or value not in ("on", "off"):
            raise ValueError(f"not a planner switch: {name}={value}")
    with savepoint(conn, keep=False):
        for name, value in settings.items():
            conn.execute(mark(f"SET LOCAL {name} = {value}"))
        return explain_generic(conn, text, code)

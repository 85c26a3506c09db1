"""Store migration 1, frozen: stores were built from exactly this SQL; a change is a new migration."""

DESCRIPTION = "initial schema"

SQLITE = """
CREATE TABLE servers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
CREATE TABLE snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id INTEGER NOT NULL REFERENCES servers(id),
    seq INTEGER NOT NULL,
    taken_at REAL NOT NULL,
    system_identifier TEXT,
    server_version TEXT,
    version_num INTEGER,
    postmaster_start REAL,
    datname TEXT,
    dbid INTEGER,
    pgss_version TEXT,
    pgss_dealloc INTEGER,
    pgss_stats_reset REAL,
    n_statements INTEGER NOT NULL DEFAULT 0,
    n_hidden INTEGER NOT NULL DEFAULT 0,
    n_changed INTEGER NOT NULL DEFAULT 0,
    n_evicted INTEGER NOT NULL DEFAULT 0,
    dealloc_delta INTEGER NOT NULL DEFAULT 0,
    reset_reason TEXT,
    intervals INTEGER NOT NULL DEFAULT 1,
    duration_ms REAL,
    UNIQUE (server_id, seq)
);
CREATE TABLE texts (
    hash TEXT PRIMARY KEY,
    query TEXT NOT NULL
);
CREATE TABLE statements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id INTEGER NOT NULL REFERENCES servers(id),
    queryid TEXT NOT NULL,
    userid INTEGER NOT NULL,
    dbid INTEGER NOT NULL,
    toplevel INTEGER NOT NULL,
    text_hash TEXT NOT NULL,
    own INTEGER NOT NULL DEFAULT 0,
    UNIQUE (server_id, queryid, userid, dbid, toplevel)
);
CREATE TABLE stat_last (
    statement_id INTEGER PRIMARY KEY,
    server_id INTEGER NOT NULL,
    calls INTEGER NOT NULL DEFAULT 0,
    total_exec_time REAL NOT NULL DEFAULT 0,
    total_plan_time REAL NOT NULL DEFAULT 0,
    plans INTEGER NOT NULL DEFAULT 0,
    rows INTEGER NOT NULL DEFAULT 0,
    shared_blks_hit INTEGER NOT NULL DEFAULT 0,
    shared_blks_read INTEGER NOT NULL DEFAULT 0,
    shared_blks_dirtied INTEGER NOT NULL DEFAULT 0,
    shared_blks_written INTEGER NOT NULL DEFAULT 0,
    local_blks_hit INTEGER NOT NULL DEFAULT 0,
    local_blks_read INTEGER NOT NULL DEFAULT 0,
    temp_blks_read INTEGER NOT NULL DEFAULT 0,
    temp_blks_written INTEGER NOT NULL DEFAULT 0,
    blk_read_time REAL NOT NULL DEFAULT 0,
    blk_write_time REAL NOT NULL DEFAULT 0,
    wal_records INTEGER NOT NULL DEFAULT 0,
    wal_bytes INTEGER NOT NULL DEFAULT 0,
    t_calls INTEGER NOT NULL DEFAULT 0,
    t_total_exec_time REAL NOT NULL DEFAULT 0,
    t_total_plan_time REAL NOT NULL DEFAULT 0,
    t_plans INTEGER NOT NULL DEFAULT 0,
    t_rows INTEGER NOT NULL DEFAULT 0,
    t_shared_blks_hit INTEGER NOT NULL DEFAULT 0,
    t_shared_blks_read INTEGER NOT NULL DEFAULT 0,
    t_shared_blks_dirtied INTEGER NOT NULL DEFAULT 0,
    t_shared_blks_written INTEGER NOT NULL DEFAULT 0,
    t_local_blks_hit INTEGER NOT NULL DEFAULT 0,
    t_local_blks_read INTEGER NOT NULL DEFAULT 0,
    t_temp_blks_read INTEGER NOT NULL DEFAULT 0,
    t_temp_blks_written INTEGER NOT NULL DEFAULT 0,
    t_blk_read_time REAL NOT NULL DEFAULT 0,
    t_blk_write_time REAL NOT NULL DEFAULT 0,
    t_wal_records INTEGER NOT NULL DEFAULT 0,
    t_wal_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE stat_totals (
    server_id INTEGER NOT NULL,
    statement_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    t_calls INTEGER NOT NULL DEFAULT 0,
    t_total_exec_time REAL NOT NULL DEFAULT 0,
    t_total_plan_time REAL NOT NULL DEFAULT 0,
    t_plans INTEGER NOT NULL DEFAULT 0,
    t_rows INTEGER NOT NULL DEFAULT 0,
    t_shared_blks_hit INTEGER NOT NULL DEFAULT 0,
    t_shared_blks_read INTEGER NOT NULL DEFAULT 0,
    t_shared_blks_dirtied INTEGER NOT NULL DEFAULT 0,
    t_shared_blks_written INTEGER NOT NULL DEFAULT 0,
    t_local_blks_hit INTEGER NOT NULL DEFAULT 0,
    t_local_blks_read INTEGER NOT NULL DEFAULT 0,
    t_temp_blks_read INTEGER NOT NULL DEFAULT 0,
    t_temp_blks_written INTEGER NOT NULL DEFAULT 0,
    t_blk_read_time REAL NOT NULL DEFAULT 0,
    t_blk_write_time REAL NOT NULL DEFAULT 0,
    t_wal_records INTEGER NOT NULL DEFAULT 0,
    t_wal_bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (server_id, statement_id, seq)
) WITHOUT ROWID;
CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE TABLE snapshot_parts (
    snapshot_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, kind)
);
CREATE TABLE plans (
    statement_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    plan_hash TEXT NOT NULL,
    total_cost REAL,
    PRIMARY KEY (statement_id, seq)
);
"""

POSTGRES = """
CREATE TABLE servers (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE snapshots (
    id BIGSERIAL PRIMARY KEY,
    server_id BIGINT NOT NULL REFERENCES servers(id),
    seq BIGINT NOT NULL,
    taken_at DOUBLE PRECISION NOT NULL,
    system_identifier TEXT,
    server_version TEXT,
    version_num BIGINT,
    postmaster_start DOUBLE PRECISION,
    datname TEXT,
    dbid BIGINT,
    pgss_version TEXT,
    pgss_dealloc BIGINT,
    pgss_stats_reset DOUBLE PRECISION,
    n_statements BIGINT NOT NULL DEFAULT 0,
    n_hidden BIGINT NOT NULL DEFAULT 0,
    n_changed BIGINT NOT NULL DEFAULT 0,
    n_evicted BIGINT NOT NULL DEFAULT 0,
    dealloc_delta BIGINT NOT NULL DEFAULT 0,
    reset_reason TEXT,
    intervals BIGINT NOT NULL DEFAULT 1,
    duration_ms DOUBLE PRECISION,
    UNIQUE (server_id, seq)
);
CREATE TABLE texts (
    hash TEXT PRIMARY KEY,
    query TEXT NOT NULL
);
CREATE TABLE statements (
    id BIGSERIAL PRIMARY KEY,
    server_id BIGINT NOT NULL REFERENCES servers(id),
    queryid TEXT NOT NULL,
    userid BIGINT NOT NULL,
    dbid BIGINT NOT NULL,
    toplevel BIGINT NOT NULL,
    text_hash TEXT NOT NULL,
    own BIGINT NOT NULL DEFAULT 0,
    UNIQUE (server_id, queryid, userid, dbid, toplevel)
);
CREATE TABLE stat_last (
    statement_id BIGINT PRIMARY KEY,
    server_id BIGINT NOT NULL,
    calls BIGINT NOT NULL DEFAULT 0,
    total_exec_time DOUBLE PRECISION NOT NULL DEFAULT 0,
    total_plan_time DOUBLE PRECISION NOT NULL DEFAULT 0,
    plans BIGINT NOT NULL DEFAULT 0,
    rows BIGINT NOT NULL DEFAULT 0,
    shared_blks_hit BIGINT NOT NULL DEFAULT 0,
    shared_blks_read BIGINT NOT NULL DEFAULT 0,
    shared_blks_dirtied BIGINT NOT NULL DEFAULT 0,
    shared_blks_written BIGINT NOT NULL DEFAULT 0,
    local_blks_hit BIGINT NOT NULL DEFAULT 0,
    local_blks_read BIGINT NOT NULL DEFAULT 0,
    temp_blks_read BIGINT NOT NULL DEFAULT 0,
    temp_blks_written BIGINT NOT NULL DEFAULT 0,
    blk_read_time DOUBLE PRECISION NOT NULL DEFAULT 0,
    blk_write_time DOUBLE PRECISION NOT NULL DEFAULT 0,
    wal_records BIGINT NOT NULL DEFAULT 0,
    wal_bytes BIGINT NOT NULL DEFAULT 0,
    t_calls BIGINT NOT NULL DEFAULT 0,
    t_total_exec_time DOUBLE PRECISION NOT NULL DEFAULT 0,
    t_total_plan_time DOUBLE PRECISION NOT NULL DEFAULT 0,
    t_plans BIGINT NOT NULL DEFAULT 0,
    t_rows BIGINT NOT NULL DEFAULT 0,
    t_shared_blks_hit BIGINT NOT NULL DEFAULT 0,
    t_shared_blks_read BIGINT NOT NULL DEFAULT 0,
    t_shared_blks_dirtied BIGINT NOT NULL DEFAULT 0,
    t_shared_blks_written BIGINT NOT NULL DEFAULT 0,
    t_local_blks_hit BIGINT NOT NULL DEFAULT 0,
    t_local_blks_read BIGINT NOT NULL DEFAULT 0,
    t_temp_blks_read BIGINT NOT NULL DEFAULT 0,
    t_temp_blks_written BIGINT NOT NULL DEFAULT 0,
    t_blk_read_time DOUBLE PRECISION NOT NULL DEFAULT 0,
    t_blk_write_time DOUBLE PRECISION NOT NULL DEFAULT 0,
    t_wal_records BIGINT NOT NULL DEFAULT 0,
    t_wal_bytes BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE stat_totals (
    server_id BIGINT NOT NULL,
    statement_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    t_calls BIGINT NOT NULL DEFAULT 0,
    t_total_exec_time DOUBLE PRECISION NOT NULL DEFAULT 0,
    t_total_plan_time DOUBLE PRECISION NOT NULL DEFAULT 0,
    t_plans BIGINT NOT NULL DEFAULT 0,
    t_rows BIGINT NOT NULL DEFAULT 0,
    t_shared_blks_hit BIGINT NOT NULL DEFAULT 0,
    t_shared_blks_read BIGINT NOT NULL DEFAULT 0,
    t_shared_blks_dirtied BIGINT NOT NULL DEFAULT 0,
    t_shared_blks_written BIGINT NOT NULL DEFAULT 0,
    t_local_blks_hit BIGINT NOT NULL DEFAULT 0,
    t_local_blks_read BIGINT NOT NULL DEFAULT 0,
    t_temp_blks_read BIGINT NOT NULL DEFAULT 0,
    t_temp_blks_written BIGINT NOT NULL DEFAULT 0,
    t_blk_read_time DOUBLE PRECISION NOT NULL DEFAULT 0,
    t_blk_write_time DOUBLE PRECISION NOT NULL DEFAULT 0,
    t_wal_records BIGINT NOT NULL DEFAULT 0,
    t_wal_bytes BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (server_id, statement_id, seq)
);
CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    data BYTEA NOT NULL
);
CREATE TABLE snapshot_parts (
    snapshot_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, kind)
);
CREATE TABLE plans (
    statement_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    plan_hash TEXT NOT NULL,
    total_cost DOUBLE PRECISION,
    PRIMARY KEY (statement_id, seq)
);
"""

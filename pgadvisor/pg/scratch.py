"""The scratch place (`--scratch-dsn`, `--scratch-schema`): where pgadvisor may build copies of samples.

The partition advisor (and later other advisors) builds real tables from samples of the monitored
table there; the monitored database is only read (a read-only transaction, `COPY (SELECT …) TO
STDOUT`). The scratch place is a database the user names, optionally with a dedicated schema in it:

    with open_scratch(dsn, target_conn, schema=None) as scratch:
        base = scratch.copy_sample(target_conn, ("public", "events"), fraction=0.1)
        scratch.execute(sql.SQL("ANALYZE {}").format(base.ident))
        plan = scratch.explain(text, code)

`open_scratch` checks, each failure one line: the place is reachable (ConnectError), not read-only
(a standby or `default_transaction_read_only`), the role may create tables in the schema, and it is
not the monitored database itself unless a dedicated scratch schema is given (system identifier,
database oid and name compared). Every table pgadvisor makes there is named `pgadv_…` and dropped
by `Scratch.drop_all()` (called when the `with` block ends).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from pgadvisor.errors import CannotRun, UsageError, one_line
from pgadvisor.marker import mark
from pgadvisor.pg import catalog
from pgadvisor.pg.connect import connect, describe

# building copies (INSERT … SELECT, CREATE INDEX, ANALYZE of a 10% sample of a large table) takes longer
# than a catalog read: the scratch session's statement timeout (chosen by hand; the 3M-row bench's
# largest step takes ~10 s on 2 shared cores, docs/benchmarks.md)
SCRATCH_STATEMENT_TIMEOUT_MS = 600_000
# the target's COPY of a sample reads the whole table (BERNOULLI); same bound as the scratch side
SAMPLE_READ_TIMEOUT_MS = 600_000
PREFIX = "pgadv_"
# the largest sample pgadvisor copies (issue 14: "a sample of the table, ≤ 10%")
MAX_SAMPLE_FRACTION = 0.10
_SAFE_NAME = re.compile(r"[^a-z0-9_]+")


@dataclass(frozen=True)
class Copy:
    """A table pgadvisor made in the scratch place."""

    schema: str
    name: str
    columns: tuple[str, ...]

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class Scratch:
    """An open scratch place: a writable connection and the schema pgadvisor's copies go to."""

    conn: psycopg.Connection
    schema: str
    dsn: str
    made: list[str] = field(default_factory=list)

    def execute(self, query: sql.Composable, params: Any = None) -> list[tuple]:
        """Run one statement pgadvisor composed (never a text from a server), autocommitted."""
        text = query.as_string(self.conn) if not isinstance(query, str) else query
        with self.conn.cursor() as cur:
            cur.execute(mark(text), params)
            return cur.fetchall() if cur.description else []

    def name(self, *parts: str) -> str:
        """A fresh table name of ours: `pgadv_` + the parts, lowered and cut to PostgreSQL's 63 bytes."""
        raw = PREFIX + "_".join(_SAFE_NAME.sub("_", p.lower()) for p in parts if p)
        return raw[:63]

    def create_like(self, name: str, columns: Sequence[tuple[str, str]], partition_by: sql.Composable | None = None
                    ) -> Copy:
        """CREATE TABLE schema.name (columns…) [PARTITION BY …]; `columns` are (name, type) pairs whose
        types come from `table_columns` (built-in types only). Replaces a table of ours of that name."""
        self.drop(name)
        cols = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in columns)
        query = sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(self.schema, name), cols)
        if partition_by is not None:
            query = sql.SQL("{} PARTITION BY {}").format(query, partition_by)
        self.execute(query)
        self.made.append(name)
        return Copy(self.schema, name, tuple(c for c, _ in columns))

    def copy_sample(self, target: psycopg.Connection, table: tuple[str, str], fraction: float,
                    seed: int = 14, name: str | None = None) -> Copy:
        """A copy of a BERNOULLI sample (`fraction` ≤ 10%, REPEATABLE `seed`: the same rows for the same
        table) of `table` on the target, read in a read-only transaction with COPY … TO STDOUT and
        written into a new table of ours (unpartitioned). Column types other than built-in ones are
        copied as text."""
        fraction = min(max(fraction, 0.0), MAX_SAMPLE_FRACTION)
        columns = table_columns(target, table)
        if not columns:
            raise CannotRun(f"table {table[0]}.{table[1]} has no columns pgadvisor can read")
        copy = self.create_like(name or self.name(table[1], "sample"), columns)
        cols = sql.SQL(", ").join(sql.Identifier(c) for c, _ in columns)
        read = sql.SQL("COPY (SELECT {} FROM {} TABLESAMPLE BERNOULLI ({}) REPEATABLE ({})) TO STDOUT").format(
            cols, sql.Identifier(*table), sql.Literal(round(fraction * 100, 6)), sql.Literal(int(seed)))
        write = sql.SQL("COPY {} ({}) FROM STDIN").format(copy.ident, cols)
        target.execute(mark(f"SET statement_timeout = {SAMPLE_READ_TIMEOUT_MS}"))
        target.execute(mark("BEGIN READ ONLY"))
        try:
            with target.cursor() as tcur, self.conn.cursor() as scur:
                with tcur.copy(mark(read.as_string(target))) as src, scur.copy(mark(write.as_string(self.conn))) as dst:
                    for block in src:
                        dst.write(block)
        finally:
            if not target.closed and target.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                target.execute(mark("ROLLBACK"))
            target.execute(mark("RESET statement_timeout"))
        return copy

    def drop(self, name: str) -> None:
        """Drop a table of ours (`pgadv_…` only) if it exists."""
        if not name.startswith(PREFIX):
            raise ValueError(f"pgadvisor drops only its own tables (pgadv_…), not {name!r}")
        self.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(self.schema, name)))
        if name in self.made:
            self.made.remove(name)

    def drop_all(self) -> None:
        """Drop every table this Scratch made."""
        for name in list(reversed(self.made)):
            self.drop(name)


def table_columns(conn: psycopg.Connection, table: tuple[str, str]) -> list[tuple[str, str]]:
    """(name, type) of a table's columns, in order; a type outside pg_catalog (an enum, a domain, a
    composite of the application) becomes text, so no type text of another role is ever sent."""
    rows = catalog.q(conn, """
        SELECT a.attname AS name,
               CASE WHEN t.typnamespace = 'pg_catalog'::regnamespace THEN format_type(a.atttypid, a.atttypmod)
                    ELSE 'text' END AS type
          FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                              WHERE n.nspname = %s AND c.relname = %s)
           AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum""", table)
    return [(r["name"], r["type"]) for r in rows]


def _identity(conn: psycopg.Connection) -> dict[str, Any]:
    info = catalog.server_info(conn)
    start = catalog.q(conn, "SELECT pg_postmaster_start_time()::text AS s, inet_server_port() AS port")[0]
    return {"system_identifier": info.get("system_identifier"), "dbid": info["dbid"], "datname": info["datname"],
            "started": start["s"], "port": start["port"], "read_only": info["in_recovery"]}


def same_database(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two `_identity` readings are one database: same cluster (system identifier, else start
    time and port when the role may not read pg_control_system) and the same oid and name."""
    if a["system_identifier"] and b["system_identifier"]:
        cluster = a["system_identifier"] == b["system_identifier"]
        if cluster and a["started"] != b["started"]:
            cluster = a["port"] == b["port"]  # a physical replica shares the identifier: another server
    else:
        cluster = (a["started"], a["port"]) == (b["started"], b["port"])
    return cluster and a["dbid"] == b["dbid"] and a["datname"] == b["datname"]


@contextmanager
def open_scratch(dsn: str | None, target: psycopg.Connection, schema: str | None = None) -> Iterator[Scratch]:
    """Open and check the scratch place (see the module's docstring); drops its copies at the end.

    UsageError when no DSN is given, or it is the target database without `schema`; ConnectError when
    it cannot be reached; CannotRun when it is read-only or the role cannot create tables in the schema.
    """
    if not dsn:
        raise UsageError("no scratch place: give --scratch-dsn (a database where pgadvisor may create tables)")
    where = describe(dsn)
    with connect(dsn, read_only=False, statement_timeout_ms=SCRATCH_STATEMENT_TIMEOUT_MS) as conn:
        mine, theirs = _identity(conn), _identity(target)
        if same_database(mine, theirs) and not schema:
            raise UsageError(f"--scratch-dsn {where} is the database being advised on: give a dedicated "
                             "--scratch-schema, or another database")
        if mine["read_only"]:
            raise CannotRun(f"scratch place {where} is a hot standby (read-only): give a writable database")
        if catalog.q(conn, "SELECT current_setting('default_transaction_read_only') AS ro")[0]["ro"] == "on":
            raise CannotRun(f"scratch place {where} is read-only (default_transaction_read_only is on)")
        place = schema or catalog.q(conn, "SELECT current_schema() AS s")[0]["s"]
        if not place:
            raise UsageError(f"scratch place {where}: no schema on its search_path; give --scratch-schema")
        if schema:
            _ensure_schema(conn, schema, where, same_database(mine, theirs))
        _check_writable(conn, place, where)
        scratch = Scratch(conn, place, dsn)
        try:
            yield scratch
        finally:
            if not conn.closed:
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.execute(mark("ROLLBACK"))
                scratch.drop_all()


def _ensure_schema(conn: psycopg.Connection, schema: str, where: str, in_target: bool) -> None:
    """The named scratch schema exists (created if the role may) and, in the target database, holds no
    table but pgadvisor's own: the application's schema is never a scratch place."""
    exists = catalog.q(conn, "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
    if not exists:
        try:
            conn.execute(mark(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)).as_string(conn)))
        except psycopg.Error as exc:
            raise CannotRun(f"scratch schema {schema!r} does not exist in {where} and cannot be created: "
                            f"{one_line(exc)}") from None
        return
    if in_target:
        theirs = catalog.q(conn, """
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.relname NOT LIKE 'pgadv\\_%%'
             LIMIT 1""", (schema,))
        if theirs:
            raise UsageError(f"--scratch-schema {schema!r} holds the application's table {theirs[0]['relname']!r}: "
                             "give a schema of its own for pgadvisor's copies")


def _check_writable(conn: psycopg.Connection, schema: str, where: str) -> None:
    """CannotRun unless the role can create a table in `schema` (tried in a rolled-back transaction)."""
    probe = sql.SQL("CREATE TABLE {} (x int)").format(sql.Identifier(schema, PREFIX + "probe"))
    try:
        conn.execute(mark("BEGIN"))
        conn.execute(mark(probe.as_string(conn)))
    except psycopg.Error as exc:
        raise CannotRun(f"cannot create tables in scratch schema {schema!r} of {where}: {one_line(exc)}",
                        hint=f"GRANT CREATE ON SCHEMA {schema} TO <role>, or name another --scratch-schema") from None
    finally:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.execute(mark("ROLLBACK"))

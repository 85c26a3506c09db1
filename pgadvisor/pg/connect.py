"""Connection policy for a user's server (DESIGN §5): read-only, timeouts, marked, no password leaks."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from pgadvisor.errors import ConnectError, UsageError, one_line

# Safety limits of DESIGN §5. Their values are pgadvisor's policy, not measurements: no catalog read or
# EXPLAIN of ours should run for half a minute; a lock we wait for more than a second is the
# application's (collect skips a locked relation, see catalog.read_schema); libpq has no connect
# timeout of its own; and a session of ours left idle in a transaction (a hung client) is ended by the
# server after a minute, so it cannot hold a snapshot back for long.
DEFAULT_STATEMENT_TIMEOUT_MS = 30_000
DEFAULT_LOCK_TIMEOUT_MS = 1_000
DEFAULT_CONNECT_TIMEOUT_S = 10
IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000


def parse_dsn(dsn: str) -> dict[str, str]:
    """libpq DSN (key=value or URI) → dict; empty string means libpq defaults / PG* variables."""
    try:
        return psycopg.conninfo.conninfo_to_dict(dsn or "")
    except psycopg.ProgrammingError as exc:
        raise UsageError(f"invalid --dsn: {scrub(str(exc), dsn)}") from None


def safe_dsn(dsn: str) -> str:
    """The DSN without its password, for display and for the store."""
    params = parse_dsn(dsn)
    params.pop("password", None)
    return psycopg.conninfo.make_conninfo(**params)


def scrub(message: str, dsn: str | None = None) -> str:
    """Remove any password (from the DSN or a URI) from a message."""
    if dsn:
        try:
            pw = psycopg.conninfo.conninfo_to_dict(dsn).get("password")
        except psycopg.Error:
            pw = None
            m = re.search(r"password=(\S+)|://[^:/@]*:([^@]*)@", dsn)
            if m:
                pw = m.group(1) or m.group(2)
        if pw:
            message = message.replace(pw, "***")
    message = re.sub(r"(password\s*=\s*)\S+", r"\1***", message)
    return re.sub(r"(postgres(?:ql)?://[^:/@\s]*):[^@\s]*@", r"\1:***@", message)


@contextmanager
def connect(
    dsn: str,
    *,
    read_only: bool = True,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
    connect_timeout_s: int = DEFAULT_CONNECT_TIMEOUT_S,
) -> Iterator[psycopg.Connection]:
    """Open a connection with pgadvisor's safety settings; the transaction is read-only by default."""
    params = parse_dsn(dsn)
    params.setdefault("connect_timeout", str(connect_timeout_s))
    params["application_name"] = "pgadvisor"
    opts = [
        params.get("options", ""),
        f"-c statement_timeout={int(statement_timeout_ms)}",
        f"-c lock_timeout={int(lock_timeout_ms)}",
        f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_MS}",
    ]
    if read_only:
        opts.append("-c default_transaction_read_only=on")
    params["options"] = " ".join(o for o in opts if o)
    try:
        # autocommit: no unmarked BEGIN from psycopg; callers open marked transactions (catalog.py)
        conn = psycopg.connect(**params, autocommit=True)
    except psycopg.Error as exc:
        raise ConnectError(f"cannot connect to {describe(dsn)}: {scrub(one_line(exc), dsn)}") from None
    try:
        yield conn
    finally:
        conn.close()


def describe(dsn: str) -> str:
    """host:port/dbname for messages and as the default server name (never the password)."""
    try:
        p = psycopg.conninfo.conninfo_to_dict(dsn or "")
    except psycopg.Error:
        return "server"
    host = p.get("host") or os.environ.get("PGHOST") or "localhost"
    port = p.get("port") or os.environ.get("PGPORT") or "5432"
    db = p.get("dbname") or os.environ.get("PGDATABASE") or p.get("user") or os.environ.get("PGUSER") or ""
    return f"{host}:{port}/{db}"

"""The store's database: a SQLite file (WAL, owner-only) or a PostgreSQL repository database.

`Backend` is one open connection with its write lock; everything above it writes SQL with `?`
placeholders that run unchanged on both dialects. Opening checks the file or database is ours (or
empty) before anything is written to it; a damaged SQLite file becomes one line naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pgadvisor.errors import StoreError, one_line

# pg_advisory_xact_lock key that serialises pgadvisor's writers to one PostgreSQL store. Advisory lock keys
# are per database, so the value only has to differ from the keys another application takes in the store's
# database: it is arbitrary, and fixed, since two pgadvisor versions writing one store must take the same lock.
WRITE_LOCK_KEY = 7395013

# How long a writer waits for another's transaction: a choice, well above the writes measured (saving a
# snapshot of 5,000 statements 0.4-0.5 s, a first collect into an empty store ~4 s: docs/benchmarks.md,
# "Foundation"), so a queue of collects from a fleet's cron waits instead of failing.
BUSY_TIMEOUT_S = 60

# Switching a new file to WAL is not covered by the busy timeout (SQLite answers "database is locked" at
# once when two first collects race): retried for up to 100 x 50 ms = 5 s, longer than a first collect.
WAL_SWITCH_ATTEMPTS = 100
WAL_SWITCH_PAUSE_S = 0.05

# libpq's connect_timeout for a PostgreSQL store, in seconds (a choice: a fleet's central store is near)
PG_CONNECT_TIMEOUT_S = 10

# Longest `IN (?, ?, ...)` list per statement: SQLite before 3.32 allows 999 bound parameters
# (SQLITE_MAX_VARIABLE_NUMBER), and a statement binds a few besides the list.
MAX_IN_LIST = 500

# zlib's own default level (Z_DEFAULT_COMPRESSION is level 6)
BLOB_COMPRESSION_LEVEL = 6

OWNER_ONLY_FILE = 0o600  # the store holds statement texts and bind values (docs/security.md)
OWNER_ONLY_DIR = 0o700
GROUP_OR_OTHER = 0o077


def default_store_path() -> str:
    """$PGADVISOR_STORE or the platform data dir (e.g. ~/.local/share/pgadvisor/store.sqlite)."""
    env = os.environ.get("PGADVISOR_STORE")
    if env:
        return env
    from platformdirs import user_data_dir

    return str(Path(user_data_dir("pgadvisor")) / "store.sqlite")


def text_hash(text: str) -> str:
    """The key of a statement text in `texts`."""
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def pack(obj: Any) -> tuple[str, bytes]:
    """(content hash, compressed JSON) of a part stored in `blobs`."""
    raw = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha1(raw).hexdigest(), zlib.compress(raw, BLOB_COMPRESSION_LEVEL)


def unpack(data: bytes) -> Any:
    return json.loads(zlib.decompress(bytes(data)))


def put_blob(db: Backend, obj: Any) -> str:
    """Store `obj` once by its content hash; the hash."""
    h, data = pack(obj)
    db.execute("INSERT INTO blobs (hash, data) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING", (h, data))
    return h


def chunks(items: list, size: int = MAX_IN_LIST) -> Iterator[tuple[list, str]]:
    """`items` in slices short enough for one IN list, each with its `?, ?, ...` placeholders."""
    for i in range(0, len(items), size):
        chunk = items[i : i + size]
        yield chunk, ", ".join("?" * len(chunk))


class Backend:
    """One open store database; SQL is written with `?` placeholders for both dialects."""

    def __init__(self, conn: Any, dialect: str, location: str, read_only: bool = False):
        self.conn = conn
        self.dialect = dialect
        self.location = location
        self.read_only = read_only
        self._lock = threading.Lock()

    def _sql(self, sql: str) -> str:
        return sql if self.dialect == "sqlite" else sql.replace("?", "%s")

    def execute(self, sql: str, params: Any = ()) -> Any:
        if self.dialect == "postgres" and not params:
            return self.conn.execute(sql)  # no placeholders to fill: '%' in literals stays literal
        try:
            return self.conn.execute(self._sql(sql), params)
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None

    def executemany(self, sql: str, rows: list) -> None:
        if not rows:
            return
        if self.dialect == "sqlite":
            try:
                self.conn.executemany(sql, rows)
            except sqlite3.DatabaseError as exc:
                raise self._corrupt(exc) from None
        else:
            with self.conn.cursor() as cur:
                cur.executemany(self._sql(sql), rows)

    def query(self, sql: str, params: Any = ()) -> list[tuple]:
        try:
            return list(self.execute(sql, params).fetchall())
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None

    def _corrupt(self, exc: sqlite3.DatabaseError) -> BaseException:
        """A damaged SQLite file (SQLITE_CORRUPT/NOTADB are plain DatabaseErrors) becomes one line naming
        the file; any other error (locked, constraint, …) stays what it is."""
        if type(exc) is not sqlite3.DatabaseError:
            return exc
        return StoreError(f"store {self.location} is damaged: {one_line(exc)}",
                          hint="pgadvisor left it as it is; restore it from a backup, or point --store at a new file")

    @contextmanager
    def write(self) -> Iterator[Backend]:
        """One write transaction (serialised between processes: SQLite BEGIN IMMEDIATE / PG advisory lock)."""
        if self.read_only:
            raise StoreError(f"store {self.location} is opened read-only")
        with self._lock:
            try:
                if self.dialect == "sqlite":
                    self.conn.execute("BEGIN IMMEDIATE")
                else:
                    self.conn.execute("BEGIN")
                    self.conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
                yield self
                self.conn.execute("COMMIT")
            except BaseException as exc:
                try:
                    self.conn.execute("ROLLBACK")
                except Exception:  # noqa: BLE001 - the original error matters more
                    pass
                if isinstance(exc, sqlite3.DatabaseError):
                    damaged = self._corrupt(exc)
                    if damaged is not exc:
                        raise damaged from None
                raise

    def schema_version(self) -> int:
        """The newest migration applied to this store (0: an empty store)."""
        try:
            rows = self.query("SELECT max(version) FROM schema_migrations")
        except StoreError:
            raise  # a damaged file
        except Exception:  # noqa: BLE001 - no table yet means an empty store
            if self.dialect == "postgres":
                self.conn.rollback()
            return 0
        return int(rows[0][0] or 0)

    def other_tables(self) -> list[str]:
        """Tables and views besides the migrations record (another application's, in a store without ours)."""
        if self.dialect == "sqlite":
            rows = self.query("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                              "AND name NOT LIKE 'sqlite_%' ORDER BY name")
        else:
            rows = self.query("SELECT table_name FROM information_schema.tables "
                              "WHERE table_schema = current_schema() ORDER BY table_name")
        return [r[0] for r in rows if r[0] != "schema_migrations"]

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001
            pass

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_postgres_location(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://")) or "dbname=" in location


B = TypeVar("B", bound="Backend")


def connect(location: str, read_only: bool, cls: type[B]) -> B:
    """The store at a path or postgresql:// URL as a `cls`, opened without any migration check."""
    if is_postgres_location(location):
        return _open_postgres(location, read_only, cls)
    return _open_sqlite(location, read_only, cls)


OTHER_TABLES_NAMED = 3  # in the one-line refusal of another application's database


def not_ours(location: str, tables: list[str]) -> str:
    named = ", ".join(tables[:OTHER_TABLES_NAMED]) + (", …" if len(tables) > OTHER_TABLES_NAMED else "")
    return (f"{location} is not a pgadvisor store: it holds other tables ({named}) and no pgadvisor schema; "
            "it was left unchanged")


def _open_sqlite(path: str, read_only: bool, cls: type[B]) -> B:
    p = Path(path).expanduser()
    if read_only:
        if not p.exists():
            raise StoreError(f"no store at {p}", hint="run `pgadvisor collect` first, or pass --store")
    else:
        _create_private_file(p)
    try:
        uri = f"file:{p}?mode=ro" if read_only else f"file:{p}"
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                                            "AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()]
        if names and "schema_migrations" not in names and not read_only:
            conn.close()  # before switching it to WAL, which would change its header
            raise StoreError(not_ours(str(p), names), hint="point --store at a new file (or an empty database)")
        if not read_only:
            _use_wal(conn)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"store {p} is not a readable pgadvisor store ({one_line(exc)})",
            hint="it was left untouched; point --store at another file",
        ) from None
    return cls(conn, "sqlite", str(p), read_only)


def _create_private_file(p: Path) -> None:
    """The store file and its missing directories, owner-only whatever the umask; a writable check first."""
    try:
        _private_dirs(p.parent)
    except OSError as exc:
        raise StoreError(f"cannot create the store directory {p.parent}: {exc.strerror}") from None
    if not os.access(p.parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise StoreError(f"store {p} is not writable", hint="choose another --store or fix the permissions")
    try:
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY_FILE))
        os.chmod(p, OWNER_ONLY_FILE)  # whatever the umask; SQLite gives -wal/-shm the database file's mode
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot create the store {p}: {exc.strerror}") from None


def _use_wal(conn: sqlite3.Connection) -> None:
    for attempt in range(WAL_SWITCH_ATTEMPTS):
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == WAL_SWITCH_ATTEMPTS - 1:
                raise
            time.sleep(WAL_SWITCH_PAUSE_S)
    if mode.lower() != "wal":
        conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA synchronous = NORMAL")


def _private_dirs(path: Path) -> None:
    """Create `path` and its missing parents owner-only; existing directories are left as they are."""
    missing = []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=OWNER_ONLY_DIR)
        except FileExistsError:
            continue
        os.chmod(d, OWNER_ONLY_DIR)


def store_permission_problems(location: str) -> list[str]:
    """The store's files (and pgadvisor's data directory) that group or others may read or write."""
    if is_postgres_location(location):
        return []
    p = Path(location).expanduser()
    out = []
    for f in (p, Path(f"{p}-wal"), Path(f"{p}-shm")):
        if f.exists() and f.stat().st_mode & GROUP_OR_OTHER:
            out.append(str(f))
    return out


def _open_postgres(url: str, read_only: bool, cls: type[B]) -> B:
    import psycopg

    from pgadvisor.pg.connect import describe, scrub

    try:
        conn = psycopg.connect(url, autocommit=True, application_name="pgadvisor-store",
                               connect_timeout=PG_CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise StoreError(f"cannot open store {describe(url)}: {scrub(one_line(exc), url)}") from None
    return cls(conn, "postgres", describe(url), read_only)


"""The e-commerce demo / benchmark fixture: load its data, parse and run its workload mix.

The fixture is package data, ``pgadvisor/data/ecommerce/`` (schema.sql, data.sql, workload.toml), read
through importlib.resources so that an installed wheel has it too. This module
is a library (no CLI): ``pgadvisor demo`` and the benchmarks call

* :func:`load_ecommerce` - schema (primary keys only) + deterministic data at a scale factor;
* :func:`load_workload_spec` - the statement mix of workload.toml (the parameter language is
  documented at the top of that file);
* :func:`run_workload` - the mix on a few connections, so that pg_stat_statements fills up with
  ``$n`` texts;
* :func:`measure_workload` - fixed parameters, warm median timings per statement and a weighted
  total, to show what indexes buy.

Statements are sent with server-side binding through psycopg's ``RawCursor`` (the ``$n`` text goes
to the server as written) and every parameter as text of unknown type, so PostgreSQL infers one
type per placeholder and pg_stat_statements keeps one entry per statement.

This module sends SQL itself, outside pg/: to the demo's own throwaway cluster (pg/local.py) or a
benchmark's database, which it creates and fills; never to a server pgadvisor monitors. Its own
statements carry the marker (`marker.mark`), so analyses skip them.
"""

from __future__ import annotations

import importlib.resources
import json
import random
import re
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from pgadvisor.config import TOMLDecodeError, parse_toml
from pgadvisor.errors import ConnectError, PgAdvisorError, UsageError, one_line
from pgadvisor.marker import mark  # on the loader's own statements, so that analyses skip them
from pgadvisor.pg.guard import words

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

Progress = Callable[[str, float], None]

TABLES = ("users", "products", "orders", "order_items", "cart_items")
APPLICATION_NAME = "pgadvisor-demo-workload"
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "proton.me", "example.com")
_ADDRESS_COUNTRIES = ("US",) * 6 + ("GB", "GB", "DE", "DE", "FR", "IN", "CA", "BR", "AU", "JP", "NL", "SE")
_ADDRESS_CITIES = ("Springfield", "Riverside", "Fairview", "Franklin", "Bristol", "Salem", "Oxford", "Dover")
_ADDRESS_STREETS = ("Main St", "Oak Ave", "Pine Rd", "Maple Dr", "Cedar Ln", "Elm St")

# rough share of the load time per step, for the progress bar only (estimates from when the fixture was
# written; a step not listed counts _OTHER_STEP_WEIGHT)
_LOAD_STEP_WEIGHTS = {
    "tables": 0.01, "setup": 0.01, "products": 0.10, "users": 0.05, "orders": 0.32,
    "order_items": 0.32, "cart_items": 0.08, "sequences": 0.01, "constraints": 0.07, "analyze": 0.03,
}
_OTHER_STEP_WEIGHT = 0.05
DEFAULT_CALLS = 1000  # run_workload's budget when given neither seconds nor calls
_PROGRESS_EVERY_S = 0.5  # how often run_workload reports progress
_STEP_RE = re.compile(r"^--\s*step:\s*(\w+)\s*$", re.MULTILINE)
_PLACEHOLDER_RE = re.compile(r"\$(\d+)")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_IDENT_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
# a statement with one of these words (outside strings and comments) writes, also in a WITH: measured
# inside a transaction that is rolled back
_WRITE_WORDS = frozenset({"insert", "update", "delete", "merge"})


# where the fixture lives inside the package (package data: pyproject's [tool.setuptools.package-data])
FIXTURE_PACKAGE = "pgadvisor"
FIXTURE_DIR = "data/ecommerce"


def fixtures_dir() -> Traversable:
    """The e-commerce fixture's directory inside the installed package (``pgadvisor/data/ecommerce``)."""
    path = importlib.resources.files(FIXTURE_PACKAGE).joinpath(FIXTURE_DIR)
    if not path.joinpath("schema.sql").is_file():
        raise PgAdvisorError(
            f"the e-commerce fixture is missing: {path}/schema.sql not found",
            hint="reinstall pgadvisor (pip install --force-reinstall pgadvisor): its package data is incomplete",
        )
    return path


def _read_fixture(name: str) -> str:
    path = fixtures_dir().joinpath(name)
    if not path.is_file():
        raise PgAdvisorError(f"the e-commerce fixture is incomplete: {path} not found")
    return path.read_text(encoding="utf-8")


def split_statements(text: str) -> list[str]:
    """Split fixture SQL into statements: a statement ends with a line whose code ends in ``;``.

    (A convention of the fixture files: no ``;`` at a line end and no ``--`` inside strings.)
    """
    statements, current = [], []
    for line in text.splitlines():
        current.append(line)
        if line.split("--", 1)[0].rstrip().endswith(";"):
            statements.append("\n".join(current).strip())
            current = []
    rest = "\n".join(current).strip()
    if rest and any(ln.strip() and not ln.strip().startswith("--") for ln in current):
        statements.append(rest)
    return statements


def split_steps(text: str) -> list[tuple[str, str]]:
    """Split a fixture SQL file at its ``-- step: NAME`` lines into (name, sql) pairs."""
    marks = list(_STEP_RE.finditer(text))
    return [
        (m.group(1), text[m.end(): marks[i + 1].start() if i + 1 < len(marks) else len(text)].strip())
        for i, m in enumerate(marks)
    ]


# --------------------------------------------------------------------------- loading


def load_ecommerce(dsn: str, scale: float = 1.0, progress: Progress | None = None, *,
                   replace: bool = False) -> dict[str, Any]:
    """Create the e-commerce schema and its data in the database of `dsn`, then VACUUM ANALYZE.

    `scale` 1.0 makes ~200k products, 100k users, 500k orders, 1.5M order items and 200k cart
    items (about 30 s on two cores). Existing fixture tables are an error unless `replace`.
    Returns ``{"scale", "seconds", "steps": {step: seconds}, "rows": {table: count}}``.
    """
    if not 0 < scale <= 100:
        raise UsageError(f"scale must be in (0, 100], got {scale}")
    schema = dict(split_steps(_read_fixture("schema.sql")))
    data = split_steps(_read_fixture("data.sql"))
    if "tables" not in schema or "constraints" not in schema:
        raise PgAdvisorError(f"{FIXTURE_DIR}/schema.sql lacks its 'tables' or 'constraints' step")
    steps: list[tuple[str, str]] = [("tables", schema["tables"]), *data, ("constraints", schema["constraints"])]
    total_weight = (sum(_LOAD_STEP_WEIGHTS.get(name, _OTHER_STEP_WEIGHT) for name, _ in steps)
                    + _LOAD_STEP_WEIGHTS["analyze"])
    timings: dict[str, float] = {}
    done = 0.0
    started = time.perf_counter()
    try:
        conn = psycopg.connect(dsn, autocommit=True, application_name=APPLICATION_NAME)
    except psycopg.Error as exc:
        raise ConnectError(f"cannot connect to load the e-commerce fixture: {exc}") from exc
    with conn:
        try:  # superusers keep the loader out of pg_stat_statements; others rely on the marker
            conn.execute(mark("SET pg_stat_statements.track = 'none'"))
        except psycopg.Error:
            pass
        _clear_tables(conn, replace)
        conn.execute(mark("SELECT set_config('pgadvisor.scale', %s, false)"), [repr(float(scale))])
        for name, text in steps:
            if progress:
                progress(name, done / total_weight)
            t0 = time.perf_counter()
            for statement in split_statements(text):
                try:
                    conn.execute(mark(statement).encode())
                except psycopg.Error as exc:
                    raise PgAdvisorError(f"loading the e-commerce fixture failed in step {name!r}: {exc}") from exc
            timings[name] = round(time.perf_counter() - t0, 3)
            done += _LOAD_STEP_WEIGHTS.get(name, _OTHER_STEP_WEIGHT)
        if progress:
            progress("analyze", done / total_weight)
        t0 = time.perf_counter()
        conn.execute(sql.SQL(mark("VACUUM (ANALYZE) {}")).format(
            sql.SQL(", ").join(sql.Identifier(t) for t in TABLES)))
        timings["analyze"] = round(time.perf_counter() - t0, 3)
        rows = {
            t: conn.execute(sql.SQL(mark("SELECT count(*) FROM {}")).format(sql.Identifier(t))).fetchone()[0]
            for t in TABLES
        }
    if progress:
        progress("done", 1.0)
    return {"scale": scale, "seconds": round(time.perf_counter() - started, 3), "steps": timings, "rows": rows}


def _clear_tables(conn: psycopg.Connection, replace: bool) -> None:
    """Drop the fixture's tables when `replace`; existing ones are an error otherwise."""
    existing = [t for t in TABLES if conn.execute(mark("SELECT to_regclass(%s)"), [t]).fetchone()[0]]
    if existing and not replace:
        raise PgAdvisorError(
            f"tables already exist in this database: {', '.join(existing)}",
            hint="use an empty database, or replace=True to drop and reload them",
        )
    if existing:
        conn.execute(sql.SQL(mark("DROP TABLE IF EXISTS {} CASCADE")).format(
            sql.SQL(", ").join(sql.Identifier(t) for t in TABLES)))


# --------------------------------------------------------------------------- workload spec


@dataclass
class ParamContext:
    """What generators need besides the random source: the data's time anchor and id ranges."""

    anchor: datetime
    max_ids: dict[str, int] = field(default_factory=dict)

    def max_id(self, table: str) -> int:
        try:
            return max(1, self.max_ids[table])
        except KeyError:
            raise PgAdvisorError(f"no id range known for table {table!r}") from None


@dataclass(frozen=True)
class ParamSpec:
    """One parameter generator, parsed from ``kind:arg:...`` (see workload.toml)."""

    text: str
    kind: str
    args: tuple[Any, ...]

    @property
    def table(self) -> str | None:
        """The table whose id range the generator needs, if any."""
        if self.kind in ("id", "pow", "hot"):
            return self.args[0]
        return "users" if self.kind == "email" else None

    def generate(self, rng: random.Random, ctx: ParamContext) -> str:
        """Draw one value, as the text sent to the server."""
        k, a = self.kind, self.args
        if k == "int":
            return str(rng.randint(a[0], a[1]))
        if k == "num":
            return f"{rng.uniform(a[0], a[1]):.2f}"
        if k == "choice":
            return rng.choices(a[0], weights=a[1], k=1)[0]
        if k == "const":
            return a[0]
        if k == "id":
            return str(rng.randint(1, ctx.max_id(a[0])))
        if k == "pow":
            n = ctx.max_id(a[0])
            return str(min(n, 1 + int(n * rng.random() ** a[1])))
        if k == "hot":
            n = ctx.max_id(a[0])
            hot = max(1, int(n * a[1] + 0.999999))
            return str(rng.randint(1, hot) if rng.random() < a[2] else rng.randint(1, n))
        if k == "email":
            uid = rng.randint(1, ctx.max_id("users"))
            return f"user{uid}@{EMAIL_DOMAINS[uid % len(EMAIL_DOMAINS)]}"
        if k == "ts_ago_days":
            ts = ctx.anchor - timedelta(days=rng.uniform(a[0], a[1]))
            return ts.isoformat(sep=" ", timespec="seconds")
        if k == "address":
            return json.dumps({
                "street": f"{rng.randint(1, 999)} {rng.choice(_ADDRESS_STREETS)}",
                "city": rng.choice(_ADDRESS_CITIES),
                "zip": f"{rng.randint(0, 99999):05d}",
                "country": rng.choice(_ADDRESS_COUNTRIES),
            })
        raise AssertionError(k)  # parse_param_spec admits only the kinds above


def _spec_error(text: str, why: str, where: str = "") -> UsageError:
    return UsageError(f"bad parameter spec {text!r}{where}: {why}",
                      hint="see the parameter language at the top of pgadvisor/data/ecommerce/workload.toml")


def parse_param_spec(text: str, where: str = "") -> ParamSpec:
    """Parse one generator spec such as ``int:1:100`` or ``choice:a,b*3``; raise UsageError if bad.

    One branch per kind of the parameter language, in the order workload.toml documents them: the
    function is long because it is that language's reference, and reads top to bottom as one.
    """
    if not isinstance(text, str) or not text:
        raise _spec_error(str(text), "expected a non-empty string", where)
    kind, _, rest = text.partition(":")
    parts = rest.split(":") if rest else []

    def need(n: int) -> None:
        if len(parts) != n:
            raise _spec_error(text, f"'{kind}' takes {n} argument(s), got {len(parts)}", where)

    def number(s: str, cast: type) -> Any:
        try:
            return cast(s)
        except ValueError:
            raise _spec_error(text, f"{s!r} is not a{'n integer' if cast is int else ' number'}", where) from None

    def table(s: str) -> str:
        if not _IDENT_RE.match(s):
            raise _spec_error(text, f"{s!r} is not a table name", where)
        return s

    if kind in ("int", "num"):
        need(2)
        lo, hi = (number(p, int if kind == "int" else float) for p in parts)
        if lo > hi:
            raise _spec_error(text, "low bound above high bound", where)
        return ParamSpec(text, kind, (lo, hi))
    if kind == "choice":
        if not rest:
            raise _spec_error(text, "'choice' needs at least one value", where)
        values, weights = [], []
        for item in rest.split(","):
            value, star, weight = item.rpartition("*") if "*" in item else (item, "", "1")
            w = number(weight, int)
            if not value or w <= 0:
                raise _spec_error(text, f"bad choice item {item!r}", where)
            values.append(value)
            weights.append(w)
        return ParamSpec(text, kind, (tuple(values), tuple(weights)))
    if kind == "const":
        return ParamSpec(text, kind, (rest,))
    if kind == "id":
        need(1)
        return ParamSpec(text, kind, (table(parts[0]),))
    if kind == "pow":
        need(2)
        exponent = number(parts[1], float)
        if exponent <= 0:
            raise _spec_error(text, "the exponent must be positive", where)
        return ParamSpec(text, kind, (table(parts[0]), exponent))
    if kind == "hot":
        need(3)
        frac, share = number(parts[1], float), number(parts[2], float)
        if not (0 < frac <= 1 and 0 <= share <= 1):
            raise _spec_error(text, "FRAC must be in (0, 1] and SHARE in [0, 1]", where)
        return ParamSpec(text, kind, (table(parts[0]), frac, share))
    if kind in ("email", "address"):
        need(0)
        return ParamSpec(text, kind, ())
    if kind == "ts_ago_days":
        if len(parts) == 1:
            lo, hi = 0.0, number(parts[0], float)
        else:
            need(2)
            lo, hi = (number(p, float) for p in parts)
        if not 0 <= lo <= hi:
            raise _spec_error(text, "expected 0 <= LO <= HI", where)
        return ParamSpec(text, kind, (lo, hi))
    raise _spec_error(text, f"unknown kind {kind!r} (known: int, num, choice, const, id, pow, hot, email, "
                            "ts_ago_days, address)", where)


@dataclass(frozen=True)
class WorkloadEntry:
    """One statement of the mix."""

    name: str
    sql: str
    weight: float
    params: tuple[ParamSpec, ...]
    writes: bool
    about: str = ""

    def make_params(self, rng: random.Random, ctx: ParamContext) -> list[str]:
        """One parameter list for this statement."""
        return [p.generate(rng, ctx) for p in self.params]


@dataclass(frozen=True)
class WorkloadSpec:
    """A parsed workload file: its entries and the timeline anchor of the data."""

    name: str
    anchor: datetime
    entries: tuple[WorkloadEntry, ...]


def _parse_entry(raw: Any, index: int) -> WorkloadEntry:
    if not isinstance(raw, dict):
        raise UsageError(f"workload statement #{index + 1} is not a table")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise UsageError(f"workload statement #{index + 1}: name must match [a-z][a-z0-9_]*, got {name!r}")
    unknown = set(raw) - {"name", "sql", "weight", "params", "writes", "about"}
    if unknown:
        raise UsageError(f"workload statement {name!r}: unknown keys {sorted(unknown)}")
    text = raw.get("sql")
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"workload statement {name!r}: sql must be a non-empty string")
    text = text.strip()
    weight = raw.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
        raise UsageError(f"workload statement {name!r}: weight must be a positive number, got {weight!r}")
    params_raw = raw.get("params", [])
    if not isinstance(params_raw, list):
        raise UsageError(f"workload statement {name!r}: params must be a list of strings")
    params = tuple(parse_param_spec(p, f" in statement {name!r} (${i + 1})")
                   for i, p in enumerate(params_raw))
    used = {int(n) for n in _PLACEHOLDER_RE.findall(text)}
    if used != set(range(1, len(params) + 1)):
        raise UsageError(
            f"workload statement {name!r}: placeholders {sorted(used) or 'none'} do not match "
            f"{len(params)} param spec(s) (expected $1..${len(params)}, each used)")
    writes = raw.get("writes")
    if writes is None:
        writes = any(w in _WRITE_WORDS for w in words(text))
    elif not isinstance(writes, bool):
        raise UsageError(f"workload statement {name!r}: writes must be true or false")
    about = raw.get("about", "")
    return WorkloadEntry(name=name, sql=text, weight=float(weight), params=params, writes=writes,
                         about=str(about))


def parse_workload(text: str, source: str = "<workload>") -> WorkloadSpec:
    """Parse workload TOML text (see :func:`load_workload_spec`)."""
    try:
        doc = parse_toml(text)
    except TOMLDecodeError as exc:
        raise UsageError(f"{source}: not valid TOML: {exc}") from exc
    meta = doc.get("workload", {})
    try:
        anchor = datetime.fromisoformat(str(meta.get("anchor", "2025-01-01T00:00:00")))
    except ValueError as exc:
        raise UsageError(f"{source}: [workload] anchor is not an ISO timestamp: {exc}") from exc
    raw_entries = doc.get("statement")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise UsageError(f"{source}: no [[statement]] entries")
    entries = tuple(_parse_entry(raw, i) for i, raw in enumerate(raw_entries))
    names = [e.name for e in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"{source}: duplicate statement names {dupes}")
    return WorkloadSpec(name=str(meta.get("name", "workload")), anchor=anchor, entries=entries)


def load_workload_file(path: str | Path | Traversable | None = None) -> WorkloadSpec:
    """Parse a workload file (default: the fixture's workload.toml) with its metadata."""
    if path is None:
        path = fixtures_dir().joinpath("workload.toml")
    elif isinstance(path, str):
        path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PgAdvisorError(f"cannot read workload file {path}: {exc}") from exc
    return parse_workload(text, str(path))


def load_workload_spec(path: str | Path | None = None) -> list[WorkloadEntry]:
    """The statements of a workload file (default: the fixture's workload.toml)."""
    return list(load_workload_file(path).entries)


# --------------------------------------------------------------------------- running


def _resolve(entries: Sequence[WorkloadEntry] | None, path: str | Path | None) -> tuple[list[WorkloadEntry], datetime]:
    spec = load_workload_file(path)
    return (list(entries) if entries is not None else list(spec.entries)), spec.anchor


def _context(conn: psycopg.Connection, entries: Sequence[WorkloadEntry], anchor: datetime,
             known: dict[str, int] | None = None) -> ParamContext:
    tables = sorted({p.table for e in entries for p in e.params if p.table})
    max_ids = {t: int(n) for t, n in (known or {}).items() if t in tables}
    for table in (t for t in tables if t not in max_ids):
        query = sql.SQL(mark("SELECT coalesce(max(id), 0) FROM {}")).format(sql.Identifier(table))
        try:
            max_ids[table] = int(conn.execute(query).fetchone()[0])
        except psycopg.Error as exc:
            raise PgAdvisorError(f"cannot read the id range of table {table!r}: {exc}",
                                 hint="load the fixture first (load_ecommerce)") from exc
    return ParamContext(anchor=anchor, max_ids=max_ids)


def _connect(dsn: str) -> psycopg.Connection:
    try:
        # prepare_threshold=None: no named prepared statements, a custom plan per call (like most ORMs)
        return psycopg.connect(dsn, autocommit=True, prepare_threshold=None, application_name=APPLICATION_NAME)
    except psycopg.Error as exc:
        raise ConnectError(f"cannot connect to run the workload: {exc}") from exc


def _raw_cursor(conn: psycopg.Connection) -> psycopg.RawCursor:
    """A cursor taking ``$n`` placeholders as they are (psycopg >= 3.2)."""
    factory = getattr(psycopg, "RawCursor", None)
    if factory is None:  # pragma: no cover - old psycopg
        raise PgAdvisorError(f"running the workload needs psycopg >= 3.2 (found {psycopg.__version__})")
    return factory(conn)


def _execute(cur: psycopg.RawCursor, entry: WorkloadEntry, params: list[str]) -> None:
    cur.execute(entry.sql, params)
    if cur.description is not None:
        cur.fetchall()


@dataclass
class _Tally:
    """What run_workload's clients count, under one lock; `stop` ends them all."""

    calls: dict[str, int]
    errors: dict[str, int]
    samples: dict[str, str] = field(default_factory=dict)  # the first error message per statement
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    fatal: list[BaseException] = field(default_factory=list)

    def count(self, name: str, failed: str | None) -> None:
        with self.lock:
            self.calls[name] += 1
            if failed:
                self.errors[name] += 1
                self.samples.setdefault(name, failed)

    def total(self) -> int:
        with self.lock:
            return sum(self.calls.values())


def run_workload(dsn: str, seconds: float | None = None, total_calls: int | None = None, clients: int = 2,
                 seed: int = 42, progress: Progress | None = None, *,
                 entries: Sequence[WorkloadEntry] | None = None,
                 path: str | Path | None = None,
                 max_ids: dict[str, int] | None = None) -> dict[str, Any]:
    """Run the weighted mix on `clients` connections until `total_calls` or `seconds` is reached.

    Without either limit, DEFAULT_CALLS calls. Each client draws statements and parameters from its own
    random source seeded from `seed`, so the calls made are deterministic for a call budget (id
    ranges are max(id) at the start unless `max_ids` fixes them). A failing statement is counted,
    never fatal. Returns ``{"calls": {name: n}, "errors": {name: n},
    "error_samples": {name: message}, "total_calls", "total_errors", "seconds", "clients", "seed"}``.
    """
    if seconds is None and total_calls is None:
        total_calls = DEFAULT_CALLS
    if clients < 1:
        raise UsageError(f"clients must be at least 1, got {clients}")
    if (seconds is not None and seconds <= 0) or (total_calls is not None and total_calls < 0):
        raise UsageError("seconds must be positive and total_calls non-negative")
    todo, anchor = _resolve(entries, path)
    if not todo:
        raise UsageError("the workload has no statements")
    with _connect(dsn) as conn:
        ctx = _context(conn, todo, anchor, max_ids)
    tally = _Tally(calls={e.name: 0 for e in todo}, errors={e.name: 0 for e in todo})
    budgets = [None] * clients if total_calls is None else [
        total_calls // clients + (1 if i < total_calls % clients else 0) for i in range(clients)]
    started = time.perf_counter()
    deadline = None if seconds is None else started + seconds
    threads = [threading.Thread(target=_client, args=(dsn, todo, ctx, f"{seed}:{i}", b, deadline, tally),
                                name=f"pgadvisor-workload-{i}", daemon=True)
               for i, b in enumerate(budgets)]
    for t in threads:
        t.start()
    _wait(threads, tally, progress, total_calls, seconds, started, deadline)
    if tally.fatal:
        exc = tally.fatal[0]
        if isinstance(exc, PgAdvisorError):
            raise exc
        raise PgAdvisorError(f"workload run failed: {exc}") from exc
    if progress:
        progress("done", 1.0)
    return {
        "calls": tally.calls,
        "errors": tally.errors,
        "error_samples": tally.samples,
        "total_calls": sum(tally.calls.values()),
        "total_errors": sum(tally.errors.values()),
        "seconds": round(time.perf_counter() - started, 3),
        "clients": clients,
        "seed": seed,
    }


def _client(dsn: str, todo: list[WorkloadEntry], ctx: ParamContext, seed: str, budget: int | None,
            deadline: float | None, tally: _Tally) -> None:
    """One client of run_workload: draws and runs statements until its budget, the deadline or `stop`."""
    rng = random.Random(seed)
    weights = [e.weight for e in todo]
    conn: psycopg.Connection | None = None
    done = 0
    try:
        while not tally.stop.is_set() and (budget is None or done < budget):
            if deadline is not None and time.perf_counter() >= deadline:
                break
            entry = rng.choices(todo, weights=weights, k=1)[0]
            params = entry.make_params(rng, ctx)
            if conn is None or conn.closed:
                conn = _connect(dsn)
            try:
                _execute(_raw_cursor(conn), entry, params)
                failed = None
            except psycopg.Error as exc:
                failed = f"{type(exc).__name__}: {one_line(exc, first_line=True)}"
                if conn.broken:
                    conn.close()
            done += 1
            tally.count(entry.name, failed)
    except BaseException as exc:  # a connection failure: stop everyone, re-raise in the caller
        tally.fatal.append(exc)
        tally.stop.set()
    finally:
        if conn is not None:
            conn.close()


def _wait(threads: list[threading.Thread], tally: _Tally, progress: Progress | None, total_calls: int | None,
          seconds: float | None, started: float, deadline: float | None) -> None:
    """Join the clients, reporting progress every _PROGRESS_EVERY_S; Ctrl-C stops them all first."""
    try:
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=_PROGRESS_EVERY_S)
            if progress:
                n = tally.total()
                if total_calls:
                    frac = n / total_calls
                else:
                    frac = (time.perf_counter() - started) / seconds if seconds else 0.0
                if deadline is not None:
                    frac = max(frac, (time.perf_counter() - started) / (deadline - started))
                progress(f"{n} calls", min(1.0, frac))
    except KeyboardInterrupt:
        tally.stop.set()
        for t in threads:
            t.join()
        raise


def measure_workload(dsn: str, repeats: int = 3, calls_per_entry: int = 5, seed: int = 42,
                     progress: Progress | None = None, *,
                     entries: Sequence[WorkloadEntry] | None = None,
                     path: str | Path | None = None,
                     include_writes: bool = True,
                     max_ids: dict[str, int] | None = None) -> dict[str, float]:
    """Warm median timings: ``{entry name: median ms per call, "_total": ..., "_total_unweighted": ...}``.

    Each entry gets `calls_per_entry` parameter sets drawn from a random source seeded by `seed`
    and the entry's name, runs them once to warm up, then `repeats` more times; its figure is the
    median over the repeats of the mean time per call. Writers run inside a transaction that is
    rolled back, so runs are repeatable. The sets are the same on every run as long as the id
    ranges are: pass ``max_ids=load_result["rows"]`` (ids are 1..count after
    :func:`load_ecommerce`) when a :func:`run_workload` in between may have inserted orders.
    ``_total`` is sum(weight * median), the time of one weighted round of the mix;
    ``_total_unweighted`` is the plain sum of medians.
    """
    if repeats < 1 or calls_per_entry < 1:
        raise UsageError("repeats and calls_per_entry must be at least 1")
    todo, anchor = _resolve(entries, path)
    if not include_writes:
        todo = [e for e in todo if not e.writes]
    result: dict[str, float] = {}
    with _connect(dsn) as conn:
        ctx = _context(conn, todo, anchor, max_ids)
        cur = _raw_cursor(conn)
        for i, entry in enumerate(todo):
            if progress:
                progress(entry.name, i / max(1, len(todo)))
            rng = random.Random(f"{seed}:{entry.name}")
            param_sets = [entry.make_params(rng, ctx) for _ in range(calls_per_entry)]
            per_pass: list[float] = []
            for rep in range(repeats + 1):
                elapsed = 0.0
                for params in param_sets:
                    try:
                        if entry.writes:
                            with conn.transaction(force_rollback=True):
                                t0 = time.perf_counter()
                                _execute(cur, entry, params)
                                elapsed += time.perf_counter() - t0
                        else:
                            t0 = time.perf_counter()
                            _execute(cur, entry, params)
                            elapsed += time.perf_counter() - t0
                    except psycopg.Error as exc:
                        raise PgAdvisorError(f"workload statement {entry.name!r} failed: {exc}") from exc
                if rep:  # pass 0 warms the cache
                    per_pass.append(elapsed * 1000 / len(param_sets))
            result[entry.name] = round(statistics.median(per_pass), 4)
    if progress:
        progress("done", 1.0)
    weight = {e.name: e.weight for e in todo}
    result["_total"] = round(sum(weight[n] * result[n] for n in weight), 3)
    result["_total_unweighted"] = round(sum(result[n] for n in weight), 3)
    return result

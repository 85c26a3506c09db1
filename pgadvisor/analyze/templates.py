"""Templates beyond `queryid`: a workload's statements grouped by their normalized text.

pg_stat_statements gives one queryid per parse tree: on PostgreSQL 15 an IN list of 3 constants and
one of 4 are two queryids, and a re-created table or a new major version gives new queryids to the
same statement. A template merges statements whose texts differ only in constants (also under
casts), IN-list and VALUES lengths, whitespace, comments and alias names (`sql.fingerprint.normalize`,
the one implementation of that equivalence). Statements of different databases stay apart.
A text sqlglot cannot parse is its own template (keyed by the regex normalization) and is counted.

Data in, data out: `build_templates(statements)` → `TemplateSet`; nothing here prints.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pgadvisor.sql.fingerprint import digest, normalize_with_status
from pgadvisor.workload import StatementStats

# parsing is ~5 ms per text (sqlglot, pure Python): from this many texts on, the work is spread over the
# machine's cores (1,148 texts of a 30-day store: 13.7 s on one core)
PARALLEL_MIN = 200
MAX_WORKERS = 8
_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclass
class Template:
    """One template: the statements (queryids) it merges and their summed activity."""

    id: str  # a 16-hex digest of (dbid, normalized text); stable across runs and servers
    text: str  # the normalized text (constants as ?, aliases by position)
    status: str  # parsed | utility | unparsed (see fingerprint.normalize_with_status)
    dbid: int
    datname: str | None
    statements: list[StatementStats] = field(default_factory=list)

    @property
    def queryids(self) -> list[str]:
        return sorted({s.queryid for s in self.statements})

    @property
    def calls(self) -> int:
        return sum(s.calls for s in self.statements)

    @property
    def total_exec_ms(self) -> float:
        return sum(s.total_exec_ms for s in self.statements)

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.statements)

    @property
    def example(self) -> str:
        """The text of the statement with the most calls (an original text, not the normalized one)."""
        return max(self.statements, key=lambda s: (s.calls, s.total_exec_ms)).query

    def counter(self, name: str) -> float:
        """The summed delta of a pg_stat_statements counter (snapshot.COUNTERS)."""
        return sum(s.counters.get(name, 0.0) for s in self.statements)


@dataclass
class TemplateSet:
    """A workload's templates, by total execution time (then id), and what could not be parsed."""

    templates: list[Template]
    statements: int  # how many statements (queryid rows) went in
    unparsed: int  # templates whose text sqlglot could not parse (each is its own template)

    def by_queryid(self) -> dict[str, Template]:
        return {q: t for t in self.templates for q in t.queryids}

    def summary(self) -> dict[str, Any]:
        return {"statements": self.statements, "templates": len(self.templates), "unparsed": self.unparsed,
                "merged_statements": self.statements - len(self.templates)}


# prefetch's worker pool and its results not yet taken: (function, item) -> (future of its chunk, index)
_pool: Any = None
_pending: dict[tuple[Any, Any], tuple[Any, int]] = {}


def template_key(text: str, dbid: int = 0) -> tuple[str, str, str]:
    """(template id, normalized text, status) of one statement text; never raises."""
    norm, status = normalize_with_status(text)
    # unparsed texts keep to themselves: their regex normalization never equals a parsed text's
    return digest(f"{dbid}\x00{status == 'unparsed'}\x00{norm}"), norm, status


def parallel_map(fn: Callable[[_T], _R], items: list[_T]) -> list[_R]:
    """`[fn(x) for x in items]`, in worker processes when there are PARALLEL_MIN items or more and more
    than one core (`fn` must be a pure module-level function, its results picklable). Results that
    `prefetch` started are picked up, not computed again."""
    todo = [x for x in dict.fromkeys(items) if (fn, x) not in _pending]
    done: dict[Any, Any] = {}
    if len(todo) >= PARALLEL_MIN and _workers() >= 2:
        prefetch(fn, todo)
    else:
        done = {x: fn(x) for x in todo}
    try:
        return [_pending[(fn, x)][0].result()[_pending[(fn, x)][1]] if (fn, x) in _pending else done[x]
                for x in items]
    finally:
        for x in items:
            _pending.pop((fn, x), None)  # taken (or failed): a later call computes afresh
        if not _pending:
            _shutdown()


def prefetch(fn: Callable[[_T], _R], items: Iterable[_T]) -> None:
    """Start `[fn(x) for x in items]` in worker processes and return at once; the next `parallel_map(fn, ...)`
    takes the results. Lets the parsing of a workload's texts overlap the store's series read (one core
    each on 2 cores, bench_workload_cost). Too few items or a single core: nothing is started."""
    todo = [x for x in dict.fromkeys(items) if (fn, x) not in _pending]
    workers = _workers()
    if len(todo) < PARALLEL_MIN or workers < 2:
        return
    global _pool
    if _pool is None:
        from concurrent.futures import ProcessPoolExecutor

        _pool = ProcessPoolExecutor(max_workers=workers)
    size = max(1, len(todo) // (4 * workers))
    for k in range(0, len(todo), size):
        chunk = todo[k:k + size]
        future = _pool.submit(_map_chunk, fn, chunk)
        for i, x in enumerate(chunk):
            _pending[(fn, x)] = (future, i)


def release() -> None:
    """Drop the prefetched results nobody took and stop the worker processes."""
    _pending.clear()
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
        _pool = None


def _workers() -> int:
    return min(os.cpu_count() or 1, MAX_WORKERS)


def _map_chunk(fn: Callable[[_T], _R], chunk: list[_T]) -> list[_R]:
    return [fn(x) for x in chunk]


def _shutdown() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None


def _key(item: tuple[str, int]) -> tuple[str, str, str]:
    return template_key(*item)


def template_keys(items: list[tuple[str, int]]) -> list[tuple[str, str, str]]:
    """`template_key(text, dbid)` of each item, each distinct pair computed once (in worker processes when
    there are many, or taken from `prefetch_keys`)."""
    unique = sorted(set(items))
    cache = dict(zip(unique, parallel_map(_key, unique)))
    return [cache[x] for x in items]


def prefetch_keys(items: Iterable[tuple[str, int]]) -> None:
    """Start `template_keys(items)`'s work in the background (see `prefetch`)."""
    prefetch(_key, sorted(set(items)))


@contextmanager
def keys_parsed_meanwhile(store: Any, server: str, enabled: bool = True) -> Iterator[None]:
    """Start parsing the template keys of every stored statement text of `server` (`prefetch_keys`) while the
    body reads the store; the next `template_keys` takes them. A body that fails drops them (`release`)."""
    sid = store.server_id(server) if enabled else None
    if sid is not None:
        prefetch_keys((r["query"], int(r["dbid"])) for r in store.series_statements(sid))
    try:
        yield
    except BaseException:
        release()  # nobody will take the texts' results
        raise


def build_templates(statements: Iterable[StatementStats]) -> TemplateSet:
    """Group statements into templates (see the module's docstring)."""
    by_id: dict[str, Template] = {}
    statements = list(statements)
    # the pg_stat_statements text when a logged sample replaced it
    keys = template_keys([(s.template or s.query, s.dbid) for s in statements])
    n = 0
    for s, (tid, norm, status) in zip(statements, keys):
        n += 1
        t = by_id.get(tid)
        if t is None:
            t = by_id[tid] = Template(id=tid, text=norm, status=status, dbid=s.dbid, datname=s.datname)
        t.statements.append(s)
    templates = sorted(by_id.values(), key=lambda t: (-t.total_exec_ms, t.id))
    return TemplateSet(templates, n, sum(1 for t in templates if t.status == "unparsed"))

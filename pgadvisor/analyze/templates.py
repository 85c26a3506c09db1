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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pgadvisor.sql.fingerprint import digest, normalize_with_status
from pgadvisor.workload import StatementStats

# parsing is ~5 ms per text (sqlglot, pure Python): from this many texts on, the work is spread over the
# machine's cores (1,148 texts of a 30-day store: 13.7 s on one core)
PARALLEL_MIN = 200
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


def template_key(text: str, dbid: int = 0) -> tuple[str, str, str]:
    """(template id, normalized text, status) of one statement text; never raises."""
    norm, status = normalize_with_status(text)
    # unparsed texts keep to themselves: their regex normalization never equals a parsed text's
    return digest(f"{dbid}\x00{status == 'unparsed'}\x00{norm}"), norm, status


def parallel_map(fn: Callable[[_T], _R], items: list[_T]) -> list[_R]:
    """`[fn(x) for x in items]`, in worker processes when there are PARALLEL_MIN items or more and more
    than one core (`fn` must be a module-level function, its results picklable)."""
    workers = min(os.cpu_count() or 1, 8)
    if len(items) < PARALLEL_MIN or workers < 2:
        return [fn(x) for x in items]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items, chunksize=max(1, len(items) // (4 * workers))))


def _key(item: tuple[str, int]) -> tuple[str, str, str]:
    return template_key(*item)


def build_templates(statements: Iterable[StatementStats]) -> TemplateSet:
    """Group statements into templates (see the module's docstring)."""
    by_id: dict[str, Template] = {}
    statements = list(statements)
    # the pg_stat_statements text when a logged sample replaced it
    keys = [(s.template or s.query, s.dbid) for s in statements]
    unique = sorted(set(keys))
    cache = dict(zip(unique, parallel_map(_key, unique)))
    n = 0
    for s, key in zip(statements, keys):
        n += 1
        tid, norm, status = cache[key]
        t = by_id.get(tid)
        if t is None:
            t = by_id[tid] = Template(id=tid, text=norm, status=status, dbid=s.dbid, datname=s.datname)
        t.statements.append(s)
    templates = sorted(by_id.values(), key=lambda t: (-t.total_exec_ms, t.id))
    return TemplateSet(templates, n, sum(1 for t in templates if t.status == "unparsed"))

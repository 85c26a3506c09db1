"""What a run needs besides the advice itself: its clock (the time limit's deadlines), the what-if
sessions (one engine per thread when jobs run in parallel), and the context every stage shares."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import psycopg

from pgadvisor.advise.indexes.options import AdvisorOptions
from pgadvisor.advise.schema import SchemaView
from pgadvisor.errors import ConnectError
from pgadvisor.findings import Rejected
from pgadvisor.pg.hypo import WhatIf

Progress = Callable[[str, int, int], None]
Connect = Callable[[], AbstractContextManager[psycopg.Connection]]

# under a time limit (a deadline for the whole run), screening may use up to this share of the time left
# when it starts: the rest is the search's, so that a workload too large for the limit still gets a search;
# and screening and the search get at least MIN_SHARE of the limit each, even when parsing and the
# baseline (which always run in full) used it up. 50% rather than 35%: docs/benchmarks.md, TPC-DS
# ("An experiment with screening limited to 35% of the time"); MIN_SHARE chosen by hand, not measured.
SCREEN_SHARE = 0.5
MIN_SHARE = 0.1


def quiet(stage: str, done: int, total: int) -> None:
    """A progress callback that shows nothing."""


class Clock:
    """The run's time limit: set when screening starts (`start`), since parsing, the baseline and the
    report always run in full; and the phases it cut short (`hit`: "screening", a search's label, "swap").

    `cancel` is set when the run is interrupted: parallel jobs stop at their next step."""

    def __init__(self, time_limit_s: float | None):
        self.limit = time_limit_s
        self.t0 = time.monotonic()
        self.deadline: float | None = None
        self.screen_deadline: float | None = None
        self.hit: list[str] = []
        self.cancel = threading.Event()

    def start(self) -> None:
        """The deadlines of screening and of the searches, from the run's time limit and the time left."""
        if self.limit:
            now = time.monotonic()
            self.deadline = max(self.t0 + self.limit, now + 2 * MIN_SHARE * self.limit)
            self.screen_deadline = now + SCREEN_SHARE * (self.deadline - now)

    def share(self, t_start: float, share: float) -> float | None:
        """The deadline of a search run started at `t_start` that may use `share` of the time left."""
        return t_start + share * (self.deadline - t_start) if self.deadline else None

    def screen_late(self) -> bool:
        return (self.screen_deadline is not None and time.monotonic() > self.screen_deadline) or self.cancel.is_set()

    def seconds(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.t0


class Sessions:
    """The run's what-if engine, and engines on other sessions of the same database for jobs run in
    parallel threads (they share the run's caches); `engine` is the calling thread's."""

    def __init__(self, schema: dict[str, Any], max_hypothetical: int, connect: Connect | None,
                 cancel: threading.Event):
        self.schema = schema
        self.max_hypothetical = max_hypothetical
        self.connect = connect  # opens another read-only session; None: everything runs on this one
        self.cancel = cancel
        self.main: WhatIf | None = None
        self.helpers: list[WhatIf] = []
        self._local = threading.local()

    @property
    def engine(self) -> WhatIf:
        """This thread's what-if engine: the run's, or a parallel job's own."""
        return getattr(self._local, "engine", None) or self.main

    def whatif_calls(self) -> int:
        """EXPLAINs run so far, by the run's engine and the parallel sessions' engines."""
        return (self.main.calls if self.main is not None else 0) + sum(h.calls for h in self.helpers)

    def cache_hits(self) -> int:
        return self.main.cache_hits + sum(h.cache_hits for h in self.helpers)

    def parallel(self, jobs: dict[str, Callable[[], Any]]) -> dict[str, Any]:
        """Run the jobs (searches, parts of the screening) at once, the first in this thread and each other
        one on a session of its own (the engines share their caches); one after another when no other
        session can be opened."""
        names = list(jobs)
        if self.connect is None or len(names) < 2:
            return {n: jobs[n]() for n in names}
        out: dict[str, Any] = {}
        with ThreadPoolExecutor(max_workers=len(names) - 1) as pool:
            futures = {n: pool.submit(self._on_own_session, jobs[n]) for n in names[1:]}
            try:
                out[names[0]] = jobs[names[0]]()
            except BaseException:  # Ctrl-C or an error here: the other sessions stop at their next step
                self.cancel.set()
                raise
            for n, f in futures.items():
                try:
                    out[n] = f.result()
                except (psycopg.Error, ConnectError, RuntimeError):  # no second session: run it here
                    out[n] = jobs[n]()
        return {n: out[n] for n in names}

    def _on_own_session(self, job: Callable[[], Any]) -> Any:
        main = self.main
        with self.connect() as conn, WhatIf(
            conn, schema=self.schema, max_hypothetical=self.max_hypothetical,
            heuristic=main.mode != "hypopg", shared=main,
        ) as engine:
            if engine.mode != main.mode:
                raise RuntimeError(f"the other session's engine is {engine.mode}: {engine.reason}")
            self.helpers.append(engine)
            self._local.engine = engine
            return job()


@dataclass
class Run:
    """What every stage of one run shares: the options, the schema, the clock, the sessions, the progress
    callback, and the rejected candidates with their reasons (by candidate id; stages add to it)."""

    options: AdvisorOptions
    view: SchemaView
    clock: Clock
    sessions: Sessions
    progress: Progress = quiet
    rejected: dict[str, Rejected] = field(default_factory=dict)

    @property
    def engine(self) -> WhatIf:
        return self.sessions.engine

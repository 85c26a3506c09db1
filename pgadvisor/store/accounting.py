"""Counter accounting of one snapshot against the server's last stored one: a pure function, no database.

pg_stat_statements keeps cumulative counters per statement. The store keeps, per statement, the counters
last seen and running totals of the deltas; a window's activity is the difference of two running totals.
`account()` decides, for a new snapshot, what each statement's delta is:

- continuous (the same entry, every counter at or above the last one): the difference;
- a new baseline (a statement new to the store, back after an eviction, re-created since, or any counter
  lower than the last one): all it counts now, which is what happened since it (re)appeared;
- the server's first snapshot: nothing, it is only the baseline.

Reasons every counter starts over at once: another server behind the name (system identifier changed),
`pg_stat_statements_reset()` (stats_reset moved), a restart that lost the counters (a crash, an immediate
stop, `pg_stat_statements.save = off`: stats_reset moves too; before 1.9, which has no stats_reset, some
counter below its last value tells it). A clean restart keeps the counters and is no reset. Statements
gone since the last snapshot without a reset were evicted (pg_stat_statements.max); `dealloc` counts the
deallocation runs that evicted them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

from pgadvisor.snapshot import COUNTERS

# Two epoch timestamps (postmaster start, stats_reset, stats_since) closer than this are the same instant:
# read twice from the server they are equal to the microsecond, stored as a double they round by less.
SAME_INSTANT_S = 1e-3

N = len(COUNTERS)
CALLS = COUNTERS.index("calls")

SYSTEM_CHANGED = "system identifier changed (another server behind this name)"
PGSS_RESET = "pg_stat_statements was reset"
RESTART_LOST_COUNTERS = ("server restarted without keeping pg_stat_statements' counters (a crash, an immediate "
                         "stop or pg_stat_statements.save = off)")
RESTART_COUNTERS_DOWN = "server restarted and pg_stat_statements' counters went down (lost in the restart)"
RESTART_KEPT_NOTE = ("server restarted; pg_stat_statements kept its counters (clean shutdown): "
                     "counted as continuous")


@dataclass(frozen=True)
class Previous:
    """What the server's last stored snapshot said about the server and pg_stat_statements."""

    system_identifier: str | None = None
    postmaster_start: float | None = None
    stats_reset: float | None = None
    dealloc: int | None = None


@dataclass(frozen=True)
class LastSeen:
    """A statement's cumulative counters at its last change, and the running totals of its deltas."""

    counters: tuple
    totals: tuple
    stats_since: float | None = None  # PostgreSQL 17+: when the entry was created


@dataclass(frozen=True)
class Observed:
    """A statement in the new snapshot: its cumulative counters (in COUNTERS order)."""

    statement_id: int
    counters: tuple
    stats_since: float | None = None


@dataclass(frozen=True)
class StatRow:
    """A statement's new last-seen state; `moved`: its running totals changed (a stat_totals row)."""

    statement_id: int
    counters: tuple
    totals: tuple
    stats_since: float | None
    new: bool  # no last-seen state before: inserted, not updated
    moved: bool


@dataclass(frozen=True)
class Accounting:
    reset_reason: str | None  # why every counter starts a new baseline at this snapshot
    notes: tuple[str, ...]
    rows: tuple[StatRow, ...]  # only statements whose state changed
    present: tuple[int, ...]  # statement ids in this snapshot, in its order
    evicted: int  # statements gone since the last snapshot, not because of a reset
    dealloc_delta: int  # pg_stat_statements deallocation runs since the last snapshot

    @property
    def changed(self) -> int:
        return sum(r.moved for r in self.rows)


def account(
    previous: Previous | None,
    info: Mapping[str, Any],
    pgss: Mapping[str, Any],
    observed: Sequence[Observed],
    last: Mapping[int, LastSeen],
    was_present: Set[int],
) -> Accounting:
    """Deltas, baselines, evictions and deallocations of a snapshot (`info`: server identity and
    postmaster_start; `pgss`: pg_stat_statements_info) against the previous one, the statements' last
    seen state and the statements present in the previous snapshot. `previous` None: the first one."""
    reason = reset_reason(previous, info, pgss)
    notes: list[str] = []
    if previous is not None and reason is None and restarted(previous, info):
        if not (previous.stats_reset and pgss.get("stats_reset")) and any(
            o.statement_id in was_present and o.statement_id in last
            and o.counters[CALLS] < last[o.statement_id].counters[CALLS]
            for o in observed
        ):
            reason = RESTART_COUNTERS_DOWN
        else:
            notes.append(RESTART_KEPT_NOTE)
    rows = [
        row
        for o in observed
        if (row := statement_row(o, last.get(o.statement_id), o.statement_id in was_present,
                                 baseline_only=previous is None, reset=reason is not None))
        is not None
    ]
    present = tuple(o.statement_id for o in observed)
    evicted = len(was_present - set(present)) if reason is None else 0
    return Accounting(reason, tuple(notes), tuple(rows), present, evicted,
                      dealloc_delta(previous, pgss.get("dealloc"), reset=reason is not None))


def statement_row(o: Observed, seen: LastSeen | None, was_present: bool, *, baseline_only: bool,
                  reset: bool) -> StatRow | None:
    """One statement's new state, None when nothing about it changed."""
    same_entry = (o.stats_since is None or seen is None or seen.stats_since is None
                  or abs(o.stats_since - seen.stats_since) < SAME_INSTANT_S)
    if seen is not None and tuple(seen.counters) == tuple(o.counters) and was_present and same_entry:
        return None
    old = seen.counters if seen is not None else (0,) * N
    totals = seen.totals if seen is not None else (0,) * N
    continuous = (
        seen is not None
        and was_present
        and not reset
        and same_entry  # PG 17+: a re-created entry (evicted or reset since) starts from zero
        and all(c >= p for c, p in zip(o.counters, old))
    )
    delta = tuple(c - p for c, p in zip(o.counters, old)) if continuous else tuple(o.counters)
    moved = not baseline_only and any(delta)
    new_totals = tuple(t + d for t, d in zip(totals, delta)) if moved else tuple(totals)
    return StatRow(o.statement_id, tuple(o.counters), new_totals, o.stats_since, seen is None, moved)


def restarted(previous: Previous, info: Mapping[str, Any]) -> bool:
    start = info.get("postmaster_start")
    return bool(previous.postmaster_start and start and abs(previous.postmaster_start - start) > SAME_INSTANT_S)


def reset_reason(previous: Previous | None, info: Mapping[str, Any], pgss: Mapping[str, Any]) -> str | None:
    """Why every counter starts a new baseline at this snapshot, None when they may continue.

    A restart alone is not a reset: a clean shutdown saves pg_stat_statements' counters
    (pg_stat_statements.save, the default) together with its stats_reset time, which therefore does
    not change; a crash, an immediate stop or save = off loses them, and pg_stat_statements starts
    over with a new stats_reset. (Without stats_reset, before 1.9, `account` compares the counters.)
    """
    if previous is None:
        return None
    sysid = info.get("system_identifier")
    if previous.system_identifier and sysid and previous.system_identifier != sysid:
        return SYSTEM_CHANGED
    stats_reset = pgss.get("stats_reset")
    if previous.stats_reset and stats_reset and abs(previous.stats_reset - stats_reset) > SAME_INSTANT_S:
        return RESTART_LOST_COUNTERS if restarted(previous, info) else PGSS_RESET
    return None


def dealloc_delta(previous: Previous | None, dealloc: int | None, *, reset: bool) -> int:
    """Deallocation runs since the previous snapshot (the whole count after a reset, which zeroes it)."""
    if previous is None or dealloc is None or previous.dealloc is None:
        return 0
    return dealloc - previous.dealloc if dealloc >= previous.dealloc and not reset else dealloc

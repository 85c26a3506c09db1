"""The counter accounting of the write path (store/accounting.py), without a database: deltas, baselines,
resets, restarts, evictions and deallocations; and a property test over random pg_stat_statements histories."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pgadvisor.snapshot import COUNTERS
from pgadvisor.store.accounting import (
    PGSS_RESET,
    RESTART_COUNTERS_DOWN,
    RESTART_KEPT_NOTE,
    RESTART_LOST_COUNTERS,
    SYSTEM_CHANGED,
    LastSeen,
    Observed,
    Previous,
    account,
)

N = len(COUNTERS)
INFO = {"system_identifier": "42", "postmaster_start": 100.0}
PGSS = {"stats_reset": 50.0, "dealloc": 0}
PREV = Previous("42", 100.0, 50.0, 0)


def c(calls: int, ms: float = 0.0, rows: int = 0) -> tuple:
    """A counters tuple in COUNTERS order with calls, total_exec_time and rows set."""
    out = [0] * N
    out[COUNTERS.index("calls")], out[COUNTERS.index("total_exec_time")], out[COUNTERS.index("rows")] = calls, ms, rows
    return tuple(out)


def seen(counters: tuple, totals: tuple | None = None, since: float | None = None) -> LastSeen:
    return LastSeen(counters, totals if totals is not None else c(0), since)


def delta(acc, statement_id: int, before: LastSeen | None = None) -> tuple:
    row = next(r for r in acc.rows if r.statement_id == statement_id)
    old = before.totals if before else c(0)
    return tuple(t - o for t, o in zip(row.totals, old))


def test_the_first_snapshot_is_only_a_baseline():
    acc = account(None, INFO, PGSS, [Observed(1, c(10, 5.0, 10)), Observed(2, c(3))], {}, set())
    assert acc.reset_reason is None and acc.evicted == 0 and acc.dealloc_delta == 0 and acc.changed == 0
    assert [(r.statement_id, r.counters, r.totals, r.new, r.moved) for r in acc.rows] == [
        (1, c(10, 5.0, 10), c(0), True, False), (2, c(3), c(0), True, False)]
    assert acc.present == (1, 2)


def test_a_statement_that_moved_adds_the_difference_to_its_running_total():
    last = {1: seen(c(10, 5.0, 10), c(4, 2.0, 4))}
    acc = account(PREV, INFO, PGSS, [Observed(1, c(15, 7.5, 12))], last, {1})
    assert acc.changed == 1 and delta(acc, 1, last[1]) == c(5, 2.5, 2)
    assert acc.rows[0].totals == c(9, 4.5, 6) and not acc.rows[0].new


def test_an_unchanged_statement_writes_nothing():
    last = {1: seen(c(10, 5.0, 10), c(4, 2.0, 4))}
    acc = account(PREV, INFO, PGSS, [Observed(1, c(10, 5.0, 10))], last, {1})
    assert acc.rows == () and acc.changed == 0 and acc.present == (1,)


def test_a_new_statement_counts_everything_since_it_appeared():
    acc = account(PREV, INFO, PGSS, [Observed(7, c(3, 1.5, 3))], {}, set())
    assert acc.rows[0].new and delta(acc, 7) == c(3, 1.5, 3)


def test_any_counter_going_down_starts_a_baseline():
    # pg_stat_statements_reset(userid, dbid, queryid) before PostgreSQL 17: stats_reset does not move and the
    # re-created entry ran more often but returned fewer rows; no counter may go negative
    last = {1: seen(c(10, 5.0, 1000), c(10, 5.0, 1000))}
    acc = account(PREV, INFO, PGSS, [Observed(1, c(20, 6.0, 20))], last, {1})
    assert acc.reset_reason is None and delta(acc, 1, last[1]) == c(20, 6.0, 20)
    acc = account(PREV, INFO, PGSS, [Observed(1, c(4, 1.0, 4))], last, {1})  # calls went down
    assert delta(acc, 1, last[1]) == c(4, 1.0, 4)


def test_a_re_created_entry_is_a_baseline_on_postgres_17():
    last = {1: seen(c(10, 5.0, 10), since=10.0)}
    acc = account(PREV, INFO, PGSS, [Observed(1, c(30, 9.0, 30), stats_since=20.0)], last, {1})
    assert delta(acc, 1, last[1]) == c(30, 9.0, 30)
    acc = account(PREV, INFO, PGSS, [Observed(1, c(30, 9.0, 30), stats_since=10.0 + 1e-6)], last, {1})
    assert delta(acc, 1, last[1]) == c(20, 4.0, 20)  # the same instant, rounded


def test_a_statement_back_after_an_eviction_counts_from_zero():
    last = {1: seen(c(10)), 2: seen(c(5))}
    acc = account(PREV, INFO, {**PGSS, "dealloc": 1}, [Observed(1, c(12))], last, {1, 2})
    assert acc.evicted == 1 and acc.dealloc_delta == 1
    acc = account(PREV, INFO, PGSS, [Observed(1, c(12)), Observed(2, c(6))], last, {1})
    assert delta(acc, 2, last[2]) == c(6) and acc.evicted == 0


def test_pg_stat_statements_reset_is_a_reset_and_not_an_eviction():
    last = {1: seen(c(10)), 2: seen(c(5))}
    acc = account(PREV, INFO, {"stats_reset": 60.0, "dealloc": 0}, [Observed(1, c(12))], last, {1, 2})
    assert acc.reset_reason == PGSS_RESET and acc.evicted == 0
    assert delta(acc, 1, last[1]) == c(12)  # even though 12 > 10: all of it is new since the reset


def test_another_server_behind_the_name_is_a_reset():
    acc = account(PREV, {**INFO, "system_identifier": "43"}, PGSS, [Observed(1, c(12))], {1: seen(c(10))}, {1})
    assert acc.reset_reason == SYSTEM_CHANGED and delta(acc, 1) == c(12)


def test_a_clean_restart_keeps_the_counters():
    last = {1: seen(c(10))}
    acc = account(PREV, {**INFO, "postmaster_start": 200.0}, PGSS, [Observed(1, c(12))], last, {1})
    assert acc.reset_reason is None and acc.notes == (RESTART_KEPT_NOTE,) and delta(acc, 1) == c(2)


def test_a_restart_that_lost_the_counters_is_a_reset():
    restarted = {**INFO, "postmaster_start": 200.0}
    last = {1: seen(c(10))}
    acc = account(PREV, restarted, {**PGSS, "stats_reset": 200.0}, [Observed(1, c(12))], last, {1})
    assert acc.reset_reason == RESTART_LOST_COUNTERS and delta(acc, 1) == c(12)
    # pg_stat_statements before 1.9 has no stats_reset: a counter below its last value tells the crash
    old = Previous("42", 100.0, None, None)
    acc = account(old, restarted, {}, [Observed(1, c(3)), Observed(2, c(40))], {**last, 2: seen(c(30))}, {1, 2})
    assert acc.reset_reason == RESTART_COUNTERS_DOWN and delta(acc, 2) == c(40)
    acc = account(old, restarted, {}, [Observed(1, c(13))], last, {1})
    assert acc.reset_reason is None and acc.notes == (RESTART_KEPT_NOTE,)


def test_deallocations_since_the_last_snapshot():
    assert account(Previous("42", 100.0, 50.0, 3), INFO, {**PGSS, "dealloc": 5}, [], {}, set()).dealloc_delta == 2
    # reset with the entries (pg_stat_statements_reset, a crash): all of the new count is since then
    reset = {"stats_reset": 60.0, "dealloc": 2}
    assert account(Previous("42", 100.0, 50.0, 3), INFO, reset, [], {}, set()).dealloc_delta == 2
    assert account(Previous("42", 100.0, 50.0, None), INFO, {**PGSS, "dealloc": 5}, [], {}, set()).dealloc_delta == 0
    assert account(None, INFO, {**PGSS, "dealloc": 5}, [], {}, set()).dealloc_delta == 0


# -- property: random pg_stat_statements histories -------------------------------------------------------------


@dataclass
class Entry:
    counters: list[int]
    since: float
    observed: list[int] | None = None  # the counters at the last snapshot in this entry's life


@dataclass
class Server:
    """pg_stat_statements on a server (pg17: its entries carry stats_since)."""

    pg17: bool
    clock: float = 1000.0
    postmaster_start: float = 1.0
    stats_reset: float = 1.0
    dealloc: int = 0
    entries: dict[int, Entry] = field(default_factory=dict)

    def tick(self) -> float:
        self.clock += 1.0
        return self.clock

    def do(self, action: tuple) -> None:
        kind = action[0]
        if kind == "run":
            _, s, calls, ms, rows = action
            e = self.entries.setdefault(s, Entry([0] * N, self.tick()))
            for i, name in enumerate(COUNTERS):
                e.counters[i] += calls if name == "calls" else calls * (ms if "time" in name else rows)
        elif kind in ("evict", "reset_one"):
            if self.entries.pop(action[1], None) is not None:
                self.dealloc += kind == "evict"
        elif kind in ("reset_all", "restart_crash"):
            self.entries.clear()
            self.stats_reset, self.dealloc = self.tick(), 0
            if kind == "restart_crash":
                self.postmaster_start = self.clock
        else:  # restart_clean: pg_stat_statements saved its entries and stats_reset
            self.postmaster_start = self.tick()


@dataclass
class StoreModel:
    """What the store keeps between snapshots, updated from `account()`'s results."""

    previous: Previous | None = None
    last: dict[int, LastSeen] = field(default_factory=dict)
    was_present: set[int] = field(default_factory=set)

    def snapshot(self, server: Server) -> None:
        observed = [Observed(s, tuple(e.counters), e.since if server.pg17 else None)
                    for s, e in server.entries.items()]
        acc = account(self.previous, {"system_identifier": "42", "postmaster_start": server.postmaster_start},
                      {"stats_reset": server.stats_reset, "dealloc": server.dealloc}, observed, self.last,
                      self.was_present)
        for r in acc.rows:
            before = self.last.get(r.statement_id)
            d = tuple(t - o for t, o in zip(r.totals, before.totals if before else (0,) * N))
            assert min(d) >= 0, (r, before)
            if before is not None and any(now < then for now, then in zip(r.counters, before.counters)):
                assert d == (r.counters if self.previous is not None else (0,) * N), (r, before)  # a baseline
            self.last[r.statement_id] = LastSeen(r.counters, r.totals, r.stats_since)
        self.was_present = set(acc.present)
        self.previous = Previous("42", server.postmaster_start, server.stats_reset, server.dealloc)


STATEMENTS = st.integers(1, 2)
RUN = st.tuples(st.just("run"), STATEMENTS, st.integers(1, 5), st.integers(0, 3), st.integers(0, 5))
ACTIONS = st.one_of(  # statements run more often than anything else happens
    RUN,
    RUN,
    st.tuples(st.sampled_from(["evict", "reset_one"]), STATEMENTS),  # deallocated; pg_stat_statements_reset(…, queryid)
    st.sampled_from([("reset_all",), ("restart_clean",), ("restart_crash",)]),
)


@settings(max_examples=1000, deadline=None)
# pinned: an entry reset on its own (no stats_reset change before PostgreSQL 17) and re-created with more
# calls but fewer rows before the next snapshot; a rule that compared only calls and time went negative
@example(pg17=False, intervals=[[("run", 1, 1, 0, 5)], [("reset_one", 1), ("run", 1, 2, 0, 1)]])
@given(pg17=st.booleans(), intervals=st.lists(st.lists(ACTIONS, max_size=4), min_size=1, max_size=10))
def test_counter_accounting_over_random_histories(pg17, intervals):
    """Whatever happens between snapshots: no delta is negative, a counter below its last value always
    starts a baseline, and the summed deltas equal the activity the snapshots could see (what an entry
    counted between its first and last snapshot, all of it when it appeared after the store's first one)
    unless an entry was re-created unseen (between two snapshots, before stats_since in PostgreSQL 17)."""
    server, store = Server(pg17), StoreModel()
    visible = {s: [0] * N for s in (1, 2)}  # the activity the snapshots could see, per statement
    unseen_recreation = False
    for actions in [[], *intervals]:  # a snapshot after each interval: the first one before any action
        for action in actions:
            unseen_recreation |= (action[0] == "run" and action[1] not in server.entries
                                  and action[1] in store.was_present and not pg17)
            server.do(action)
        for s, e in server.entries.items():
            base = e.observed if e.observed is not None else [0] * N
            visible[s] = [v + now - b for v, now, b in zip(visible[s], e.counters, base)]
            e.observed = list(e.counters)
        store.snapshot(server)
    if not unseen_recreation:
        assert {s: list(store.last[s].totals) if s in store.last else [0] * N for s in visible} == visible

"""The severity cut-offs of every rule, in one place.

All of them were chosen by hand: severities order findings for a reader and for `check --fail-on`;
they never change what is recommended, and no benchmark measures them.
"""

from __future__ import annotations

from pgadvisor.findings import Severity

# create-index, with timings from the store: execution time the index saves per day
HIGH_MS_PER_DAY = 600_000.0  # 10 minutes a day
MEDIUM_MS_PER_DAY = 60_000.0  # 1 minute a day
# ... a minute a day is already high when the index removes nearly all of its statements' cost
HIGH_REDUCTION_PCT = 90.0
# create-index without timings (statements given by hand): by the estimated cost reduction alone
MEDIUM_REDUCTION_PCT = 50.0
# create-index proposed by rule (GIN, BRIN: no what-if): its statements' planner cost × calls
RULE_MEDIUM_COST = 1e5
# drop-*-index: an index of 1 GiB or more costs real disk, backup and WAL volume, and write time
DROP_MEDIUM_BYTES = 1 << 30
# fk-without-index: child pages × parent deletes and updates, the pages the foreign-key checks read
FK_MEDIUM_PAGE_READS = 1e7


def create_index(ms_per_day: float, reduction_pct: float) -> Severity:
    """A what-if verified index: by the time it saves per day, else (no timings) by the cost reduction."""
    if ms_per_day >= HIGH_MS_PER_DAY or (ms_per_day >= MEDIUM_MS_PER_DAY and reduction_pct >= HIGH_REDUCTION_PCT):
        return Severity.high
    if ms_per_day >= MEDIUM_MS_PER_DAY:
        return Severity.medium
    if ms_per_day > 0:
        return Severity.low
    if reduction_pct >= HIGH_REDUCTION_PCT:
        return Severity.high
    return Severity.medium if reduction_pct >= MEDIUM_REDUCTION_PCT else Severity.low


def create_index_by_rule(cost_before: float) -> Severity:
    """An index proposed by rule, by the weighted planner cost of the statements it serves."""
    return Severity.low if cost_before < RULE_MEDIUM_COST else Severity.medium


def drop(size_bytes: int) -> Severity:
    """A duplicate, redundant or unused index, by its size."""
    return Severity.medium if size_bytes >= DROP_MEDIUM_BYTES else Severity.low


def fk_without_index(child_pages: float, parent_writes: float) -> Severity:
    """A foreign key without an index, by the child pages its checks read."""
    return Severity.medium if child_pages * parent_writes > FK_MEDIUM_PAGE_READS else Severity.low

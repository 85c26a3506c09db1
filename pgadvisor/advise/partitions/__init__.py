"""The partition advisor (issue 14): a partition key and interval, or "don't", proven on copies of a sample.

candidates.py (what to try) → evaluate.py (copies in the scratch place, literal statements costed) →
decide.py (the decision and its evidence) → migration.py (native DDL and pg_partman); advisor.py runs
them. The SQL is in pgadvisor/pg/partition.py and pgadvisor/pg/scratch.py. recommend's entry is
hook.py. User documentation: docs/partitions.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PartitionReport", "advise_partitions"]


def __getattr__(name: str) -> Any:
    # lazy: `recommend` imports hook.py (its options) on every run; the advisor (and sqlglot through
    # literals.py) only loads when a scratch place is given
    if name in __all__:
        from pgadvisor.advise.partitions import advisor

        return getattr(advisor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

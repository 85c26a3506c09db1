"""The partition advisor (issue 14): a partition key and interval, or "don't", proven on copies of a sample.

candidates.py (what to try) → evaluate.py (copies in the scratch place, literal statements costed) →
decide.py (the decision and its evidence) → migration.py (native DDL and pg_partman); advisor.py runs
them. The SQL is in pgadvisor/pg/partition.py and pgadvisor/pg/scratch.py. User documentation:
docs/partitions.md.
"""

from pgadvisor.advise.partitions.advisor import PartitionReport, advise_partitions

__all__ = ["PartitionReport", "advise_partitions"]

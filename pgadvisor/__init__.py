"""pgadvisor: a PostgreSQL workload advisor."""

__version__ = "0.1.0"

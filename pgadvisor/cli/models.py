"""`pgadvisor train`, `predict` and `plugins`: the query-time model (issue 13)."""

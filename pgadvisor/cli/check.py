"""`pgadvisor check` and `pgadvisor baseline`: the CI gate (issue 11)."""

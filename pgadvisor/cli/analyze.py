"""`pgadvisor anomalies` and `pgadvisor report`: what changed, and the HTML review (issue 12)."""

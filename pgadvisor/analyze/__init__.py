"""Analyzers over a Workload or the store's series: templates, classes, clusters, forecasts, anomalies (issue 12)."""

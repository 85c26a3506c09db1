"""The CI gate: rules in scope, thresholds, allow-list, baseline → findings and an exit code (issue 11)."""

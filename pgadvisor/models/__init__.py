"""The query-time model: plan features, training, prediction, persistence in the store (issue 13)."""

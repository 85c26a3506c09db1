"""Third-party models and analyzers registered through entry points (issue 13)."""

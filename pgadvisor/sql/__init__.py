"""Statement understanding with sqlglot (postgres dialect)."""

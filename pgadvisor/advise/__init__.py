"""Advisors: each returns a list of Recommendation (DESIGN §3)."""

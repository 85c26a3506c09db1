"""Everything that talks to a user's PostgreSQL server lives here."""

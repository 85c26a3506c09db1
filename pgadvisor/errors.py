"""Errors the CLI turns into one line and an exit code (DESIGN §1)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_CANNOT_RUN = 3


class PgAdvisorError(Exception):
    """Base error: the message is shown to the user as one line."""

    exit_code = EXIT_CANNOT_RUN

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(" ".join(str(message).split()))  # always one line
        self.hint = hint


class UsageError(PgAdvisorError):
    """Bad flags or input values."""

    exit_code = EXIT_USAGE


class ConnectError(PgAdvisorError):
    """The monitored server could not be reached or refused us."""


class ExtensionMissing(PgAdvisorError):
    """pg_stat_statements (or hypopg) is not usable on the server."""


class StoreError(PgAdvisorError):
    """The local store is unreadable, unwritable or of another version."""


class CannotRun(PgAdvisorError):
    """The command ran but could not do its job on this server (a standby, no privilege to plan)."""


class NoPostgres(PgAdvisorError):
    """No local PostgreSQL server binaries were found."""

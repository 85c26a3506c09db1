"""Errors the CLI turns into one line and an exit code (DESIGN §1)."""

from __future__ import annotations

import re

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_CANNOT_RUN = 3


class PgAdvisorError(Exception):
    """Base error: the message is shown to the user as one line."""

    exit_code = EXIT_CANNOT_RUN

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(one_line(str(message)))
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


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def one_line(message: BaseException | str, *, first_line: bool = False, limit: int | None = None) -> str:
    """A message on one line: its whitespace (newlines too) collapsed to single spaces.

    An exception without a message gives its class name. `first_line=True` keeps only the first line,
    without ANSI colour codes, and "" when there is none: for messages that go on with a dump of
    their input (sqlglot's, coloured, continue with the statement's text), whose callers name the
    error themselves. `limit` cuts the result to that many characters.
    """
    text = str(message)
    if first_line:
        lines = text.strip().splitlines()
        text = _ANSI.sub("", lines[0] if lines else "")
    line = " ".join(text.split())
    if not line and not first_line and isinstance(message, BaseException):
        line = message.__class__.__name__
    return line if limit is None else line[:limit]

"""The typer app, its shared options and helpers, and the console-script entry point.

Heavy libraries (pandas, scikit-learn, xgboost, sqlglot) are imported inside commands only.
"""

from __future__ import annotations

import os
import sys
from enum import Enum

import typer

from pgadvisor import __version__
from pgadvisor.errors import EXIT_CANNOT_RUN, PgAdvisorError, UsageError

app = typer.Typer(
    name="pgadvisor",
    help="PostgreSQL workload advisor: collect pg_stat_statements into a local store, then review the "
         "workload and get ranked, verified recommendations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: rich help rendering alone costs ~0.15 s of start-up
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Format(str, Enum):
    table = "table"
    json = "json"


class RecFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


DSN_HELP = "libpq connection string or URI; empty uses PG* variables, service files and ~/.pgpass"
STORE_HELP = "store: a SQLite file path or a postgresql:// URL (default: $PGADVISOR_STORE or the user data dir)"
DsnOpt = typer.Option("", "--dsn", envvar="PGADVISOR_DSN", help=DSN_HELP)
StoreOpt = typer.Option(None, "--store", envvar="PGADVISOR_STORE", help=STORE_HELP)
FormatOpt = typer.Option(Format.table, "--format", "-f", help="output format")
TrustOpt = typer.Option(None, "--trust-role", help="plan statements that call functions (or use operators, views, "
                        "defaults) of this role too; by default only code owned by a superuser is trusted, since "
                        "planning can run a function as pgadvisor's role (repeatable)")


def _fail(exc: PgAdvisorError) -> None:
    from pgadvisor.report.render import err_console, styled

    err_console.print(styled(("error:", "red"), f" {exc}"), soft_wrap=True)
    if exc.hint:
        err_console.print(styled(("hint:", "dim"), f" {exc.hint}"), soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pgadvisor {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version"),
) -> None:
    """pgadvisor: ranked, verified advice for PostgreSQL workloads."""


def _is_none(text: str) -> bool:
    """Whether an option's value switches it off ('none' or 'off')."""
    return text.strip().lower() in ("none", "off")


def _duration(text: str | None, name: str) -> float | None:
    from pgadvisor.units import parse_duration

    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{name}: {exc}") from None


def main() -> None:
    """Console-script entry point: one line per error, exit codes of DESIGN §1."""
    try:
        from pgadvisor.config import default_map

        commands = [c.name or c.callback.__name__ for c in app.registered_commands]
        app(prog_name="pgadvisor", default_map=default_map(commands))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except PgAdvisorError as exc:  # raised outside a command's own handling
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - never a stack trace for the user
        if os.environ.get("PGADVISOR_DEBUG"):
            raise
        sys.stderr.write(f"error: internal error: {exc.__class__.__name__}: {exc} "
                         "(set PGADVISOR_DEBUG=1 for details and report it)\n")
        sys.exit(EXIT_CANNOT_RUN)


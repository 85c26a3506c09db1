"""Thin typer wiring: resolve options → call the library → render → exit code (DESIGN §1).

Heavy libraries (pandas, scikit-learn, xgboost, sqlglot) are imported inside commands only.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from enum import Enum

import typer

from pgadvisor import __version__
from pgadvisor.advise.review import DEFAULT_TIME_LIMIT_S
from pgadvisor.documents import document
from pgadvisor.errors import EXIT_CANNOT_RUN, EXIT_USAGE, PgAdvisorError, UsageError

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


@app.command()
def collect(
    ctx: typer.Context,
    dsn: str = DsnOpt,
    store: str | None = StoreOpt,
    targets: str | None = typer.Option(None, "--targets", help="TOML file of servers: [[targets]] name = .., dsn = .."),
    name: str | None = typer.Option(None, "--name", help="server name in the store (default host:port/dbname)"),
    plans: int = typer.Option(20, "--plans", help="EXPLAIN the generic plans of this many top statements"),
    parallel: int = typer.Option(4, "--parallel", min=1, max=64, help="servers collected at once with --targets"),
    log: str | None = typer.Option(None, "--log", help="the server's JSON log (file, directory or glob; "
                                   "log_destination = 'jsonlog'): keeps statement samples with real parameter "
                                   "values, read incrementally (per target: log = '...' in --targets)"),
    log_values: bool = typer.Option(True, "--log-values/--no-log-values", help="with --log, store the bind "
                                    "parameters' values of the samples (recommend costs the custom plans the "
                                    "application gets with them); statements mentioning a password are never kept"),
    schema_every: str = typer.Option("1h", "--schema-every", help="re-read unchanged table/index definitions, "
                                     "their counters and settings at most this often (they are re-read at once "
                                     "when DDL, ANALYZE or a settings change is seen); 0s = every snapshot"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print nothing on success"),
    trust_role: list[str] = TrustOpt,
    fmt: Format = FormatOpt,
) -> None:
    """Take one snapshot per server into the store (run it from cron every 5–15 minutes).

    Read-only on the server: never resets pg_stat_statements, never takes locks beyond reads.
    """
    from pgadvisor.fleet import collect_many, load_targets
    from pgadvisor.report.render import err_console, print_json, styled

    try:
        if targets:
            # typed on the command line (PGADVISOR_DSN or the config file is only a default); by name: typer
            # versions differ in which click's ParameterSource they use
            if dsn and getattr(ctx.get_parameter_source("dsn"), "name", None) == "COMMANDLINE":
                raise UsageError("--dsn and --targets do not go together: the targets file gives each server's dsn")
            if name:
                raise UsageError("--name and --targets do not go together: the targets file names each server")
            items = load_targets(targets)
        else:
            from pgadvisor.pg.connect import parse_dsn

            parse_dsn(dsn)  # a malformed --dsn is a usage error, before anything else happens
            items = [{"name": name, "dsn": dsn}]
        if trust_role:
            items = [{**t, "trusted_roles": tuple(trust_role)} for t in items]
        every = 0.0 if schema_every.strip() in ("0", "0s") else _duration(schema_every, "--schema-every")
        results = collect_many(items, store, plans_top=plans, parallel=parallel, log=log, schema_every_s=every,
                               log_values=log_values)
    except PgAdvisorError as exc:
        _fail(exc)
    failed = [r for r in results if r["status"] == "failed"]
    if fmt == Format.json:
        print_json(document(results=results))
    else:
        for r in results:
            if r["status"] == "failed":
                err_console.print(styled(("error:", "red"), f" {r['server']}: {r['error']}"), soft_wrap=True)
                if r.get("hint"):
                    err_console.print(styled(("hint:", "dim"), f" {r['hint']}"), soft_wrap=True)
            elif not quiet and (sys.stderr.isatty() or os.environ.get("PGADVISOR_VERBOSE")):
                extra = f" ({r['reset']})" if r.get("reset") else ""
                err_console.print(f"{r['server']}: snapshot {r.get('seq', '-')} {r['status']}: "
                                  f"{r.get('statements', 0)} statements, {r.get('changed', 0)} changed{extra}",
                                  highlight=False)
            for note in r.get("notes", []) if not quiet else []:
                err_console.print(styled(("note:", "yellow"), f" {r['server']}: {note}"))
    if failed:
        worst = max(r.get("exit_code", EXIT_CANNOT_RUN) for r in failed)
        raise typer.Exit(worst)


@app.command()
def snapshots(store: str | None = StoreOpt, fmt: Format = FormatOpt) -> None:
    """List what the store holds, per server."""
    from pgadvisor.report.render import print_json, snapshots_table
    from pgadvisor.store import open_store

    try:
        with open_store(store, read_only=True) as st:
            rows = st.snapshots()
    except PgAdvisorError as exc:
        _fail(exc)
    if fmt == Format.json:
        print_json(document(servers=rows))
    else:
        snapshots_table(rows)


def _store_workload(store: str | None, server: str | None, since: str):
    """`recommend`'s Workload: the store's window for the server; UsageError when it has no activity."""
    import time

    from pgadvisor.store import open_store
    from pgadvisor.workload import load_workload, pick_server

    seconds = _duration(since, "--since")
    with open_store(store, read_only=True) as st:
        name = pick_server(st, server, none_yet="the store holds no snapshots: run `pgadvisor collect` first, "
                           "or pass statements as arguments or with --file")
        w = load_workload(st, name, since=time.time() - seconds)
    if not w.statements:
        raise UsageError(f"no statement activity for {name!r} in the last {seconds / 86400:g} days of the store "
                         "(collect at least two snapshots, or widen --since)")
    return w


@app.command()
def workload(
    store: str | None = StoreOpt,
    server: str | None = typer.Option(None, "--server", help="server name (see `pgadvisor snapshots`)"),
    top: int = typer.Option(20, "--top", min=1, help="how many statements"),
    since: str = typer.Option("7d", "--since", help="window length back from now, e.g. 90m, 24h, 7d"),
    order: str = typer.Option("total_exec_time", "--order",
                              help="rank by: total_exec_time, calls, rows, shared_blks_read, temp_blks_written, ..."),
    fmt: Format = FormatOpt,
) -> None:
    """Top statements over a window, from the deltas between snapshots."""
    import time

    from pgadvisor.report.render import print_json, workload_doc, workload_table
    from pgadvisor.snapshot import COUNTERS
    from pgadvisor.store import open_store
    from pgadvisor.workload import load_workload, pick_server

    try:
        if order not in COUNTERS:
            raise UsageError(f"--order: unknown counter {order!r}; one of {', '.join(COUNTERS)}")
        seconds = _duration(since, "--since")
        with open_store(store, read_only=True) as st:
            w = load_workload(st, pick_server(st, server), since=time.time() - seconds, top=top, order=order,
                              statements_only=True)
    except PgAdvisorError as exc:
        _fail(exc)
    if fmt == Format.json:
        print_json(workload_doc(w))
    else:
        workload_table(w)


@app.command()
def prune(
    older_than: str = typer.Option(..., "--older-than", help="downsample snapshots older than this, e.g. 30d"),
    store: str | None = StoreOpt,
    fmt: Format = FormatOpt,
) -> None:
    """Downsample old snapshots to one per day; their totals are kept (deltas are summed)."""
    from pgadvisor.report.render import console, print_json
    from pgadvisor.store import open_store

    try:
        seconds = _duration(older_than, "--older-than")
        with open_store(store) as st:
            result = st.prune(seconds)
    except PgAdvisorError as exc:
        _fail(exc)
    if fmt == Format.json:
        print_json(document(**result))
    else:
        console.print(f"downsampled {result['days_downsampled']} day(s), removed {result['snapshots_removed']} "
                      "snapshot(s); totals kept")


@app.command()
def doctor(dsn: str = DsnOpt, store: str | None = StoreOpt, fmt: Format = FormatOpt) -> None:
    """Check prerequisites on the server and the store; prints the exact fix for each problem."""
    from pgadvisor.doctor import run_checks
    from pgadvisor.report.render import console, print_json, styled

    checks = run_checks(dsn, store)
    bad = [c for c in checks if not c.ok and c.level == "error"]
    if fmt == Format.json:
        print_json(document(ok=not bad, checks=[c.to_dict() for c in checks]))
    else:
        for c in checks:
            mark = ("✓", "green") if c.ok else ("✗", "red" if c.level == "error" else "yellow")
            console.print(styled(mark, f" {c.name}: {c.detail}"), soft_wrap=True)
            if not c.ok and c.fix:
                console.print(f"    fix: {c.fix}", highlight=False, soft_wrap=True)
    if bad:
        raise typer.Exit(EXIT_CANNOT_RUN)


@app.command()
def recommend(
    statements: list[str] = typer.Argument(None, help="statements to advise on instead of the store's workload"),
    dsn: str = DsnOpt,
    store: str | None = StoreOpt,
    server: str | None = typer.Option(None, "--server", help="server name in the store (see `pgadvisor snapshots`)"),
    file: str | None = typer.Option(None, "--file", help="a .sql file of statements separated by ';'"),
    since: str = typer.Option("7d", "--since", help="workload window back from now, e.g. 24h, 7d"),
    budget: str | None = typer.Option(None, "--budget", help="storage budget for new indexes, e.g. 500MB, 2GB"),
    max_indexes: int | None = typer.Option(None, "--max-indexes", min=0, help="at most this many new indexes"),
    max_width: int = typer.Option(3, "--max-width", min=1, max=8, help="at most this many key columns per index"),
    allow_prefixes: bool = typer.Option(False, "--allow-prefixes", help="propose a strict key prefix of an "
                                        "existing wider index (e.g. (a) next to a primary key (a, b)) for any "
                                        "gain; by default it must cut its statements' estimated cost by 10%, "
                                        "since the wider index already serves them"),
    time_limit: str = typer.Option(f"{DEFAULT_TIME_LIMIT_S:g}s", "--time-limit",
                                   help="deadline for the index search (screening and selection stop by then), "
                                   "e.g. 100s, 5m, or 'none'; the best configuration found by then is recommended"),
    max_slowdown: str = typer.Option("none", "--max-slowdown",
                                     help="never slow a writing statement by more than this, by estimate (index "
                                     "entries per row, HOT updates lost), e.g. 10%; 'none' (the default) only "
                                     "reports each slowed statement in the evidence"),
    apply: bool = typer.Option(False, "--apply", help="create the chosen indexes for real and re-measure "
                                                      "(for a test database: this changes the database)"),
    trust_role: list[str] = TrustOpt,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="show why each rejected candidate was rejected"),
    fmt: RecFormat = typer.Option(RecFormat.table, "--format", "-f", help="output format"),
) -> None:
    """Ranked index recommendations for the whole workload, verified with hypothetical indexes (hypopg).

    Statements come from the store's window for the server (weighted by calls), or from arguments /
    --file. The database at --dsn is only read (hypothetical indexes live in the session) unless --apply.
    """
    from pgadvisor.advise.review import recommend as run_recommend
    from pgadvisor.report.recommendations import markdown, terminal
    from pgadvisor.report.render import print_json
    from pgadvisor.units import parse_percent, parse_size

    try:
        budget_bytes = None
        if budget is not None:
            try:
                budget_bytes = parse_size(budget)
            except ValueError as exc:
                raise UsageError(f"--budget: {exc}") from None
        limit_s = None if _is_none(time_limit) else _duration(time_limit, "--time-limit")
        slowdown = None
        if not _is_none(max_slowdown):
            try:
                slowdown = parse_percent(max_slowdown)
            except ValueError as exc:
                raise UsageError(f"--max-slowdown: {exc}") from None
        texts = list(statements or [])
        if file:
            texts += _read_statements_file(file)
        with _progress() as progress:
            kwargs = dict(budget_bytes=budget_bytes, max_indexes=max_indexes, max_width=max_width, apply=apply,
                          allow_prefixes=allow_prefixes, time_limit_s=limit_s, max_slowdown_pct=slowdown,
                          progress=progress, trusted_roles=tuple(trust_role or ()))
            if texts:
                review = run_recommend(dsn, texts=texts, **kwargs)
            else:
                w = _store_workload(store, server, since)
                review = run_recommend(dsn, workload=w, **kwargs)
    except PgAdvisorError as exc:
        _fail(exc)
    if fmt == RecFormat.json:
        print_json(review.to_document())
    elif fmt == RecFormat.markdown:
        sys.stdout.write(markdown(review, verbose))
    else:
        terminal(review, verbose)


@contextmanager
def _progress():
    """A transient progress bar on stderr when it is a terminal; yields a (phase, done, total) callback."""
    from pgadvisor.report.render import err_console

    if not err_console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True) as bar:
        tasks: dict[str, int] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=max(total, 1))
            bar.update(tasks[phase], completed=done, total=max(total, 1))

        yield update


def _read_statements_file(path: str) -> list[str]:
    from pathlib import Path

    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"--file: cannot read {path}: {exc.strerror or exc}") from None
    from pgadvisor.sql.parse import split_statements

    out = split_statements(text)
    if not out:
        raise UsageError(f"--file: {path} holds no statements")
    return out


@app.command()
def demo(
    keep: bool = typer.Option(False, "--keep", help="leave the server running and print its DSN"),
    scale: float = typer.Option(1.0, "--scale", min=0.001, max=10.0, help="data size (1.0 = 200k products, ...)"),
    seconds: float = typer.Option(8.0, "--seconds", min=1.0, help="how long the workload runs between snapshots"),
    store: str | None = typer.Option(None, "--store", help="store for the demo (default: a temporary file)"),
    fmt: Format = FormatOpt,
) -> None:
    """Throwaway local PostgreSQL + e-commerce fixture workload → collect → workload view."""
    from pgadvisor.demo import run_demo

    try:
        run_demo(keep=keep, scale=scale, seconds=seconds, store=store, fmt=fmt.value)
    except PgAdvisorError as exc:
        _fail(exc)


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


__all__ = ["app", "main", "EXIT_USAGE"]

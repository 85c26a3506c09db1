"""Commands for collecting, the store, prerequisites, index advice and the demo."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

import typer

from pgadvisor.advise.review import DEFAULT_TIME_LIMIT_S
from pgadvisor.cli.app import (
    DsnOpt,
    Format,
    FormatOpt,
    RecFormat,
    StoreOpt,
    TrustOpt,
    _duration,
    _fail,
    _is_none,
    app,
)
from pgadvisor.documents import document
from pgadvisor.errors import EXIT_CANNOT_RUN, PgAdvisorError, UsageError


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
    scratch_dsn: str | None = typer.Option(None, "--scratch-dsn", envvar="PGADVISOR_SCRATCH_DSN",
                                           help="the partition advisor's scratch place: a database where pgadvisor "
                                           "may create tables (dropped after the run) holding copies of a ≤ 10% sample "
                                           "of the large tables — never the production database's schema; without "
                                           "it the partition advisor is skipped with a note"),
    scratch_schema: str | None = typer.Option(None, "--scratch-schema", help="a dedicated schema in the scratch "
                                              "database for the copies (needed when --scratch-dsn is the database "
                                              "being advised on; it must not hold the application's tables)"),
    no_partitions: bool = typer.Option(False, "--no-partitions", help="skip the partition advisor (rule "
                                       "partition-table) and its note"),
    partition_small: bool = typer.Option(False, "--partition-small-tables", help="let the partition advisor "
                                         "consider tables below shared_buffers (or 1 GiB) too"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="show why each rejected candidate was rejected"),
    fmt: RecFormat = typer.Option(RecFormat.table, "--format", "-f", help="output format"),
) -> None:
    """Ranked index recommendations for the whole workload, verified with hypothetical indexes (hypopg),
    and partition advice for its large tables (with --scratch-dsn).

    Statements come from the store's window for the server (weighted by calls), or from arguments /
    --file. The database at --dsn is only read (hypothetical indexes live in the session) unless --apply;
    the partition advisor builds its copies of samples in the --scratch-dsn database only.
    """
    from pgadvisor.advise.partitions.hook import PartitionOptions
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
                          progress=progress, trusted_roles=tuple(trust_role or ()),
                          partitions=None if no_partitions else PartitionOptions(
                              scratch_dsn=scratch_dsn or None, scratch_schema=scratch_schema or None,
                              include_small=partition_small))
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

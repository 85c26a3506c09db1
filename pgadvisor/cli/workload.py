"""`pgadvisor workload`: what the server's statements did over a window — templates, classes, clusters,
hot tables and columns, and with `--forecast` the next hour and day."""

from __future__ import annotations

import typer

from pgadvisor.cli.app import Format, FormatOpt, StoreOpt, _duration, _fail, app
from pgadvisor.errors import CannotRun, PgAdvisorError, UsageError

FORECAST_TARGETS = 5  # arrival clusters and hot templates forecast with --forecast (QueryBot5000: top clusters)


@app.command()
def workload(
    store: str | None = StoreOpt,
    server: str | None = typer.Option(None, "--server", help="server name (see `pgadvisor snapshots`)"),
    top: int = typer.Option(20, "--top", min=1, help="how many statements (JSON `statements`) and templates to show"),
    since: str = typer.Option("7d", "--since", help="window length back from now, e.g. 90m, 24h, 7d"),
    order: str = typer.Option("total_exec_time", "--order",
                              help="rank statements by: total_exec_time, calls, rows, shared_blks_read, "
                                   "temp_blks_written, ..."),
    forecast: bool = typer.Option(False, "--forecast",
                                  help=f"forecast calls and time for the next hour and day (the {FORECAST_TARGETS} "
                                       "busiest arrival clusters and hottest templates; exponential smoothing with "
                                       "daily and weekly seasonality, seasonal-naive beside it)"),
    statements: bool = typer.Option(False, "--statements",
                                    help="only the top statements by --order, as before templates (fast)"),
    fmt: Format = FormatOpt,
) -> None:
    """Templates of the window's statements with their figures and classes, clusters by behaviour and
    by arrival, hot tables and columns; from the deltas between snapshots."""
    import time
    from dataclasses import replace

    from pgadvisor.report.render import print_json
    from pgadvisor.report.workload import workload_doc, workload_table
    from pgadvisor.snapshot import COUNTERS
    from pgadvisor.store import open_store
    from pgadvisor.workload import load_workload, pick_server

    profile = None
    try:
        if order not in COUNTERS:
            raise UsageError(f"--order: unknown counter {order!r}; one of {', '.join(COUNTERS)}")
        start = time.time() - _duration(since, "--since")
        if forecast and not statements:
            from pgadvisor.analyze import forecast as fc

            if not fc.available():
                raise CannotRun(fc.MISSING)
        with open_store(store, read_only=True) as st:
            name = pick_server(st, server)
            w = load_workload(st, name, since=start, top=None if not statements else top, order=order,
                              statements_only=True)
            if not statements and w.statements:
                profile = _profile(st, name, start, w, FORECAST_TARGETS if forecast else 0)
    except PgAdvisorError as exc:
        _fail(exc)
    ranked = sorted(w.statements, key=lambda s: (-s.counters.get(order, 0.0), s.queryid))[:top]
    w = replace(w, statements=ranked)
    if fmt == Format.json:
        print_json(workload_doc(w, profile))
    else:
        workload_table(w, profile, top)


def _profile(st, server: str, since: float, w, forecast_top: int):
    """The analyzers' profile of `w`; without per-interval series when the window has a single interval
    end (the profile says so)."""
    from pgadvisor.analyze.profile import prefetch_texts, profile_workload
    from pgadvisor.analyze.series import load_series
    from pgadvisor.analyze.templates import release

    prefetch_texts(w)  # parsed in worker processes while the series is read
    try:
        try:
            series = load_series(st, server, since=since, counters=("calls", "total_exec_time"), with_server=False)
        except UsageError:
            series = None
        return profile_workload(w, series, forecast_top=forecast_top)
    finally:
        release()

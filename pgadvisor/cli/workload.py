"""`pgadvisor workload`: what the server's statements did over a window."""

from __future__ import annotations

import typer

from pgadvisor.cli.app import Format, FormatOpt, StoreOpt, _duration, _fail, app
from pgadvisor.errors import PgAdvisorError, UsageError


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

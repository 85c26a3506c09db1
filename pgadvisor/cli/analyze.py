"""`pgadvisor anomalies` and `pgadvisor report`: what changed, and the HTML review (issue 12)."""

from __future__ import annotations

from enum import Enum

import typer

from pgadvisor.cli.app import Format, FormatOpt, StoreOpt, _duration, _fail, app
from pgadvisor.errors import PgAdvisorError


class Level(str, Enum):
    none = "none"
    low = "low"
    medium = "medium"
    high = "high"


class By(str, Enum):
    template = "template"
    statement = "statement"


@app.command()
def anomalies(
    store: str | None = StoreOpt,
    server: str | None = typer.Option(None, "--server", help="server name (see `pgadvisor snapshots`)"),
    since: str = typer.Option("1d", "--since", help="report anomalies that started in this window back from now, "
                              "e.g. 90m, 24h, 7d"),
    history: str = typer.Option("7d", "--history", help="how much history before the window sets the baselines"),
    by: By = typer.Option(By.template, "--by", help="judge templates (statements that differ only in constants, "
                          "IN-list lengths, ... merged) or single statements (queryids)"),
    fail_on: Level = typer.Option(Level.none, "--fail-on", help="exit 1 when an anomaly of this severity or higher "
                                  "was found (for cron and CI); none: always exit 0"),
    fmt: Format = FormatOpt,
) -> None:
    """Regressions, spikes, plan changes, call surges and server-metric shifts, with their likely cause."""
    import time

    from pgadvisor.analyze.anomalies import SEVERITIES, find
    from pgadvisor.documents import document
    from pgadvisor.report.render import print_json
    from pgadvisor.store import open_store
    from pgadvisor.workload import pick_server

    try:
        seconds = _duration(since, "--since")
        hist = _duration(history, "--history")
        with open_store(store, read_only=True) as st:
            found, meta = find(st, pick_server(st, server), since=time.time() - seconds, history_s=hist,
                               by=by.value)
    except PgAdvisorError as exc:
        _fail(exc)
    if fmt == Format.json:
        print_json(document(window=meta, anomalies=[a.to_dict() for a in found]))
    else:
        _anomalies_table(found, meta)
    if fail_on != Level.none and any(SEVERITIES.index(a.severity) >= SEVERITIES.index(fail_on.value) for a in found):
        raise typer.Exit(1)


def _anomalies_table(found: list, meta: dict) -> None:
    from rich.table import Table

    from pgadvisor.report.render import console, short, ts

    console.print(f"{meta['server']}: {meta['intervals']} intervals since {ts(meta['since'])} judged against "
                  f"{meta['history_intervals']} before; {meta['series']} {meta['by']}s")
    for r in meta["resets"]:
        console.print(f"counters reset at {ts(r['at'])} ({r['reason']}): that interval is a gap, not a change")
    if not found:
        console.print("no anomaly above the noise floor")
        return
    t = Table(show_lines=False)
    for c in ("severity", "kind", "when", "size", "what", "likely cause"):
        t.add_column(c, overflow="fold")
    for a in found:
        what = a.metric if a.query is None else short(a.query, 60)
        size = (f"×{a.size:.2f}" if a.size != float("inf") else f"{a.observed:.4g} (was 0)") if a.size == a.size \
            else "?"
        t.add_row(a.severity, a.kind, ts(a.start), size, what,
                  a.likely_cause or "")
    console.print(t)


@app.command()
def report(
    out: str = typer.Option(..., "--out", "-o", help="the HTML file to write (one self-contained file: opens offline)"),
    store: str | None = StoreOpt,
    server: str | None = typer.Option(None, "--server", help="server name (see `pgadvisor snapshots`)"),
    since: str = typer.Option("7d", "--since", help="window back from now, e.g. 24h, 7d, 30d"),
    dsn: str | None = typer.Option(None, "--dsn", envvar="PGADVISOR_DSN",
                                   help="also run the index advisor against this database for the recommendations "
                                        "(without it: the catalog rules on the stored schema)"),
) -> None:
    """A database review as one HTML file: workload over time, top templates and their series, anomalies marked
    on them, forecasts, clusters, ranked recommendations with their SQL, index usage and table growth."""
    import time

    from pgadvisor.report.html import build, render, write
    from pgadvisor.report.render import err_console
    from pgadvisor.store import open_store
    from pgadvisor.workload import pick_server

    t0 = time.perf_counter()
    try:
        seconds = _duration(since, "--since")
        write(out, "")  # an unwritable path fails now, not after the analysis
        with open_store(store, read_only=True) as st:
            review = build(st, pick_server(st, server), since=time.time() - seconds, dsn=dsn or None,
                           progress=lambda m: err_console.print(f"report: {m}…"))
        size = write(out, render(review))
    except PgAdvisorError as exc:
        _fail(exc)
    err_console.print(f"wrote {out} ({size / 1e6:.1f} MB, {len(review['anomalies'])} anomalies) in "
                      f"{time.perf_counter() - t0:.1f} s")

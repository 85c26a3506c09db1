"""Terminal (rich) and JSON rendering of command results."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

# Texts from the server (statements, object names, errors) are printed literally: no console reads
# markup, emoji codes or highlights; our own styling goes through `styled`.
console = Console(markup=False, emoji=False, highlight=False)
err_console = Console(stderr=True, markup=False, emoji=False, highlight=False)


def styled(*parts: str | tuple[str, str]) -> Text:
    """One line of plain text parts and (text, style) parts; nothing in any part is read as markup."""
    return Text.assemble(*parts)


def ts(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str, ensure_ascii=False) + "\n")


def short(text: str, width: int = 90) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def workload_doc(w, profile=None) -> dict[str, Any]:
    """`pgadvisor workload`'s JSON document (report/workload.py)."""
    from pgadvisor.report.workload import workload_doc as doc

    return doc(w, profile)


def workload_table(w, profile=None) -> None:
    """`pgadvisor workload`'s terminal view (report/workload.py)."""
    from pgadvisor.report.workload import workload_table as table

    table(w, profile)


def coverage_lines(cov: dict[str, Any]) -> list[str]:
    out = []
    if cov.get("resets"):
        out.append(f"{cov['resets']} counter reset(s) in the window ({', '.join(cov['reset_reasons'])}): "
                   "activity between the last snapshot before and the reset is not counted")
    if cov.get("reset_statements"):
        out.append(f"{cov['reset_statements']} statement(s) were removed from pg_stat_statements by a partial "
                   "pg_stat_statements_reset(userid, dbid, queryid) between snapshots (no deallocation ran): "
                   "their activity since the snapshot before is not counted")
    if cov.get("evicted_statements"):
        out.append(f"{cov['evicted_statements']} statement(s) seen at one snapshot were gone from "
                   "pg_stat_statements at the next: their activity since the snapshot before is lost")
    if cov.get("dealloc"):
        est = cov.get("dealloc_evicted_estimate")
        out.append(f"pg_stat_statements ran {cov['dealloc']} deallocation(s) (each evicts the least-used 5% of "
                   "its entries, at least 10)" + (f": about {est:,} statement entries were evicted" if est else "")
                   + ", with the activity they had since the last snapshot; raise pg_stat_statements.max or "
                   "collect more often")
    if cov.get("hidden_statements"):
        out.append(f"{cov['hidden_statements']} statements of other roles in this database are hidden: "
                   "grant pg_read_all_stats")
    return out


def snapshots_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("the store holds no snapshots yet: run `pgadvisor collect --dsn ...`")
        return
    t = Table()
    for col in ("server", "database", "version", "snapshots", "first", "last", "statements", "resets", "evicted"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["server"], r["database"] or "-", r["server_version"] or "-", str(r["snapshots"]),
                  ts(r["first"]), ts(r["last"]), str(r["statements"]), str(r["resets"]),
                  str(r["evicted_statements"]))
    console.print(t)

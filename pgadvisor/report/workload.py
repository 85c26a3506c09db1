"""`pgadvisor workload` rendered: the JSON document and the terminal view (templates, clusters, hot
tables and columns, forecasts, sparklines of calls per hour)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rich.table import Table

from pgadvisor.documents import document
from pgadvisor.report.render import console, coverage_lines, short, styled, ts

if TYPE_CHECKING:
    from pgadvisor.analyze.profile import WorkloadProfile

SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 24
TEMPLATES_SHOWN = 20
HOT_SHOWN = 5
WIDE_TERMINAL = 150  # columns from which the templates table shows every figure


def sparkline(values, width: int = SPARK_WIDTH) -> str:
    """The values in `width` buckets (sums), one block character each; ' ' for a bucket with no data."""
    vals = [float(v) for v in values]
    if not vals:
        return ""
    n = len(vals)
    buckets = []
    for b in range(min(width, n)):
        part = [v for v in vals[b * n // min(width, n):(b + 1) * n // min(width, n)] if not math.isnan(v)]
        buckets.append(sum(part) if part else math.nan)
    top = max((v for v in buckets if not math.isnan(v)), default=0.0)
    if top <= 0:
        return "".join(" " if math.isnan(v) else SPARK[0] for v in buckets)
    return "".join(" " if math.isnan(v) else SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1) + 0.5))]
                   for v in buckets)


def _templates_doc(p: WorkloadProfile) -> list[dict[str, Any]]:
    out = []
    for i, f in enumerate(p.figures):
        d = f.to_dict()
        d.update(classes={k: p.classes[i][k] for k in ("type", "weight", "arrival")},
                 evidence=p.classes[i]["evidence"], behaviour_cluster=p.behaviour["labels"][i],
                 arrival_cluster=p.arrival["labels"][i])
        if p.hourly_calls is not None:
            d["calls_per_hour"] = [None if math.isnan(v) else v for v in p.hourly_calls[i].tolist()]
        out.append(d)
    return out


def _clusters_doc(p: WorkloadProfile) -> list[dict[str, Any]]:
    out = []
    for kind, prof in (("behaviour", p.behaviour_profiles), ("arrival", p.arrival_profiles)):
        for c in prof:
            d = {k: v for k, v in c.items() if k != "calls_series"}
            if "calls_series" in c:
                d["calls_per_hour"] = [None if math.isnan(v) else v for v in c["calls_series"]]
            out.append({"kind": kind, **d})
    return out


def workload_doc(w, profile: WorkloadProfile | None = None) -> dict[str, Any]:
    """The `--format json` document: the top statements as before, and with a profile its templates,
    clusters, hot tables and columns, read/write mix and forecasts."""
    extra: dict[str, Any] = {}
    if profile is not None:
        p = profile
        meth = {k: v for k, v in p.behaviour.items() if k != "labels"}
        arr = {k: v for k, v in p.arrival.items() if k != "labels"}
        extra = {"summary": p.templates.summary() | {"behaviour_clustering": meth, "arrival_clustering": arr},
                 "hours": p.hours, "templates": _templates_doc(p), "clusters": _clusters_doc(p),
                 "hot_tables": p.hot["tables"], "hot_columns": p.hot["columns"], "read_write": p.mix,
                 "forecasts": p.forecasts, "notes": p.notes}
    return document(server=w.server, window=w.window, coverage=w.coverage,
                    statements=[s.to_dict() for s in w.statements], **extra)


def _header(w) -> None:
    cov = w.coverage
    console.print(styled((w.server, "bold"), f" · {ts(w.window.get('start'))} → {ts(w.window.get('end'))} · "
                  f"{cov.get('intervals', 0)} intervals"))


def statements_table(w) -> None:
    """The top statements of a Workload (what `workload` printed before templates)."""
    total = sum(s.total_exec_ms for s in w.statements) or 1.0
    t = Table(show_lines=False, expand=False)
    for col in ("#", "calls", "total ms", "%", "mean ms", "rows"):
        t.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    t.add_column("query", no_wrap=True)
    qwidth = max(30, console.width - 62)
    for i, s in enumerate(w.statements, 1):
        t.add_row(str(i), f"{s.calls:,}", f"{s.total_exec_ms:,.1f}", f"{100 * s.total_exec_ms / total:.0f}",
                  f"{s.mean_exec_ms:,.2f}", f"{s.rows:,}", short(s.query, qwidth))
    console.print(t)


def workload_table(w, profile: WorkloadProfile | None = None, top: int = TEMPLATES_SHOWN) -> None:
    """The terminal view: with a profile, templates, clusters, hot objects and forecasts; else statements."""
    _header(w)
    if not w.statements:
        console.print("no statement activity in this window (collect at least two snapshots)")
    elif profile is None:
        statements_table(w)
    else:
        _profile_view(profile, top)
    for line in coverage_lines(w.coverage):
        console.print(styled(("!", "yellow"), f" {line}"))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _profile_view(p: WorkloadProfile, top: int) -> None:
    s = p.templates.summary()
    console.print(f"{s['statements']:,} statements in {s['templates']:,} templates"
                  + (f" ({s['unparsed']} not parsed, each its own template)" if s["unparsed"] else "")
                  + f" · writes {_pct(p.mix['write_calls_share'])}% of calls, "
                  f"{_pct(p.mix['write_time_share'])}% of time")
    spark = p.hourly_calls is not None
    wide = console.width >= WIDE_TERMINAL  # narrower: classes and sparkline go under the text
    t = Table(title="templates", title_justify="left", expand=False)
    numbers = ("#", "calls", "%time", "mean ms") + (("rows/call", "hit%", "temp MB") if wide else ())
    for col in numbers:
        t.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    if wide:
        t.add_column("class", no_wrap=True, min_width=16)
        t.add_column("b/a", justify="right", no_wrap=True)
        if spark:
            t.add_column("calls/hour", no_wrap=True, min_width=SPARK_WIDTH)
    # the busiest statement's own text (literally, as stored; JSON `text` has the normalized template)
    t.add_column("template" if wide else "template · classes · calls/hour", no_wrap=True)
    # what the other columns take (figures, borders and padding; wide: class, b/a and sparkline): the text
    # gets the rest
    width = max(24, console.width - (len(numbers) * 9 + 4 + ((27 + SPARK_WIDTH + 3) if wide else 0)))
    for i, f in enumerate(p.figures[:top]):
        c = p.classes[i]
        row = [str(i + 1), f"{f.calls:,}", _pct(f.time_share), f"{f.mean_ms:,.2f}"]
        classes = f"{c['type']} {c['weight']} {c['arrival']}"
        line = sparkline(p.hourly_calls[i], SPARK_WIDTH) if spark else ""
        if wide:
            row += [f"{f.rows_per_call:,.1f}", _pct(f.hit_ratio),
                    f"{f.temp_blocks * 8192 / 1e6:,.1f}" if f.temp_blocks else "-", classes,
                    f"{p.behaviour['labels'][i]}/{_lab(p.arrival['labels'][i])}"] + ([line] if spark else [])
            t.add_row(*row, short(f.example or f.text, width))
        else:
            t.add_row(*row, short(f.example or f.text, width) + "\n" + short(f"{classes}  {line}", width))
    console.print(t)
    if len(p.figures) > top:
        console.print(f"… {len(p.figures) - top:,} more templates (--top, or --format json for all)")
    _clusters_view(p)
    _hot_view(p)
    if p.forecasts:
        _forecast_view(p)
    for note in p.notes:
        console.print(styled(("note", "cyan"), f" {note}"))


def _lab(label: int) -> str:
    return "-" if label < 0 else str(label)


def _clusters_view(p: WorkloadProfile) -> None:
    b = p.behaviour
    title = (f"clusters by behaviour ({b['method']}, k={b['k']}"
             + (f", silhouette {b['silhouette']:.2f}" if b.get("silhouette") is not None else "") + ")")
    t = Table(title=title, title_justify="left", expand=False)
    for col in ("b", "templates", "calls", "%time", "mean ms", "rows/call", "hit%", "%write time"):
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column("classes", no_wrap=True)
    t.add_column("hot tables", no_wrap=True)
    for c in p.behaviour_profiles:
        cls = " ".join(next(iter(c[k])) for k in ("type", "weight") if c.get(k))
        t.add_row(_lab(c["label"]), str(c["size"]), f"{c['calls']:,}", _pct(c["time_share"]),
                  f"{c['mean_exec_ms']:,.2f}", f"{c['rows_per_call']:,.1f}", _pct(c["cache_hit_ratio"]),
                  _pct(c["write_time_share"]), cls, short(", ".join(c["hot_tables"]), 40))
    console.print(t)
    if not p.arrival_profiles:
        return
    t = Table(title=f"clusters by arrival (cosine >= {p.arrival.get('rho', 0):.2f}; "
                    f"{p.arrival.get('left_out', 0)} templates with too few calls left out)",
              title_justify="left", expand=False)
    for col in ("a", "templates", "calls", "%time"):
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column("arrival", no_wrap=True)
    t.add_column("calls/hour", no_wrap=True)
    for c in p.arrival_profiles[:10]:
        arr = ", ".join(f"{k} {v}" for k, v in c.get("arrival", {}).items())
        t.add_row(_lab(c["label"]), str(c["size"]), f"{c['calls']:,}", _pct(c["time_share"]), arr,
                  sparkline(c.get("calls_series", []), 32))
    console.print(t)


def _hot_view(p: WorkloadProfile) -> None:
    for kind in ("tables", "columns"):
        rows = p.hot[kind][:HOT_SHOWN]
        if rows:
            console.print(f"hot {kind}: " + ", ".join(f"{r['name']} ({_pct(r['time_share'])}% time)" for r in rows))


def _forecast_view(p: WorkloadProfile) -> None:
    t = Table(title="forecasts (calls; 80% intervals)", title_justify="left", expand=False)
    for col in ("target", "method", "next hour", "next day", "last day", "spikes sched/one-off"):
        t.add_column(col, justify="right" if col not in ("target", "method") else "left", no_wrap=True)
    for fc in p.forecasts:
        c = fc["calls"]
        name = f"{fc['target']} {fc['id'] if fc['target'] == 'cluster' else str(fc['id'])[:8]}"
        if "next_hour" not in c:
            t.add_row(name, c["method"], "-", "-", "-", "-")
            continue
        h, d = c["next_hour"], c["next_day"]
        t.add_row(name, c["method"], f"{h['mean']:,.0f} [{h['lower']:,.0f}–{h['upper']:,.0f}]",
                  f"{d['mean']:,.0f} [{d['lower']:,.0f}–{d['upper']:,.0f}]", f"{d['last_day']:,.0f}",
                  f"{fc['spikes']['scheduled']}/{fc['spikes']['one_off']}")
    console.print(t)

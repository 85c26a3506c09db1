"""`pgadvisor report`: one self-contained HTML review of a server's window (opens offline, no CDN).

`build(store, server, since=...)` gathers the data (series, templates, anomalies, forecasts and arrival
clusters when issue 12's analyzers are there, recommendations, index usage, table growth) into one
JSON-able dict; `render(review)` turns it into HTML: tables are written here with every value escaped
(statement texts and object names come from the monitored server: untrusted), the charts are drawn in
the browser by uPlot (MIT, ~50 kB, vendored in pgadvisor/data/report/ and inlined once) from one JSON
block whose `<`, `>` and `&` are \\u-escaped so no text can close the script element.
"""

from __future__ import annotations

import html
import json
import math
import time
from importlib import resources
from typing import Any

from pgadvisor.errors import UsageError

TOP_TEMPLATES = 10  # templates with their own chart (a choice: a review page, not a dump)
TABLE_TEMPLATES = 30  # templates in the table
MAX_POINTS = 2016  # points per chart: a week of 5-minute snapshots; longer windows are binned
HISTORY_S = 7 * 86400.0  # history before the window for the anomaly baselines (as `anomalies`)
TOP_INDEXES = 30
COUNTERS = ("calls", "total_exec_time", "rows", "shared_blks_hit", "shared_blks_read", "temp_blks_written")


def build(store: Any, server: str, *, since: float, dsn: str | None = None,
          progress: Any = None) -> dict[str, Any]:
    """Everything the review shows, as plain data."""
    from pgadvisor.analyze.anomalies import detect
    from pgadvisor.analyze.series import load_series
    from pgadvisor.analyze.templates import keys_parsed_meanwhile, template_keys

    say = progress or (lambda _m: None)
    say("series")
    with keys_parsed_meanwhile(store, server):
        s = load_series(store, server, since - HISTORY_S, None, counters=COUNTERS, max_points=MAX_POINTS)
    groups, texts = {}, {}
    keys = template_keys([(q, int(db)) for q, db in zip(s.statements["query"], s.statements["dbid"])])
    for i, q, (key, _, _) in zip(s.statements.index, s.statements["query"], keys):
        groups[int(i)] = key
        texts.setdefault(key, q)
    say("anomalies")
    found = detect(s, since=since, groups=groups, texts=texts)
    win = s.intervals["end"].to_numpy() > since
    if not win.any():
        raise UsageError("the window holds no interval: choose a longer --since")
    times = s.intervals["end"].to_numpy()[win]
    secs = s.intervals["seconds"].to_numpy()[win]
    calls, tm = s.wide("calls", groups)[win], s.wide("total_exec_time", groups)[win]
    order = tm.sum().sort_values(ascending=False).index
    review: dict[str, Any] = {
        "server": server, "since": since, "until": float(times[-1]), "generated": time.time(),
        "intervals": int(win.sum()), "templates_total": int(len(order)),
        "resets": [{"at": float(e), "reason": r} for e, r in zip(times, s.intervals["reset_reason"][win]) if r],
        "times": _list(times),
        "workload": {"calls_per_s": _list(calls.sum(axis=1, min_count=1).to_numpy() / secs),
                     "ms_per_s": _list(tm.sum(axis=1, min_count=1).to_numpy() / secs)},
        "templates": _templates(s, groups, texts, calls, tm, order, win),
        "anomalies": [a.to_dict() for a in found],
        "server_metrics": _metrics(s, win),
    }
    say("forecasts and clusters")
    review["forecast"] = _guard(lambda: _forecast(times, calls.sum(axis=1, min_count=1).to_numpy(), secs))
    review["clusters"] = _guard(lambda: _clusters(times, calls[order[:200]], secs, texts))
    say("recommendations")
    review["recommendations"] = _guard(lambda: _recommendations(store, server, since, dsn))
    review["indexes"], review["tables"] = _guard(lambda: _indexes(store, server)), _guard(
        lambda: _growth(store, server, since))
    return review


def _list(a: Any) -> list[float | None]:
    return [None if v is None or (isinstance(v, float) and not math.isfinite(v)) else round(float(v), 4)
            for v in list(a)]


def _guard(fn: Any) -> Any:
    """A section's data, or {"unavailable": why} when its analyzer is missing or fails on this data."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - one section must not sink the review
        return {"unavailable": f"{exc.__class__.__name__}: {exc}"}


def _templates(s: Any, groups: dict, texts: dict, calls: Any, tm: Any, order: Any, win: Any) -> list[dict]:
    import numpy as np

    d = s.deltas[s.deltas["seq"].isin(s.intervals.index[win]) & ~s.deltas["gap"]]
    per = d.assign(key=d["statement_id"].map(groups)).groupby("key")[list(COUNTERS)].sum()
    out = []
    total = float(tm.sum().sum()) or 1.0
    for rank, key in enumerate(order[:TABLE_TEMPLATES]):
        f = per.loc[key] if key in per.index else None
        c = float(calls[key].sum())
        t = float(tm[key].sum())
        row = {"key": str(key), "query": texts.get(key, ""), "calls": c, "total_ms": t, "share": t / total,
               "mean_ms": t / c if c else None,
               "queryids": sorted(s.statements.loc[[i for i, k in groups.items() if k == key], "queryid"])}
        if f is not None:
            blks = f["shared_blks_hit"] + f["shared_blks_read"]
            row.update(rows_per_call=float(f["rows"] / c) if c else None,
                       hit=float(f["shared_blks_hit"] / blks) if blks else None,
                       temp_blks=float(f["temp_blks_written"]))
        if rank < TOP_TEMPLATES:
            cc = calls[key].to_numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                mean = np.where(cc > 0, tm[key].to_numpy() / cc, np.nan)  # no calls: no mean (a gap, not 0)
            row["series"] = {"calls": _list(cc), "mean_ms": _list(mean)}
        out.append(row)
    return out


def _metrics(s: Any, win: Any) -> dict[str, Any]:
    m = s.server_metrics
    if m.empty:
        return {"unavailable": "the snapshots carry no database counters (collect without --no-schema stores them)"}
    m = m[win]
    cols = [c for c in ("connections", "lock_waits", "deadlocks", "cache_hit", "temp_bytes", "dead_tuples")
            if c in m and m[c].notna().any()]
    return {c: _list(m[c].to_numpy()) for c in cols}


def _forecast(times: Any, calls: Any, secs: Any) -> dict[str, Any]:
    import numpy as np

    from pgadvisor.analyze import forecast as fc

    step = float(np.median(secs))
    hours, y = fc.hourly(calls, times, step)
    out = fc.forecast(y, horizon=fc.DAY_H)
    if "mean" not in out:
        return {"unavailable": out.get("why", "no forecast")}
    return {"history_t": _list(hours), "history": _list(y), "t": _list(hours[-1] + fc.HOUR * np.arange(1, 25)),
            "mean": _list(out["mean"]), "lower": _list(out["lower"]), "upper": _list(out["upper"]),
            "method": out["method"], "level": out.get("level")}


def _clusters(times: Any, calls: Any, secs: Any, texts: dict) -> dict[str, Any]:
    import numpy as np

    from pgadvisor.analyze import clusters as cl
    from pgadvisor.analyze import forecast as fc

    step = float(np.median(secs))
    rows = [fc.hourly(calls[k].to_numpy(), times, step)[1] for k in calls.columns]
    res = cl.arrival_clusters(np.array(rows))
    by: dict[int, list[str]] = {}
    for k, lab in zip(calls.columns, res["labels"]):
        if lab >= 0:
            by.setdefault(int(lab), []).append(texts.get(k, str(k)))
    return {"method": "arrival pattern (QueryBot5000-style, analyze.clusters.arrival_clusters)",
            "clusters": [{"label": k, "templates": len(v), "examples": v[:3]} for k, v in sorted(by.items())]}


def _recommendations(store: Any, server: str, since: float, dsn: str | None) -> dict[str, Any]:
    if dsn:
        from pgadvisor.advise.review import recommend
        from pgadvisor.workload import load_workload

        doc = recommend(dsn, workload=load_workload(store, server, since=since)).to_document()
        return {"source": "recommend (live database)", "items": doc.get("recommendations", [])}
    from pgadvisor.advise.rules import CATALOG
    from pgadvisor.advise.rules.common import CatalogOptions, CatalogScan

    sid = store.server_id(server)
    schema = store.parts(sid)
    if not schema.get("relations"):
        return {"unavailable": "no schema in the store's latest snapshot"}
    scan = CatalogScan(schema, CatalogOptions(stats_window_days=(time.time() - since) / 86400))
    items = [r.to_dict() for rule in CATALOG if rule.find and rule.kind != "workload" for r in rule.find(scan)]
    rank = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
    items.sort(key=lambda r: (rank.get(str(r.get("severity")), 5), r.get("id", "")))
    return {"source": "catalog rules on the stored schema (offline; give --dsn for the index advisor)",
            "items": items}


def _indexes(store: Any, server: str) -> list[dict[str, Any]]:
    sid = store.server_id(server)
    ix = store.parts(sid, kinds=("indexes",)).get("indexes") or []
    ix = sorted(ix, key=lambda i: -(i.get("size_bytes") or 0))[:TOP_INDEXES]
    return [{"index": f"{i.get('schema')}.{i.get('name')}", "table": i.get("table"), "scans": i.get("idx_scan"),
             "size_bytes": i.get("size_bytes")} for i in ix]


def _growth(store: Any, server: str, since: float) -> list[dict[str, Any]]:
    sid = store.server_id(server)
    seqs = store.window_seqs(sid, since, None)
    if seqs is None:
        return []
    first = {(r["schema"], r["name"]): r for r in store.parts(sid, seqs[0], ("relations",)).get("relations") or []}
    last = store.parts(sid, seqs[1], ("relations",)).get("relations") or []
    out = []
    for r in last:
        f = first.get((r["schema"], r["name"]), {})
        out.append({"table": f"{r['schema']}.{r['name']}", "bytes": r.get("total_bytes"),
                    "growth_bytes": (r.get("total_bytes") or 0) - (f.get("total_bytes") or 0),
                    "live_tuples": r.get("n_live_tup"), "dead_tuples": r.get("n_dead_tup")})
    return sorted(out, key=lambda x: -(x["growth_bytes"] or 0))[:TOP_INDEXES]


# ---------------------------------------------------------------------------------------------- rendering

def _asset(name: str) -> str:
    return resources.files("pgadvisor").joinpath("data", "report", name).read_text(encoding="utf-8")


def script_json(data: Any) -> str:
    """JSON safe inside a <script> element: no `<`, `>` or `&` can end it or open a comment."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _num(v: Any, fmt: str = "{:,.0f}") -> str:
    return "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else fmt.format(v)


def _table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _section(title: str, body: str, sid: str) -> str:
    return f'<section id="{sid}"><h2>{_e(title)}</h2>{body}</section>'


def _unavailable(part: Any) -> str | None:
    if isinstance(part, dict) and "unavailable" in part:
        return f'<p class="na">Not available: {_e(part["unavailable"])}</p>'
    return None


def _ts(t: float | None) -> str:
    import datetime as dt

    return "" if t is None else dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def render(review: dict[str, Any]) -> str:
    """The review as one HTML document (charts drawn by the inlined uPlot from the embedded JSON)."""
    parts = [_header(review), _section("Workload over time", '<div class="chart" data-chart="workload"></div>'
                                       + _resets(review), "workload")]
    parts.append(_section("Top templates", _templates_html(review), "templates"))
    parts.append(_section("Anomalies", _anomalies_html(review), "anomalies"))
    parts.append(_section("Server metrics", _unavailable(review["server_metrics"])
                          or '<div class="chart" data-chart="metrics"></div>', "metrics"))
    parts.append(_section("Forecast (calls per hour, next 24 h)", _unavailable(review.get("forecast"))
                          or f'<p>{_e(review["forecast"]["method"])}, {_num(review["forecast"].get("level"), "{:.0%}")}'
                             ' prediction interval</p><div class="chart" data-chart="forecast"></div>', "forecast"))
    parts.append(_section("Clusters of templates", _clusters_html(review.get("clusters")), "clusters"))
    parts.append(_section("Recommendations", _recs_html(review.get("recommendations")), "recommendations"))
    parts.append(_section("Index usage", _indexes_html(review.get("indexes")), "indexes"))
    parts.append(_section("Table growth", _growth_html(review.get("tables")), "tables"))
    title = f"pgadvisor review: {review['server']}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; script-src \'unsafe-inline\'; '
        'style-src \'unsafe-inline\'; img-src data:">'
        f"<title>{_e(title)}</title><style>{_asset('uPlot.min.css')}\n{_asset('review.css')}</style></head><body>"
        f"{''.join(parts)}"
        f'<div id="errors" hidden></div>'
        f'<script type="application/json" id="review-data">{script_json(_chart_data(review))}</script>'
        f"<script>{_asset('uPlot.iife.min.js')}</script><script>{_asset('review.js')}</script>"
        "</body></html>\n"
    )


def _chart_data(r: dict[str, Any]) -> dict[str, Any]:
    marks = [{"t": a["start"], "key": a.get("statement"), "kind": a["kind"], "severity": a["severity"]}
             for a in r["anomalies"]]
    return {"times": r["times"], "workload": r["workload"], "marks": marks,
            "templates": [{"key": t["key"], "series": t["series"]} for t in r["templates"] if "series" in t],
            "metrics": r["server_metrics"] if "unavailable" not in r["server_metrics"] else None,
            "forecast": r.get("forecast") if "unavailable" not in (r.get("forecast") or {"unavailable": 1}) else None}


def _header(r: dict[str, Any]) -> str:
    return (f'<header><h1>{_e("pgadvisor review: " + r["server"])}</h1><p>{_e(_ts(r["since"]))} – '
            f'{_e(_ts(r["until"]))}: {r["intervals"]} intervals, {r["templates_total"]} templates, '
            f'{len(r["anomalies"])} anomalies. Generated {_e(_ts(r["generated"]))}.</p>'
            '<nav>' + " · ".join(f'<a href="#{k}">{_e(v)}</a>' for k, v in (
                ("workload", "workload"), ("templates", "templates"), ("anomalies", "anomalies"),
                ("metrics", "server"), ("forecast", "forecast"), ("clusters", "clusters"),
                ("recommendations", "recommendations"), ("indexes", "indexes"), ("tables", "tables")))
            + "</nav></header>")


def _resets(r: dict[str, Any]) -> str:
    if not r["resets"]:
        return ""
    items = "".join(f"<li>{_e(_ts(x['at']))}: {_e(x['reason'])} — a gap in the charts, not a drop</li>"
                    for x in r["resets"])
    return f"<ul class=\"gaps\">{items}</ul>"


def _templates_html(r: dict[str, Any]) -> str:
    rows = []
    for t in r["templates"]:
        chart = f'<div class="spark" data-chart="template" data-key="{_e(t["key"])}"></div>' if "series" in t else ""
        rows.append([f'<pre class="sql">{_e(t["query"])}</pre>{chart}', _num(t["calls"]),
                     _num(t["total_ms"] / 1000, "{:,.1f}"), _num(t["share"], "{:.1%}"), _num(t["mean_ms"], "{:,.3g}"),
                     _num(t.get("rows_per_call"), "{:,.3g}"), _num(t.get("hit"), "{:.1%}"), _num(t.get("temp_blks")),
                     _e(", ".join(t["queryids"][:5]))])
    return _table(["template (calls and mean time per interval)", "calls", "time s", "share", "mean ms", "rows/call",
                   "cache hit", "temp blocks", "queryids"], rows, "templates")


def _anomalies_html(r: dict[str, Any]) -> str:
    if not r["anomalies"]:
        return "<p>No anomaly above the noise floor in this window.</p>"
    rows = [[f'<span class="sev {_e(a["severity"])}">{_e(a["severity"])}</span>', _e(a["kind"]), _e(_ts(a["start"])),
             _num(a["size"], "×{:.2f}"), f'<pre class="sql">{_e(a.get("query") or a["metric"])}</pre>',
             _e(a.get("likely_cause")), "<br>".join(_e(x) for x in a.get("evidence") or [])]
            for a in r["anomalies"]]
    return _table(["severity", "kind", "when", "size", "what", "likely cause", "evidence"], rows, "anomalies")


def _clusters_html(c: Any) -> str:
    na = _unavailable(c)
    if na or not c:
        return na or "<p>No clusters.</p>"
    rows = [[_num(x["label"]), _num(x["templates"]), "".join(f'<pre class="sql">{_e(q)}</pre>' for q in x["examples"])]
            for x in c["clusters"]]
    return f"<p>{_e(c['method'])}</p>" + _table(["cluster", "templates", "examples"], rows)


def _recs_html(rec: Any) -> str:
    na = _unavailable(rec)
    if na:
        return na
    if not rec["items"]:
        return f"<p>{_e(rec['source'])}: nothing to recommend.</p>"
    rows = [[_num(i + 1), _e(x.get("severity")), _e(x.get("title")), _e(x.get("target")),
             f'<pre class="sql">{_e(x.get("sql"))}</pre>'] for i, x in enumerate(rec["items"])]
    return f"<p>{_e(rec['source'])}</p>" + _table(["#", "severity", "recommendation", "target", "SQL"], rows)


def _indexes_html(ix: Any) -> str:
    na = _unavailable(ix)
    if na or not ix:
        return na or "<p>No index in the stored schema.</p>"
    return _table(["index", "table", "scans", "size MB"],
                  [[_e(i["index"]), _e(i["table"]), _num(i["scans"]), _num((i["size_bytes"] or 0) / 2**20, "{:,.1f}")]
                   for i in ix])


def _growth_html(tb: Any) -> str:
    na = _unavailable(tb)
    if na or not tb:
        return na or "<p>No table in the stored schema.</p>"
    return _table(["table", "size MB", "growth MB", "live rows", "dead rows"],
                  [[_e(t["table"]), _num((t["bytes"] or 0) / 2**20, "{:,.1f}"),
                    _num(t["growth_bytes"] / 2**20, "{:+,.1f}"), _num(t["live_tuples"]), _num(t["dead_tuples"])]
                   for t in tb])


def write(path: str, text: str) -> int:
    """Write the review; UsageError (one line) when the path cannot be written. Bytes written."""
    from pathlib import Path

    try:
        data = text.encode("utf-8")
        Path(path).write_bytes(data)
    except OSError as exc:
        raise UsageError(f"--out {path}: cannot write: {exc.strerror or exc}") from None
    return len(data)

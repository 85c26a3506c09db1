"""Rendering of `recommend` documents: terminal table, Markdown for reviews (JSON is the document itself)."""

from __future__ import annotations

from typing import Any

from pgadvisor.report.render import console, short, styled
from pgadvisor.units import human_bytes


def _benefit(r: dict[str, Any]) -> str:
    b = r.get("benefit") or {}
    if b.get("ms_per_day") is not None and b.get("ms_per_day"):
        return f"{b['ms_per_day'] / 1000:,.1f} s/day"
    if b.get("reduction_pct") is not None:
        return f"-{b['reduction_pct']:.0f}% cost"
    return "-"


def time_limit_note(doc: dict[str, Any]) -> str | None:
    """One line when the advisor's time limit cut its run short (what was cut, what was kept), else None."""
    stats = doc.get("stats") or {}
    sel = stats.get("selection") or {}
    hit = sel.get("time_limit_hit") or []
    if not hit:
        return None
    limit = sel.get("time_limit_s") or 0
    parts = []
    searches = [h for h in hit if h != "screening"]
    if searches:
        parts.append(f"search stopped at the time limit ({limit:g} s) after {sel.get('steps', 0)} steps "
                     f"({', '.join(searches)} cut short)")
    if "screening" in hit:
        n = (stats.get("candidates") or {}).get("not_screened", 0)
        parts.append(f"{n} candidate(s) not screened before the time limit ({limit:g} s)")
    return "; ".join(parts) + ": these are the best indexes found by then (raise --time-limit for a complete run)"


def heuristic_note(doc: dict[str, Any]) -> str | None:
    """One line when the advice was not verified with hypopg (heuristic mode): why, and what that means."""
    stats = doc.get("stats") or {}
    if stats.get("mode") != "heuristic":
        return None
    reason = stats.get("mode_reason") or "hypopg is not available"
    return (f"heuristic mode, not verified with hypopg: {reason}; costs and benefits are heuristic estimates "
            "(with hypopg in this database each index is checked by the planner)")


def slowed_note(doc: dict[str, Any]) -> list[str]:
    """One line per writing statement the recommended indexes slow down, by estimate (slowest first)."""
    sel = (doc.get("stats") or {}).get("selection") or {}
    return [f"{s['slowdown_pct']:.0f}% slower (estimate): {short(s.get('query') or '', 70)} ({s['why']})"
            for s in (sel.get("slowed_statements") or [])[:10]]


def terminal(doc: dict[str, Any], verbose: bool = False) -> None:
    recs = doc["recommendations"]
    stats = doc.get("stats") or {}
    st = stats.get("statements") or {}
    console.print(styled((doc.get("database", ""), "bold"),
                         f" · {st.get('considered', 0)} of {st.get('total', 0)} statements analysed · parse rate "
                         f"{100 * (stats.get('parse') or {}).get('parse_rate', 1):.0f}% · "
                         f"{stats.get('whatif_calls', 0)} what-if calls · {stats.get('seconds', 0):.1f} s"))
    warn = ("!", "yellow")
    for line in doc.get("notes") or []:
        console.print(styled(warn, f" {line}"), soft_wrap=True)
    heuristic = heuristic_note(doc)
    if heuristic:
        console.print(styled(warn, f" {heuristic}"), soft_wrap=True)
    note = time_limit_note(doc)
    if note:
        console.print(styled(warn, f" {note}"), soft_wrap=True)
    if not recs:
        console.print("no recommendations found before the time limit" if note else
                      "no recommendations: the indexes in place already serve this workload")
    colour = {"high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}
    for i, r in enumerate(recs, 1):
        c = r.get("cost") or {}
        b = r.get("benefit") or {}
        facts = [f"benefit {_benefit(r)}"]
        if b.get("reduction_pct") is not None and b.get("ms_per_day"):
            facts.append(f"cost -{b['reduction_pct']:.0f}%")
        if c.get("size_bytes"):
            facts.append(f"size {human_bytes(c['size_bytes'])}")
        if c.get("write_overhead_pct"):
            facts.append(f"writes +{c['write_overhead_pct']:.1f}%")
        facts += [f"confidence {r['confidence']:.1f}", f"verified: {r['verified']}"]
        console.print(styled("\n", (f"{i}.", "bold"), " ", (r["severity"], colour.get(r["severity"], "white")),
                             f" {r['title']}"), soft_wrap=True)
        console.print("   " + " · ".join(facts), soft_wrap=True)
        console.print(styled(f"   {r['sql']}\n   ", ("rollback:", "dim"), f" {r['rollback_sql']}"), soft_wrap=True)
        if verbose:
            console.print(styled("   ", ("why:", "dim"), f" {r['evidence'].get('why', '')}"), soft_wrap=True)
    slowed = slowed_note(doc)
    if slowed:
        console.print(styled("\n", ("Writing statements these indexes slow down", "bold"),
                             " (--max-slowdown sets a limit)"))
        for line in slowed:
            console.print(f"  {line}", soft_wrap=True)
    if verbose and doc.get("rejected"):
        console.print(styled("\n", ("Rejected candidates", "bold")))
        for r in doc["rejected"]:
            console.print(f"  {r['id']}: {r['reason']}", soft_wrap=True)
    skipped = st.get("skip_reasons") or {}
    for reason, n in sorted(skipped.items()):
        console.print(styled(warn, f" {n} statement(s) skipped: {reason}"), soft_wrap=True)
    if stats.get("statements_other_databases"):
        console.print(styled(warn, f" {stats['statements_other_databases']} statement(s) belong to other "
                             "databases: connect to them to get their advice"))
    for a in doc.get("applied") or []:
        state = f"created in {a['seconds']:.1f} s, {human_bytes(a.get('size_bytes'))}" if a["ok"] else a["error"]
        console.print(f"applied {a['index']}: {state}")


def markdown(doc: dict[str, Any], verbose: bool = False) -> str:
    out = [f"# pgadvisor recommendations: {doc.get('database', '')}", ""]
    for line in doc.get("notes") or []:
        out += [f"> {line}", ""]
    heuristic = heuristic_note(doc)
    if heuristic:
        out += [f"> {heuristic[0].upper()}{heuristic[1:]}.", ""]
    note = time_limit_note(doc)
    if note:
        out += [f"> {note[0].upper()}{note[1:]}.", ""]
    recs = doc["recommendations"]
    if not recs:
        out.append("No recommendations found before the time limit." if note else
                   "No recommendations: the indexes in place already serve this workload.")
    else:
        out += ["| # | severity | recommendation | benefit | size | write overhead | confidence | verified |",
                "|---|---|---|---|---|---|---|---|"]
        for i, r in enumerate(recs, 1):
            c = r.get("cost") or {}
            out.append(f"| {i} | {r['severity']} | {r['title']} | {_benefit(r)} | {human_bytes(c.get('size_bytes'))} "
                       f"| {c.get('write_overhead_pct') or 0:.1f}% | {r['confidence']:.1f} | {r['verified']} |")
        for i, r in enumerate(recs, 1):
            out += ["", f"## {i}. {r['title']}", "", r["evidence"].get("why", ""), "", "```sql", r["sql"],
                    "-- rollback:", r["rollback_sql"], "```"]
            stmts = r["evidence"].get("statements") or []
            if stmts:
                out += ["", "| queryid | calls | mean ms | cost before | cost after | statement |",
                        "|---|---|---|---|---|---|"]
                for s in stmts[:10]:
                    q = short(s.get("query") or "", 80).replace("|", "\\|")
                    out.append(f"| {s['queryid']} | {s['calls']} | {s.get('mean_ms', '')} | {s.get('cost_before', '')} "
                               f"| {s.get('cost_after', '')} | `{q}` |")
    slowed = slowed_note(doc)
    if slowed:
        out += ["", "## Writing statements these indexes slow down", ""] + [
            "- " + line for line in slowed]
    if verbose and doc.get("rejected"):
        out += ["", "## Rejected candidates", ""] + [f"- `{r['id']}`: {r['reason']}" for r in doc["rejected"]]
    return "\n".join(out) + "\n"

"""Rendering of `recommend`'s Review: terminal table, Markdown for reviews (JSON is `Review.to_document()`)."""

from __future__ import annotations

from pgadvisor.findings import Recommendation, Review, Severity
from pgadvisor.report.render import console, short, styled
from pgadvisor.units import human_bytes

_COLOUR = {Severity.high: "red", Severity.medium: "yellow", Severity.low: "cyan", Severity.info: "dim"}


def _benefit(r: Recommendation) -> str:
    b = r.benefit or {}
    if b.get("ms_per_day") is not None and b.get("ms_per_day"):
        return f"{b['ms_per_day'] / 1000:,.1f} s/day"
    if b.get("reduction_pct") is not None:
        return f"-{b['reduction_pct']:.0f}% cost"
    return "-"


def time_limit_note(review: Review) -> str | None:
    """One line when the advisor's time limit cut its run short (what was cut, what was kept), else None."""
    hit = review.time_limit_hit
    if not hit:
        return None
    limit = review.time_limit_s
    parts = []
    searches = [h for h in hit if h != "screening"]
    if searches:
        parts.append(f"search stopped at the time limit ({limit:g} s) after {review.search_steps} steps "
                     f"({', '.join(searches)} cut short)")
    if "screening" in hit:
        parts.append(f"{review.not_screened} candidate(s) not screened before the time limit ({limit:g} s)")
    return "; ".join(parts) + ": these are the best indexes found by then (raise --time-limit for a complete run)"


def heuristic_note(review: Review) -> str | None:
    """One line when the advice was not verified with hypopg (heuristic mode): why, and what that means."""
    reason = review.heuristic_reason
    if reason is None:
        return None
    return (f"heuristic mode, not verified with hypopg: {reason}; costs and benefits are heuristic estimates "
            "(with hypopg in this database each index is checked by the planner)")


def slowed_note(review: Review) -> list[str]:
    """One line per writing statement the recommended indexes slow down, by estimate (slowest first)."""
    return [f"{s['slowdown_pct']:.0f}% slower (estimate): {short(s.get('query') or '', 70)} ({s['why']})"
            for s in review.slowed_statements[:10]]


def statement_changes(r: Recommendation, limit: int = 10) -> list[tuple[str, str]]:
    """(estimated change, statement) per statement of a recommendation whose evidence gives each one's
    change (partition-table: change %, pages, retention, share of the time), heaviest first; [] for the others."""
    if not any("change_pct" in s for s in r.statements):
        return []
    out = []
    for s in sorted(r.statements, key=lambda s: -(s.get("share_of_time") or 0))[:limit]:
        if s.get("change_pct") is None:
            what = f"not costed ({s.get('skipped') or 'no plan'})"
        else:
            what = f"{s['change_pct']:+.0f}%, pages {s.get('pages_before', '?')} → {s.get('pages_after', '?')}"
            what += ", becomes a DROP of old partitions" if s.get("retention") else ""
        out.append((f"{what} · {(s.get('share_of_time') or 0):.0%} of the time", short(s.get("query") or "", 70)))
    return out


def terminal(review: Review, verbose: bool = False) -> None:
    recs = review.recommendations
    console.print(styled((review.database, "bold"),
                         f" · {review.statements_considered} of {review.statements_total} statements analysed · "
                         f"parse rate {100 * review.parse_rate:.0f}% · {review.whatif_calls} what-if calls · "
                         f"{review.seconds:.1f} s"))
    warn = ("!", "yellow")
    for line in review.notes:
        console.print(styled(warn, f" {line}"), soft_wrap=True)
    heuristic = heuristic_note(review)
    if heuristic:
        console.print(styled(warn, f" {heuristic}"), soft_wrap=True)
    note = time_limit_note(review)
    if note:
        console.print(styled(warn, f" {note}"), soft_wrap=True)
    if not recs:
        console.print("no recommendations found before the time limit" if note else
                      "no recommendations: the indexes in place already serve this workload")
    for i, r in enumerate(recs, 1):
        c = r.cost or {}
        b = r.benefit or {}
        facts = [f"benefit {_benefit(r)}"]
        if b.get("reduction_pct") is not None and b.get("ms_per_day"):
            facts.append(f"cost -{b['reduction_pct']:.0f}%")
        if c.get("size_bytes"):
            facts.append(f"size {human_bytes(c['size_bytes'])}")
        if c.get("write_overhead_pct"):
            facts.append(f"writes +{c['write_overhead_pct']:.1f}%")
        facts += [f"confidence {r.confidence:.1f}", f"verified: {r.verified.value}"]
        console.print(styled("\n", (f"{i}.", "bold"), " ", (r.severity.value, _COLOUR.get(r.severity, "white")),
                             f" {r.title}"), soft_wrap=True)
        console.print("   " + " · ".join(facts), soft_wrap=True)
        for what, query in statement_changes(r):
            console.print(f"   {what}: {query}", highlight=False, soft_wrap=True)
        sql_text = r.sql.replace("\n", "\n   ")  # a multi-line migration stays under its recommendation
        console.print(styled(f"   {sql_text}\n   ", ("rollback:", "dim"), f" {r.rollback_sql}"), soft_wrap=True)
        if r.evidence.get("pg_partman"):
            console.print(styled("   ", ("with pg_partman:", "dim"), f" {r.evidence['pg_partman']}"), soft_wrap=True)
        if verbose:
            console.print(styled("   ", ("why:", "dim"), f" {r.why}"), soft_wrap=True)
    slowed = slowed_note(review)
    if slowed:
        console.print(styled("\n", ("Writing statements these indexes slow down", "bold"),
                             " (--max-slowdown sets a limit)"))
        for line in slowed:
            console.print(f"  {line}", soft_wrap=True)
    if verbose and review.rejected:
        console.print(styled("\n", ("Rejected candidates", "bold")))
        for x in review.rejected:
            console.print(f"  {x.id}: {x.reason}", soft_wrap=True)
    for reason, n in sorted(review.skip_reasons.items()):
        console.print(styled(warn, f" {n} statement(s) skipped: {reason}"), soft_wrap=True)
    if review.statements_other_databases:
        console.print(styled(warn, f" {review.statements_other_databases} statement(s) belong to other "
                             "databases: connect to them to get their advice"))
    for a in review.applied or []:
        state = f"created in {a['seconds']:.1f} s, {human_bytes(a.get('size_bytes'))}" if a["ok"] else a["error"]
        console.print(f"applied {a['index']}: {state}")


def markdown(review: Review, verbose: bool = False) -> str:
    out = [f"# pgadvisor recommendations: {review.database}", ""]
    for line in review.notes:
        out += [f"> {line}", ""]
    heuristic = heuristic_note(review)
    if heuristic:
        out += [f"> {heuristic[0].upper()}{heuristic[1:]}.", ""]
    note = time_limit_note(review)
    if note:
        out += [f"> {note[0].upper()}{note[1:]}.", ""]
    recs = review.recommendations
    if not recs:
        out.append("No recommendations found before the time limit." if note else
                   "No recommendations: the indexes in place already serve this workload.")
    else:
        out += ["| # | severity | recommendation | benefit | size | write overhead | confidence | verified |",
                "|---|---|---|---|---|---|---|---|"]
        for i, r in enumerate(recs, 1):
            c = r.cost or {}
            out.append(f"| {i} | {r.severity.value} | {r.title} | {_benefit(r)} | {human_bytes(c.get('size_bytes'))} "
                       f"| {c.get('write_overhead_pct') or 0:.1f}% | {r.confidence:.1f} | {r.verified.value} |")
        for i, r in enumerate(recs, 1):
            out += ["", f"## {i}. {r.title}", "", r.why, "", "```sql", r.sql, "-- rollback:", r.rollback_sql, "```"]
            changes = statement_changes(r)
            if r.evidence.get("pg_partman"):
                out += ["", "With pg_partman:", "", "```sql", r.evidence["pg_partman"], "```"]
            if changes:
                out += ["", "| change | statement |", "|---|---|"]
                out += ["| {} | `{}` |".format(what, query.replace("|", "\\|")) for what, query in changes]
            elif r.statements:
                out += ["", "| queryid | calls | mean ms | cost before | cost after | statement |",
                        "|---|---|---|---|---|---|"]
                for s in r.statements[:10]:
                    q = short(s.get("query") or "", 80).replace("|", "\\|")
                    out.append(f"| {s['queryid']} | {s['calls']} | {s.get('mean_ms', '')} | {s.get('cost_before', '')} "
                               f"| {s.get('cost_after', '')} | `{q}` |")
    slowed = slowed_note(review)
    if slowed:
        out += ["", "## Writing statements these indexes slow down", ""] + ["- " + line for line in slowed]
    if verbose and review.rejected:
        out += ["", "## Rejected candidates", ""] + [f"- `{x.id}`: {x.reason}" for x in review.rejected]
    return "\n".join(out) + "\n"

"""`check`'s text and Markdown views (the Markdown one fits a PR comment and `$GITHUB_STEP_SUMMARY`)."""

from __future__ import annotations

from pgadvisor.check.result import LEVELS, CheckResult, Finding

# GitHub cuts a PR or issue comment at 65,536 characters; the step summary may take 1 MiB
MARKDOWN_LIMIT = 65_536
_ICON = {"error": "🔴", "warning": "🟠", "info": "🔵"}


def _one(text: str) -> str:
    return " ".join(str(text).split())


def _where(f: Finding) -> str:
    return f" ({f.anchor[0]}:{f.anchor[1]})" if f.anchor else ""


def text(result: CheckResult, verbose: bool = False) -> str:
    """Findings at each level (new ones with fix and undo SQL), allowed and baseline ones in one line each,
    skipped rules with why, notes, and the summary line last."""
    out: list[str] = []
    order = {lv: i for i, lv in enumerate(LEVELS)}
    new = sorted((f for f in result.findings if f.status == "new"), key=lambda f: (order[f.level], f.key))
    for f in new:
        out.append(f"{f.level.upper():<8}{f.key}{_where(f)}")
        out.append(f"        {_one(f.message)}")
        if f.rec.sql:
            out.append(f"        fix:  {_one(f.rec.sql)}")
        if f.rec.rollback_sql and verbose:
            out.append(f"        undo: {_one(f.rec.rollback_sql)}")
    allowed = [f for f in result.findings if f.status == "allowed"]
    if allowed:
        out.append(f"allowed ({len(allowed)}):")
        out += [f"  {f.key}: {_one(f.allowed_by.reason)}" for f in allowed if f.allowed_by]
    known = [f for f in result.findings if f.status == "baseline"]
    if known:
        out.append(f"in the baseline ({len(known)}): " + (", ".join(f.key for f in known) if verbose else
                                                           "not failing (--verbose lists them)"))
    if result.fixed:
        out.append(f"fixed since the baseline ({len(result.fixed)}):")
        out += [f"  {row['key']}" for row in result.fixed]
    for r in result.by_status("skipped"):
        out.append(f"skipped {r.id}: {_one(r.reason)}")
    for r in result.by_status("failed"):
        out.append(f"failed  {r.id}: {_one(r.reason)}")
    if verbose:
        out += [f"off     {r.id}: {r.reason}" for r in result.by_status("off")]
    out += [f"note: {_one(n)}" for n in result.notes]
    out.append(result.summary_line())
    return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    return _one(text).replace("|", "\\|").replace("`", "'")


def markdown(result: CheckResult, limit: int = MARKDOWN_LIMIT) -> str:
    """A Markdown report: the verdict, counts per level, a table of the new findings (cut to `limit`
    characters with a line saying how many were left out), then allowed, baseline, fixed and skipped."""
    new = result.counted()
    verdict = "❌ failed" if result.failing else ("⚠️ could not run every rule" if result.by_status("failed")
                                                 else "✅ passed")
    head = [f"### pgadvisor check: {verdict}", "",
            f"`{_cell(result.database)}` on PostgreSQL {_cell(result.server_version)} · fail-on "
            f"**{result.fail_on}** · " + " · ".join(f"{_ICON[lv]} {new[lv]} {lv}" for lv in LEVELS), ""]
    tail = []
    allowed = [f for f in result.findings if f.status == "allowed"]
    if allowed:
        tail += ["", f"<details><summary>{len(allowed)} allowed</summary>", ""]
        tail += [f"- `{_cell(f.key)}`: {_cell(f.allowed_by.reason)}" for f in allowed if f.allowed_by]
        tail += ["", "</details>"]
    known = sum(1 for f in result.findings if f.status == "baseline")
    if known or result.fixed:
        tail += ["", f"{known} finding(s) in the baseline; {len(result.fixed)} fixed since: "
                 + ", ".join(f"`{_cell(r['key'])}`" for r in result.fixed[:20])]
    for r in result.by_status("skipped") + result.by_status("failed"):
        tail.append(f"- {r.status} `{r.id}`: {_cell(r.reason)}")
    tail += [f"- note: {_cell(n)}" for n in result.notes]
    tail += ["", f"<sub>{_cell(result.summary_line())}</sub>", ""]
    rows = [f for f in result.findings if f.status == "new"]
    order = {lv: i for i, lv in enumerate(LEVELS)}
    rows.sort(key=lambda f: (order[f.level], f.key))
    body = ["| level | finding | key | fix |", "|---|---|---|---|"] if rows else ["No new findings."]
    budget = limit - len("\n".join(head + tail)) - 200
    used = sum(len(x) + 1 for x in body)
    for i, f in enumerate(rows):
        line = (f"| {_ICON[f.level]} {f.level} | {_cell(f.title + _where(f))} | `{_cell(f.key)}` | "
                f"`{_cell(f.rec.sql)}` |")
        if used + len(line) + 1 > budget:
            body.append(f"\n… and {len(rows) - i} more finding(s): see the job's log or `--format json`.")
            break
        body.append(line)
        used += len(line) + 1
    return "\n".join(head + body + tail)

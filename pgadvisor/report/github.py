"""GitHub Actions workflow commands for `check`'s findings (`::error file=…,line=…,title=…::message`).

GitHub shows at most 10 error, 10 warning and 10 notice annotations per step and 50 per job
(actions/toolkit docs/problem-matchers.md, "Limitations"); more are dropped without a word. So the
first `PER_LEVEL` of each level are printed, then one notice counts the rest.
"""

from __future__ import annotations

from pgadvisor.check.result import LEVELS, CheckResult, Finding

PER_LEVEL = 10  # GitHub's annotations per level per step
COMMAND = {"error": "error", "warning": "warning", "info": "notice"}


def _data(text: str) -> str:
    """Escapes a workflow command's message (as @actions/core does)."""
    return str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    """Escapes a workflow command's property value."""
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _command(f: Finding) -> str:
    props = []
    if f.anchor:
        props += [f"file={_prop(f.anchor[0])}", f"line={f.anchor[1]}"]
    props.append(f"title={_prop(f'pgadvisor {f.rule}: {f.key}')}")
    body = f.message + (f"\nfix: {f.rec.sql}" if f.rec.sql else "")
    return f"::{COMMAND[f.level]} {','.join(props)}::{_data(body)}"


def annotations(result: CheckResult, per_level: int = PER_LEVEL) -> str:
    """One line per new finding, at most `per_level` per level (one notice slot is kept for the count of
    the rest when there are more), then the summary line as a notice-free log line."""
    by_level = {lv: [f for f in result.findings if f.status == "new" and f.level == lv] for lv in LEVELS}
    budget = {lv: per_level for lv in LEVELS}
    if any(len(found) > per_level for found in by_level.values()):
        budget["info"] = per_level - 1  # the counting notice takes one notice slot
    lines, left = [], {}
    for lv in LEVELS:
        shown = by_level[lv][: budget[lv]]
        lines += [_command(f) for f in shown]
        if len(by_level[lv]) > len(shown):
            left[lv] = len(by_level[lv]) - len(shown)
    if left:
        detail = ", ".join(f"{n} {lv}" for lv, n in left.items())
        text = (f"{sum(left.values())} more findings are not annotated (GitHub shows {per_level} per level and "
                f"step): {detail}; see the job log or the step summary")
        lines.append(f"::notice title=pgadvisor::{_data(text)}")
    lines.append(result.summary_line())
    return "\n".join(lines) + "\n"

"""Statement samples from the server's JSON log (log_destination = 'jsonlog').

pg_stat_statements replaces every constant with $n, so it cannot tell a constant the application
wrote (`status = 'pending'`, `->> 'country'`, `LIMIT 20`: partial-index and expression-index
material) from a bind parameter. The log can: with `log_min_duration_statement` set, PostgreSQL
logs the statement as the application sent it, with its query_id. For the extended protocol the
text keeps the application's constants and `$n` only for bind parameters — that text is the sample.
For the simple protocol every value is inlined; such samples are kept as they are and turned into a
template only when several of them show which constants vary (see `template_from_samples`).
Only statements EXPLAIN can plan are kept (their first keyword is one of pg/guard.py's
`EXPLAINABLE`): utility statements and anything mentioning a password are skipped, and connection
strings in the rest (texts and bind values) have their passwords redacted (redact.py), so secrets do
not reach the store. This module reads files; it sends no SQL.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pgadvisor.marker import is_marked
from pgadvisor.pg.guard import EXPLAINABLE, first_keyword
from pgadvisor.redact import redact, redact_values

_MSG = re.compile(r"^duration: ([\d.]+) ms\s+(?:execute [^:]*|statement): (.*)$", re.S)
_PARAM = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")
_TOKENS = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\$(\d+)\b)""", re.S)
# longer logged texts are not kept (pgadvisor's limit, not measured: a text this long is generated, an
# IN list or a bulk VALUES, and costing it says little)
MAX_SAMPLE_CHARS = 100_000
# literal examples costed per statement (their mean stands for its custom plans; docs/benchmarks.md,
# "custom plans"); pgadvisor's choice, each one is an EXPLAIN per what-if call
MAX_EXAMPLES = 3
# a statement whose only logged text was logged this often has the application's own constants (the
# same values every time): `status = 'pending'` in a statement sent without bind parameters
SAME_TEXT_MIN = 3


@dataclass(frozen=True)
class Sample:
    queryid: str
    dbname: str | None
    user: str | None
    text: str  # as the application sent it: its own constants, $n for bind parameters
    duration_ms: float
    values: tuple[str, ...] = ()  # the bind parameters' values (stored unless collect --no-log-values)


def substitute(text: str, params: dict[int, str]) -> str | None:
    """Put parameter literals in place of $n (not inside quotes or comments); None if one is missing."""
    missing = False

    def repl(m: re.Match) -> str:
        nonlocal missing
        if m.group(2) is None:
            return m.group(0)
        value = params.get(int(m.group(2)))
        if value is None:
            missing = True
            return m.group(0)
        return value

    out = _TOKENS.sub(repl, text)
    return None if missing else out


def parse_record(rec: dict) -> Sample | None:
    """One jsonlog record → a Sample, or None when it is not a usable statement sample."""
    if rec.get("error_severity") != "LOG" or rec.get("query_id") in (None, 0):
        return None
    m = _MSG.match(rec.get("message") or "")
    if not m:
        return None
    text = m.group(2)
    if first_keyword(text) not in EXPLAINABLE or is_marked(text) or "password" in text.lower() or \
            len(text) > MAX_SAMPLE_CHARS:
        return None
    detail = rec.get("detail") or ""
    params = {int(n): v for n, v in _PARAM.findall(detail)} if detail.startswith("parameters:") else {}
    if substitute(text, params) is None:
        return None  # a $n without its value: not a statement we can plan
    # a connection string in the text or a bind value ('host=… password=…', postgresql://u:pw@h) is redacted
    return Sample(queryid=str(rec["query_id"]), dbname=rec.get("dbname"), user=rec.get("user"), text=redact(text),
                  duration_ms=float(m.group(1)), values=redact_values(tuple(params[k] for k in sorted(params))))


_LITERAL = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\$\d+\b|\b\d+(?:\.\d+)?\b)""", re.S)


def template_from_samples(texts: list[str], times: list[int] | None = None) -> str | None:
    """The statement with $n where its samples differ and the application's constants where they agree.

    A sample with bind parameters ($n) already is that. Fully inlined samples (simple protocol, or a
    statement sent without parameters) need at least two of the same shape, or one text logged
    SAME_TEXT_MIN times (`times[i]`: how often texts[i] was): a constant seen once could be a
    parameter's value, and a partial index on it would serve only that value.
    """
    with_params = [t for t in texts if _has_param(t)]
    if with_params:
        return with_params[0]
    if len(texts) == 1 and times and times[0] >= SAME_TEXT_MIN:
        return texts[0]
    if len(texts) < 2:
        return None
    split = [_LITERAL.split(t) for t in texts]
    if len({len(parts) for parts in split}) != 1:
        return None
    out, n = [], 0
    for i, pieces in enumerate(zip(*split)):
        if i % 2 == 0:  # text between literals must be the same everywhere
            if len(set(pieces)) != 1:
                return None
            out.append(pieces[0])
        elif len(set(pieces)) == 1 or pieces[0].startswith(('"', "--", "/*")):
            out.append(pieces[0])
        else:
            n += 1
            out.append(f"${n}")
    return "".join(out)


def examples(template: str, samples: list[tuple[str, list[tuple[str, ...]]]],
             limit: int = MAX_EXAMPLES) -> list[str]:
    """Up to `limit` literal texts of the statement as the server planned them: the template's logged
    value sets substituted for its $n, or the inlined samples it was made from (simple protocol).
    Costing these gives the custom plans an application gets with bind parameters."""
    out: list[str] = []
    for text, value_sets in samples:
        if _has_param(text):
            if text != template:
                continue
            literals = [substitute(text, {i + 1: v for i, v in enumerate(vals)}) for vals in reversed(value_sets)]
        else:
            literals = [text]
        for lit in literals:
            if lit and lit not in out:
                out.append(lit)
            if len(out) >= limit:
                return out
    return out


def _has_param(text: str) -> bool:
    return any(m.group(2) for m in _TOKENS.finditer(text))


def log_files(location: str) -> list[Path]:
    """A file, a directory (its *.json files) or a glob, oldest first."""
    p = Path(location)
    if p.is_dir():
        files = [Path(f) for f in glob.glob(str(p / "*.json"))]
    elif any(ch in location for ch in "*?["):
        files = [Path(f) for f in glob.glob(location)]
    else:
        files = [p] if p.exists() else []
    return sorted(files, key=lambda f: (f.stat().st_mtime, f.name))


def read_samples(location: str, offsets: dict[str, int]) -> tuple[list[Sample], dict[str, int]]:
    """New samples since `offsets` ({file key: byte offset}); returns them and the new offsets."""
    samples: list[Sample] = []
    new = dict(offsets)
    for f in log_files(location):
        st = f.stat()
        key = f"{st.st_dev}:{st.st_ino}"
        start = offsets.get(key, 0)
        if start > st.st_size:  # truncated or replaced: start over
            start = 0
        with open(f, "rb") as fh:
            fh.seek(start)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # a half-written last line is read next time
        for rec in _records(data[:end]):
            s = parse_record(rec)
            if s is not None:
                samples.append(s)
        new[key] = start + end
    return samples, new


def _records(data: bytes) -> Iterator[dict]:
    for line in data.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            yield rec


def exists(location: str) -> bool:
    return bool(log_files(location)) or os.path.isdir(location)

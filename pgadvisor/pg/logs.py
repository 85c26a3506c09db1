"""Statement samples with real parameter values, from the server's JSON log (log_destination = 'jsonlog').

pg_stat_statements keeps texts with constants replaced by $n, and apps using the extended protocol
never show values anywhere else. With `log_min_duration_statement` set, PostgreSQL logs each slow
statement with its parameters ("execute <unnamed>: ... / parameters: $1 = '42'") and its query_id;
substituting the values gives a literal sample the advisor can plan with real selectivities
(partial-index constants, LIKE prefixes, date ranges). Only reads/writes of data are kept: utility
statements and anything mentioning a password are skipped, so secrets do not reach the store.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pgadvisor.pg.catalog import MARKER

_MSG = re.compile(r"^duration: ([\d.]+) ms\s+(?:execute [^:]*|statement): (.*)$", re.S)
_PARAM = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")
_DML = re.compile(r"^\s*(?:/\*.*?\*/\s*)*(select|with|insert|update|delete|values|table)\b", re.I | re.S)
_TOKENS = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\$(\d+)\b)""", re.S)
MAX_SAMPLE_CHARS = 100_000


@dataclass(frozen=True)
class Sample:
    queryid: str
    dbname: str | None
    user: str | None
    text: str  # the statement with its parameter values in place
    duration_ms: float


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
    if not _DML.match(text[:2000]) or MARKER in text[:200] or "password" in text.lower() or \
            len(text) > MAX_SAMPLE_CHARS:
        return None
    detail = rec.get("detail") or ""
    params = {int(n): v for n, v in _PARAM.findall(detail)} if detail.startswith("parameters:") else {}
    literal = substitute(text, params)
    if literal is None:
        return None
    return Sample(queryid=str(rec["query_id"]), dbname=rec.get("dbname"), user=rec.get("user"), text=literal,
                  duration_ms=float(m.group(1)))


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

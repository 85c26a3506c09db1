"""`pgadvisor baseline`'s file: the findings a database has today, so that `check --baseline` fails
only on new ones (and lists the fixed ones)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pgadvisor import __version__
from pgadvisor.documents import document
from pgadvisor.errors import UsageError

KIND = "pgadvisor-baseline"
# the baseline's own format; raised when keys change meaning (a baseline of another format is refused)
FORMAT = 1


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def baseline_document(database: str, server_version: str, findings: list[dict[str, Any]],
                      statements: list[str] | None = None) -> dict[str, Any]:
    """The baseline file: which database it is of, each finding's key, rule, severity and title, and the
    fingerprints of the statements the tests ran (the workload rules' "new statement" compares them)."""
    rows = sorted(({"key": f["key"], "rule": f["rule"], "severity": f["severity"], "title": f["title"]}
                   for f in findings), key=lambda r: r["key"])
    return document(kind=KIND, format=FORMAT, database=database, server_version=server_version, findings=rows,
                    statements=sorted(statements or []))


def read_baseline(path: str | Path) -> dict[str, Any]:
    """A baseline file's document; UsageError when it cannot be read, is not a baseline, or is of another
    format or pgadvisor version (major.minor: rule ids and keys may differ between versions)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--baseline: cannot read {p}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"--baseline: {p} is not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("kind") != KIND or not isinstance(doc.get("findings"), list):
        raise UsageError(f"--baseline: {p} is not a pgadvisor baseline (write one with "
                         "`pgadvisor baseline --dsn … > .pgadvisor-baseline.json`)")
    hint = "re-create it: pgadvisor baseline --dsn … > " + p.name
    if doc.get("format") != FORMAT:
        raise UsageError(f"--baseline: {p} has baseline format {doc.get('format')!r}, this pgadvisor reads "
                         f"format {FORMAT}", hint=hint)
    written_by = str(doc.get("pgadvisor", "?"))
    if _minor(written_by) != _minor(__version__):
        raise UsageError(f"--baseline: {p} was written by pgadvisor {written_by}, this is {__version__} "
                         "(rules and keys may differ between versions)", hint=hint)
    for row in doc["findings"]:
        if not isinstance(row, dict) or not isinstance(row.get("key"), str):
            raise UsageError(f"--baseline: {p}: a finding without a key: {row!r}")
    doc["path"] = str(p)
    return doc


def baseline_rows(doc: dict[str, Any], database: str) -> dict[str, dict[str, Any]]:
    """{key: row} of a baseline read by `read_baseline`; UsageError when it is of another database."""
    if doc.get("database") != database:
        raise UsageError(f"--baseline: {doc.get('path')} is of database {doc.get('database')!r}, not {database!r}",
                         hint="re-create it against this database: pgadvisor baseline --dsn …")
    return {row["key"]: row for row in doc["findings"]}

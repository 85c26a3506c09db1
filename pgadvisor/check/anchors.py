"""Where an object is defined in the team's files: the `CREATE TABLE` / `CREATE INDEX` line in a schema
file (`--schema-file`) or in migrations (`--migrations DIR`, read in file-name order: the first file
that creates an object defines it). SARIF, GitLab and GitHub annotations point at that line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pgadvisor.errors import UsageError

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_NAME = rf"(?P<name>{_IDENT}(?:\s*\.\s*{_IDENT})?)"
_CREATE = re.compile(
    r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:GLOBAL|LOCAL)\s+)?(?:TEMP(?:ORARY)?\s+|UNLOGGED\s+|UNIQUE\s+)?"
    r"(?P<kind>TABLE|INDEX|SEQUENCE|MATERIALIZED\s+VIEW|VIEW|TYPE)\s+(?:CONCURRENTLY\s+)?"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}",
    re.IGNORECASE,
)
# the migration files a directory holds (flyway V1__x.sql, rails/django/alembic keep SQL elsewhere)
MIGRATION_GLOBS = ("*.sql",)


def _unquote(ident: str) -> str:
    ident = ident.strip()
    if ident.startswith('"'):
        return ident[1:-1].replace('""', '"')
    return ident.lower()


@dataclass
class Anchors:
    """object name (`schema.name` and bare `name`) → (file, 1-based line) of its first CREATE."""

    places: dict[str, tuple[str, int]] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)  # file → its lines (for column lines)
    files: list[str] = field(default_factory=list)

    def add_file(self, path: Path, shown: str) -> None:
        text = path.read_text(encoding="utf-8", errors="replace")
        self.files.append(shown)
        self.texts[shown] = text.splitlines()
        for m in _CREATE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            parts = [_unquote(p) for p in re.split(r"\s*\.\s*(?=(?:\"|[A-Za-z_]))", m["name"], maxsplit=1)]
            for name in (".".join(parts), parts[-1]):
                self.places.setdefault(name, (shown, line))

    def locate(self, schema: str | None, name: str, column: str | None = None) -> tuple[str, int] | None:
        """The file and line that define `schema.name` (or `name`), at the column's line when found."""
        for candidate in ([f"{schema}.{name}"] if schema else []) + [name]:
            hit = self.places.get(candidate)
            if hit:
                return self._column_line(hit, column) if column else hit
        return None

    def _column_line(self, hit: tuple[str, int], column: str) -> tuple[str, int]:
        path, line = hit
        lines = self.texts.get(path, [])
        first = column.split(",")[0]
        col = re.compile(rf'^\s*(?:"{re.escape(first)}"|{re.escape(first)})\s', re.IGNORECASE)
        for i in range(line - 1, min(len(lines), line + 200)):
            if col.match(lines[i]):
                return path, i + 1
            if i > line - 1 and lines[i].strip().startswith(");"):
                break
        return hit


def load_anchors(schema_file: str | None, migrations: str | None, root: Path | None = None) -> Anchors | None:
    """The definitions in `schema_file` and the migrations directory; None when neither is given.
    Paths are shown relative to `root` (the working directory) when under it, as SARIF's and GitLab's
    viewers expect. UsageError when a path cannot be read."""
    if not schema_file and not migrations:
        return None
    root = (root or Path.cwd()).resolve()
    anchors = Anchors()
    files: list[Path] = []
    if migrations:
        d = Path(migrations)
        if not d.is_dir():
            raise UsageError(f"--migrations: {migrations} is not a directory")
        files += sorted({p for g in MIGRATION_GLOBS for p in d.rglob(g)}, key=lambda p: (str(p.parent), p.name))
    if schema_file:
        if not Path(schema_file).is_file():
            raise UsageError(f"--schema-file: {schema_file} is not a file")
        files.append(Path(schema_file))
    for p in files:
        full = p.resolve()
        shown = str(full.relative_to(root)) if full.is_relative_to(root) else str(full)
        try:
            anchors.add_file(p, shown)
        except OSError as exc:
            raise UsageError(f"cannot read {p}: {exc.strerror or exc}") from None
    return anchors

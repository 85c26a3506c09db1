"""Configuration files: `pgadvisor.toml` or `[tool.pgadvisor]` in `pyproject.toml`, found by walking up
from the working directory (the nearest directory that has one wins; `--config FILE` names one).

Precedence (DESIGN §1): flag > PGADVISOR_* environment > config file > defaults. Top-level keys
(`dsn`, `store`, ...) apply to every command that has that option; a table per command
(`[recommend] budget = "2GB"`) applies to that command only. Click applies it as the `default_map`.
The `[check]` table is `check`'s own policy (rules, allow-list, thresholds): `pgadvisor.check.config`
reads and validates it, so it is not a default_map (it names keys and lines in its errors).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgadvisor.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOMLDecodeError = tomllib.TOMLDecodeError

CONFIG_NAME = "pgadvisor.toml"
# commands whose own table is not a default_map: they read and validate it themselves
OWN_POLICY_SECTIONS = {"check": "check", "baseline": "check"}


def parse_toml(text: str) -> dict[str, Any]:
    """A TOML document as a dict; raises TOMLDecodeError."""
    return tomllib.loads(text)


def load_toml(path: Path | str) -> dict[str, Any]:
    """A TOML file (UTF-8, as TOML requires) as a dict; raises OSError, UnicodeDecodeError or TOMLDecodeError."""
    return parse_toml(Path(path).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class ConfigFile:
    """A configuration found or named: its path, pgadvisor's table of it, its text (for line numbers) and
    the table's prefix in the file (`tool.pgadvisor.` inside pyproject.toml, else empty)."""

    path: Path
    conf: dict[str, Any]
    text: str
    prefix: str = ""

    def line_of(self, table: str, key: str | None = None) -> int | None:
        """The 1-based line of `key` in `[table]` (`table` as pgadvisor names it, e.g. "check" or
        "check.allow"), or of the table's header when `key` is None; None when not found."""
        return key_line(self.text, f"{self.prefix}{table}" if table else self.prefix.rstrip("."), key)

    def where(self, table: str, key: str | None = None) -> str:
        """`path:line` for messages (just the path when the line is not found)."""
        line = self.line_of(table, key)
        return f"{self.path}:{line}" if line else str(self.path)


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _norm_table(name: str) -> str:
    return ".".join(p.strip().strip('"').strip("'") for p in name.split("."))


def key_line(text: str, table: str, key: str | None = None) -> int | None:
    """The line of `key =` inside the table `table` (dotted path; array-of-tables headers count too), or
    of the table's header when `key` is None. TOML parsers keep no positions: this reads the text."""
    current = ""
    want = _norm_table(table) if table else ""
    key_re = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=") if key is not None else None
    for number, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m:
            current = _norm_table(m.group(1))
            if key is None and current == want:
                return number
            continue
        if key_re is not None and current == want and key_re.match(line):
            return number
    return None


def table_headers(text: str, table: str) -> list[int]:
    """The lines of every header of `table` (`[[check.allow]]` once per entry), in order."""
    want = _norm_table(table)
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m and _norm_table(m.group(1)) == want:
            out.append(number)
    return out


def _read(path: Path) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text(encoding="utf-8")
        return parse_toml(text), text
    except (OSError, UnicodeDecodeError, TOMLDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UsageError(f"cannot read the configuration file {path}: {reason}") from None


def read_config(path: Path | str) -> ConfigFile:
    """A configuration file named by the user (`--config`): a pgadvisor.toml, or a pyproject.toml whose
    `[tool.pgadvisor]` table is used (an empty one when it has none)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--config: {path} is not a file")
    conf, text = _read(path)
    if path.name == "pyproject.toml":
        section = conf.get("tool", {}).get("pgadvisor", {})
        if not isinstance(section, dict):
            raise UsageError(f"{path}: [tool.pgadvisor] must be a table")
        return ConfigFile(path, section, text, "tool.pgadvisor.")
    return ConfigFile(path, conf, text)


def locate_config(cwd: Path | None = None) -> ConfigFile | None:
    """The nearest configuration from `cwd` up to the filesystem root: in each directory pgadvisor.toml,
    else a pyproject.toml that has a `[tool.pgadvisor]` table; None when there is none."""
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        own = folder / CONFIG_NAME
        if own.is_file():
            conf, text = _read(own)
            return ConfigFile(own, conf, text)
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            conf, text = _read(pyproject)
            section = conf.get("tool", {}).get("pgadvisor")
            if isinstance(section, dict):
                return ConfigFile(pyproject, section, text, "tool.pgadvisor.")
    return None


def find_config(cwd: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """(path, pgadvisor's table) of the nearest configuration (see `locate_config`), or None."""
    found = locate_config(cwd)
    return (found.path, found.conf) if found else None


def shared_options(conf: dict[str, Any]) -> dict[str, Any]:
    """The top-level keys (options of every command), as click parameter names."""
    return {k.replace("-", "_"): v for k, v in conf.items() if not isinstance(v, dict)}


def default_map(commands: list[str], cwd: Path | None = None) -> dict[str, dict[str, Any]]:
    """Click default_map: {command: {option_name: value}} from the configuration file, if any."""
    found = find_config(cwd)
    if not found:
        return {}
    path, conf = found
    shared = shared_options(conf)
    out: dict[str, dict[str, Any]] = {}
    for name in commands:
        own = conf.get(name, {})
        if not isinstance(own, dict):
            raise UsageError(f"{path}: [{name}] must be a table")
        if name in OWN_POLICY_SECTIONS:
            out[name] = dict(shared)  # the command reads its table itself
            continue
        out[name] = {**shared, **{k.replace("-", "_"): v for k, v in own.items()}}
    unknown = [k for k, v in conf.items() if isinstance(v, dict) and k not in commands]
    if unknown:
        raise UsageError(f"{path}: unknown command section(s): {', '.join(sorted(unknown))}")
    return out

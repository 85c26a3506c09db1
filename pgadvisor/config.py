"""Configuration files: `pgadvisor.toml` or `[tool.pgadvisor]` in `pyproject.toml` (current directory).

Precedence (DESIGN §1): flag > PGADVISOR_* environment > config file > defaults. Top-level keys
(`dsn`, `store`, ...) apply to every command that has that option; a table per command
(`[recommend] budget = "2GB"`) applies to that command only. Click applies it as the `default_map`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pgadvisor.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOMLDecodeError = tomllib.TOMLDecodeError


def parse_toml(text: str) -> dict[str, Any]:
    """A TOML document as a dict; raises TOMLDecodeError."""
    return tomllib.loads(text)


def load_toml(path: Path | str) -> dict[str, Any]:
    """A TOML file (UTF-8, as TOML requires) as a dict; raises OSError, UnicodeDecodeError or TOMLDecodeError."""
    return parse_toml(Path(path).read_text(encoding="utf-8"))


def find_config(cwd: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    cwd = cwd or Path.cwd()
    own = cwd / "pgadvisor.toml"
    try:
        if own.is_file():
            return own, load_toml(own)
        pyproject = cwd / "pyproject.toml"
        if pyproject.is_file():
            section = load_toml(pyproject).get("tool", {}).get("pgadvisor")
            if isinstance(section, dict):
                return pyproject, section
    except (OSError, UnicodeDecodeError, TOMLDecodeError) as exc:
        raise UsageError(f"cannot read the configuration file in {cwd}: {exc}") from None
    return None


def default_map(commands: list[str], cwd: Path | None = None) -> dict[str, dict[str, Any]]:
    """Click default_map: {command: {option_name: value}} from the configuration file, if any."""
    found = find_config(cwd)
    if not found:
        return {}
    path, conf = found
    shared = {k.replace("-", "_"): v for k, v in conf.items() if not isinstance(v, dict)}
    out: dict[str, dict[str, Any]] = {}
    for name in commands:
        own = conf.get(name, {})
        if not isinstance(own, dict):
            raise UsageError(f"{path}: [{name}] must be a table")
        out[name] = {**shared, **{k.replace("-", "_"): v for k, v in own.items()}}
    unknown = [k for k, v in conf.items() if isinstance(v, dict) and k not in commands]
    if unknown:
        raise UsageError(f"{path}: unknown command section(s): {', '.join(sorted(unknown))}")
    return out

"""The /* pgadvisor */ marker on pgadvisor's own statements, so that every analysis can leave them out."""

from __future__ import annotations

import re

MARKER = "/* pgadvisor */"
_FIRST_WORD = re.compile(r"\s*([A-Za-z_]+)")
_MARKED = re.compile(r"\s*(?:[A-Za-z_]+\s*)?" + re.escape(MARKER))


def mark(sql: str) -> str:
    """`sql` with the marker right after its first keyword: `SELECT /* pgadvisor */ …`.

    pg_stat_statements keeps a statement's text from its first token on, and PostgreSQL 18 no longer
    counts a leading comment as part of the statement: `/* pgadvisor */ SELECT …` is stored as `SELECT …`.
    A comment after the first keyword is kept by every version. Text that does not start with a keyword
    gets the marker in front (the old form)."""
    m = _FIRST_WORD.match(sql)
    if not m:
        return f"{MARKER} {sql}"
    return f"{m.group(1)} {MARKER}{sql[m.end():]}"


def is_marked(text: str | None) -> bool:
    """A text pgadvisor sent: the marker after the first keyword, or in front (stores written before 18)."""
    return bool(text) and _MARKED.match(text) is not None


# the one statement hypopg runs itself (SPI, in hypopg_create_index): seen as a nested statement under
# pg_stat_statements.track = all, caused by pgadvisor's what-if calls
_HYPOPG_OWN = "SELECT max(oid) FROM pg_catalog.pg_class WHERE oid < $1"


def is_own(text: str | None) -> bool:
    """Our own statements carry the marker (after the first keyword, or in front in older stores) and are
    left out of every analysis, with hypopg's own catalog query."""
    return is_marked(text) or text == _HYPOPG_OWN

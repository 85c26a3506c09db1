"""Redact secrets from statement texts before they are stored (DESIGN §5).

pg_stat_statements keeps utility statements verbatim (`ALTER ROLE app PASSWORD 'secret'`,
`CREATE SUBSCRIPTION … CONNECTION 'host=… password=…'`, `CREATE USER MAPPING … OPTIONS (password
'…')`), and a logged statement or its bind values can carry a connection string
(`dblink_connect('… password=…')`, `postgresql://user:secret@host/db`). `redact()` finds them with a
small lexer that knows PostgreSQL's quoting — '' and E'' strings (with backslash escapes and the
newline continuation of a literal), U&'' strings, dollar quotes, quoted identifiers, nested comments
— and replaces

- the string literal after the word PASSWORD or SSLPASSWORD (ALTER/CREATE ROLE/USER … [ENCRYPTED]
  PASSWORD '…', OPTIONS (password '…'), `password = '…'`) with '<redacted>';
- in any other literal or comment, the value of a `password=…` connection-string key (quoted or
  not) and the password of a `scheme://user:password@host` URI with <redacted>; a literal whose
  quoting is ambiguous (backslashes in a plain '' literal, which standard_conforming_strings=off
  would read differently, or U&'' escapes) is replaced whole.

A text without such a secret comes back unchanged (the same object).
"""

from __future__ import annotations

import re

from pgadvisor.lexer import CONTINUE as _CONTINUE
from pgadvisor.lexer import ESC_BODY as _ESC_BODY
from pgadvisor.lexer import Token as _Tok
from pgadvisor.lexer import decode_esc as _decode_esc
from pgadvisor.lexer import lex as _lex

REDACTED = "<redacted>"
REDACTED_LITERAL = f"'{REDACTED}'"
_SECRET_WORDS = frozenset({"password", "sslpassword"})


# inside a literal or comment: a connection-string key ending in "password" (libpq conninfo, URI query,
# JSON) and its value — a libpq quoted value, a JSON string, or everything up to whitespace
_KEY_VALUE = re.compile(
    r"""(password["']?\s*[=:]\s*)('(?:[^'\\]|\\.)*(?:'|\Z)|"(?:[^"\\]|\\.)*(?:"|\Z)|(?:\\.|[^\s\\])*\\?)""",
    re.I | re.S,
)
_URI_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:)([^\s@/]*)(@)")


def might_hold_secret(text: str) -> bool:
    """False when `text` cannot hold anything `redact` would change (a cheap test on the raw text:
    a secret hidden by escapes needs a backslash or U&)."""
    low = text.lower()
    return "password" in low or "://" in low or "\\" in text or "u&" in low


def redact(text: str) -> str:
    """`text` with its password literals and connection-string passwords replaced by <redacted>."""
    if not text or not might_hold_secret(text):
        return text
    toks = list(_lex(text))
    edits: list[tuple[int, int, str]] = []
    done: set[int] = set()
    for i, t in enumerate(toks):
        word = t.text.lower() if t.kind in ("ident", "qident") and t.text else None
        if word in _SECRET_WORDS:
            j = _next_significant(toks, i + 1)
            if j is not None and toks[j].kind == "other" and text[toks[j].start : toks[j].end] == "=":
                j = _next_significant(toks, j + 1)
            if j is not None and toks[j].kind == "string":
                edits.append((toks[j].start, _widest_end(text, toks[j]), REDACTED_LITERAL))
                done.add(j)
    for i, t in enumerate(toks):
        if i in done:
            continue
        if t.kind == "string":
            new = _redact_literal(text, t)
            if new is not None:
                edits.append((t.start, _widest_end(text, t), new))
        elif t.kind == "comment" and _holds_value_secret(t.text):
            raw = text[t.start : t.end]
            edits.append((t.start, t.end, f"/* {REDACTED} */" if raw.startswith("/*") else f"-- {REDACTED}"))
    if not edits:
        return text
    out, pos = [], 0
    for start, end, new in sorted(edits):
        if start < pos:  # an edit inside a literal already replaced whole
            continue
        out.append(text[pos:start])
        out.append(new)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def redact_values(values: tuple[str, ...]) -> tuple[str, ...]:
    """Logged bind-parameter values ('…' literals or NULL), each redacted like a statement text."""
    return tuple(redact(v) for v in values)


def _holds_value_secret(content: str | None) -> bool:
    return content is not None and bool(_KEY_VALUE.search(content) or _URI_USERINFO.search(content))


def _redact_value(content: str) -> str:
    content = _KEY_VALUE.sub(lambda m: m.group(1) + REDACTED, content)
    return _URI_USERINFO.sub(lambda m: m.group(1) + REDACTED + m.group(3), content)


def _redact_literal(text: str, t: _Tok) -> str | None:
    """The replacement of a string literal holding a connection-string secret, None if it holds none."""
    raw = text[t.start : t.end]
    if t.mode == "std" and "\\" in raw:  # read both ways (standard_conforming_strings on and off)
        alt = _decode_esc(text[t.start + raw.index("'") + 1 : _widest_end(text, t)])
        return REDACTED_LITERAL if _holds_value_secret(t.text) or _holds_value_secret(alt) else None
    if not _holds_value_secret(t.text):
        return None
    if t.mode in ("uni", "bits"):
        return REDACTED_LITERAL  # escaped quoting: the whole literal goes
    new = _redact_value(t.text)
    if t.mode == "dollar" and t.tag not in new:
        return f"{t.tag}{new}{t.tag}"
    if t.mode == "esc":
        return "E'" + new.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "'" + new.replace("'", "''") + "'"


def _widest_end(text: str, t: _Tok) -> int:
    """Where a literal ends, also as standard_conforming_strings=off would read a '' literal with
    backslashes (the later of the two), so no part of a secret is left behind either way."""
    if t.mode != "std":
        return t.end
    raw = text[t.start : t.end]
    if "\\" not in raw:
        return t.end
    q = t.start + raw.index("'")
    m = _ESC_BODY.match(text, q + 1)
    end = m.end()
    while True:
        c = _CONTINUE.match(text, end)
        if not c:
            break
        end = _ESC_BODY.match(text, c.end()).end()
    return max(t.end, end)


def _next_significant(toks: list[_Tok], i: int) -> int | None:
    while i < len(toks):
        if toks[i].kind not in ("ws", "comment"):
            return i
        i += 1
    return None


def redact_setting(value: str | None) -> str | None:
    """A server setting's value (primary_conninfo holds a connection string) with its password redacted."""
    if not value or not might_hold_secret(value) or not _holds_value_secret(value):
        return value
    return _redact_value(value)


def redact_settings(rows: list[dict]) -> list[dict]:
    """pg_settings rows with the passwords in their values redacted (setting, boot_val, reset_val)."""
    for r in rows:
        for key in ("setting", "boot_val", "reset_val"):
            if isinstance(r.get(key), str):
                r[key] = redact_setting(r[key])
    return rows

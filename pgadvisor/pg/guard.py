"""What pgadvisor may send to EXPLAIN: one statement it read from the server, never code of other roles.

Statement texts, logged samples and object names were written by other roles (DESIGN §5). Before a
text is planned it must pass two checks:

1. `refusal`: it is exactly one statement (no top-level `;` followed by more), of a kind EXPLAIN
   plans without running it (SELECT, WITH, INSERT, UPDATE, DELETE, MERGE, VALUES, TABLE). The caller
   also sends it with the extended query protocol, where PostgreSQL itself refuses a second statement.
2. `CodeGuard.reason`: it names no function, operator, type or relation that would make the planner
   run code written by a role we do not trust. Planning folds IMMUTABLE calls with constant arguments
   and, to estimate selectivities, STABLE ones and the operators' functions against the statistics,
   so `SELECT evil()` would run `evil` as pgadvisor's role even without ANALYZE. Trusted code is
   code only a trusted role can have written: functions owned by a superuser (the built-ins and the
   extensions a superuser installed), C and internal functions (only a superuser can create them),
   and the roles and schemas the user names. Everything else is untrusted, and so is every relation
   whose planning would reach it: a view (also through other views), a column default, a row
   security policy, a check constraint or an index expression that calls it. The check is by name
   over the text's tokens, so it is conservative: a column that shares a name with an untrusted
   function also makes the statement skipped, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# the statement kinds EXPLAIN (without ANALYZE) plans without executing; everything else is refused
EXPLAINABLE = frozenset({"select", "with", "insert", "update", "delete", "merge", "values", "table"})

_OP_CHARS = set("+-*/<>=~!@#%^&|`?")
_IDENT_START = re.compile(r"[A-Za-z_\u0080-\U0010ffff]")
_IDENT = re.compile(r"[A-Za-z0-9_$\u0080-\U0010ffff]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")


class Unlexable(ValueError):
    """A text whose quoting cannot be followed (an unterminated string, comment or identifier)."""


@dataclass(frozen=True)
class Token:
    kind: str  # word, quoted, op, semicolon, param, string, number, punct
    text: str


def fold(name: str) -> str:
    """An unquoted identifier as PostgreSQL stores it (ASCII letters lowered, others kept)."""
    return "".join(c.lower() if c.isascii() else c for c in name)


def tokens(text: str) -> list[Token]:
    """PostgreSQL's lexical structure, as far as the checks need it: comments (nested) dropped,
    strings (standard, E'', dollar-quoted) kept whole, quoted identifiers unquoted."""
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while depth:
                if i >= n:
                    raise Unlexable("unterminated /* comment")
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "'" or (c in "eE" and text.startswith("'", i + 1)) or (
                c in "bBxXnN" and text.startswith("'", i + 1)):
            backslash = c in "eE"
            i = i + 1 if c != "'" else i
            j = i + 1
            while True:
                if j >= n:
                    raise Unlexable("unterminated string")
                if backslash and text[j] == "\\":
                    j += 2
                    continue
                if text[j] == "'":
                    if text.startswith("'", j + 1):
                        j += 2
                        continue
                    break
                j += 1
            out.append(Token("string", text[i:j + 1]))
            i = j + 1
        elif c in "uU" and text.startswith("&", i + 1) and text[i + 2:i + 3] in ("'", '"'):
            raise Unlexable("a Unicode-escaped string or identifier (U&) is not followed")
        elif c == '"':
            j = i + 1
            buf = []
            while True:
                if j >= n:
                    raise Unlexable("unterminated quoted identifier")
                if text[j] == '"':
                    if text.startswith('"', j + 1):
                        buf.append('"')
                        j += 2
                        continue
                    break
                buf.append(text[j])
                j += 1
            out.append(Token("quoted", "".join(buf)))
            i = j + 1
        elif c == "$":
            m = re.compile(r"\$\d+").match(text, i)
            if m:
                out.append(Token("param", m.group()))
                i = m.end()
                continue
            m = _DOLLAR_TAG.match(text, i)
            if not m:
                out.append(Token("punct", c))
                i += 1
                continue
            end = text.find(m.group(), m.end())
            if end < 0:
                raise Unlexable("unterminated dollar-quoted string")
            out.append(Token("string", text[i:end + len(m.group())]))
            i = end + len(m.group())
        elif _IDENT_START.match(c):
            m = _IDENT.match(text, i + 1)
            out.append(Token("word", text[i:m.end()]))
            i = m.end()
        elif c.isdigit():
            m = re.compile(r"[0-9][0-9_]*(\.[0-9_]*)?([eE][+-]?[0-9]+)?|[0-9A-Za-z_]+").match(text, i)
            out.append(Token("number", m.group()))
            i = m.end()
        elif c in _OP_CHARS:
            j = i
            while j < n and text[j] in _OP_CHARS and not text.startswith(("--", "/*"), j):
                j += 1
            out.append(Token("op", text[i:j]))
            i = j
        elif c == ";":
            out.append(Token("semicolon", c))
            i += 1
        else:
            out.append(Token("punct", c))
            i += 1
    return out


def refusal(text: str) -> str | None:
    """Why `text` may not be sent to EXPLAIN as one statement, or None when it may."""
    try:
        toks = tokens(text)
    except Unlexable as exc:
        return f"not explained: {exc}"
    while toks and toks[-1].kind == "semicolon":
        toks.pop()
    if not toks:
        return "not explained: an empty statement"
    if any(t.kind == "semicolon" for t in toks):
        return "not explained: several statements in one text"
    first = toks[0]
    while first.kind == "punct" and first.text == "(" and len(toks) > 1:  # (SELECT …) UNION …
        toks = toks[1:]
        first = toks[0]
    if first.kind != "word" or fold(first.text) not in EXPLAINABLE:
        return f"not explained: a {first.text[:20]!r} statement (only SELECT/INSERT/UPDATE/DELETE/MERGE are planned)"
    return None


@dataclass
class CodeGuard:
    """Names whose use makes the planner reach untrusted code, with what each one is."""

    names: dict[str, str] = field(default_factory=dict)  # identifier (as stored) → description
    operators: dict[str, str] = field(default_factory=dict)  # operator symbol → description
    trusted_roles: tuple[str, ...] = ()
    trusted_schemas: tuple[str, ...] = ()
    # the advisor asks about the same texts thousands of times (every what-if call): answers are kept
    _answers: dict[str, str | None] = field(default_factory=dict, repr=False)

    @classmethod
    def from_rows(cls, rows: Iterable[dict[str, Any]], trusted_roles: Iterable[str] = (),
                  trusted_schemas: Iterable[str] = ()) -> CodeGuard:
        """From catalog.untrusted_code's rows: {kind: function|operator|type|relation, name, what}."""
        guard = cls(trusted_roles=tuple(trusted_roles), trusted_schemas=tuple(trusted_schemas))
        for r in rows:
            target = guard.operators if r["kind"] == "operator" else guard.names
            target.setdefault(r["name"], r["what"])
        return guard

    def reason(self, text: str) -> str | None:
        """Why `text` may not be planned (one statement, no untrusted code), or None."""
        if text not in self._answers:
            self._answers[text] = self._reason(text)
        return self._answers[text]

    def _reason(self, text: str) -> str | None:
        why = refusal(text)
        if why:
            return why
        if not self.names and not self.operators:
            return None
        for t in tokens(text):
            name = fold(t.text) if t.kind == "word" else t.text if t.kind == "quoted" else None
            if name is not None and name in self.names:
                return f"not explained: it names {self.names[name]}, which is not trusted code " \
                       f"(planning could run it as pgadvisor; --trust-role to allow)"
            if t.kind == "op":
                for sym, what in self.operators.items():
                    if sym in t.text:
                        return f"not explained: it may use {what}, which is not trusted code " \
                               f"(planning could run it as pgadvisor; --trust-role to allow)"
        return None

    def __len__(self) -> int:
        return len(self.names) + len(self.operators)

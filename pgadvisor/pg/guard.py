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

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pgadvisor.lexer import lex

# the statement kinds EXPLAIN (without ANALYZE) plans without executing; everything else is refused
EXPLAINABLE = frozenset({"select", "with", "insert", "update", "delete", "merge", "values", "table"})

_OP_CHARS = frozenset("+-*/<>=~!@#%^&|`?")


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
    """The text's tokens for the checks (pgadvisor/lexer.py, without whitespace and comments): quoted
    identifiers decoded, runs of operator characters joined into one operator."""
    out: list[Token] = []
    glued = -1  # where the last operator character ended: the next one continues its operator
    for t in lex(text):
        if not t.closed:
            raise Unlexable(f"unterminated {'comment' if t.kind == 'comment' else 'quoted text'}")
        raw = text[t.start:t.end]
        if t.kind in ("ws", "comment"):
            continue
        if t.kind == "string":
            out.append(Token("string", raw))
        elif t.kind == "qident":
            out.append(Token("quoted", t.text or ""))
        elif t.kind == "ident":
            out.append(Token("word", raw))
        elif raw.startswith("$"):
            out.append(Token("param" if len(raw) > 1 else "punct", raw))
        elif raw == ";":
            out.append(Token("semicolon", raw))
        elif raw in _OP_CHARS:
            if out and out[-1].kind == "op" and glued == t.start:
                out[-1] = Token("op", out[-1].text + raw)
            else:
                out.append(Token("op", raw))
            glued = t.end
        else:
            out.append(Token("number" if raw.isdigit() else "punct", raw))
    return out


def words(text: str) -> Iterator[str]:
    """The text's unquoted words (keywords and names) in order, folded; strings, quoted identifiers and
    comments are skipped."""
    for t in lex(text):
        if t.kind == "ident":
            yield fold(text[t.start:t.end])


def first_keyword(text: str) -> str:
    """The statement's first keyword, folded, after comments and opening parentheses ('' if the text
    starts with something else): `EXPLAINABLE` holds the kinds that may be planned."""
    for t in lex(text):
        raw = text[t.start:t.end]
        if t.kind in ("ws", "comment") or raw == "(":
            continue
        return fold(raw) if t.kind == "ident" else ""
    return ""


def refusal(text: str) -> str | None:
    """Why `text` may not be sent to EXPLAIN as one statement, or None when it may."""
    try:
        return _shape_refusal(tokens(text))
    except Unlexable as exc:
        return f"not explained: {exc}"


def _shape_refusal(toks: list[Token]) -> str | None:
    toks = toks[:]
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


def load(conn: Any, trusted_roles: Iterable[str] = ()) -> CodeGuard:
    """The guard for the connected database: code owned by a superuser or by `trusted_roles` is trusted."""
    from pgadvisor.pg import catalog

    return CodeGuard.from_rows(catalog.untrusted_code(conn, list(trusted_roles)))


@dataclass
class CodeGuard:
    """Names whose use makes the planner reach untrusted code, with what each one is."""

    names: dict[str, str] = field(default_factory=dict)  # identifier (as stored) → description
    operators: dict[str, str] = field(default_factory=dict)  # operator symbol → description
    # the advisor asks about the same texts thousands of times (every what-if call): answers are kept
    _answers: dict[str, str | None] = field(default_factory=dict, repr=False)

    @classmethod
    def from_rows(cls, rows: Iterable[dict[str, Any]]) -> CodeGuard:
        """From catalog.untrusted_code's rows: {kind: function|operator|type|relation, name, what}."""
        guard = cls()
        for r in rows:
            target = guard.operators if r["kind"] == "operator" else guard.names
            target.setdefault(r["name"], r["what"])
        return guard

    def reason(self, text: str) -> str | None:
        """Why `text` may not be planned (one statement, no untrusted code), or None."""
        if text not in self._answers:
            self._answers[text] = self._reason(text)
        return self._answers[text]

    def untrusted(self, text: str) -> bool:
        """Whether `text` is refused for the code it reaches (not for its shape)."""
        return self.reason(text) is not None and refusal(text) is None

    def _reason(self, text: str) -> str | None:
        try:
            toks = tokens(text)
        except Unlexable as exc:
            return f"not explained: {exc}"
        why = _shape_refusal(toks)
        if why:
            return why
        for t in toks:
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

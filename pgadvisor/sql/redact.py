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

REDACTED = "<redacted>"
REDACTED_LITERAL = f"'{REDACTED}'"
_SECRET_WORDS = frozenset({"password", "sslpassword"})

_IDENT = re.compile(r"[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*")
_WS = re.compile(r"\s+")
_PARAM = re.compile(r"\$\d+")
_DOLLAR = re.compile(r"\$(?:[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")
_QIDENT = re.compile(r'"(?:[^"]|"")*(?:"|\Z)')
_STD_BODY = re.compile(r"((?:[^']|'')*)('|\Z)")
_ESC_BODY = re.compile(r"((?:[^'\\]|\\.|'')*\\?)('|\Z)", re.S)
# PostgreSQL glues 'a'<whitespace with a newline>'b' into one constant ('ab')
_CONTINUE = re.compile(r"[ \t\f\v]*[\n\r](?:[ \t\n\r\f\v]+|--[^\n\r]*[\n\r])*'")
_UESCAPE = re.compile(r"\s*uescape\s*'([^'])'", re.I)
_BLOCK = re.compile(r"/\*|\*/")

# inside a literal or comment: a connection-string key ending in "password" (libpq conninfo, URI query,
# JSON) and its value — a libpq quoted value, a JSON string, or everything up to whitespace
_KEY_VALUE = re.compile(
    r"""(password["']?\s*[=:]\s*)('(?:[^'\\]|\\.)*(?:'|\Z)|"(?:[^"\\]|\\.)*(?:"|\Z)|(?:\\.|[^\s\\])*\\?)""",
    re.I | re.S,
)
_URI_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:)([^\s@/]*)(@)")

_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class _Tok:
    __slots__ = ("kind", "start", "end", "text", "mode", "tag")

    def __init__(self, kind: str, start: int, end: int, text: str = "", mode: str = "", tag: str = ""):
        self.kind = kind  # ws | comment | string | qident | ident | other
        self.start = start
        self.end = end
        self.text = text  # decoded content of a string/identifier/comment (None: cannot be decoded)
        self.mode = mode  # strings: std | esc | dollar | uni | bits
        self.tag = tag  # dollar quotes: the $tag$


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


def _decode_esc(body: str) -> str:
    """Content of an E'' literal body (up to its closing quote)."""
    out, i, n = [], 0, len(body)
    while i < n:
        c = body[i]
        if c == "'":
            if i + 1 < n and body[i + 1] == "'":
                out.append("'")
                i += 2
                continue
            break
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        d = body[i + 1]
        if d in _ESCAPES:
            out.append(_ESCAPES[d])
            i += 2
        elif d in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1 :])
            out.append(chr(int(m.group(), 8) & 0xFF))
            i += 1 + len(m.group())
        elif d == "x" and re.match(r"[0-9A-Fa-f]", body[i + 2 : i + 3]):
            m = re.match(r"[0-9A-Fa-f]{1,2}", body[i + 2 :])
            out.append(chr(int(m.group(), 16)))
            i += 2 + len(m.group())
        elif d in "uU":
            width = 4 if d == "u" else 8
            digits = body[i + 2 : i + 2 + width]
            if len(digits) == width and all(x in "0123456789abcdefABCDEF" for x in digits):
                out.append(_chr(int(digits, 16)))
                i += 2 + width
            else:
                out.append(d)
                i += 2
        else:
            out.append(d)
            i += 2
    return "".join(out)


def _decode_uni(body: str, esc: str = "\\") -> str:
    """Content of a U&'' literal body (its '' already undoubled) with escape character `esc`."""
    out, i, n = [], 0, len(body)
    while i < n:
        c = body[i]
        if c != esc:
            out.append(c)
            i += 1
        elif body[i + 1 : i + 2] == esc:
            out.append(esc)
            i += 2
        elif body[i + 1 : i + 2] == "+" and re.fullmatch(r"[0-9A-Fa-f]{6}", body[i + 2 : i + 8]):
            out.append(_chr(int(body[i + 2 : i + 8], 16)))
            i += 8
        elif re.fullmatch(r"[0-9A-Fa-f]{4}", body[i + 1 : i + 5]):
            out.append(_chr(int(body[i + 1 : i + 5], 16)))
            i += 5
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _chr(code: int) -> str:
    try:
        return chr(code)
    except (ValueError, OverflowError):
        return "\ufffd"


def _string(text: str, start: int, q: int, mode: str) -> _Tok:
    """A literal whose opening quote is at `q` (its prefix starts at `start`), with continuations."""
    body_re = _ESC_BODY if mode == "esc" else _STD_BODY
    parts: list[str] = []
    pos = q + 1
    while True:
        m = body_re.match(text, pos)
        body, closed = m.group(1), m.group(2) == "'"
        parts.append(_decode_esc(body) if mode == "esc" else body.replace("''", "'"))
        pos = m.end()
        c = _CONTINUE.match(text, pos) if closed else None
        if not c:
            break
        pos = c.end()
    content: str | None = "".join(parts)
    if mode == "uni":
        u = _UESCAPE.match(text, pos)
        if u:
            content = _decode_uni(content, u.group(1))
            pos = u.end()
        else:
            content = _decode_uni(content)
    return _Tok("string", start, pos, content, mode)


def _lex(text: str):
    """Tokens of `text` as PostgreSQL's scanner would split it (close enough to find literals)."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            m = _WS.match(text, i)
            yield _Tok("ws", i, m.end())
            i = m.end()
        elif text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            yield _Tok("comment", i, end, text[i + 2 : end])
            i = end
        elif text.startswith("/*", i):
            depth, pos = 1, i + 2
            for m in _BLOCK.finditer(text, pos):
                depth += 1 if m.group() == "/*" else -1
                pos = m.end()
                if depth == 0:
                    break
            end = pos if depth == 0 else n
            yield _Tok("comment", i, end, text[i + 2 : max(i + 2, end - 2)])
            i = end
        elif c == "'":
            tok = _string(text, i, i, "std")
            yield tok
            i = tok.end
        elif c == '"':
            m = _QIDENT.match(text, i)
            yield _Tok("qident", i, m.end(), m.group()[1:].rstrip('"').replace('""', '"'))
            i = m.end()
        elif c == "$":
            m = _PARAM.match(text, i) or None
            if m:
                yield _Tok("other", i, m.end())
                i = m.end()
                continue
            m = _DOLLAR.match(text, i)
            if not m:
                yield _Tok("other", i, i + 1)
                i += 1
                continue
            tag = m.group()
            close = text.find(tag, m.end())
            end = n if close < 0 else close + len(tag)
            yield _Tok("string", i, end, text[m.end() : close if close >= 0 else n], "dollar", tag)
            i = end
        else:
            m = _IDENT.match(text, i)
            if not m:
                yield _Tok("other", i, i + 1)
                i += 1
                continue
            word = m.group()
            low = word.lower()
            after = m.end()
            if after < n and text[after] == "'" and low in ("e", "n", "b", "x"):
                tok = _string(text, i, after, {"e": "esc", "n": "std"}.get(low, "bits"))
                yield tok
                i = tok.end
            elif low == "u" and text.startswith("&'", after):
                tok = _string(text, i, after + 1, "uni")
                yield tok
                i = tok.end
            elif low == "u" and text.startswith('&"', after):
                q = _QIDENT.match(text, after + 1)
                name = q.group()[1:].rstrip('"').replace('""', '"')
                u = _UESCAPE.match(text, q.end())
                yield _Tok("qident", i, u.end() if u else q.end(), _decode_uni(name, u.group(1) if u else "\\"))
                i = u.end() if u else q.end()
            else:
                yield _Tok("ident", i, after, word)
                i = after


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

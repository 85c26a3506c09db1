"""PostgreSQL's lexical structure, as far as pgadvisor needs it (one lexer for every text check).

`lex` splits a text as PostgreSQL's scanner would, closely enough to find literals, comments,
identifiers and the characters between them: '' and E'' strings (with backslash escapes and the
newline continuation of a literal), U&'' strings and U&"" identifiers (decoded), b''/x''/n''
strings, dollar quotes, quoted identifiers, nested comments and `$n` parameters. It never fails: an
unterminated string or comment runs to the end of the text (`Token.closed` is then False).
Used by redact.py (secrets) and pg/guard.py (what may be planned).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_IDENT = re.compile(r"[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*")

_WS = re.compile(r"\s+")

_PARAM = re.compile(r"\$\d+")

_DOLLAR = re.compile(r"\$(?:[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")

_QIDENT = re.compile(r'"(?:[^"]|"")*(?:"|\Z)')

_STD_BODY = re.compile(r"((?:[^']|'')*)('|\Z)")

ESC_BODY = re.compile(r"((?:[^'\\]|\\.|'')*\\?)('|\Z)", re.S)

# PostgreSQL glues 'a'<whitespace with a newline>'b' into one constant ('ab')
CONTINUE = re.compile(r"[ \t\f\v]*[\n\r](?:[ \t\n\r\f\v]+|--[^\n\r]*[\n\r])*'")

_UESCAPE = re.compile(r"\s*uescape\s*'([^'])'", re.I)

_BLOCK = re.compile(r"/\*|\*/")

_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

class Token:
    """One token: its kind, where it is in the text, and the decoded content of a string or name."""

    __slots__ = ("kind", "start", "end", "text", "mode", "tag", "closed")

    def __init__(self, kind: str, start: int, end: int, text: str = "", mode: str = "", tag: str = "",
                 closed: bool = True):
        self.closed = closed  # False: an unterminated string, quoted identifier or /* comment
        self.kind = kind  # ws | comment | string | qident | ident | other
        self.start = start
        self.end = end
        self.text = text  # decoded content of a string/identifier/comment (None: cannot be decoded)
        self.mode = mode  # strings: std | esc | dollar | uni | bits
        self.tag = tag  # dollar quotes: the $tag$

def decode_esc(body: str) -> str:
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

def _string(text: str, start: int, q: int, mode: str) -> Token:
    """A literal whose opening quote is at `q` (its prefix starts at `start`), with continuations."""
    body_re = ESC_BODY if mode == "esc" else _STD_BODY
    parts: list[str] = []
    pos = q + 1
    while True:
        m = body_re.match(text, pos)
        body, closed = m.group(1), m.group(2) == "'"
        parts.append(decode_esc(body) if mode == "esc" else body.replace("''", "'"))
        pos = m.end()
        c = CONTINUE.match(text, pos) if closed else None
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
    return Token("string", start, pos, content, mode, closed=closed)

def _quoted_name(raw: str) -> tuple[str, bool]:
    """The name inside a "quoted identifier" (doubled quotes undone), and whether it was closed."""
    closed = re.fullmatch(r'(?:[^"]|"")*"', raw[1:], re.S) is not None
    return (raw[1:-1] if closed else raw[1:]).replace('""', '"'), closed


def lex(text: str) -> Iterator[Token]:
    """Tokens of `text` as PostgreSQL's scanner would split it (close enough to find literals)."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            m = _WS.match(text, i)
            yield Token("ws", i, m.end())
            i = m.end()
        elif text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            yield Token("comment", i, end, text[i + 2 : end])
            i = end
        elif text.startswith("/*", i):
            depth, pos = 1, i + 2
            for m in _BLOCK.finditer(text, pos):
                depth += 1 if m.group() == "/*" else -1
                pos = m.end()
                if depth == 0:
                    break
            end = pos if depth == 0 else n
            yield Token("comment", i, end, text[i + 2 : max(i + 2, end - 2)], closed=depth == 0)
            i = end
        elif c == "'":
            tok = _string(text, i, i, "std")
            yield tok
            i = tok.end
        elif c == '"':
            m = _QIDENT.match(text, i)
            name, closed = _quoted_name(m.group())
            yield Token("qident", i, m.end(), name, closed=closed)
            i = m.end()
        elif c == "$":
            m = _PARAM.match(text, i) or None
            if m:
                yield Token("other", i, m.end())
                i = m.end()
                continue
            m = _DOLLAR.match(text, i)
            if not m:
                yield Token("other", i, i + 1)
                i += 1
                continue
            tag = m.group()
            close = text.find(tag, m.end())
            end = n if close < 0 else close + len(tag)
            yield Token("string", i, end, text[m.end() : close if close >= 0 else n], "dollar", tag,
                        closed=close >= 0)
            i = end
        else:
            m = _IDENT.match(text, i)
            if not m:
                yield Token("other", i, i + 1)
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
                name, closed = _quoted_name(q.group())
                u = _UESCAPE.match(text, q.end())
                yield Token("qident", i, u.end() if u else q.end(), _decode_uni(name, u.group(1) if u else "\\"),
                            closed=closed)
                i = u.end() if u else q.end()
            else:
                yield Token("ident", i, after, word)
                i = after

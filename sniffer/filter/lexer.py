"""Tokens of Wireshark's display-filter language, each with its character span.

Like Wireshark's scanner, an unquoted run such as `mqtt.topic`, `1883`,
`10.0.0.0/8`, `fe80::1` or `aa:bb:cc` is one WORD token whose meaning (field
name or literal of the other side's type) is decided later by the compiler.
Keywords (and, or, not, eq, contains, in, ...) are lowercase only, as in
Wireshark 4.0. Quoted strings ("...", raw r"...") and character constants
('a', '\\n') are decoded here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sniffer.filter.errors import FilterError

# Token kinds
WORD, STRING, CHAR, OP, LPAREN, RPAREN, LBRACE, RBRACE, LBRACKET, RBRACKET, COMMA, RANGE, EOF = (
    "word",
    "string",
    "char",
    "op",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
    "..",
    "end",
)

# Symbolic operators, longest first so "===" wins over "==".
SYMBOLS = ("===", "!==", "==", "!=", ">=", "<=", "&&", "||", ">", "<", "~", "!", "&")
# Characters that make up an unquoted word (field names, numbers, addresses, byte strings).
WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-/")

_ESCAPES = {
    "'": "'",
    '"': '"',
    "\\": "\\",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
_OCTAL = frozenset("01234567")
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str  # source text (WORD, OP) or decoded value (STRING, CHAR)
    start: int
    end: int
    raw: bool = False  # STRING written as r"..."

    def __repr__(self) -> str:
        return f"Token({self.kind}, {self.text!r}, {self.start}:{self.end})"


def _escape(text: str, i: int, quote: str) -> tuple[str, int]:
    """Decode the escape at text[i] == '\\'; returns (chars, index after it)."""
    if i + 1 >= len(text):
        raise FilterError("backslash at the end of the text", i, i + 1)
    c = text[i + 1]
    if c in _ESCAPES:
        return _ESCAPES[c], i + 2
    if c in _OCTAL:
        j = i + 1
        while j < len(text) and j < i + 4 and text[j] in _OCTAL:
            j += 1
        return chr(int(text[i + 1 : j], 8)), j
    if c == "x":
        j = i + 2
        while j < len(text) and j < i + 4 and text[j] in _HEX:
            j += 1
        if j == i + 2:
            raise FilterError("\\x needs one or two hex digits", i, j)
        return chr(int(text[i + 2 : j], 16)), j
    if c in "uU":
        n = 4 if c == "u" else 8
        digits = text[i + 2 : i + 2 + n]
        if len(digits) != n or not all(d in _HEX for d in digits):
            raise FilterError(f"\\{c} needs {n} hex digits", i, i + 2 + len(digits))
        try:
            return chr(int(digits, 16)), i + 2 + n
        except ValueError:
            raise FilterError(f"\\{c}{digits} is not a Unicode code point", i, i + 2 + n) from None
    raise FilterError(f"unknown escape \\{c} (write \\\\ for a backslash)", i, i + 2)


def _string(text: str, start: int, raw: bool) -> tuple[Token, int]:
    """A double-quoted string starting at text[start] == '"' (after an optional r)."""
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            tok_start = start - 1 if raw else start
            return Token(STRING, "".join(out), tok_start, i + 1, raw), i + 1
        if c == "\\":
            if raw:
                # raw strings keep the backslash; \" still does not end the string
                out.append(text[i : i + 2])
                i += 2
                continue
            s, i = _escape(text, i, '"')
            out.append(s)
            continue
        out.append(c)
        i += 1
    raise FilterError('string is not closed: add a double quote (")', start - (1 if raw else 0), n)


def _char(text: str, start: int) -> tuple[Token, int]:
    """A C-style character constant 'x' (an integer literal in Wireshark)."""
    i = start + 1
    if i < len(text) and text[i] == "\\":
        s, i = _escape(text, i, "'")
    elif i < len(text):
        s, i = text[i], i + 1
    else:
        s = ""
    if i >= len(text) or text[i] != "'" or len(s) != 1:
        close = text.find("'", start + 1)
        end = close + 1 if close > 0 else len(text)
        raise FilterError("character constant must be one character in single quotes, like 'a'", start, end)
    return Token(CHAR, s, start, i + 1), i + 1


def tokenize(text: str) -> list[Token]:
    """All tokens of `text`, ending with an EOF token; raises FilterError on bad characters."""
    toks: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == '"':
            tok, i = _string(text, i, False)
            toks.append(tok)
            continue
        if c == "r" and i + 1 < n and text[i + 1] == '"':
            tok, i = _string(text, i + 1, True)
            toks.append(tok)
            continue
        if c == "'":
            tok, i = _char(text, i)
            toks.append(tok)
            continue
        if c == "." and text.startswith("..", i):
            toks.append(Token(RANGE, "..", i, i + 2))
            i += 2
            continue
        single = {"(": LPAREN, ")": RPAREN, "{": LBRACE, "}": RBRACE, "[": LBRACKET, "]": RBRACKET, ",": COMMA}.get(c)
        if single is not None:
            toks.append(Token(single, c, i, i + 1))
            i += 1
            continue
        if c in WORD_CHARS:
            j = i
            while j < n and text[j] in WORD_CHARS:
                if text[j] == "." and j + 1 < n and text[j + 1] == ".":
                    break  # "1..10": a range, not one word
                j += 1
            toks.append(Token(WORD, text[i:j], i, j))
            i = j
            continue
        for sym in SYMBOLS:
            if text.startswith(sym, i):
                toks.append(Token(OP, sym, i, i + len(sym)))
                i += len(sym)
                break
        else:
            if c == "$":
                raise FilterError("field references ${...} are not supported by mqttsniff", i, i + 1)
            if c == "#":
                raise FilterError("the layer operator # is not supported by mqttsniff", i, i + 1)
            if c in "+*%":
                raise FilterError("arithmetic is not supported by mqttsniff", i, i + 1)
            raise FilterError(f"unexpected character {c!r}", i, i + 1)
    toks.append(Token(EOF, "", n, n))
    return toks

"""Whether tshark's JSON dissector reads a payload whole: frame.protocols then ends in `json`, else in
`json:data-text-lines` (the dissector hands what it could not parse to the line-based text dissector).

tshark 4 parses JSON with its tvbparse combinators, whose acceptance differs from RFC 8259 in ways a capture
shows: several top-level objects or arrays in a row are one valid text (`{}{}`), a top-level scalar is not
(`1`, `"s"`), NaN is a value, whitespace is skipped between any two parts of a rule (so `[1 2]` reads as the
number `1 2`), a string may hold raw control bytes and invalid UTF-8, and nesting stops at the combinators'
recursion limit (100 rule levels: ~20 nested arrays). This module implements that acceptance from its
observable behaviour, measured against tshark 4.0 (tests/test_frame_protocols.py): a rule tree of one-of,
sequence, repetition and character rules, with the same recursion count, including that a rule refused for
depth does not give its level back.

`is_whole(payload)` answers quickly for ordinary documents (the standard parser, when its verdict is certain to
be tshark's) and runs the rules otherwise.
"""

from __future__ import annotations

import json
from typing import Final

MAX_DEPTH: Final = 100  # rule levels tshark's parser enters before it refuses
# containers nested deeper than this may meet the limit: a level costs up to 7 rule levels (an object's second
# member), so the shallowest refusal nests 14 deep (tests/test_frame_protocols.py measures it against tshark)
FAST_NESTING: Final = 12

# rule kinds
_CHAR, _CHARS, _STR, _SEQ, _SOME, _ONEOF = range(6)
_ANY: Final = 1 << 30


class _Rule:
    __slots__ = ("kind", "accept", "lo", "hi", "text", "parts", "width")

    def __init__(self, kind: int, accept: frozenset[int] = frozenset(), lo: int = 1, hi: int = _ANY,
                 text: bytes = b"", parts: list[_Rule] | None = None) -> None:  # fmt: skip
        self.kind = kind
        self.accept = accept  # bytes a character rule takes
        self.lo, self.hi = lo, hi  # how many (characters, or repetitions)
        self.text = text  # a literal
        self.parts: list[_Rule] = parts or []  # a sequence's or one-of's rules; a repetition's one rule
        # what must remain before a sequence or one-of tries this rule (a character: 1, a literal: its length)
        self.width = 1 if kind == _CHAR else len(text) if kind == _STR else 0


def _char(chars: str) -> _Rule:
    return _Rule(_CHAR, frozenset(chars.encode()))


def _chars(chars: str, lo: int = 1, hi: int = _ANY) -> _Rule:
    return _Rule(_CHARS, frozenset(chars.encode()), lo, hi)


def _not_chars(chars: str) -> _Rule:
    return _Rule(_CHARS, frozenset(range(256)) - frozenset(chars.encode()))


def _seq(*parts: _Rule) -> _Rule:
    return _Rule(_SEQ, parts=list(parts))


def _some(lo: int, hi: int, part: _Rule) -> _Rule:
    return _Rule(_SOME, lo=lo, hi=hi, parts=[part])


def _oneof(*parts: _Rule) -> _Rule:
    return _Rule(_ONEOF, parts=list(parts))


def _grammar() -> tuple[_Rule, _Rule]:
    """(the top-level rule, the whitespace rule)."""
    digits = "0123456789"
    quot = _char('"')
    string = _seq(
        quot,
        _some(
            0,
            _ANY,
            _oneof(
                _not_chars('"\\'),
                _seq(
                    _char("\\"),
                    _oneof(_chars('"\\/bfnrt', 1, 1), _seq(_char("u"), _chars(digits + "abcdefABCDEF", 4, 4))),
                ),
            ),
        ),  # fmt: skip
        quot,
    )
    integer = _oneof(_char("0"), _seq(_chars("123456789", 1, 1), _some(0, 1, _chars(digits))))
    number = _seq(
        _some(0, 1, _chars("-", 1, 1)),
        integer,
        _some(0, 1, _seq(_char("."), _chars(digits))),
        _some(0, 1, _seq(_char("eE"), _some(0, 1, _chars("-+", 1, 1)), _chars(digits))),
    )
    obj, arr = _seq(), _seq()  # filled below: a value holds them, they hold values
    value = _oneof(*(_Rule(_STR, text=t) for t in (b"false", b"null", b"true", b"NaN")), obj, arr, number, string)
    sep = _char(",")
    arr.parts = [_char("["), _some(0, 1, _seq(value, _some(0, _ANY, _seq(sep, value)))), _char("]")]
    member = _seq(string, _char(":"), value)
    obj.parts = [_char("{"), _some(0, 1, _seq(member, _some(0, _ANY, _seq(sep, member)))), _char("}")]
    return _oneof(obj, arr), _chars(" \t\r\n")


_TOP, _SPACE = _grammar()


class _Parse:
    """One payload through the rules: `depth` is the recursion count, shared by every rule of the parse."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.end = len(data)
        self.depth = 0

    def skip(self, off: int) -> int:
        """Whitespace at `off`: how many bytes of it."""
        n = 0
        while True:
            got = self.match(_SPACE, off + n)
            if got <= 0:
                return n
            n += got

    def match(self, r: _Rule, off: int) -> int:
        """Bytes rule `r` consumes at `off`, or -1."""
        kind, end, data = r.kind, self.end, self.data
        if kind == _CHAR:
            return 1 if off + 1 <= end and data[off] in r.accept else -1
        if kind == _CHARS:
            if off + r.lo > end:
                return -1
            n, limit, accept = 0, min(end - off, r.hi), r.accept
            while n < limit and data[off + n] in accept:
                n += 1
            return n if n >= r.lo else -1
        if kind == _STR:
            return len(r.text) if data.startswith(r.text, off) else -1
        if off > end:
            return -1
        self.depth += 1
        if self.depth > MAX_DEPTH:  # (refused without giving the level back, as tshark's parser does)
            return -1
        start = off
        if kind == _ONEOF:
            for part in r.parts:
                if off + part.width > end:
                    continue
                got = self.match(part, off)
                if got >= 0:
                    self.depth -= 1
                    return got
            self.depth -= 1
            return -1
        if kind == _SEQ:
            for part in r.parts:
                if off + part.width > end:
                    self.depth -= 1
                    return -1
                got = self.match(part, off)
                if got < 0:
                    self.depth -= 1
                    return -1
                off += got
                off += self.skip(off)
            self.depth -= 1
            return off - start
        # _SOME
        count, part = 0, r.parts[0]
        while count < r.hi:
            got = self.match(part, off)
            if got < 0:
                break
            off += got
            count += 1
        self.depth -= 1
        return off - start if count >= r.lo else -1

    def whole(self, pos: int = 0) -> bool:
        """Whether the documents from `pos` on take every byte (tshark hands what is left to data-text-lines)."""
        while True:
            at = pos + self.skip(pos)
            got = self.match(_TOP, at)
            if got < 0:
                return pos == self.end
            pos = at + got


def _no_infinity(name: str) -> object:
    if name != "NaN":  # (tshark's parser takes NaN, not Infinity)
        raise ValueError(name)
    return None


_DECODER: Final = json.JSONDecoder(strict=False, parse_constant=_no_infinity)


def _nesting(doc: object) -> int:
    """How deep containers nest in a parsed document (1: none inside it), counted up to past FAST_NESTING."""
    deepest = 0
    stack = [(doc, 1)]
    while stack:
        o, d = stack.pop()
        if d > deepest:
            deepest = d
            if d > FAST_NESTING:
                break
        for c in o.values() if isinstance(o, dict) else o:  # type: ignore[attr-defined]
            if isinstance(c, dict | list):
                stack.append((c, d + 1))
    return deepest


def is_whole(payload: bytes) -> bool:
    """Whether tshark's JSON dissector parses all of `payload` (an empty payload never reaches it).

    Document after document, the standard parser reads what it can (its verdict is tshark's for an RFC 8259
    object or array nested at most FAST_NESTING deep); from the first document it cannot read so, the rules."""
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        return by_rules(payload)
    pos, end, docs = 0, len(text), 0
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos == end:
            return docs > 0  # (whitespace alone is left over: text lines to tshark)
        if text[pos] not in "{[":
            return False  # tshark's parser stops here: no object or array begins
        try:
            doc, after = _DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError):
            doc, after = None, -1
        if after < 0 or _nesting(doc) > FAST_NESTING:
            return _Parse(payload).whole(len(text[:pos].encode()))  # (what is before it was read whole)
        pos, docs = after, docs + 1


def by_rules(payload: bytes) -> bool:
    """is_whole() by the rules alone (what it falls back to; the tests hold the two together)."""
    return _Parse(payload).whole()

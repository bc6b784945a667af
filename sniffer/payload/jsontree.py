"""JSON payloads as Wireshark's JSON dissector shows them: Object, Array, Member items with their key,
value, path and "member with value", each at its bytes (RFC 8259, strict: no NaN, no trailing data).

A small recursive-descent reader over the bytes (the standard library's parser gives neither byte
offsets nor a number's text, which json.value.number is); strings are unescaped by json.loads.
Nesting beyond context.MAX_DEPTH is reported and not shown. `is_document()` is the content check
of the decoder choice: an object or array that parses completely.
"""

from __future__ import annotations

import json
import re
from typing import Final

from sniffer.fields import NOTE, FieldDef, Node
from sniffer.payload import fields as F
from sniffer.payload.context import MAX_DEPTH, Ctx, Malformed

_NUMBER: Final = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WS: Final = re.compile(rb"[ \t\r\n]*")
_PLAIN: Final = re.compile(rb'[^"\\\x00-\x1f]*')  # string contents without escapes or control characters
_LITERALS: Final = ((b"true", F.JSON_TRUE, "true"), (b"false", F.JSON_FALSE, "false"), (b"null", F.JSON_NULL, "null"))


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def is_document(data: bytes) -> bool:
    """An object or an array that parses completely: the one content the decoder choice trusts."""
    head = data[:64].lstrip()
    if not head or head[0] not in b"{[":
        return False
    try:
        json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return False
    return True


class _Reader:
    __slots__ = ("ctx", "d")

    def __init__(self, ctx: Ctx, d: bytes) -> None:
        self.ctx = ctx
        self.d = d

    def ws(self, p: int) -> int:
        d = self.d
        if p < len(d) and d[p] > 0x20:  # compact JSON: no whitespace here (space, tab, CR, LF are <= 0x20)
            return p
        m = _WS.match(d, p)
        return m.end() if m is not None else p

    def string(self, p: int) -> tuple[str, int]:
        """The JSON string starting at d[p] == '"': (its value, position after it)."""
        d = self.d
        m = _PLAIN.match(d, p + 1)
        q = m.end() if m is not None else p + 1
        if d[q : q + 1] == b'"':  # no escape, no control character: its UTF-8 is its value
            try:
                return d[p + 1 : q].decode("utf-8", "surrogatepass"), q + 1  # as json.loads decodes bytes
            except UnicodeDecodeError:
                pass  # json.loads below words the error
        q = p + 1
        while True:
            i = d.find(b'"', q)
            if i < 0:
                raise Malformed("string not closed", p)
            k = i - 1
            while d[k] == 0x5C:  # backslashes before the quote: an odd count escapes it
                k -= 1
            if (i - 1 - k) % 2 == 0:
                break
            q = i + 1
        try:
            return json.loads(d[p : i + 1]), i + 1
        except ValueError as e:
            raise Malformed(f"invalid string ({e.args[0].split(':')[0]})", p) from None

    def scalar(self, p: int) -> tuple[FieldDef, str, int, str | None]:
        """(field, text for 'with value' items, end, item value: None for true, false and null) of a scalar at p."""
        d = self.d
        c = d[p]
        if c == 0x22:  # "
            s, q = self.string(p)
            return F.JSON_STRING, s, q, s
        if c == 0x74 or c == 0x66 or c == 0x6E:  # t f n: only a literal may start so
            for lit, fd, text in _LITERALS:
                if d.startswith(lit, p):
                    return fd, text, p + len(lit), None
        m = _NUMBER.match(d, p)
        if m is None or m.end() == p:
            shown = chr(c)  # latin-1, as the bytes' first character
            raise Malformed(f"unexpected {shown!r} where a value should be", p)
        text = m.group().decode()
        return F.JSON_NUMBER, text, m.end(), text

    def value(self, out: list[Node], p: int, path: str, depth: int) -> tuple[int, str | None]:
        """Append the value at p (already past whitespace) to `out`; (end, its text if a scalar)."""
        d, ctx = self.d, self.ctx
        if p >= len(d):
            raise Malformed("data ends where a value should be", p)
        c = d[p]
        if c == 0x7B or c == 0x5B:  # { [
            if depth >= MAX_DEPTH:
                raise Malformed(f"JSON nested deeper than {MAX_DEPTH} levels: not shown further", p, NOTE)
            node = ctx.node(F.JSON_OBJECT if c == 0x7B else F.JSON_ARRAY, None, p, 0,
                            "Object" if c == 0x7B else "Array")  # fmt: skip
            out.append(node)
            end = self.obj(node, p, path, depth) if c == 0x7B else self.arr(node, p, path, depth)
            if ctx.whole is None:
                node.length = end - p
            return end, None
        fd, text, end, value = self.scalar(p)
        out.append(ctx.node(fd, value, p, end - p, None if value is not None else fd.name))
        return end, text

    def obj(self, node: Node, p: int, path: str, depth: int) -> int:
        d, ctx = self.d, self.ctx
        p = self.ws(p + 1)
        if d[p : p + 1] == b"}":
            return p + 1
        while True:
            if d[p : p + 1] != b'"':
                raise Malformed("an object member must start with a quoted key", p)
            kstart = p
            key, kend = self.string(p)
            p = self.ws(kend)
            if d[p : p + 1] != b":":
                raise Malformed("':' expected after an object key", p)
            p = self.ws(p + 1)
            mpath = f"{path}/{key}"
            member = ctx.node(F.JSON_MEMBER, key, kstart, 0)
            node.children.append(member)
            # the value is hung under the member once whole: a value that fails part-way is not shown
            value: list[Node] = []
            end, text = self.value(value, p, mpath, depth + 1)
            kids = member.children
            if text is not None:  # a scalar: Wireshark's generated items lead
                kids.append(ctx.generated(F.JSON_PATH_WITH_VALUE, f"{mpath}:{text}"))
                kids.append(ctx.generated(F.JSON_MEMBER_WITH_VALUE, f"{key}:{text}"))
            kids.extend(value)
            kids.append(ctx.node(F.JSON_KEY, key, kstart + 1, kend - kstart - 2))
            kids.append(ctx.generated(F.JSON_PATH, mpath))
            if ctx.whole is None:
                member.length = end - kstart
            p = self.ws(end)
            c = d[p : p + 1]
            if c == b"}":
                return p + 1
            if c != b",":
                raise Malformed("',' or '}' expected in an object", p)
            p = self.ws(p + 1)

    def arr(self, node: Node, p: int, path: str, depth: int) -> int:
        d, ctx = self.d, self.ctx
        p = self.ws(p + 1)
        if d[p : p + 1] == b"]":
            return p + 1
        epath = f"{path}/[]"
        kids = node.children
        while True:
            value: list[Node] = []  # as in obj(): an element is shown once whole
            end, text = self.value(value, p, epath, depth + 1)
            if text is not None:
                kids.append(ctx.generated(F.JSON_PATH_WITH_VALUE, f"{epath}:{text}"))
                kids.append(ctx.generated(F.JSON_MEMBER_WITH_VALUE, f"[]:{text}"))
            kids.extend(value)
            p = self.ws(end)
            c = d[p : p + 1]
            if c == b"]":
                return p + 1
            if c != b",":
                raise Malformed("',' or ']' expected in an array", p)
            p = self.ws(p + 1)


def decode(ctx: Ctx, data: bytes, topic: str) -> Node:
    root = ctx.root = ctx.node(F.JSON, "", 0, len(data), "JavaScript Object Notation")
    r = _Reader(ctx, data)
    p = r.ws(3 if data.startswith(b"\xef\xbb\xbf") else 0)  # a byte order mark is tolerated (RFC 8259 8.1)
    end, _ = r.value(root.children, p, "", 0)
    p = r.ws(end)
    if p != len(data):
        raise Malformed(f"{len(data) - p} bytes after the JSON value", p)
    return root

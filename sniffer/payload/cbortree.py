"""CBOR payloads (RFC 8949) as a tree of typed items at their bytes, named as Wireshark's CBOR dissector.

A walker rather than cbor2.loads: it places every item at its bytes, shows what it read before a
fault, and checks every declared length against the bytes left before slicing, so a header
claiming 2^64 bytes allocates nothing (cbor2 is what the tests check it against).
"""

from __future__ import annotations

import struct

from sniffer.fields import NOTE, Node
from sniffer.payload import fields as F
from sniffer.payload.context import MAX_DEPTH, Ctx, Malformed

_SIMPLE = {20: "false", 21: "true", 22: "null", 23: "undefined"}


class _Reader:
    __slots__ = ("ctx", "d")

    def __init__(self, ctx: Ctx, d: bytes) -> None:
        self.ctx = ctx
        self.d = d

    def head(self, p: int) -> tuple[int, int, int, int]:
        """(major type, additional info, argument, position after the head) at p; argument -1: indefinite."""
        d = self.d
        if p >= len(d):
            raise Malformed("data ends where an item should be", p)
        ib = d[p]
        major, ai = ib >> 5, ib & 31
        if ai < 24:
            return major, ai, ai, p + 1
        if ai <= 27:
            n = 1 << (ai - 24)
            if p + 1 + n > len(d):
                raise Malformed("item head cut off", p)
            return major, ai, int.from_bytes(d[p + 1 : p + 1 + n], "big"), p + 1 + n
        if ai == 31 and major in (2, 3, 4, 5, 7):
            return major, ai, -1, p + 1
        raise Malformed(f"reserved additional information {ai} for major type {major}", p)

    def item(self, parent: Node, p: int, depth: int) -> int:
        """Append the item at p to parent; the position after it."""
        ctx, d = self.ctx, self.d
        major, ai, arg, q = self.head(p)
        if major == 0:
            parent.children.append(ctx.node(F.CBOR_UINT, arg, p, q - p))
            return q
        if major == 1:
            parent.children.append(ctx.node(F.CBOR_NINT, -1 - arg, p, q - p))
            return q
        if major in (2, 3):
            if arg < 0:  # indefinite length: definite chunks of the same type until a break
                chunks: list[bytes] = []
                r = q
                while True:
                    if r >= len(d):
                        raise Malformed("indefinite-length string without a break", p)
                    if d[r] == 0xFF:
                        r += 1
                        break
                    m2, _ai, n, r2 = self.head(r)
                    if m2 != major or n < 0:
                        raise Malformed("a chunk of an indefinite-length string is of another type", r)
                    if r2 + n > len(d):
                        raise Malformed(f"string chunk declares {n} bytes, {len(d) - r2} left", r)
                    chunks.append(d[r2 : r2 + n])
                    r = r2 + n
                raw, end = b"".join(chunks), r
            else:
                if q + arg > len(d):
                    raise Malformed(f"string declares {arg} bytes, {len(d) - q} left", p)
                raw, end = d[q : q + arg], q + arg
            if major == 2:
                parent.children.append(ctx.node(F.CBOR_BYTES, raw, p, end - p,
                                                f"Byte String: {raw.hex() if raw else '<empty>'}"))  # fmt: skip
                return end
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise Malformed("text string is not valid UTF-8", p) from None
            parent.children.append(ctx.node(F.CBOR_TEXT, text, p, end - p))
            return end
        if major in (4, 5):
            if depth >= MAX_DEPTH:
                raise Malformed(f"CBOR nested deeper than {MAX_DEPTH} levels: not shown further", p, NOTE)
            per = 2 if major == 5 else 1
            fd = F.CBOR_MAP if major == 5 else F.CBOR_ARRAY
            kind, unit = ("Map", "pairs") if major == 5 else ("Array", "items")
            declared = f"{arg} {unit}" if arg >= 0 else "indefinite length"
            node = ctx.node(fd, None, p, 0, f"{kind}: ({declared})")  # what a fault inside leaves shown
            parent.children.append(node)
            r, count = q, 0
            while arg < 0 or count < arg:
                if arg < 0:
                    if r >= len(d):
                        raise Malformed("indefinite-length container without a break", p)
                    if d[r] == 0xFF:
                        r += 1
                        break
                for _ in range(per):
                    r = self.item(node, r, depth + 1)
                count += 1
            node.text = f"{kind}: ({count} {unit})"
            if ctx.whole is None:
                node.length = r - p
            return r
        if major == 6:
            if depth >= MAX_DEPTH:
                raise Malformed(f"CBOR nested deeper than {MAX_DEPTH} levels: not shown further", p, NOTE)
            node = ctx.node(F.CBOR_TAG_ITEM, None, p, 0, f"Tag: {arg}")
            node.children.append(ctx.node(F.CBOR_TAG, arg, p, q - p))
            parent.children.append(node)
            r = self.item(node, q, depth + 1)
            if ctx.whole is None:
                node.length = r - p
            return r
        # major 7: simple values and floats
        if ai == 25:
            v = struct.unpack_from(">e", d, p + 1)[0]
            parent.children.append(ctx.node(F.CBOR_FLOAT16, v, p, q - p, f"Float: {v!r}"))
        elif ai == 26:
            v = struct.unpack_from(">f", d, p + 1)[0]
            parent.children.append(ctx.node(F.CBOR_FLOAT32, v, p, q - p, f"Float: {v!r}"))
        elif ai == 27:
            v = struct.unpack_from(">d", d, p + 1)[0]
            parent.children.append(ctx.node(F.CBOR_FLOAT64, v, p, q - p, f"Float: {v!r}"))
        elif arg < 0:
            raise Malformed("a break outside an indefinite-length item", p)
        else:
            name = _SIMPLE.get(arg, str(arg))
            parent.children.append(ctx.node(F.CBOR_SIMPLE, arg, p, q - p, f"Simple: {name}"))
        return q


def decode(ctx: Ctx, data: bytes, topic: str) -> Node:
    root = ctx.root = ctx.node(F.CBOR, "", 0, len(data), "Concise Binary Object Representation")
    r = _Reader(ctx, data)
    p = r.item(root, 0, 0)
    if p != len(data):  # a CBOR sequence (RFC 8742): every item is shown
        while p < len(data):
            p = r.item(root, p, 0)
    return root

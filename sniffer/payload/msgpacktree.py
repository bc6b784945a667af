"""MessagePack payloads as a tree of typed items at their bytes (Wireshark's msgpack.* names).

A walker rather than msgpack.unpackb, for the same reasons as the CBOR one: byte ranges, what was
read before a fault, and lengths checked against the bytes left before any slice.
"""

from __future__ import annotations

import struct

from sniffer.fields import NOTE, Node
from sniffer.payload import fields as F
from sniffer.payload.context import MAX_DEPTH, Ctx, Malformed

_UINT = {0xCC: (1, 8), 0xCD: (2, 16), 0xCE: (4, 32), 0xCF: (8, 64)}
_INT = {0xD0: (1, 8), 0xD1: (2, 16), 0xD2: (4, 32), 0xD3: (8, 64)}
_STR = {0xD9: 1, 0xDA: 2, 0xDB: 4}
_BIN = {0xC4: 1, 0xC5: 2, 0xC6: 4}
_EXT = {0xC7: 1, 0xC8: 2, 0xC9: 4}
_FIXEXT = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
_ARRAY = {0xDC: 2, 0xDD: 4}
_MAP = {0xDE: 2, 0xDF: 4}


class _Reader:
    __slots__ = ("ctx", "d")

    def __init__(self, ctx: Ctx, d: bytes) -> None:
        self.ctx = ctx
        self.d = d

    def need(self, p: int, n: int, what: str) -> None:
        if p + n > len(self.d):
            raise Malformed(f"{what} declares {n} bytes, {len(self.d) - p} left", p)

    def uint(self, p: int, n: int) -> int:
        self.need(p, n, "length")
        return int.from_bytes(self.d[p : p + n], "big")

    def item(self, parent: Node, p: int, depth: int) -> int:
        ctx, d = self.ctx, self.d
        if p >= len(d):
            raise Malformed("data ends where an item should be", p)
        b = d[p]
        if b <= 0x7F:
            parent.children.append(ctx.node(F.MSGPACK_UINT[8], b, p, 1))
            return p + 1
        if b >= 0xE0:
            parent.children.append(ctx.node(F.MSGPACK_INT[8], b - 0x100, p, 1))
            return p + 1
        if 0xA0 <= b <= 0xBF or b in _STR:
            n, q = (b & 0x1F, p + 1) if b <= 0xBF else (self.uint(p + 1, _STR[b]), p + 1 + _STR[b])
            self.need(q, n, "string")
            try:
                s = d[q : q + n].decode("utf-8")
            except UnicodeDecodeError:
                raise Malformed("string is not valid UTF-8", p) from None
            parent.children.append(ctx.node(F.MSGPACK_STRING, s, p, q + n - p))
            return q + n
        if 0x80 <= b <= 0x9F or b in _ARRAY or b in _MAP:
            if depth >= MAX_DEPTH:
                raise Malformed(f"MessagePack nested deeper than {MAX_DEPTH} levels: not shown further", p, NOTE)
            is_map = 0x80 <= b <= 0x8F or b in _MAP
            if b <= 0x9F:
                n, q = b & 0x0F, p + 1
            else:
                w = _MAP.get(b) or _ARRAY[b]
                n, q = self.uint(p + 1, w), p + 1 + w
            node = ctx.node(F.MSGPACK_MAP if is_map else F.MSGPACK_ARRAY, None, p, 0,
                            f"Map: {n} pairs" if is_map else f"Array: {n} items")  # fmt: skip
            parent.children.append(node)
            for _ in range(n * 2 if is_map else n):
                q = self.item(node, q, depth + 1)
            if ctx.whole is None:
                node.length = q - p
            return q
        if b == 0xC0:
            parent.children.append(ctx.node(F.MSGPACK_NIL, None, p, 1, "Nil"))
            return p + 1
        if b in (0xC2, 0xC3):
            parent.children.append(ctx.node(F.MSGPACK_BOOLEAN, b == 0xC3, p, 1))
            return p + 1
        if b in (0xCA, 0xCB):
            n = 4 if b == 0xCA else 8
            self.need(p + 1, n, "float")
            v = struct.unpack_from(">f" if n == 4 else ">d", d, p + 1)[0]
            parent.children.append(ctx.node(F.MSGPACK_FLOAT, v, p, 1 + n, f"Float: {v!r}"))
            return p + 1 + n
        if b in _UINT or b in _INT:
            n, width = _UINT.get(b) or _INT[b]
            v = self.uint(p + 1, n)
            if b in _INT and v >= 1 << (width - 1):
                v -= 1 << width
            fd = F.MSGPACK_UINT[width] if b in _UINT else F.MSGPACK_INT[width]
            parent.children.append(ctx.node(fd, v, p, 1 + n))
            return p + 1 + n
        if b in _BIN:
            w = _BIN[b]
            n = self.uint(p + 1, w)
            q = p + 1 + w
            self.need(q, n, "binary")
            raw = d[q : q + n]
            parent.children.append(ctx.node(F.MSGPACK_BIN, raw, p, q + n - p,
                                            f"Binary: {raw.hex() if raw else '<empty>'}"))  # fmt: skip
            return q + n
        if b in _EXT or b in _FIXEXT:
            if b in _FIXEXT:
                n, q = _FIXEXT[b], p + 1
            else:
                w = _EXT[b]
                n, q = self.uint(p + 1, w), p + 1 + w
            self.need(q, 1 + n, "ext")
            etype = d[q] - 0x100 if d[q] >= 0x80 else d[q]
            raw = d[q + 1 : q + 1 + n]
            node = ctx.node(F.MSGPACK_EXT, raw, p, q + 1 + n - p, f"Ext: type {etype}, {raw.hex() or '<empty>'}")
            node.children.append(ctx.node(F.MSGPACK_EXT_TYPE, etype, q, 1))
            parent.children.append(node)
            return q + 1 + n
        raise Malformed(f"byte 0x{b:02x} is not a MessagePack type (never used)", p)


def decode(ctx: Ctx, data: bytes, topic: str) -> Node:
    root = ctx.root = ctx.node(F.MSGPACK, "", 0, len(data), "Message Pack")
    r = _Reader(ctx, data)
    p = 0
    while True:  # several objects back to back are a stream: each is shown
        p = r.item(root, p, 0)
        if p >= len(data):
            return root

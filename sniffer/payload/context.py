"""What every payload decoder writes into: items placed at their bytes in the frame, within limits.

A decoder reads `data` (the payload, or what decompressing it gave) and makes items through a Ctx,
which places offsets of `data` at the message's place in the frame's data source (decompressed
items all point at the whole compressed message: their bytes are not in the frame) and counts
them: a payload yields at most MAX_ITEMS items, so a 16 MiB JSON array cannot build millions of
nodes. Decoders raise Malformed on bad input; decode.py turns it into an expert note under what
was built, so a decoder never has to unwind its tree by hand.
"""

from __future__ import annotations

from typing import Any, Final

from sniffer.fields import ERROR, FieldDef, Node, item, note

MAX_ITEMS: Final = 100_000  # ~30 MB of nodes at most in one tree
MAX_DEPTH: Final = 64  # nesting levels of JSON/CBOR/MessagePack shown (every output walks trees recursively)


class Malformed(Exception):
    """The payload does not follow its format from `offset` on."""

    def __init__(self, reason: str, offset: int, severity: str = ERROR) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset
        self.severity = severity  # NOTE: the payload is fine, mqttsniff stopped showing it (too deep)


class TooMany(Exception):
    """The item budget of one payload is spent."""


class Ctx:
    """Maps payload offsets to the frame and counts the items made (one per decoded payload)."""

    __slots__ = ("base", "source", "whole", "left", "root")

    def __init__(self, base: int, source: int, whole: tuple[int, int] | None = None) -> None:
        self.base = base  # where data[0] lies in the data source
        self.source = source
        self.whole = whole  # (start, length) every item covers when data is not in the frame
        self.left = MAX_ITEMS
        self.root: Node | None = None  # the decoder's top node, once made (notes go under it)

    def _at(self, off: int, ln: int) -> tuple[int, int]:
        w = self.whole
        return (w[0], w[1]) if w is not None else (self.base + off, max(ln, 0))

    def node(self, fd: FieldDef, value: Any, off: int, ln: int, text: str | None = None) -> Node:
        self.left -= 1
        if self.left < 0:
            raise TooMany
        start, length = self._at(off, ln)
        return item(fd, value, start, length, self.source, text)

    def generated(self, fd: FieldDef, value: Any) -> Node:
        """A bracketed item that takes no bytes (Wireshark's generated items)."""
        self.left -= 1
        if self.left < 0:
            raise TooMany
        start, _ = self._at(0, 0)
        return item(fd, value, start, 0, self.source, f"[{fd.name}: {fd.display(value)}]")

    def label(self, text: str, off: int, ln: int) -> Node:
        self.left -= 1
        if self.left < 0:
            raise TooMany
        start, length = self._at(off, ln)
        return Node(None, None, start, length, text, [], self.source)

    def note(self, severity: str, message: str, off: int, ln: int) -> Node:
        start, length = self._at(off, ln)
        return note(severity, message, start, length, self.source)

"""Field registry and decoded-tree nodes, shared by every layer.

Like Wireshark's hf_ tables: each field is declared once (filter name, label,
type, display base, value names, bit mask) and the detail tree, the -T fields
and JSON printers and the display filter all read that one declaration.
This module imports nothing from the rest of the package.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any, Final


class FT(enum.Enum):
    """Field types, mirroring Wireshark's FT_* where one exists."""

    NONE = "none"  # a subtree label only (FT_NONE)
    PROTOCOL = "protocol"  # a protocol layer ("mqtt", "tcp")
    UINT = "uint"
    INT = "int"
    BOOLEAN = "boolean"
    STRING = "string"
    BYTES = "bytes"
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    ETHER = "ether"
    DOUBLE = "double"  # also relative times in seconds
    FLOAT = "float"  # a number from a payload, shown as written back exactly (repr), not to 9 decimals
    ABSTIME = "abstime"  # seconds since the epoch, as float


class Base(enum.Enum):
    NONE = "none"
    DEC = "dec"
    HEX = "hex"
    DEC_HEX = "dec_hex"


# The members the per-item methods test, as constants (the compiled build reads them without a lookup).
_UINT: Final = FT.UINT
_INT: Final = FT.INT
_BOOLEAN: Final = FT.BOOLEAN
_BYTES: Final = FT.BYTES
_DOUBLE: Final = FT.DOUBLE
_FLOAT: Final = FT.FLOAT
_ABSTIME: Final = FT.ABSTIME
_NONE: Final = FT.NONE
_HEX: Final = Base.HEX
_DEC_HEX: Final = Base.DEC_HEX


class FieldDef:
    """One registered field. `size` is the width in bytes of integer fields
    (it sets the zero padding of hex output, as Wireshark's FT_UINT8/16/32 do);
    `mask` marks a bit field inside that integer. Made once per field by register(),
    never changed. (A plain class rather than a dataclass: mypyc makes it native.)"""

    __slots__ = ("abbrev", "name", "ftype", "base", "size", "values", "mask", "blurb", "secret")

    def __init__(
        self,
        abbrev: str,
        name: str,
        ftype: FT,
        base: Base = Base.DEC,
        size: int = 1,
        values: Mapping[int, str] | None = None,
        mask: int = 0,
        blurb: str = "",
        secret: bool = False,
    ) -> None:
        self.abbrev = abbrev
        self.name = name
        self.ftype = ftype
        self.base = base
        self.size = size
        self.values = values
        self.mask = mask
        self.blurb = blurb
        self.secret = secret  # masked in output unless --show-secrets

    def __repr__(self) -> str:
        return f"FieldDef({self.abbrev!r}, {self.name!r}, {self.ftype})"

    @property
    def protocol(self) -> str:
        return self.abbrev.split(".", 1)[0]

    def value_name(self, value: Any) -> str | None:
        if self.values is not None and isinstance(value, int):
            return self.values.get(value)
        return None

    def hex_str(self, value: int) -> str:
        return f"0x{value:0{self.size * 2}x}"

    def display(self, value: Any) -> str:
        """The value as the detail tree shows it after 'Label: '."""
        ft = self.ftype
        if ft is _UINT or ft is _INT:
            if self.base is _HEX:
                s = self.hex_str(value)
            elif self.base is _DEC_HEX:
                s = f"{value} ({self.hex_str(value)})"
            else:
                s = str(value)
            name = self.value_name(value)
            return f"{name} ({s})" if name is not None else s
        if ft is _BOOLEAN:
            return "True" if value else "False"
        if ft is _BYTES:
            return bytes_label(value)
        if ft is _DOUBLE:
            return f"{value:.9f}"
        if ft is _FLOAT:
            return repr(float(value))
        if ft is _ABSTIME:
            return abs_time_str(value)
        return str(value)

    def tshark(self, value: Any) -> str:
        """The value as `tshark -T fields -e` prints it."""
        ft = self.ftype
        if ft is _UINT or ft is _INT:
            if self.base is _HEX:
                return self.hex_str(value)
            return str(value)
        if ft is _BOOLEAN:
            return "1" if value else "0"
        if ft is _BYTES:
            return bytes(value).hex() if value else "<MISSING>"  # what tshark 4.0 prints for empty bytes
        if ft is _DOUBLE:
            return f"{value:.9f}"
        if ft is _FLOAT:
            return repr(float(value))
        if ft is _ABSTIME:
            return abs_time_str(value)
        if ft is _NONE:
            return "1"  # a label item: tshark prints 1 when present (e.g. tcp.analysis, mqtt.properties)
        return str(value)


LABEL_BYTES: Final = 36  # bytes a label shows in hex before "…" (Wireshark's MAX_BYTE_STR_LEN of 72 characters)


def bytes_label(value: Any) -> str:
    """A bytes field as its tree label shows it: Wireshark's first 36 bytes in hex and "…" after them (a
    300 KB payload is not a 600,000-character line); the whole value is in -T fields, JSON and the hex pane."""
    if not value:
        return "<MISSING>"
    if len(value) <= LABEL_BYTES:
        return bytes(value).hex()
    return bytes(value[:LABEL_BYTES]).hex() + "…"


NOT_REPRESENTABLE: Final = "Not representable"  # Wireshark's text for a time it cannot convert


def abs_time_str(value: Any) -> str:
    """Epoch seconds as Wireshark prints an absolute time: "Jan 24, 2022 08:46:49.283854000 UTC"
    (local time zone). A Decimal value keeps all nine fraction digits exact."""
    sec = int(value)
    try:
        day_clock, zone = _local_second(sec)
    except (OverflowError, OSError, ValueError):  # past the platform's time_t / struct tm: as tshark says
        return NOT_REPRESENTABLE
    return f"{day_clock}.{f'{value - sec:.9f}'[2:]} {zone}"


@lru_cache(maxsize=256)  # frames come in time order: a second's text is made once
def _local_second(sec: int) -> tuple[str, str]:
    """("Jan 24, 2022 08:46:49", "UTC") of an epoch second, in the local time zone."""
    import time

    t = time.localtime(sec)
    return f"{time.strftime('%b', t)} {t.tm_mday:2d}, {t.tm_year} {time.strftime('%H:%M:%S', t)}", time.strftime(
        "%Z", t
    )


REGISTRY: dict[str, FieldDef] = {}


def register(
    abbrev: str,
    name: str,
    ftype: FT,
    base: Base = Base.DEC,
    *,
    size: int = 1,
    values: Mapping[int, str] | None = None,
    mask: int = 0,
    blurb: str = "",
    secret: bool = False,
) -> FieldDef:
    """Declare a field once; declaring the same abbrev twice is a bug."""
    if abbrev in REGISTRY:
        raise ValueError(f"field {abbrev!r} registered twice")
    fd = FieldDef(abbrev, name, ftype, base, size, values, mask, blurb, secret)
    REGISTRY[abbrev] = fd
    return fd


# Severities of expert notes, as Wireshark names them.
CHAT, NOTE, WARN, ERROR = "Chat", "Note", "Warning", "Error"


class Node:
    """One item of the detail tree.

    `start`/`length` locate its bytes in data source `source` of the frame:
    0 is the frame itself; k > 0 is the k-th reassembled buffer listed in the
    frame's dissection (an MQTT PDU that spans several TCP segments).
    A node with `fdef` None is a text-only label (Wireshark's text items);
    a node with `severity` set is an expert note.
    A hidden node (Wireshark's PROTO_ITEM_SET_HIDDEN, e.g. ip.addr, tcp.port)
    feeds -T fields, JSON and filters but is not printed in the tree.

    (A plain class, not a dataclass: mypyc compiles it to a native one, whose construction
    costs a tenth of a dataclass's; a frame's tree has ~100 of them.)
    """

    __slots__ = ("fdef", "value", "start", "length", "text", "children", "source", "severity", "hidden")

    def __init__(
        self,
        fdef: FieldDef | None,
        value: Any,
        start: int,
        length: int,
        text: str,
        children: list[Node] | None = None,
        source: int = 0,
        severity: str | None = None,
        hidden: bool = False,
    ) -> None:
        self.fdef = fdef
        self.value = value
        self.start = start
        self.length = length
        self.text = text
        self.children: list[Node] = [] if children is None else children
        self.source = source
        self.severity = severity
        self.hidden = hidden  # filterable and in -T fields, not printed in the tree (Wireshark's hidden items)

    def __repr__(self) -> str:
        name = self.fdef.abbrev if self.fdef is not None else None
        return f"Node({name!r}, {self.text!r}, {self.start}, {self.length}, {len(self.children)} children)"

    def add(self, child: Node) -> Node:
        self.children.append(child)
        return child

    def walk(self) -> Iterator[Node]:
        """This node and every node under it, depth first, parents before children. A stack rather
        than nested generators: `yield from` costs each item one step per level above it."""
        stack = [self]
        while stack:
            n = stack.pop()
            yield n
            kids = n.children
            if kids:
                stack.extend(reversed(kids))


@lru_cache(maxsize=4096)  # flag words repeat: every TCP frame draws the same dozen pictures
def bits(value: int, mask: int, width: int = 8) -> str:
    """Wireshark's bit picture of a masked field: '0100 ....' for the bits of `mask` in a `width`-bit value."""
    out = []
    for i in range(width - 1, -1, -1):
        out.append(("1" if value >> i & 1 else "0") if mask >> i & 1 else ".")
        if i and i % 4 == 0:
            out.append(" ")
    return "".join(out)


def item(fdef: FieldDef, value: Any, start: int, length: int, source: int = 0, text: str | None = None) -> Node:
    """A field node whose text is 'Label: value' unless given."""
    if text is None:
        text = f"{fdef.name}: {fdef.display(value)}"
    return Node(fdef, value, start, length, text, [], source)


def note(severity: str, message: str, start: int, length: int, source: int = 0, fdef: FieldDef | None = None) -> Node:
    """An expert note (Wireshark's expert info), attached where it applies; `fdef`: the field its expert info
    is registered as, where -T fields and -Y should find it (e.g. tcp.analysis.duplicate_ack)."""
    return Node(fdef, message, start, length, f"[Expert Info ({severity}): {message}]", [], source, severity)

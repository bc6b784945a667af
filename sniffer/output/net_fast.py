"""`-T fields` values of the link, IP and TCP layers read from a plain frame's headers, without its tree.

Building a frame's link/IP/TCP tree costs ~100 µs (every item with its text), so `-e ip.src` alone made
`-T fields` slower than tshark. A plain frame is Ethernet (802.1Q/802.1ad tags included), Linux cooked
capture v1 or raw IP; IPv4 that is not a fragment, or IPv6 without extension headers; a TCP header that fits; and a TCP
segment the pipeline tracked (frame.seg). Link types: Ethernet (1), Linux cooked v1 (113), raw IP (101, 12,
14, 228, 229). For those, `headers()` finds the headers sniffer.net.tree would read, `value()` reads a
field from them, and NET_FAST (lists of values, for a Frame) and `cell()` (one -T fields cell, for
sniffer.output.summary.FieldsDissector) give what the tree would give, in the same order
(tests/test_output_fields.py checks them against the tree, frame by frame, on every capture we have).
Anything else is None: the caller builds the tree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from sniffer.fields import FieldDef
from sniffer.net import fields as F
from sniffer.net.frame import (
    ETH_IPV4,
    ETH_IPV6,
    LT_ETHERNET,
    LT_IPV4,
    LT_IPV6,
    LT_RAW,
    LT_SLL,
    addr_str,
    mac_str,
    vlan_tagged,
)
from sniffer.net.reassembly import Seg

_RAW: Final = (LT_RAW, 12, 14)

# (frame bytes, offset of the Ethernet header or -1, IP version, offset of the IP header, offset of the TCP
# header, the frame's Seg): offsets, not values, so that a line makes only the strings it prints
Headers = tuple[bytes, int, int, int, int, Seg]


def headers(frame: Any) -> Headers | None:
    """What the tree's link/IP/TCP layers hold for a plain frame (module docstring); None otherwise."""
    return headers_of(frame.data, frame.linktype, frame.seg)


def headers_of(data: bytes, lt: int, seg: Seg | None) -> Headers | None:
    """headers() of a frame not made into a Frame (sniffer.output.summary.FieldsDissector)."""
    if seg is None:
        return None
    n = len(data)
    eth = -1
    if lt == LT_ETHERNET:
        if n < 14:
            return None
        et = data[12] << 8 | data[13]
        eth, off = 0, 14
        while vlan_tagged(et) and off + 4 <= n:  # 802.1Q / 802.1ad tags, as the tree's _link walks them
            et = data[off + 2] << 8 | data[off + 3]
            off += 4
    elif lt == LT_SLL:
        if n < 16:
            return None
        et, off = data[14] << 8 | data[15], 16
    elif lt in _RAW:
        if n < 1:
            return None
        ver = data[0] >> 4
        et, off = (ETH_IPV4 if ver == 4 else ETH_IPV6 if ver == 6 else -1), 0
    elif lt == LT_IPV4:
        et, off = ETH_IPV4, 0
    elif lt == LT_IPV6:
        et, off = ETH_IPV6, 0
    else:
        return None
    if et == ETH_IPV4:
        if n < off + 20:
            return None
        ihl = (data[off] & 15) * 4
        tot = data[off + 2] << 8 | data[off + 3]
        if ihl < 20 or (data[off + 6] << 8 | data[off + 7]) & 0x3FFF or data[off + 9] != 6:
            return None  # (odd header, a fragment, not TCP: the tree decides)
        ipver = 4
        end = min(off + tot, n) if tot else n
        t = off + ihl
    elif et == ETH_IPV6:
        if n < off + 40 or data[off + 6] != 6:  # (extension headers: the tree walks them)
            return None
        plen = data[off + 4] << 8 | data[off + 5]
        ipver = 6
        end = min(off + 40 + plen, n) if plen else n
        t = off + 40
    else:
        return None
    if t + 20 > end:
        return None
    return data, eth, ipver, off, t, seg


def _u16(h: Headers, at: int) -> int:
    d = h[0]
    p = h[4] + at
    return d[p] << 8 | d[p + 1]


def _ip(h: Headers, version: int, dst: bool) -> str | None:
    """The frame's IP source or destination, None if it is not IP `version`."""
    if h[2] != version:
        return None
    if version == 4:
        p = h[3] + (16 if dst else 12)
        return addr_str(4, h[0][p : p + 4])
    p = h[3] + (24 if dst else 8)
    return addr_str(6, h[0][p : p + 16])


def _mac(h: Headers, at: int) -> str | None:
    e = h[1]
    return None if e < 0 else mac_str(bytes(h[0][e + at : e + at + 6]))


# The single-valued fields, in the order of value()'s codes (the most asked first). One function holds
# their getters: called natively by the compiled build, where a table of lambdas cost two generic calls a cell.
ONE_FIELDS: tuple[tuple[str, FieldDef], ...] = (
    ("tcp.stream", F.TCP_STREAM),
    ("tcp.srcport", F.TCP_SRCPORT),
    ("tcp.dstport", F.TCP_DSTPORT),
    ("tcp.len", F.TCP_LEN),
    ("ip.src", F.IP_SRC),
    ("ip.dst", F.IP_DST),
    ("ipv6.src", F.IPV6_SRC),
    ("ipv6.dst", F.IPV6_DST),
    ("tcp.seq", F.TCP_SEQ),
    ("tcp.nxtseq", F.TCP_NXTSEQ),
    ("tcp.ack", F.TCP_ACK),
    ("tcp.flags", F.TCP_FLAGS),
    ("tcp.window_size", F.TCP_WINDOW),
    ("tcp.window_size_value", F.TCP_WINDOW_VALUE),
    ("tcp.hdr_len", F.TCP_HDR_LEN),
    ("tcp.seq_raw", F.TCP_SEQ_RAW),
    ("tcp.ack_raw", F.TCP_ACK_RAW),
    ("eth.src", F.ETH_SRC),
    ("eth.dst", F.ETH_DST),
)
ONE_CODE: dict[str, int] = {name: code for code, (name, _) in enumerate(ONE_FIELDS)}
_HEX_CODE: Final = ONE_CODE["tcp.flags"]  # (the one field not shown in decimal; Final: a C global compiled)


def value(code: int, h: Headers) -> Any:
    """The value of ONE_FIELDS[code] on a plain frame; None where it has none (ip.src on IPv6, eth.* off
    Ethernet)."""
    if code < 4:
        return h[5].stream if code == 0 else _u16(h, 0) if code == 1 else _u16(h, 2) if code == 2 else h[5].length
    if code < 8:
        return _ip(h, 4 if code < 6 else 6, code == 5 or code == 7)
    seg = h[5]
    if code == 8:
        return seg.seq
    if code == 9:
        return seg.nxtseq
    if code == 10:
        return seg.ack
    if code == 11:
        return _u16(h, 12) & 0xFFF
    if code == 12:
        return seg.win
    if code == 13:
        return _u16(h, 14)
    if code == 14:
        return (h[0][h[4] + 12] >> 4) * 4
    if code == 15:
        return _u16(h, 4) << 16 | _u16(h, 6)
    if code == 16:
        return _u16(h, 8) << 16 | _u16(h, 10)
    return _mac(h, 6 if code == 17 else 0)


def cell(code: int, h: Headers) -> str:
    """ONE_FIELDS[code]'s -T fields cell: what collect() would show of the tree's item (below), or ""."""
    v = value(code, h)
    if v is None:
        return ""
    if code == _HEX_CODE:
        return F.TCP_FLAGS.tshark(v)
    return str(v)  # (numbers in decimal; addresses made by addr_str/mac_str, which escape() leaves alone)


def _one_values(fd: FieldDef, code: int) -> Callable[[Headers], list[str]]:
    show = fd.tshark

    def values(h: Headers) -> list[str]:
        v = value(code, h)
        return [] if v is None else [show(v)]

    return values


def _two_values(fd: FieldDef, first: int, second: int) -> Callable[[Headers], list[str]]:
    show = fd.tshark

    def values(h: Headers) -> list[str]:
        a = value(first, h)
        return [] if a is None else [show(a), show(value(second, h))]

    return values


# Every field's values, as sniffer.output.fields.collect shows the tree's items: escape(fd.tshark(value)),
# escape() leaving these numbers and addresses alone (the Frame path; tests/test_output_fields.py checks
# them against the tree on every capture)
NET_FAST: dict[str, Callable[[Headers], list[str]]] = {
    **{name: _one_values(fd, code) for code, (name, fd) in enumerate(ONE_FIELDS)},
    "ip.addr": _two_values(F.IP_ADDR, ONE_CODE["ip.src"], ONE_CODE["ip.dst"]),
    "ipv6.addr": _two_values(F.IPV6_ADDR, ONE_CODE["ipv6.src"], ONE_CODE["ipv6.dst"]),
    "tcp.port": _two_values(F.TCP_PORT, ONE_CODE["tcp.srcport"], ONE_CODE["tcp.dstport"]),
}

"""`-T fields` values of the link, IP and TCP layers read from a plain frame's headers, without its tree.

Building a frame's link/IP/TCP tree costs ~100 µs (every item with its text), so `-e ip.src` alone made
`-T fields` slower than tshark. A plain frame is Ethernet (802.1Q/802.1ad tags included), Linux cooked
capture v1 or raw IP; IPv4 that is not a fragment, or IPv6 without extension headers; a TCP header that fits; and a TCP
segment the pipeline tracked (frame.seg). Link types: Ethernet (1), Linux cooked v1 (113), raw IP (101, 12,
14, 228, 229). For those, `headers()` reads what sniffer.net.tree would put in
the tree, and NET_FAST turns it into the same values, in the same order (tests/test_output_fields.py
checks them against the tree, frame by frame, on every capture we have). Anything else is None: the
caller builds the tree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sniffer.fields import FT, Base, FieldDef
from sniffer.net import fields as F
from sniffer.net.frame import (
    ETH_IPV4,
    ETH_IPV6,
    LT_ETHERNET,
    LT_IPV4,
    LT_IPV6,
    LT_RAW,
    LT_SLL,
    VLAN_TPIDS,
    addr_str,
    mac_str,
)
from sniffer.net.reassembly import Seg

_RAW = (LT_RAW, 12, 14)

# (eth dst, eth src or None, IP version, src, dst, frame bytes, offset of the TCP header, the frame's Seg)
Headers = tuple[Any, Any, int, str, str, bytes, int, Seg]


def headers(frame: Any) -> Headers | None:
    """What the tree's link/IP/TCP layers hold for a plain frame (module docstring); None otherwise."""
    return headers_of(frame.data, frame.linktype, frame.seg)


def headers_of(data: bytes, lt: int, seg: Seg | None) -> Headers | None:
    """headers() of a frame not made into a Frame (sniffer.output.summary.FieldsDissector)."""
    if seg is None:
        return None
    n = len(data)
    edst = esrc = None
    if lt == LT_ETHERNET:
        if n < 14:
            return None
        et = data[12] << 8 | data[13]
        edst, esrc, off = data[0:6], data[6:12], 14
        while et in VLAN_TPIDS and off + 4 <= n:  # 802.1Q / 802.1ad tags, as the tree's _link walks them
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
        ipver, src, dst = 4, addr_str(4, data[off + 12 : off + 16]), addr_str(4, data[off + 16 : off + 20])
        end = min(off + tot, n) if tot else n
        t = off + ihl
    elif et == ETH_IPV6:
        if n < off + 40 or data[off + 6] != 6:  # (extension headers: the tree walks them)
            return None
        plen = data[off + 4] << 8 | data[off + 5]
        ipver, src, dst = 6, addr_str(6, data[off + 8 : off + 24]), addr_str(6, data[off + 24 : off + 40])
        end = min(off + 40 + plen, n) if plen else n
        t = off + 40
    else:
        return None
    if t + 20 > end:
        return None
    return edst, esrc, ipver, src, dst, data, t, seg


def _mac(b: bytes) -> str:
    return mac_str(bytes(b))


def _u16(h: Headers, at: int) -> int:
    d = h[5]
    p = h[6] + at
    return d[p] << 8 | d[p + 1]


def _u32(h: Headers, at: int) -> int:
    return _u16(h, at) << 16 | _u16(h, at + 2)


def _tcp_flags(h: Headers) -> int:
    return _u16(h, 12) & 0xFFF


def _show(fd: FieldDef) -> Callable[[Any], str]:
    """As sniffer.output.fields.collect shows an item, escape(fd.tshark(value)); these values are numbers
    and addresses made by addr_str/mac_str, which escape() leaves alone."""
    return str if fd.ftype is FT.UINT and fd.base is Base.DEC else fd.tshark


def _values(fd: FieldDef, get: Callable[[Headers], list]) -> Callable[[Headers], list[str]]:
    show = _show(fd)
    return lambda h: [show(v) for v in get(h)]


def _one_value(fd: FieldDef, get: Callable[[Headers], Any]) -> Callable[[Headers], list[str]]:
    show = _show(fd)

    def values(h: Headers) -> list[str]:
        v = get(h)
        return [] if v is None else [show(v)]

    return values


def _cell(fd: FieldDef, get: Callable[[Headers], Any]) -> Callable[[Headers], str]:
    """What joining _one_value's list gives, without the list and the join (FieldsDissector's line)."""
    if fd.ftype is FT.UINT and fd.base is Base.DEC:  # (str() called directly: the compiled build inlines it)

        def number(h: Headers) -> str:
            v = get(h)
            return "" if v is None else str(v)

        return number
    show = fd.tshark

    def cell(h: Headers) -> str:
        v = get(h)
        return "" if v is None else show(v)

    return cell


# Each field with the one value it has on a plain frame (None: none, e.g. ip.src on IPv6) ...
_ONE: dict[str, tuple[FieldDef, Callable[[Headers], Any]]] = {
    "eth.dst": (F.ETH_DST, lambda h: _mac(h[0]) if h[0] is not None else None),
    "eth.src": (F.ETH_SRC, lambda h: _mac(h[1]) if h[1] is not None else None),
    "ip.src": (F.IP_SRC, lambda h: h[3] if h[2] == 4 else None),
    "ip.dst": (F.IP_DST, lambda h: h[4] if h[2] == 4 else None),
    "ipv6.src": (F.IPV6_SRC, lambda h: h[3] if h[2] == 6 else None),
    "ipv6.dst": (F.IPV6_DST, lambda h: h[4] if h[2] == 6 else None),
    "tcp.srcport": (F.TCP_SRCPORT, lambda h: _u16(h, 0)),
    "tcp.dstport": (F.TCP_DSTPORT, lambda h: _u16(h, 2)),
    "tcp.stream": (F.TCP_STREAM, lambda h: h[7].stream),
    "tcp.len": (F.TCP_LEN, lambda h: h[7].length),
    "tcp.seq": (F.TCP_SEQ, lambda h: h[7].seq),
    "tcp.seq_raw": (F.TCP_SEQ_RAW, lambda h: _u32(h, 4)),
    "tcp.nxtseq": (F.TCP_NXTSEQ, lambda h: h[7].nxtseq),
    "tcp.ack": (F.TCP_ACK, lambda h: h[7].ack),
    "tcp.ack_raw": (F.TCP_ACK_RAW, lambda h: _u32(h, 8)),
    "tcp.hdr_len": (F.TCP_HDR_LEN, lambda h: (h[5][h[6] + 12] >> 4) * 4),
    "tcp.flags": (F.TCP_FLAGS, _tcp_flags),
    "tcp.window_size_value": (F.TCP_WINDOW_VALUE, lambda h: _u16(h, 14)),
    "tcp.window_size": (F.TCP_WINDOW, lambda h: h[7].win),
}
# ... and the fields with two (both ends' addresses or ports)
_TWO: dict[str, tuple[FieldDef, Callable[[Headers], list]]] = {
    "ip.addr": (F.IP_ADDR, lambda h: [h[3], h[4]] if h[2] == 4 else []),
    "ipv6.addr": (F.IPV6_ADDR, lambda h: [h[3], h[4]] if h[2] == 6 else []),
    "tcp.port": (F.TCP_PORT, lambda h: [_u16(h, 0), _u16(h, 2)]),
}

# every field's values, as the tree would give them (the Frame path, sniffer.output.fields)
NET_FAST: dict[str, Callable[[Headers], list[str]]] = {
    **{name: _one_value(fd, get) for name, (fd, get) in _ONE.items()},
    **{name: _values(fd, get) for name, (fd, get) in _TWO.items()},
}
# the single-valued fields as cells (sniffer.output.summary.FieldsDissector; the test checks each equals the
# joined list of NET_FAST)
NET_ONE: dict[str, Callable[[Headers], str]] = {name: _cell(fd, get) for name, (fd, get) in _ONE.items()}

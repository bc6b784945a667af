"""Detail trees for the layers below MQTT, built on demand (never on the hot path).

dissect_layers() returns the Frame, link (Ethernet/VLAN/SLL/SLL2/Null/raw), IPv4/IPv6
and TCP nodes of one frame with Wireshark's field names, values and tree texts; byte
ranges are offsets into the frame. TCP state (stream, relative numbers, window
scaling, analysis) comes from the Seg that TcpStreams.segment() returned for the frame.
"""

from __future__ import annotations

import struct
from decimal import Context, Decimal
from typing import Any, Final

from sniffer.fields import CHAT, ERROR, FT, NOTE, WARN, FieldDef, Node, bits, item, note
from sniffer.malformed import malformed, malformed_note, short
from sniffer.net import arp
from sniffer.net import fields as F
from sniffer.net.frame import (
    AF_INET6_VALUES,
    ETH_ARP,
    ETH_IPV4,
    ETH_IPV6,
    LT_ETHERNET,
    LT_IPV4,
    LT_IPV6,
    LT_LOOP,
    LT_NULL,
    LT_SLL,
    LT_SLL2,
    addr_str,
    mac_str,
    vlan_tagged,
)
from sniffer.net.names import MAC
from sniffer.net.reassembly import Seg, dsack, flags_str

# Wireshark's WTAP_ENCAP numbers and names for the link types we read.
ENCAP = {
    LT_ETHERNET: (1, "Ethernet"),
    LT_SLL: (25, "Linux cooked-mode capture v1"),
    LT_SLL2: (210, "Linux cooked-mode capture v2"),
    LT_NULL: (15, "NULL/Loopback"),
    LT_LOOP: (15, "OpenBSD loopback"),
    101: (7, "Raw IP"),
    12: (7, "Raw IP"),
    14: (7, "Raw IP"),
    LT_IPV4: (129, "Raw IPv4"),
    LT_IPV6: (130, "Raw IPv6"),
}
# RFC 2474/2597/3246/5865/8622 code points: the short names of the field's label, the long of its bit line
DSCP_NAMES = {0: "CS0", 1: "LE", 44: "VOICE-ADMIT", 46: "EF PHB"}
DSCP_LONG = {0: "Default", 1: "Lower Effort", 44: "Voice Admit", 46: "Expedited Forwarding"}
for _cs in range(1, 8):
    DSCP_NAMES[_cs * 8], DSCP_LONG[_cs * 8] = f"CS{_cs}", f"Class Selector {_cs}"
for _af in range(1, 5):
    for _drop in range(1, 4):
        DSCP_NAMES[_af * 8 + _drop * 2] = f"AF{_af}{_drop}"
        DSCP_LONG[_af * 8 + _drop * 2] = f"Assured Forwarding {_af}{_drop}"
ECN_SHORT = {0: "Not-ECT", 1: "ECT(1)", 2: "ECT(0)", 3: "CE"}
ECN_LONG = {
    0: "Not ECN-Capable Transport",
    1: "ECN-Capable Transport codepoint '01'",
    2: "ECN-Capable Transport codepoint '10'",
    3: "Congestion Experienced",
}


# an enum member as a constant: FT.BOOLEAN.value goes through Enum's Python-level property (~1,400
# instructions a read, twice for every bit of every flags byte), `is` against the member does not
_BOOLEAN: Final = FT.BOOLEAN
_WIDE: Final = Context(prec=60)  # pcapng stamps stay below 2^65 s: 20 digits + 9 decimals
_NS: Final = Decimal("1e-9")
_US: Final = Decimal("1e-6")
_NO_SHIFT: Final = Decimal("0.000000000")  # frame.offset_shift: no --time-shift


_BIG: Final = 2.0**33  # seconds (year 2242): below it, ts * 10^6 is an exact enough float (< 2^53) to round


def ts_decimal(ts: float) -> Decimal:
    """A float timestamp as an exact 9-digit Decimal (µs precision kept, float noise dropped)."""
    # A context wide enough for any float: pcapng stamps reach 2^64 s (29 digits with the fraction),
    # past the default 28 digits, which made quantize() raise.
    if -_BIG < ts < _BIG:
        return Decimal(round(ts * 1_000_000)).scaleb(-6, _WIDE).quantize(_NS, context=_WIDE)
    # (past it the product rounds: 1099511627775.0 s became ...775.000064; the float's own value is exact)
    return Decimal(ts).quantize(_US, context=_WIDE).quantize(_NS, context=_WIDE)


def seconds9(ts: float) -> str:
    """f"{ts_decimal(ts):.9f}" (what -T fields prints of a time the tree holds), without the Decimal."""
    if not -_BIG < ts < _BIG:
        return f"{ts_decimal(ts):.9f}"
    us = round(ts * 1_000_000)
    sign = "-" if us < 0 else ""
    us = abs(us)
    frac = str(1_000_000 + us % 1_000_000)  # "1" and the six digits: no format spec (slow compiled)
    return f"{sign}{us // 1_000_000}.{frac[1:]}000"


def ns_decimal(ns: int) -> Decimal:
    """An exact count of nanoseconds as a 9-digit Decimal (a nanosecond capture's time, as tshark keeps it)."""
    return Decimal(ns).scaleb(-9, _WIDE).quantize(_NS, context=_WIDE)


def ns_seconds(ns: int, digits: int = 9) -> str:
    """Seconds of an integer count of ns with `digits` decimals, the rest cut off (tshark truncates a time
    to its column's digits); with 9, f"{ns_decimal(ns):.9f}" without the Decimal."""
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if sign and not ns // 10 ** (9 - digits):  # (a negative time cut to zero is shown as 0, as tshark does)
        sign = ""
    if not digits:
        return f"{sign}{ns // 1_000_000_000}"
    frac = str(1_000_000_000 + ns % 1_000_000_000)  # "1" and the nine digits
    return f"{sign}{ns // 1_000_000_000}.{frac[1 : digits + 1]}"


def bitfield(fd: FieldDef, raw: int, width: int, start: int, length: int, shown: str | None = None) -> Node:
    """A masked field: value = (raw & mask) >> shift, text '0100 .... = Label: shown'."""
    mask = fd.mask or (1 << width) - 1
    shift = (mask & -mask).bit_length() - 1
    value = (raw & mask) >> shift
    if shown is None:
        shown = ("Set" if value else "Not set") if fd.ftype is _BOOLEAN else fd.display(value)
    v: Any = bool(value) if fd.ftype is _BOOLEAN else value
    return item(fd, v, start, length, text=f"{bits(raw, mask, width)} = {fd.name}: {shown}")


def _hidden(fd: FieldDef, value: Any, start: int, length: int) -> Node:
    """A hidden item (Wireshark's: filterable, in -T fields and JSON, never printed): no text is formatted."""
    return Node(fd, value, start, length, fd.abbrev, [], 0, None, True)


def _frame_node(linktype: int, data: bytes, number: int, ts: float, rel_ts: float, orig_len: int, delta: float,
                protocols: str, exact: tuple[int, int, int, int] | None = None,
                shown: tuple[float, int] | None = None) -> Node:  # fmt: skip
    """`exact`: Frame.exact, the times in integer ns (a capture not stamped in microseconds), else None and
    the float seconds hold the microseconds. `shown`: Frame.shown, the time since the previous displayed
    frame under a display filter (seconds, and ns when exact), else None: every frame is displayed."""
    cap = len(data)
    root = item(
        F.FRAME,
        None,
        0,
        cap,
        text=f"Frame {number}: {orig_len} bytes on wire ({orig_len * 8} bits), {cap} bytes captured ({cap * 8} bits)",
    )
    enc, ename = ENCAP.get(linktype, (-1, f"Unknown link type {linktype}"))
    if exact is None:
        t, rel, dt = ts_decimal(ts), ts_decimal(rel_ts), ts_decimal(delta)
        # (the labels from the microseconds too: the float difference of two epochs printed with nine decimals
        # showed its noise, 0.000042915 for tshark's 0.000043000)
        rel_s, dt_s = f"{rel:.9f}", f"{dt:.9f}"
    else:
        t, rel, dt = ns_decimal(exact[0]), ns_decimal(exact[1]), ns_decimal(exact[2])
        rel_s, dt_s = ns_seconds(exact[1]), ns_seconds(exact[2])
    ddt, ddt_s = dt, dt_s
    if shown is not None:
        if exact is None:
            ddt = ts_decimal(shown[0])
            ddt_s = f"{ddt:.9f}"
        else:
            ddt, ddt_s = ns_decimal(shown[1]), ns_seconds(shown[1])
    root.children += [
        item(F.FRAME_ENCAP, enc, 0, 0, text=f"Encapsulation type: {ename} ({enc})"),
        item(F.FRAME_TIME, t, 0, 0),
        item(F.FRAME_OFFSET_SHIFT, _NO_SHIFT, 0, 0, text="[Time shift for this packet: 0.000000000 seconds]"),
        item(F.FRAME_TIME_EPOCH, t, 0, 0, text=f"Epoch Time: {t} seconds"),
        item(F.FRAME_TIME_DELTA, dt, 0, 0, text=f"[{F.FRAME_TIME_DELTA.name}: {dt_s} seconds]"),
        item(F.FRAME_TIME_DELTA_DISP, ddt, 0, 0, text=f"[{F.FRAME_TIME_DELTA_DISP.name}: {ddt_s} seconds]"),
        item(F.FRAME_TIME_REL, rel, 0, 0, text=f"[{F.FRAME_TIME_REL.name}: {rel_s} seconds]"),
        item(F.FRAME_NUMBER, number, 0, 0),
        item(F.FRAME_LEN, orig_len, 0, 0, text=f"Frame Length: {orig_len} bytes ({orig_len * 8} bits)"),
        item(F.FRAME_CAP_LEN, cap, 0, 0, text=f"Capture Length: {cap} bytes ({cap * 8} bits)"),
        item(F.FRAME_MARKED, False, 0, 0, text="[Frame is marked: False]"),
        item(F.FRAME_IGNORED, False, 0, 0, text="[Frame is ignored: False]"),
        item(F.FRAME_PROTOCOLS, protocols, 0, 0, text=f"[Protocols in frame: {protocols}]"),
    ]
    return root


# per address item: (its hidden *_resolved, *.oui, *.oui_resolved, *.lg, *.ig fields), as tshark orders them
_ETH_HIDDEN: Final = {
    "eth.dst": (F.ETH_DST_RESOLVED, F.ETH_DST_OUI, F.ETH_DST_OUI_RESOLVED, F.ETH_DST_LG, F.ETH_DST_IG),
    "eth.src": (F.ETH_SRC_RESOLVED, F.ETH_SRC_OUI, F.ETH_SRC_OUI_RESOLVED, F.ETH_SRC_LG, F.ETH_SRC_IG),
}


def _eth_addr(fd: FieldDef, b: bytes, off: int, shown: str) -> Node:
    """Destination or Source (`shown`: MAC.shown(b)) with tshark's items: the name (sniffer.net.names) in the
    text, the resolved name and vendor as hidden fields, the LG and IG bits."""
    mac, raw, name, vendor = mac_str(b), int.from_bytes(b[:3], "big"), MAC.resolved(b), MAC.vendor(b)
    own_name, own_oui, own_vendor, own_lg, own_ig = _ETH_HIDDEN[fd.abbrev]
    node = item(fd, mac, off, 6, text=f"{fd.name}: {shown}")
    kids = node.children
    if fd is F.ETH_SRC and raw & 0x010000:  # a multicast or broadcast source: forged or broken (tshark warns)
        kids.append(note(WARN, F.ETH_SRC_NOT_GROUP.name, off, 6, 0, F.ETH_SRC_NOT_GROUP))
    kids += [_hidden(own_name, name, off, 6), _hidden(own_oui, raw, off, 3)]
    if vendor is not None:  # (only where manuf knows the OUI, as in tshark)
        kids.append(_hidden(own_vendor, vendor, off, 3))
    kids += [
        item(F.ETH_ADDR, mac, off, 6, text=f"Address: {shown}"),
        _hidden(F.ETH_ADDR_RESOLVED, name, off, 6),
        _hidden(F.ETH_ADDR_OUI, raw, off, 3),
    ]
    if vendor is not None:
        kids.append(_hidden(F.ETH_ADDR_OUI_RESOLVED, vendor, off, 3))
    lg, ig = bool(raw & 0x020000), bool(raw & 0x010000)
    kids += [
        _hidden(own_lg, lg, off, 3),
        bitfield(
            F.ETH_LG,
            raw,
            24,
            off,
            3,
            "Locally administered address (this is NOT the factory default)"
            if lg
            else "Globally unique address (factory default)",
        ),
        _hidden(own_ig, ig, off, 3),
        bitfield(
            F.ETH_IG, raw, 24, off, 3, "Group address (multicast/broadcast)" if ig else "Individual address (unicast)"
        ),
    ]
    return node


def _sll_source(data: bytes, at: int) -> Node:
    b = data[at : at + 6]
    return item(F.SLL_SRC_ETH, mac_str(b), at, 6, text=f"Source: {MAC.shown(b)}")


def _link(linktype: int, data: bytes, nodes: list[Node], protos: list[str]) -> tuple[int, int]:
    """Append the link-layer nodes; return (ethertype, network offset), ethertype -1 if none."""
    n = len(data)
    if linktype == LT_ETHERNET:
        if n < 14:
            return -1, 0
        dst_b, src_b = data[0:6], data[6:12]
        dst, src = MAC.shown(dst_b), MAC.shown(src_b)
        et = struct.unpack_from("!H", data, 12)[0]
        eth = item(F.ETH, None, 0, 14, text=f"Ethernet II, Src: {src}, Dst: {dst}")
        eth.children += [_eth_addr(F.ETH_DST, dst_b, 0, dst), _eth_addr(F.ETH_SRC, src_b, 6, src)]
        eth.children.append(item(F.ETH_TYPE, et, 12, 2))
        nodes.append(eth)
        protos += ["eth", "ethertype"]
        off = 14
        while vlan_tagged(et) and off + 4 <= n:
            tpid = et
            tci, et = struct.unpack_from("!HH", data, off)
            if tpid == 0x88A8:
                q = item(F.QINQ, None, off, 4, text=f"IEEE 802.1ad, ID: {tci & 0xFFF}")
                q.children += [
                    bitfield(F.QINQ_PRIORITY, tci, 16, off, 2),
                    bitfield(F.QINQ_DEI, tci, 16, off, 2),
                    bitfield(F.QINQ_ID, tci, 16, off, 2),
                    item(F.QINQ_ETYPE, et, off + 2, 2),
                ]
                nodes.append(q)
                protos += ["ieee8021ad", "ethertype"]
                off += 4
                continue
            v = item(
                F.VLAN,
                None,
                off,
                4,
                text=f"802.1Q Virtual LAN, PRI: {tci >> 13}, DEI: {tci >> 12 & 1}, ID: {tci & 0xFFF}",
            )
            v.children += [
                bitfield(F.VLAN_PRIORITY, tci, 16, off, 2),
                bitfield(F.VLAN_DEI, tci, 16, off, 2, "Eligible" if tci & 0x1000 else "Ineligible"),
                bitfield(F.VLAN_ID, tci, 16, off, 2),
                item(F.VLAN_ETYPE, et, off + 2, 2),
            ]
            nodes.append(v)
            protos += ["vlan", "ethertype"]
            off += 4
        return et, off
    if linktype == LT_SLL and n >= 16:
        pkttype, hatype, halen = struct.unpack_from("!HHH", data, 0)
        et = struct.unpack_from("!H", data, 14)[0]
        s = item(F.SLL, None, 0, 16, text="Linux cooked capture v1")  # as tshark titles it (not "...: None")
        s.children += [
            item(F.SLL_PKTTYPE, pkttype, 0, 2),
            item(F.SLL_HATYPE, hatype, 2, 2),
            item(F.SLL_HALEN, halen, 4, 2),
        ]
        if halen == 6:
            s.children.append(_sll_source(data, 6))
            s.children.append(item(F.SLL_UNUSED, data[12:14], 12, 2))
        else:
            s.children.append(item(F.SLL_SRC_OTHER, data[6 : 6 + min(halen, 8)], 6, min(halen, 8)))
        s.children.append(item(F.SLL_ETYPE, et, 14, 2))
        nodes.append(s)
        protos += ["sll", "ethertype"]
        return et, 16
    if linktype == LT_SLL2 and n >= 20:
        et, _reserved, ifindex, hatype, pkttype, halen = struct.unpack_from("!HHIHBB", data, 0)
        s = item(F.SLL, None, 0, 20, text="Linux cooked capture v2")
        s.children += [
            item(F.SLL_ETYPE, et, 0, 2),
            item(F.SLL_IFINDEX, ifindex, 4, 4),
            item(F.SLL_HATYPE, hatype, 8, 2),
            item(F.SLL_PKTTYPE, pkttype, 10, 1),
            item(F.SLL_HALEN, halen, 11, 1),
        ]
        if halen == 6:
            s.children.append(_sll_source(data, 12))
            s.children.append(item(F.SLL_UNUSED, data[18:20], 18, 2))
        else:
            s.children.append(item(F.SLL_SRC_OTHER, data[12 : 12 + min(halen, 8)], 12, min(halen, 8)))
        nodes.append(s)
        protos += ["sll", "ethertype"]
        return et, 20
    if linktype in (LT_NULL, LT_LOOP) and n >= 4:
        le = struct.unpack_from("<I", data, 0)[0]
        fam = le if le <= 0xFFFF and linktype == LT_NULL else struct.unpack_from(">I", data, 0)[0]
        if fam > 0xFFFF:
            fam = le
        s = item(F.NULL, None, 0, 4, text="Null/Loopback")  # tshark's title, not "Null/Loopback: None"
        s.children.append(item(F.NULL_FAMILY, fam, 0, 4))
        nodes.append(s)
        protos.append("null")
        return (ETH_IPV4 if fam == 2 else ETH_IPV6 if fam in AF_INET6_VALUES else -1), 4
    if linktype in (101, 12, 14) and n >= 1:
        nodes.append(item(F.RAW, None, 0, n, text="Raw packet data"))
        protos.append("raw")
        ver = data[0] >> 4
        return (ETH_IPV4 if ver == 4 else ETH_IPV6 if ver == 6 else -1), 0
    if linktype == LT_IPV4:
        return ETH_IPV4, 0
    if linktype == LT_IPV6:
        return ETH_IPV6, 0
    return -1, 0


# What _ipv4/_ipv6 return: (upper protocol or -1, its offset, the packet's end in the captured bytes, its end as its
# header and the frame's original length say, (src, dst) as text)
IpResult = tuple[int, int, int, int, tuple]


def _cut(proto: str, at: int, need: int, rend: int) -> Node:
    """The item of a layer read past its end (need: the offset it had to read to): malformed when the packet's own
    lengths end before that (rend), else the snapshot length cut it."""
    if need > rend:
        return malformed(proto, at)
    return short(f"[Packet size limited during capture: {proto} truncated]", at)


def _bogus_ipv4(off: int, vihl: int, tos: int, tot: int, nodes: list[Node], protos: list[str]) -> None:
    """tshark's IPv4 layer of a header that contradicts itself: the items up to the bad one and its note."""
    ip = item(F.IP, None, off, 20, text="Internet Protocol Version 4")
    ver, ihl = vihl >> 4, (vihl & 15) * 4
    version = bitfield(F.IP_VERSION, vihl, 8, off, 1)
    ip.children.append(version)
    nodes.append(ip)
    protos.append("ip")
    if ver != 4:
        version.add(note(ERROR, "Bogus IPv4 version", off, 1, 0, F.IP_BOGUS_VERSION))
        return
    hdr = ip.add(
        item(F.IP_HDR_LEN, ihl, off, 1, text=f"{bits(vihl, 0x0F, 8)} = Header Length: {ihl} bytes ({vihl & 15})")
    )
    if ihl < 20:
        hdr.add(note(ERROR, f"Bogus IP header length ({ihl}, must be at least 20)", off, 1, 0, F.IP_BOGUS_HDR_LEN))
        return
    ip.children.append(_dsfield(tos, off))
    total = ip.add(
        item(F.IP_LEN, tot, off + 2, 2, text=f"Total Length: {tot} bytes (bogus, less than header length {ihl})")
    )
    total.add(note(ERROR, "Bogus IP length", off + 2, 2, 0, F.IP_BOGUS_LEN))


def _dsfield(tos: int, off: int) -> Node:
    dscp, ecn = tos >> 2, tos & 3
    ds = item(
        F.IP_DSFIELD,
        tos,
        off + 1,
        1,
        text=f"Differentiated Services Field: 0x{tos:02x} (DSCP: {DSCP_NAMES.get(dscp, 'Unknown')}, "
        f"ECN: {ECN_SHORT[ecn]})",
    )
    ds.children += [
        bitfield(F.IP_DSCP, tos, 8, off + 1, 1, f"{DSCP_LONG.get(dscp, 'Unknown')} ({dscp})"),
        bitfield(F.IP_ECN, tos, 8, off + 1, 1, f"{ECN_LONG[ecn]} ({ecn})"),
    ]
    return ds


def _ipv4(data: bytes, off: int, frame_end: int, nodes: list[Node], protos: list[str]) -> IpResult | None:
    """The IPv4 layer; frame_end: the frame's original length (where its packets end on the wire)."""
    if len(data) < off + 20:
        nodes.append(_cut("IPv4", off, off + 20, frame_end))
        return None
    vihl, tos, tot, ident, frag, ttl, proto, csum = struct.unpack_from("!BBHHHBBH", data, off)
    ihl = (vihl & 15) * 4
    if vihl >> 4 != 4 or ihl < 20 or 0 < tot < ihl:
        _bogus_ipv4(off, vihl, tos, tot, nodes, protos)
        if vihl >> 4 == 6:  # tshark hands a version 6 header under the IPv4 type to IPv6
            return _ipv6(data, off, frame_end, nodes, protos)
        return None
    src, dst = addr_str(4, data[off + 12 : off + 16]), addr_str(4, data[off + 16 : off + 20])
    ip = item(F.IP, None, off, max(ihl, 20), text=f"Internet Protocol Version 4, Src: {src}, Dst: {dst}")
    ds = _dsfield(tos, off)
    fl = frag >> 13
    fnames = ", ".join(n for b, n in ((2, "Don't fragment"), (1, "More fragments")) if fl & b)
    flags = item(
        F.IP_FLAGS,
        fl,
        off + 6,
        1,
        text=f"{bits(frag >> 8, 0xE0, 8)} = Flags: 0x{fl:x}" + (f", {fnames}" if fnames else ""),
    )
    flags.children += [bitfield(fd, frag >> 8, 8, off + 6, 1) for fd in (F.IP_FLAGS_RB, F.IP_FLAGS_DF, F.IP_FLAGS_MF)]
    total = item(F.IP_LEN, tot, off + 2, 2)
    rend = off + tot if tot else frame_end  # total length 0: a TSO-offloaded capture
    if rend > frame_end:  # (a frame the snapshot length cut is as long as its original length says)
        rend = frame_end
        msg = f"IPv4 total length exceeds packet length ({frame_end - off} bytes)"
        total.add(note(ERROR, msg, off + 2, 2, 0, F.IP_BOGUS_LEN))
    ip.children += [
        bitfield(F.IP_VERSION, vihl, 8, off, 1),
        item(F.IP_HDR_LEN, ihl, off, 1, text=f"{bits(vihl, 0x0F, 8)} = Header Length: {ihl} bytes ({vihl & 15})"),
        ds,
        total,
        item(F.IP_ID, ident, off + 4, 2, text=f"Identification: 0x{ident:04x} ({ident})"),
        flags,
        bitfield(F.IP_FRAG_OFFSET, frag, 16, off + 6, 2, str((frag & 0x1FFF) * 8)),  # (shown in bytes, as tshark)
        item(F.IP_TTL, ttl, off + 8, 1),
        item(F.IP_PROTO, proto, off + 9, 1),
        item(F.IP_CHECKSUM, csum, off + 10, 2, text=f"Header Checksum: 0x{csum:04x} [validation disabled]"),
        item(F.IP_CHECKSUM_STATUS, 2, off + 10, 0, text="[Header checksum status: Unverified]"),
        item(F.IP_SRC, src, off + 12, 4),
        _hidden(F.IP_ADDR, src, off + 12, 4),
        _hidden(F.IP_SRC_HOST, src, off + 12, 4),
        _hidden(F.IP_HOST, src, off + 12, 4),
        item(F.IP_DST, dst, off + 16, 4),
        _hidden(F.IP_ADDR, dst, off + 16, 4),
        _hidden(F.IP_DST_HOST, dst, off + 16, 4),
        _hidden(F.IP_HOST, dst, off + 16, 4),
    ]
    nodes.append(ip)
    protos.append("ip")
    end = min(rend, len(data))
    if frag & 0x3FFF:
        return -1, off + ihl, end, rend, ()
    return proto, off + ihl, end, rend, (src, dst)


def _ipv6(data: bytes, off: int, frame_end: int, nodes: list[Node], protos: list[str]) -> IpResult | None:
    """The IPv6 layer and its extension headers; frame_end as _ipv4's."""
    if len(data) < off + 40:
        nodes.append(_cut("IPv6", off, off + 40, frame_end))
        return None
    vtf, plen, nxt, hlim = struct.unpack_from("!IHBB", data, off)
    src, dst = addr_str(6, data[off + 8 : off + 24]), addr_str(6, data[off + 24 : off + 40])
    ip = item(F.IPV6, None, off, 40, text=f"Internet Protocol Version 6, Src: {src}, Dst: {dst}")
    tc = (vtf >> 20) & 0xFF
    dscp, ecn = tc >> 2, tc & 3
    tcl = bitfield(
        F.IPV6_TCLASS,
        vtf,
        32,
        off,
        4,
        f"0x{tc:02x} (DSCP: {DSCP_NAMES.get(dscp, 'Unknown')}, ECN: {ECN_SHORT[ecn]})",
    )
    tcl.children += [
        bitfield(F.IPV6_DSCP, vtf, 32, off, 4, f"{DSCP_LONG.get(dscp, 'Unknown')} ({dscp})"),
        bitfield(F.IPV6_ECN, vtf, 32, off, 4, f"{ECN_LONG[ecn]} ({ecn})"),
    ]
    flow = vtf & 0xFFFFF
    payload_len = item(F.IPV6_PLEN, plen, off + 4, 2)
    rend = off + 40 + plen if plen else frame_end  # 0: a jumbogram, or offload
    if rend > frame_end:
        rend = frame_end
        msg = f"IPv6 payload length exceeds framing length ({frame_end - off - 40} bytes)"
        payload_len.add(note(WARN, msg, off + 4, 2, 0, F.IPV6_PLEN_EXCEEDS))
    ip.children += [
        item(F.IPV6_VERSION, vtf >> 28, off, 1, text=f"{bits(vtf >> 24, 0xF0, 8)} = Version: {vtf >> 28}"),
        _hidden(F.IP_VERSION, vtf >> 28, off, 1),  # Wireshark adds ip.version to IPv6 too
        tcl,
        item(F.IPV6_FLOW, flow, off + 1, 3, text=f"{bits(vtf, 0xFFFFF, 32)[10:]} = Flow Label: 0x{flow:05x}"),
        payload_len,
        item(F.IPV6_NXT, nxt, off + 6, 1),
        item(F.IPV6_HLIM, hlim, off + 7, 1),
        item(F.IPV6_SRC, src, off + 8, 16),
        _hidden(F.IPV6_ADDR, src, off + 8, 16),
        _hidden(F.IPV6_SRC_HOST, src, off + 8, 16),
        _hidden(F.IPV6_HOST, src, off + 8, 16),
        item(F.IPV6_DST, dst, off + 24, 16),
        _hidden(F.IPV6_ADDR, dst, off + 24, 16),
        _hidden(F.IPV6_DST_HOST, dst, off + 24, 16),
        _hidden(F.IPV6_HOST, dst, off + 24, 16),
    ]
    end = min(rend, len(data))
    p = off + 40
    exts: list[str] = []  # the extension headers tshark lists as protocols, in order
    for _ in range(16):
        if nxt == 51 and p + 12 <= end and p + (data[p + 1] + 2) * 4 <= end:
            ip.add(_ah(data, p))
            exts.append("ah")
            nxt, p = data[p], p + (data[p + 1] + 2) * 4
            continue
        if nxt not in F.IPV6_EXT or p + 8 > end:
            break
        title, abbrev = F.IPV6_EXT[nxt]
        if nxt == 44:
            fo = struct.unpack_from("!H", data, p + 2)[0]
            ext = item(F.IPV6_EXT_NXT[nxt], data[p], p, 1)
            node = Node(F.IPV6_FRAGHDR, None, p, 8, title, [ext])
            ident = struct.unpack_from("!I", data, p + 4)[0]
            node.children += [
                item(F.IPV6_FRAG_RES_OCTET, data[p + 1], p + 1, 1, text=f"Reserved octet: 0x{data[p + 1]:02x}"),
                bitfield(F.IPV6_FRAG_OFFSET, fo, 16, p + 2, 2, f"{fo >> 3} ({fo & 0xFFF8} bytes)"),
                bitfield(F.IPV6_FRAG_RES_BITS, fo, 16, p + 2, 2),
                bitfield(F.IPV6_FRAG_MORE, fo, 16, p + 2, 2, "Yes" if fo & 1 else "No"),
                item(F.IPV6_FRAG_ID, ident, p + 4, 4, text=f"Identification: 0x{ident:08x}"),
            ]
            ip.add(node)
            exts.append("ipv6.fraghdr")  # (tshark lists the Fragment header as a protocol)
            if fo & 0xFFF9:
                nodes.append(ip)
                protos += ("ipv6", *exts)
                return -1, p + 8, end, rend, ()
            nxt, p = data[p], p + 8
            continue
        hl = (data[p + 1] + 1) * 8
        node = Node(F.IPV6_EXT_PROTO[nxt], None, p, hl, title)
        node.children += [
            item(F.IPV6_EXT_NXT[nxt], data[p], p, 1),
            item(F.IPV6_EXT_LEN[nxt], data[p + 1], p + 1, 1),
            item(F.IPV6_EXT_LEN_OCT[nxt], hl, p + 1, 1, text=f"[Length: {hl} bytes]"),
        ]
        ip.add(node)
        exts.append(abbrev)
        nxt, p = data[p], p + hl
    nodes.append(ip)
    protos += ("ipv6", *exts)
    return nxt, p, end, rend, (src, dst)


def _ah(data: bytes, p: int) -> Node:
    """IPsec's Authentication Header at `p` (its length field counts 4-byte words, less 2)."""
    hl = (data[p + 1] + 2) * 4
    spi, seq = struct.unpack_from("!II", data, p + 4)
    return Node(
        F.AH,
        None,
        p,
        hl,
        "Authentication Header",
        [
            item(F.AH_NXT, data[p], p, 1),
            item(F.AH_LEN, data[p + 1], p + 1, 1, text=f"Length: {data[p + 1]} ({hl} bytes)"),
            item(F.AH_RESERVED, data[p + 2 : p + 4], p + 2, 2),
            item(F.AH_SPI, spi, p + 4, 4, text=f"AH SPI: 0x{spi:08x}"),
            item(F.AH_SEQ, seq, p + 8, 4),
            # (a length under 3 words: no ICV; and the compiled build's slice wants end >= start)
            item(F.AH_ICV, data[p + 12 : p + max(hl, 12)], p + 12, max(hl - 12, 0)),
        ],
    )


# The layers dissect_layers() builds (together): a tree asked for any of them is built by it
NET_LAYERS: Final = frozenset(
    {
        "frame",
        "eth",
        "vlan",
        "ieee8021ad",
        "ieee8021ah",
        "sll",
        "null",
        "ip",
        "ipv6",
        "ah",  # (inside the IPv6 layer)
        "tcp",
        "udp",
        "raw",
        "arp",
        "data",
    }
)

_OPT_TITLES = {0: "End of Option List (EOL)", 1: "No-Operation (NOP)"}


# tshark's names of options in its notes on their lengths, and the lengths of the fixed-size ones
_OPT_NAMES: Final = {2: "Maximum segment size", 3: "Window scale", 4: "SACK permitted", 5: "SACK", 8: "Timestamps",
                     30: "MPTCP", 34: "TCP Fast Open"}  # fmt: skip
OPT_LENGTHS: Final = {2: 4, 3: 3, 4: 2, 8: 10}  # (sniffer.expert_level reads them too)


def _bad_option(text: str, p: int, length: int) -> Node:
    """An option whose length byte cannot be right: tshark's item and note (Note severity, Sequence group)."""
    return Node(None, None, p, length, text, [note(NOTE, text, p, length, 0, F.TCP_OPTION_LEN_INVALID)])


def _tcp_options(data: bytes, t: int, end: int, ack_base: int, declared: int, flags: int) -> Node:
    """The options item: `declared` bytes by the header length, data[t + 20 : end] of them captured
    (an option the snapshot length cut is left out, not called malformed)."""
    cut = t + 20 + declared > end
    opts = data[t + 20 : end]
    root = item(F.TCP_OPTIONS, bytes(opts), t + 20, len(opts))
    names: list[str] = []
    p = t + 20
    nops = 0
    while p < end:
        kind = data[p]
        kind_node = item(F.TCP_OPTION_KIND, kind, p, 1)
        if kind in (0, 1):
            nops = nops + 1 if kind == 1 else 0
            if nops == 4:  # (tshark's note comes before the fourth)
                root.add(note(WARN, F.TCP_NOP.name, p, 1, 0, F.TCP_NOP))
            title = _OPT_TITLES[kind]
            root.add(Node(F.TCP_OPT_BY_KIND[kind], data[p : p + 1], p, 1, f"TCP Option - {title}", [kind_node]))
            names.append(title)
            p += 1
            if kind == 0:
                break
            continue
        nops = 0
        name = _OPT_NAMES.get(kind) or f"Unknown (0x{kind:02x})"
        if p + 1 >= end:
            if not cut:
                root.add(_bad_option(f"{name} (length byte past end of options)", p, 1))
            break
        ln = data[p + 1]
        if ln < 2:
            root.add(_bad_option(f"{name} (with too-short option length = {ln} byte{'' if ln == 1 else 's'})", p, 2))
            break
        if p + ln > end:
            if not cut:
                msg = f"{name} (option length = {ln} bytes says option goes past end of options)"
                root.add(_bad_option(msg, p, end - p))
            else:  # the snapshot length cut it: its kind and length, as tshark shows them
                fd = F.TCP_OPT_BY_KIND.get(kind, F.TCP_OPT_UNKNOWN)
                kids = [kind_node, item(F.TCP_OPTION_LEN, ln, p + 1, 1)]
                root.add(Node(fd, data[p:end], p, end - p, f"TCP Option - {name}", kids))
            break
        length = item(F.TCP_OPTION_LEN, ln, p + 1, 1)
        kids = [kind_node, length]
        if kind == 2 and not flags & 0x002:  # (first in its option, as tshark)
            kids.insert(0, note(WARN, F.TCP_MSS_PRESENT.name, p, ln, 0, F.TCP_MSS_PRESENT))
        want = OPT_LENGTHS.get(kind, ln)
        if want != ln:  # a fixed-size option of another size: its kind and length, no value
            length.add(note(NOTE, f"option length should be {want}", p + 1, 1, 0, F.TCP_OPTION_LEN_INVALID))
            root.add(Node(F.TCP_OPT_BY_KIND[kind], data[p : p + ln], p, ln, f"TCP Option - {name}", kids))
            names.append(name)
            p += ln
            continue
        if kind == 5 and (ln - 2) % 8:  # tshark stops the options there
            msg = "suboption would go past end of option"
            kids.append(
                Node(
                    None, None, p + 2, ln - 2, msg, malformed_note(ERROR, msg, p + 2, ln - 2, F.TCP_SUBOPTION_MALFORMED)
                )
            )
            kids.append(item(F.TCP_OPT_SACK_COUNT, 0, p, 0, text="[TCP SACK Count: 0]"))
            root.add(Node(F.TCP_OPT_BY_KIND[kind], data[p : p + ln], p, ln, "TCP Option - SACK", kids))
            break
        if kind == 2 and ln == 4:
            mss = struct.unpack_from("!H", data, p + 2)[0]
            kids.append(item(F.TCP_OPT_MSS_VAL, mss, p + 2, 2))
            title, name = f"Maximum segment size: {mss} bytes", "Maximum segment size"
        elif kind == 3 and ln == 3:
            sh = data[p + 2]
            kids += [item(F.TCP_OPT_WS_SHIFT, sh, p + 2, 1), item(F.TCP_OPT_WS_MULT, 1 << min(sh, 14), p + 2, 1)]
            kids[-1].text = f"[Multiplier: {1 << min(sh, 14)}]"
            title, name = f"Window scale: {sh} (multiply by {1 << min(sh, 14)})", "Window scale"
        elif kind == 4:
            title = name = "SACK permitted"
        elif kind == 8 and ln == 10:
            tsval, tsecr = struct.unpack_from("!II", data, p + 2)
            kids += [item(F.TCP_OPT_TSVAL, tsval, p + 2, 4), item(F.TCP_OPT_TSECR, tsecr, p + 6, 4)]
            title, name = f"Timestamps: TSval {tsval}, TSecr {tsecr}", "Timestamps"
        elif kind == 5:
            edges = []
            for q in range(p + 2, p + ln - 7, 8):
                le, re_ = struct.unpack_from("!II", data, q)
                le, re_ = (le - ack_base) & 0xFFFFFFFF, (re_ - ack_base) & 0xFFFFFFFF
                kids += [
                    item(F.TCP_OPT_SACK_LE, le, q, 4, text=f"left edge = {le} (relative)"),
                    item(F.TCP_OPT_SACK_RE, re_, q + 4, 4, text=f"right edge = {re_} (relative)"),
                ]
                edges.append(f"{le}-{re_}")
            kids.append(item(F.TCP_OPT_SACK_COUNT, len(edges), p, 0, text=f"[TCP SACK Count: {len(edges)}]"))
            if edges and dsack(data[p : p + ln], struct.unpack_from("!I", data, t + 8)[0]):  # RFC 2883: a duplicate
                le, re_ = ((v - ack_base) & 0xFFFFFFFF for v in struct.unpack_from("!II", data, p + 2))
                kids += [
                    item(F.TCP_OPT_DSACK_LE, le, p + 2, 4, text=f"[D-SACK Left Edge = {le} (relative)]"),
                    item(F.TCP_OPT_DSACK_RE, re_, p + 6, 4, text=f"[D-SACK Right Edge = {re_} (relative)]"),
                    Node(
                        None,
                        None,
                        p + 2,
                        8,
                        "D-SACK Sequence",
                        [note(WARN, "D-SACK Sequence", p + 2, 8, 0, F.TCP_OPT_DSACK)],
                    ),
                ]
            title, name = "SACK " + " ".join(edges), "SACK"
        else:
            title = name = f"Unknown ({kind})"
        fdef = F.TCP_OPT_UNKNOWN if name.startswith("Unknown") else F.TCP_OPT_BY_KIND[kind]
        root.add(Node(fdef, data[p : p + ln], p, ln, f"TCP Option - {title}", kids))
        names.append(name)
        p += ln
    root.text = f"Options: ({declared} bytes)" + "".join([", " + n for n in names])
    return root


def _connection_note(mask: int, flags: int, sport: int, dport: int, t: int) -> Node:
    """tshark's note under a set RST, SYN or FIN bit (epan's "Sequence" group: sniffer.session.tree)."""
    if mask == 0x04:
        return note(WARN, "Connection reset (RST)", t + 12, 2)
    if mask == 0x01:
        return note(CHAT, "Connection finish (FIN)", t + 12, 2)
    if flags & 0x10:
        return note(CHAT, f"Connection establish acknowledge (SYN+ACK): server port {sport}", t + 12, 2)
    return note(CHAT, f"Connection establish request (SYN): server port {dport}", t + 12, 2)


def _tcp(data: bytes, t: int, end: int, rend: int, extra: dict, nodes: list[Node], protos: list[str]) -> None:
    """The TCP layer of the segment at `t`; its packet ends at `end` in the captured bytes, at `rend` as its IP
    header says (tshark calls no TCP dissector on an empty IP payload)."""
    if rend <= t:
        return
    protos.append("tcp")
    if min(end, rend) < t + 20:  # not even the fixed header: what tshark reads before it stops
        _tcp_cut_short(data, t, end, rend, nodes)
        return
    sport, dport, seq, ack, doff, fl, win, csum, urg = struct.unpack_from("!HHIIBBHHH", data, t)
    hl = (doff >> 4) * 4
    flags = ((doff & 0x0F) << 8) | fl
    if hl < 20 or rend < t + hl:  # the header contradicts itself or its packet: malformed, not cut
        _tcp_bogus(data, t, end, rend, nodes)
        return
    seg = extra.get("seg")
    plen = seg.length if seg is not None else max(end - t - hl, 0)  # the bytes on the wire (snapshot length)
    rseq = seg.seq if seg is not None else seq
    rack = seg.ack if seg is not None else ack
    title = f"Transmission Control Protocol, Src Port: {sport}, Dst Port: {dport}, Seq: {rseq}"
    if fl & 0x10:
        title += f", Ack: {rack}"
    # The item spans header and payload (Wireshark's spans the header only) so that every child,
    # "TCP payload" included, lies inside its parent: the hex pane can rely on nesting.
    tcp = item(F.TCP, None, t, max(end - t, 0), text=title + f", Len: {plen}")
    kids = tcp.children
    kids += [
        item(F.TCP_SRCPORT, sport, t, 2),
        item(F.TCP_DSTPORT, dport, t + 2, 2),
        _hidden(F.TCP_PORT, sport, t, 2),
        _hidden(F.TCP_PORT, dport, t + 2, 2),
    ]
    if seg is not None:
        kids.append(item(F.TCP_STREAM, seg.stream, t, 0, text=f"[Stream index: {seg.stream}]"))
        c = seg.completeness
        kids.append(
            item(
                F.TCP_COMPLETENESS,
                c,
                t,
                0,
                text=f"[Conversation completeness: {_COMPLETENESS.get(c, 'Incomplete')} ({c})]",
            )
        )
    kids.append(item(F.TCP_LEN, plen, t, 0, text=f"[TCP Segment Len: {plen}]"))
    if seg is not None:
        kids.append(item(F.TCP_SEQ, rseq, t + 4, 4, text=f"Sequence Number: {rseq}    (relative sequence number)"))
    kids.append(item(F.TCP_SEQ_RAW, seq, t + 4, 4))
    if seg is not None:
        kids.append(
            item(
                F.TCP_NXTSEQ,
                seg.nxtseq,
                t,
                0,
                text=f"[Next Sequence Number: {seg.nxtseq}    (relative sequence number)]",
            )
        )
        # (tshark calls it relative only when the ACK flag says the field means something)
        relative = "    (relative ack number)" if flags & 0x010 else ""
        ack_item = item(F.TCP_ACK, rack, t + 8, 4, text=f"Acknowledgment Number: {rack}{relative}")
        if ack and not flags & 0x010:
            ack_item.add(note(NOTE, F.TCP_ACK_NONZERO.name, t + 8, 4, 0, F.TCP_ACK_NONZERO))
        kids.append(ack_item)
    kids.append(item(F.TCP_ACK_RAW, ack, t + 8, 4))
    kids.append(
        item(F.TCP_HDR_LEN, hl, t + 12, 1, text=f"{bits(doff, 0xF0, 8)} = Header Length: {hl} bytes ({doff >> 4})")
    )
    fnode = _tcp_flags(flags, t, sport, dport)
    if seg is not None and seg.fin_role:
        role = "initiates" if seg.fin_role == 1 else "undergoes"
        fnode.children[-1].add(note(NOTE, f"This frame {role} the connection closing", t + 12, 2))
    kids.append(fnode)
    kids.append(item(F.TCP_WINDOW_VALUE, win, t + 14, 2))
    if seg is not None:
        kids.append(item(F.TCP_WINDOW, seg.win, t + 14, 2, text=f"[Calculated window size: {seg.win}]"))
        if not fl & 0x02:
            sc = seg.win_scale
            shown = {-1: "-1 (unknown)", -2: "-2 (no window scaling used)"}.get(sc, str(sc))
            kids.append(item(F.TCP_WINDOW_SCALE, sc, t + 14, 2, text=f"[Window size scaling factor: {shown}]"))
    urgent = item(F.TCP_URGENT, urg, t + 18, 2)
    if urg and not flags & 0x020:
        urgent.add(note(NOTE, F.TCP_URGENT_NONZERO.name, t + 18, 2, 0, F.TCP_URGENT_NONZERO))
    kids += [
        item(F.TCP_CHECKSUM, csum, t + 16, 2, text=f"Checksum: 0x{csum:04x} [unverified]"),
        item(F.TCP_CHECKSUM_STATUS, 2, t + 16, 0, text="[Checksum Status: Unverified]"),
        urgent,
    ]
    if hl > 20:  # (options cut by the snapshot length: those captured, as tshark shows them)
        kids.append(_tcp_options(data, t, min(t + hl, end), seg.ack_base if seg is not None else 0, hl - 20, flags))
    if seg is not None and seg.timed:  # (tshark computes the stream's times by default)
        ts_node = Node(None, None, t, 0, "[Timestamps]")
        rel, dl = seg.time_rel, seg.time_delta
        ts_node.children += [
            _rel_time(F.TCP_TIME_REL, rel, t, F.TCP_TIME_REL.name),
            _rel_time(F.TCP_TIME_DELTA, dl, t, F.TCP_TIME_DELTA.name),
        ]
        kids.append(ts_node)
    if seg is not None and seg.ta:
        kids.append(_seq_ack(seg, t))
    if seg is not None and seg.note:
        kids.append(note(WARN, seg.note, t, 0))
    caught = max(end - t - hl, 0)
    if caught:
        kids.append(item(F.TCP_PAYLOAD, data[t + hl : end], t + hl, caught, text=f"TCP payload ({caught} bytes)"))
        tail = extra.get("tail")
        if seg is not None and ("retransmission" in seg.analysis or seg.resent_pdu):  # a copy: not handed on again
            n = seg.length
            kids.append(
                item(
                    F.TCP_SEGMENT_DATA,
                    data[t + hl : end],
                    t + hl,
                    caught,
                    text=f"Retransmitted TCP segment data ({n} bytes)",
                )
            )
        elif tail is not None:
            _desegmented(data, t + hl, end, tail[0], tail[1], kids)
    nodes.append(tcp)
    if t + hl > end:  # (the snapshot length: a header past the packet's own end is _tcp_bogus's)
        nodes.append(
            short(f"[Packet size limited during capture: TCP header truncated ({end - t} of {hl} bytes)]", end)
        )
    elif caught < plen:
        nodes.append(short(f"[Packet size limited during capture: TCP truncated ({caught} of {plen} bytes)]", end))


def _tcp_flags(flags: int, t: int, sport: int, dport: int) -> Node:
    """The Flags item, its bits and the [TCP Flags] picture last."""
    names = flags_str(flags)
    fnode = item(F.TCP_FLAGS, flags, t + 12, 2, text=f"Flags: 0x{flags:03x} ({names if flags else '<None>'})")
    for fd, label, mask in F.TCP_FLAG_BITS:
        bit = fnode.add(item(fd, bool(flags & mask), t + 12, 2, text=f"{bits(flags, mask, 12)} = {label}: "
                             + ("Set" if flags & mask else "Not set")))  # fmt: skip
        if flags & mask & 0x07:  # a connection's start and end, noted as tshark notes them (Sequence group)
            bit.add(_connection_note(mask, flags, sport, dport, t))
    fstr = "".join(
        c if flags & (1 << (11 - i)) else "·"
        for i, c in enumerate(("R", "R", "R", "A", "C", "E", "U", "A", "P", "R", "S", "F"))
    )
    fnode.add(item(F.TCP_FLAGS_STR, fstr, t + 12, 2, text=f"[TCP Flags: {fstr}]"))
    return fnode


_SHORT_SEGMENT: Final = (
    "Short segment. Segment/fragment does not contain a full TCP header (might be NMAP or someone else "
    "deliberately sending unusual packets)"
)


def _tcp_ports(data: bytes, t: int) -> Node:
    """A TCP layer item with its ports (the start every broken header shares)."""
    sport, dport = struct.unpack_from("!HH", data, t)
    tcp = item(F.TCP, None, t, 0, text=f"Transmission Control Protocol, Src Port: {sport}, Dst Port: {dport}")
    tcp.children += [
        item(F.TCP_SRCPORT, sport, t, 2),
        item(F.TCP_DSTPORT, dport, t + 2, 2),
        _hidden(F.TCP_PORT, sport, t, 2),
        _hidden(F.TCP_PORT, dport, t + 2, 2),
    ]
    return tcp


def _tcp_cut_short(data: bytes, t: int, end: int, rend: int, nodes: list[Node]) -> None:
    """Fewer than 20 bytes of TCP: tshark reads the ports (4 bytes), then the rest of the fixed header's fields
    up to the window (16 bytes) before it adds more, and stops where the bytes end."""
    have = min(end, rend)
    if have >= t + 16:
        _tcp_bogus(data, t, end, rend, nodes)
        return
    if have >= t + 4:
        tcp = _tcp_ports(data, t)
        tcp.length = have - t
        nodes.append(tcp)
    nodes.append(_cut("TCP", t, t + 4 if have < t + 4 else t + 16, rend))


def _tcp_bogus(data: bytes, t: int, end: int, rend: int, nodes: list[Node]) -> None:
    """A TCP header with a length under 20 bytes, or longer than its packet: tshark's items up to the field that
    says so, its note, and for a header its packet cuts, "[Malformed Packet: TCP]" where the bytes end."""
    seq, ack, doff, fl = struct.unpack_from("!IIBB", data, t + 4)
    hl = (doff >> 4) * 4
    flags = ((doff & 0x0F) << 8) | fl
    acked = f", Ack: {ack}" if flags & 0x010 else ""
    have = min(end, rend)
    tcp = _tcp_ports(data, t)
    tcp.length = have - t
    kids = tcp.children
    hdr = item(F.TCP_HDR_LEN, hl, t + 12, 1, text=f"{bits(doff, 0xF0, 8)} = Header Length: {hl} bytes ({doff >> 4})")
    if hl < 20:  # (the fixed header's first 16 bytes are there: the callers' test)
        tcp.text += f", Seq: {seq}"
        plen = max(rend - t - hl, 0)
        kids += [
            item(F.TCP_LEN, plen, t, 0, text=f"[TCP Segment Len: {plen}]"),
            item(F.TCP_SEQ_RAW, seq, t + 4, 4),
            hdr,
        ]
        hdr.add(note(ERROR, f"Bogus TCP header length ({hl}, must be at least 20)", t + 12, 1, 0, F.TCP_BOGUS_HDR_LEN))
        nodes.append(tcp)
        return
    tcp.text += f", Seq: {seq}{acked}"
    past = rend < t + hl  # the header runs past its packet's end (not the snapshot length's)
    if past:
        short_seg = malformed_note(WARN, _SHORT_SEGMENT, t, 0, F.TCP_SHORT_SEGMENT)
        kids.append(Node(None, None, t, 0, _SHORT_SEGMENT, short_seg))
    sport, dport = struct.unpack_from("!HH", data, t)
    kids += [item(F.TCP_SEQ_RAW, seq, t + 4, 4), item(F.TCP_ACK_RAW, ack, t + 8, 4), hdr]
    kids.append(_tcp_flags(flags, t, sport, dport))
    kids.append(item(F.TCP_WINDOW_VALUE, struct.unpack_from("!H", data, t + 14)[0], t + 14, 2))
    if have >= t + 18:
        csum = struct.unpack_from("!H", data, t + 16)[0]
        kids += [
            item(F.TCP_CHECKSUM, csum, t + 16, 2, text=f"Checksum: 0x{csum:04x} [unverified]"),
            item(F.TCP_CHECKSUM_STATUS, 2, t + 16, 0, text="[Checksum Status: Unverified]"),
        ]
    if have >= t + 20:
        kids.append(item(F.TCP_URGENT, struct.unpack_from("!H", data, t + 18)[0], t + 18, 2))
    if hl > 20 and have > t + 20:
        kids.append(_tcp_options(data, t, min(t + hl, have), 0, hl - 20, flags))
    nodes.append(tcp)
    nodes.append(malformed("TCP", t) if past else short("[Packet size limited during capture: TCP truncated]", t))


# tshark's words for a conversation's completeness bits (sniffer.net.reassembly C_*): a regular start, then
# data, then an end by FIN or RST
_COMPLETENESS: Final = {
    1: "Incomplete, SYN_SENT",
    3: "Incomplete, CLIENT_ESTABLISHED",
    7: "Incomplete, ESTABLISHED",
    15: "Incomplete, DATA",
    31: "Complete, WITH_DATA",
    47: "Complete, WITH_DATA",
    63: "Complete, WITH_DATA",
    23: "Complete, NO_DATA",
    39: "Complete, NO_DATA",
    55: "Complete, NO_DATA",
}
# The analysis flags in the order tshark's tree lists them, each with the expert notes it adds
_FLAG_NOTES: Final = (
    ("reused_ports", ("reused_ports",)),
    ("retransmission", ("retransmission",)),
    ("fast_retransmission", ("fast_retransmission", "retransmission")),
    ("spurious_retransmission", ("spurious_retransmission", "retransmission")),
    ("out_of_order", ("out_of_order",)),
    ("lost_segment", ("lost_segment",)),
    ("ack_lost_segment", ("ack_lost_segment",)),
    ("window_update", ("window_update",)),
    ("window_full", ("window_full",)),
    ("keep_alive", ("keep_alive",)),
    ("keep_alive_ack", ("keep_alive_ack",)),
    ("duplicate_ack", ()),
    ("zero_window_probe", ("zero_window_probe",)),
    ("zero_window", ("zero_window",)),
    ("zero_window_probe_ack", ("zero_window_probe_ack",)),
)


def _rel_time(fd: FieldDef, ns: int, t: int, label: str) -> Node:
    """A generated relative time of the TCP layer: `[label: 0.000504000 seconds]`, its value in seconds."""
    return item(fd, ns_decimal(ns), t, 0, text=f"[{label}: {ns_seconds(ns)} seconds]")


def _seq_ack(seg: Seg, t: int) -> Node:
    """tshark's [SEQ/ACK analysis] of a TCP frame: the segment this ACK completes and its RTT, the handshake's
    RTT, bytes in flight, and the analysis flags with their expert notes (a duplicate ACK's count and the
    frame it repeats after them)."""
    an = item(F.TCP_ANALYSIS, None, t, 0, text="[SEQ/ACK analysis]")
    if seg.acks_frame:
        frame = seg.acks_frame
        an.add(item(F.TCP_ACKS_FRAME, frame, t, 0, text=f"[This is an ACK to the segment in frame: {frame}]"))
        if seg.ack_rtt:
            an.add(_rel_time(F.TCP_ACK_RTT, seg.ack_rtt, t, "The RTT to ACK the segment was"))
    if seg.irtt:
        an.add(_rel_time(F.TCP_INITIAL_RTT, seg.irtt, t, "iRTT"))
    if seg.bif:
        an.add(item(F.TCP_BYTES_IN_FLIGHT, seg.bif, t, 0, text=f"[Bytes in flight: {seg.bif}]"))
        pb = seg.push_bytes
        an.add(item(F.TCP_PUSH_BYTES_SENT, pb, t, 0, text=f"[Bytes sent since last PSH flag: {pb}]"))
    if seg.analysis:
        af = an.add(item(F.TCP_ANALYSIS_FLAGS, None, t, 0, text="[TCP Analysis Flags]"))
        got = set(seg.analysis)
        for name, notes in _FLAG_NOTES:
            if name not in got:
                continue
            if name == "duplicate_ack":  # a plain item here; its note hangs on duplicate_ack_frame below
                af.add(item(F.ANALYSIS_FIELDS[name], None, t, 0, text="[This is a TCP duplicate ack]"))
            for key in notes:
                fd = F.ANALYSIS_FIELDS[key]
                af.add(item(fd, None, t, 0, text=f"[{fd.name}]"))  # made an expert note by add_expert_items
            if name == "retransmission" and seg.rto:
                af.add(_rel_time(F.TCP_RTO, seg.rto, t, "The RTO for this segment was"))
                rf = seg.rto_frame
                af.add(item(F.TCP_RTO_FRAME, rf, t, 0, text=f"[RTO based on delta from frame: {rf}]"))
        if "duplicate_ack" in got:
            num, frame = seg.dupack_num, seg.dupack_frame
            an.add(item(F.TCP_DUPACK_NUM, num, t, 0, text=f"[Duplicate ACK #: {num}]"))
            fr = an.add(item(F.TCP_DUPACK_FRAME, frame, t, 0, text=f"[Duplicate to the ACK in frame: {frame}]"))
            fr.add(note(NOTE, f"Duplicate ACK (#{num})", t, 0, 0, F.ANALYSIS_FIELDS["duplicate_ack"]))
    return an


def _desegmented(data: bytes, start: int, end: int, items: list, held: int, kids: list[Node]) -> None:
    """tshark's items of TCP desegmentation after the payload (Frame._segment_data): [PDU Size: N] per PDU
    (kind 0), "TCP segment data (N bytes)" for the bytes of a PDU (or TLS record) that spans segments (kind 1
    at a frame offset, 2 at the payload's start), and for the payload from `held` on (-1: none)."""
    for kind, value, off, length in items:
        if kind == 0:
            kids.append(item(F.TCP_PDU_SIZE, value, off, length, text=f"[PDU Size: {value}]"))
            continue
        if kind == 2:  # (at the payload's start)
            off = start
        if off < end:
            n = min(length, end - off)
            kids.append(item(F.TCP_SEGMENT_DATA, data[off : off + n], off, n, text=f"TCP segment data ({n} bytes)"))
    if held >= 0 and max(held, start) < end:
        at = max(held, start)
        n = end - at
        kids.append(item(F.TCP_SEGMENT_DATA, data[at:end], at, n, text=f"TCP segment data ({n} bytes)"))


def _data(data: bytes, start: int, end: int, nodes: list[Node], protos: list[str]) -> None:
    """tshark's Data layer: bytes no protocol took (an IP fragment whose datagram is not complete)."""
    n = end - start
    body = data[start:end]
    nodes.append(
        Node(
            F.DATA,
            None,
            start,
            n,
            f"Data ({n} bytes)",
            [item(F.DATA_DATA, body, start, n), item(F.DATA_LEN, n, start, 0, text=f"[Length: {n}]")],
        )
    )
    protos.append("data")


def _udp(data: bytes, u: int, end: int, rend: int, nodes: list[Node], protos: list[str]) -> None:
    """The UDP header as Wireshark shows it (the checksum is not verified, as tshark's default); `end`, `rend` as
    _tcp's."""
    if rend <= u:
        return
    protos.append("udp")
    if min(end, rend) - u < 8:
        nodes.append(_cut("UDP", u, u + 8, rend))
        return
    sport, dport, ulen, csum = struct.unpack_from("!HHHH", data, u)
    udp = item(F.UDP, None, u, end - u, text=f"User Datagram Protocol, Src Port: {sport}, Dst Port: {dport}")
    length = item(F.UDP_LENGTH, ulen, u + 4, 2)
    udp.children += [
        item(F.UDP_SRCPORT, sport, u, 2),
        item(F.UDP_DSTPORT, dport, u + 2, 2),
        _hidden(F.UDP_PORT, sport, u, 2),
        _hidden(F.UDP_PORT, dport, u + 2, 2),
        length,
    ]
    if ulen < 8:  # tshark stops at the length
        length.text += " (bogus, must be >= 8)"
        length.children += malformed_note(ERROR, f"Bad length value {ulen} < 8", u + 4, 2, F.UDP_LENGTH_BAD)
        nodes.append(udp)
        return
    if ulen > rend - u:
        length.text += f" (bogus, payload length {rend - u})"
        length.children += malformed_note(
            ERROR, f"Bad length value {ulen} > IP payload length", u + 4, 2, F.UDP_LENGTH_BAD
        )
    if csum == 0:  # no checksum (IPv4): the status is a child of the checksum item in Wireshark
        ck = item(F.UDP_CHECKSUM, 0, u + 6, 2, text="Checksum: 0x0000 [zero-value ignored]")
        ck.add(item(F.UDP_CHECKSUM_STATUS, 3, u + 6, 0, text="[Checksum Status: Not present]"))
        udp.children.append(ck)
    else:
        udp.children += [
            item(F.UDP_CHECKSUM, csum, u + 6, 2, text=f"Checksum: 0x{csum:04x} [unverified]"),
            item(F.UDP_CHECKSUM_STATUS, 2, u + 6, 0, text="[Checksum Status: Unverified]"),
        ]
    pend = min(end, u + ulen) if ulen >= 8 else end
    if pend > u + 8:
        n = pend - u - 8
        udp.children.append(item(F.UDP_PAYLOAD, data[u + 8 : pend], u + 8, n, text=f"UDP payload ({n} bytes)"))
    nodes.append(udp)


# the layer a frame's trailer belongs to: (the field its bytes are, whether 4 of them may be an Ethernet FCS)
_TRAILERS: Final = {"eth": (F.ETH_TRAILER, True), "vlan": (F.VLAN_TRAILER, False), "sll": (F.SLL_TRAILER, False)}
_PADDING_BAD: Final = (
    "Didn't find padding of zeros, and an undecoded trailer exists. There may be padding of non-zeros."
)


def _trailer(data: bytes, orig_len: int, end: int, link: Node) -> None:
    """What follows the network layer's message, as tshark's Ethernet dissector splits it: padding of zeros up
    to the 60-byte minimum frame, then a trailer, and (untagged Ethernet, frames of 64 bytes or more) an FCS in
    the last 4 bytes. A switch pads a device's short frames (a bare ACK, a PINGREQ) on the wire."""
    fd = link.fdef
    kind = _TRAILERS.get(fd.abbrev) if fd is not None else None
    if kind is None:
        return
    trailer_fd, fcs = kind
    rest = data[end:]
    n = len(rest)
    padded = orig_len >= 60 and orig_len - n < 60
    pad = 60 - (orig_len - n) if padded else 0
    if pad and any(rest[:pad]):  # only zeros are taken for padding
        pad = 0
    kids = link.children
    if pad:
        kids.append(item(F.ETH_PADDING, rest[:pad], end, pad))
    left = n - pad
    has_fcs = fcs and orig_len >= 64 and left >= 4
    tlen = left - 4 if has_fcs else left
    if tlen:
        t = item(trailer_fd, rest[pad : pad + tlen], end + pad, tlen)
        if padded and not pad:
            t.children.append(note(NOTE, _PADDING_BAD, end + pad, tlen, 0, F.ETH_PADDING_BAD))
        kids.append(t)
    if has_fcs:
        at = end + pad + tlen
        v = int.from_bytes(rest[pad + tlen : pad + tlen + 4], "big")
        kids += [
            item(F.ETH_FCS, v, at, 4, text=f"Frame check sequence: 0x{v:08x} [unverified]"),
            item(F.ETH_FCS_STATUS, 2, at, 4, text="[FCS Status: Unverified]"),
        ]


def dissect_layers(
    linktype: int,
    data: bytes,
    number: int,
    ts: float,
    rel_ts: float,
    orig_len: int,
    tcp_extra: dict,
    delta: float = 0.0,
    exact: tuple[int, int, int, int] | None = None,
    shown: tuple[float, int] | None = None,
    link_notes: tuple = (),
) -> list[Node]:
    """Frame, link, IP and TCP nodes of one frame.

    tcp_extra: "seg" (the Seg of this frame, for stream/relative numbers/window/analysis/stream times), and
    "upper" (the protocol names above TCP for frame.protocols, e.g. "mqtt"). `exact`: the frame's times in
    integer ns (Frame.exact) when its capture is not stamped in microseconds; `shown`, Frame.shown; `link_notes`,
    Frame.link_notes. Never raises on truncated data: layers that do not fit are left out.
    """
    nodes: list[Node] = []
    protos: list[str] = []
    try:
        et, off = _link(linktype, data, nodes, protos)
        link = nodes[-1] if nodes else None
        ipres = None
        end = -1  # where the network layer's message ends as its header declares it (the rest: a trailer)
        n = len(data)
        frame_end = max(orig_len, n)
        if et == ETH_IPV4:
            ipres = _ipv4(data, off, frame_end, nodes, protos)
            if ipres is not None and struct.unpack_from("!H", data, off + 2)[0]:
                end = ipres[3]
        elif et == ETH_IPV6:
            ipres = _ipv6(data, off, frame_end, nodes, protos)
            if ipres is not None and struct.unpack_from("!H", data, off + 4)[0]:
                end = ipres[3]
        elif et == ETH_ARP:
            arp_nodes, end = arp.layer(data, off)
            nodes += arp_nodes
            nodes += arp.dup_nodes(link_notes)  # (Frame.link_notes: found when the frame was first dissected)
            protos.append("arp")
        if link is not None and 0 < end < orig_len == n:
            _trailer(data, orig_len, end, link)
        seg = tcp_extra.get("seg")
        tdata = data
        if ipres is not None and ipres[0] == -1 and seg is not None and seg.ipfrag is not None:
            # the fragment that completed a TCP segment: TCP from the reassembled bytes, which follow the frame's
            # own in seg.ipfrag (Frame.tree moves those items to their data source)
            whole = seg.ipfrag[1]
            ipres = (6, seg.ipfrag[0], len(whole), len(whole), ())
            tdata = whole
        if ipres is not None and ipres[0] == 6:
            _tcp(tdata, ipres[1], ipres[2], ipres[3], tcp_extra, nodes, protos)
            upper = tcp_extra.get("upper")
            if upper:
                protos.append(upper)
        elif ipres is not None and ipres[0] == 17:
            _udp(data, ipres[1], ipres[2], ipres[3], nodes, protos)
        elif ipres is not None and ipres[0] == -1 and ipres[2] > ipres[1]:
            _data(data, ipres[1], ipres[2], nodes, protos)  # a fragment no reassembly took: its bytes as data
    except (IndexError, struct.error):  # a guard missed on garbage: keep what was built
        pass
    return [_frame_node(linktype, data, number, ts, rel_ts, orig_len, delta, ":".join(protos), exact, shown), *nodes]

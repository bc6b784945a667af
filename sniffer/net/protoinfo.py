"""Summary columns (Source, Destination, Protocol, Info) for frames that are not IP+TCP.

Wireshark lists every frame; this module gives the ARP, UDP, ICMP, ICMPv6 (neighbour
discovery), other-IP and non-IP frames a row in Wireshark's words. It runs only for
the frames parse() turned down, so it may be slower than the TCP path. Never raises.
"""

from __future__ import annotations

import struct
from typing import Final

from sniffer.net import arp
from sniffer.net.frame import (
    ETH_ARP,
    ETH_IPV4,
    ETH_IPV6,
    LT_ETHERNET,
    LT_SLL,
    LT_SLL2,
    addr_str,
    ipv6_walk,
    l3_offset,
    mac_str,
)
from sniffer.net.names import MAC
from sniffer.net.reassembly import flags_str

IP_PROTOS = {
    0: "HOPOPT",
    1: "ICMP",
    2: "IGMP",
    4: "IPIP",
    6: "TCP",
    17: "UDP",
    41: "IPv6",
    47: "GRE",
    50: "ESP",
    51: "AH",
    58: "ICMPv6",
    89: "OSPF",
    103: "PIM",
    112: "VRRP",
    132: "SCTP",
}
ETHERTYPES = {0x0806: "ARP", 0x8035: "RARP", 0x88CC: "LLDP", 0x888E: "EAPOL", 0x8863: "PPPoED", 0x8864: "PPPoES"}

ICMP_TYPES = {
    0: "Echo (ping) reply",
    3: "Destination unreachable",
    4: "Source quench (flow control)",
    5: "Redirect",
    8: "Echo (ping) request",
    9: "Router advertisement",
    10: "Router solicitation",
    11: "Time-to-live exceeded",
    12: "Parameter problem",
    13: "Timestamp request",
    14: "Timestamp reply",
}
ICMP_UNREACH = {
    0: "Network unreachable",
    1: "Host unreachable",
    2: "Protocol unreachable",
    3: "Port unreachable",
    4: "Fragmentation needed",
    13: "Communication administratively filtered",
}
ICMPV6_TYPES = {
    1: "Destination Unreachable",
    2: "Packet Too Big",
    3: "Time Exceeded",
    4: "Parameter Problem",
    128: "Echo (ping) request",
    129: "Echo (ping) reply",
    130: "Multicast Listener Query",
    131: "Multicast Listener Report",
    132: "Multicast Listener Done",
    133: "Router Solicitation",
    134: "Router Advertisement",
    135: "Neighbor Solicitation",
    136: "Neighbor Advertisement",
    137: "Redirect",
    143: "Multicast Listener Report Message v2",
}


def _link_addrs(linktype: int, data: bytes) -> tuple[str, str]:
    """The Source and Destination columns of a frame that has no IP addresses: MAC addresses by name
    (sniffer.net.names, as tshark's default resolution; bare with -n)."""
    if linktype == LT_ETHERNET and len(data) >= 12:
        return MAC.resolved(data[6:12]), MAC.resolved(data[0:6])
    if linktype == LT_SLL and len(data) >= 16:
        halen = min(struct.unpack_from("!H", data, 4)[0], 8)
        return _hw(data[6 : 6 + halen]), ""
    if linktype == LT_SLL2 and len(data) >= 20:
        halen = min(data[11], 8)
        return _hw(data[12 : 12 + halen]), ""
    return "", ""


def _hw(addr: bytes) -> str:
    return MAC.resolved(addr) if len(addr) == 6 else mac_str(addr)


def _arp(data: bytes, off: int, lsrc: str, ldst: str) -> tuple[str, str, str, str]:
    proto, info = arp.summary(data, off)
    return lsrc, ldst, proto, info


def _icmp(data: bytes, p: int, end: int, ttl: int) -> str:
    if p + 4 > end:
        return "[Malformed Packet]"
    typ, code = data[p], data[p + 1]
    name = ICMP_TYPES.get(typ, f"Unknown ICMP (obsolete or malformed?) ({typ})")
    if typ in (0, 8) and p + 8 <= end:
        ident, seq = struct.unpack_from("!HH", data, p + 4)
        seq_le = ((seq & 0xFF) << 8) | (seq >> 8)
        pad = "  " if typ == 8 else "    "
        return f"{name}{pad}id=0x{ident:04x}, seq={seq}/{seq_le}, ttl={ttl}"
    if typ == 3:
        return f"{name} ({ICMP_UNREACH.get(code, f'code {code}')})"
    return name


def _icmpv6(data: bytes, p: int, end: int, hlim: int) -> str:
    if p + 4 > end:
        return "[Malformed Packet]"
    typ = data[p]
    name = ICMPV6_TYPES.get(typ, f"Unknown ICMPv6 type ({typ})")
    if typ in (128, 129) and p + 8 <= end:
        ident, seq = struct.unpack_from("!HH", data, p + 4)
        return f"{name} id=0x{ident:04x}, seq={seq}, hop limit={hlim}"
    if typ in (135, 136) and p + 24 <= end:
        target = addr_str(6, data[p + 8 : p + 24])
        lladdr = _nd_lladdr(data, p + 24, end)
        if typ == 135:
            return f"{name} for {target}" + (f" from {lladdr}" if lladdr else "")
        fl = data[p + 4]
        names = [n for bit, n in ((0x80, "rtr"), (0x40, "sol"), (0x20, "ovr")) if fl & bit]
        text = f"{name} {target}" + (f" ({', '.join(names)})" if names else "")
        return text + (f" is at {lladdr}" if lladdr else "")
    if typ in (133, 134):
        lladdr = _nd_lladdr(data, p + (8 if typ == 133 else 16), end)
        return f"{name}" + (f" from {lladdr}" if lladdr else "")
    return name


def _nd_lladdr(data: bytes, p: int, end: int) -> str:
    """The source/target link-layer address option of an ND message, if any."""
    while p + 2 <= end:
        kind, ln = data[p], data[p + 1] * 8
        if ln == 0:
            break
        if kind in (1, 2) and p + 8 <= end:
            return mac_str(data[p + 2 : p + 8])
        p += ln
    return ""


def proto_info(linktype: int, data: bytes, orig_len: int = 0) -> tuple[str, str, str, str]:
    """(src, dst, protocol, info) like Wireshark's packet list, for non-TCP frames; `orig_len`: the frame's length
    on the wire (a header cut by the snapshot length is "limited", one its packet's lengths cut is malformed)."""
    try:
        return _proto_info(linktype, data, max(orig_len, len(data)))
    except (IndexError, struct.error):  # a guard missed: still a row, never an exception
        return "", "", "Unknown", "[Malformed Packet]"


MALFORMED: Final = "[Malformed Packet]"
LIMITED: Final = "[Packet size limited during capture]"


def _cut(need: int, rend: int) -> str:
    """The Info suffix of a layer read past its end (need): its packet ends before (malformed), or the capture."""
    return MALFORMED if need > rend else LIMITED


def _proto_info(linktype: int, data: bytes, frame_end: int) -> tuple[str, str, str, str]:
    et, off = l3_offset(linktype, data)
    lsrc, ldst = _link_addrs(linktype, data)
    n = len(data)
    if et == -1:
        if linktype in (0, 1, 12, 14, 101, 108, 113, 228, 229, 276):
            return lsrc, ldst, "Unknown", "[Malformed Packet]" if n < off + 1 else "Unknown network protocol"
        return "", "", f"WTAP_ENCAP = {linktype}", f"Unsupported link-layer type {linktype}"
    if et == ETH_ARP:
        return _arp(data, off, lsrc, ldst)
    if et == ETH_IPV4:
        if n < off + 20:  # (tshark sets the Source column before it reads the destination)
            src = addr_str(4, data[off + 12 : off + 16]) if n >= off + 16 else lsrc
            return src, ldst, "IPv4", _cut(off + 20, frame_end)
        vihl, tot, frag, ttl, proto = struct.unpack_from("!BxHxxHBB", data, off)
        ver, ihl = vihl >> 4, (vihl & 15) * 4
        if ver == 6:  # tshark reads a version 6 header under the IPv4 type as IPv6
            return _ipv6(data, off, frame_end, lsrc, ldst)
        if ver != 4:
            return lsrc, ldst, "IPv4", f"Bogus IPv4 version ({ver}, must be 4)"
        if ihl < 20:
            return lsrc, ldst, "IPv4", f"Bogus IP header length ({ihl}, must be at least 20)"
        if 0 < tot < ihl:
            return lsrc, ldst, "IPv4", f"Bogus IP length ({tot}, less than header length {ihl})"
        src, dst = addr_str(4, data[off + 12 : off + 16]), addr_str(4, data[off + 16 : off + 20])
        rend = min(off + tot, frame_end) if tot else frame_end
        p = off + ihl
        pname = IP_PROTOS.get(proto, f"Unknown ({proto})")
        if frag & 0x3FFF:
            if rend <= p and not frag & 0x1FFF:  # an empty first fragment: tshark hands it to TCP, which says nothing
                return src, dst, "IPv4", ""
            ident = struct.unpack_from("!H", data, off + 4)[0]
            fo = (frag & 0x1FFF) * 8
            return src, dst, "IPv4", f"Fragmented IP protocol (proto={pname} {proto}, off={fo}, ID={ident:04x})"
        return _l4(data, proto, p, min(rend, n), rend, src, dst, ttl, 4)
    if et == ETH_IPV6:
        return _ipv6(data, off, frame_end, lsrc, ldst)
    name = ETHERTYPES.get(et, f"0x{et:04x}")
    return lsrc, ldst, name, "Ethernet II" if linktype == LT_ETHERNET else name


def _ipv6(data: bytes, off: int, frame_end: int, lsrc: str, ldst: str) -> tuple[str, str, str, str]:
    n = len(data)
    if n < off + 40:
        return lsrc, ldst, "IPv6", _cut(off + 40, frame_end)
    plen = struct.unpack_from("!H", data, off + 4)[0]
    rend = min(off + 40 + plen, frame_end) if plen else frame_end
    end = min(rend, n)
    src, dst = addr_str(6, data[off + 8 : off + 24]), addr_str(6, data[off + 24 : off + 40])
    nxt, p, frag, fh, ah = ipv6_walk(data, off, end)
    if nxt < 0:
        return src, dst, "IPv6", MALFORMED
    if frag:
        fo, ident = struct.unpack_from("!HI", data, fh + 2)
        return (
            src,
            dst,
            "AH" if 0 <= ah < fh else "IPv6",  # (tshark's AH dissector names the column)
            f"IPv6 fragment (off={fo & 0xFFF8} more={'y' if fo & 1 else 'n'} ident=0x{ident:08x} nxt={data[fh]})",
        )
    return _l4(data, nxt, p, end, rend, src, dst, data[off + 7], 6)


def _l4(data: bytes, proto: int, p: int, end: int, rend: int, src: str, dst: str, ttl: int, ipver: int) -> tuple:
    """Protocol and Info of the IP payload at `p`, which ends at `end` in the captured bytes and at `rend` as the
    IP header says."""
    ipname = "IPv4" if ipver == 4 else "IPv6"
    if proto in (6, 17) and rend <= p:  # tshark calls no dissector on an empty payload
        return src, dst, ipname, ""
    have = min(end, rend)
    if proto == 17:
        if have < p + 8:
            return src, dst, ipname, _cut(p + 8, rend)
        sp, dp, ulen = struct.unpack_from("!HHH", data, p)
        if ulen < 8:
            return src, dst, "UDP", f"{sp} → {dp} [BAD UDP LENGTH {ulen} < 8]"
        if ulen > rend - p:
            return src, dst, "UDP", f"{sp} → {dp} [BAD UDP LENGTH {ulen} > IP PAYLOAD LENGTH] Len={ulen - 8}"
        return src, dst, "UDP", f"{sp} → {dp} Len={ulen - 8}"
    if proto == 1:
        return src, dst, "ICMP", _icmp(data, p, end, ttl)
    if proto == 58:
        return src, dst, "ICMPv6", _icmpv6(data, p, end, ttl)
    if proto == 6:  # TCP that parse() turned down: a header cut short, by the capture or by its own packet
        return src, dst, *_tcp(data, p, have, rend, ipname)
    return src, dst, IP_PROTOS.get(proto, ipname), ""


def _tcp(data: bytes, t: int, have: int, rend: int, ipname: str) -> tuple[str, str]:
    """Protocol and Info of a TCP header tshark could not read whole (sniffer.net.tree._tcp_bogus's tree)."""
    if have < t + 4:
        return ipname, _cut(t + 4, rend)
    sp, dp = struct.unpack_from("!HH", data, t)
    if have < t + 16:
        return "TCP", f"{sp} → {dp}{_cut(t + 16, rend)}"
    seq, ack, doff, fl, win = struct.unpack_from("!IIBBH", data, t + 4)
    flags = (doff & 0x0F) << 8 | fl
    hl = (doff >> 4) * 4
    text = f"{sp} → {dp} [{flags_str(flags)}] Seq={seq}"
    text += f" Ack={ack} Win={win}" if flags & 0x010 else f" Win={win}"
    if hl < 20:
        return "TCP", f"{text}, bogus TCP header length ({hl}, must be at least 20)"
    return "TCP", text + _cut(t + hl, rend)

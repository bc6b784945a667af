"""Per-frame fast path: link layer → IPv4/IPv6 → TCP as one flat tuple.

Rules: fixed-offset reads over the raw bytes (byte by byte on the per-frame path, where the
compiled build reads them natively; struct.unpack_from elsewhere), no object per layer, every
offset checked against the captured length. A truncated or garbage frame
gives None (parse) or a generic row (proto_info); nothing here raises.

parse() result layout (PARSED_FIELDS names each slot):
    (ipver, src, dst, sport, dport, seq, ack, tcpflags, window, payload_off, payload_len, tcp_off, wire_len)
ipver is 4 or 6, src/dst are the raw 4- or 16-byte addresses, tcpflags the 9 low
bits of the TCP flags word (NS..FIN), payload_off/payload_len locate the TCP
payload in `data` (IP padding and the Ethernet trailer excluded), tcp_off is the
offset of the TCP header (its options are data[tcp_off + 20 : payload_off]); wire_len
is the TCP payload length the IP header declares, larger than payload_len when the
snapshot length cut the frame (0 in the IP length, a TSO capture: payload_len). The
last two come last so that users of the first eleven slots are unaffected.
"""

from __future__ import annotations

import _socket  # socket's C core: inet_ntop without the socket module's import cost (~3 ms a start-up)
import struct
from typing import Final

PARSED_FIELDS: Final = (
    "ipver",
    "src",
    "dst",
    "sport",
    "dport",
    "seq",
    "ack",
    "tcpflags",
    "window",
    "payload_off",
    "payload_len",
    "tcp_off",
    "wire_len",
)

# What parse() returns, in PARSED_FIELDS order.
Parsed = tuple[int, bytes, bytes, int, int, int, int, int, int, int, int, int, int]

# Link types (LINKTYPE_* values from pcap files; 12/14 are raw IP on some BSDs).
LT_NULL: Final = 0
LT_ETHERNET: Final = 1
LT_RAW: Final = 101
LT_LOOP: Final = 108
LT_SLL: Final = 113
LT_IPV4: Final = 228
LT_IPV6: Final = 229
LT_SLL2: Final = 276
LT_RAW_ALIASES: Final = (12, 14)

ETH_IPV4: Final = 0x0800
ETH_IPV6: Final = 0x86DD
ETH_ARP: Final = 0x0806


def vlan_tagged(ethertype: int) -> bool:
    """A VLAN tag's TPID (802.1Q, 802.1ad, the old QinQ 0x9100): comparisons, where a frozenset lookup cost
    ~200 instructions a frame compiled."""
    return ethertype == 0x8100 or ethertype == 0x88A8 or ethertype == 0x9100


# BSD AF_INET6 differs per OS (Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30).
AF_INET6_VALUES: Final = frozenset((10, 24, 28, 30))

_u16: Final = struct.Struct("!H").unpack_from
_u32le: Final = struct.Struct("<I").unpack_from
_ipv4_hdr: Final = struct.Struct("!BxHxxHxB").unpack_from  # ver/ihl, total len, flags/frag, proto

# IPv6 extension headers that the parser walks (AH has its own length unit).
_IPV6_EXT: Final = frozenset((0, 43, 60, 51))
IPV6_FRAGMENT: Final = 44


def l3_offset(linktype: int, data: bytes) -> tuple[int, int]:
    """(ethertype, offset of the network header) for any supported link type.

    ethertype is 0x0800/0x86DD for IP, another ethertype for other payloads, -1 when
    the link type is unknown or the header is truncated.
    """
    n = len(data)
    if linktype == LT_ETHERNET:
        if n < 14:
            return -1, 0
        et = _u16(data, 12)[0]
        off = 14
        while vlan_tagged(et):
            if n < off + 4:
                return -1, 0
            et = _u16(data, off + 2)[0]
            off += 4
        return et, off
    if linktype == LT_SLL:
        if n < 16:
            return -1, 0
        return _u16(data, 14)[0], 16
    if linktype == LT_SLL2:
        if n < 20:
            return -1, 0
        return _u16(data, 0)[0], 20
    if linktype in (LT_NULL, LT_LOOP):
        if n < 4:
            return -1, 0
        af = _u32le(data, 0)[0]
        if af > 0xFFFF:  # written in the other byte order
            af = int.from_bytes(data[:4], "big")
        if af == 2:
            return ETH_IPV4, 4
        if af in AF_INET6_VALUES:
            return ETH_IPV6, 4
        return -1, 4
    if linktype == LT_RAW or linktype in LT_RAW_ALIASES:
        if n < 1:
            return -1, 0
        v = data[0] >> 4
        return (ETH_IPV4 if v == 4 else ETH_IPV6 if v == 6 else -1), 0
    if linktype == LT_IPV4:
        return ETH_IPV4, 0
    if linktype == LT_IPV6:
        return ETH_IPV6, 0
    return -1, 0


def ipv6_walk(data: bytes, off: int, end: int) -> tuple[int, int, int, int, int]:
    """Walk IPv6 extension headers from the fixed header at `off`.

    Returns (upper protocol, offset of its header, fragment offset, offset of the Fragment
    header or -1, offset of an Authentication Header or -1) or proto -1 if truncated;
    fragment offset is the fragment header's offset field (0 = first/none), or -2 for a
    first fragment with more to follow (not reassembled here). The one walk of these
    headers: ipfrag and the Info column use it too.
    """
    nxt = data[off + 6]
    p = off + 40
    frag = 0
    fragat = ah = -1
    for _ in range(16):  # bound the walk: a loop of headers is garbage
        if nxt in _IPV6_EXT:
            if p + 2 > end:
                return -1, p, 0, fragat, ah
            if nxt == 51:
                hl = (data[p + 1] + 2) * 4
                if ah < 0:
                    ah = p
            else:
                hl = (data[p + 1] + 1) * 8
            nxt = data[p]
            p += hl
        elif nxt == IPV6_FRAGMENT:
            if p + 8 > end:
                return -1, p, 0, fragat, ah
            fo = _u16(data, p + 2)[0]
            frag = fo >> 3 if fo >> 3 else (-2 if fo & 1 else 0)
            if fragat < 0:  # (the outer one, should a datagram hold two)
                fragat = p
            nxt = data[p]
            p += 8
        else:
            break
    if p > end:
        return -1, p, 0, fragat, ah
    return nxt, p, frag, fragat, ah


def parse(linktype: int, data: bytes) -> Parsed | None:
    """The flat TCP tuple of a frame (see module doc), or None if not IP+TCP or truncated."""
    p = parse_tcp(linktype, data)
    return p if p[0] else None


# parse_tcp()'s answer for a frame that is not IP+TCP (ipver 0)
NOT_TCP: Final = (0, b"", b"", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def parse_tcp(linktype: int, data: bytes) -> Parsed:
    """parse() for the per-frame path: NOT_TCP (ipver 0) instead of None.

    A fixed-size tuple that is never None is a C struct in the compiled build: returned and
    unpacked without a tuple or a boxed int per field. For the same reason the headers are read
    byte by byte (a native operation there) instead of with struct, which boxes every field.
    """
    n = len(data)
    if linktype == 1 and n >= 54:
        # Fast paths: Ethernet + IPv4 (IHL 5) or IPv6 with TCP right after the fixed header;
        # anything else (VLAN, IP options, extension headers, a fragment, not TCP) takes _parse().
        et = data[12] << 8 | data[13]
        if et == 0x0800:
            if data[14] == 0x45 and data[23] == 6 and not (data[20] & 0x3F or data[21]):
                tot = data[16] << 8 | data[17]
                wend = end = 14 + tot if tot else n  # total length 0: TSO-offloaded capture
                if end > n:
                    end = n
                return _tcp(data, 4, data[26:30], data[30:34], 34, end, wend)
        elif et == 0x86DD and n >= 74 and data[14] >> 4 == 6 and data[20] == 6:
            plen = data[18] << 8 | data[19]
            wend = end = 54 + plen if plen else n  # plen 0: jumbogram / offload
            if end > n:
                end = n
            return _tcp(data, 6, data[22:38], data[38:54], 54, end, wend)
    return _parse(linktype, data, n)


def tcp_at(data: bytes, ipver: int, src: bytes, dst: bytes, t: int) -> Parsed:
    """parse_tcp()'s tuple of a TCP segment at `t` running to the end of `data` (one IP fragments carried)."""
    return _tcp(data, ipver, src, dst, t, len(data), len(data))


def _tcp(data: bytes, ipver: int, src: bytes, dst: bytes, t: int, end: int, wend: int) -> Parsed:
    """The parse_tcp() tuple of a TCP header at `t`, its IP packet ending at `end` (captured) and
    `wend` (on the wire)."""
    if t + 20 > end:
        return NOT_TCP
    doff = data[t + 12]
    hl = (doff >> 4) * 4
    if hl < 20:
        return NOT_TCP
    po = t + hl
    wire = wend - po
    if po > end:
        if wire < 0:  # the IP packet itself is shorter than the header: not a TCP segment we can read
            return NOT_TCP
        # The snapshot length cut the options: the fixed header is there, and tshark reads it. The
        # options captured are data[t + 20 : end]; none of the payload was.
        po = end
    return (
        ipver,
        src,
        dst,
        data[t] << 8 | data[t + 1],  # sport
        data[t + 2] << 8 | data[t + 3],  # dport
        data[t + 4] << 24 | data[t + 5] << 16 | data[t + 6] << 8 | data[t + 7],  # seq
        data[t + 8] << 24 | data[t + 9] << 16 | data[t + 10] << 8 | data[t + 11],  # ack
        ((doff & 1) << 8) | data[t + 13],  # flags (NS..FIN)
        data[t + 14] << 8 | data[t + 15],  # window
        po,
        end - po,
        t,
        wire,
    )


def _parse(linktype: int, data: bytes, n: int) -> Parsed:
    """parse_tcp() for every link type and IP header shape."""
    vihl: int  # struct fields, declared (native ints in the compiled build)
    tot: int
    frag: int
    proto: int
    plen: int
    # Inline the common link types; the rest go through l3_offset.
    if linktype == 1 and n >= 34:
        et = (data[12] << 8) | data[13]
        off = 14
        if et != 0x0800 and et != 0x86DD:
            et, off = l3_offset(linktype, data)
    else:
        et, off = l3_offset(linktype, data)
    if et == 0x0800:
        if n < off + 20:
            return NOT_TCP
        vihl, tot, frag, proto = _ipv4_hdr(data, off)
        if vihl >> 4 != 4 or proto != 6 or frag & 0x3FFF:  # not TCP, or a fragment
            return NOT_TCP
        ihl = (vihl & 15) * 4
        if ihl < 20:
            return NOT_TCP
        wend = end = off + tot if tot else n  # total length 0: TSO-offloaded capture
        if end > n:
            end = n
        return _tcp(data, 4, data[off + 12 : off + 16], data[off + 16 : off + 20], off + ihl, end, wend)
    if et == 0x86DD:
        if n < off + 40 or data[off] >> 4 != 6:
            return NOT_TCP
        plen = _u16(data, off + 4)[0]
        wend = end = off + 40 + plen if plen else n  # plen 0: jumbogram / offload
        if end > n:
            end = n
        nxt = data[off + 6]
        if nxt == 6:
            t = off + 40
        else:
            nxt, t, fragoff, _fh, _ah = ipv6_walk(data, off, end)
            if nxt != 6 or fragoff:
                return NOT_TCP
        return _tcp(data, 6, data[off + 8 : off + 24], data[off + 24 : off + 40], t, end, wend)
    return NOT_TCP


def tcp_header_offset(data: bytes, parsed: tuple) -> int:  # any length: older 11-slot tuples too
    """Offset of the TCP header of a parse() result (its options are data[off+20:payload_off]).

    parse() carries it in slot 11; for a tuple without it, find it back: the only header
    length h for which the ports at payload_off-h match and the data-offset nibble says h.
    """
    if len(parsed) > 11:
        return parsed[11]
    po = parsed[9]
    sport, dport = parsed[3], parsed[4]
    for h in range(20, 64, 4):
        t = po - h
        if t < 0:
            break
        if data[t + 12] >> 4 == h >> 2 and _u16(data, t)[0] == sport and _u16(data, t + 2)[0] == dport:
            return t
    return po - 20


def tcp_options(data: bytes, parsed: tuple) -> bytes:
    """The raw TCP options bytes of a parse() result."""
    t = tcp_header_offset(data, parsed)
    return bytes(data[t + 20 : parsed[9]])


_addr_cache: Final[dict[bytes, str]] = {}  # (Final: a C global when compiled, not a module lookup)


def addr_str(ipver: int, addr: bytes) -> str:
    """IPv4 dotted quad or IPv6 in RFC 5952 compressed form ("::1"), as Wireshark shows them."""
    s = _addr_cache.get(addr)
    if s is None:
        try:
            s = _socket.inet_ntop(_socket.AF_INET if ipver == 4 else _socket.AF_INET6, bytes(addr))
        except (ValueError, OSError):
            s = bytes(addr).hex()
        if len(_addr_cache) > 65536:  # bound the cache on scans of many hosts
            _addr_cache.clear()
        _addr_cache[bytes(addr)] = s
    return s


def mac_str(b: bytes) -> str:
    return b.hex(":")


# proto_info() lives in its own module (it is not on the hot path); re-exported here
# because the brief names it in frame.py.
def proto_info(linktype: int, data: bytes, orig_len: int = 0) -> tuple[str, str, str, str]:
    """(src, dst, protocol, info) of a frame that parse() did not return a TCP tuple for (orig_len: its length on
    the wire, 0 when it was captured whole)."""
    from sniffer.net.protoinfo import proto_info as _pi

    return _pi(linktype, data, orig_len)

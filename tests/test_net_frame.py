"""sniffer.net.frame: every link type, IPv4/IPv6 options and extension headers, garbage never raises."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from sniffer.net.frame import addr_str, parse, proto_info, tcp_options
from sniffer.net.pcapfile import open_capture
from tests.conftest import CORPUS

V4S, V4D = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
V6S, V6D = b"\x00" * 15 + b"\x01", b"\x20\x01\x0d\xb8" + b"\x00" * 11 + b"\x02"
OPTS = b"\x02\x04\x05\xb4\x01\x03\x03\x07"  # MSS 1460, NOP, WS 7


def tcp(sport=40000, dport=1883, seq=1000, ack=2000, flags=0x18, win=512, opts=b"", payload=b"") -> bytes:
    doff = (20 + len(opts)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, win, 0, 0) + opts + payload


def ipv4(seg: bytes, proto=6, opts=b"", frag=0x4000, pad=b"") -> bytes:
    ihl = (20 + len(opts)) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(seg), 7, frag, 64, proto, 0, V4S, V4D)
    return hdr + opts + seg + pad


def ipv6(seg: bytes, nxt=6, ext=b"") -> bytes:
    return struct.pack("!IHBB16s16s", 0x60000000, len(ext) + len(seg), nxt, 64, V6S, V6D) + ext + seg


def eth(l3: bytes, et=0x0800, vlans=()) -> bytes:
    hdr = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01"
    for tpid, vid in vlans:
        hdr += struct.pack("!HH", tpid, vid)
    return hdr + struct.pack("!H", et) + l3


SEG = tcp(opts=OPTS, payload=b"\x10\x02MQ")


def check(p, ipver, payload=b"\x10\x02MQ", data=None):
    assert p is not None
    assert p[0] == ipver
    assert p[3:9] == (40000, 1883, 1000, 2000, 0x18, 512)
    if data is not None:
        assert data[p[9] : p[9] + p[10]] == payload
        assert tcp_options(data, p) == OPTS


def test_ethernet_ipv4_with_ip_options_and_padding():
    data = eth(ipv4(SEG, opts=b"\x01\x01\x01\x00", pad=b"\x00" * 6))
    p = parse(1, data)
    check(p, 4, data=data)
    assert p[1] == V4S and p[2] == V4D
    assert p[10] == 4  # Ethernet trailer excluded


def test_stacked_vlan_tags():
    data = eth(ipv4(SEG), et=0x0800, vlans=[(0x88A8, 100), (0x8100, 1008)])
    check(parse(1, data), 4, data=data)


def test_sll_and_sll2():
    sll = struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 6 + b"\0\0", 0x86DD) + ipv6(SEG)
    check(parse(113, sll), 6, data=sll)
    sll2 = struct.pack("!HHIHBB8s", 0x0800, 0, 3, 1, 4, 6, b"\x02" * 8) + ipv4(SEG)
    check(parse(276, sll2), 4, data=sll2)


def test_null_and_loop_both_byte_orders():
    for lt in (0, 108):
        for af, mk in ((2, ipv4), (24, ipv6), (28, ipv6), (30, ipv6), (10, ipv6)):
            for order in ("<", ">"):
                data = struct.pack(order + "I", af) + mk(SEG)
                check(parse(lt, data), 4 if mk is ipv4 else 6, data=data)


def test_raw_ip_linktypes():
    for lt in (101, 12, 14):
        check(parse(lt, ipv4(SEG)), 4)
        check(parse(lt, ipv6(SEG)), 6)
    check(parse(228, ipv4(SEG)), 4)
    check(parse(229, ipv6(SEG)), 6)


def test_ipv6_extension_headers():
    hop = bytes([43, 0]) + b"\x01\x04\x00\x00\x00\x00"  # hop-by-hop -> routing
    rt = bytes([60, 0, 0, 0]) + b"\0" * 4  # routing -> dest opts
    dst = bytes([44, 0]) + b"\x01\x04\x00\x00\x00\x00"  # dest opts -> fragment
    frag = bytes([6, 0, 0, 0]) + b"\0\0\0\x01"  # atomic fragment (offset 0, M=0) -> TCP
    data = ipv6(SEG, nxt=0, ext=hop + rt + dst + frag)
    check(parse(229, data), 6, data=data)
    non_first = bytes([6, 0, 0, 0x08]) + b"\0\0\0\x01"  # offset 1: no TCP header here
    assert parse(229, ipv6(SEG, nxt=44, ext=non_first)) is None


def test_ipv4_fragments_and_other_protocols():
    assert parse(228, ipv4(SEG, frag=0x0010)) is None  # non-first fragment
    assert parse(228, ipv4(SEG, frag=0x2000)) is None  # first fragment, more follow
    udp = struct.pack("!HHHH", 5353, 5353, 12, 0) + b"abcd"
    assert parse(228, ipv4(udp, proto=17)) is None
    assert proto_info(228, ipv4(udp, proto=17)) == ("10.0.0.1", "10.0.0.2", "UDP", "5353 → 5353 Len=4")


def test_proto_info_arp_icmp_nd_unknown():
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, b"\x02" * 6, V4S, b"\0" * 6, V4D)
    assert proto_info(1, eth(arp, et=0x0806)) == (
        "02:00:00:00:00:01",
        "Broadcast",
        "ARP",
        "Who has 10.0.0.2? Tell 10.0.0.1",
    )
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1) + b"x" * 8
    assert proto_info(228, ipv4(icmp, proto=1))[2:] == ("ICMP", "Echo (ping) request  id=0x1234, seq=1/256, ttl=64")
    ns = struct.pack("!BBHI16s", 135, 0, 0, 0, V6D) + b"\x01\x01" + b"\x02" * 6
    assert proto_info(229, ipv6(ns, nxt=58))[2:] == (
        "ICMPv6",
        "Neighbor Solicitation for 2001:db8::2 from 02:02:02:02:02:02",
    )
    assert proto_info(999, b"abc")[2] == "WTAP_ENCAP = 999"


def test_addr_str():
    assert addr_str(6, V6S) == "::1"
    assert addr_str(6, V6D) == "2001:db8::2"
    assert addr_str(4, V4S) == "10.0.0.1"


def test_truncated_frames_return_none():
    data = eth(ipv4(SEG))
    for cut in range(len(data) - 4):  # cut inside the headers
        p = parse(1, data[:cut])
        assert p is None or p[9] + p[10] <= cut


LINKTYPES = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(LINKTYPES), st.binary(max_size=120))
def test_random_bytes_never_raise(lt, data):
    p = parse(lt, data)
    if p is not None:
        assert 0 <= p[9] <= len(data) and p[9] + p[10] <= len(data)
    assert len(proto_info(lt, data)) == 4


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(LINKTYPES), st.integers(0, 200), st.binary(min_size=1, max_size=8))
def test_mutated_valid_frames_never_raise(lt, pos, junk):
    base = {1: eth(ipv4(SEG)), 113: struct.pack("!HHH8sH", 0, 1, 6, b"\0" * 8, 0x86DD) + ipv6(SEG)}.get(
        lt, ipv6(SEG, nxt=0, ext=bytes([6, 0]) + b"\x01\x04\0\0\0\0")
    )
    pos = min(pos, len(base))
    data = base[:pos] + junk + base[pos + len(junk) :]
    parse(lt, data)
    proto_info(lt, data)


def test_corpus_every_frame_is_tcp():
    """All corpus frames are TCP (Ethernet/VLAN, raw IPv4, IPv6): parse() must accept each one."""
    for f in sorted(CORPUS.glob("*.pcap*")):
        for _ts, data, _ol, lt in open_capture(str(f)):
            p = parse(lt, data)
            assert p is not None, f


def _same_as_general_path(eth_frame: bytes) -> None:
    """parse() of an Ethernet frame (its IPv4/IPv6 fast paths) says what the general path says of the
    same packet behind a Linux cooked header (linktype 113: the ethertype at 14, the packet at 16)."""
    if len(eth_frame) < 14:
        return
    fast, general = parse(1, eth_frame), parse(113, b"\x00" * 14 + eth_frame[12:])
    if general is None:
        assert fast is None
        return
    assert fast is not None
    assert fast[:9] == general[:9]
    assert (fast[9] + 2, fast[10], fast[11] + 2, fast[12]) == general[9:]


def test_fast_paths_agree_with_the_general_path():
    for l3, et in (
        (ipv4(SEG), 0x0800),
        (ipv4(SEG, pad=b"\x00" * 6), 0x0800),
        (ipv4(tcp(seq=0xFFFFFFFF, ack=0x80000001, flags=0xFF, win=65535)), 0x0800),
        (ipv6(SEG), 0x86DD),
        (ipv6(tcp(sport=65535, dport=1, payload=b"x" * 300)), 0x86DD),
    ):
        data = eth(l3, et)
        _same_as_general_path(data)
        p = parse(1, data)
        assert p is not None and p[0] == (4 if et == 0x0800 else 6)
        for cut in range(len(data)):  # every truncation, including inside the TCP header
            _same_as_general_path(data[:cut])


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([eth(ipv4(SEG)), eth(ipv6(SEG), 0x86DD), eth(ipv4(tcp(payload=b"y" * 40)))]),
    st.integers(14, 90),  # the ethertype stays: a VLAN tag has no cooked-header equivalent
    st.binary(min_size=1, max_size=4),
)
def test_fast_paths_agree_on_mutated_frames(data, pos, junk):
    mutated = data[:pos] + junk + data[pos + len(junk) :]
    _same_as_general_path(mutated)

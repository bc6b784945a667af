"""Headers that contradict themselves or their packet, against tshark: malformed is said, and why.

A device with a broken network stack, a fuzzer, or an attacker on the link sends what a kernel never does: an
IPv4 header length under 20 bytes, a total length shorter than its header or longer than the frame, a TCP data
offset under 5 or past the packet's end, a TCP header the IP packet cuts, a UDP length that lies, TCP options
whose lengths cannot be right. tshark says so (`Bogus IP header length (16, must be at least 20)`,
`[Malformed Packet: TCP]`, `Short segment…`), and `-Y _ws.malformed` finds them; a header the *capture* cut
(the snapshot length) is not the sender's fault and is said differently ("Packet size limited during capture").
We showed such frames as cut by the capture, read a bogus header's bytes as if it were whole (ports 2560 → 1
out of an IPv4 header of 16 bytes), and had no `_ws.malformed` field at all. Each crafted frame here is on its
own ports, so that no stream state joins them; summary, `-V`, `-T fields`, JSON, filters and `-z expert` are
compared with tshark's, and the UI's row marks with the tree's notes.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, tshark_out

from sniffer.synth.pcap_write import PcapWriter

T0 = 1_700_000_000_000_000
ETH4 = bytes.fromhex("001c730e2190f008d14c3a5c0800")
ETH6 = bytes.fromhex("001c730e2190f008d14c3a5c86dd")
PING = b"\xc0\x00"  # an MQTT PINGREQ


def _csum(b: bytes) -> int:
    b += b"\0" * (len(b) % 2)
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF


def ip4(payload: bytes, proto: int = 6, total: int | None = None, vihl: int = 0x45) -> bytes:
    h = struct.pack("!BBHHHBBH4s4s", vihl, 0, 20 + len(payload) if total is None else total, 1, 0x4000, 64, proto,
                    0, b"\n\0\0\2", b"\n\0\0\1")  # fmt: skip
    return h[:10] + struct.pack("!H", _csum(h)) + h[12:] + payload


def ip6(payload: bytes, plen: int | None = None, nxt: int = 6) -> bytes:
    addr = b"\xfd" + bytes(14)
    return (
        struct.pack("!IHBB", 0x60000000, len(payload) if plen is None else plen, nxt, 64)
        + addr
        + b"\2"
        + addr
        + (b"\1" + payload)
    )


def tcp(sport: int, payload: bytes = PING, flags: int = 0x18, opts: bytes = b"", off: int | None = None,
        ack: int = 1, urgent: int = 0) -> bytes:  # fmt: skip
    opts += b"\0" * (-len(opts) % 4)
    doff = 5 + len(opts) // 4 if off is None else off
    return struct.pack("!HHIIBBHHH", sport, 1883, 1, ack, doff << 4, flags, 502, 0, urgent) + opts + payload


def udp(length: int, payload: bytes = bytes(4)) -> bytes:
    return struct.pack("!HHHH", 40100, 40101, length, 0) + payload


# (frame, why) in file order; every frame on ports of its own
FRAMES: list[tuple[bytes, str]] = [
    (ETH4 + ip4(tcp(41000)[:10]), "IP's total length ends the TCP header after 10 bytes"),
    (ETH4 + ip4(tcp(41002), total=200), "IPv4 total length past the frame"),
    (ETH4 + ip4(tcp(41003), vihl=0x44), "IPv4 header length 16"),
    (ETH4 + ip4(b"\x00\x35\x00", proto=17), "a UDP header of 3 bytes"),
    (ETH4 + ip4(tcp(41005), total=12), "IPv4 total length under its header's"),
    (ETH4 + ip4(tcp(41006), vihl=0x55), "IPv4 version 5"),
    (ETH4 + ip4(b"", proto=6), "an empty IP payload"),
    (ETH6 + ip6(tcp(41009), plen=100), "IPv6 payload length past the frame"),
    (ETH6 + ip6(tcp(41010)[:10]), "IPv6's payload length ends the TCP header after 10 bytes"),
    (ETH4 + ip4(b"\x01\x01", vihl=0x46, total=22), "IPv4 total length under its options' header"),
    (ETH4 + ip4(udp(4), proto=17), "UDP length 4"),
    (ETH4 + ip4(udp(40), proto=17), "UDP length past the IP payload"),
    (ETH4 + ip4(tcp(41015)[:3]), "3 bytes of TCP header"),
    (ETH6 + ip6(b"\x13\x88\x13", nxt=17), "an IPv6 UDP header of 3 bytes"),
    (ETH4 + ip4(tcp(41017, flags=0x02, ack=5)), "a SYN with an acknowledgment number"),
    (ETH4 + ip4(tcp(41018, urgent=5)), "an urgent pointer without URG"),
    (ETH4 + ip4(tcp(41019, opts=b"\x02\x01")), "MSS option length 1"),
    (ETH4 + ip4(tcp(41020, opts=b"\x02\x00")), "MSS option length 0"),
    (ETH4 + ip4(tcp(41021, opts=b"\x01\x08\x0a")), "Timestamps past the options' end"),
    (ETH4 + ip4(tcp(41022, opts=b"\x02\x03\x05")), "MSS option length 3, outside a SYN"),
    (ETH4 + ip4(tcp(41023, opts=b"\x03\x04\x07\x00")), "window scale length 4"),
    (ETH4 + ip4(tcp(41024, opts=b"\x08\x08" + bytes(6))), "timestamps length 8"),
    (ETH4 + ip4(tcp(41025, opts=b"\x04\x03\x00")), "SACK permitted length 3"),
    (ETH4 + ip4(tcp(41026, opts=b"\x63\x01")), "an unknown option of length 1"),
    (ETH4 + ip4(tcp(41027, opts=b"\x1e\x01")), "MPTCP of length 1"),
    (ETH4 + ip4(tcp(41028, opts=b"\x01\x01\x01\x02")), "a length byte past the options' end"),
    (ETH4 + ip4(tcp(41029, opts=b"\x01\x01\x01\x01\x02\x04\x05\xb4")), "four NOPs, then an MSS outside a SYN"),
    # last: tshark counts these in a TCP stream although their header cannot be read (STREAMLESS)
    (ETH4 + ip4(tcp(41001, b"\x30\x02\0\0", off=3)), "TCP data offset 3 (12 bytes)"),
    (ETH4 + ip4(tcp(41007, b"\1\1\1\1", off=8)), "a TCP header of 32 bytes in 24"),
    (ETH4 + ip4(tcp(41014)[:17]), "17 bytes of TCP header"),
]
# frames tshark counts in a TCP stream although their header cannot be read (sniffer.net.tree._tcp_bogus): its
# stream items on them are left out of the comparison, and they come last, so that no later connection's
# tcp.stream differs by them (README: differences)
STREAMLESS = {len(FRAMES) - 2, len(FRAMES) - 1, len(FRAMES)}
_STREAM_ITEMS = ("[Stream index: ", "[Conversation completeness: ", "(relative sequence number)",
                 "(relative ack number)", "[Calculated window size: ", "[Window size scaling factor: ",
                 "[Timestamps]", "[Time since first frame in this TCP stream: ",
                 "[Time since previous frame in this TCP stream: ")  # fmt: skip
# our own notes tshark has no counterpart for, on the MQTT PINGREQs (README: differences)
_OURS_ONLY = ("Protocol version inferred", "[Direction: ", "Unknown version (missing")


def _without_udp_state(lines: list[str]) -> list[str]:
    out, data = [], False
    for ln in lines:
        data = ln.startswith("Data (") or data and ln.startswith((" ", "0"))
        if not data and not ln.startswith(("    [Stream index: ", "    [Timestamps]", "        [Time since f",
                                           "        [Time since p")):  # fmt: skip
            out.append(ln.replace(":udp:data]", ":udp]"))
    return out


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("broken") / "broken.pcap"
    w = PcapWriter(str(path))
    for i, (frame, _why) in enumerate(FRAMES):
        w.write(T0 + 1000 * i, frame)
    w.close()
    return path


def ours(*args: str) -> str:
    res = subprocess.run([sys.executable, "-m", "sniffer", *args], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _blocks(out: str) -> list[list[str]]:
    """-V output as one list of lines per frame, without the lines tshark has no counterpart for."""
    frames = [b.splitlines() for b in re.split(r"\n(?=Frame \d+: )", out) if b.strip()]
    return [[ln for ln in f if ln and not any(s in ln for s in _OURS_ONLY)] for f in frames]


def test_summary_and_tree_equal_tsharks(tshark: str, broken: Path) -> None:
    p = str(broken)
    mine, theirs = ours("-r", p).splitlines(), tshark_out(tshark, "-r", p).splitlines()
    assert len(mine) == len(FRAMES)
    for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
        assert a == b, FRAMES[i][1]
    for info in ("40000" not in mine[0] and "41000 → 1883[Malformed Packet]", "bogus TCP header length (12, must be",
                 "Bogus IP header length (16, must be at least 20)", "Bogus IPv4 version (5, must be 4)",
                 "[BAD UDP LENGTH 4 < 8]", "[BAD UDP LENGTH 40 > IP PAYLOAD LENGTH] Len=32"):  # fmt: skip
        assert any(info in ln for ln in mine), info
    vm, vt = _blocks(ours("-r", p, "-V")), _blocks(tshark_out(tshark, "-r", p, "-V"))
    assert len(vm) == len(vt) == len(FRAMES)
    for no, (a, b) in enumerate(zip(vm, vt, strict=True), 1):
        if no in STREAMLESS:  # (README: differences; both sides asserted)
            assert any("[Stream index: " in ln for ln in b) and not any("[Stream index: " in ln for ln in a)
            b = [ln for ln in b if not any(s in ln for s in _STREAM_ITEMS)]
        if "User Datagram Protocol, " in "\n".join(b):  # (UDP's conversation items and its payload's Data layer:
            b = _without_udp_state(b)  # not ours, as tests/test_udp_sll_layers says)
        assert a == b, (no, FRAMES[no - 1][1])
    tree = "\n".join("\n".join(f) for f in vm)
    for line in ("[Malformed Packet: TCP]", "[Malformed Packet: UDP]", "    Total Length: 12 bytes (bogus, less than",
                 "[Expert Info (Error/Protocol): IPv4 total length exceeds packet length (42 bytes)]",
                 "[Expert Info (Warning/Protocol): IPv6 payload length exceeds framing length (",
                 "    Short segment. Segment/fragment does not contain a full TCP header",
                 "Maximum segment size (with too-short option length = 1 byte)",
                 "[Expert Info (Warning/Protocol): 4 NOP in a row - a router may have removed some options]",
                 "[Expert Info (Note/Protocol): The acknowledgment number field is nonzero while the ACK flag",
                 "[Expert Info (Warning/Protocol): The non-SYN packet does contain a MSS option]"):  # fmt: skip
        assert line in tree, line


FIELDS = ("_ws.malformed", "_ws.malformed.expert", "_ws.expert.message", "_ws.expert.group", "ip.bogus_ip_version",
          "ip.bogus_header_length", "ip.bogus_ip_length", "ipv6.plen_exceeds_framing", "tcp.bogus_header_length",
          "tcp.short_segment", "tcp.ack.nonzero", "tcp.urgent_pointer.non_zero", "tcp.option.len.invalid",
          "tcp.options.mss.present", "tcp.nop", "udp.length.bad", "tcp.srcport", "udp.length")  # fmt: skip
FILTERS = ("_ws.malformed", "_ws.expert.group == 117440512", "tcp.short_segment", "ip.bogus_ip_length",
           "udp.length.bad", "tcp.option.len.invalid", "tcp.ack.nonzero",
           "ip.bogus_header_length || tcp.bogus_header_length", "_ws.expert.severity == error && !_ws.malformed",
           "tcp.nop || tcp.options.mss.present", "tcp", "udp", "mqtt")  # fmt: skip


_INFERRED = "Protocol version inferred as MQTT v3.1.1 from the packet's shape (no CONNECT seen)"  # (its note)


def _last(v: object) -> object:
    """A JSON value as a parser that keeps the last of duplicate keys reads it: tshark writes a key twice, we
    write a list (sniffer.output.json_out), which json.loads reads as it is; UDP's stream items are not ours."""
    if isinstance(v, dict):
        return {k: _last(x) for k, x in v.items() if k not in ("udp.stream", "Timestamps")}
    return _last(v[-1]) if isinstance(v, list) else v


def _layers(out: str) -> list[dict]:
    keep = ("ip", "ipv6", "udp", "_ws.malformed")
    return [{k: _last(v) for k, v in p["_source"]["layers"].items() if k in keep} for p in json.loads(out)]


def test_fields_filters_json_and_expert_equal_tsharks(tshark: str, broken: Path) -> None:
    p = str(broken)
    args = ["-r", p, "-T", "fields"] + [a for f in FIELDS for a in ("-e", f)]
    mine, theirs = ours(*args).splitlines(), tshark_out(tshark, *args).splitlines()
    for no, (a, b) in enumerate(zip(mine, theirs, strict=True), 1):
        assert a.replace(_INFERRED, "Unknown version (missing the CONNECT packet?)") == b, (no, FRAMES[no - 1][1])
    for expr in FILTERS:
        args = ["-r", p, "-Y", expr, "-T", "fields", "-e", "frame.number"]
        got = ours(*args)
        assert got == tshark_out(tshark, *args), expr
        assert got.strip(), expr  # every filter finds frames
    # the IP, UDP and _ws.malformed layers of JSON (TCP's stream items differ on STREAMLESS: compared by -V above)
    assert _layers(ours("-r", p, "-T", "json")) == _layers(tshark_out(tshark, "-r", p, "-T", "json"))

    def blocks(out: str) -> list[str]:
        return [b.strip() for b in out.split("\n\n") if b.lstrip("\n").startswith(("Errors", "Warns"))]

    # (tshark's -z expert counts a note only where it builds that part of the tree: without -V it misses the
    # bogus TCP header length and the four NOPs its -V shows; ours counts what the tree shows, always)
    mine_z = blocks(ours("-r", p, "-q", "-z", "expert"))
    assert mine_z == blocks(tshark_out(tshark, "-r", p, "-V", "-z", "expert")) and len(mine_z) == 2
    plain = "\n".join(blocks(tshark_out(tshark, "-r", p, "-q", "-z", "expert")))  # (README: differences)
    assert "Bogus TCP header length" in mine_z[0] and "Bogus TCP header length" not in plain
    assert "Malformed                TCP  Malformed Packet (Exception occurred)" in mine_z[0]


def test_a_header_the_capture_cut_is_limited_not_malformed(tshark: str, tmp_path: Path) -> None:
    """The same well-formed segment captured with snapshot lengths that end inside the IPv4 header, the TCP
    ports, the TCP fixed header, and its options: tshark's "[Packet size limited during capture]", no Error."""
    frame = ETH4 + ip4(tcp(42000, opts=b"\x01\x01\x08\x0a" + bytes(8)))
    for snap in (30, 36, 50, 60):
        path = tmp_path / f"snap{snap}.pcap"
        w = PcapWriter(str(path), snaplen=snap)
        w.write(T0, frame)
        w.close()
        p = str(path)
        mine = ours("-r", p)
        assert mine == tshark_out(tshark, "-r", p), snap
        assert "[Packet size limited during capture]" in mine or "Len=" in mine, snap
        assert "Malformed" not in ours("-r", p, "-V"), snap
        assert ours("-r", p, "-Y", "_ws.malformed") == "", snap
    assert "[Packet size limited during capture: TCP truncated]" in ours("-r", str(tmp_path / "snap50.pcap"), "-V")


def test_what_tshark_gives_up_on_we_decode(broken: Path, tmp_path: Path, tshark: str) -> None:
    """A SACK option whose length leaves a partial block: tshark stops the segment there ("[Malformed Packet:
    TCP]", its MQTT not decoded); ours notes the option (Error, Malformed group) and decodes the PINGREQ after it.
    A version 6 header under the IPv4 type: both note the bogus version, then read it as IPv6."""
    path = tmp_path / "sack.pcap"
    w = PcapWriter(str(path))
    w.write(T0, ETH4 + ip4(tcp(43000, opts=b"\x05\x05\x00\x00\x00")))
    frame = bytearray(ETH4 + ip4(tcp(43001)))
    frame[14] = 0x65
    w.write(T0 + 1000, bytes(frame))
    w.close()
    p = str(path)
    tree = ours("-r", p, "-V")
    assert "suboption would go past end of option" in tree and "[Expert Info (Error/Malformed): suboption" in tree
    assert "MQ Telemetry Transport Protocol, Ping Request" in tree
    first = tshark_out(tshark, "-r", p, "-V").split("\n\nFrame 2")[0]  # (what the README says tshark does)
    assert "[Malformed Packet: TCP]" in first and "MQ Telemetry Transport Protocol" not in first
    assert ours("-r", p, "-Y", "_ws.malformed", "-T", "fields", "-e", "frame.number") == "1\n"
    second = tree.split("\n\nFrame 2")[1]
    assert "    0110 .... = Version: 6\n        [Expert Info (Error/Protocol): Bogus IPv4 version]" in second
    assert "\nInternet Protocol Version 6, Src: " in second


def test_ui_marks_the_broken_rows(broken: Path) -> None:
    """The packet list's severity of every row equals the highest note of its frame's tree (no tree built for a
    well-formed frame: sniffer.expert_level.net_notes decides from the bytes)."""
    from test_ui_marks import stored_severities, tree_severity
    from ui_helpers import dissected

    from sniffer.expert_level import ERROR, WARNING, net_notes

    frames = dissected(broken)
    got = stored_severities(frames)
    assert got == [tree_severity(f) for f in frames]
    assert got.count(ERROR) >= 12 and WARNING in got
    assert not any(net_notes(f) for f in dissected(REPO / "sniffer" / "data" / "demo.pcap"))

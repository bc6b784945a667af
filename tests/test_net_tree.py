"""sniffer.net.tree: field values of the layer trees equal `tshark -T fields` on the corpus."""

from __future__ import annotations

import struct
import subprocess

from sniffer.fields import Node
from sniffer.net.frame import parse, tcp_options
from sniffer.net.pcapfile import open_capture
from sniffer.net.reassembly import TcpStreams
from sniffer.net.tree import dissect_layers
from tests.conftest import CORPUS, require_tool

FIELDS = [
    "frame.number",
    "frame.len",
    "frame.cap_len",
    "frame.time",
    "frame.time_epoch",
    "frame.time_delta",
    "frame.time_relative",
    "frame.encap_type",
    "eth.src",
    "eth.dst",
    "eth.addr",
    "eth.type",
    "eth.lg",
    "eth.ig",
    "vlan.id",
    "vlan.priority",
    "vlan.dei",
    "vlan.etype",
    "ip.version",
    "ip.hdr_len",
    "ip.dsfield",
    "ip.dsfield.dscp",
    "ip.dsfield.ecn",
    "ip.len",
    "ip.id",
    "ip.flags",
    "ip.flags.df",
    "ip.flags.mf",
    "ip.frag_offset",
    "ip.ttl",
    "ip.proto",
    "ip.checksum",
    "ip.checksum.status",
    "ip.src",
    "ip.dst",
    "ip.addr",
    "ip.host",
    "ipv6.version",
    "ipv6.tclass",
    "ipv6.flow",
    "ipv6.plen",
    "ipv6.nxt",
    "ipv6.hlim",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.addr",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.port",
    "tcp.stream",
    "tcp.len",
    "tcp.seq",
    "tcp.seq_raw",
    "tcp.nxtseq",
    "tcp.ack",
    "tcp.ack_raw",
    "tcp.hdr_len",
    "tcp.flags",
    "tcp.flags.ack",
    "tcp.flags.push",
    "tcp.flags.syn",
    "tcp.flags.fin",
    "tcp.flags.reset",
    "tcp.flags.str",
    "tcp.window_size_value",
    "tcp.window_size",
    "tcp.window_size_scalefactor",
    "tcp.checksum",
    "tcp.urgent_pointer",
    "tcp.options",
    "tcp.option_kind",
    "tcp.option_len",
    "tcp.options.mss_val",
    "tcp.options.wscale.shift",
    "tcp.options.wscale.multiplier",
    "tcp.options.timestamp.tsval",
    "tcp.options.timestamp.tsecr",
    "tcp.payload",
]


def values(nodes: list[Node]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for root in nodes:
        for n in root.walk():
            if n.fdef is not None:
                out.setdefault(n.fdef.abbrev, []).append(n.fdef.tshark(n.value))
    return out


def trees(path):
    ts = TcpStreams()
    first = prev = None
    for i, (t, data, olen, lt) in enumerate(open_capture(str(path))):
        first = t if first is None else first
        p = parse(lt, data)
        seg = ts.segment(*p[:8], memoryview(data)[p[9] : p[9] + p[10]], window=p[8], options=tcp_options(data, p))
        delta = 0.0 if prev is None else t - prev
        prev = t
        yield data, dissect_layers(lt, data, i + 1, t, t - first, olen, {"seg": seg}, delta)


def test_fields_equal_tshark_on_corpus():
    tshark = require_tool("tshark")
    for f in sorted(CORPUS.glob("*.pcap*")):
        cmd = [tshark, "-r", str(f), "-T", "fields", "-E", "separator=\t"]
        for e in FIELDS:
            cmd += ["-e", e]
        rows = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split("\n")[:-1]
        got = list(trees(f))
        assert len(got) == len(rows)
        for row, (_data, nodes) in zip(rows, got, strict=True):
            v = values(nodes)
            for name, want in zip(FIELDS, row.split("\t"), strict=True):
                assert ",".join(v.get(name, [])) == want, (f.name, name)


def test_tree_texts_and_ranges():
    f = CORPUS / "mqtt311_invalid_publish-qos3__suricata-verify.pcap"
    (data, nodes), *_ = list(trees(f))
    texts = [n.text for n in nodes]
    assert texts[0] == "Frame 1: 94 bytes on wire (752 bits), 94 bytes captured (752 bits)"
    assert texts[2] == "Internet Protocol Version 6, Src: ::1, Dst: ::1"
    assert texts[3] == "Transmission Control Protocol, Src Port: 38500, Dst Port: 1883, Seq: 0, Len: 0"
    for root in nodes:
        for n in root.walk():
            assert n.start >= 0 and n.start + n.length <= len(data), n.text
    vlan = CORPUS / "mqtt31-and-311_vlan_azure-iot-device__ndpi.pcapng"
    last = list(trees(vlan))[-1][1]
    assert "802.1Q Virtual LAN, PRI: 0, DEI: 0, ID: 1008" in [n.text for n in last]
    assert last[0].children[-1].text == "[Protocols in frame: eth:ethertype:vlan:ethertype:ip:tcp]"


def test_garbage_never_raises():
    import random

    rng = random.Random(5)
    for lt in (0, 1, 101, 108, 113, 228, 229, 276, 9999):
        for n in range(0, 90, 3):
            data = bytes(rng.randrange(256) for _ in range(n))
            if lt == 1 and n > 14:
                data = data[:12] + struct.pack("!H", rng.choice((0x0800, 0x86DD, 0x8100))) + data[14:]
            nodes = dissect_layers(lt, data, 1, 0.0, 0.0, n, {})
            assert nodes[0].text.startswith("Frame 1:")


def test_header_lines_equal_tshark_for_every_dscp_and_handshake_flag(tmp_path):
    """Every DSCP (IPv4 and IPv6: tshark's "Class Selector 2", "Assured Forwarding 41", "Voice Admit"… under
    the short names of the field's label), a SYN's acknowledgment number (not "relative" without the ACK flag),
    the SYN's and SYN+ACK's notes ("Connection establish request (SYN): server port 1883") and the Frame's
    "[Time shift for this packet]", line for line against `tshark -n -V`."""
    import sys

    from sniffer.synth.pcap_write import PcapWriter

    tshark = require_tool("tshark")
    eth4 = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
    eth6 = eth4[:12] + b"\x86\xdd"

    def tcp(port: int, flags: int, seq: int, ack: int, back: bool) -> bytes:
        ports = (1883, port) if back else (port, 1883)
        return struct.pack("!HHIIBBHHH", *ports, seq, ack, 0x50, flags, 64240, 0, 0)

    a4, b4 = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"
    a6, b6 = b"\xfe\x80" + bytes(13) + b"\x01", b"\xfe\x80" + bytes(13) + b"\x02"
    path = tmp_path / "dscp.pcap"
    with PcapWriter(str(path)) as w:
        for dscp in range(64):  # a handshake per code point and IP version, its own client port
            tos = dscp << 2 | dscp % 4
            for back, flags, seq, ack in ((False, 0x02, 1000, 0), (True, 0x12, 5000, 1001), (False, 0x10, 1001, 5001)):
                seg = tcp(40000 + dscp, flags, seq, ack, back)
                src, dst = (b4, a4) if back else (a4, b4)
                ip4 = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(seg), dscp, 0, 64, 6, 0, src, dst)
                w.write(1_000_000 + dscp * 10, eth4 + ip4 + seg)
                src, dst = (b6, a6) if back else (a6, b6)
                ip6 = struct.pack("!IHBB16s16s", 6 << 28 | tos << 20, len(seg), 6, 64, src, dst)
                w.write(1_000_000 + dscp * 10 + 5, eth6 + ip6 + seg)

    def lines(out: str) -> list[str]:
        want = ("Differentiated Services", "Traffic Class", "Acknowledgment Number:", "[Time shift", "[Expert Info",
                "[Connection establish", "[Severity level", "[Group")  # fmt: skip
        return [ln for ln in out.splitlines() if ln.strip().startswith(want) or "Services Codepoint" in ln]

    ours = subprocess.run([sys.executable, "-m", "sniffer", "-r", str(path), "-V"], capture_output=True, text=True)
    theirs = subprocess.run([tshark, "-n", "-r", str(path), "-V"], capture_output=True, text=True, check=True)
    assert ours.returncode == 0, ours.stderr
    mine, ref = lines(ours.stdout), lines(theirs.stdout)
    assert len(ref) > 64 * 6 * 3
    assert mine == ref, [(a, b) for a, b in zip(mine, ref, strict=False) if a != b][:5]

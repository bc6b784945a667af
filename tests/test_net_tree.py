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

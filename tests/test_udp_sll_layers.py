"""UDP frames get a UDP layer, and Linux cooked captures are titled, as tshark shows them."""

from __future__ import annotations

import struct
from pathlib import Path

from conftest import sniff_out as run
from conftest import tshark_out as ref

from sniffer.synth.flows import ip_checksum
from sniffer.synth.pcap_write import PcapWriter

ETH = bytes(5) + b"\x02" + bytes(5) + b"\x01\x08\x00"
UDP_FIELDS = ("udp.srcport", "udp.dstport", "udp.port", "udp.length", "udp.checksum", "udp.checksum.status")


def ipv4(proto: int, payload: bytes) -> bytes:
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0, bytes([192, 168, 0, 1]),
                    bytes([192, 168, 0, 2]))  # fmt: skip
    return h[:10] + struct.pack("!H", ip_checksum(h)) + h[12:] + payload


def udp(sport: int, dport: int, payload: bytes, csum: int) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), csum) + payload


def udp_block(verbose: str) -> list[str]:
    """The UDP layer's lines of a -V output, without what needs conversation state (stream, timestamps)."""
    out, inside = [], False
    for line in verbose.splitlines():
        if line.startswith("User Datagram Protocol"):
            inside = True
        elif not line.startswith(" "):
            inside = False
        if inside and "Stream index" not in line and "Time since" not in line and "[Timestamps]" not in line:
            out.append(line)
    return out


def test_udp_layer_matches_tshark(tmp_path: Path, tshark: str) -> None:
    path = tmp_path / "udp.pcap"
    with PcapWriter(str(path)) as w:  # ports tshark has no dissector for: the UDP layer is all it shows
        w.write(1, ETH + ipv4(17, udp(40000, 1883, b"abc", 0)))
        w.write(2, ETH + ipv4(17, udp(40001, 18830, b"hello", 0x1234)))
        w.write(3, ETH + ipv4(17, udp(18830, 40001, b"", 0xBEEF)))
    args = ["-T", "fields", "-E", "occurrence=a"] + [a for f in UDP_FIELDS for a in ("-e", f)]
    assert run("-r", str(path), *args) == ref(tshark, "-r", str(path), *args)
    assert udp_block(run("-r", str(path), "-V")) == udp_block(ref(tshark, "-r", str(path), "-V"))
    assert "udp" in run("-r", str(path), "-T", "fields", "-e", "frame.protocols")


def test_linux_cooked_capture_titles(tmp_path: Path, tshark: str) -> None:
    payload = ipv4(17, udp(40000, 1883, b"abc", 0))
    v1 = tmp_path / "sll.pcap"
    with PcapWriter(str(v1), linktype=113) as w:
        w.write(1, struct.pack("!HHH8sH", 0, 1, 6, bytes(5) + b"\x01" + bytes(2), 0x0800) + payload)
    v2 = tmp_path / "sll2.pcap"
    with PcapWriter(str(v2), linktype=276) as w:
        w.write(1, struct.pack("!HHIHBB8s", 0x0800, 0, 1, 1, 0, 6, bytes(5) + b"\x01" + bytes(2)) + payload)
    for path in (v1, v2):
        ours = [ln for ln in run("-r", str(path), "-V").splitlines() if ln.startswith("Linux cooked")]
        theirs = [ln for ln in ref(tshark, "-r", str(path), "-V").splitlines() if ln.startswith("Linux cooked")]
        assert ours == theirs and len(ours) == 1

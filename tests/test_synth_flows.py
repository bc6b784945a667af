"""The TCP flow builder and capture writers, checked by tshark with checksum validation and TCP analysis on."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import require_tool

from sniffer.synth import mqtt_encode as m
from sniffer.synth.flows import TcpFlow, ip_checksum
from sniffer.synth.pcap_write import FrameList, PcapWriter

CHECKS = ["-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-o", "tcp.analyze_sequence_numbers:TRUE"]


def _tshark(path: Path, *args: str) -> str:
    cmd = [require_tool("tshark"), "-r", str(path), *CHECKS, *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def _flow_capture(path: Path, client: tuple[str, int], server: tuple[str, int], big: bytes) -> list[bytes]:
    """Handshake, a coalesced burst, a PDU over many segments, acks, FIN close; returns the PDUs sent."""
    fl = FrameList()
    f = TcpFlow(fl, client, server)
    t = f.open(1_700_000_000_000_000)
    pdus = [m.connect("flow", 4), m.connack(0)]
    t = f.send(0, pdus[0], t + 1000, ack=False)
    t = f.send(1, pdus[1], t + 1000)
    burst = [m.publish("t/1", b"a" * 30, 0), m.publish("t/2", b"b" * 40, 0), m.pingreq()]
    pdus += burst
    t = f.send(0, burst, t + 1000)
    large = m.publish("t/big", big, 1, 9)
    pdus.append(large)
    t = f.send(0, large, t + 1000, ack=False)
    pdus.append(m.puback(9))
    t = f.send(1, pdus[-1], t + 1000)
    # a PDU cut at odd places (not inside the Remaining Length: tshark cannot reassemble that)
    tail = m.publish("t/split", b"z" * 500, 0)
    pdus.append(tail)
    t = f.send(0, tail, t + 1000, split=[3, 1, 7, 100])
    f.close(t + 1000)
    fl.save(str(path))
    return pdus


def _expert(path: Path) -> str:
    return _tshark(path, "-q", "-z", "expert")


def test_ip_checksum_known_vector() -> None:
    # the classic example header from RFC 1071 discussions (checksum field zeroed): 0xb861
    hdr = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert ip_checksum(hdr) == 0xB861


def _check_flow(path: Path, pdus: list[bytes], big_len: int) -> None:
    status = _tshark(path, "-T", "fields", "-e", "tcp.checksum.status", "-e", "ip.checksum.status")
    for line in status.splitlines():
        tcp, ip = line.split("\t")
        assert tcp == "1" and ip in ("1", ""), line  # 1 = good; IPv6 has no header checksum
    assert _tshark(path, "-Y", "tcp.analysis.flags") == ""
    expert = _expert(path)
    assert "Errors" not in expert and "Warns" not in expert, expert
    types = _tshark(path, "-Y", "mqtt", "-T", "fields", "-e", "mqtt.msgtype").split()
    assert [int(x) for line in types for x in line.split(",")] == [p[0] >> 4 for p in pdus]
    lens = _tshark(path, "-Y", "mqtt.msgtype == 3 && mqtt.qos == 1", "-T", "fields", "-e", "mqtt.len").split()
    hdr = 2 + len(b"t/big") + 2
    assert lens == [str(hdr + big_len)]
    # the big PDU really spans many segments: tshark reassembled it from them
    segs = _tshark(path, "-Y", "mqtt.qos == 1", "-T", "fields", "-e", "tcp.segment.count").split()
    assert int(segs[0]) >= big_len // 1448


def test_ipv4_flow_is_clean_in_tshark(tmp_path: Path) -> None:
    path = tmp_path / "v4.pcap"
    big = b"{" + b'"k":1,' * 8000 + b"}"
    pdus = _flow_capture(path, ("192.168.7.2", 51000), ("192.168.7.1", 1883), big)
    _check_flow(path, pdus, len(big))
    syn = _tshark(path, "-c", "1", "-T", "fields", "-e", "tcp.options.mss_val", "-e", "tcp.options.wscale.shift")
    assert syn.split() == ["1460", "7"]


def test_ipv6_flow_and_pcapng(tmp_path: Path) -> None:
    path = tmp_path / "v6.pcapng"
    big = bytes(range(256)) * 300
    pdus = _flow_capture(path, ("fd00::2", 40000), ("fd00::1", 1883), big)
    assert path.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    _check_flow(path, pdus, len(big))


def test_rst_and_seq_numbers(tmp_path: Path) -> None:
    path = tmp_path / "rst.pcap"
    with PcapWriter(str(path)) as w:
        f = TcpFlow(w)
        t = f.open(1_000_000)
        t = f.send(0, m.connect("r", 4), t + 10, ack=False)
        t = f.send(1, m.connack(0), t + 10)
        f.reset(t + 10, 1)
    assert f.stream_bytes(0) == len(m.connect("r", 4))
    out = _tshark(path, "-T", "fields", "-e", "tcp.flags.str", "-e", "tcp.seq", "-e", "tcp.ack")
    rows = [r.split("\t") for r in out.splitlines()]
    assert "R" in rows[-1][0] and "A" in rows[-1][0]
    assert rows[-1][1:] == ["5", str(1 + len(m.connect("r", 4)))]  # server seq after a 4-byte CONNACK
    expert = _expert(path)
    assert "Connection reset (RST)" in expert and "Errors" not in expert


def test_pcap_writer_header_and_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "ns.pcap"
    with PcapWriter(str(path), nanosecond=True) as w:
        w.write(1_500_000_123_456, b"\x00" * 60)
    raw = path.read_bytes()
    assert raw[:4] == b"\x4d\x3c\xb2\xa1"
    out = _tshark(path, "-T", "fields", "-e", "frame.time_epoch")
    assert out.strip() == "1500000.123456000"


def test_coalesced_pdus_never_split_a_fixed_header(tmp_path: Path) -> None:
    """A burst whose MSS cut would land inside the next PDU's Remaining Length is cut before it."""
    fl = FrameList()
    f = TcpFlow(fl)
    t = f.open(1_000_000)
    t = f.send(0, m.connect("h", 4), t + 10, ack=False)
    t = f.send(1, m.connack(0), t + 10)
    first = m.publish("t", b"x" * (f.seg_payload - 1 - 6))  # 1447 bytes: the next header starts at 1447
    burst = [first, m.publish("t", b"y" * 300), m.pingreq()]
    assert len(first) == f.seg_payload - 1
    f.send(0, burst, t + 10)
    sizes = [len(fr) - 66 for _, fr in fl.frames_list[6:8]]
    assert sizes == [f.seg_payload - 1, len(burst[1]) + 2]
    path = tmp_path / "cut.pcap"
    fl.save(str(path))
    types = _tshark(path, "-Y", "mqtt", "-T", "fields", "-e", "mqtt.msgtype").split()
    assert types == ["1", "2", "3", "3,12"]

"""-T fields answers some MQTT fields from the framed PDUs without building trees;
those answers must equal the tree's, frame by frame, on every capture we have."""

from __future__ import annotations

import subprocess
import sys
from itertools import islice

import pytest
from conftest import CORPUS, REPO

from sniffer.net.pcapfile import open_capture
from sniffer.output.fields import PDU_FAST, FieldPrinter, collect
from sniffer.pipeline import Dissector


def frames_of(path: str):
    d = Dissector()
    for no, (ts, data, orig_len, lt) in enumerate(open_capture(path), 1):
        yield d.frame(no, ts, lt, data, orig_len)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("gen") / "gen.pcap"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "gen_capture.py"), str(out), "--frames", "20000", "--seed", "7"],
        check=True,
        capture_output=True,
    )
    return str(out)


def test_pdu_fast_path_equals_tree(generated: str) -> None:
    names = sorted(PDU_FAST)
    fast = FieldPrinter(["frame.number", *names])
    assert fast.pdu_fast
    paths = [generated, *(str(p) for p in sorted(CORPUS.glob("*.pcap*")))]
    checked = timed = 0
    for path in paths:
        for frame in frames_of(path):
            tree = collect(frame.tree({"mqtt"}), set(names), False)
            expected = "\t".join([str(frame.number)] + [",".join(tree.get(n, [])) for n in names])
            assert fast.line(frame) == expected, f"{path} frame {frame.number}"
            checked += bool(frame.pdus)
            timed += bool(tree.get("mqtt.time")) and bool(tree.get("mqtt.client"))
    assert checked > 5000, "the generated capture must exercise the fast path"
    assert timed > 1000, "and the session fields (responses with their time, on named clients)"


@pytest.mark.parametrize("sessions", [False, True])
def test_fields_dissector_lines_equal_the_printers(generated: str, sessions: bool) -> None:
    """sniffer.output.summary.FieldsDissector writes the -T fields line of DIRECT_FIELDS without a Frame:
    frame by frame the FieldPrinter's line of the Frame, malformed PDUs and (with the session layer)
    the notes of a connection's end included, with another separator and aggregator too."""
    from sniffer.output.summary import DIRECT_FIELDS, FieldsDissector

    names = ["mqtt.topic", *DIRECT_FIELDS]
    printer = FieldPrinter(names, separator="|", aggregator=";")
    assert printer.direct and not FieldPrinter(names, quote='"').direct
    assert not FieldPrinter(["frame.number", "mqtt.client"]).direct
    paths = [generated, *(str(p) for p in sorted(CORPUS.glob("*.pcap*")))]
    captures = [(path, list(open_capture(path))) for path in paths] + list(_reshaped_records(generated))
    slow = 0
    for path, records in captures:
        frames = Dissector(sessions=sessions)
        lines = FieldsDissector(frames.ports, names, printer.line, "|", ";", sessions=sessions)
        for no, (ts, data, orig_len, lt) in enumerate(records, 1):
            frame = frames.frame(no, ts, lt, data, orig_len)
            assert lines.frame(no, ts, lt, data, orig_len) == printer.line(frame), f"{path} frame {no}"
            slow += frame.malformed or bool(frame.seg is not None and frame.seg.session_notes)
    assert slow >= (100 if sessions else 1), "malformed PDUs (and connection ends) must take the Frame's way"


def _reshaped_records(generated: str):
    """(label, records) of real frames reshaped the ways a capture can differ from plain Ethernet/IP/TCP:
    other link types, VLAN tags, IPv4 options, padding (plain too), and ARP, IPv4 fragments, IPv6
    extension headers, cut TCP headers, odd IPv4 header lengths (not plain: the tree's way)."""
    eth = list(open_capture(generated))[:400]
    v6 = list(open_capture(str(CORPUS / "mqtt31_publish-qos2_mosquitto_ipv6__suricata-verify.pcap")))

    def vlan(d: bytes) -> bytes:
        return d[:12] + b"\x81\x00\x00\x05" + d[12:]

    def qinq(d: bytes) -> bytes:
        return d[:12] + b"\x88\xa8\x00\x07\x81\x00\x00\x05" + d[12:]

    def arp(d: bytes) -> bytes:  # (not IP at all)
        return d[:12] + b"\x08\x06" + d[14:]

    def sll(d: bytes) -> bytes:
        return b"\x00\x04\x00\x01\x00\x06" + d[6:12] + b"\x00\x00" + d[12:14] + d[14:]

    def fragment(d: bytes) -> bytes:
        return d[:20] + bytes([d[20] | 0x20]) + d[21:]  # More fragments

    def ihl(d: bytes) -> bytes:
        return d[:14] + bytes([0x44]) + d[15:]  # a 16-byte IPv4 header

    def cut(d: bytes) -> bytes:
        return d[: 14 + 20 + 12]  # the TCP header cut short

    def options(d: bytes) -> bytes:  # an IPv4 header of 24 bytes (one NOP option, three EOL)
        tot = int.from_bytes(d[16:18], "big") + 4
        return d[:14] + bytes([0x46, d[15]]) + tot.to_bytes(2, "big") + d[18:34] + b"\x01\x00\x00\x00" + d[34:]

    def padded(d: bytes) -> bytes:  # Ethernet padding after the IP packet (its total length stays)
        return d + bytes(10)

    def hop_by_hop(d: bytes) -> bytes:
        plen = int.from_bytes(d[18:20], "big") + 8
        return d[:18] + plen.to_bytes(2, "big") + b"\x00" + d[21:54] + b"\x06\x00" + bytes(6) + d[54:]

    shapes = [
        ("sll", eth, sll, 113),
        ("raw", eth, lambda d: d[14:], 101),
        ("raw 12", eth, lambda d: d[14:], 12),
        ("raw 14", eth, lambda d: d[14:], 14),
        ("ipv4 linktype", eth, lambda d: d[14:], 228),
        ("ipv6 linktype", v6, lambda d: d[14:], 229),
        ("ipv6 sll", v6, sll, 113),
        ("ipv4 options", eth, options, 1),
        ("padded", eth, padded, 1),
        ("vlan", eth, vlan, 1),
        ("qinq", eth, qinq, 1),
        ("arp", eth, arp, 1),
        ("fragment", eth, fragment, 1),
        ("ihl", eth, ihl, 1),
        ("cut", eth, cut, 1),
        ("hop-by-hop", v6, hop_by_hop, 1),
    ]
    for label, records, change, lt in shapes:
        yield label, [(ts, change(data), max(orig_len, len(change(data))), lt) for ts, data, orig_len, _ in records]


def _reshaped(generated: str):
    """(label, Frames) of _reshaped_records."""
    for label, records in _reshaped_records(generated):
        d = Dissector()
        yield label, [d.frame(no, ts, lt, data, olen) for no, (ts, data, olen, lt) in enumerate(records, 1)]


def _all_frames(generated: str, limit: int | None = None):
    """(label, Frames): the generated capture's (its first `limit`), the corpus's, the reshaped ones."""
    yield generated, islice(frames_of(generated), limit)
    for path in sorted(CORPUS.glob("*.pcap*")):
        yield str(path), frames_of(str(path))
    yield from _reshaped(generated)


def test_link_ip_tcp_fields_from_headers_equal_the_tree(generated: str) -> None:
    """-e ip.src, tcp.srcport, … are read from a plain frame's headers (sniffer.output.net_fast): the same
    values as the frame's tree, frame by frame; frames that are not plain (not IP, fragments, IPv6 extension
    headers, truncated headers) take the tree's way."""
    from sniffer.output.net_fast import NET_FAST, ONE_CODE, cell, headers

    names = sorted(NET_FAST)
    assert set(ONE_CODE) < set(NET_FAST) and len(ONE_CODE) == 19
    plain: dict[str, int] = {}
    other: dict[str, int] = {}
    for label, frames in _all_frames(generated):
        for frame in frames:
            tree = collect(frame.tree({"frame", "eth", "ip", "ipv6", "tcp"}), set(names), False)
            h = headers(frame)
            if h is None:
                other[label] = other.get(label, 0) + 1
                continue
            plain[label] = plain.get(label, 0) + 1
            for name in names:
                assert NET_FAST[name](h) == tree.get(name, []), f"{label} frame {frame.number} {name}"
            for name, code in ONE_CODE.items():  # (FieldsDissector's cells: one value at most, no join)
                values = NET_FAST[name](h)
                assert len(values) <= 1 and cell(code, h) == ",".join(values), f"{label} frame {frame.number} {name}"
    assert plain[generated] > 19000
    shapes = ("sll", "raw", "raw 12", "raw 14", "ipv4 linktype", "ipv4 options", "vlan", "qinq")
    assert all(plain.get(k, 0) >= 300 for k in shapes), plain
    assert plain.get("padded", 0) >= 300 and plain.get("ipv6 linktype") == plain.get("ipv6 sll") == 15
    assert plain[str(CORPUS / "mqtt31_publish-qos2_mosquitto_ipv6__suricata-verify.pcap")] == 15
    assert all(other.get(k, 0) >= 10 and not plain.get(k) for k in ("arp", "fragment", "ihl", "cut", "hop-by-hop"))


@pytest.mark.parametrize(
    ("options", "join"),
    [({}, ","), ({"aggregator": ";", "separator": "|"}, ";"), ({"occurrence": "f"}, None), ({"quote": '"'}, ",")],
)
def test_field_lines_with_link_ip_tcp_fields_equal_the_tree(generated: str, options: dict, join: str | None) -> None:
    """Whole -T fields lines mixing header fields, frame fields, MQTT fields and a field only the tree has:
    equal to the line made of the tree's values, on plain frames and the others, whatever -E says."""
    from sniffer.output.net_fast import NET_FAST

    names = ["frame.number", "frame.cap_len", "frame.time", "frame.time_epoch", "frame.time_relative"]
    names += ["frame.time_delta", *sorted(NET_FAST), "mqtt.msgtype", "mqtt.topic"]
    names.append("tcp.options")  # (only the tree has it)
    quick = names[:-1]
    printers = [(FieldPrinter(names, **options), names), (FieldPrinter(quick, **options), quick)]
    sep = options.get("separator", "\t")
    quote = options.get("quote", "")
    # (the quick line: every occurrence, unquoted)
    assert (printers[1][0].line == printers[1][0]._line_quick) == ("occurrence" not in options and not quote)
    for label, frames in _all_frames(generated, limit=3000):  # (the test above reads all of it)
        for frame in frames:
            tree = collect(frame.tree({"frame", "eth", "ip", "ipv6", "tcp", "mqtt"}), set(names[1:]), False)
            assert tree["frame.time"] and tree["frame.cap_len"]
            for printer, fields in printers:
                cells = [f"{quote}{frame.number}{quote}"]
                for name in fields[1:]:
                    values = tree.get(name, [])
                    text = values[0] if join is None and values else (join or ",").join(values)
                    cells.append(f"{quote}{text}{quote}" if values and quote else text)
                assert printer.line(frame) == sep.join(cells), f"{label} frame {frame.number}"


def test_seconds_as_the_tree_shows_them() -> None:
    """frame.time_epoch/relative/delta: seconds9 is the tree's f"{ts_decimal(t):.9f}" without a Decimal."""
    import random

    from sniffer.net.tree import seconds9 as _seconds9
    from sniffer.net.tree import ts_decimal

    rng = random.Random(5)
    values = [0.0, -0.0, 1e-9, -1e-9, 0.5, -0.5, 5e-7, -5e-7, 1717000000.011348, -1717000000.9999996, 2**40 + 0.1234567]
    values += [2.0**33 - 1e-6, 2.0**33, -(2.0**33), 2.0**40 - 1, 2.0**62, 2.0**64 - 1]  # (the exact way past 2^33 s)
    values += [rng.uniform(-2e9, 2e9) for _ in range(20000)] + [rng.uniform(-1, 1) for _ in range(20000)]
    assert [_seconds9(v) for v in values] == [f"{ts_decimal(v):.9f}" for v in values]
    assert _seconds9(2.0**40 - 1) == "1099511627775.000000000"  # (the product with 10^6 rounded: .000064)

"""What tshark's TCP desegmentation adds to a frame's tree, against tshark: each MQTT PDU's [PDU Size] under TCP,
"TCP segment data (N bytes)" for the bytes of a PDU that spans segments (its first and middle segments whole,
the piece that finishes it, the start of one the segment does not finish), and the "[N Reassembled TCP
Segments]" item with its frames, segment count, length and data (tcp.segments in JSON) — on every public
capture, the demo, a PUBLISH over three segments followed in its last one by a whole PDU and a PDU's start, a
lost segment and a 100-byte snapshot length (the declared PDU size, not the bytes kept)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import REPO, tshark_out
from conftest import sniff_out as run
from test_lossy_link import CLIENT_PORT, fifty_publishes, save

from sniffer.synth import impair
from sniffer.synth import mqtt_encode as E
from sniffer.synth.flows import TcpFlow
from sniffer.synth.pcap_write import PcapWriter

FIELDS = ["frame.number", "tcp.pdu.size", "tcp.segment_data", "tcp.segment", "tcp.segment.count",
          "tcp.reassembled.length", "tcp.reassembled.data"]  # fmt: skip
# the lines of -V these items make (and the layers around them, for their order)
LINES = re.compile(
    r"^(Frame \d+|    \[PDU Size: .*|    TCP segment data .*|\[\d+ Reassembled TCP Segments .*|    \[Frame: \d+, pay.*"
    r"|    \[Segment count: .*|    \[Reassembled TCP .*|MQ Telemetry Transport Protocol.*)$",
    re.M,
)


def fields(*args: str) -> list[str]:
    return [a for f in FIELDS for a in ("-e", f)]


def agree(tshark: str, path: Path | str) -> list[str]:
    """Our -T fields rows of FIELDS and -V lines equal tshark's; returns the rows."""
    args = ["-r", str(path), "-T", "fields", *fields()]
    ours = run(*args).splitlines()
    assert ours == tshark_out(tshark, *args).splitlines(), path
    assert LINES.findall(run("-r", str(path), "-V")) == LINES.findall(tshark_out(tshark, "-r", str(path), "-V"))
    return ours


def spanning(path: Path) -> Path:
    """A 3008-byte PUBLISH over three segments, its last one also holding a whole PUBLISH and the start of a
    third (finished in the next segment)."""
    b, a, c = E.publish("b/2", b"z" * 3000), E.publish("a/1", b"x" * 10), E.publish("c/3", b"y" * 500)
    with PcapWriter(str(path)) as w:
        f = TcpFlow(w, ("10.0.0.1", 40001), ("10.0.0.2", 1883), mss=65000)
        t = f.open(1_000_000)
        t = f.send(0, E.connect("x"), t + 1000)
        t = f.send(1, E.connack(), t + 1000)
        for s in (b[:1000], b[1000:2000], b[2000:] + a + c[:100], c[100:]):
            t = f.send(0, s, t + 1000)
        f.close(t + 1000)
    return path


def test_every_public_capture_and_the_demo(tshark: str, corpus_files: list[Path]) -> None:
    sizes = segments = 0
    for path in [*corpus_files, REPO / "sniffer" / "data" / "demo.pcap"]:
        rows = [r.split("\t") for r in agree(tshark, path)]
        sizes += sum(1 for r in rows if r[1])
        segments += sum(1 for r in rows if r[3])
    assert sizes > 100 and segments >= 4  # (the 35 KB JPEG, the 100 KB publishes, the 8 KB topic)


def test_a_pdu_over_segments_then_whole_ones_and_a_start(tshark: str, tmp_path: Path) -> None:
    rows = {r.split("\t")[0]: r.split("\t")[1:] for r in agree(tshark, spanning(tmp_path / "span.pcap"))}
    whole = "".join(f"{b:02x}" for b in E.publish("b/2", b"z" * 3000))
    size, data, frames, count, length, reassembled = rows["12"]
    # the PUBLISH finished here (3008, its last 1008 bytes), the whole one (17), the start of the next (100 bytes)
    assert size == "3008,17" and [len(d) // 2 for d in data.split(",")] == [1008, 100]
    assert (frames, count, length, reassembled) == ("8,10,12", "3", "3008", whole)
    assert [len(rows[n][1]) // 2 for n in ("8", "10", "14")] == [1000, 1000, 408]  # first, middle, last segments
    layers = json.loads(run("-r", str(tmp_path / "span.pcap"), "-T", "json", "-Y", "frame.number == 12"))
    seg = layers[0]["_source"]["layers"]["tcp.segments"]  # (keyed as tshark keys it)
    assert seg["tcp.segment.count"] == "3" and seg["tcp.reassembled.length"] == "3008"


def test_a_lost_segment_and_a_short_snapshot(tshark: str, tmp_path: Path) -> None:
    frames = fifty_publishes()
    lost = impair.data_frames(frames, sport=CLIENT_PORT)[11]
    agree(tshark, save(impair.drop(frames, [lost]), tmp_path / "lost.pcap"))
    rows = agree(tshark, save(fifty_publishes(payload=200), tmp_path / "snap.pcap", snaplen=100))
    declared = {str(len(E.publish(f"sensors/{i}/temp", b"x" * 200))) for i in range(50)}
    sizes = [r.split("\t")[1] for r in rows if r.split("\t")[1]]
    assert len(sizes) == 52 and set(sizes[2:]) == declared  # (CONNECT, CONNACK) not the 34 bytes each frame kept

"""An MQTT 5 PUBLISH's Content Type in the summary line, as tshark prints it: `MQTT/JSON ... , JavaScript Object
Notation (application/json)`, `MQTT/XML`, ` (text/plain)` (sniffer.mqtt.media holds the types, as probed on tshark).

Every type of the table, case variants, parameters, empty and short payloads and several PUBLISHes in one segment
go through generated captures compared line for line with tshark; real paho clients publishing through mosquitto,
captured live, give the same lines as tshark reads from the -w file.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from capture_helpers import _Client, needs_root
from conftest import sniff_out as run
from conftest import start_broker, tshark_out
from test_capture_live import start_cli, stop_cli

from sniffer.mqtt import media
from sniffer.synth import mqtt_encode as E
from sniffer.synth.flows import TcpFlow
from sniffer.synth.pcap_write import FrameList

# types tshark hands to a dissector that changes nothing on the line, and a few it knows nothing of
PLAIN = ("application/cbor", "application/octet-stream", "application/msgpack", "application/x-protobuf", "text/csv",
         "application/ld+json", "application/vnd.api+json", "text/json", "application/javascript", "image/png",
         "foo/bar", "", "application/json; charset=utf-8", " application/json")  # fmt: skip
# types whose dissectors change tshark's line by what they make of the payload (README: where we differ)
PAYLOAD_DEPENDENT = ("application/sdp", "message/sipfrag", "application/ocsp-response", "application/vnd.wap.wbxml")


def publish(i: int, ctype: str | None, body: bytes = b'{"a":1}', **kw) -> bytes:
    return E.publish(f"ct/{i}", body, version=5, props=None if ctype is None else {"content_type": ctype}, **kw)


def capture(path: Path, segments: list[list[bytes]]) -> Path:
    fl = FrameList()
    flow = TcpFlow(fl)
    t = flow.open(1_000_000)
    t = flow.send(0, E.connect("ct-test", version=5), t + 1000)
    t = flow.send(1, E.connack(version=5), t + 1000)
    for seg in segments:
        t = flow.send(0, seg, t + 1000)
    fl.save(str(path))
    return path


def test_every_type_of_the_table_reads_as_tshark_reads_it(tmp_path: Path, tshark: str) -> None:
    types = [*media.KINDS, *PLAIN, "Application/JSON", "TEXT/Plain", "Application/XML"]
    segs = [
        [publish(i, ct, b"<a>1</a>" if media.KINDS.get(ct.lower()) == media.XML else b"ab")]
        for i, ct in enumerate(types)
    ]
    path = capture(tmp_path / "types.pcap", segs)
    ours, theirs = run("-r", str(path)).splitlines(), tshark_out(tshark, "-r", str(path)).splitlines()
    assert ours == theirs
    # each family shows up: the table is not empty and its entries do change the line
    assert sum("MQTT/JSON" in ln for ln in ours) == sum(k == media.JSON for k in media.KINDS.values()) + 1
    assert sum(" MQTT/XML " in ln for ln in ours) == sum(k == media.XML for k in media.KINDS.values()) - 3 + 1
    assert sum(ln.endswith("(text/plain)") for ln in ours) == 1 and any(ln.endswith("(TEXT/Plain)") for ln in ours)
    fields = ["-T", "fields", "-e", "_ws.col.Protocol", "-e", "_ws.col.Info"]
    assert run("-r", str(path), *fields) == tshark_out(tshark, "-r", str(path), *fields)


def test_several_publishes_in_one_segment_and_short_payloads(tmp_path: Path, tshark: str) -> None:
    """Each PDU sets the Protocol column anew (the last one's counts) and appends its own Info; JSON and text mark
    an empty payload too; a PUBLISH reassembled from several segments is marked in its last frame."""
    json, xml, text = "application/json", "application/xml", "text/plain"
    segs = [
        [publish(0, json), publish(1, None)],
        [publish(2, None), publish(3, json)],
        [publish(4, json), publish(5, xml, b"<a/>")],
        [publish(6, xml, b"<a/>"), publish(7, json)],
        [publish(8, text, b"hi"), publish(9, json)],
        [publish(10, json), publish(11, text, b"hi")],
        [publish(12, json, qos=1, msgid=5)],
        [publish(13, json, b""), publish(14, text, b"")],
        [publish(15, xml, b"ab"), E.pingreq()],
        [publish(16, json, b'{"k":"' + b"x" * 3000 + b'"}')],
    ]
    path = capture(tmp_path / "multi.pcap", segs)
    ours = run("-r", str(path)).splitlines()
    assert ours == tshark_out(tshark, "-r", str(path)).splitlines()
    assert any("MQTT/JSON" in ln and "[ct/16]" in ln for ln in ours)


def test_where_tshark_differs_it_says_so_on_both_sides(tmp_path: Path, tshark: str) -> None:
    """README, "Where mqttsniff and Wireshark differ": an XML payload of fewer than two bytes is "[Malformed
    Packet]" to tshark (its XML dissector throws), and the payload-dependent dissectors change its line; ours
    names the message."""
    segs = [[publish(0, "application/xml", b"x")], [publish(1, "text/xml", b"")]]
    segs += [[publish(2 + i, ct, b"ab")] for i, ct in enumerate(PAYLOAD_DEPENDENT)]
    path = capture(tmp_path / "differ.pcap", segs)
    ours = [ln for ln in run("-r", str(path)).splitlines() if "Publish" in ln]
    theirs = [ln for ln in tshark_out(tshark, "-r", str(path)).splitlines() if "Publish" in ln or "[Malformed" in ln]
    assert len(ours) == len(theirs) == 2 + len(PAYLOAD_DEPENDENT)
    assert all(ln.endswith("[Malformed Packet]") for ln in theirs[:2])
    assert all(" MQTT " in ln and ln.endswith(f"[ct/{i}]") for i, ln in enumerate(ours))
    assert all(" MQTT " not in ln or not ln.endswith("]") for ln in theirs[2:])


@needs_root
def test_a_live_capture_of_real_clients_prints_tsharks_lines(tmp_path: Path, tshark: str) -> None:
    """paho MQTT 5 clients publish through mosquitto with Content Types; `mqttsniff -i lo -w F` prints, live,
    the lines tshark prints reading F (times included: both to the nanosecond)."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    with start_broker(tmp_path) as broker:
        proc, err = start_cli(broker.port, "-w", str(tmp_path / "live.pcapng"))
        try:
            sub = _Client(broker.port, "ct-sub", v5=True)
            sub.subscribe([("ct/#", 1)])
            pub = _Client(broker.port, "ct-pub", v5=True)
            for i, (ctype, body) in enumerate([("application/json", b'{"t":21.5}'), ("text/plain", b"on"),
                                               ("application/xml", b"<t>21.5</t>"), (None, b"raw")]):  # fmt: skip
                props = Properties(PacketTypes.PUBLISH)
                if ctype is not None:
                    props.ContentType = ctype
                pub.publish(f"ct/{i}", body, 1, props=props)
            deadline = time.monotonic() + 10
            while len(sub.got) < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
            pub.disconnect()
            sub.disconnect()
            time.sleep(0.5)
        finally:
            lines, _err = stop_cli(proc, err)
    port = broker.port
    ref = subprocess.run([tshark, "-r", str(tmp_path / "live.pcapng"), "-d", f"tcp.port=={port},mqtt"],
                         capture_output=True, text=True, check=True).stdout.splitlines()  # fmt: skip
    assert lines == ref
    # each message twice (the publisher's PUBLISH, the broker's to the subscriber), maybe in one segment with
    # another PDU (the Protocol column then is the last PDU's)
    text = "\n".join(lines)
    assert text.count("[ct/0], JavaScript Object Notation (application/json)") == 2
    assert text.count("[ct/1] (text/plain)") == 2
    assert " MQTT/XML " in text and " MQTT/JSON " in text


@pytest.mark.parametrize("ctype", ["application/json", "APPLICATION/JSON"])
def test_content_type_is_read_from_the_property_block(ctype: str) -> None:
    from sniffer.mqtt.dissect import media as media_of
    from sniffer.pipeline import MqttConnection

    dec = MqttConnection(1 << 20).decoders[0]
    data = E.connect("c", version=5) + publish(1, ctype) + publish(2, None) + publish(3, "text/plain", qos=1, msgid=9)
    pdus: list = []
    dec.feed_into(data, (1, 0), pdus)
    publishes = [p for p in pdus if p.msgtype == 3]
    assert len(publishes) == 3
    assert [media_of(p) for p in publishes] == [(media.JSON, ctype), (0, ""), (media.TEXT, "text/plain")]


def test_odd_content_types_and_a_stream_caught_after_its_connect(tmp_path: Path, tshark: str) -> None:
    """tshark's string ends at a NUL (`application/json\\0x` is JSON to it), it folds ASCII letters only (a Kelvin
    sign does not make `k`), and a stream whose CONNECT was not captured is 3.1.1 to it: no Content Type read."""
    segs = [[publish(0, "application/json\0xyz")], [publish(1, "text/plain\0")], [publish(2, "TEXT/PLAIN")],
            [publish(3, "application/x-rtsp-udp-pac\u212aetpair")], [publish(4, "application/json\u00a0")]]  # fmt: skip
    path = capture(tmp_path / "odd.pcap", segs)
    ours = run("-r", str(path)).splitlines()
    assert ours == tshark_out(tshark, "-r", str(path)).splitlines()
    assert sum("MQTT/JSON" in ln for ln in ours) == 1 and sum("(text/plain)" in ln for ln in ours) == 1
    fl = FrameList()
    flow = TcpFlow(fl)
    t = flow.open(1_000_000)  # no CONNECT: the capture starts with the session's PUBLISHes
    for i in range(3):
        t = flow.send(0, publish(i, "application/json", qos=1, msgid=i + 1), t + 1000)
    fl.save(str(tmp_path / "late.pcap"))
    ours = run("-r", str(tmp_path / "late.pcap")).splitlines()
    assert ours == tshark_out(tshark, "-r", str(tmp_path / "late.pcap")).splitlines()
    assert not any("JSON" in ln for ln in ours) and sum("Publish Message" in ln for ln in ours) == 3

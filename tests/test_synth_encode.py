"""The MQTT encoder (sniffer/synth/mqtt_encode.py) against the spec's byte examples and tshark's decoding."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

from conftest import require_tool

from sniffer.synth import mqtt_encode as m
from sniffer.synth.flows import TcpFlow
from sniffer.synth.pcap_write import FrameList


def _fields(path: Path, *fields: str, filt: str = "mqtt") -> list[list[str]]:
    args = [require_tool("tshark"), "-r", str(path), "-Y", filt, "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def _capture(tmp_path: Path, exchanges: list[tuple[int, bytes]], name: str = "v.pcap") -> Path:
    """Each (side, pdu) in its own segment of one connection."""
    fl = FrameList()
    f = TcpFlow(fl)
    t = f.open(1_700_000_000_000_000)
    for side, pdu in exchanges:
        t = f.send(side, pdu, t + 1000)
    f.close(t + 1000)
    path = tmp_path / name
    fl.save(str(path))
    return path


def test_varint_matches_spec_table() -> None:
    # MQTT 5 §1.5.5: the boundaries of 1..4-byte Variable Byte Integers
    cases = {
        0: "00",
        127: "7f",
        128: "8001",
        16383: "ff7f",
        16384: "808001",
        2097151: "ffff7f",
        2097152: "80808001",
        268435455: "ffffff7f",
    }
    for n, hexs in cases.items():
        assert m.varint(n).hex() == hexs
    assert m.varint(0, min_len=5) == b"\x80\x80\x80\x80\x00"  # overlong, invalid on purpose
    assert m.varint(5, min_len=2) == b"\x85\x00"


def test_known_packet_bytes() -> None:
    # MQTT 3.1.1 CONNECT "c", clean session, keep-alive 60
    assert m.connect("c", 4, keepalive=60).hex() == "100d00044d5154540402003c000163"
    assert m.connect("c", 3, keepalive=60)[2:10] == b"\x00\x06MQIsdp"
    assert m.connect("c", 3)[10] == 3
    assert m.publish("a/b", b"hi", 1, 10) == b"\x32\x09\x00\x03a/b\x00\x0ahi"
    assert m.pubrel(7) == b"\x62\x02\x00\x07"
    assert m.subscribe(1, [("a/#", 1)])[0] == 0x82
    assert m.unsubscribe(1, ["a/#"])[0] == 0xA2
    assert m.pingreq() == b"\xc0\x00" and m.pingresp() == b"\xd0\x00"
    assert m.disconnect() == b"\xe0\x00"
    assert m.auth() == b"\xf0\x00"
    assert m.disconnect(5, 0x8E) == b"\xe0\x01\x8e"
    # MQTT 5 PUBACK with reason code and a reason string
    assert m.puback(5, 5, 0x10, [("reason_string", "x")]) == b"\x40\x08\x00\x05\x10\x04\x1f\x00\x01x"
    assert m.sub_options(qos=2, no_local=True, retain_as_published=True, retain_handling=2) == 0x2E


def test_will_and_flags() -> None:
    will = m.Will("w/t", b"bye", qos=2, retain=True, properties=[("will_delay_interval", 9)])
    p = m.connect("id", 5, username="u", password=b"p", will=will)
    flags = p[2 + 7]
    assert flags == 0x80 | 0x40 | 0x20 | 0x10 | 0x04 | 0x02
    assert b"\x05\x18\x00\x00\x00\x09" in p  # will properties block: length 5, will delay 9


def test_invalid_encodings() -> None:
    assert m.publish("a", b"", qos=3)[0] == 0x36
    assert m.with_flags(m.pubrel(1), 0)[0] == 0x60
    assert m.with_type(m.pingreq(), 0) == b"\x00\x00"
    assert m.fixed(m.PINGREQ, 0, b"", len_bytes=5) == b"\xc0\x80\x80\x80\x80\x00"
    assert m.fixed(m.PUBLISH, 0, b"\x00\x01a", remaining=268435455)[1:5] == b"\xff\xff\xff\x7f"
    block = m.properties([("topic_alias", 1)], declared_len=200)
    assert block == b"\xc8\x01\x23\x00\x01"
    dup = m.properties([("topic_alias", 1), ("topic_alias", 2)])
    assert dup == b"\x06\x23\x00\x01\x23\x00\x02"


def test_every_packet_type_every_version_decodes_in_tshark(tmp_path: Path) -> None:
    """Each of the 15 types (AUTH for MQTT 5 only) per version; tshark sees the same types, no malformation."""
    for version in (3, 4, 5):
        props = [("user_property", ("k", "v"))] if version == 5 else None
        seq: list[tuple[int, bytes]] = [
            (0, m.connect(f"client-v{version}", version, username="u", password="p", props=props)),
            (1, m.connack(0, True, version, props)),
            (0, m.subscribe(1, [("a/+", 1), ("b/#", 2)], version, props)),
            (1, m.suback(1, [1, 0x80], version, props)),
            (0, m.publish("a/b", b"q0", 0, version=version, props=props)),
            (0, m.publish("a/b", b"q1", 1, 2, version=version, props=props)),
            (1, m.puback(2, version)),
            (0, m.publish("a/b", b"q2", 2, 3, retain=True, version=version, props=props)),
            (1, m.pubrec(3, version)),
            (0, m.pubrel(3, version)),
            (1, m.pubcomp(3, version)),
            (0, m.unsubscribe(4, ["a/+"], version, props)),
            (1, m.unsuback(4, [0], version, props)),
            (0, m.pingreq()),
            (1, m.pingresp()),
        ]
        if version == 5:
            seq.append((0, m.auth(0x18, [("authentication_method", "SCRAM"), ("authentication_data", b"xyz")])))
        seq.append((0, m.disconnect(version, 0 if version == 5 else None, props)))
        path = _capture(tmp_path, seq, f"v{version}.pcap")
        rows = _fields(path, "mqtt.msgtype", "_ws.malformed", "_ws.expert.severity")
        assert [int(r[0]) for r in rows] == [p[0] >> 4 for _, p in seq], f"version {version}"
        assert all(r[1] == "" and r[2] == "" for r in rows), f"tshark flags a problem in version {version}: {rows}"
        vers = _fields(path, "mqtt.ver", filt="mqtt.msgtype == 1")
        assert vers == [[str(version)]]


def test_every_property_decodes_to_its_value_in_tshark(tmp_path: Path) -> None:
    """All 27 MQTT 5 properties, one per PUBLISH so each tshark row maps to one property."""
    assert len(m.PROPERTIES) == 27
    seq = [(0, m.connect("props", 5)), (1, m.connack(0, version=5))]
    for pid, value in m.SAMPLE_PROPERTY_VALUES.items():
        seq.append((0, m.publish("p/x", b"{}", 0, version=5, props=[(pid, value)])))
    path = _capture(tmp_path, seq)
    rows = _fields(
        path,
        "mqtt.property_id",
        "mqtt.prop_number",
        "mqtt.prop_string",
        "mqtt.property.content_type",
        "mqtt.property.topic_alias",
        "mqtt.property.max_qos",
        "mqtt.prop_key",
        "mqtt.prop_value",
        filt="mqtt.msgtype == 3",
    )
    assert len(rows) == 27
    for (pid, value), row in zip(m.SAMPLE_PROPERTY_VALUES.items(), rows, strict=True):
        kind = m.PROPERTIES[pid][1]
        assert row[0] == f"0x{pid:02x}"
        shown = [v for v in row[1:] if v]
        if kind == "pair":
            assert shown == list(value)  # type: ignore[arg-type]
        elif kind == "bin":
            assert shown == [value.decode()]  # type: ignore[union-attr]
        else:
            assert shown == [str(value)], m.PROPERTIES[pid][0]


def test_property_types_on_the_wire() -> None:
    # each wire type: identifier then the value in its declared width
    assert m.encode_property("payload_format_indicator", 1) == b"\x01\x01"
    assert m.encode_property("server_keep_alive", 300) == b"\x13" + struct.pack("!H", 300)
    assert m.encode_property("message_expiry_interval", 70000) == b"\x02" + struct.pack("!I", 70000)
    assert m.encode_property("subscription_identifier", 200) == b"\x0b\xc8\x01"
    assert m.encode_property("content_type", "a") == b"\x03\x00\x01a"
    assert m.encode_property("user_property", ("k", "vv")) == b"\x26\x00\x01k\x00\x02vv"
    assert m.encode_property("correlation_data", b"\x00\xff") == b"\x09\x00\x02\x00\xff"

"""Every expert note the dissector knows, each triggered by a vector; topic-alias
resolution per direction; protocol-version inference when no CONNECT was seen."""

from __future__ import annotations

import pytest
from test_mqtt_vectors import (
    check_ranges,
    connect,
    decode_all,
    msgid_packet,
    notes_of,
    packet,
    props,
    publish,
    subscribe,
    unsubscribe,
)

from sniffer.mqtt import constants as C
from sniffer.mqtt import fields as F
from sniffer.mqtt.decoder import DirectionDecoder, Session
from sniffer.mqtt.dissect import dissect, info

# (name, version, bytes, substring of an expert note, severity, malformed?)
EXPERT = [
    ("qos3", 4, publish("t", b"x", qos=3), "QoS 3 is reserved", "Error", False),
    ("type0", 4, packet(0, 0, b"\x00" * 4), "Reserved packet type 0", "Error", False),
    ("type15-in-3.1.1", 4, packet(15, 0, b""), "AUTH) is reserved in MQTT v3.1.1", "Error", False),
    (
        "subscribe-flags",
        4,
        packet(C.SUBSCRIBE, 0, b"\x00\x01\x00\x01a\x00"),
        "Invalid fixed header flags 0x0",
        "Error",
        False,
    ),
    ("unsubscribe-flags", 4, packet(C.UNSUBSCRIBE, 0, b"\x00\x01\x00\x01a"), "must be 0x2", "Error", False),
    ("pubrel-flags", 4, packet(C.PUBREL, 0, b"\x00\x01"), "for Publish Release (must be 0x2)", "Error", False),
    ("puback-flags", 4, packet(C.PUBACK, 3, b"\x00\x01"), "for Publish Ack (must be 0x0)", "Error", False),
    ("wildcard-publish", 4, publish("a/+/b", b""), "Wildcard character in a PUBLISH topic", "Warning", False),
    ("wildcard-hash", 4, publish("a/#", b""), "Wildcard character in a PUBLISH topic", "Warning", False),
    ("zero-length-topic", 4, publish("", b"x"), "Length cannot be 0", "Warning", False),
    ("invalid-utf8", 4, packet(C.PUBLISH, 0, b"\x00\x02a\xff"), "Invalid UTF-8", "Warning", False),
    ("nul-in-topic", 4, publish("a\x00b", b""), "contains U+0000", "Warning", False),
    ("varint-too-long", 4, bytes([0xC0, 0x80, 0x80, 0x80, 0x80, 0x01]), "longer than 4 bytes", "Error", True),
    (
        "duplicate-property",
        5,
        packet(C.CONNACK, 0, b"\x00\x00" + props((0x11, 1), (0x11, 2))),
        "Duplicate property Session Expiry Interval",
        "Warning",
        False,
    ),
    (
        "property-length-beyond-packet",
        5,
        packet(C.CONNACK, 0, b"\x00\x00\x20\x11\x00\x00\x00\x01"),
        "Property length 32 runs past the end",
        "Error",
        True,
    ),
    ("unknown-property", 5, packet(C.CONNACK, 0, b"\x00\x00\x02\x05\x00"), "Unknown property id 0x05", "Error", True),
    ("reserved-connect-flag", 4, connect(4, flags=0x03), "Reserved connect flag is set", "Error", False),
    ("will-qos-without-will", 4, connect(4, flags=0x0A), "Will QoS/Retain set without the Will Flag", "Warning", False),
    (
        "connack-reserved-flags",
        4,
        packet(C.CONNACK, 0, b"\x02\x00"),
        "Reserved Connect Acknowledge flags",
        "Error",
        False,
    ),
    (
        "subopts-reserved",
        5,
        subscribe(1, [("a", 0xC1)], v5=b"\x00"),
        "Reserved subscription option bits",
        "Error",
        False,
    ),
    ("subopts-retain-3", 5, subscribe(1, [("a", 0x31)], v5=b"\x00"), "Retain Handling 3 is reserved", "Error", False),
    ("sub-qos3", 4, subscribe(1, [("a", 3)]), "QoS 3 is reserved", "Error", False),
    ("bad-filter", 4, subscribe(1, [("a/#/b", 0)]), "Invalid wildcard use in topic filter", "Warning", False),
    ("empty-subscribe", 4, msgid_packet(C.SUBSCRIBE, 1), "without any topic filter", "Warning", False),
    ("empty-unsubscribe", 5, unsubscribe(1, [], v5=b"\x00"), "without any topic filter", "Warning", False),
    (
        "property-not-allowed",
        5,
        packet(C.DISCONNECT, 0, b"\x00" + props((0x23, 3))),
        "Topic Alias is not allowed in Disconnect Req",
        "Warning",
        False,
    ),
    ("property-bad-value", 5, publish("t", b"", v5=props((0x01, 7))), "value 7 is not allowed", "Warning", False),
    ("trailing-bytes", 4, packet(C.PINGREQ, 0, b"\x00\x00"), "2 unexpected bytes", "Warning", False),
    (
        "truncated-field",
        4,
        packet(C.CONNECT, 0, b"\x00\x04MQ"),
        "Malformed Packet: protocol name runs past",
        "Error",
        True,
    ),
    ("wrong-protocol-name", 4, connect(3).replace(b"\x03", b"\x04", 1), "does not match level 4", "Warning", False),
    ("dup-on-qos0", 4, publish("t", b"", flags=0x8), "DUP flag set on a QoS 0 PUBLISH", "Warning", False),
]


@pytest.mark.parametrize("name,version,raw,text,severity,malformed", EXPERT, ids=[e[0] for e in EXPERT])
def test_expert_note(name, version, raw, text, severity, malformed):
    pdus = decode_all([raw], version)
    root = dissect(pdus[0], base=40)
    check_ranges(root, 40, len(pdus[0].data))
    hits = [n for n in root.walk() if n.severity == severity and text in n.value]
    assert hits, notes_of(root)
    for n in hits:
        assert 40 <= n.start <= n.start + n.length <= 40 + len(pdus[0].data)
    is_malformed = any(n.text == "[Malformed Packet: MQTT]" for n in root.walk())
    assert is_malformed == malformed == (pdus[0].error is not None)
    assert info(pdus[0]).endswith("[Malformed Packet]") == malformed


def test_malformed_marks_offending_range():
    raw = packet(C.CONNACK, 0, b"\x00\x00\x02\x05\x00")  # unknown property 0x05 at offset 5
    root = dissect(decode_all([raw], 5)[0], base=10)
    bad = next(n for n in root.walk() if n.text == "[Malformed Packet: MQTT]")
    assert (bad.start, bad.length) == (15, 2)
    assert bad.children[0].severity == "Error" and "unknown property id 0x05" in bad.children[0].value


# ---- topic aliases -------------------------------------------------------------------


def test_topic_alias_resolved_per_direction():
    session = Session(5)
    c2s = DirectionDecoder(session, True)
    s2c = DirectionDecoder(session, False)
    c2s.feed(publish("sensors/temp", b"1", v5=props((0x23, 4))))
    c2s.feed(publish("", b"2", v5=props((0x23, 4))))
    s2c.feed(publish("", b"3", v5=props((0x23, 4))))  # the other direction has its own map
    first, second = c2s.next_pdu(), c2s.next_pdu()
    other = s2c.next_pdu()
    assert (first.topic, first.alias, first.alias_state) == ("sensors/temp", 4, 1)
    assert (second.topic, second.alias, second.alias_state) == ("sensors/temp", 4, 2)
    assert info(second) == "Publish Message [sensors/temp]"
    root = dissect(second)
    texts = [n.text for n in root.walk()]
    assert "[Topic: sensors/temp (from Topic Alias 4)]" in texts and "Topic Alias: 4" in texts
    assert "Length cannot be 0" not in notes_of(root)
    assert (other.topic, other.alias_state) == ("", 3)
    assert any(n.fdef is F.UNKNOWN_TOPIC_ALIAS for n in dissect(other).walk())


def test_topic_alias_redefined():
    pdus = decode_all(
        [
            publish("a", b"", v5=props((0x23, 1))),
            publish("b", b"", v5=props((0x23, 1))),
            publish("", b"", v5=props((0x23, 1))),
        ],
        5,
    )
    assert [p.topic for p in pdus] == ["a", "b", "b"]


# ---- version inference ---------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,version,decisive",
    [
        (packet(C.CONNACK, 0, b"\x00\x00\x03\x22\x00\x0a"), 5, True),
        (packet(C.CONNACK, 0, b"\x00\x00"), 4, True),
        (msgid_packet(C.PUBACK, 1, b"\x10"), 5, True),
        (msgid_packet(C.PUBACK, 1, b"\x00\x03\x1f\x00\x00"), 5, True),
        (msgid_packet(C.PUBACK, 1), 4, False),
        (publish("t", b"", v5=props((0x01, 1))), 5, True),
        (publish("t", b'{"a": 1}'), 4, True),
        (publish("t", b""), 4, True),
        (packet(C.AUTH, 0, b""), 5, True),
        (packet(C.DISCONNECT, 0, b"\x00"), 5, True),
        (packet(C.PINGREQ, 0, b""), 4, False),
        (subscribe(1, [("a/b", 1)]), 4, True),
        (subscribe(1, [("a/b", 0x21)], v5=props((0x0B, 5))), 5, True),
    ],
)
def test_version_inference(raw, version, decisive):
    session = Session()
    dec = DirectionDecoder(session, True)
    dec.feed(raw)
    pdu = dec.next_pdu()
    assert pdu.version == version and pdu.version_inferred and pdu.error is None
    assert session.version == (version if decisive else None)
    assert session.version_inferred == decisive
    root = dissect(pdu)
    note = next(n for n in root.walk() if n.fdef is F.UNKNOWN_VERSION)
    assert note.severity == "Note" and "inferred" in note.value


def test_connect_sets_version_for_both_directions():
    session = Session()
    c2s, s2c = DirectionDecoder(session, True), DirectionDecoder(session, False)
    c2s.feed(connect(5))
    assert c2s.next_pdu().version == 5 and session.version == 5 and not session.version_inferred
    s2c.feed(msgid_packet(C.PUBACK, 1))
    pdu = s2c.next_pdu()
    assert pdu.version == 5 and not pdu.version_inferred
    assert not any(n.fdef is F.UNKNOWN_VERSION for n in dissect(pdu).walk())


def test_inferred_v5_session_decodes_later_packets_as_v5():
    pdus = decode_all([packet(C.CONNACK, 0, b"\x00\x00\x00"), msgid_packet(C.PUBACK, 1)])
    assert [p.version for p in pdus] == [5, 5] and all(p.version_inferred for p in pdus)

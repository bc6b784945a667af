"""Byte vectors for every MQTT packet type and version, fed whole, byte by byte and
with trailing bytes; Info texts, field values and field-range invariants.

The small encoder below writes packets from the specification's layout (it is
independent of the decoder); other test_mqtt_* modules import it.
"""

from __future__ import annotations

import struct

import pytest

from sniffer.fields import Node
from sniffer.mqtt import constants as C
from sniffer.mqtt import fields as F
from sniffer.mqtt.decoder import PDU, DirectionDecoder, Session
from sniffer.mqtt.dissect import dissect, info

# ---- encoder -------------------------------------------------------------------------


def vbi(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(x: str | bytes) -> bytes:
    raw = x.encode() if isinstance(x, str) else x
    return struct.pack(">H", len(raw)) + raw


def prop(pid: int, value) -> bytes:
    kind = C.PROPERTIES[pid][2]
    if kind == C.BYTE:
        return bytes([pid, value])
    if kind == C.U16:
        return bytes([pid]) + struct.pack(">H", value)
    if kind == C.U32:
        return bytes([pid]) + struct.pack(">I", value)
    if kind == C.VARINT:
        return bytes([pid]) + vbi(value)
    if kind == C.PAIR:
        return bytes([pid]) + s(value[0]) + s(value[1])
    return bytes([pid]) + s(value)


def props(*items: tuple[int, object]) -> bytes:
    body = b"".join(prop(pid, v) for pid, v in items)
    return vbi(len(body)) + body


def packet(t: int, flags: int, body: bytes) -> bytes:
    return bytes([t << 4 | flags]) + vbi(len(body)) + body


def connect(
    level: int = 4,
    client: str = "cid",
    flags: int = 0x02,
    keepalive: int = 60,
    p: bytes = b"",
    will: tuple[bytes, str, bytes] | None = None,
    user: str | None = None,
    password: str | None = None,
) -> bytes:
    name = "MQIsdp" if level == 3 else "MQTT"
    if will is not None:
        flags |= 0x04
    if user is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    body = s(name) + bytes([level, flags]) + struct.pack(">H", keepalive)
    if level == 5:
        body += p or b"\x00"
    body += s(client)
    if will is not None:
        wprops, wtopic, wmsg = will
        if level == 5:
            body += wprops or b"\x00"
        body += s(wtopic) + s(wmsg)
    if user is not None:
        body += s(user)
    if password is not None:
        body += s(password)
    return packet(C.CONNECT, 0, body)


def publish(topic: str, payload: bytes = b"", qos: int = 0, msgid: int = 1, v5: bytes | None = None, flags=0) -> bytes:
    body = s(topic) + (struct.pack(">H", msgid) if qos else b"") + (v5 if v5 is not None else b"") + payload
    return packet(C.PUBLISH, flags | qos << 1, body)


def msgid_packet(t: int, msgid: int, rest: bytes = b"") -> bytes:
    return packet(t, C.REQUIRED_FLAGS[t], struct.pack(">H", msgid) + rest)


def subscribe(msgid: int, topics: list[tuple[str, int]], v5: bytes | None = None) -> bytes:
    body = (v5 or b"") + b"".join(s(t) + bytes([o]) for t, o in topics)
    return msgid_packet(C.SUBSCRIBE, msgid, body)


def unsubscribe(msgid: int, topics: list[str], v5: bytes | None = None) -> bytes:
    return msgid_packet(C.UNSUBSCRIBE, msgid, (v5 or b"") + b"".join(s(t) for t in topics))


# ---- helpers shared by the test modules ------------------------------------------------


def decode_all(chunks, version: int | None = None, max_pdu: int | None = None) -> list[PDU]:
    """Feed chunks (tag = chunk index) and drain; then close."""
    dec = DirectionDecoder(Session(version), True, **({} if max_pdu is None else {"max_pdu": max_pdu}))
    return run(dec, chunks)


def run(dec: DirectionDecoder, chunks, gap_at: int = -1) -> list[PDU]:
    """Feed chunks to `dec` (tag = chunk index; before chunk `gap_at`, a gap of gap_at + 3 bytes),
    draining as the pipeline does; then end the stream as a FIN does (salvage, close)."""
    out = []
    for i, c in enumerate(chunks):
        if i == gap_at:
            dec.gap(i + 3)
        dec.feed(c, i)
        while (p := dec.next_pdu()) is not None:
            out.append(p)
    dec.salvage()
    while (p := dec.next_pdu()) is not None:
        out.append(p)
    p = dec.close()
    while p is not None:
        out.append(p)
        p = dec.next_pdu()
    return out


def fields_of(root: Node) -> dict[str, list]:
    out: dict[str, list] = {}
    for n in root.walk():
        if n.fdef is not None and n.severity is None:
            out.setdefault(n.fdef.abbrev, []).append(n.value)
    return out


def notes_of(root: Node) -> list[str]:
    return [n.value for n in root.walk() if n.severity is not None]


def check_ranges(root: Node, start: int, length: int) -> None:
    """Every node inside its parent, the root exactly the PDU."""
    assert (root.start, root.length) == (start, length)

    def walk(n: Node) -> None:
        for c in n.children:
            assert c.length >= 0
            assert n.start <= c.start and c.start + c.length <= n.start + n.length, (n.text, c.text)
            walk(c)

    walk(root)


# ---- the vectors ---------------------------------------------------------------------

ALL_PROPS_PUBLISH = props(
    (0x01, 1),
    (0x02, 3600),
    (0x03, "application/json"),
    (0x08, "reply/to"),
    (0x09, b"\x01\x02corr"),
    (0x0B, 77),
    (0x0B, 300),
    (0x23, 9),
    (0x26, ("k1", "v1")),
    (0x26, ("k1", "v2")),
)
CONNECT_PROPS = props(
    (0x11, 555),
    (0x15, "SCRAM-SHA-1"),
    (0x16, b"\x00\xffauth"),
    (0x17, 1),
    (0x19, 1),
    (0x21, 222),
    (0x22, 666),
    (0x27, 11111),
    (0x26, ("userprop1", "userval1")),
)
WILL_PROPS = props((0x18, 200), (0x01, 0), (0x02, 133), (0x03, "text/plain"), (0x08, "resp"), (0x09, b"cd"))
CONNACK_PROPS = props(
    (0x11, 60),
    (0x12, "auto-1234"),
    (0x13, 30),
    (0x15, "SCRAM-SHA-1"),
    (0x16, b"srv"),
    (0x1A, "resp-info"),
    (0x1C, "other.example"),
    (0x1F, "all good"),
    (0x21, 10),
    (0x22, 5),
    (0x24, 1),
    (0x25, 0),
    (0x27, 65536),
    (0x28, 1),
    (0x29, 0),
    (0x2A, 1),
)

# (name, version, bytes, Info text, {abbrev: [values]})
VECTORS: list[tuple[str, int, bytes, str, dict]] = [
    (
        "connect-3.1",
        3,
        connect(3, "paho/1", user="u", password="pw"),
        "Connect Command",
        {"mqtt.protoname": ["MQIsdp"], "mqtt.ver": [3], "mqtt.username": ["u"], "mqtt.passwd": ["pw"]},
    ),
    (
        "connect-3.1.1-will",
        4,
        connect(4, "c1", will=(b"", "will/t", b"bye"), flags=0x02 | 0x08 | 0x20),
        "Connect Command",
        {"mqtt.conflags": [0x2E], "mqtt.conflag.qos": [1], "mqtt.willtopic": ["will/t"], "mqtt.willmsg": [b"bye"]},
    ),
    (
        "connect-5-all",
        5,
        connect(5, "myvoice", p=CONNECT_PROPS, will=(WILL_PROPS, "wt", b"wm"), user="user", password="pass"),
        "Connect Command",
        {
            "mqtt.property.session_expiry_interval": [555],
            "mqtt.property.authentication_method": ["SCRAM-SHA-1"],
            "mqtt.property.authentication_data": [b"\x00\xffauth"],
            "mqtt.property.request_problem_information": [1],
            "mqtt.property.request_response_information": [1],
            "mqtt.property.receive_maximum": [222],
            "mqtt.property.topic_alias_maximum": [666],
            "mqtt.property.maximum_packet_size": [11111],
            "mqtt.property.user_property": ["userprop1=userval1"],
            "mqtt.property.will_delay_interval": [200],
            "mqtt.property.payload_format_indicator": [0],
            "mqtt.property.message_expiry_interval": [133],
            "mqtt.property.content_type": ["text/plain"],
            "mqtt.property.response_topic": ["resp"],
            "mqtt.property.correlation_data": [b"cd"],
            "mqtt.prop_key": ["userprop1"],
            "mqtt.prop_value": ["userval1"],
        },
    ),
    ("connack-3.1", 3, packet(C.CONNACK, 0, b"\x00\x05"), "Connect Ack", {"mqtt.conack.val": [5]}),
    (
        "connack-3.1.1",
        4,
        packet(C.CONNACK, 0, b"\x01\x00"),
        "Connect Ack",
        {"mqtt.conack.flags": [1], "mqtt.conack.flags.sp": [True], "mqtt.conack.val": [0]},
    ),
    (
        "connack-5-all",
        5,
        packet(C.CONNACK, 0, b"\x00\x00" + CONNACK_PROPS),
        "Connect Ack",
        {
            "mqtt.connack.reason_code": [0],
            "mqtt.property.assigned_client_identifier": ["auto-1234"],
            "mqtt.property.server_keep_alive": [30],
            "mqtt.property.response_information": ["resp-info"],
            "mqtt.property.server_reference": ["other.example"],
            "mqtt.property.reason_string": ["all good"],
            "mqtt.property.max_qos": [1],
            "mqtt.property.retain_available": [0],
            "mqtt.property.wildcard_subscription_available": [1],
            "mqtt.property.subscription_identifier_available": [0],
            "mqtt.property.shared_subscription_available": [1],
        },
    ),
    ("publish-qos0", 4, publish("a/b", b"hi"), "Publish Message [a/b]", {"mqtt.msg": [b"hi"], "mqtt.qos": [0]}),
    (
        "publish-qos1-3.1",
        3,
        publish("t", b"x", qos=1, msgid=38850),
        "Publish Message (id=38850) [t]",
        {"mqtt.msgid": [38850]},
    ),
    (
        "publish-qos2-retain-dup",
        4,
        publish("t/2", b"", qos=2, msgid=7, flags=0x9),
        "Publish Message (id=7) [t/2]",
        {"mqtt.dupflag": [True], "mqtt.retain": [True], "mqtt.qos": [2], "mqtt.msg": [b""]},
    ),
    (
        "publish-5-props",
        5,
        publish("s/t", b"{}", qos=1, msgid=3, v5=ALL_PROPS_PUBLISH),
        # (its Content Type is application/json: tshark's JSON dissector adds to the Info)
        "Publish Message (id=3) [s/t], JavaScript Object Notation (application/json)",
        {
            "mqtt.property.subscription_identifier": [77, 300],
            "mqtt.property.topic_alias": [9],
            "mqtt.property.user_property": ["k1=v1", "k1=v2"],
            "mqtt.property_id": [0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x0B, 0x23, 0x26, 0x26],
        },
    ),
    ("puback-3.1.1", 4, msgid_packet(C.PUBACK, 1), "Publish Ack (id=1)", {"mqtt.msgid": [1]}),
    ("pubrec-3.1", 3, msgid_packet(C.PUBREC, 2), "Publish Received (id=2)", {"mqtt.msgid": [2]}),
    ("pubrel-3.1.1", 4, msgid_packet(C.PUBREL, 3), "Publish Release (id=3)", {"mqtt.hdr_reserved": [2]}),
    ("pubrel-3.1", 3, msgid_packet(C.PUBREL, 3), "Publish Release (id=3)", {"mqtt.retain_reserved": [0]}),
    ("pubcomp-3.1.1", 4, msgid_packet(C.PUBCOMP, 4), "Publish Complete (id=4)", {"mqtt.msgid": [4]}),
    ("puback-5-short", 5, msgid_packet(C.PUBACK, 5), "Publish Ack (id=5)", {"mqtt.msgid": [5]}),
    (
        "puback-5-reason",
        5,
        msgid_packet(C.PUBACK, 6, b"\x10"),
        "Publish Ack (id=6)",
        {"mqtt.puback.reason_code": [0x10]},
    ),
    (
        "pubrec-5-props",
        5,
        msgid_packet(C.PUBREC, 7, b"\x80" + props((0x1F, "nope"), (0x26, ("a", "b")))),
        "Publish Received (id=7)",
        {"mqtt.pubrec.reason_code": [0x80], "mqtt.property.reason_string": ["nope"]},
    ),
    (
        "pubrel-5",
        5,
        msgid_packet(C.PUBREL, 8, b"\x92\x00"),
        "Publish Release (id=8)",
        {"mqtt.pubrel.reason_code": [0x92]},
    ),
    (
        "pubcomp-5",
        5,
        msgid_packet(C.PUBCOMP, 9, b"\x00\x00"),
        "Publish Complete (id=9)",
        {"mqtt.pubcomp.reason_code": [0]},
    ),
    (
        "subscribe-3.1.1",
        4,
        subscribe(1, [("sensors/#", 1), ("cmd/+", 0)]),
        "Subscribe Request (id=1) [sensors/#] [cmd/+]",
        {"mqtt.topic": ["sensors/#", "cmd/+"], "mqtt.sub.qos": [1, 0]},
    ),
    (
        "subscribe-5-options",
        5,
        subscribe(2, [("a/b", 0x2E), ("c", 0x01)], v5=props((0x0B, 12), (0x26, ("x", "y")))),
        "Subscribe Request (id=2) [a/b] [c]",
        {
            "mqtt.subscription_options": [0x2E, 0x01],
            "mqtt.subscription_options_qos": [2, 1],
            "mqtt.subscription_options_nl": [True, False],
            "mqtt.subscription_options_rap": [True, False],
            "mqtt.subscription_options_retain": [2, 0],
            "mqtt.subscription_options_reserved": [0, 0],
            "mqtt.property.subscription_identifier": [12],
        },
    ),
    ("suback-3.1.1", 4, msgid_packet(C.SUBACK, 1, b"\x01\x80"), "Subscribe Ack (id=1)", {"mqtt.suback.qos": [1, 0x80]}),
    (
        "suback-5",
        5,
        msgid_packet(C.SUBACK, 2, props((0x1F, "r")) + b"\x02\xa2"),
        "Subscribe Ack (id=2)",
        {"mqtt.suback.reason_code": [2, 0xA2]},
    ),
    ("unsubscribe-3.1.1", 4, unsubscribe(3, ["a", "b/c"]), "Unsubscribe Request (id=3)", {"mqtt.topic": ["a", "b/c"]}),
    ("unsubscribe-5", 5, unsubscribe(4, ["x"], v5=props()), "Unsubscribe Request (id=4)", {"mqtt.topic": ["x"]}),
    ("unsuback-3.1.1", 4, msgid_packet(C.UNSUBACK, 3), "Unsubscribe Ack (id=3)", {"mqtt.msgid": [3]}),
    (
        "unsuback-5",
        5,
        msgid_packet(C.UNSUBACK, 4, b"\x00\x00\x11"),
        "Unsubscribe Ack (id=4)",
        {"mqtt.unsuback.reason_code": [0, 0x11]},
    ),
    ("pingreq", 4, packet(C.PINGREQ, 0, b""), "Ping Request", {"mqtt.len": [0]}),
    ("pingresp", 3, packet(C.PINGRESP, 0, b""), "Ping Response", {"mqtt.msgtype": [13]}),
    ("disconnect-3.1.1", 4, packet(C.DISCONNECT, 0, b""), "Disconnect Req", {"mqtt.msgtype": [14]}),
    (
        "disconnect-5",
        5,
        packet(C.DISCONNECT, 0, b"\x04" + props((0x11, 122), (0x1C, "srv2"))),
        "Disconnect Req",
        {"mqtt.disconnect.reason_code": [4], "mqtt.property.session_expiry_interval": [122]},
    ),
    (
        "auth-5",
        5,
        packet(C.AUTH, 0, b"\x18" + props((0x15, "SCRAM-SHA-1"), (0x16, b"\x01\x02"), (0x1F, "go on"))),
        "Authentication Exchange",
        {"mqtt.auth.reason_code": [0x18], "mqtt.property.authentication_data": [b"\x01\x02"]},
    ),
    ("auth-5-empty", 5, packet(C.AUTH, 0, b""), "Authentication Exchange", {"mqtt.len": [0]}),
]

IDS = [v[0] for v in VECTORS]


def _one(pdus: list[PDU]) -> PDU:
    assert len(pdus) == 1, pdus
    return pdus[0]


@pytest.mark.parametrize("name,version,raw,text,expect", VECTORS, ids=IDS)
def test_vector_whole(name, version, raw, text, expect):
    pdu = _one(decode_all([raw], version))
    assert pdu.data == raw and pdu.error is None and pdu.version == version
    assert info(pdu) == text
    root = dissect(pdu, base=100, source=2)
    check_ranges(root, 100, len(raw))
    assert all(n.source == 2 for n in root.walk())
    got = fields_of(root)
    for abbrev, values in expect.items():
        assert got.get(abbrev) == values, abbrev
    assert not any(n.text.startswith("[Malformed") for n in root.walk())
    assert not [n for n in root.walk() if n.severity == "Error"], notes_of(root)


@pytest.mark.parametrize("name,version,raw,text,expect", VECTORS, ids=IDS)
def test_vector_byte_by_byte(name, version, raw, text, expect):
    pdu = _one(decode_all([raw[i : i + 1] for i in range(len(raw))], version))
    assert pdu.data == raw and pdu.error is None and info(pdu) == text
    assert [sp[0] for sp in pdu.spans] == list(range(len(raw)))


@pytest.mark.parametrize("name,version,raw,text,expect", VECTORS, ids=IDS)
def test_vector_with_trailing_bytes(name, version, raw, text, expect):
    dec = DirectionDecoder(Session(version), True)
    for cut in range(1, len(raw)):
        dec.feed(raw + raw[:cut])
        first = dec.next_pdu()
        assert first is not None and first.data == raw
        assert dec.next_pdu() is None  # the trailing partial PDU waits
        dec.feed(raw[cut:])
        second = dec.next_pdu()
        assert second is not None and second.data == raw and info(second) == text
        assert dec.next_pdu() is None


def test_every_property_and_packet_type_covered():
    seen_props: set[int] = set()
    seen_types: set[tuple[int, int]] = set()
    for _name, version, raw, _text, _ in VECTORS:
        pdu = _one(decode_all([raw], version))
        seen_types.add((pdu.msgtype, version))
        seen_props.update(fields_of(dissect(pdu)).get("mqtt.property_id", []))
    assert seen_props == set(C.PROPERTIES) and len(seen_props) == 27
    assert {t for t, _ in seen_types} == set(range(1, 16))
    for t in range(1, 15):
        assert {(t, v) for v in (3, 4, 5)} & seen_types, t


@pytest.mark.parametrize("t", sorted(C.REASON_NAMES))
def test_every_reason_code_named(t):
    for code, name in C.REASON_NAMES[t].items():
        if t == C.CONNACK:
            raw = packet(t, 0, bytes([0, code, 0]))
        elif t in (C.SUBACK, C.UNSUBACK):
            raw = msgid_packet(t, 1, b"\x00" + bytes([code]))
        elif t in C.HAS_MSGID:
            raw = msgid_packet(t, 1, bytes([code]))
        else:
            raw = packet(t, 0, bytes([code]))
        root = dissect(_one(decode_all([raw], 5)))
        node = next(n for n in root.walk() if n.fdef is F.REASON_CODE[t])
        assert node.value == code and node.text == f"Reason Code: {name} ({code})"


def test_tree_texts_like_wireshark():
    raw = connect(5, "myvoiceismypassport", p=props((0x27, 11111)), will=(b"", "wt", b"w"), user="u", password="p")
    root = dissect(_one(decode_all([raw])))
    texts = [n.text for n in root.walk()]
    assert root.text == "MQ Telemetry Transport Protocol, Connect Command"
    assert "Header Flags: 0x10, Message Type: Connect Command" in texts
    assert "0001 .... = Message Type: Connect Command (1)" in texts
    assert (
        "Connect Flags: 0xc6, User Name Flag, Password Flag, QoS Level: At most once delivery (Fire and Forget), "
        "Will Flag, Clean Session Flag" in texts
    )
    assert "...0 0... = QoS Level: At most once delivery (Fire and Forget) (0)" in texts
    assert "ID: Maximum Packet Size (0x27)" in texts and "Value: 11111" in texts
    assert "Version: MQTT v5.0 (5)" in texts
    # tshark -T fields spellings
    conflags = next(n for n in root.walk() if n.fdef is F.CONFLAGS)
    assert F.CONFLAGS.tshark(conflags.value) == "0xc6"
    pid = next(n for n in root.walk() if n.fdef is F.PROPERTY_ID)
    assert F.PROPERTY_ID.tshark(pid.value) == "0x27"
    hdr = next(n for n in root.walk() if n.fdef is F.HDRFLAGS)
    assert F.HDRFLAGS.tshark(hdr.value) == "0x10"
    passwd = next(n for n in root.walk() if n.fdef is F.PASSWD)
    assert passwd.fdef.secret


def test_one_value_node_per_property_under_wireshark_names():
    pdu = _one(decode_all([publish("s/t", b"", v5=ALL_PROPS_PUBLISH)], 5))
    root = dissect(pdu)
    block = next(n for n in root.walk() if n.fdef is F.PROPERTIES)
    for wrap in block.children[1:]:
        wireshark_values = [
            c for c in wrap.children if c.fdef is not None and c.fdef is not F.PROPERTY_ID and c.severity is None
        ]
        abbrevs = [c.fdef.abbrev for c in wireshark_values]
        assert len({a for a in abbrevs if not a.endswith("_len")}) == len(
            [a for a in abbrevs if not a.endswith("_len")]
        )
        # the wrapper's own field is distinct from every Wireshark value field under it
        if wrap.fdef is not None:
            assert wrap.fdef.abbrev.startswith("mqtt.property.") and wrap.fdef.abbrev not in abbrevs

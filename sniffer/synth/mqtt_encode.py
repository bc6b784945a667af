"""MQTT control-packet encoder for test vectors, the demo capture and benchmark captures.

The product never sends MQTT; this module exists so tests and generators can write exact bytes
for MQTT 3.1 (MQIsdp, level 3), 3.1.1 (level 4) and 5.0 (level 5), including every MQTT 5
property, will properties, subscription options and reason codes.  It also writes deliberately
invalid encodings (QoS 3, wrong fixed-header flags, reserved type 0, overlong varints, a lying
property length) because a dissector must be tested on bad input too: builders check nothing
that would stop a test from producing a broken packet.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Control packet types (MQTT 5 §2.1.2); 0 is reserved and only written on purpose.
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15

TYPE_NAMES = {
    0: "Reserved",
    1: "CONNECT",
    2: "CONNACK",
    3: "PUBLISH",
    4: "PUBACK",
    5: "PUBREC",
    6: "PUBREL",
    7: "PUBCOMP",
    8: "SUBSCRIBE",
    9: "SUBACK",
    10: "UNSUBSCRIBE",
    11: "UNSUBACK",
    12: "PINGREQ",
    13: "PINGRESP",
    14: "DISCONNECT",
    15: "AUTH",
}

# Fixed-header flags the spec requires; PUBLISH builds its own from dup/qos/retain.
REQUIRED_FLAGS = {PUBREL: 2, SUBSCRIBE: 2, UNSUBSCRIBE: 2}

# MQTT 5 property identifiers (§2.2.2.2): id -> (name, wire type).
# Wire types: "byte", "u16", "u32", "varint", "str", "pair" (UTF-8 string pair), "bin".
PROPERTIES: dict[int, tuple[str, str]] = {
    0x01: ("payload_format_indicator", "byte"),
    0x02: ("message_expiry_interval", "u32"),
    0x03: ("content_type", "str"),
    0x08: ("response_topic", "str"),
    0x09: ("correlation_data", "bin"),
    0x0B: ("subscription_identifier", "varint"),
    0x11: ("session_expiry_interval", "u32"),
    0x12: ("assigned_client_identifier", "str"),
    0x13: ("server_keep_alive", "u16"),
    0x15: ("authentication_method", "str"),
    0x16: ("authentication_data", "bin"),
    0x17: ("request_problem_information", "byte"),
    0x18: ("will_delay_interval", "u32"),
    0x19: ("request_response_information", "byte"),
    0x1A: ("response_information", "str"),
    0x1C: ("server_reference", "str"),
    0x1F: ("reason_string", "str"),
    0x21: ("receive_maximum", "u16"),
    0x22: ("topic_alias_maximum", "u16"),
    0x23: ("topic_alias", "u16"),
    0x24: ("maximum_qos", "byte"),
    0x25: ("retain_available", "byte"),
    0x26: ("user_property", "pair"),
    0x27: ("maximum_packet_size", "u32"),
    0x28: ("wildcard_subscription_available", "byte"),
    0x29: ("subscription_identifier_available", "byte"),
    0x2A: ("shared_subscription_available", "byte"),
}
PROPERTY_IDS: dict[str, int] = {name: pid for pid, (name, _) in PROPERTIES.items()}

# A property list: (id or name, value) pairs in wire order; duplicates allowed (user properties,
# and duplicated singletons when a test wants the violation).
Props = Sequence[tuple["int | str", object]] | dict[str, object] | None


# ---------------------------------------------------------------------------------------------
# Primitive encodings
# ---------------------------------------------------------------------------------------------


def varint(n: int, min_len: int = 1) -> bytes:
    """Variable Byte Integer; `min_len` > natural length pads with 0x80 continuation bytes
    (an overlong encoding: legal up to 4 bytes, a violation at 5 or more)."""
    if n < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            break
    while len(out) < min_len:
        out[-1] |= 0x80
        out.append(0)
    return bytes(out)


def utf8(s: str | bytes) -> bytes:
    """Two-byte length-prefixed UTF-8 string (bytes are written as given, e.g. invalid UTF-8)."""
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


binary = utf8  # Binary Data has the same two-byte length prefix


def encode_property(pid: int | str, value: object) -> bytes:
    """One property: identifier (a varint, in practice one byte) then the value in its wire type."""
    if isinstance(pid, str):
        pid = PROPERTY_IDS[pid]
    kind = PROPERTIES[pid][1] if pid in PROPERTIES else "bin"
    head = varint(pid)
    if kind == "byte":
        return head + bytes([value])  # type: ignore[list-item]
    if kind == "u16":
        return head + struct.pack("!H", value)
    if kind == "u32":
        return head + struct.pack("!I", value)
    if kind == "varint":
        return head + varint(value)  # type: ignore[arg-type]
    if kind == "str":
        return head + utf8(value)  # type: ignore[arg-type]
    if kind == "pair":
        k, v = value  # type: ignore[misc]
        return head + utf8(k) + utf8(v)
    return head + binary(value)  # type: ignore[arg-type]


def _prop_items(props: Props) -> Iterable[tuple[int | str, object]]:
    if props is None:
        return ()
    if isinstance(props, dict):
        items: list[tuple[int | str, object]] = []
        for name, value in props.items():
            # a dict cannot repeat a key, so several user properties come as a list of pairs
            if name == "user_property" and isinstance(value, list):
                items.extend((name, kv) for kv in value)
            else:
                items.append((name, value))
        return items
    return props


def properties(props: Props, declared_len: int | None = None) -> bytes:
    """Property block: varint total length then the properties.  `declared_len` overrides the
    length on the wire (to write a block whose length lies)."""
    body = b"".join(encode_property(pid, v) for pid, v in _prop_items(props))
    return varint(len(body) if declared_len is None else declared_len) + body


def fixed(msgtype: int, flags: int, body: bytes, len_bytes: int = 1, remaining: int | None = None) -> bytes:
    """Fixed header + body.  `len_bytes` pads the Remaining Length varint (5 = overlong, invalid);
    `remaining` declares a length different from len(body) (truncated/oversized PDUs)."""
    n = len(body) if remaining is None else remaining
    return bytes([(msgtype & 0x0F) << 4 | (flags & 0x0F)]) + varint(n, len_bytes) + body


def with_flags(pdu: bytes, flags: int) -> bytes:
    """The same PDU with the fixed-header flag nibble replaced (wrong flags on purpose)."""
    return bytes([pdu[0] & 0xF0 | flags & 0x0F]) + pdu[1:]


def with_type(pdu: bytes, msgtype: int) -> bytes:
    """The same PDU with another packet type in the fixed header (e.g. reserved type 0)."""
    return bytes([(msgtype & 0x0F) << 4 | pdu[0] & 0x0F]) + pdu[1:]


def msgtype_of(pdu: bytes) -> int:
    return pdu[0] >> 4


# ---------------------------------------------------------------------------------------------
# Control packets
# ---------------------------------------------------------------------------------------------


@dataclass
class Will:
    """A CONNECT's will message; `properties` only go on the wire for MQTT 5."""

    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    properties: Props = field(default=None)


def connect(
    client_id: str | bytes,
    version: int = 4,
    clean: bool = True,
    keepalive: int = 60,
    username: str | bytes | None = None,
    password: str | bytes | None = None,
    will: Will | None = None,
    props: Props = None,
    protocol_name: str | None = None,
    reserved_flag: bool = False,
) -> bytes:
    """CONNECT; version 3 writes protocol name "MQIsdp", 4 and 5 write "MQTT"."""
    name = protocol_name if protocol_name is not None else ("MQIsdp" if version == 3 else "MQTT")
    flags = (
        (0x80 if username is not None else 0)
        | (0x40 if password is not None else 0)
        | (0x02 if clean else 0)
        | (0x01 if reserved_flag else 0)
    )
    if will is not None:
        flags |= 0x04 | (will.qos & 3) << 3 | (0x20 if will.retain else 0)
    body = utf8(name) + bytes([version, flags]) + struct.pack("!H", keepalive)
    if version == 5:
        body += properties(props)
    body += utf8(client_id)
    if will is not None:
        if version == 5:
            body += properties(will.properties)
        body += utf8(will.topic) + binary(will.payload)
    if username is not None:
        body += utf8(username)
    if password is not None:
        body += binary(password)
    return fixed(CONNECT, 0, body)


def connack(code: int = 0, session_present: bool = False, version: int = 4, props: Props = None) -> bytes:
    """CONNACK: return code (3.x) or reason code (5) and, for MQTT 5, properties."""
    body = bytes([1 if session_present else 0, code])
    if version == 5:
        body += properties(props)
    return fixed(CONNACK, 0, body)


def publish(
    topic: str | bytes,
    payload: bytes | str = b"",
    qos: int = 0,
    msgid: int | None = None,
    retain: bool = False,
    dup: bool = False,
    version: int = 4,
    props: Props = None,
) -> bytes:
    """PUBLISH.  qos=3 is written as asked (invalid); a message id goes on the wire when qos > 0
    or when given explicitly."""
    if isinstance(payload, str):
        payload = payload.encode()
    flags = (8 if dup else 0) | (qos & 3) << 1 | (1 if retain else 0)
    body = utf8(topic)
    if qos > 0 or msgid is not None:
        body += struct.pack("!H", msgid or 0)
    if version == 5:
        body += properties(props)
    return fixed(PUBLISH, flags, body + payload)


def _ack(msgtype: int, msgid: int, version: int, reason: int | None, props: Props) -> bytes:
    # MQTT 5 allows omitting reason 0x00 with no properties (§3.4.2.1); write it when asked
    body = struct.pack("!H", msgid)
    if version == 5 and (reason is not None or props):
        body += bytes([reason or 0])
        if props:
            body += properties(props)
    return fixed(msgtype, REQUIRED_FLAGS.get(msgtype, 0), body)


def puback(msgid: int, version: int = 4, reason: int | None = None, props: Props = None) -> bytes:
    return _ack(PUBACK, msgid, version, reason, props)


def pubrec(msgid: int, version: int = 4, reason: int | None = None, props: Props = None) -> bytes:
    return _ack(PUBREC, msgid, version, reason, props)


def pubrel(msgid: int, version: int = 4, reason: int | None = None, props: Props = None) -> bytes:
    return _ack(PUBREL, msgid, version, reason, props)


def pubcomp(msgid: int, version: int = 4, reason: int | None = None, props: Props = None) -> bytes:
    return _ack(PUBCOMP, msgid, version, reason, props)


def sub_options(
    qos: int = 0, no_local: bool = False, retain_as_published: bool = False, retain_handling: int = 0
) -> int:
    """MQTT 5 subscription options byte (§3.8.3.1)."""
    return (qos & 3) | (4 if no_local else 0) | (8 if retain_as_published else 0) | (retain_handling & 3) << 4


def subscribe(msgid: int, topics: Sequence[tuple[str | bytes, int]], version: int = 4, props: Props = None) -> bytes:
    """SUBSCRIBE: (topic filter, requested QoS or, for MQTT 5, the subscription options byte)."""
    body = struct.pack("!H", msgid)
    if version == 5:
        body += properties(props)
    for topic, opts in topics:
        body += utf8(topic) + bytes([opts])
    return fixed(SUBSCRIBE, 2, body)


def suback(msgid: int, codes: Sequence[int], version: int = 4, props: Props = None) -> bytes:
    """SUBACK: granted QoS / 0x80 failure (3.x) or reason codes (5)."""
    body = struct.pack("!H", msgid)
    if version == 5:
        body += properties(props)
    return fixed(SUBACK, 0, body + bytes(codes))


def unsubscribe(msgid: int, topics: Sequence[str | bytes], version: int = 4, props: Props = None) -> bytes:
    body = struct.pack("!H", msgid)
    if version == 5:
        body += properties(props)
    return fixed(UNSUBSCRIBE, 2, body + b"".join(utf8(t) for t in topics))


def unsuback(msgid: int, codes: Sequence[int] = (), version: int = 4, props: Props = None) -> bytes:
    """UNSUBACK: MQTT 3.x has no payload; MQTT 5 has properties and one reason code per filter."""
    body = struct.pack("!H", msgid)
    if version == 5:
        body += properties(props) + bytes(codes)
    return fixed(UNSUBACK, 0, body)


def pingreq() -> bytes:
    return b"\xc0\x00"


def pingresp() -> bytes:
    return b"\xd0\x00"


def disconnect(version: int = 4, reason: int | None = None, props: Props = None) -> bytes:
    """DISCONNECT; MQTT 5 may carry a reason code and properties (omitted when both are absent)."""
    body = b""
    if version == 5 and (reason is not None or props):
        body = bytes([reason or 0])
        if props:
            body += properties(props)
    return fixed(DISCONNECT, 0, body)


def auth(reason: int = 0, props: Props = None) -> bytes:
    """AUTH (MQTT 5 only): reason code and properties (e.g. authentication method/data)."""
    if reason == 0 and not props:
        return fixed(AUTH, 0, b"")
    return fixed(AUTH, 0, bytes([reason]) + properties(props))


# ---------------------------------------------------------------------------------------------
# Reason codes (MQTT 5 §2.4) with the spec's names, for tests and generators
# ---------------------------------------------------------------------------------------------

REASON_CODES: dict[int, str] = {
    0x00: "Success",
    0x01: "Granted QoS 1",
    0x02: "Granted QoS 2",
    0x04: "Disconnect with Will Message",
    0x10: "No matching subscribers",
    0x11: "No subscription existed",
    0x18: "Continue authentication",
    0x19: "Re-authenticate",
    0x80: "Unspecified error",
    0x81: "Malformed Packet",
    0x82: "Protocol Error",
    0x83: "Implementation specific error",
    0x84: "Unsupported Protocol Version",
    0x85: "Client Identifier not valid",
    0x86: "Bad User Name or Password",
    0x87: "Not authorized",
    0x88: "Server unavailable",
    0x89: "Server busy",
    0x8A: "Banned",
    0x8B: "Server shutting down",
    0x8C: "Bad authentication method",
    0x8D: "Keep Alive timeout",
    0x8E: "Session taken over",
    0x8F: "Topic Filter invalid",
    0x90: "Topic Name invalid",
    0x91: "Packet Identifier in use",
    0x92: "Packet Identifier not found",
    0x93: "Receive Maximum exceeded",
    0x94: "Topic Alias invalid",
    0x95: "Packet too large",
    0x96: "Message rate too high",
    0x97: "Quota exceeded",
    0x98: "Administrative action",
    0x99: "Payload format invalid",
    0x9A: "Retain not supported",
    0x9B: "QoS not supported",
    0x9C: "Use another server",
    0x9D: "Server moved",
    0x9E: "Shared Subscriptions not supported",
    0x9F: "Connection rate exceeded",
    0xA0: "Maximum connect time",
    0xA1: "Subscription Identifiers not supported",
    0xA2: "Wildcard Subscriptions not supported",
}

# A sample value of the right type for each property: used to write "every property" vectors.
SAMPLE_PROPERTY_VALUES: dict[int, object] = {
    0x01: 1,
    0x02: 3600,
    0x03: "application/json",
    0x08: "resp/topic",
    0x09: b"\x01\x02corr",
    0x0B: 268435455,
    0x11: 86400,
    0x12: "auto-7f3a",
    0x13: 120,
    0x15: "SCRAM-SHA-1",
    0x16: b"auth\x01\x02",
    0x17: 1,
    0x18: 30,
    0x19: 1,
    0x1A: "resp/info",
    0x1C: "other.example:1883",
    0x1F: "all good",
    0x21: 20,
    0x22: 10,
    0x23: 5,
    0x24: 1,
    0x25: 1,
    0x26: ("k", "v"),
    0x27: 1048576,
    0x28: 1,
    0x29: 0,
    0x2A: 1,
}

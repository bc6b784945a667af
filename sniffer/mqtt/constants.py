"""MQTT protocol constants: packet types, fixed-header flag rules, the 27 MQTT 5
properties and the reason codes with their names per packet type.

Names are the ones Wireshark shows (so a Wireshark user recognises them); the
numbers come from the MQTT 3.1, 3.1.1 and 5.0 specifications.  Pure data: no
imports from the rest of the package.
"""

from __future__ import annotations

from typing import Final

# Protocol levels (the CONNECT "Protocol Level" byte).
V31: Final = 3
V311: Final = 4
V5: Final = 5
VERSION_NAMES: Final = {V31: "MQTT v3.1", V311: "MQTT v3.1.1", V5: "MQTT v5.0"}

# Control packet types (fixed header bits 7-4).
RESERVED: Final = 0
CONNECT: Final = 1
CONNACK: Final = 2
PUBLISH: Final = 3
PUBACK: Final = 4
PUBREC: Final = 5
PUBREL: Final = 6
PUBCOMP: Final = 7
SUBSCRIBE: Final = 8
SUBACK: Final = 9
UNSUBSCRIBE: Final = 10
UNSUBACK: Final = 11
PINGREQ: Final = 12
PINGRESP: Final = 13
DISCONNECT: Final = 14
AUTH: Final = 15

MSGTYPE_NAMES = {
    RESERVED: "Reserved",
    CONNECT: "Connect Command",
    CONNACK: "Connect Ack",
    PUBLISH: "Publish Message",
    PUBACK: "Publish Ack",
    PUBREC: "Publish Received",
    PUBREL: "Publish Release",
    PUBCOMP: "Publish Complete",
    SUBSCRIBE: "Subscribe Request",
    SUBACK: "Subscribe Ack",
    UNSUBSCRIBE: "Unsubscribe Request",
    UNSUBACK: "Unsubscribe Ack",
    PINGREQ: "Ping Request",
    PINGRESP: "Ping Response",
    DISCONNECT: "Disconnect Req",
    AUTH: "Authentication Exchange",
    16: "Reserved",  # Wireshark's table has this entry too
}
# Indexed by type for the hot path (info texts).
MSGTYPE_LIST: Final = tuple(MSGTYPE_NAMES[i] for i in range(16))

# Types that carry a Packet Identifier right after the fixed header.
HAS_MSGID: Final = frozenset({PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK})

# Required fixed-header flags per type (MQTT 3.1.1 / 5.0 section 2.1.3); PUBLISH is free.
REQUIRED_FLAGS: Final = {t: 0 for t in range(16)}
REQUIRED_FLAGS.update({PUBREL: 0x2, SUBSCRIBE: 0x2, UNSUBSCRIBE: 0x2})
del REQUIRED_FLAGS[PUBLISH]

QOS_NAMES = {
    0: "At most once delivery (Fire and Forget)",
    1: "At least once delivery (Acknowledged deliver)",
    2: "Exactly once delivery (Assured Delivery)",
    3: "Reserved",
}
SUBACK_QOS_NAMES = {**QOS_NAMES, 0x80: "Failure"}

CONNACK_RETURN_NAMES = {
    0: "Connection Accepted",
    1: "Connection Refused: unacceptable protocol version",
    2: "Connection Refused: identifier rejected",
    3: "Connection Refused: server unavailable",
    4: "Connection Refused: bad user name or password",
    5: "Connection Refused: not authorized",
}

RETAIN_HANDLING_NAMES = {
    0: "Send msgs at subscription time",
    1: "Send msgs if subscription does not exist",
    2: "Do not send msgs at subscription time",
    3: "Reserved",
}

# MQTT 5 reason codes (section 2.4), names as Wireshark spells them.
_RC: Final = {
    0x00: "Success",
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
    0x9E: "Shared Subscription not supported",
    0x9F: "Connection rate exceeded",
    0xA0: "Maximum connect time",
    0xA1: "Subscription Identifiers not supported",
    0xA2: "Wildcard Subscription not supported",
}


def _codes(*codes: int, **renamed: str) -> dict[int, str]:
    table = {c: _RC[c] for c in codes}
    for key, name in renamed.items():
        table[int(key[1:], 16)] = name
    return dict(sorted(table.items()))


REASON_NAMES: dict[int, dict[int, str]] = {
    CONNACK: _codes(0, *range(0x80, 0x8B), 0x8C, 0x90, 0x95, 0x97, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F),
    PUBACK: _codes(0, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99),
    PUBREC: _codes(0, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99),
    PUBREL: _codes(0, 0x92),
    PUBCOMP: _codes(0, 0x92),
    SUBACK: _codes(
        0x80,
        0x83,
        0x87,
        0x8F,
        0x91,
        0x97,
        0x9E,
        0xA1,
        0xA2,
        x00="Granted QoS 0",
        x01="Granted QoS 1",
        x02="Granted QoS 2",
    ),
    UNSUBACK: _codes(0, 0x11, 0x83, 0x87, 0x8F, 0x91),
    DISCONNECT: _codes(
        0x04,
        0x80,
        0x81,
        0x82,
        0x83,
        0x87,
        0x89,
        0x8B,
        0x8C,
        0x8D,
        0x8E,
        0x8F,
        0x90,
        *range(0x93, 0xA3),
        x00="Normal disconnection",
    ),
    AUTH: _codes(0, 0x18, 0x19),
}

# Property value kinds (section 2.2.2.2).
BYTE: Final = "byte"
U16: Final = "u16"
U32: Final = "u32"
VARINT: Final = "varint"
UTF8: Final = "utf8"
BINARY: Final = "binary"
PAIR: Final = "pair"

# id: (Wireshark name, snake_case name, kind, packet types where it may appear; -1 = Will Properties)
WILL: Final = -1
PROPERTIES: dict[int, tuple[str, str, str, frozenset[int]]] = {
    0x01: ("Payload Format Indicator", "payload_format_indicator", BYTE, frozenset({PUBLISH, WILL})),
    0x02: ("Publication Expiry Interval", "message_expiry_interval", U32, frozenset({PUBLISH, WILL})),
    0x03: ("Content Type", "content_type", UTF8, frozenset({PUBLISH, WILL})),
    0x08: ("Response Topic", "response_topic", UTF8, frozenset({PUBLISH, WILL})),
    0x09: ("Correlation Data", "correlation_data", BINARY, frozenset({PUBLISH, WILL})),
    0x0B: ("Subscription Identifier", "subscription_identifier", VARINT, frozenset({PUBLISH, SUBSCRIBE})),
    0x11: ("Session Expiry Interval", "session_expiry_interval", U32, frozenset({CONNECT, CONNACK, DISCONNECT})),
    0x12: ("Assigned Client Identifier", "assigned_client_identifier", UTF8, frozenset({CONNACK})),
    0x13: ("Server Keep Alive", "server_keep_alive", U16, frozenset({CONNACK})),
    0x15: ("Authentication Method", "authentication_method", UTF8, frozenset({CONNECT, CONNACK, AUTH})),
    0x16: ("Authentication Data", "authentication_data", BINARY, frozenset({CONNECT, CONNACK, AUTH})),
    0x17: ("Request Problem Information", "request_problem_information", BYTE, frozenset({CONNECT})),
    0x18: ("Will Delay Interval", "will_delay_interval", U32, frozenset({WILL})),
    0x19: ("Request Response Information", "request_response_information", BYTE, frozenset({CONNECT})),
    0x1A: ("Response Information", "response_information", UTF8, frozenset({CONNACK})),
    0x1C: ("Server Reference", "server_reference", UTF8, frozenset({CONNACK, DISCONNECT})),
    0x1F: (
        "Reason String",
        "reason_string",
        UTF8,
        frozenset({CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH}),
    ),
    0x21: ("Receive Maximum", "receive_maximum", U16, frozenset({CONNECT, CONNACK})),
    0x22: ("Topic Alias Maximum", "topic_alias_maximum", U16, frozenset({CONNECT, CONNACK})),
    0x23: ("Topic Alias", "topic_alias", U16, frozenset({PUBLISH})),
    0x24: ("Maximum QoS", "max_qos", BYTE, frozenset({CONNACK})),
    0x25: ("Retain Available", "retain_available", BYTE, frozenset({CONNACK})),
    0x26: ("User Property", "user_property", PAIR, frozenset(range(16)) | {WILL}),
    0x27: ("Maximum Packet Size", "maximum_packet_size", U32, frozenset({CONNECT, CONNACK})),
    0x28: ("Wildcard Subscription Available", "wildcard_subscription_available", BYTE, frozenset({CONNACK})),
    0x29: ("Subscription Identifier Available", "subscription_identifier_available", BYTE, frozenset({CONNACK})),
    0x2A: ("Shared Subscription Available", "shared_subscription_available", BYTE, frozenset({CONNACK})),
}
PROPERTY_NAMES = {pid: p[0] for pid, p in PROPERTIES.items()}
# Kind per id as a 256-entry tuple (None = unknown id) for the framing hot path.
PROPERTY_KIND: tuple[str | None, ...] = tuple(PROPERTIES[i][2] if i in PROPERTIES else None for i in range(256))
# Properties that may legally appear more than once (User Property; Subscription Identifier in PUBLISH).
REPEATABLE: Final = frozenset({0x26, 0x0B})
PROP_TOPIC_ALIAS: Final = 0x23
PROP_CONTENT_TYPE: Final = 0x03

PAYLOAD_FORMAT_NAMES = {0: "Unspecified bytes", 1: "UTF-8 Encoded Character Data"}

# Largest value a 4-byte Variable Byte Integer can hold.
VARINT_MAX: Final = 268_435_455

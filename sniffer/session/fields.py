"""The session layer's generated fields and expert notes, registered once like every other field.

Names follow Wireshark's conventions for generated items (`dns.response_in`, `dns.time`,
`tcp.analysis.*`): the tree shows them in brackets, and `-T fields`, JSON, `-Y` and the UI's
filter bar read them like any other field.  Every expert note is also described by Wireshark's
`_ws.expert`, `_ws.expert.message`, `_ws.expert.severity` and `_ws.expert.group` (hidden items
under the note), so one filter finds notes of every protocol.
"""

from __future__ import annotations

from typing import Final

from sniffer.fields import FT, Base, FieldDef, register

U, S, D, N = FT.UINT, FT.STRING, FT.DOUBLE, FT.NONE

CLIENT: Final = register("mqtt.client", "Client ID", S, Base.NONE, blurb="Client id of the connection (its CONNECT)")
USERNAME: Final = register("mqtt.client.username", "User Name", S, Base.NONE, blurb="User name of the connection")
VERSION: Final = register(
    "mqtt.client.version", "Protocol Version", U, Base.DEC, values={3: "3.1", 4: "3.1.1", 5: "5.0"}
)
DIRECTION: Final = register(
    "mqtt.direction", "Direction", U, Base.DEC, values={0: "client → broker", 1: "broker → client"}
)
RESPONSE_IN: Final = register("mqtt.response_in", "Response In", U, Base.DEC, blurb="Frame of the response")
RESPONSE_TO: Final = register("mqtt.response_to", "Response To", U, Base.DEC, blurb="Frame of the request")
TIME: Final = register("mqtt.time", "Time", D, Base.NONE, blurb="Seconds from the request to this response")
FLOW_TIME: Final = register("mqtt.flow_time", "QoS 2 Flow Time", D, Base.NONE, blurb="PUBLISH to PUBCOMP")
PUBLISHER: Final = register("mqtt.publisher", "Publisher", S, Base.NONE, blurb="Client id that published the message")
PUBLISHED_IN: Final = register("mqtt.published_in", "Published In", U, Base.DEC, blurb="Frame of the original PUBLISH")
FANOUT_DELAY: Final = register("mqtt.fanout_delay", "Fan-out Delay", D, Base.NONE, blurb="PUBLISH in to delivery out")
DELIVERED_IN: Final = register("mqtt.delivered_in", "Delivered In", U, Base.DEC, blurb="Frames delivering it")

# Wireshark's expert-info fields (epan/expert.c): severity and group with their value names.
SEVERITIES: Final = {"Chat": 0x200000, "Note": 0x400000, "Warning": 0x600000, "Error": 0x800000}
GROUPS: Final = {
    "Checksum": 0x01000000,
    "Sequence": 0x02000000,
    "Response": 0x03000000,
    "Request": 0x04000000,
    "Undecoded": 0x05000000,
    "Reassemble": 0x06000000,
    "Malformed": 0x07000000,
    "Debug": 0x08000000,
    "Protocol": 0x09000000,
    "Security": 0x0A000000,
    "Comment": 0x0B000000,
}
EXPERT: Final = register("_ws.expert", "Expert Info", N, Base.NONE)
EXPERT_MESSAGE: Final = register("_ws.expert.message", "Message", S, Base.NONE)
EXPERT_SEVERITY: Final = register(
    "_ws.expert.severity", "Severity level", U, Base.DEC, values={v: k for k, v in SEVERITIES.items()}
)
EXPERT_GROUP: Final = register("_ws.expert.group", "Group", U, Base.DEC, values={v: k for k, v in GROUPS.items()})

# The session notes: abbrev suffix -> (label, severity, group).
ANALYSIS: Final[dict[str, tuple[str, str, str]]] = {
    "keepalive_expired": ("Keep-alive exceeded", "Warning", "Sequence"),
    "takeover": ("Client id taken over", "Warning", "Sequence"),
    "taken_over": ("Connection taken over by another with the same client id", "Warning", "Sequence"),
    "no_disconnect": ("Connection closed without DISCONNECT", "Warning", "Sequence"),
    "unacked": ("Messages left unacknowledged", "Warning", "Sequence"),
    "retransmission_no_dup": ("Retransmission without the DUP flag", "Warning", "Protocol"),
    "dup_qos0": ("DUP flag on a QoS 0 message", "Warning", "Protocol"),
    "msgid_in_use": ("Packet identifier reused while in flight", "Error", "Protocol"),
    "no_request": ("Response without a request", "Warning", "Sequence"),
    "connack_refused": ("Connection refused", "Warning", "Response"),
    "suback_failure": ("Subscription refused", "Warning", "Response"),
    "disconnect_error": ("DISCONNECT with an error reason", "Warning", "Response"),
    "receive_maximum_exceeded": ("Receive Maximum exceeded", "Error", "Protocol"),
    "topic_alias_maximum_exceeded": ("Topic Alias Maximum exceeded", "Error", "Protocol"),
    "maximum_packet_size_exceeded": ("Maximum Packet Size exceeded", "Error", "Protocol"),
    "publish_before_connack": ("PUBLISH before CONNACK", "Error", "Protocol"),
    "second_connect": ("Second CONNECT on a connection", "Error", "Protocol"),
    "ambiguous_publisher": ("Publisher ambiguous", "Note", "Sequence"),
    # Sparkplug B state (sniffer.payload.spstate)
    "sparkplug_birth": ("Sparkplug B edge node birth", "Note", "Sequence"),
    "sparkplug_death": ("Sparkplug B edge node death", "Note", "Sequence"),
    "sparkplug_seq_gap": ("Sparkplug B seq gap", "Warning", "Sequence"),
    "sparkplug_bdseq_mismatch": ("Sparkplug B bdSeq mismatch", "Warning", "Sequence"),
    "sparkplug_no_birth": ("Sparkplug B data before birth", "Note", "Sequence"),
    "sparkplug_alias": ("Sparkplug B metric aliases", "Chat", "Sequence"),
}
ANALYSIS_FIELDS: Final[dict[str, FieldDef]] = {
    key: register(f"mqtt.analysis.{key}", label, N, Base.NONE) for key, (label, _sev, _grp) in ANALYSIS.items()
}

"""What the session tracker reads out of the rare control packets (CONNECT, CONNACK, SUBSCRIBE,
SUBACK, UNSUBSCRIBE, DISCONNECT): read from their detail tree, so every field means exactly what
the dissector shows; PUBLISH and the acks, the packets of every second, never come here.
"""

from __future__ import annotations

from typing import Any

from sniffer.mqtt import constants as C
from sniffer.mqtt.decoder import PDU
from sniffer.mqtt.dissect import dissect
from sniffer.mqtt.skim import Bad, filter_topics, properties


def _values(p: PDU) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    try:
        root = dissect(p)
    except Exception:  # a dissector bug must not stop the tracker; the tree shows it where it happened
        return out
    stack = [root]
    while stack:
        n = stack.pop()
        if n.fdef is not None:
            out.setdefault(n.fdef.abbrev, []).append(n.value)
        stack.extend(reversed(n.children))
    return out


def _first(v: dict[str, list[Any]], name: str, default: Any = None) -> Any:
    got = v.get(name)
    return got[0] if got else default


class ConnectFacts:
    __slots__ = ("client", "username", "keepalive", "will", "recv_max", "alias_max", "max_packet")

    def __init__(self, v: dict[str, list[Any]]) -> None:
        self.client: str | None = _first(v, "mqtt.clientid")
        self.username: str | None = _first(v, "mqtt.username")
        self.keepalive: int = _first(v, "mqtt.kalive", 0) or 0
        self.will = bool(_first(v, "mqtt.conflag.willflag", False))
        self.recv_max: int = _first(v, "mqtt.property.receive_maximum", 0) or 0
        self.alias_max: int = _first(v, "mqtt.property.topic_alias_maximum", 0) or 0
        self.max_packet: int = _first(v, "mqtt.property.maximum_packet_size", 0) or 0


def connect_facts(p: PDU) -> ConnectFacts:
    return ConnectFacts(_values(p))


class ConnackFacts:
    __slots__ = ("refused", "reason", "recv_max", "alias_max", "max_packet", "keepalive")

    def __init__(self, p: PDU, v: dict[str, list[Any]]) -> None:
        if p.version == C.V5:
            code = _first(v, "mqtt.connack.reason_code", 0) or 0
            self.refused = code >= 0x80
            self.reason = f"{C.REASON_NAMES[C.CONNACK].get(code, 'Unknown')} (0x{code:02x})"
        else:
            code = _first(v, "mqtt.conack.val", 0) or 0
            self.refused = code != 0
            self.reason = f"{C.CONNACK_RETURN_NAMES.get(code, 'Unknown')} ({code})"
        self.recv_max: int = _first(v, "mqtt.property.receive_maximum", 0) or 0
        self.alias_max: int = _first(v, "mqtt.property.topic_alias_maximum", 0) or 0
        self.max_packet: int = _first(v, "mqtt.property.maximum_packet_size", 0) or 0
        ka = _first(v, "mqtt.property.server_keep_alive")
        self.keepalive: int = -1 if ka is None else ka


def connack_facts(p: PDU) -> ConnackFacts:
    return ConnackFacts(p, _values(p))


def filters_of(p: PDU) -> list[tuple[str, int]]:
    """(topic filter, 0) of a SUBSCRIBE or UNSUBSCRIBE, read as the tree reads them (no tree made:
    a busy broker's clients subscribe often)."""
    return [(t, 0) for t in filter_topics(p.data, p.hdr_len, p.msgtype, p.version)]


def suback_codes(p: PDU) -> list[int]:
    """Return codes of a SUBACK (0x80, or an MQTT 5 reason >= 0x80, is a failure)."""
    d, pos = p.data, p.hdr_len + 2
    try:
        if p.version == C.V5:
            pos = properties(d, pos, len(d))[0]
    except Bad:
        return []
    return list(d[pos:])


def disconnect_reason(p: PDU) -> tuple[int, str]:
    """(reason code, name) of an MQTT 5 DISCONNECT; (0, "") for earlier versions or none given."""
    if p.version != C.V5 or len(p.data) <= p.hdr_len:
        return 0, ""
    code = p.data[p.hdr_len]
    return code, C.REASON_NAMES[C.DISCONNECT].get(code, "Unknown")

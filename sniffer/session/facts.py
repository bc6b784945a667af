"""What the session tracker reads out of the control packets other than PUBLISH and the acks
(CONNECT, CONNACK, SUBSCRIBE, SUBACK, UNSUBSCRIBE, DISCONNECT), straight from their bytes with the
skimmer's readers (sniffer.mqtt.skim), no tree: a broker's clients reconnect and subscribe often.
"""

from __future__ import annotations

from sniffer.mqtt import constants as C
from sniffer.mqtt.decoder import PDU
from sniffer.mqtt.skim import Bad, filter_topics, properties, varint


def _string(d: bytes, p: int, end: int, what: str) -> int:
    """Position after the two-byte-length string at `p`."""
    if p + 2 > end:
        raise Bad(f"{what} cut off")
    q = p + 2 + (d[p] << 8 | d[p + 1])
    if q > end:
        raise Bad(f"{what} runs past the packet")
    return q


def _props(d: bytes, p: int, end: int, want: dict[int, int]) -> int:
    """Walk an MQTT 5 property block from `p`; the numeric values of the ids in `want` are stored
    there. Returns the position after the block."""
    n, p = varint(d, p, end)
    stop = p + n
    if stop > end:
        raise Bad("property block runs past the packet")
    while p < stop:
        pid = d[p]
        kind = C.PROPERTY_KIND[pid]
        p += 1
        if kind is None:
            raise Bad("unknown property")
        if kind == C.BYTE:
            size = 1
        elif kind == C.U16:
            size = 2
        elif kind == C.U32:
            size = 4
        elif kind == C.VARINT:
            v, q = varint(d, p, stop)
            if pid in want:
                want[pid] = v
            p = q
            continue
        elif kind == C.PAIR:
            p = _string(d, _string(d, p, stop, "key"), stop, "value")
            continue
        else:
            p = _string(d, p, stop, "value")
            continue
        if p + size > stop:
            raise Bad("property cut")
        if pid in want:
            want[pid] = int.from_bytes(d[p : p + size], "big")
        p += size
    return stop


def _utf8(d: bytes, p: int, end: int) -> tuple[str, int]:
    q = _string(d, p, end, "string")
    return d[p + 2 : q].decode("utf-8", "replace"), q


RECEIVE_MAXIMUM, TOPIC_ALIAS_MAXIMUM, MAXIMUM_PACKET_SIZE, SERVER_KEEP_ALIVE = 0x21, 0x22, 0x27, 0x13


class ConnectFacts:
    """Client id, user name, keep-alive, will flag and the MQTT 5 limits of a CONNECT, read straight
    from its bytes (what the tree would show; a part that cannot be read stays empty)."""

    __slots__ = ("client", "username", "keepalive", "will", "recv_max", "alias_max", "max_packet")

    def __init__(self, p: PDU) -> None:
        self.client: str | None = None
        self.username: str | None = None
        self.keepalive = 0
        self.will = False
        self.recv_max = self.alias_max = self.max_packet = 0
        d, end = p.data, len(p.data)
        try:
            q = _string(d, p.hdr_len, end, "protocol name")
            if q + 4 > end:
                return
            level, flags = d[q], d[q + 1]
            self.keepalive = d[q + 2] << 8 | d[q + 3]
            self.will = bool(flags & 0x04)
            q += 4
            if level == C.V5:
                want = {RECEIVE_MAXIMUM: 0, TOPIC_ALIAS_MAXIMUM: 0, MAXIMUM_PACKET_SIZE: 0}
                q = _props(d, q, end, want)
                self.recv_max, self.alias_max = want[RECEIVE_MAXIMUM], want[TOPIC_ALIAS_MAXIMUM]
                self.max_packet = want[MAXIMUM_PACKET_SIZE]
            self.client, q = _utf8(d, q, end)
            if flags & 0x04:
                if level == C.V5:
                    q = _props(d, q, end, {})
                q = _string(d, _string(d, q, end, "will topic"), end, "will message")
            if flags & 0x80:
                self.username, q = _utf8(d, q, end)
        except (Bad, IndexError):
            pass


def connect_facts(p: PDU) -> ConnectFacts:
    return ConnectFacts(p)


class ConnackFacts:
    """Whether a CONNACK refused the connection (and why), and the limits it announces."""

    __slots__ = ("refused", "reason", "recv_max", "alias_max", "max_packet", "keepalive")

    def __init__(self, p: PDU) -> None:
        d, hl, end = p.data, p.hdr_len, len(p.data)
        code = d[hl + 1] if hl + 1 < end else 0
        if p.version == C.V5:
            self.refused = code >= 0x80
            self.reason = f"{C.REASON_NAMES[C.CONNACK].get(code, 'Unknown')} (0x{code:02x})"
        else:
            self.refused = code != 0
            self.reason = f"{C.CONNACK_RETURN_NAMES.get(code, 'Unknown')} ({code})"
        self.recv_max = self.alias_max = self.max_packet = 0
        self.keepalive = -1
        if p.version == C.V5 and hl + 2 < end:
            want = {RECEIVE_MAXIMUM: 0, TOPIC_ALIAS_MAXIMUM: 0, MAXIMUM_PACKET_SIZE: 0, SERVER_KEEP_ALIVE: -1}
            try:
                _props(d, hl + 2, end, want)
            except (Bad, IndexError):
                return
            self.recv_max, self.alias_max = want[RECEIVE_MAXIMUM], want[TOPIC_ALIAS_MAXIMUM]
            self.max_packet, self.keepalive = want[MAXIMUM_PACKET_SIZE], want[SERVER_KEEP_ALIVE]


def connack_facts(p: PDU) -> ConnackFacts:
    return ConnackFacts(p)


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

"""Lean body checks for the framing hot path: no tree, no per-PDU dicts.

`check()` walks a complete PDU just far enough to say whether its structure is
sound (every length inside the packet, every property id known) and returns the
first problem as a short reason, or None.  `publish()` pulls out what a PUBLISH
summary needs (topic, packet id, topic alias).  `infer_version()` guesses the
protocol level from a packet's shape when the CONNECT was not captured.
The tree builder (dissect.py) finds the same problems and shows where they are.
"""

from __future__ import annotations

from typing import Final

from sniffer.mqtt import constants as C

_KIND: Final = C.PROPERTY_KIND
_BYTE: Final = C.BYTE
_U16: Final = C.U16
_U32: Final = C.U32
_VARINT: Final = C.VARINT
_UTF8: Final = C.UTF8
_BINARY: Final = C.BINARY
_PAIR: Final = C.PAIR


class Bad(Exception):
    """Structure error inside a PDU (raised only for bad input, caught in this module)."""


def varint(d: bytes, p: int, end: int) -> tuple[int, int]:
    """(value, position after) of a Variable Byte Integer at p; Bad if cut off or longer than 4 bytes."""
    value = 0
    shift = 0
    for i in range(4):
        if p + i >= end:
            raise Bad("variable byte integer cut off")
        b = d[p + i]
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, p + i + 1
        shift += 7
    raise Bad("variable byte integer longer than 4 bytes")


def _u16(d: bytes, p: int, end: int, what: str) -> int:
    if p + 2 > end:
        raise Bad(f"{what} cut off")
    return d[p] << 8 | d[p + 1]


def _string(d: bytes, p: int, end: int, what: str) -> int:
    """Position after a 2-byte-length-prefixed string or binary field."""
    n = _u16(d, p, end, what + " length")
    p += 2 + n
    if p > end:
        raise Bad(f"{what} runs past the end of the packet")
    return p


def properties(d: bytes, p: int, end: int) -> tuple[int, int, int]:
    """Walk a property block; (position after it, topic alias or 0, where the Content Type's string
    starts or -1)."""
    n, p = varint(d, p, end)
    stop = p + n
    if stop > end:
        raise Bad(f"property length {n} exceeds the packet")
    alias = 0
    ctype = -1
    while p < stop:
        pid = d[p]
        kind = _KIND[pid]
        p += 1
        if kind is None:
            raise Bad(f"unknown property id 0x{pid:02x}")
        if kind is _BYTE:
            p += 1
        elif kind is _U16:
            if pid == C.PROP_TOPIC_ALIAS and p + 2 <= stop:
                alias = d[p] << 8 | d[p + 1]
            p += 2
        elif kind is _U32:
            p += 4
        elif kind is _VARINT:
            p = varint(d, p, stop)[1]
        elif kind is _PAIR:
            p = _string(d, _string(d, p, stop, "property key"), stop, "property value")
        else:
            if pid == C.PROP_CONTENT_TYPE:
                ctype = p
            p = _string(d, p, stop, "property value")
        if p > stop:
            raise Bad(f"property 0x{pid:02x} runs past the property block")
    return p, alias, ctype


def publish(d: bytes, hl: int, flags: int, version: int) -> tuple[str | None, str, int, int, int, int]:
    """(error, topic, msgid or -1, topic alias or 0, where the payload starts or -1, where the Content Type's
    string starts or -1) of a PUBLISH."""
    end = len(d)
    topic = ""
    msgid = -1
    alias = 0
    ctype = -1
    try:
        p = _string(d, hl, end, "topic")
        topic = d[hl + 2 : p].decode("utf-8", "replace")
        if flags & 6:
            msgid = _u16(d, p, end, "message identifier")
            p += 2
        if version == C.V5:
            p, alias, ctype = properties(d, p, end)
    except Bad as e:
        return str(e), topic, msgid, alias, -1, -1
    return None, topic, msgid, alias, p if p <= end else -1, ctype


def _connect(d: bytes, p: int, end: int) -> None:
    p = _string(d, p, end, "protocol name")
    if p + 4 > end:
        raise Bad("connect header cut off")
    level = d[p]
    flags = d[p + 1]
    p += 4
    if level == C.V5:
        p = properties(d, p, end)[0]
    p = _string(d, p, end, "client id")
    if flags & 0x04:
        if level == C.V5:
            p = properties(d, p, end)[0]
        p = _string(d, p, end, "will topic")
        p = _string(d, p, end, "will message")
    if flags & 0x80:
        p = _string(d, p, end, "user name")
    if flags & 0x40:
        p = _string(d, p, end, "password")


def check(d: bytes, hl: int, t: int, version: int) -> str | None:
    """First structural problem of a complete non-PUBLISH PDU, or None."""
    end = len(d)
    p = hl
    v5 = version == C.V5
    try:
        if t == C.CONNECT:
            _connect(d, p, end)
        elif t == C.CONNACK:
            if p + 2 > end:
                raise Bad("CONNACK shorter than 2 bytes")
            if v5:
                properties(d, p + 2, end)
        elif t in C.HAS_MSGID:
            _u16(d, p, end, "message identifier")
            p += 2
            if t <= C.PUBCOMP:
                if v5 and end - p > 1:
                    properties(d, p + 1, end)
                return None
            if v5:
                p = properties(d, p, end)[0]
            if t == C.SUBSCRIBE or t == C.UNSUBSCRIBE:
                while p < end:
                    p = _string(d, p, end, "topic filter")
                    if t == C.SUBSCRIBE:
                        if p >= end:
                            raise Bad("subscription options cut off")
                        p += 1
        elif (t == C.DISCONNECT or t == C.AUTH) and v5 and end - p > 1:
            properties(d, p + 1, end)
    except Bad as e:
        return str(e)
    return None


def _fits_v5_props(d: bytes, p: int, end: int) -> int:
    """Position after a valid property block at p, or -1."""
    try:
        return properties(d, p, end)[0]
    except Bad:
        return -1


def _topics_fit(d: bytes, p: int, end: int, with_options: bool, v5: bool) -> bool:
    """Whether SUBSCRIBE/UNSUBSCRIBE payload at p is a whole list of topic filters."""
    if p >= end:
        return False
    try:
        while p < end:
            p = _string(d, p, end, "topic filter")
            if with_options:
                if p >= end or d[p] & (0xC0 if v5 else 0xFC) or d[p] & 3 == 3:
                    return False
                p += 1
    except Bad:
        return False
    return True


_V5_SUBACK: Final = frozenset(C.REASON_NAMES[C.SUBACK])
_V3_SUBACK: Final = frozenset({0, 1, 2, 0x80})


def infer_version(d: bytes, hl: int, t: int, flags: int) -> tuple[int, bool]:
    """(best guess of the protocol level, whether the shape decides it) for a
    packet seen before any CONNECT.  Undecided packets default to 3.1.1."""
    end = len(d)
    rem = end - hl
    if t == C.AUTH:
        return C.V5, True
    if t == C.CONNACK:
        if rem == 2:
            return C.V311, True  # a v5 CONNACK always carries a property length
        return (C.V5, True) if _fits_v5_props(d, hl + 2, end) == end else (C.V311, False)
    if C.PUBACK <= t <= C.PUBCOMP:
        if rem == 3:
            return C.V5, True  # reason code without properties exists only in v5
        if rem > 3 and _fits_v5_props(d, hl + 3, end) == end:
            return C.V5, True
        return C.V311, False
    if t == C.DISCONNECT:
        if rem == 1 or (rem > 1 and _fits_v5_props(d, hl + 1, end) == end):
            return C.V5, True
        return C.V311, False
    if t == C.UNSUBACK:
        if rem == 2:
            return C.V311, True
        p = _fits_v5_props(d, hl + 2, end)
        return (C.V5, True) if 0 <= p < end else (C.V311, False)
    if t == C.SUBACK:
        if rem < 3:
            return C.V311, False
        v3 = all(b in _V3_SUBACK for b in d[hl + 2 :])
        p = _fits_v5_props(d, hl + 2, end)
        v5 = 0 <= p < end and all(b in _V5_SUBACK for b in d[p:])
        if v5 != v3:
            return (C.V5, True) if v5 else (C.V311, True)
        return C.V311, False
    if t == C.SUBSCRIBE or t == C.UNSUBSCRIBE:
        opts = t == C.SUBSCRIBE
        v3 = _topics_fit(d, hl + 2, end, opts, False)
        p = _fits_v5_props(d, hl + 2, end)
        v5 = p >= 0 and _topics_fit(d, p, end, opts, True)
        if v5 != v3:
            return (C.V5, True) if v5 else (C.V311, True)
        return C.V311, False
    if t == C.PUBLISH:
        try:
            p = _string(d, hl, end, "topic") + (2 if flags & 6 else 0)
        except Bad:
            return C.V311, False
        if p >= end:
            return C.V311, p == end  # v5 would carry at least a property length byte
        q = _fits_v5_props(d, p, end)
        if q < 0:
            return C.V311, True
        return C.V5, q > p + 1  # an empty property block (a lone 0x00) is only a hint
    return C.V311, False


def subscribe_topics(d: bytes, hl: int, version: int) -> list[str]:
    """Topic filters of a SUBSCRIBE, for its Info text (stops quietly at bad structure)."""
    end = len(d)
    topics: list[str] = []
    try:
        p = hl + 2
        if version == C.V5:
            p = properties(d, p, end)[0]
        while p < end:
            q = _string(d, p, end, "topic filter")
            topics.append(d[p + 2 : q].decode("utf-8", "replace"))
            p = q + 1
    except Bad:
        pass
    return topics


def filter_topics(d: bytes, hl: int, t: int, version: int) -> list[str]:
    """Non-empty topic filters of a well-formed SUBSCRIBE (t=8) or UNSUBSCRIBE (t=10), decoded as
    the tree decodes them (the values of its mqtt.topic items); stops quietly at bad structure."""
    end = len(d)
    topics: list[str] = []
    skip = 1 if t == C.SUBSCRIBE else 0  # the subscription options byte
    try:
        p = hl + 2
        if version == C.V5:
            p = properties(d, p, end)[0]
        while p < end:
            q = _string(d, p, end, "topic filter")
            if q > p + 2:
                topics.append(d[p + 2 : q].decode("utf-8", "replace"))
            p = q + skip
    except Bad:
        pass
    return topics

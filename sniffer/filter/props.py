"""MQTT 5 property blocks read straight from a PDU's bytes, for the display filter.

`property_mask` says which property ids a PDU carries (one bit each, PROP_UNKNOWN when the
block is not plainly readable); `property_values` gives one property's values as the detail
tree shows them. Positions follow sniffer/mqtt/dissect.py's walk; anything odd (cut, unknown id,
a length past the block) answers PROP_UNKNOWN / None, and the filter then builds the tree.
tests/test_filter_rows.py checks both against the tree over the corpus and generated captures.
"""

from __future__ import annotations

import functools
from typing import Any, Final

PROP_UNKNOWN: Final = 1 << 31
_PROP_SIZE: Final = {"byte": 1, "u16": 2, "u32": 4}


@functools.cache
def prop_bits() -> dict[int, int]:
    from sniffer.mqtt.constants import PROPERTIES

    return {pid: 1 << k for k, pid in enumerate(sorted(PROPERTIES))}


def varint(d: bytes, p: int, end: int) -> tuple[int, int]:
    """(value, position after) of a Variable Byte Integer, (-1, p) if cut or longer than 4 bytes."""
    v = 0
    for k in range(4):
        if p + k >= end:
            return -1, p
        b = d[p + k]
        v |= (b & 0x7F) << (7 * k)
        if b < 0x80:
            return v, p + k + 1
    return -1, p


def property_mask(p: Any) -> int:
    """The PROP_BIT bits of the properties a well-formed MQTT 5 PDU carries (a superset: PROP_UNKNOWN
    whenever the block is not plainly readable). Positions as sniffer/mqtt/dissect.py walks them."""
    return _walk_properties(p, -1)[0]


def property_values(p: Any, want: int) -> list | None:
    """The values the detail tree gives property `want` in this PDU (ints, str, bytes, "key=value"),
    in order; None when the block is not plainly readable (then only the tree can tell)."""
    mask, values = _walk_properties(p, want)
    return None if mask & PROP_UNKNOWN else values


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")  # as the walker: invalid UTF-8 is shown replaced


def _walk_properties(p: Any, want: int) -> tuple[int, list]:
    t = p.msgtype
    d, q = p.data, p.hdr_len
    end = len(d)
    if t == 1:
        return _connect_properties(d, q, end, want)
    if p.version != 5:
        return 0, []
    if t == 2:
        q += 2
    elif t == 3:
        if q + 2 > end:
            return PROP_UNKNOWN, []
        q += 2 + (d[q] << 8 | d[q + 1]) + (2 if p.flags & 6 else 0)
    elif t in (4, 5, 6, 7, 14, 15):
        q += 2 if t < 8 else 0  # the acks' message id; DISCONNECT/AUTH have none
        if end - q <= 0:
            return 0, []
        q += 1  # reason code
        if end - q <= 0:
            return 0, []
    elif t in (8, 9, 10, 11):
        q += 2
    else:
        return 0, []
    values: list = []
    mask, _ = _block(d, q, end, want, values)
    return mask, values


def _connect_properties(d: bytes, q: int, end: int, want: int) -> tuple[int, list]:
    """CONNECT: the properties after the keep alive when its protocol level is 5, then the will's."""
    if q + 2 > end:
        return PROP_UNKNOWN, []
    q += 2 + (d[q] << 8 | d[q + 1])  # protocol name
    if q + 4 > end:
        return PROP_UNKNOWN, []
    level, flags = d[q], d[q + 1]
    if level != 5:
        return 0, []
    values: list = []
    mask, q = _block(d, q + 4, end, want, values)
    if mask & PROP_UNKNOWN or not flags & 4:
        return mask, values
    if q + 2 > end:
        return PROP_UNKNOWN, []
    q += 2 + (d[q] << 8 | d[q + 1])  # client id
    if q > end:
        return PROP_UNKNOWN, []
    will, _ = _block(d, q, end, want, values)
    return mask | will, values


def _block(d: bytes, q: int, end: int, want: int, values: list) -> tuple[int, int]:
    """(PROP_BIT mask, position after) of the property block at q; values of `want` appended."""
    n, q = varint(d, q, end)
    if n < 0 or q + n > end:
        return PROP_UNKNOWN, q
    stop, mask, bits = q + n, 0, prop_bits()
    from sniffer.mqtt.constants import PROPERTY_KIND

    while q < stop:
        pid = d[q]
        kind = PROPERTY_KIND[pid]
        if kind is None:
            return PROP_UNKNOWN, q
        mask |= bits[pid]
        q += 1
        start = q
        if kind in _PROP_SIZE:
            q += _PROP_SIZE[kind]
            if pid == want and q <= stop:
                values.append(int.from_bytes(d[start:q], "big"))
        elif kind == "varint":
            v, q = varint(d, q, stop)
            if v < 0:
                return PROP_UNKNOWN, q
            if pid == want:
                values.append(v)
        else:
            parts = []
            for _ in range(2 if kind == "pair" else 1):
                if q + 2 > stop:
                    return PROP_UNKNOWN, q
                ln = d[q] << 8 | d[q + 1]
                parts.append(bytes(d[q + 2 : q + 2 + ln]))
                q += 2 + ln
            if pid == want and q <= stop:
                if kind == "binary":
                    values.append(parts[0])
                elif kind == "pair":
                    values.append(f"{_text(parts[0])}={_text(parts[1])}")
                else:
                    values.append(_text(parts[0]))
        if q > stop:
            return PROP_UNKNOWN, q
    return mask, stop


def subscribe_topics(p: Any) -> list[str] | None:
    """The topic filters of a well-formed (UN)SUBSCRIBE as the tree shows them (mqtt.topic), in order;
    None when anything is cut or odd (the tree then decides)."""
    d, q = p.data, p.hdr_len
    end = len(d)
    if q + 2 > end:
        return None
    q += 2  # message id
    if p.version == 5:
        mask, q = _block(d, q, end, -1, [])
        if mask & PROP_UNKNOWN:
            return None
    unsub = p.msgtype == 10
    out: list[str] = []
    while q < end:
        if q + 2 > end:
            return None
        ln = d[q] << 8 | d[q + 1]
        q += 2
        if ln:
            if q + ln > end:
                return None
            out.append(_text(d[q : q + ln]))
            q += ln
        if not unsub:
            if q >= end:
                return None
            q += 1  # subscription options / requested QoS
    return out

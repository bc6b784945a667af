"""Where the secrets of an unfinished CONNECT, CONNACK or AUTH lie, before the PDU completes.

A password split across TCP segments must be masked in the first segment too, and headless `-x`
prints that frame before the PDU is whole (so before any tree knows the password). The PDU's head
is parsed here as far as it has arrived: every byte held is then of a known field, so the password
bytes (and MQTT 5 Authentication Data, property 0x16) among them are exact. What cannot be parsed
(a malformed head, an unknown property, a head too long to re-read per segment) is masked to its
end, since it might hold a secret: masking too much is safe, too little is not.
"""

from __future__ import annotations

from typing import Any, Final

from sniffer.mqtt import constants as C

# Types whose PDU may carry a secret (the password; Authentication Data in MQTT 5).
SECRET_TYPES: Final = frozenset({C.CONNECT, C.CONNACK, C.AUTH})
# Past this many held bytes the head is not re-read on every segment: the segment is masked whole.
MAX_PARSE: Final = 64 * 1024
_AUTH_DATA: Final = 0x16
_FIXED: Final = {C.BYTE: 1, C.U16: 2, C.U32: 4}

Chunk = tuple[Any, int, Any]  # (tag (frame number, offset), offset in the chunk as fed, bytes)


class _Short(Exception):
    """The held bytes end here: everything before is of a known field."""


def secret_ranges(head: bytes, ptype: int) -> list[tuple[int, int]]:
    """PDU offsets [a, b) of secret bytes within `head`, the first bytes of an unfinished PDU."""
    out: list[tuple[int, int]] = []
    n = len(head)
    p = 0
    try:
        p = _varint_end(head, 1)  # after the fixed header
        if ptype == C.CONNECT:
            _connect(head, p, out)
        else:  # CONNACK / AUTH: MQTT 5 properties after two bytes (flags and reason / reason only)
            p += 2 if ptype == C.CONNACK else 1
            _properties(head, p, out)
    except _Short:
        pass
    except _Malformed as e:  # cannot tell what follows: it may be a secret
        out.append((e.pos, n))
    return [(a, min(b, n)) for a, b in out if a < n]


class _Malformed(Exception):
    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


def _byte(d: bytes, p: int) -> int:
    if p >= len(d):
        raise _Short
    return d[p]


def _u16(d: bytes, p: int) -> int:
    return _byte(d, p) << 8 | _byte(d, p + 1)


def _varint_end(d: bytes, p: int) -> int:
    for i in range(4):
        if not _byte(d, p + i) & 0x80:
            return p + i + 1
    raise _Malformed(p)


def _varint(d: bytes, p: int) -> tuple[int, int]:
    end = _varint_end(d, p)
    v = 0
    for i in range(end - 1, p - 1, -1):
        v = v << 7 | (d[i] & 0x7F)
    return v, end


def _skip_string(d: bytes, p: int) -> int:
    return p + 2 + _u16(d, p)


def _connect(d: bytes, p: int, out: list[tuple[int, int]]) -> None:
    p = _skip_string(d, p)  # protocol name
    version = _byte(d, p)
    flags = _byte(d, p + 1)
    p += 4  # level, flags, keep alive
    if version == 5:
        p = _properties(d, p, out)
    p = _skip_string(d, p)  # client id
    if flags & 0x04:  # will
        if version == 5:
            p = _properties(d, p, None)
        p = _skip_string(d, p)  # will topic
        p = _skip_string(d, p)  # will payload
    if flags & 0x80:
        p = _skip_string(d, p)  # user name
    if flags & 0x40:
        out.append((p + 2, p + 2 + _u16(d, p)))


def _properties(d: bytes, p: int, out: list[tuple[int, int]] | None) -> int:
    """Walk a property block at p, noting Authentication Data; the position after it."""
    length, p = _varint(d, p)
    end = p + length
    while p < end:
        pid = _byte(d, p)
        kind = C.PROPERTY_KIND[pid]
        p += 1
        if kind is None:
            raise _Malformed(p - 1)
        if kind in _FIXED:
            p += _FIXED[kind]
        elif kind == C.VARINT:
            p = _varint(d, p)[1]
        elif kind == C.PAIR:
            p = _skip_string(d, _skip_string(d, p))
        else:
            if pid == _AUTH_DATA and out is not None:
                out.append((p + 2, p + 2 + _u16(d, p)))
            p = _skip_string(d, p)
    return end


def held_frame_ranges(chunks: list[Chunk], ptype: int, number: int) -> list[tuple[int, int]]:
    """Frame offsets [a, b) in frame `number` of secret bytes of the unfinished PDU held in `chunks`."""
    pdu = secret_ranges(b"".join(bytes(c[2]) for c in chunks), ptype)
    out: list[tuple[int, int]] = []
    if not pdu:
        return out
    pos = 0  # PDU offset of the chunk's first byte
    for tag, coff, data in chunks:
        n = len(data)
        if tag is not None and tag[0] == number:
            base = tag[1] + coff - pos  # frame offset = PDU offset + base
            for a, b in pdu:
                lo, hi = max(a, pos), min(b, pos + n)
                if lo < hi:
                    out.append((lo + base, hi + base))
        pos += n
    return out

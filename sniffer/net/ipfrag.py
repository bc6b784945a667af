"""IPv4 and IPv6 fragment reassembly of TCP segments (a router fragmented them), as tshark's ip/ipv6 defrag.

A fragment of a TCP segment is kept until the datagram it belongs to is complete; the frame that
completes it carries the whole segment: the pipeline dissects TCP (and MQTT) from the "Reassembled
IPv4/IPv6" bytes, and the earlier fragments stay "Fragmented IP protocol" rows, as in tshark's single
pass. Only TCP is reassembled: nothing else we show needs it.

Bounded for long and hostile captures: a datagram waits at most TIMEOUT seconds of capture time
(Linux's ipfrag_time), and at most MAX_HELD bytes wait in all (the oldest go first).
"""

from __future__ import annotations

from typing import Final

from sniffer.net.frame import IPV6_FRAGMENT, l3_offset

TIMEOUT: Final = 30.0  # seconds a datagram's fragments wait for the rest (net.ipv4.ipfrag_time)
MAX_HELD: Final = 4 << 20  # bytes of fragments waiting, all datagrams together
MAX_DATAGRAM: Final = 65535  # an IPv4 datagram's largest size (a fragment past it is not reassembled)
_V6_EXT: Final = (0, 43, 60)  # extension headers that may come before the Fragment header


class Reassembled:
    """A datagram made whole by this frame: the TCP segment's bytes and where they came from."""

    __slots__ = ("ipver", "src", "dst", "payload", "parts")

    def __init__(self, ipver: int, src: bytes, dst: bytes, payload: bytes, parts: list[tuple[int, int, int]]) -> None:
        self.ipver = ipver
        self.src = src
        self.dst = dst
        self.payload = payload  # the reassembled IP payload: the TCP header and its data
        self.parts = parts  # (frame number, offset in the payload, length), in offset order


class _Datagram:
    __slots__ = ("first", "pieces", "total", "held")

    def __init__(self, ts: float) -> None:
        self.first = ts  # time of its first fragment seen
        self.pieces: dict[int, tuple[int, bytes]] = {}  # offset -> (frame number, bytes); the first copy kept
        self.total = -1  # the payload's length, once the last fragment (More Fragments clear) came
        self.held = 0


def fragment_of(linktype: int, data: bytes) -> tuple | None:
    """(key, ipver, src, dst, offset, more, bytes) of a captured-whole IP fragment of a TCP segment, else None."""
    et, off = l3_offset(linktype, data)
    n = len(data)
    if et == 0x0800:
        if n < off + 20 or data[off] >> 4 != 4 or data[off + 9] != 6:
            return None
        ihl = (data[off] & 15) * 4
        tot = data[off + 2] << 8 | data[off + 3]
        frag = data[off + 6] << 8 | data[off + 7]
        if not frag & 0x3FFF or ihl < 20 or tot < ihl or off + tot > n:  # not a fragment, or cut short
            return None
        src, dst = data[off + 12 : off + 16], data[off + 16 : off + 20]
        key = (4, src, dst, data[off + 4 : off + 6])
        return key, 4, src, dst, (frag & 0x1FFF) * 8, bool(frag & 0x2000), data[off + ihl : off + tot]
    if et == 0x86DD:
        if n < off + 40 or data[off] >> 4 != 6:
            return None
        end = off + 40 + (data[off + 4] << 8 | data[off + 5])
        if end > n or end == off + 40:
            return None
        nxt, p = data[off + 6], off + 40
        while nxt in _V6_EXT and p + 8 <= end:
            nxt, p = data[p], p + (data[p + 1] + 1) * 8
        if nxt != IPV6_FRAGMENT or p + 8 > end or data[p] != 6:  # (only a fragment of TCP, no headers after)
            return None
        fo = data[p + 2] << 8 | data[p + 3]
        if not fo & 0xFFF9:  # an atomic fragment (offset 0, no more): a plain packet, not ours here
            return None
        src, dst = data[off + 8 : off + 24], data[off + 24 : off + 40]
        key = (6, src, dst, data[p + 4 : p + 8])
        return key, 6, src, dst, fo & 0xFFF8, bool(fo & 1), data[p + 8 : end]
    return None


class Defragmenter:
    """The datagrams waiting for fragments, of one capture."""

    def __init__(self) -> None:
        self.waiting: dict[tuple, _Datagram] = {}  # in arrival order of their first fragment
        self.held = 0

    def add(self, number: int, ts: float, linktype: int, data: bytes) -> Reassembled | None:
        """Take frame `number` if it is a fragment of a TCP segment; the Reassembled segment if it completes one."""
        f = fragment_of(linktype, data)
        if f is None:
            return None
        key, ipver, src, dst, off, more, body = f
        self._expire(ts)
        if off + len(body) > MAX_DATAGRAM:
            return None
        dg = self.waiting.get(key)
        if dg is None:
            dg = self.waiting[key] = _Datagram(ts)
        elif off in dg.pieces:  # a copy: the first one counts
            return None
        dg.pieces[off] = (number, body)
        dg.held += len(body)
        self.held += len(body)
        if not more:
            dg.total = off + len(body)
        while self.held > MAX_HELD and self.waiting:
            self._drop(next(iter(self.waiting)))
        if dg.total < 0 or key not in self.waiting:
            return None
        parts: list[tuple[int, int, int]] = []
        chunks: list[bytes] = []
        at = 0
        for o in sorted(dg.pieces):
            num, b = dg.pieces[o]
            if o > at:
                return None  # a hole still
            if o + len(b) <= at:
                continue  # wholly inside what came before
            b = b[at - o :]  # (an overlap: the earlier offset's bytes are kept)
            parts.append((num, at, len(b)))
            chunks.append(b)
            at += len(b)
        if at < dg.total:
            return None
        self._drop(key)
        payload = b"".join(chunks)[: dg.total]
        return Reassembled(ipver, src, dst, payload, parts)

    def _drop(self, key: tuple) -> None:
        dg = self.waiting.pop(key)
        self.held -= dg.held

    def _expire(self, ts: float) -> None:
        """Forget datagrams whose first fragment came more than TIMEOUT seconds ago (oldest first)."""
        waiting = self.waiting
        while waiting:
            key = next(iter(waiting))
            if ts - waiting[key].first <= TIMEOUT:
                break
            self._drop(key)

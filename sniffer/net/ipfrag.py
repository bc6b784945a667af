"""IPv4 and IPv6 fragment reassembly of TCP segments (a router fragmented them), as tshark's ip/ipv6 defrag.

A fragment of a TCP segment is kept until the datagram it belongs to is complete; the frame that
completes it carries the whole segment: the pipeline dissects TCP (and MQTT) from the "Reassembled
IPv4/IPv6" bytes, and the earlier fragments stay "Fragmented IP protocol" rows, as in tshark's single
pass. Only TCP is reassembled: nothing else we show needs it.

Bounded for long and hostile captures: a datagram waits at most TIMEOUT seconds of capture time
(Linux's ipfrag_time), at most MAX_HELD bytes wait in all, each fragment counted with PIECE_COST for
its bookkeeping (the oldest datagrams go first), a datagram has at most MAX_PIECES fragments, and each
fragment costs O(log n) plus a list insertion (the bytes covered are kept as merged intervals).
As tshark: an empty fragment is ignored, as is one past 64 KiB; of two final fragments the first
counts; where fragments overlap, the bytes of the one at the lower offset (then the earlier) are kept.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Final

from sniffer.net.frame import ipv6_walk, l3_offset

TIMEOUT: Final = 30.0  # seconds a datagram's fragments wait for the rest (net.ipv4.ipfrag_time)
MAX_HELD: Final = 4 << 20  # bytes of fragments waiting, all datagrams together
PIECE_COST: Final = 128  # what a waiting fragment costs beside its bytes (its objects), counted in MAX_HELD
MAX_PIECES: Final = 8192  # fragments of one datagram (65,536 bytes in the smallest, 8-byte, fragments)
MAX_DATAGRAM: Final = 65535  # an IPv4 datagram's largest size (a fragment past it is not reassembled)


class Reassembled:
    """A datagram made whole by this frame: the TCP segment's bytes and where they came from."""

    __slots__ = ("ipver", "src", "dst", "payload", "parts", "at")

    def __init__(
        self, ipver: int, src: bytes, dst: bytes, payload: bytes, parts: list[tuple[int, int, int]], at: int
    ) -> None:
        self.ipver = ipver
        self.src = src
        self.dst = dst
        self.payload = payload  # the reassembled IP payload: the TCP header and its data
        self.parts = parts  # (frame number, offset in the payload, length), in offset order
        self.at = at  # where this frame's own fragment of the payload starts in the frame (secrets masked there too)


class _Datagram:
    __slots__ = ("first", "pieces", "total", "held", "spans", "seen")

    def __init__(self, ts: float) -> None:
        self.first = ts  # time of its first fragment seen
        self.pieces: list[tuple[int, int, bytes]] = []  # (offset, frame number, bytes), in arrival order
        self.total = -1  # the payload's length, once the first last fragment (More Fragments clear) came
        self.held = 0  # its cost in MAX_HELD
        self.spans: list[int] = []  # the bytes covered: disjoint [start, end) intervals, flat and sorted
        self.seen: set[tuple[int, int]] = set()  # (offset, length) of its pieces: a copy is told at once

    def cover(self, start: int, end: int) -> None:
        """Add [start, end) to the covered intervals, merging those it touches."""
        spans = self.spans
        i = bisect_left(spans, start)  # (an odd i: start falls inside the interval ending at spans[i])
        j = bisect_right(spans, end)
        new: list[int] = []
        if i % 2 == 0:
            new.append(start)
        if j % 2 == 0:
            new.append(end)
        spans[i:j] = new

    def whole(self) -> bool:
        """Its bytes [0, total) are all here."""
        return self.total >= 0 and len(self.spans) >= 2 and self.spans[0] == 0 and self.spans[1] >= self.total


def fragment_of(linktype: int, data: bytes) -> tuple | None:
    """(key, ipver, src, dst, offset, more, bytes, frame offset of the bytes) of a captured-whole IP fragment of a
    TCP segment, else None."""
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
        key = (4, src, dst, data[off + 4 : off + 6], data[12:off] if linktype == 1 else b"")  # (VLAN tags too)
        return key, 4, src, dst, (frag & 0x1FFF) * 8, bool(frag & 0x2000), data[off + ihl : off + tot], off + ihl
    if et == 0x86DD:
        if n < off + 40 or data[off] >> 4 != 6:
            return None
        end = off + 40 + (data[off + 4] << 8 | data[off + 5])
        if end > n or end == off + 40:
            return None
        p = ipv6_walk(data, off, end)[3]
        if p < 0 or data[p] != 6:  # (only a fragment of TCP, no headers after)
            return None
        fo = data[p + 2] << 8 | data[p + 3]
        if not fo & 0xFFF9:  # an atomic fragment (offset 0, no more): a plain packet, not ours here
            return None
        src, dst = data[off + 8 : off + 24], data[off + 24 : off + 40]
        key = (6, src, dst, data[p + 4 : p + 8], data[12:off] if linktype == 1 else b"")
        return key, 6, src, dst, fo & 0xFFF8, bool(fo & 1), data[p + 8 : end], p + 8
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
        key, ipver, src, dst, off, more, body, own_at = f
        self._expire(ts)
        n = len(body)
        if not n or off + n > MAX_DATAGRAM:
            return None  # (an empty fragment adds nothing; one past 64 KiB is no datagram's)
        dg = self.waiting.get(key)
        if dg is None:
            dg = self.waiting[key] = _Datagram(ts)
        elif (off, n) in dg.seen or len(dg.pieces) >= MAX_PIECES:
            return None  # a copy (the first counts), or more fragments than any datagram has
        dg.seen.add((off, n))
        dg.pieces.append((off, number, body))
        dg.cover(off, off + n)
        cost = n + PIECE_COST
        dg.held += cost
        self.held += cost
        if not more and dg.total < 0:
            dg.total = off + n
        while self.held > MAX_HELD and self.waiting:
            self._drop(next(iter(self.waiting)))
        if key not in self.waiting or not dg.whole():
            return None
        self._drop(key)
        total = dg.total
        parts: list[tuple[int, int, int]] = []
        buf = bytearray(total)
        at = 0  # bytes [0, at) are written: where fragments overlap, the lower offset's (then the first's) stay
        for o, no, b in sorted(dg.pieces, key=lambda piece: piece[0]):  # (stable: arrival order at one offset)
            if o >= total:
                continue  # past the end the first final fragment set: not part of the datagram
            end = min(o + len(b), total)
            parts.append((no, o, end - o))
            if end > at:
                buf[at:end] = b[at - o : end - o] if at > o else b[: end - o]
                at = end
        return Reassembled(ipver, src, dst, bytes(buf), parts, own_at)

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

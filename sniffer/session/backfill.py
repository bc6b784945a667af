"""What later frames said of earlier ones (a response names its request, a delivery its publication),
kept compactly for the UI's store and the second pass of -2 (`Tracker.backfill`).

A dict of frame -> [(pdu index, attribute, value)] cost ~218 bytes an entry, 42 bytes a frame of the
UI's memory on the bench's capture. Here an entry is 16 bytes in typed arrays (value, pdu index and
kind, link to the frame's previous entry) and a frame 4 (the index of its newest entry), so a frame
is looked up by position, not hashed. The dissecting thread adds and forgets; other threads only
`get`. `forget` replaces the whole state (base and arrays) in one assignment, so a reader's snapshot of
it is always consistent without a lock; `add` appends an entry before the frame's head points at it.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import Final

ATTRS: Final = ("response_in", "delivered_in")  # the kinds of entry, by number
_KIND: Final = {name: k for k, name in enumerate(ATTRS)}


class Backfill:
    """frame -> [(pdu index, attribute, value)], for frames numbered from `base` on."""

    def __init__(self) -> None:
        # (base, head, value, meta, prev):
        #   base   the frame number head[0] stands for (frames before it have left)
        #   head   per frame: 1 + the index of its newest entry, 0 = none (grown ahead, in steps)
        #   value  per entry: the later frame's number
        #   meta   per entry: pdu index << 1 | kind
        #   prev   per entry: 1 + the frame's previous entry, 0 = none
        self.state: tuple[int, array, array, array, array] = (1, array("i"), array("q"), array("i"), array("i"))
        self.frames = 0  # how many frames have entries

    def add(self, frame: int, idx: int, attr: str, value: int) -> None:
        base, head, values, meta, prev = self.state
        i = frame - base
        if i < 0:
            return  # the frame has left (a bounded UI): nothing will show it again
        n = len(head)
        if i >= n:  # (grown by an eighth at least: one call per frame would cost more than the entry)
            head.frombytes(bytes(head.itemsize * (i + 1 - n + (n >> 3) + 1024)))
        old = head[i]
        if old == 0:
            self.frames += 1
        values.append(value)
        meta.append(idx << 1 | _KIND[attr])
        prev.append(old)
        head[i] = len(values)  # set last: a reader sees the entry whole or not at all

    def get(self, frame: int) -> list[tuple[int, str, int]]:
        """The entries of `frame`, oldest first (the order `fill` applies them in)."""
        base, head, values, meta, prev = self.state
        i = frame - base
        if i < 0 or i >= len(head):
            return []
        out: list[tuple[int, str, int]] = []
        e = head[i]
        while e:
            m = meta[e - 1]
            out.append((m >> 1, ATTRS[m & 1], values[e - 1]))
            e = prev[e - 1]
        out.reverse()
        return out

    def forget(self, upto: int) -> None:
        """Drop the entries of frames numbered up to `upto` (they left the list); the arrays are
        rebuilt with the rest, so a capture that runs for days keeps only its recent frames' entries."""
        base, head, values, meta, prev = self.state
        k = upto + 1 - base
        if k <= 0:
            return
        keep = head[k:]
        nvalues, nmeta, nprev = array("q"), array("i"), array("i")
        frames = 0
        for j in range(len(keep)):
            chain: list[int] = []
            e = keep[j]
            while e:
                chain.append(e - 1)
                e = prev[e - 1]
            if not chain:
                continue
            frames += 1
            last = 0
            for e in reversed(chain):
                nvalues.append(values[e])
                nmeta.append(meta[e])
                nprev.append(last)
                last = len(nvalues)
            keep[j] = last
        self.state = (upto + 1, keep, nvalues, nmeta, nprev)
        self.frames = frames

    def __len__(self) -> int:
        return self.frames

    def __bool__(self) -> bool:
        return self.frames > 0

    def __iter__(self) -> Iterator[int]:
        """The numbers of the frames that have entries, ascending."""
        base, head = self.state[0], self.state[1]
        return iter([base + i for i in range(len(head)) if head[i]])

    def __getitem__(self, frame: int) -> list[tuple[int, str, int]]:
        out = self.get(frame)
        if not out:
            raise KeyError(frame)
        return out

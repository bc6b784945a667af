"""What later frames said of earlier ones (a response names its request, a delivery its publication),
kept compactly for the UI's store and the second pass of -2 (`Tracker.backfill`).

A dict of frame -> [(pdu index, attribute, value)] cost ~218 bytes an entry, 42 bytes a frame of the
UI's memory on the bench's capture. Here an entry is 16 bytes in typed arrays (value, pdu index and
kind, link to the frame's previous entry) and a frame 4 (the index of its newest entry), so a frame
is looked up by position, not hashed. The dissecting thread adds and forgets; other threads only
`get`, under the lock that `forget` (which swaps the arrays) takes.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterator
from typing import Final

ATTRS: Final = ("response_in", "delivered_in")  # the kinds of entry, by number
_KIND: Final = {name: k for k, name in enumerate(ATTRS)}


class Backfill:
    """frame -> [(pdu index, attribute, value)], for frames numbered from `base` on."""

    def __init__(self) -> None:
        self.base = 1  # the frame number head[0] stands for (frames before it have left)
        self.head = array("i")  # per frame: 1 + the index of its newest entry, 0 = none
        self.value = array("q")  # per entry: the later frame's number
        self.meta = array("i")  # per entry: pdu index << 1 | kind
        self.prev = array("i")  # per entry: 1 + the frame's previous entry, 0 = none
        self.frames = 0  # how many frames have entries
        self.lock = threading.Lock()

    def add(self, frame: int, idx: int, attr: str, value: int) -> None:
        i = frame - self.base
        if i < 0:
            return  # the frame has left (a bounded UI): nothing will show it again
        head = self.head
        if i >= len(head):
            head.frombytes(bytes(head.itemsize * (i + 1 - len(head))))
        old = head[i]
        if old == 0:
            self.frames += 1
        self.value.append(value)
        self.meta.append(idx << 1 | _KIND[attr])
        self.prev.append(old)
        head[i] = len(self.value)  # set last: a reader sees the entry whole or not at all

    def get(self, frame: int) -> list[tuple[int, str, int]]:
        """The entries of `frame`, oldest first (the order `fill` applies them in)."""
        with self.lock:
            i = frame - self.base
            head = self.head
            if i < 0 or i >= len(head):
                return []
            out: list[tuple[int, str, int]] = []
            e = head[i]
            while e:
                m = self.meta[e - 1]
                out.append((m >> 1, ATTRS[m & 1], self.value[e - 1]))
                e = self.prev[e - 1]
            out.reverse()
            return out

    def forget(self, upto: int) -> None:
        """Drop the entries of frames numbered up to `upto` (they left the list); the arrays are
        rebuilt with the rest, so a capture that runs for days keeps only its recent frames' entries."""
        k = upto + 1 - self.base
        if k <= 0:
            return
        keep = self.head[k:]
        value, meta, prev = array("q"), array("i"), array("i")
        frames = 0
        for j in range(len(keep)):
            chain: list[int] = []
            e = keep[j]
            while e:
                chain.append(e - 1)
                e = self.prev[e - 1]
            if not chain:
                continue
            frames += 1
            last = 0
            for e in reversed(chain):
                value.append(self.value[e])
                meta.append(self.meta[e])
                prev.append(last)
                last = len(value)
            keep[j] = last
        with self.lock:
            self.base = upto + 1
            self.head, self.value, self.meta, self.prev = keep, value, meta, prev
            self.frames = frames

    def __len__(self) -> int:
        return self.frames

    def __bool__(self) -> bool:
        return self.frames > 0

    def __iter__(self) -> Iterator[int]:
        """The numbers of the frames that have entries, ascending."""
        head, base = self.head, self.base
        return iter([base + i for i in range(len(head)) if head[i]])

    def __getitem__(self, frame: int) -> list[tuple[int, str, int]]:
        out = self.get(frame)
        if not out:
            raise KeyError(frame)
        return out

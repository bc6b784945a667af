"""Packet sources for the UI: where raw frames come from (a file, a live interface, a test's list).

A source yields batches of raw records `(ts, data, orig_len, linktype)` (the capture readers'
order), a file's with `ticks, tsresol` after them (its exact timestamp, see CaptureReader.exact,
so that saving writes what was read, not a float's rounding), to the loader thread, and knows how
to describe itself for the status bar. Sources never touch widgets; the loader dissects, stores and
tells the UI in coalesced updates.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Iterator
from typing import Protocol

Record = tuple  # ts, data, orig_len, linktype[, ticks, tsresol]
BATCH = 2000  # records per batch from a file: large enough to amortise, small enough to stay responsive


class PacketSource(Protocol):
    name: str  # interface or file, for the status bar
    capture_filter: str  # the BPF expression, "" for files
    live: bool  # a live capture (quitting asks before losing unsaved frames)
    saved_to: str | None  # a -w file that already holds every frame, else None

    def start(self) -> None: ...
    def batches(self) -> Iterator[list[Record]]:
        """Batches until the source is exhausted or stopped."""
        ...

    def stop(self) -> None: ...
    def progress(self) -> float | None:
        """0..1 while a file loads; None when unknown (live)."""
        ...

    def stats(self) -> tuple[int, int, int]:
        """(captured, kernel drops, mqttsniff drops) as the source counts them."""
        ...

    def truncated(self) -> bool: ...


class FileSource:
    """Frames of a pcap/pcapng file, read in batches by the loader thread."""

    live = False
    capture_filter = ""
    saved_to = None

    def __init__(self, path: str, count: int | None = None, name: str | None = None) -> None:
        from sniffer.net.pcapfile import open_capture  # raises CaptureError with a user message

        self.path = path
        self.name = name or os.path.basename(path)
        self.count = count
        self.reader = open_capture(path)
        self.reader.exact = True
        self._stopped = False
        self._captured = 0
        try:
            self._size = os.path.getsize(path) if path != "-" else 0
        except OSError:
            self._size = 0
        self._done = False

    def start(self) -> None:
        pass

    def batches(self) -> Iterator[list[Record]]:
        batch: list[Record] = []
        count = self.count
        reader = self.reader
        try:
            for ts, data, orig_len, lt in reader:
                batch.append((ts, data, orig_len, lt, reader.ticks, reader.tsresol))
                self._captured += 1
                if count is not None and self._captured >= count:
                    break
                if len(batch) >= BATCH:
                    yield batch
                    batch = []
                    if self._stopped:
                        return
            if batch:
                yield batch
        finally:
            self._done = True
            self.reader.close()

    def stop(self) -> None:
        self._stopped = True

    def progress(self) -> float | None:
        if self._done:
            return 1.0
        if not self._size:
            return None
        f = getattr(self.reader, "_f", None)
        try:
            pos = os.lseek(f.fileno(), 0, os.SEEK_CUR) if f is not None else 0
        except (OSError, ValueError, AttributeError):
            return None
        return min(pos / self._size, 1.0)

    def stats(self) -> tuple[int, int, int]:
        return self._captured, 0, 0

    def truncated(self) -> bool:
        return bool(getattr(self.reader, "truncated", False))


class LiveSource:
    """A sniffer.capture LiveCapture already opened by the CLI (privileges dropped afterwards)."""

    live = True

    def __init__(self, capture, name: str | None = None) -> None:
        self.capture = capture
        self.name = name or capture.iface_name
        self.capture_filter = capture.bpf_expr
        self.saved_to = getattr(capture, "write_path", None)

    def start(self) -> None:
        self.capture.start()

    def batches(self) -> Iterator[list[Record]]:
        for batch in self.capture.batches(poll=0.1):
            # the capture hands (ts, linktype, data, orig_len); readers and the store use (ts, data, orig_len, lt)
            yield [(ts, data, orig_len, lt) for ts, lt, data, orig_len in batch]

    def stop(self) -> None:
        self.capture.stop()

    def progress(self) -> float | None:
        return None

    def stats(self) -> tuple[int, int, int]:
        s = self.capture.stats
        return s.captured, s.kernel_dropped, s.queue_dropped

    def truncated(self) -> bool:
        return False


class MemorySource:
    """Records handed over by a test (or a replay): `push()` batches, `finish()` ends the source.

    With `live=True` it behaves like a capture for the UI (quit asks, status says capturing).
    """

    def __init__(
        self, records: list[Record] | None = None, name: str = "test", live: bool = False, capture_filter: str = ""
    ) -> None:
        self.name = name
        self.live = live
        self.capture_filter = capture_filter
        self.saved_to = None
        self._q: queue.Queue[list[Record] | None] = queue.Queue()
        self._captured = 0
        self._finished = False
        self.kernel_drops = 0
        if records:
            for i in range(0, len(records), BATCH):
                self._q.put(records[i : i + BATCH])
        if not live:
            self.finish()

    def push(self, records: list[Record]) -> None:
        self._q.put(list(records))

    def finish(self) -> None:
        if not self._finished:
            self._finished = True
            self._q.put(None)

    def start(self) -> None:
        pass

    def batches(self) -> Iterator[list[Record]]:
        while True:
            batch = self._q.get()
            if batch is None:
                return
            self._captured += len(batch)
            yield batch

    def stop(self) -> None:
        self.finish()

    def progress(self) -> float | None:
        return None

    def stats(self) -> tuple[int, int, int]:
        return self._captured, self.kernel_drops, 0

    def truncated(self) -> bool:
        return False

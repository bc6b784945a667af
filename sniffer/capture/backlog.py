"""The batches a capture's consumer has not taken yet, on disk once its queue in memory is full.

A burst faster than the dissector (the UI takes 45,000-62,000 frames/s, a flood can bring 150,000) used to
overflow the capture's queue, and whole batches were dropped. Wireshark never drops there: dumpcap
writes every packet to a file and Wireshark reads it behind. This is the same idea inside one
process: the capture thread (a LiveCapture's, a RemoteCapture's reader) appends what does not fit in
memory to unlinked temporary files (in $TMPDIR, segments of SEGMENT bytes), in arrival order; the
consumer reads the queue first, then the files, and only when they are empty again do new batches go
back to memory. The consumer shows every packet, seconds late instead of never. More than `max_bytes`
waiting (the disk then holds up to one segment more), or a disk that fails (full), still drops
(counted, as before).

A batch is written as it came (a length, then the batch in `marshal`'s format: ~0.14 µs a frame to
write and as much to read, a quarter of packing each frame's header). The file lives and dies with the
process that wrote it, so marshal's format, fixed within one Python version, is all it needs.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import struct
import tempfile
import threading
from collections import deque
from typing import Any

_LEN = struct.Struct("<I")  # bytes of the marshalled batch that follows
MAX_BYTES = 1 << 30  # default bytes waiting at most (batches beyond it are dropped, and counted)
SEGMENT = 64 << 20  # bytes per file: a file read to its end is closed and its disk space goes back


class Backlog:
    """Batches in files, read back in order. Written in segments (files of SEGMENT bytes or so, oldest
    first): a consumer that never quite catches up still frees the disk behind it, and the limit is on
    what waits, not on what was ever written. Not thread-safe: the capture's lock guards it."""

    def __init__(self, max_bytes: int = MAX_BYTES, directory: str | None = None) -> None:
        self.max_bytes = max_bytes
        self.directory = directory
        # [file, end written, start not read yet] per segment, oldest first (none until the first overflow:
        # a capture that keeps up never makes one)
        self._segs: deque[list[Any]] = deque()
        self._counts: deque[int] = deque()  # frames of each batch waiting, oldest first
        self.bytes = 0  # bytes waiting (lengths included)
        self.frames = 0  # frames waiting
        self.peak = 0  # most frames that waited at once
        self.total = 0  # frames that went through the files
        self.error: str | None = None  # why the last add() failed (the disk), for the summary

    def __len__(self) -> int:
        return self.frames

    def add(self, batch: Any, frames: int) -> bool:
        """Append a batch of `frames` frames (lists, tuples, bytes, numbers); False (nothing kept) if what
        waits would pass max_bytes or the disk cannot take it."""
        try:
            blob = marshal.dumps(batch)
        except ValueError as exc:  # (not a batch of plain values: never from the captures)
            self.error = str(exc)
            return False
        buf = _LEN.pack(len(blob)) + blob
        if self.bytes + len(buf) > self.max_bytes:
            return False
        seg = self._segs[-1] if self._segs and self._segs[-1][1] < SEGMENT else None
        try:
            if seg is None:  # the first file, or the last one is full: a new one
                fresh = tempfile.TemporaryFile(dir=self.directory, prefix="mqttsniff-backlog-")  # noqa: SIM115
                try:
                    _write_all(fresh.fileno(), buf, 0)
                except OSError:
                    fresh.close()
                    raise
                self._segs.append([fresh, len(buf), 0])
            else:
                try:
                    _write_all(seg[0].fileno(), buf, seg[1])
                except OSError:
                    with contextlib.suppress(OSError):
                        os.ftruncate(seg[0].fileno(), seg[1])  # the part written goes
                    raise
                seg[1] += len(buf)
        except OSError as exc:
            self.error = exc.strerror or str(exc)
            return False
        self.bytes += len(buf)
        self._counts.append(frames)
        self.frames += frames
        self.total += frames
        self.peak = max(self.peak, self.frames)
        return True

    def take(self) -> Any:
        """The oldest batch waiting, as it was added (None if none waits). A file read to its end is
        closed (its disk space goes back), the last one emptied to start again at 0. OSError if a file
        cannot be read back."""
        if not self._counts:
            return None
        seg = self._segs[0]
        fd, at = seg[0].fileno(), seg[2]
        head = os.pread(fd, _LEN.size, at)
        if len(head) != _LEN.size:
            raise OSError(0, "backlog cut short (no length)")
        (size,) = _LEN.unpack(head)
        blob = os.pread(fd, size, at + _LEN.size)
        if len(blob) != size:
            raise OSError(0, f"backlog cut short ({len(blob)} of {size} bytes)")
        batch = marshal.loads(blob)
        seg[2] = at + _LEN.size + size
        self.bytes -= _LEN.size + size
        self.frames -= self._counts.popleft()
        if seg[2] >= seg[1]:  # this file is read to its end
            if len(self._segs) > 1:
                self._segs.popleft()[0].close()
            else:
                seg[1] = seg[2] = 0
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
        return batch

    def lose(self) -> int:
        """Forget every batch waiting (a file cannot be read back); returns how many frames went."""
        lost = self.frames
        self.close()
        self._counts.clear()
        self.frames = self.bytes = 0
        return lost

    def close(self) -> None:
        while self._segs:
            self._segs.popleft()[0].close()


def _write_all(fd: int, buf: bytes, at: int) -> None:
    """pwrite all of buf at `at` (a disk filling up writes part, then says why the rest cannot be)."""
    done = 0
    while done < len(buf):
        n = os.pwrite(fd, memoryview(buf)[done:], at + done)
        if n <= 0:
            raise OSError(0, "nothing written")
        done += n


class Handoff:
    """A capture's batches on their way to its consumer, oldest first: in memory up to `max_frames` and
    `max_bytes`, then in a Backlog; beyond that dropped and counted. Not thread-safe: the capture's lock
    guards it (LiveCapture, RemoteCapture)."""

    def __init__(self, max_frames: int, max_bytes: int, max_backlog: int = MAX_BYTES) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.queue: deque[tuple[Any, int, int]] = deque()  # (batch, frames, bytes)
        self.frames = 0  # in memory
        self.bytes = 0
        self.backlog = Backlog(max_backlog)
        self.dropped = 0  # frames dropped: the backlog was full or failed

    @property
    def pending(self) -> int:
        return self.frames + self.backlog.frames

    def put(self, batch: Any, frames: int, size: int) -> bool:
        """Hand a batch on (`size`: its bytes in memory); False if it was dropped."""
        backlog = self.backlog
        if backlog.frames or self.frames + frames > self.max_frames or self.bytes + size > self.max_bytes:
            if backlog.add(batch, frames):  # (while frames wait on disk, newer ones go after them)
                return True
            self.dropped += frames
            return False
        self.queue.append((batch, frames, size))
        self.frames += frames
        self.bytes += size
        return True

    def get(self) -> Any:
        """The oldest batch (memory first: the file holds newer ones), or None if none waits."""
        if self.queue:
            batch, frames, size = self.queue.popleft()
            self.frames -= frames
            self.bytes -= size
            return batch
        backlog = self.backlog
        if backlog.frames:
            try:
                return backlog.take()
            except (OSError, ValueError, EOFError, TypeError, struct.error) as exc:  # unreadable: lost, and counted
                backlog.error = str(exc)
                self.dropped += backlog.lose()
        return None

    def next(self, cond: threading.Condition, done: threading.Event, timeout: float | None) -> Any:
        """A capture's get_batch(), with its `cond` held: waits up to `timeout` for a batch. The batch,
        [] if none came, None once `done` is set and nothing waits (the backlog's file is closed then)."""
        if not self.pending and not done.is_set():
            cond.wait(timeout)
        batch = self.get()
        if batch is not None:
            return batch
        if done.is_set() and not self.pending:
            self.backlog.close()
            return None
        return []

    def waiting(self) -> tuple[int, int]:
        """Frames not taken yet: (in memory, on disk)."""
        return self.frames, self.backlog.frames

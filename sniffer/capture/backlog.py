"""The batches a capture's consumer has not taken yet, on disk once its queue in memory is full.

A burst faster than the dissector (the UI takes ~45,000 frames/s, a flood can bring 150,000) used to
overflow the capture's queue, and whole batches were dropped. Wireshark never drops there: dumpcap
writes every packet to a file and Wireshark reads it behind. This is the same idea inside one
process: the capture thread (a LiveCapture's, a RemoteCapture's reader) appends what does not fit in
memory to an unlinked temporary file, in arrival order; the consumer reads the queue first, then this
file, and only when the file is empty again do new batches go back to memory. The consumer shows every
packet, seconds late instead of never. A file over `max_bytes`, or a disk that fails (full), still
drops (counted, as before).

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
from typing import IO, Any

_LEN = struct.Struct("<I")  # bytes of the marshalled batch that follows
MAX_BYTES = 1 << 30  # default size of the file at most (batches beyond it are dropped, and counted)


class Backlog:
    """An append-only file of batches read back in order. Not thread-safe: the capture's lock guards it."""

    def __init__(self, max_bytes: int = MAX_BYTES, directory: str | None = None) -> None:
        self.max_bytes = max_bytes
        self.directory = directory
        self._file: IO[bytes] | None = None  # opened at the first overflow (a capture that keeps up never makes one)
        self._write = 0  # end of the batches written
        self._read = 0  # start of the first batch not read yet
        self._counts: list[int] = []  # frames of each batch waiting, oldest first from _next
        self._next = 0
        self.frames = 0  # frames waiting in the file
        self.peak = 0  # most frames that waited at once
        self.total = 0  # frames that went through the file
        self.error: str | None = None  # why the last add() failed (the disk), for the summary

    def __len__(self) -> int:
        return self.frames

    def add(self, batch: Any, frames: int) -> bool:
        """Append a batch of `frames` frames (lists, tuples, bytes, numbers); False (nothing kept) if the
        file would pass max_bytes or cannot be written."""
        blob = marshal.dumps(batch)
        if self._write + _LEN.size + len(blob) > self.max_bytes:
            return False
        buf = _LEN.pack(len(blob)) + blob
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(dir=self.directory, prefix="mqttsniff-backlog-")  # noqa: SIM115
            fd, done = self._file.fileno(), 0
            while done < len(buf):  # (a disk filling up writes part, then says why the rest cannot be)
                n = os.pwrite(fd, memoryview(buf)[done:], self._write + done)
                if n <= 0:
                    raise OSError(0, "nothing written")
                done += n
        except OSError as exc:
            self.error = exc.strerror or str(exc)
            if self._file is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._file.fileno(), self._write)  # the part written goes
            return False
        self._write += len(buf)
        self._counts.append(frames)
        self.frames += frames
        self.total += frames
        self.peak = max(self.peak, self.frames)
        return True

    def take(self) -> Any:
        """The oldest batch waiting, as it was added (None if none waits). Once all are read, the file
        is emptied and starts again at 0. OSError if the file cannot be read back."""
        if self._next >= len(self._counts) or self._file is None:
            return None
        fd = self._file.fileno()
        (size,) = _LEN.unpack(os.pread(fd, _LEN.size, self._read))
        blob = os.pread(fd, size, self._read + _LEN.size)
        if len(blob) != size:
            raise OSError(0, f"backlog cut short ({len(blob)} of {size} bytes)")
        batch = marshal.loads(blob)
        self._read += _LEN.size + size
        self.frames -= self._counts[self._next]
        self._next += 1
        if self._next == len(self._counts):
            self._read = self._write = self._next = 0
            self._counts.clear()
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # the disk space goes back at once
        return batch

    def lose(self) -> int:
        """Forget every batch waiting (the file cannot be read back); returns how many frames went."""
        lost = self.frames
        self.frames = self._read = self._write = self._next = 0
        self._counts.clear()
        return lost

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


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
            except (OSError, ValueError, EOFError) as exc:  # unreadable: its frames are lost, and counted
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

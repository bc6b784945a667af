"""The frames a live capture's consumer has not taken yet, on disk once its queue in memory is full.

A burst faster than the dissector (the UI takes ~45,000 frames/s, a flood can bring 150,000) used to
overflow the capture's queue, and whole batches were dropped. Wireshark never drops there: dumpcap
writes every packet to a file and Wireshark reads it behind. This is the same idea inside one
process: the capture thread appends what does not fit in memory to an unlinked temporary file, in
arrival order; the consumer reads the queue first, then this file, and only when the file is empty
again do new batches go back to memory. The consumer shows every packet, seconds late instead of
never. A file over `max_bytes`, or a disk that fails (full), still drops (counted, as before).

Records: a header (ts as a float, the kernel's integer nanoseconds, linktype, orig_len, caplen),
then caplen bytes.
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
from typing import IO

from sniffer.capture.packet_socket import Frame

_HEAD = struct.Struct("<dqIII")  # ts, stamp (ns), linktype, orig_len, caplen
READ_CHUNK = 1 << 20  # bytes read from the file per batch handed to the consumer at most
TAKE_FRAMES = 4096  # frames per batch at most (a consumer stores, shows and can stop between batches)
MAX_BYTES = 1 << 30  # default size of the file at most (frames beyond it are dropped, and counted)


class Backlog:
    """An append-only file of frames read back in order. Not thread-safe: the capture's lock guards it."""

    def __init__(self, max_bytes: int = MAX_BYTES, directory: str | None = None) -> None:
        self.max_bytes = max_bytes
        self.directory = directory
        self._file: IO[bytes] | None = None  # opened at the first overflow (a capture that keeps up never makes one)
        self._write = 0  # end of the records written
        self._read = 0  # start of the first record not read yet
        self.frames = 0  # frames waiting in the file
        self.peak = 0  # most frames that waited at once
        self.total = 0  # frames that went through the file
        self.error: str | None = None  # why the last add() failed (the disk), for the summary

    def __len__(self) -> int:
        return self.frames

    def add(self, frames: list[Frame], stamps: list[int]) -> bool:
        """Append a batch; False (nothing written) if the file would pass max_bytes or cannot be written."""
        size = sum(len(f[2]) for f in frames) + _HEAD.size * len(frames)
        if self._write + size > self.max_bytes:
            return False
        buf = bytearray()
        pack = _HEAD.pack
        for (ts, linktype, data, orig_len), ns in zip(frames, stamps, strict=True):
            buf += pack(ts, ns, linktype, orig_len, len(data))
            buf += data
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
        self.frames += len(frames)
        self.total += len(frames)
        self.peak = max(self.peak, self.frames)
        return True

    def take(self) -> tuple[list[Frame], list[int]]:
        """The oldest frames waiting (up to TAKE_FRAMES, READ_CHUNK bytes of them, at least one), with their stamps.
        Once all are read, the file is emptied and starts again at 0."""
        frames: list[Frame] = []
        stamps: list[int] = []
        if not self.frames or self._file is None:
            return frames, stamps
        want = min(self._write - self._read, READ_CHUNK)
        buf = os.pread(self._file.fileno(), want, self._read)
        pos = 0
        unpack = _HEAD.unpack_from
        while pos + _HEAD.size <= len(buf) and len(frames) < TAKE_FRAMES:
            ts, ns, linktype, orig_len, caplen = unpack(buf, pos)
            end = pos + _HEAD.size + caplen
            if end > len(buf):
                if frames:
                    break
                buf = os.pread(self._file.fileno(), end, self._read)  # the first frame alone passes the chunk
            frames.append((ts, linktype, buf[pos + _HEAD.size : end], orig_len))
            stamps.append(ns)
            pos = end
        self._read += pos
        self.frames -= len(frames)
        if not self.frames:
            self._read = self._write = 0
            with contextlib.suppress(OSError):
                os.ftruncate(self._file.fileno(), 0)  # the disk space goes back at once
        return frames, stamps

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

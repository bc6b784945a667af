"""-w's ring buffer (-b, as dumpcap's): the capture goes to a series of pcapng files switched by size or time.

Conditions (dumpcap's, repeatable and combinable: the first one met switches to the next file):
  filesize:KB  a file holds at most KB kB (1 kB = 1000 bytes, as dumpcap); the frame that would take it
               past goes to the next file (a single frame larger than that gets a file to itself)
  duration:S   switch S seconds after the file was opened (fractions allowed)
  interval:S   switch when the wall clock is a multiple of S seconds (interval:3600: on the hour, UTC)
  packets:N    switch after N packets
  files:N      keep only the N newest files: the oldest is deleted as the next one opens (needs a condition)

Names are dumpcap's: ``-w out.pcapng`` writes ``out_00001_20261203163500.pcapng``, ``out_00002_...``: the
file's number from 1 (5 digits, wrapping at 100000, as dumpcap) and the local time it was opened; the
suffix is whatever follows the last dot of the file name (none: the number and time end the name).

Each file is a complete capture: the same header blocks (Section Header, one Interface Description Block
per source) and, with a TLS key log, a Decryption Secrets Block with the keys logged so far (the newest
MiB of them: CARRIED_KEYS), so each file opens on its own, decrypted. A file is written like the single
-w file (sniffer.capture.pcapng: unbuffered, cut back to its last whole block on a write error). Size
switches happen as frames are written; time switches also when nothing arrives (``tick``), so an idle
capture still gets a file per period, as with dumpcap. Everything runs in the thread that writes: no locks.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sniffer.capture.pcapng import PcapngWriter, encode, encode_records

MAX_NUMBER = 100_000  # file numbers wrap here (dumpcap's RINGBUFFER_MAX_NUM_FILES), so five digits suffice
MAX_FILESIZE_KB = 2_000_000_000  # 2 TB, dumpcap's limit
MAX_SECONDS = 10**9
# The key log lines a new file starts with: the newest this many bytes. Only the file that holds a TLS
# session's handshake can decrypt it (Wireshark needs its ClientHello), and keys logged while a file is
# open go into that file as they come, so older keys only cost room in every file of a week-long capture.
CARRIED_KEYS = 1 << 20


class RingError(ValueError):
    """A -b option that cannot work; ``str()`` is the one line for the user."""


@dataclass
class RingOptions:
    filesize: int = 0  # bytes per file; 0: no size limit
    duration: float = 0.0  # seconds per file
    interval: float = 0.0  # switch at multiples of this many seconds of the wall clock
    packets: int = 0  # frames per file
    files: int = 0  # files kept; 0: every file


USAGE = {
    "filesize": "KB",
    "duration": "SECONDS",
    "interval": "SECONDS",
    "packets": "N",
    "files": "N",
}


def _number(key: str, value: str, whole: bool, top: int) -> float:
    """The value of ``-b key:value``: a number above 0 (whole if asked) and at most ``top``."""
    try:
        n = int(value, 10) if whole else float(value)
    except ValueError:
        n = -1
    if not 0 < n <= top or math.isnan(n):
        kind = "a whole number from 1" if whole else "a number above 0"
        raise RingError(f"bad -b '{key}:{value}': expected {key}:{USAGE[key]}, {kind} up to {top}")
    return n


def parse(specs: list[str], write: str | None) -> RingOptions:
    """The -b options (each KEY:VALUE) for ``-w write``; RingError says what is wrong, in one line."""
    opts = RingOptions()
    for spec in specs:
        key, colon, value = spec.partition(":")
        if key not in USAGE or not colon:
            known = ", ".join(f"{k}:{u}" for k, u in USAGE.items())
            raise RingError(f"bad -b '{spec}': a ring buffer option is one of {known}")
        if key == "filesize":
            opts.filesize = int(_number(key, value, True, MAX_FILESIZE_KB)) * 1000
        elif key == "duration":
            opts.duration = _number(key, value, False, MAX_SECONDS)
        elif key == "interval":
            opts.interval = _number(key, value, False, MAX_SECONDS)
        elif key == "packets":
            opts.packets = int(_number(key, value, True, 1 << 62))
        else:
            opts.files = int(_number(key, value, True, MAX_NUMBER - 1))
    if write == "-":
        raise RingError("-b switches between capture files: not with -w - (standard output); give -w FILE")
    if not write:
        raise RingError("-b needs -w FILE: the ring buffer switches between capture files named after it")
    if not (opts.filesize or opts.duration or opts.interval or opts.packets):
        raise RingError(
            "-b files:N keeps the newest files, but nothing switches to a next one:"
            " add -b filesize:KB, duration:SECONDS, interval:SECONDS or packets:N"
        )
    return opts


def split_name(path: str) -> tuple[str, str]:
    """(prefix, suffix) of dumpcap's ring file names: the suffix starts at the last dot of the last component."""
    dot = path.rfind(".")
    if dot > path.rfind(os.sep):
        return path[:dot], path[dot:]
    return path, ""


def file_name(prefix: str, suffix: str, number: int, when: float) -> str:
    """The name of ring file ``number`` (from 1) opened at ``when`` (local time, as dumpcap)."""
    stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(when))
    return f"{prefix}_{number % MAX_NUMBER:05d}_{stamp}{suffix}"


def _cut(blob: bytes, room_bytes: int, room_frames: int, force: bool) -> tuple[int, int]:
    """(bytes, frames) of the longest run of whole blocks at the start of ``blob`` that fits the room;
    at least one block when ``force`` (a file that holds no frame yet takes one, however large)."""
    offset = n = 0
    while offset < len(blob):
        size = int.from_bytes(blob[offset + 4 : offset + 8], "little")
        if (offset + size > room_bytes or n + 1 > room_frames) and not (force and n == 0):
            break
        offset += size
        n += 1
    return offset, n


class RingWriter:
    """A PcapngWriter's interface (write, write_records, close, path, frames, failed, secrets) over a
    series of files; see the module docstring."""

    def __init__(self, path: str, head: bytes, opts: RingOptions) -> None:
        self.prefix, self.suffix = split_name(path)
        self.head = head
        self.opts = opts
        # key log lines appended since the last call (sniffer.tls.keylog.KeyLogTail), or None
        self.secrets: Callable[[], bytes] | None = None
        # the key log lines so far (the newest CARRIED_KEYS bytes): each new file starts with them
        self.keys = bytearray()
        self.failed: OSError | None = None
        self.failed_path = ""
        self.number = 0  # files opened
        self.first = ""  # the first file's name, for the summary
        self.deleted = 0  # files removed by files:N
        self.kept: deque[tuple[str, PcapngWriter]] = deque()  # the files on disk (files:N), oldest first
        self._done_frames = 0  # frames in the files closed before the current one
        self.opened_mono = 0.0  # when the current file was opened (time.monotonic)
        self.next_interval = 0.0  # interval:S: the wall-clock time of the next switch
        self.file = self._open_next()

    # -- the PcapngWriter interface -----------------------------------------------------------------

    @property
    def path(self) -> str:
        """The file being written."""
        return self.file.path

    @property
    def frames(self) -> int:
        """Frames written, in every file (deleted ones too)."""
        return self._done_frames + self.file.frames

    def write(self, frames: list, stamps: list[int]) -> None:
        """One batch of (ts, linktype, data, orig_len) frames; raises OSError (the files keep every earlier batch)."""
        if frames:
            self._put(encode(frames, stamps), len(frames))

    def write_epbs(self, blob: bytes, frames: int) -> None:
        """Enhanced Packet Blocks encoded already (``frames`` of them); raises OSError like write()."""
        if frames:
            self._put(blob, frames)

    def write_records(self, records: list, comments: dict[int, str] | None = None) -> None:
        """Merged records (sniffer.capture.pcapng.encode_records); raises OSError like write()."""
        if records:
            self._put(encode_records(records, comments), len(records))

    def tick(self) -> None:
        """Switch files if a time condition is due, frames or not; called by the writing thread's loop."""
        if self.failed is None and self._due():
            try:
                self._switch()
            except OSError as exc:
                self._fail(exc)
                raise

    def until_switch(self) -> float | None:
        """Seconds until the next time switch (None without duration/interval): how long the loop may sleep."""
        left = []
        if self.opts.duration:
            left.append(self.opened_mono + self.opts.duration - time.monotonic())
        if self.opts.interval:
            left.append(self.next_interval - time.time())
        return max(0.0, min(left)) if left else None

    def close(self) -> None:
        self.file.close()

    def written(self) -> str:
        """The summary's line: how many frames went to which files (the kept ones with files:N)."""
        plural = "" if self.frames == 1 else "s"
        if self.number == 1:
            return f"{self.frames} packet{plural} written to {self.path}"
        line = f"{self.frames} packet{plural} written to {self.number} files"
        if not self.deleted:
            return f"{line}, {self.first} … {self.path}"
        kept = sum(w.frames for _, w in self.kept)
        return f"{line}, the {len(self.kept)} newest kept ({kept} packets): {self.kept[0][0]} … {self.path}"

    def failure(self, exc: OSError) -> str:
        """The line for a write that failed (disk full): what stopped and what the files keep."""
        return (
            f"writing {self.failed_path or self.path} failed: {exc.strerror or exc}; capture stopped, "
            f"{self.written().replace('written to', 'kept in', 1)}"
        )

    # -- switching ----------------------------------------------------------------------------------

    def _due(self) -> bool:
        opts = self.opts
        return bool(
            (opts.duration and time.monotonic() >= self.opened_mono + opts.duration)
            or (opts.interval and time.time() >= self.next_interval)
        )

    def _open_next(self) -> PcapngWriter:
        """Open the next file with the header blocks and every key so far, after deleting the oldest
        one files:N no longer keeps (first, so the files never take more than N files' room)."""
        opts = self.opts
        if opts.files and len(self.kept) >= opts.files:
            name, _old = self.kept.popleft()
            with contextlib.suppress(OSError):  # gone already (moved by the user): nothing to free
                os.unlink(name)
            self.deleted += 1
        now = time.time()
        name = file_name(self.prefix, self.suffix, self.number + 1, now)
        new: PcapngWriter | None = None
        try:
            new = PcapngWriter.with_header(name, self.head)
            if self.keys:
                new.write_secrets(bytes(self.keys))
        except OSError:
            if new is not None:
                new.close()
            self.failed_path = name
            with contextlib.suppress(OSError):  # a header cut short is no capture: leave no such file
                os.unlink(name)
            raise
        self.number += 1
        self.first = self.first or name
        if opts.files:
            self.kept.append((name, new))
        self.opened_mono = time.monotonic()
        self.next_interval = (math.floor(now / opts.interval) + 1) * opts.interval if opts.interval else 0.0
        return new

    def _switch(self) -> None:
        old = self.file
        # Keys logged since the last batch go to this file too: a TLS client logs them a moment after
        # its handshake went by, and the file holding the handshake is the one that can use them.
        self._poll_keys()
        old.close()  # fsync; keys that came after its frames are moved to its front
        new = self._open_next()  # raises OSError (failed is set): the capture stops
        self._done_frames += old.frames
        self.file = new

    def _poll_keys(self) -> None:
        if self.secrets is None:
            return
        lines = self.secrets()
        if lines:
            self.keys += lines
            if len(self.keys) > CARRIED_KEYS:  # whole lines only
                del self.keys[: self.keys.index(b"\n", len(self.keys) - CARRIED_KEYS) + 1]
            self.file.write_secrets(lines)

    def _put(self, blob: bytes, count: int) -> None:
        """Write encoded Enhanced Packet Blocks, switching files where a condition says so."""
        if self.failed is not None:
            raise self.failed
        if self._due():
            self._switch()
        try:
            self._poll_keys()
            opts = self.opts
            while True:
                f = self.file
                room_frames = opts.packets - f.frames if opts.packets else count
                room_bytes = opts.filesize - f.good if opts.filesize else len(blob)
                if count <= room_frames and len(blob) <= room_bytes:
                    f.write_blocks(blob, count)
                    return
                cut, n = _cut(blob, room_bytes, room_frames, force=f.frames == 0)
                if n:
                    f.write_blocks(blob[:cut], n)
                    blob, count = blob[cut:], count - n
                self._switch()
        except OSError as exc:
            self._fail(exc)
            raise

    def _fail(self, exc: OSError) -> None:
        """Refuse further writes; the error names the file that could not be written (or created)."""
        if self.failed is None:
            self.failed = exc
            self.failed_path = self.failed_path or self.file.path

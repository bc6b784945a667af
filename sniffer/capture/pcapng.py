"""A pcapng writer for live capture: whole batches per write(2), nanosecond stamps, safe on disk full.

Why not scapy's PcapNgWriter: it builds each block with several small packs and writes per packet
through a buffered file; measured here (bench/bench_live.py --writer) it costs several µs per frame,
a large multiple of the whole receive path. This writer takes a batch of Enhanced Packet Blocks packed
by sniffer.capture.blocks (compiled: from frames, or straight from ring blocks) and issues a single
unbuffered ``os.write`` per batch, so nothing waits in a user-space buffer: a ``kill -9`` loses at most
the batch being written (batches leave the ring at least every 10 ms).

On a write error (ENOSPC, EIO, EDQUOT) the file is cut back to the end of the last complete block,
so what was written stays a valid capture that tshark opens; the error is raised for the caller to
report, and the writer refuses further writes.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Callable

import sniffer
from sniffer.capture.blocks import encode  # re-exported: the live writers' EPBs

_EPB = struct.Struct("<IIIIIII")  # type 6, total length, interface id, ts high, ts low, captured, original
_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")  # indexed by len % 4


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _block(btype: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


def header(linktype: int, snaplen: int, ifname: str, filter_expr: str | None = None) -> bytes:
    """Section Header Block + one Interface Description Block (timestamps in ns)."""
    shb_opts = _option(4, f"mqttsniff {sniffer.__version__}".encode()) + _option(0, b"")  # shb_userappl
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts)
    idb_opts = _option(2, ifname.encode()) + _option(9, bytes([9]))  # if_name, if_tsresol = 10^-9
    if filter_expr:
        idb_opts += _option(11, b"\0" + filter_expr.encode())  # if_filter, libpcap string form
    idb = _block(1, struct.pack("<HHI", linktype, 0, snaplen) + idb_opts + _option(0, b""))
    return shb + idb


def header_multi(interfaces: list[tuple[int, int, str, str | None]]) -> bytes:
    """Section Header Block + one Interface Description Block per (linktype, snaplen, name, filter)."""
    blocks = [header(*interfaces[0])]
    for linktype, snaplen, ifname, filter_expr in interfaces[1:]:
        one = header(linktype, snaplen, ifname, filter_expr)
        blocks.append(one[int.from_bytes(one[4:8], "little") :])  # its IDB, without the SHB
    return b"".join(blocks)


def encode_records(records: list, comments: dict[int, str] | None = None) -> bytes:
    """EPBs for merged records (ts, data, orig_len, linktype, ticks, tsresol, interface id), ns stamps;
    `comments` puts an opt_comment (tshark's frame.comment) on the records at those positions."""
    pack = _EPB.pack
    parts: list[bytes] = []
    append = parts.append
    for k, rec in enumerate(records):
        data = rec[1]
        res = rec[5]
        ns = rec[4] * 10 ** (9 - res) if res <= 9 else round(rec[0] * 1e9)
        n = len(data)
        pad = _PAD[n & 3]
        opts = b""
        if comments and k in comments:
            opts = _option(1, comments[k].encode()) + _option(0, b"")
        total = 32 + n + len(pad) + len(opts)
        append(pack(6, total, rec[6], ns >> 32, ns & 0xFFFFFFFF, n, rec[2]))
        append(data)
        append(pad + opts + total.to_bytes(4, "little"))
    return b"".join(parts)


def secrets_block(keylog_lines: bytes) -> bytes:
    """A Decryption Secrets Block carrying NSS key log lines (secrets type "TLSK"), as editcap
    --inject-secrets writes: Wireshark then opens the file decrypted."""
    body = struct.pack("<II", 0x544C534B, len(keylog_lines)) + keylog_lines + _PAD[len(keylog_lines) & 3]
    return _block(10, body)


class PcapngWriter:
    """Appends batches to ``path`` (created with mode 0644 by whoever runs this: drop privileges first)."""

    def __init__(self, path: str, linktype: int, snaplen: int, ifname: str, filter_expr: str | None = None) -> None:
        self._open(path, header(linktype, snaplen, ifname, filter_expr))

    @classmethod
    def with_header(cls, path: str, head: bytes) -> PcapngWriter:
        """A writer whose file starts with ``head`` (header() or header_multi()): one file of a ring."""
        writer = cls.__new__(cls)
        writer._open(path, head)
        return writer

    def _open(self, path: str, head: bytes) -> None:
        """Create the file and write its header blocks; every writer's state starts here."""
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        self.good = 0  # end of the last complete block on disk
        self.frames = 0
        self.failed: OSError | None = None
        # key log lines appended since the last call (sniffer.tls.keylog.KeyLogTail), written as a
        # Decryption Secrets Block before the batch that follows them
        self.secrets: Callable[[], bytes] | None = None
        self.late_secrets = False  # a secrets block follows packets: close() moves them all to the front
        try:
            self._write(head)
        except OSError:
            os.close(self.fd)  # no file to write to: nothing may keep it open
            self.fd = -1
            raise

    def _write(self, blob: bytes) -> None:
        if self.failed is not None:
            raise self.failed
        view = memoryview(blob)
        done = 0
        try:
            while done < len(blob):
                done += os.write(self.fd, view[done:])
        except OSError as exc:
            self.failed = exc
            # Keep every whole block that reached the file and cut the partial one away, so the file
            # stays a valid capture (cutting also frees the space on a full disk).
            end = 0
            while end + 8 <= len(blob):
                size = int.from_bytes(blob[end + 4 : end + 8], "little")
                if end + size > done:
                    break
                if blob[end] == 6:  # an Enhanced Packet Block: one more frame kept
                    self.frames += 1
                end += size
            self.good += end
            try:
                os.ftruncate(self.fd, self.good)
                os.lseek(self.fd, self.good, os.SEEK_SET)
            except OSError:
                pass
            raise
        self.good += len(blob)

    def write(self, frames: list, stamps: list[int]) -> None:
        """Write one batch; raises OSError (the file keeps every earlier batch)."""
        if frames:
            self.write_epbs(encode(frames, stamps), len(frames))

    def write_epbs(self, blob: bytes, frames: int) -> None:
        """Write a batch of Enhanced Packet Blocks encoded already (``frames`` of them; after the key log
        lines that came since the last batch); raises OSError like write()."""
        if frames:
            self.write_blocks(self._keys_before(blob), frames)

    def _keys_before(self, blob: bytes) -> bytes:
        """``blob`` after a Decryption Secrets Block with the key log lines that came since the last batch."""
        if self.secrets is not None:
            lines = self.secrets()
            if lines:
                self.late_secrets |= self.frames > 0
                return secrets_block(lines) + blob
        return blob

    def write_blocks(self, blob: bytes, frames: int) -> None:
        """Write Enhanced Packet Blocks encoded already (``frames`` of them); raises OSError like write()."""
        self._write(blob)
        self.frames += frames

    def write_secrets(self, keylog_lines: bytes) -> None:
        """A Decryption Secrets Block now; after packets, close() moves it to the front."""
        self._write(secrets_block(keylog_lines))
        self.late_secrets |= self.frames > 0

    def tick(self) -> None:
        """Nothing to switch: one file (sniffer.capture.ring.RingWriter switches files here)."""

    def until_switch(self) -> float | None:
        return None

    def written(self) -> str:
        """The summary's line on the -w file."""
        return f"{self.frames} packet{'' if self.frames == 1 else 's'} written to {self.path}"

    def failure(self, exc: OSError) -> str:
        """The line for a write that failed (disk full): what stopped and what the file keeps."""
        return (
            f"writing {self.path} failed: {exc.strerror or exc}; capture stopped, "
            f"the file keeps the {self.frames} frames written before"
        )

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.fsync(self.fd)
            os.close(self.fd)
            self.fd = -1
            if self.late_secrets and self.failed is None:
                with contextlib.suppress(OSError):
                    hoist_secrets(self.path)


def hoist_secrets(path: str) -> None:
    """Rewrite a pcapng file of ours with every Decryption Secrets Block right after the header blocks.

    A TLS client logs its keys a moment after the records they protect went by, so a live capture
    writes them after those records; Wireshark reads the file in one pass and would not decrypt
    them. The file on disk stays valid throughout (a new file replaces it whole)."""
    secrets: list[bytes] = []
    with open(path, "rb") as f:
        while True:
            head = f.read(8)
            if len(head) < 8:
                break
            btype, total = struct.unpack("<II", head)
            if total < 12:
                return  # not a file of ours: leave it alone
            if btype == 10:
                secrets.append(head + f.read(total - 8))
            else:
                f.seek(total - 8, os.SEEK_CUR)
    if not secrets:
        return
    tmp = f"{path}.mqttsniff-tmp"
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        written = False
        while True:
            head = src.read(8)
            if len(head) < 8:
                break
            btype, total = struct.unpack("<II", head)
            block = head + src.read(total - 8)
            if btype == 10:
                continue
            if not written and btype not in (0x0A0D0D0A, 1):  # after the section and interface headers
                dst.write(b"".join(secrets))
                written = True
            dst.write(block)
        if not written:
            dst.write(b"".join(secrets))
        dst.flush()
        os.fsync(dst.fileno())
    os.chmod(tmp, os.stat(path).st_mode & 0o777)
    os.replace(tmp, path)


class MultiPcapngWriter(PcapngWriter):
    """One pcapng for several capture sources: an Interface Description Block per source (name, link type,
    filter), each frame's Enhanced Packet Block naming its source's interface id."""

    def __init__(self, path: str, interfaces: list[tuple[int, int, str, str | None]]) -> None:
        self._open(path, header_multi(interfaces))

    def write_records(self, records: list, comments: dict[int, str] | None = None) -> None:
        """Write merged records (see encode_records); raises OSError (the file keeps every earlier batch)."""
        if records:
            self._write(self._keys_before(encode_records(records, comments)))
            self.frames += len(records)

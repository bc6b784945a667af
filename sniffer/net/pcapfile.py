"""Capture file readers: pcap (both byte orders, µs/ns, modified pcap) and pcapng.

open_capture(path) returns an iterable CaptureReader yielding
(ts: float, data: bytes, orig_len: int, linktype: int) per frame. "-" reads standard
input incrementally: each read returns what the pipe holds, so frames come out as
tcpdump -U writes them. Files are read in 64 KiB blocks and record headers read byte by
byte (native integers in the compiled build); no object is built per record beyond the
yielded tuple, which is as wide as the reader's `width` asks (sniffer.source's records).

Errors are CaptureError(message): missing file, permission denied, not a capture
(the magic is named), a record larger than MAX_FRAME. A file cut in the middle of a
record ends iteration cleanly with reader.truncated = True.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import sys
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, Final

from librt.strings import read_i32_be, read_i32_le

MAX_FRAME: Final = 256 * 1024  # loopback frames are 65,549 bytes; larger claims are corrupt files
MAX_BLOCK: Final = 16 * 1024 * 1024  # pcapng non-packet blocks (name resolution, secrets) may be big
# 64 KiB reads: a buffer joined from reads of 128 KiB or more is a fresh mmap for glibc's malloc each
# time, whose page faults cost more than the read (3.5x on a 239 MB capture of large frames)
BLOCK: Final = 1 << 16

PCAP_MAGICS: Final = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000, 16),
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000, 16),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000, 16),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000, 16),
    # Alexey Kuznetsov's modified pcap: 8 more bytes per record header (ifindex, protocol, type).
    b"\x34\xcd\xb2\xa1": ("<", 1_000_000, 24),
    b"\xa1\xb2\xcd\x34": (">", 1_000_000, 24),
}
PCAPNG_SHB: Final = b"\x0a\x0d\x0d\x0a"


class CaptureError(Exception):
    """A capture that cannot be read (the message is one line for the user)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _reader(f: BinaryIO) -> Callable[[int], bytes]:
    """A read(n) that returns what is available (at most one system read) or b"" at EOF."""
    read1 = getattr(f, "read1", None)
    return read1 if read1 is not None else f.read


class CaptureReader:
    """Iterate a capture's frames once. Attributes: path, format ("pcap"/"pcapng"),
    linktype (of the first interface, -1 if none yet), truncated."""

    def __init__(self, f: BinaryIO, path: str, close: bool = True) -> None:
        self.path = path
        self._f: BinaryIO | gzip.GzipFile = f
        self._close = close
        self._read = _reader(f)
        self.truncated = False
        # exact=True: before each record is yielded, ticks and tsresol hold its timestamp as the file
        # has it (an integer count of 10^-n s, or 2^-n s with bit 7 of tsresol set, as pcapng's
        # if_tsresol), if_tsoffset included; the UI saves frames with them, never through a float
        self.exact = False
        # the records' shape (sniffer.source): 4 = (ts, data, orig_len, linktype); 6 adds (ticks, tsresol)
        # ((0, 9) without exact), 7 the interface id, 8 the file offset of the data. Made here, in the
        # compiled loop, not by a generator around it (0.6 us a frame in pure Python).
        self.width = 4
        self.ticks = 0
        self.tsresol = 6
        self._ifx: list[tuple[int, int]] = []  # per pcapng interface: (if_tsresol, if_tsoffset in ticks)
        # TLS key log lines from pcapng Decryption Secrets Blocks, in file order (sniffer.tls reads them)
        self.secrets: list[bytes] = []
        # pcapng: each interface's if_name ("" if none), and the interface id of the record yielded last
        # (a capture merged from several sources: sniffer.source reads them into frame.interface_name)
        self.if_names: list[str] = []
        self.if_descriptions: list[str] = []  # each interface's if_description ("" if none)
        self.ifid = 0
        # exact=True on a plain file: the file offset of the record's frame bytes (-1: not known, as
        # in a gzipped capture or a pipe); the UI's store reads a frame there again instead of
        # keeping a copy (sniffer.store). _base is the file offset of _buf[0].
        self.offset = -1
        self.seekable = path != "-"
        self._base = 0
        self._buf = b""
        self._fill(4)
        magic = self._buf[:4]
        if len(magic) < 4:
            self.close()
            raise CaptureError(f"{path}: not a capture file (only {len(magic)} bytes)")
        if magic[:2] == b"\x1f\x8b" and not isinstance(f, gzip.GzipFile) and path != "-":
            # A gzipped capture (tshark reads those too): reopen through gzip.
            f.seek(0)
            gz = gzip.GzipFile(fileobj=f)  # type: ignore[arg-type]
            self._f, self._read, self._buf = gz, gz.read, b""
            self.seekable = False
            self._fill(4)
            magic = self._buf[:4]
        if magic in PCAP_MAGICS:
            self.format = "pcap"
            self._init_pcap(magic)
        elif magic == PCAPNG_SHB:
            self.format = "pcapng"
            self.linktype = -1
        else:
            self.close()
            raise CaptureError(
                f"{path}: not a pcap or pcapng capture (magic 0x{magic.hex()}, expected "
                "a1b2c3d4/d4c3b2a1/a1b23c4d/4d3cb2a1 or 0a0d0d0a)"
            )

    # -- plumbing ---------------------------------------------------------------
    def _fill(self, need: int) -> bool:
        """Read until self._buf holds `need` bytes; False at EOF before that."""
        buf = self._buf
        if len(buf) >= need:
            return True
        parts = [buf] if buf else []  # a single part is taken as it is, not copied
        have = len(buf)
        while have < need:
            try:
                chunk = self._read(max(BLOCK, need - have))
            except OSError as e:
                raise CaptureError(f"{self.path}: read error: {e.strerror or e}") from None
            except (EOFError, gzip.BadGzipFile, ValueError):  # cut or corrupt gzip stream
                chunk = b""
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        self._buf = b"".join(parts)
        return have >= need

    def fine_stamps(self) -> bool:
        """Records may be stamped finer than the microsecond: a nanosecond pcap, or any pcapng (each
        interface's if_tsresol says, as its block comes)."""
        return self.format == "pcapng" or self._div > 1_000_000

    def position(self) -> int:
        """Bytes of the file read so far (a load's progress), -1 where unknown (a pipe, a closed file)."""
        try:
            return os.lseek(self._f.fileno(), 0, os.SEEK_CUR)
        except (OSError, ValueError, AttributeError):
            return -1

    def close(self) -> None:
        if self._close:
            self._f.close()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _exact_ts(self, ifid: int, hi: int, lo: int) -> None:
        res, off = self._ifx[ifid]
        self.tsresol = res
        self.ticks = ((hi << 32) | lo) + off

    def _wide(self, ts: float, data: bytes, olen: int, lt: int) -> tuple[Any, ...]:
        """The record of the frame just read, `width` fields long."""
        ticks, res = (self.ticks, self.tsresol) if self.exact else (0, 9)
        w = self.width
        if w == 8:
            return ts, data, olen, lt, ticks, res, self.ifid, self.offset
        if w == 7:
            return ts, data, olen, lt, ticks, res, self.ifid
        return ts, data, olen, lt, ticks, res

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        if self.format == "pcap":
            return self._iter_pcap()
        return self._iter_pcapng()

    # -- pcap -------------------------------------------------------------------
    def _init_pcap(self, magic: bytes) -> None:
        self._endian, self._div, self._rechdr = PCAP_MAGICS[magic]
        if not self._fill(24):
            self.close()
            raise CaptureError(f"{self.path}: truncated pcap file header")
        network = struct.unpack_from(self._endian + "I", self._buf, 20)[0]
        self.linktype = network & 0xFFFF  # upper bits may carry the FCS length
        self._buf = self._buf[24:]
        self._base = 24

    def _iter_pcap(self) -> Iterator[tuple[Any, ...]]:
        hdr = struct.Struct(self._endian + "IIII").unpack_from
        div = float(self._div)
        lt = self.linktype
        rh = self._rechdr
        exact = self.exact
        width = self.width
        little = self._endian == "<"
        units: int = self._div
        self.tsresol = 9 if units == 1_000_000_000 else 6
        buf, pos, blen = self._buf, 0, len(self._buf)
        while True:
            if blen - pos < rh:
                self._base += pos
                self._buf = buf[pos:]
                if not self._fill(rh):
                    self.truncated = len(self._buf) > 0
                    return
                buf, pos, blen = self._buf, 0, len(self._buf)
            sec: int
            frac: int
            caplen: int
            olen: int
            if little:  # read natively in the compiled build (struct boxes four ints per record)
                sec = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16 | buf[pos + 3] << 24
                frac = buf[pos + 4] | buf[pos + 5] << 8 | buf[pos + 6] << 16 | buf[pos + 7] << 24
                caplen = buf[pos + 8] | buf[pos + 9] << 8 | buf[pos + 10] << 16 | buf[pos + 11] << 24
                olen = buf[pos + 12] | buf[pos + 13] << 8 | buf[pos + 14] << 16 | buf[pos + 15] << 24
            else:
                sec, frac, caplen, olen = hdr(buf, pos)
            if caplen > MAX_FRAME:
                raise CaptureError(
                    f"{self.path}: record claims {caplen} bytes (over {MAX_FRAME}): corrupt capture, stopping"
                )
            start = pos + rh
            end = start + caplen
            if end > blen:
                self._base += pos
                self._buf = buf[pos:]
                if not self._fill(rh + caplen):
                    self.truncated = True
                    return
                buf, pos, blen = self._buf, 0, len(self._buf)
                continue
            if exact:
                self.ticks = sec * units + frac
                self.offset = self._base + start
            if width == 4:
                yield sec + frac / div, buf[start:end], olen, lt
            else:
                yield self._wide(sec + frac / div, buf[start:end], olen, lt)
            pos = end

    # -- pcapng -----------------------------------------------------------------
    def _iter_pcapng(self) -> Iterator[tuple[Any, ...]]:
        e = "<"
        little = True
        # block header fields are read natively (struct.unpack_from boxes every field, and its format
        # string was built per block: 2.4 us a frame, where the pcap loop takes 0.5)
        ifaces: list[tuple[int, float, float, int]] = []  # (linktype, divisor, offset s, snaplen)
        width = self.width
        buf, pos, blen = self._buf, 0, len(self._buf)
        while True:
            if blen - pos < 12:
                self._base += pos
                self._buf = buf[pos:]
                if not self._fill(12):
                    self.truncated = len(self._buf) > 0
                    return
                buf, pos, blen = self._buf, 0, len(self._buf)
            if buf[pos] == 0x0A and buf[pos : pos + 4] == PCAPNG_SHB:
                bom = buf[pos + 8 : pos + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    e = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    e = ">"
                else:
                    raise CaptureError(f"{self.path}: bad pcapng byte-order magic 0x{bom.hex()}")
                little = e == "<"
                ifaces = []  # interfaces are per section
                self._ifx = []
                self.if_names.clear()
                self.if_descriptions.clear()
            btype = _u32(buf, pos, little)
            blocklen = _u32(buf, pos + 4, little)
            # (shorter than its own fixed fields: they would be read past its end)
            if blocklen < _min_block(btype) or blocklen % 4 or blocklen > MAX_BLOCK:
                raise CaptureError(f"{self.path}: corrupt pcapng block (type {btype}, length {blocklen}), stopping")
            end = pos + blocklen
            if end > blen:
                self._base += pos
                self._buf = buf[pos:]
                if not self._fill(blocklen):
                    self.truncated = True
                    return
                buf, pos, blen = self._buf, 0, len(self._buf)
                continue
            if btype == 6 or btype == 2:  # Enhanced Packet Block; obsolete Packet Block (16-bit ids)
                if btype == 6:
                    ifid = _u32(buf, pos + 8, little)
                else:
                    ifid = buf[pos + 8] | buf[pos + 9] << 8 if little else buf[pos + 8] << 8 | buf[pos + 9]
                hi = _u32(buf, pos + 12, little)
                lo = _u32(buf, pos + 16, little)
                caplen = _u32(buf, pos + 20, little)
                olen = _u32(buf, pos + 24, little)
                if caplen > MAX_FRAME or 28 + caplen > blocklen - 4:
                    raise CaptureError(f"{self.path}: packet block claims {caplen} bytes: corrupt capture, stopping")
                if ifid < len(ifaces):
                    if self.exact:
                        self._exact_ts(ifid, hi, lo)
                        self.offset = self._base + pos + 28
                    self.ifid = ifid
                    lt, div, tsoff, _ = ifaces[ifid]
                    ts = ((hi << 32) | lo) / div if hi < 0x80000000 else _signed_ts(hi, lo, div)
                    if width == 4:
                        yield ts + tsoff, buf[pos + 28 : pos + 28 + caplen], olen, lt
                    else:
                        yield self._wide(ts + tsoff, buf[pos + 28 : pos + 28 + caplen], olen, lt)
            elif btype == 3:  # Simple Packet Block: interface 0, no timestamp
                olen = _u32(buf, pos + 8, little)
                if ifaces:
                    self.ticks = 0  # no timestamp
                    self.tsresol = self._ifx[0][0]
                    self.offset = self._base + pos + 12
                    self.ifid = 0
                    lt, div, tsoff, snap = ifaces[0]
                    caplen = min(olen, blocklen - 16, snap or MAX_FRAME)
                    if caplen > MAX_FRAME:
                        raise CaptureError(
                            f"{self.path}: packet block claims {caplen} bytes: corrupt capture, stopping"
                        )
                    if width == 4:
                        yield 0.0, buf[pos + 12 : pos + 12 + caplen], olen, lt
                    else:
                        yield self._wide(0.0, buf[pos + 12 : pos + 12 + caplen], olen, lt)
            elif btype == 10:  # Decryption Secrets Block: TLS key log lines ("TLSK")
                stype = _u32(buf, pos + 8, little)
                slen = _u32(buf, pos + 12, little)
                if stype == 0x544C534B and 20 + slen <= blocklen:
                    self.secrets.append(buf[pos + 16 : pos + 16 + slen])
            elif btype == 1:  # Interface Description Block
                ifaces.append(_parse_idb(buf, pos, blocklen, e))
                if self.linktype == -1:
                    self.linktype = ifaces[-1][0]
                self._ifx.append(_idb_exact(buf, pos, blocklen, e))
                self.if_names.append(_idb_name(buf, pos, blocklen, e))
                self.if_descriptions.append(_idb_name(buf, pos, blocklen, e, 3))
            pos = end


def _min_block(btype: int) -> int:
    """The shortest a block of this type can be: its header, the fixed fields read here, its trailing length."""
    if btype == 6 or btype == 2:  # (Enhanced) Packet Block
        return 32
    if btype == 3:
        return 16
    if btype == 1 or btype == 10:  # Interface Description, Decryption Secrets
        return 20
    return 28 if btype == 0x0A0D0D0A else 12  # Section Header


def _u32(b: bytes, p: int, little: bool) -> int:
    """The unsigned 32-bit integer at b[p:p + 4] (read natively in the compiled build: librt)."""
    v: int = read_i32_le(b, p) if little else read_i32_be(b, p)
    return v & 0xFFFF_FFFF


def _signed_ts(hi: int, lo: int, div: float) -> float:
    """Seconds of a pcapng timestamp of 2^63 ticks or more, read as Wireshark reads it.

    wiretap divides the unsigned 64-bit tick count by the resolution and stores the quotient in a
    (signed) time_t: with whole-second resolution, 2^64-1 ticks is -1 s. Reading them alike keeps
    our times equal to tshark's for such (corrupt or deliberately extreme) stamps.
    """
    units = int(div)
    ticks = (hi << 32) | lo
    sec = ticks // units
    if sec >= 1 << 63:
        sec -= 1 << 64
    return sec + (ticks % units) / div


def _idb_options(buf: bytes, pos: int, blocklen: int, e: str) -> tuple[int, int]:
    """(if_tsresol byte, if_tsoffset in whole seconds) of an Interface Description Block (6, 0 if absent)."""
    res, off = 6, 0
    p, end = pos + 16, pos + blocklen - 4
    while p + 4 <= end:
        code, ln = struct.unpack_from(e + "HH", buf, p)
        if code == 0:
            break
        v = p + 4
        if code == 9 and ln >= 1 and v < end:  # if_tsresol: 10^-n, or 2^-n with the top bit set
            res = buf[v]
        elif code == 14 and ln >= 8 and v + 8 <= end:  # if_tsoffset, seconds
            off = struct.unpack_from(e + "q", buf, v)[0]
        p = v + ((ln + 3) & ~3)
    return res, off


def _idb_name(buf: bytes, pos: int, blocklen: int, e: str, code_wanted: int = 2) -> str:
    """An Interface Description Block's if_name (option 2; if_description: 3), "" if it has none (as written:
    the tree's labels escape it, sniffer.pipeline)."""
    p, end = pos + 16, pos + blocklen - 4
    while p + 4 <= end:
        code, ln = struct.unpack_from(e + "HH", buf, p)
        if code == 0:
            break
        if code == code_wanted:
            return bytes(buf[p + 4 : min(p + 4 + ln, end)]).decode("utf-8", "replace")
        p += 4 + ((ln + 3) & ~3)
    return ""


def leading_interfaces(path: str) -> list[str]:
    """The if_names of the Interface Description Blocks a pcapng file opens with ([] if not pcapng or unreadable)."""
    return [_idb_name(head, pos, n, e) for head, pos, n, e in _leading_idbs(path)]


def leading_resolutions(path: str) -> list[int]:
    """The if_tsresol bytes of the Interface Description Blocks a pcapng file opens with (6 where absent)."""
    return [_idb_options(head, pos, n, e)[0] for head, pos, n, e in _leading_idbs(path)]


def _leading_idbs(path: str) -> list[tuple[bytes, int, int, str]]:
    """(the file's first 64 KiB, offset, length, byte order) of each IDB among its first blocks."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return []
    if head[:4] != PCAPNG_SHB or len(head) < 12:
        return []
    e = "<" if head[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    out, pos = [], 0
    while pos + 12 <= len(head):
        btype, blocklen = struct.unpack_from(e + "II", head, pos)
        if blocklen < 12 or pos + blocklen > len(head) or btype not in (0x0A0D0D0A, 1):
            break
        if btype == 1:
            out.append((head, pos, blocklen, e))
        pos += blocklen
    return out


def _idb_exact(buf: bytes, pos: int, blocklen: int, e: str) -> tuple[int, int]:
    """(if_tsresol byte, if_tsoffset in ticks of that resolution) of an IDB, for exact timestamps."""
    res, off = _idb_options(buf, pos, blocklen, e)
    units = 2 ** (res & 0x7F) if res & 0x80 else 10**res
    return res, off * units


def _parse_idb(buf: bytes, pos: int, blocklen: int, e: str) -> tuple[int, float, float, int]:
    lt, _res, snap = struct.unpack_from(e + "HHI", buf, pos + 8)
    res, off = _idb_options(buf, pos, blocklen, e)
    div = float(2 ** (res & 0x7F)) if res & 0x80 else float(10**res)
    return lt, div, float(off), snap


def open_capture(path: str) -> CaptureReader:
    """Open a pcap/pcapng file ("-" = standard input) for iteration."""
    if path == "-":
        stdin = sys.stdin.buffer
        return CaptureReader(stdin, "-", close=False)
    try:
        f = open(path, "rb", buffering=0)  # noqa: SIM115 -- the reader owns and closes it
    except FileNotFoundError:
        raise CaptureError(f"{path}: no such file") from None
    except PermissionError:
        raise CaptureError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise CaptureError(f"{path}: is a directory, not a capture file") from None
    except OSError as e:
        raise CaptureError(f"{path}: cannot open: {e.strerror or e}") from None
    return CaptureReader(io.BufferedReader(f, buffer_size=BLOCK), path)


# -- exact timestamps: a record's (ticks, tsresol) in ns, and the decimals tshark shows it with --------
def us_ns(us: int) -> int:
    """us * 1000 by shifts: the compiled build multiplies on a slow path (both factors boxed, ~800 instructions)
    once a factor reaches 2^31, as every count of microseconds since 1970 does; shifts stay native."""
    return (us << 10) - (us << 4) - (us << 3)


def float_us_ns(ts: float) -> int:
    """The ns of a time read from a microsecond stamp as a float (which holds its microseconds exactly), 0 past
    any real time; as round(ts * 1e6) * 1000 without a builtin call and a boxed product a frame."""
    if not -1e15 < ts < 1e15:
        return 0
    u = ts * 1e6
    return us_ns(int(u + 0.5) if u >= 0 else -int(0.5 - u))


def stamp_ns(ticks: int, tsresol: int) -> int:
    """A record's time in integer ns (floored, as wiretap converts). A float since 1970 holds only ~0.24 us;
    a microsecond file read without exact stamps keeps the float path (sniffer.source.FileSource), one read
    exactly (another interface of it is finer) counts in ns too, so that frames of both compare exactly."""
    if tsresol == 9:
        return ticks
    if tsresol == 6:
        return us_ns(ticks)
    units = 1 << (tsresol & 0x7F) if tsresol & 0x80 else 10**tsresol  # 2^-n or 10^-n s
    secs, rest = divmod(ticks, units)
    if secs >= 1 << 63:  # wiretap keeps the seconds of a 64-bit tick count in a signed time_t
        secs -= 1 << 64
    return secs * 1_000_000_000 + rest * 1_000_000_000 // units


def _digits(tsresol: int) -> int:
    """The decimals tshark 4 shows a time of this resolution with in its Time column: the finest of 0, 1, 2,
    3, 6 and 9 that the resolution reaches (10^-7 s: 6; 2^-10 s, 0.98 ms: 3; 2^-30 s: 9)."""
    if tsresol & 0x80:
        n = tsresol & 0x7F
        reach = min(int(n * 0.30102999566398120), 9)  # floor(n * log10(2)) for the n a byte holds
    else:
        reach = min(tsresol, 9)
    return max(d for d in (0, 1, 2, 3, 6, 9) if d <= reach)


DIGITS: Final = tuple(_digits(r) for r in range(256))  # by tsresol byte

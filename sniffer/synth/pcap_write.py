"""Capture-file writers for generated traffic: a fast buffered classic-pcap writer and pcapng via scapy.

Timestamps are integer microseconds (nanoseconds for `nanosecond=True` files are derived from
them) so long generated captures never drift through float rounding.  The pcap writer batches
record headers and frames into one write per few thousand frames: it is on the generator's hot path.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101

_REC = struct.Struct("<IIII")


class PcapWriter:
    """Little-endian pcap (magic a1b2c3d4, µs, or a1b23c4d, ns) with a fixed link type."""

    def __init__(
        self,
        dest: str | BinaryIO,
        linktype: int = LINKTYPE_ETHERNET,
        snaplen: int = 262144,
        nanosecond: bool = False,
    ) -> None:
        self._own = isinstance(dest, str)
        self._f: BinaryIO = open(dest, "wb") if isinstance(dest, str) else dest  # noqa: SIM115
        self._ns = nanosecond
        self._snaplen = snaplen
        self._buf: list[bytes] = []
        self.frames = 0
        self.bytes = 0
        magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
        self._f.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))

    def write(self, ts_us: int, frame: bytes) -> None:
        """Append one frame captured at `ts_us` microseconds since the epoch."""
        n = len(frame)
        sec, frac = divmod(ts_us, 1_000_000)
        if self._ns:
            frac *= 1000
        cap = min(n, self._snaplen)
        self._buf.append(_REC.pack(sec, frac, cap, n))
        self._buf.append(frame if cap == n else frame[:cap])
        self.frames += 1
        self.bytes += n
        if len(self._buf) >= 16384:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            self._f.write(b"".join(self._buf))
            self._buf.clear()

    def close(self) -> None:
        self.flush()
        if self._own:
            self._f.close()
        else:
            self._f.flush()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FrameList:
    """A sink that keeps frames in memory: `frames_list` holds (ts_us, frame) in write order."""

    def __init__(self) -> None:
        self.frames_list: list[tuple[int, bytes]] = []

    @property
    def frames(self) -> int:
        return len(self.frames_list)

    def write(self, ts_us: int, frame: bytes) -> None:
        self.frames_list.append((ts_us, frame))

    def save(self, path: str, linktype: int = LINKTYPE_ETHERNET) -> None:
        """Write the kept frames to `path`: pcapng if it ends in .pcapng, classic pcap otherwise."""
        if path.endswith(".pcapng"):
            write_pcapng(path, self.frames_list, linktype)
            return
        with PcapWriter(path, linktype) as w:
            for ts, fr in self.frames_list:
                w.write(ts, fr)


def write_pcapng(path: str, frames: list[tuple[int, bytes]], linktype: int = LINKTYPE_ETHERNET) -> None:
    """pcapng through scapy's writer (imported lazily, never scapy.all: it costs a second to start)."""
    from scapy.utils import RawPcapNgWriter  # noqa: PLC0415

    w = RawPcapNgWriter(path)
    w.linktype = linktype  # the raw writer takes the link type for its interface block from here
    try:
        w._write_header(None)
        for ts_us, fr in frames:
            sec, usec = divmod(ts_us, 1_000_000)
            w.write_packet(fr, sec=sec, usec=usec, caplen=len(fr), wirelen=len(fr))
    finally:
        w.close()

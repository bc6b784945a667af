"""Write stored frames to a pcapng file (one interface block per link type, timestamp resolution and source),
from the store's spill, with each frame's timestamp exactly as it was captured (integer ticks)."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable
from typing import Any

import sniffer

MAX_TICKS = (1 << 64) - 1


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _block(btype: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


def _shb() -> bytes:
    opts = _option(4, f"mqttsniff {sniffer.__version__}".encode()) + _option(0, b"")
    return _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + opts)


def _idb(linktype: int, tsresol: int, name: str = "") -> bytes:
    opts = _option(9, bytes([tsresol]))  # if_tsresol: the source's resolution
    if name:  # merged sources keep their names (frame.interface_name)
        opts += _option(2, name.encode())
    opts += _option(0, b"")
    return _block(1, struct.pack("<HHI", linktype, 0, 0) + opts)


def write_pcapng(path: str, store: Any, rows: Iterable[int], progress: Callable[[int], None] | None = None) -> int:
    """Write `rows` of `store` to `path`; returns the number of frames written (OSError on failure)."""
    interfaces: dict[tuple[int, int, str], int] = {}
    name_of = getattr(store, "interface_name", None)
    n = 0
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(_shb())
        for i in rows:
            _ts, data, orig_len, linktype = store.raw(i)
            ticks, tsresol = store.exact_ts(i)
            name = name_of(i) if name_of is not None else ""
            ifid = interfaces.get((linktype, tsresol, name))
            if ifid is None:
                ifid = interfaces[linktype, tsresol, name] = len(interfaces)
                f.write(_idb(linktype, tsresol, name))
            ticks = min(max(ticks, 0), MAX_TICKS)  # an EPB holds 64 unsigned bits (extreme stamps clamped)
            pad = b"\0" * (-len(data) % 4)
            total = 32 + len(data) + len(pad)
            f.write(struct.pack("<IIIIIII", 6, total, ifid, ticks >> 32, ticks & 0xFFFFFFFF, len(data), orig_len))
            f.write(data)
            f.write(pad + struct.pack("<I", total))
            n += 1
            if progress is not None and n % 10000 == 0:
                progress(n)
    os.replace(tmp, path)
    return n

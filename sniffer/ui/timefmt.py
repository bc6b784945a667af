"""The packet list's Time column in Wireshark's View → Time Display Formats, and the time reference.

Pure functions of stored timestamps (no Textual here): the list asks for the cells it draws only.
A time reference (Wireshark's Ctrl+T) makes the reference frame show `*REF*` and the relative and
delta times of the frames after it count from it, as in Wireshark.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Final

RELATIVE: Final = "relative"
ABSOLUTE: Final = "absolute"
DELTA: Final = "delta"
EPOCH: Final = "epoch"
MODES: Final = (RELATIVE, ABSOLUTE, DELTA, EPOCH)
# Wireshark's menu names, for the status bar and the command palette
TITLES: Final = {
    RELATIVE: "Seconds since beginning of capture",
    ABSOLUTE: "UTC date and time of day",
    DELTA: "Seconds since previous displayed packet",
    EPOCH: "Seconds since 1970-01-01 (epoch)",
}
# the status bar's words for them (short: it is full at 80 columns)
SHORT: Final = {RELATIVE: "relative", ABSOLUTE: "UTC", DELTA: "delta", EPOCH: "epoch"}
REF: Final = "*REF*"
NOT_REPRESENTABLE: Final = "Not representable"
ABS_WIDTH: Final = len("1970-01-01 00:00:00.000000")
_EPOCH0: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)


def absolute(ts: float) -> str:
    """UTC date and time to the microsecond: "2024-05-29 08:00:02.337100" (never the local zone:
    two people comparing captures from different places see the same text)."""
    try:
        sec, us = divmod(round(ts * 1_000_000), 1_000_000)
        t = _EPOCH0 + timedelta(seconds=sec)
    except (OverflowError, ValueError):  # inf, nan, or past year 9999
        return NOT_REPRESENTABLE
    return f"{t:%Y-%m-%d %H:%M:%S}.{us:06d}"


def cell(mode: str, ts: float, rel: float, prev_ts: float | None, ref_ts: float | None) -> str:
    """The Time cell of a frame at `ts` (`rel` seconds after the capture's first frame); `prev_ts`:
    the previous displayed frame's time (None: this is the first); `ref_ts`: the time of the last
    reference frame at or before this one (None: no reference applies)."""
    if mode == ABSOLUTE:
        return absolute(ts)
    if mode == EPOCH:
        return f"{ts:.6f}"
    if mode == DELTA:
        return f"{ts - prev_ts:.6f}" if prev_ts is not None else "0.000000"
    return f"{ts - ref_ts:.6f}" if ref_ts is not None else f"{rel:.6f}"


def width(mode: str, rel_len: int, first_ts: float | None, last_ts: float | None) -> int:
    """Characters the Time column needs in `mode`: `rel_len` is the widest relative time stored;
    differences between frames (delta, from a reference) are bounded by it, plus a minus sign for
    frames out of order."""
    if mode == ABSOLUTE:
        return ABS_WIDTH
    if mode == EPOCH:
        return max((len(f"{t:.6f}") for t in (first_ts, last_ts) if t is not None), default=rel_len)
    return rel_len + 1 if mode == DELTA else rel_len


def next_mode(mode: str) -> str:
    return MODES[(MODES.index(mode) + 1) % len(MODES)]

"""The packet list's Time column in Wireshark's View → Time Display Formats, and the time reference.

Pure functions of stored timestamps (no Textual here): the list asks for the cells it draws only.
A time reference (Wireshark's Ctrl+T) makes the reference frame show `*REF*` and the relative and
delta times of the frames after it count from it, as in Wireshark.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Final

from sniffer.net.tree import ns_seconds

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
ABS_BASE: Final = len("1970-01-01 00:00:00")  # then a point and the decimals
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


def absolute_ns(ns: int, digits: int) -> str:
    """UTC date and time of an integer count of ns since 1970, with `digits` decimals (the rest cut off,
    as Wireshark's column does): "2024-05-29 08:00:02.337100123"."""
    secs, frac = divmod(ns, 1_000_000_000)
    try:
        t = _EPOCH0 + timedelta(seconds=secs)
    except OverflowError:  # past year 9999 (or before year 1)
        return NOT_REPRESENTABLE
    return f"{t:%Y-%m-%d %H:%M:%S}.{frac:09d}"[: ABS_BASE + 1 + digits] if digits else f"{t:%Y-%m-%d %H:%M:%S}"


def cell(mode: str, ns: int, rel_ns: int, prev_ns: int | None, ref_ns: int | None, digits: int) -> str:
    """The Time cell of a frame at `ns` (integer ns since 1970; `rel_ns` after the capture's first frame),
    with `digits` decimals, those of its resolution (six for a microsecond capture, nine for nanoseconds:
    Wireshark's automatic precision); `prev_ns`: the previous displayed frame's time (None: this is the
    first); `ref_ns`: the time of the last reference frame at or before this one (None: no reference)."""
    if mode == ABSOLUTE:
        return absolute_ns(ns, digits)
    if mode == EPOCH:
        return ns_seconds(ns, digits)
    if mode == DELTA:
        return ns_seconds(ns - prev_ns if prev_ns is not None else 0, digits)
    return ns_seconds(ns - ref_ns if ref_ns is not None else rel_ns, digits)


def width(mode: str, rel_min: int, rel_max: int, first_ns: int | None, digits: int, ref: bool) -> int:
    """Characters the Time column needs in `mode`: `rel_min`/`rel_max` are the extremes of the stored times
    since the first frame (ns), `digits` the most decimals a stored row shows, `ref` whether a time reference
    is set. A delta, or a time from a reference, is at most the span between the extremes, either way."""
    if mode == ABSOLUTE:
        return ABS_BASE + (1 + digits if digits else 0)
    if mode == EPOCH:
        first = first_ns or 0
        return max(len(ns_seconds(first + rel_min, digits)), len(ns_seconds(first + rel_max, digits)))
    span = len(ns_seconds(rel_min - rel_max, digits))  # (the widest difference: negative, out of order)
    if mode == DELTA:
        return span
    rel = max(len(ns_seconds(rel_min, digits)), len(ns_seconds(rel_max, digits)))
    return max(rel, span) if ref else rel


def next_mode(mode: str) -> str:
    return MODES[(MODES.index(mode) + 1) % len(MODES)]

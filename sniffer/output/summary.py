"""Headless summary lines (`mqttsniff -r FILE`) without a Frame per frame.

The plain summary prints one line per frame and keeps nothing, so building a `Frame`
(16 slots) only to read seven of them back is most of its cost. `SummaryDissector` runs
the very same `Dissector.frame()` (link/IP/TCP parse, reassembly, MQTT framing) but
hands the row's fields to a formatter instead of `Frame`, so frame() returns the line.
The "src → dst" pair of columns is formatted once per stream direction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from sniffer.net.frame import addr_str
from sniffer.net.reassembly import Seg
from sniffer.output.text import ADDR_PAIR, SUMMARY_TAIL
from sniffer.pipeline import Dissector, frame_info

BATCH = 4096  # lines per write when reading a file


class SummaryDissector(Dissector):
    """A Dissector whose frame() returns the tshark summary line of the frame (a str)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pairs: dict[int, str] = {}  # 2 * stream + direction -> formatted address columns
        self._row = self._line  # type: ignore[assignment]

    def _line(
        self,
        number: int,
        ts: float,
        rel_ts: float,
        delta: float,
        linktype: int,
        data: bytes,
        orig_len: int,
        proto: str,
        info: str | int,
        stream: int = -1,
        seg: Seg | None = None,
        pdus: list | None = None,
        addrs: tuple[int, bytes, bytes] | None = None,
        toff: int = -1,
        src: str = "",
        dst: str = "",
    ) -> str:
        """Frame's arguments in, summary_line() of that Frame out."""
        if seg is None:
            pair = ADDR_PAIR % (src, dst)
        else:
            key = 2 * stream + seg.direction
            pair = self._pairs.get(key)
            if pair is None:
                pair = self._pairs[key] = ADDR_PAIR % (addr_str(addrs[0], addrs[1]), addr_str(addrs[0], addrs[2]))
        if type(info) is not str:
            info = frame_info(info, pdus, seg, toff, data, linktype)
        return SUMMARY_TAIL % (number, rel_ts, pair, proto, orig_len, info)


def print_summaries(
    dissector: SummaryDissector,
    records: Iterable[tuple[float, bytes, int, int]],
    out: TextIO,
    line_buffered: bool = False,
) -> int:
    """Print the summary line of every record; returns the number of frames read."""
    frame = dissector.frame
    lines: list[str] = []
    batch = 1 if line_buffered else BATCH
    number = 0
    try:
        for ts, data, orig_len, linktype in records:
            number += 1
            lines.append(frame(number, ts, linktype, data, orig_len))
            if number % batch == 0:
                out.write("\n".join(lines) + "\n")
                lines.clear()
                if line_buffered:
                    out.flush()
    finally:
        if lines:
            out.write("\n".join(lines) + "\n")
        out.flush()
    return number

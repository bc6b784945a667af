"""Packet sources for the UI: sniffer.source's, with a file's exact timestamps kept.

The UI saves frames (`w`) with the timestamps the file had (see CaptureReader.exact), so its
FileSource reads them; everything else is sniffer.source itself.
"""

from __future__ import annotations

from sniffer import source
from sniffer.source import BATCH, LiveSource, MemorySource, Record
from sniffer.source import Source as PacketSource

__all__ = ["BATCH", "FileSource", "LiveSource", "MemorySource", "PacketSource", "Record"]


class FileSource(source.FileSource):
    """A pcap/pcapng file for the UI: records carry their exact timestamps (ticks, tsresol), and
    where the frame's bytes lie in the file (the store reads them there again: sniffer.store)."""

    def __init__(self, path: str, count: int | None = None, name: str | None = None) -> None:
        # (its dissector is handed each frame's ns, as headless: the TCP streams' times are exact)
        super().__init__(path, count, name, exact=True, offsets=True)

"""`-2`: the first of two passes over a file, as tshark's `-2`.

A response is only known after its request, so a single pass can put `mqtt.response_in`,
`mqtt.delivered_in` and the like only on frames already printed. The first pass dissects the
file with a recording tracker and returns what later frames changed in earlier ones
(`tracker.backfill`); the second pass hands it to a fresh Dissector (`prefill=`), whose tracker
applies it as each frame is annotated, so every output shows it on the earlier frames.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import Any

from sniffer.net.pcapfile import open_capture
from sniffer.pipeline import TrackingDissector
from sniffer.session.backfill import Backfill


def first_pass(path: str, count: int | None, ports: Iterable[int], **kw: Any) -> Backfill:
    """Dissect the first `count` frames (all if None) of `path`; the tracker's backfill."""
    dissector = TrackingDissector(ports, record=True, **kw)
    reader = open_capture(path)
    frames = iter(reader) if count is None else islice(reader, count)
    frame = dissector.frame
    for number, (ts, data, orig_len, linktype) in enumerate(frames, 1):
        frame(number, ts, linktype, data, orig_len)
    assert dissector.tracker is not None
    return dissector.tracker.backfill

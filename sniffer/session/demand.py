"""When the session layer has to run: only when an output shows what it says.

The tracker adds about 2,800 instructions per frame (9 % of the summary pass, 20-30 % of its CPU
time on a busy machine: bench/RESULTS.md); the summary lines and most `-T fields` columns show
nothing of it, so a headless pass runs it only for -V, JSON, the session's fields named with -e,
a display filter that uses them, statistics and the UI (which always shows it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# The fields the session layer fills (sniffer.session.fields), and Wireshark's expert-info fields,
# which gather its notes with every other one.
SESSION_FIELD = re.compile(
    r"(?<![\w.])(?:mqtt\.(?:client|direction|response_in|response_to|time|flow_time|publisher|published_in"
    r"|fanout_delay|delivered_in|analysis)|_ws\.expert)(?![\w])"
)


def needed(fmt: str, verbose: bool, fields: Iterable[str], display_filter: str | None, stats: bool = False) -> bool:
    """Whether a headless run must track sessions to print what it was asked for."""
    if verbose or stats or fmt in ("json", "ndjson"):
        return True
    if any(SESSION_FIELD.search(f) for f in fields):
        return True
    return bool(display_filter and SESSION_FIELD.search(display_filter))

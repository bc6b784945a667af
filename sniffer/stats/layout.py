"""The text of a statistics block, laid out as tshark's `-z` blocks are, and the order statistics.

A block is an 80-column `=` ruler, a title line, a `Filter:` line, column headings, rows and a
closing ruler (tshark's `-z conv,tcp`), so a tshark user reads it at a glance. Every string that
came from the wire (client ids, topics) is escaped here, at the one place text leaves the stats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sniffer.textesc import escape

RULER = "=" * 80


def block(title: str, lines: Sequence[str]) -> str:
    """A whole block: rulers, title, filter line (statistics see every frame), then `lines`."""
    return "\n".join([RULER, title, "Filter:<No Filter>", *lines, RULER]) + "\n"


def table(headings: Sequence[str], rows: Sequence[Sequence[str]], align: str = "l") -> list[str]:
    """Column-aligned lines: column i flush left if align[i] is "l", else (numbers, the default
    past the end of `align`) flush right."""
    widths = [len(h) for h in headings]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def fmt(cells: Sequence[str]) -> str:
        out = [c.ljust(widths[i]) if align[i : i + 1] == "l" else c.rjust(widths[i]) for i, c in enumerate(cells)]
        return "  ".join(out).rstrip()

    return [fmt(headings)] + [fmt(r) for r in rows]


def text(s: str | None) -> str:
    """A client id or topic for the terminal: escaped; an empty one shown as ""."""
    if s is None:
        return "?"
    return escape(s) if s else '""'


def secs(t: float | None) -> str:
    """Seconds to the microsecond (as the packet times), "-" when there is no value."""
    return "-" if t is None else f"{t:.6f}"


def median(values: Sequence[float]) -> float | None:
    """The median of sorted `values` (the mean of the middle two for an even count)."""
    n = len(values)
    if not n:
        return None
    mid = n // 2
    return values[mid] if n % 2 else (values[mid - 1] + values[mid]) / 2


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank percentile of sorted `values`: the smallest value with p % at or below it."""
    n = len(values)
    if not n:
        return None
    return values[max(math.ceil(p / 100 * n), 1) - 1]

"""Headless text output in tshark's layout: summary lines, -V trees, -x hex dumps.

Reads only `Frame` summaries and Node trees; secrets (fields declared
secret, e.g. mqtt.passwd) are masked here, in one place, unless shown on request.
Tree labels are escaped as they are written (sniffer.textesc); the Info text comes escaped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from sniffer.fields import Node
from sniffer.textesc import escape

MASK: Final = "********"


# tshark 4's summary layout, as %-formats (faster than format specs in f-strings): No. right-aligned
# in 5, Time in 10.6, Source right-aligned and Destination left-aligned in 12, Protocol, then Length
# and Info. Two parts, since the headless summary formats the middle once per stream direction.
SUMMARY_HEAD: Final = "%5d %10.6f "  # No., Time
SUMMARY_MID: Final = "%12s \u2192 %-12s %s "  # Source, Destination, Protocol


def summary_line(frame) -> str:
    """One line per frame, aligned as tshark 4 prints it."""
    head = SUMMARY_HEAD % (frame.number, frame.rel_ts)
    # the Info text is safe to print: its topics were escaped where it is made (mqtt.dissect.info)
    return f"{head}{SUMMARY_MID % (frame.src, frame.dst, frame.proto)}{frame.orig_len} {frame.info}"


def masked_text(node: Node, show_secrets: bool) -> str:
    """The node's label as every output shows it: a secret masked, wire text escaped."""
    fd = node.fdef
    if fd is not None and fd.secret and not show_secrets:
        return f"{fd.name}: {MASK}"
    return escape(node.text)


def tree_lines(nodes: Iterable[Node], show_secrets: bool = False, collapse: set[str] | None = None) -> list[str]:
    """The -V tree: four spaces per level, hidden items left out.

    `collapse` names protocols to show as one line only (tshark's -O shows the others collapsed).
    """
    out: list[str] = []

    def walk(node: Node, depth: int) -> None:
        if node.hidden:
            return
        out.append("    " * depth + masked_text(node, show_secrets))
        for c in node.children:
            walk(c, depth + 1)

    for top in nodes:
        if collapse is not None and top.fdef is not None and top.fdef.protocol in collapse:
            if not top.hidden:
                out.append(masked_text(top, show_secrets))
            continue
        walk(top, 0)
    return out


def secret_ranges(nodes: Iterable[Node]) -> dict[int, list[tuple[int, int]]]:
    """Byte ranges of secret fields, per data source, to blank out of hex dumps."""
    ranges: dict[int, list[tuple[int, int]]] = {}
    for top in nodes:
        for n in top.walk():
            if n.fdef is not None and n.fdef.secret and n.length:
                ranges.setdefault(n.source, []).append((n.start, n.start + n.length))
    return ranges


def hexdump(data: bytes, masked: list[tuple[int, int]] | None = None) -> list[str]:
    """tshark's -x layout: offset, 16 hex bytes, ASCII. Masked bytes print as ** and *."""
    hidden = bytearray(len(data))
    for a, b in masked or ():
        for i in range(max(a, 0), min(b, len(data))):
            hidden[i] = 1
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off : off + 16]
        hx = []
        asc = []
        for i, b in enumerate(chunk):
            if hidden[off + i]:
                hx.append("**")
                asc.append("*")
            else:
                hx.append(f"{b:02x}")
                asc.append(chr(b) if 32 <= b < 127 else ".")
        lines.append(f"{off:04x}  {' '.join(hx):<47}   {''.join(asc)}")
    return lines


def hex_sources(frame, nodes: list[Node], show_secrets: bool) -> list[str]:
    """Hex dumps of every data source of the frame (frame bytes, then reassembled PDUs)."""
    masked = {} if show_secrets else secret_ranges(nodes)
    sources = frame.sources()
    out: list[str] = []
    for k, (title, data) in enumerate(sources):
        if len(sources) > 1:
            out.append(f"{escape(title)}:")
        out.extend(hexdump(data, masked.get(k)))
        out.append("")
    return out

"""Headless text output in tshark's layout: summary lines, -V trees, -x hex dumps.

Reads only `Frame` summaries and Node trees; secrets (fields declared
secret, e.g. mqtt.passwd) are masked here, in one place, unless shown on request.
Tree labels are escaped as they are written (sniffer.textesc); the Info text comes escaped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from sniffer.fields import FT, Node
from sniffer.net.tree import ns_seconds
from sniffer.textesc import escape

MASK: Final = "********"


# tshark 4's summary layout, as %-formats (faster than format specs in f-strings): No. right-aligned
# in 5, Time in 10.6, Source right-aligned and Destination left-aligned in 12, Protocol, then Length
# and Info. Two parts, since the headless summary formats the middle once per stream direction.
SUMMARY_HEAD: Final = "%5d %10.6f "  # No., Time
SUMMARY_MID: Final = "%12s \u2192 %-12s %s "  # Source, Destination, Protocol


_PADS: Final = tuple(" " * k for k in range(11))  # right-alignment in the No. (5) and Time (10) columns
_D3: Final = tuple(f"{k:03d}" for k in range(1000))  # microseconds, three digits at a time


def summary_head(number: int, rel_ts: float) -> str:
    """SUMMARY_HEAD % (number, rel_ts), character for character, without %-formatting's float
    conversion (a third of a summary line's cost): the microseconds rounded from the float are
    those "%.6f" shows unless the value lies near a tie (a rounding of the float itself could then
    tip it), and there, as for zero, negative, huge or odd values, "%" answers."""
    us = rel_ts * 1e6
    if 0.0 < us < 1e12:  # below 2**40: the float holds the microseconds to within 2**-12
        r = int(us + 0.5)
        d = us - r  # in [-0.5, 0.5): how far from the rounded value
        if -0.49 < d < 0.49:
            secs = r // 1_000_000
            frac = r - secs * 1_000_000
            n = str(number)
            s = str(secs)
            return (
                f"{_PADS[max(5 - len(n), 0)]}{n} {_PADS[max(3 - len(s), 0)]}{s}.{_D3[frac // 1000]}{_D3[frac % 1000]} "
            )
    return SUMMARY_HEAD % (number, rel_ts)


def summary_head_ns(number: int, rel_ns: int, digits: int) -> str:
    """The No. and Time columns of a frame whose time is an integer count of ns (Frame.exact): the Time
    column as tshark prints it, with the decimals of the capture's resolution (nine for nanoseconds),
    the rest cut off, right-aligned in at least 10."""
    n = str(number)
    if digits == 9 and rel_ns >= 0:  # (every live frame: nine decimals fill the column, three at a time)
        secs = rel_ns // 1_000_000_000  # (not divmod: a tuple a frame in the compiled build)
        frac = rel_ns - secs * 1_000_000_000
        ms = frac // 1_000_000
        us = frac // 1000 - ms * 1000
        return f"{_PADS[max(5 - len(n), 0)]}{n} {secs}.{_D3[ms]}{_D3[us]}{_D3[frac - (frac // 1000) * 1000]} "
    t = ns_seconds(rel_ns, digits)
    return f"{_PADS[max(5 - len(n), 0)]}{n} {_PADS[max(10 - len(t), 0)]}{t} "


_PADS12: Final = tuple(" " * k for k in range(13))  # right/left-alignment in the Source and Destination columns


def summary_mid(src: str, dst: str, proto: str, arrow: str = "\u2192") -> str:
    """SUMMARY_MID % (src, dst, proto), character for character: the padding taken from _PADS12 (the
    compiled %-format with widths costs ~2,500 instructions, paid once per stream direction, which
    is every fourth frame in a capture of many short connections); `arrow` between the addresses."""
    a, b = len(src), len(dst)
    return f"{_PADS12[12 - a] if a < 12 else ''}{src} {arrow} {dst}{_PADS12[12 - b] if b < 12 else ''} {proto} "


def summary_line(frame) -> str:
    """One line per frame, aligned as tshark 4 prints it."""
    exact = frame.exact
    head = (
        summary_head(frame.number, frame.rel_ts) if exact is None else summary_head_ns(frame.number, exact[1], exact[3])
    )
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
        # (an item beside the layers, such as "[2 Reassembled TCP Segments …]", is not a protocol: -O shows it
        # collapsed whatever the list, as tshark)
        if (
            collapse is not None
            and top.fdef is not None
            and (top.fdef.protocol in collapse or top.fdef.ftype is FT.NONE)
        ):
            if not top.hidden:
                out.append(masked_text(top, show_secrets))
            continue
        walk(top, 0)
    return out


def secret_ranges(nodes: Iterable[Node], frame=None) -> dict[int, list[tuple[int, int]]]:
    """Byte ranges of secret fields, per data source, to blank out of hex dumps.

    With the frame, a secret of a reassembled PDU is also blanked where its bytes lie in the frame
    itself (the PDU's spans say where), and so are the secret bytes of a CONNECT that completes in a
    later frame (`Frame.held_secret`, found while the PDU was still incomplete).
    """
    ranges: dict[int, list[tuple[int, int]]] = {}
    for top in nodes:
        for n in top.walk():  # (one generator per layer: Node.walk keeps its own stack)
            fd = n.fdef
            if fd is not None and fd.secret and n.length and not any(_secret(c) for c in n.children):
                ranges.setdefault(n.source, []).append((n.start, n.start + n.length))
    if frame is None:
        return ranges
    own = list(getattr(frame, "held_secret", ()))
    reassembled = [p for p in frame.pdus if frame.pdu_location(p) is None]  # data sources 1, 2, ...
    seg = getattr(frame, "seg", None)
    ipfrag = getattr(seg, "ipfrag", None)  # (a segment IP fragments carried: its bytes are source 1)
    for k, pdu in enumerate(reassembled, 1 if ipfrag is None else 2):
        for a, b in ranges.get(k, ()):
            for tag, chunk_off, pdu_off, length in pdu.spans:
                lo, hi = max(a, pdu_off), min(b, pdu_off + length)
                if lo < hi and tag is not None and tag[0] == frame.number:
                    base = tag[1] + chunk_off - pdu_off
                    own.append((lo + base, hi + base))
    if ipfrag is not None:
        base, _whole, parts, _v, at = ipfrag
        if own:  # frame offsets past the frame's own bytes: in the reassembled datagram
            ranges.setdefault(1, []).extend((a - base, b - base) for a, b in own if a >= base)
            own = [r for r in own if r[0] < base]
        # a secret in the datagram is also where this frame's own fragment holds it
        mine = [(off, size) for no, off, size in parts if no == frame.number]
        for a, b in ranges.get(1, ()):
            for off, size in mine:
                lo, hi = max(a, off), min(b, off + size)
                if lo < hi:
                    own.append((lo - off + at, hi - off + at))
    if own:
        ranges.setdefault(0, []).extend(own)
    if seg is not None and getattr(seg, "ws", None) is not None and seg.ws[6]:  # MQTT over WebSocket
        from sniffer.ws.tree import unmasked_source

        ranges.setdefault(unmasked_source(frame), []).extend(seg.ws[6])
    return ranges


def masked_hex(n: Node, ranges: dict[int, list[tuple[int, int]]]) -> str | None:
    """A bytes item (tcp.payload, ...) as hex with `**` for the secret bytes it covers; None if it covers none."""
    masked = ranges.get(n.source)
    if not masked or n.value is None or n.fdef is None or n.fdef.ftype is not FT.BYTES:
        return None
    start, value = n.start, bytes(n.value)
    end = start + len(value)
    hidden = [(max(a - start, 0), min(b, end) - start) for a, b in masked if a < end and b > start]
    if not hidden:
        return None
    out = [f"{b:02x}" for b in value]
    for a, b in hidden:
        out[a:b] = ["**"] * (b - a)
    return "".join(out)


def _secret(n: Node) -> bool:
    # a secret item whose secret value is a child item (MQTT 5 Authentication Data): the child's bytes
    # are masked, not the property's id and length
    return n.fdef is not None and n.fdef.secret


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
    masked = {} if show_secrets else secret_ranges(nodes, frame)
    sources = frame.sources()
    out: list[str] = []
    for k, (title, data) in enumerate(sources):
        if len(sources) > 1:
            out.append(f"{escape(title)}:")
        out.extend(hexdump(data, masked.get(k)))
    out.append("")  # (as tshark: one blank line after the dumps, none between them)
    return out

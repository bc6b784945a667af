"""The bytes pane: offset, 16 hex bytes, ASCII (tshark -x layout) of one data source of the frame.

A frame has one data source (its bytes) plus one per MQTT PDU reassembled from several TCP
segments, as in Wireshark's tabs under the hex pane. The selected field's bytes are highlighted;
clicking a byte, or moving the byte cursor with the arrow keys, asks the app to select the field
that byte belongs to. Secret fields' bytes show as ** until secrets are revealed.
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

HEX_COL = 6  # "0000  "
ASCII_COL = HEX_COL + 16 * 3 + 2  # after the 47 hex columns and three spaces
LINE_WIDTH = ASCII_COL + 16


def byte_at(x: int, y: int, size: int) -> int | None:
    """The byte under column x of line y, or None (for mouse clicks)."""
    if HEX_COL <= x < HEX_COL + 47:
        j = (x - HEX_COL) // 3
    elif ASCII_COL <= x < ASCII_COL + 16:
        j = x - ASCII_COL
    else:
        return None
    b = y * 16 + j
    return b if b < size else None


class HexView(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("left,h", "byte(-1)", "Previous byte", show=False),
        Binding("right,l", "byte(1)", "Next byte", show=False),
        Binding("up,k", "byte(-16)", "Byte above", show=False),
        Binding("down,j", "byte(16)", "Byte below", show=False),
    ]
    DEFAULT_CSS = "HexView { height: 1fr; overflow-x: hidden; }"

    class ByteSelected(Message):
        def __init__(self, source: int, offset: int) -> None:
            super().__init__()
            self.source = source
            self.offset = offset

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.sources: list[tuple[str, bytes]] = []
        self.source = 0
        self.hl_range: tuple[int, int] | None = None  # (start, end) in the current source
        self.cursor_byte = -1
        self.masked: dict[int, list[tuple[int, int]]] = {}

    @property
    def data(self) -> bytes:
        return self.sources[self.source][1] if self.sources else b""

    def show(self, sources: list[tuple[str, bytes]], masked: dict[int, list[tuple[int, int]]]) -> None:
        self.sources = sources
        self.masked = masked
        self.source = 0
        self.hl_range = None
        self.cursor_byte = -1
        self._resize()
        self.scroll_to(y=0, animate=False)

    def _resize(self) -> None:
        self.virtual_size = Size(LINE_WIDTH, (len(self.data) + 15) // 16)
        self.refresh()

    def select_range(self, source: int, start: int, length: int) -> None:
        """Highlight bytes [start, start+length) of data source `source` and scroll them into view."""
        if source != self.source and 0 <= source < len(self.sources):
            self.source = source
            self._resize()
        if length <= 0:
            self.hl_range = None
        else:
            self.hl_range = (start, start + length)
            self.cursor_byte = start
            line = start // 16
            h = max(self.scrollable_content_region.height, 1)
            top = round(self.scroll_y)
            if not top <= line < top + h:
                self.scroll_to(y=max(line - 1, 0), animate=False, immediate=True)
        self.refresh()

    def action_byte(self, delta: int) -> None:
        n = len(self.data)
        if not n:
            return
        b = min(max((self.cursor_byte if self.cursor_byte >= 0 else 0) + delta, 0), n - 1)
        self.cursor_byte = b
        self.post_message(self.ByteSelected(self.source, b))

    def on_click(self, event: events.Click) -> None:
        at = event.get_content_offset(self)
        if at is None:
            return
        b = byte_at(at.x, round(self.scroll_y) + at.y, len(self.data))
        if b is not None:
            self.cursor_byte = b
            self.post_message(self.ByteSelected(self.source, b))

    def render_line(self, y: int) -> Strip:
        line = round(self.scroll_y) + y
        width = self.scrollable_content_region.width or self.size.width
        data = self.data
        off = line * 16
        plain = self.rich_style  # the theme's background and text (a Line API strip is drawn as is)
        if off >= len(data) or line < 0:
            return Strip.blank(width, plain)
        dark = self.app.current_theme.dark
        hl = plain + Style.parse("bold #000000 on #5fafff" if dark else "bold #000000 on #8ec5ff")
        cur = Style.parse("reverse")
        dim = plain + Style.parse("#808080")
        masked = self.masked.get(self.source, ())
        lo, hi = self.hl_range or (-1, -1)
        segs = [Segment(f"{off:04x}  ", dim)]
        asc = []
        for j in range(16):
            i = off + j
            if i >= len(data):
                segs.append(Segment("   ", plain))
                continue
            b = data[i]
            secret = any(a <= i < z for a, z in masked)
            hx = "**" if secret else f"{b:02x}"
            ch = "*" if secret else (chr(b) if 32 <= b < 127 else ".")
            st = hl if lo <= i < hi else plain
            if i == self.cursor_byte and self.has_focus:
                st = st + cur
            segs.append(Segment(hx, st))
            # the gap after a byte is highlighted when the next byte is too, so a field reads as one block
            segs.append(Segment(" ", hl if lo <= i + 1 < hi and j < 15 else plain))
            asc.append(Segment(ch, st))
        segs.append(Segment("  ", plain))
        segs.extend(asc)
        return Strip(segs).crop_extend(0, width, plain)

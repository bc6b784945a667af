"""The packet list: a Line-API virtual list over the store's compact rows (never a DataTable).

`render_line(y)` formats only the rows on screen; rendered rows are kept in an LRU cache of
strips keyed by (row, width, selected, focus, theme, column widths). `virtual_size` is the number
of displayed rows, so jumping anywhere in a million rows costs one screenful of formatting.
Colours follow the spirit of Wireshark's colouring rules: one colour per MQTT packet family,
TCP control frames dimmed, RST red, malformed frames marked with "!" on a red background.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from sniffer.store import CLS_MALFORMED, CLS_OTHER, CLS_TCP_CONTROL, CLS_TCP_DATA, CLS_TCP_RST
from sniffer.textesc import escape

# family of each MQTT message type (1..15) for colouring
_FAMILY = {1: "conn", 2: "conn", 3: "pub", 4: "ack", 5: "ack", 6: "ack", 7: "ack", 8: "sub", 9: "sub",
           10: "sub", 11: "sub", 12: "ping", 13: "ping", 14: "disc", 15: "disc"}  # fmt: skip
PALETTE = {
    True: {  # dark themes
        "conn": "#87d787", "pub": "#5fafff", "ack": "#87afd7", "sub": "#d7afff", "ping": "#d7d787",
        "disc": "#ffaf5f", "control": "#8a8a8a", "data": "#bcbcbc", "rst": "#ff5f5f", "other": "#d0d0d0",
        "malformed": "bold #ffffff on #870000", "cursor": "on #264f78", "cursor_blur": "on #3a3a3a",
    },
    False: {  # light themes
        "conn": "#006400", "pub": "#0040c0", "ack": "#3a5f8f", "sub": "#7a1fb0", "ping": "#6b5d00",
        "disc": "#a04a00", "control": "#6c6c6c", "data": "#444444", "rst": "#c00000", "other": "#202020",
        "malformed": "bold #ffffff on #b00000", "cursor": "on #b3d4fc", "cursor_blur": "on #dddddd",
    },
}  # fmt: skip

# (title, width, right-aligned); Source/Destination widths adapt to the addresses seen (see widths())
COLUMNS = (("No.", 6, True), ("Time", 10, True), ("Source", 15, False), ("Destination", 15, False),
           ("Protocol", 8, False), ("Length", 6, True))  # fmt: skip
NARROW = 100  # below this width the columns shrink so Info keeps some room at 80 columns


def widths(width: int, addr_len: int, lens: tuple[int, int, int] = (0, 0, 0)) -> tuple[int, ...]:
    """Column widths for a screen `width` when the longest address seen is `addr_len` characters and
    the widest No., Time and Length values are `lens` characters: those three grow to fit (a
    number or a time is never cut), addresses are capped."""
    no, t, n = lens
    if width < NARROW:
        a = max(min(addr_len, 15), 7)
        return (max(5, no), max(9, t), a, a, 4, max(5, n))
    a = max(min(addr_len, 39), 11)
    return (max(6, no), max(10, t), a, a, 8, max(6, n))


CACHE_ROWS = 2048


def _fit(text: str, width: int, right: bool) -> str:
    if len(text) > width:
        return text[: width - 1] + "\u2026" if width > 1 else text[:width]
    return text.rjust(width) if right else text.ljust(width)


NARROW_TITLES = ("No.", "Time", "Source", "Destination", "Prot", "Len")


def header_text(width: int, cols: tuple[int, ...]) -> str:
    titles = NARROW_TITLES if width < NARROW else [c[0] for c in COLUMNS]
    parts = [_fit(name, w, c[2]) for name, c, w in zip(titles, COLUMNS, cols, strict=True)]
    line = " ".join(parts) + " Info"
    return line[:width].ljust(width)


def row_text(row: tuple, width: int, cols: tuple[int, ...]) -> str:
    number, rel, src, dst, proto, length, info, cls = row
    cells = (str(number), f"{rel:.6f}", src, dst, proto, str(length))
    parts = [_fit(v, w, right) for v, (_n, _w, right), w in zip(cells, COLUMNS, cols, strict=True)]
    # a Segment goes to the terminal as is: the Info text comes with its topics escaped
    # (mqtt.dissect.info); escaping again is a no-op that keeps any other text from the store safe
    line = " ".join(parts) + " " + escape(info)
    if cls & CLS_MALFORMED:
        line = "!" + line[1:]  # Wireshark marks malformed frames; the colour says it too
    return line[:width].ljust(width)


def row_style(cls: int, dark: bool) -> str:
    pal = PALETTE[dark]
    if cls & CLS_MALFORMED:
        return pal["malformed"]
    if cls == CLS_TCP_CONTROL:
        return pal["control"]
    if cls == CLS_TCP_DATA:
        return pal["data"]
    if cls == CLS_TCP_RST:
        return pal["rst"]
    if cls == CLS_OTHER:
        return pal["other"]
    return pal[_FAMILY.get(cls & 0x0F, "other")]


class ListHeader(Widget):
    """The column titles above the packet list."""

    DEFAULT_CSS = "ListHeader { height: 1; text-style: bold; background: $panel; }"

    def render(self) -> str:
        plist = self.parent.query_one(PacketList) if self.parent else None
        cols = plist.columns() if plist is not None else widths(self.size.width, 15)
        return header_text(self.size.width, cols)


class PacketList(ScrollView, can_focus=True):
    """Virtual list of the displayed rows; the cursor is a display index."""

    BINDINGS = [
        Binding("j,down", "cursor_down", "Down", show=False),
        Binding("k,up", "cursor_up", "Up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("g,home", "first", "First packet", show=False),
        Binding("G,end", "last", "Last packet", show=False),
    ]
    DEFAULT_CSS = "PacketList { height: 1fr; overflow-x: hidden; scrollbar-size-vertical: 1; }"

    cursor: reactive[int] = reactive(-1, init=False, always_update=False)

    class Selected(Message):
        """The cursor moved onto a stored row (or -1: nothing displayed)."""

        def __init__(self, row: int) -> None:
            super().__init__()
            self.row = row

    class TailChanged(Message):
        def __init__(self, tail: bool) -> None:
            super().__init__()
            self.tail = tail

    def __init__(self, store: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.store = store
        self.rows: Any = None  # the view's row array, None = every stored row
        self.count = 0  # displayed rows (frozen while the display is paused)
        self.tail = False  # follow new packets
        self.new_since = 0  # rows that arrived while the user was away from the end
        self._cache: OrderedDict[tuple, Strip] = OrderedDict()
        self._want = -1  # stored row to select once a new filter's scan reaches it

    # -- data --------------------------------------------------------------------------------
    def store_row(self, d: int) -> int:
        return self.rows[d] if self.rows is not None else d

    @property
    def selected_row(self) -> int:
        return self.store_row(self.cursor) if 0 <= self.cursor < self.count else -1

    def set_view(self, rows: Any, count: int, new_generation: bool, scanned: int | None = None) -> None:
        """Show `count` rows of `rows`; keep the selection on the same stored row across filters.

        A new filter's rows come from a scan thread (`scanned`: stored rows evaluated so far): the
        selected row is re-selected once the scan has passed it, not guessed from the rows known
        when the filter was applied (often none yet)."""
        old_row = self._want if self._want >= 0 else self.selected_row
        grew = count - self.count if not new_generation else 0
        self.rows = rows
        self.count = count
        self.virtual_size = Size(self.size.width, count)
        if new_generation:
            self._cache.clear()
            self.new_since = 0
            self._want = old_row
            if old_row >= 0 and self.cursor >= 0:
                self.cursor = -1  # no row highlighted until the scan decides (the details stay)
        if self._want >= 0:
            if scanned is None or self._want < scanned:
                target = self._display_index(self._want)
                if target < 0 and count:
                    target = count - 1 if self.tail else 0
                self._set_cursor(target if count else -1, force=True)
        elif new_generation:
            self._set_cursor((count - 1 if self.tail else 0) if count else -1, force=True)
        elif self.tail and count:
            self._set_cursor(count - 1)
            self.call_after_refresh(self.scroll_to_cursor)
        else:
            if grew > 0:
                self.new_since += grew
            if self.cursor < 0 and count:
                self._set_cursor(0)
        self.refresh()

    @property
    def pending(self) -> bool:
        """A new filter's scan has not yet reached the row to keep selected."""
        return self._want >= 0

    def _display_index(self, row: int) -> int:
        if self.rows is None:
            return row if row < self.count else -1
        # rows is sorted: binary search
        lo, hi = 0, self.count
        rows = self.rows
        while lo < hi:
            mid = (lo + hi) // 2
            if rows[mid] < row:
                lo = mid + 1
            else:
                hi = mid
        if lo < self.count:
            return lo  # the row itself, or the next displayed one after it
        return self.count - 1

    def columns(self) -> tuple[int, ...]:
        return widths(self.size.width, self.store.max_addr_len(), self.store.column_lens())

    def invalidate(self) -> None:
        self._cache.clear()
        self.refresh()

    # -- cursor ------------------------------------------------------------------------------
    def _set_cursor(self, d: int, force: bool = False) -> None:
        self._want = -1  # a move (the user's or the view's) settles the selection
        d = max(-1, min(d, self.count - 1))
        if d == self.cursor and not force:
            return
        self.cursor = d
        self.scroll_to_cursor()
        # the row count may have just changed: scroll again once the new virtual size is laid out
        self.call_after_refresh(self.scroll_to_cursor)
        self.refresh()
        self.post_message(self.Selected(self.selected_row))

    def scroll_to_cursor(self) -> None:
        if self.cursor < 0:
            return
        h = max(self.scrollable_content_region.height, 1)
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + h:
            self.scroll_to(y=self.cursor - h + 1, animate=False, immediate=True)

    def _set_tail(self, tail: bool) -> None:
        if tail != self.tail:
            self.tail = tail
            self.post_message(self.TailChanged(tail))
        if tail:
            self.new_since = 0

    def select_store_row(self, row: int) -> bool:
        """Put the cursor on stored row `row`; False (and nothing moves) when it is not displayed."""
        d = self._display_index(row)
        if d < 0 or self.store_row(d) != row:
            return False
        self._set_cursor(d)
        self._set_tail(d == self.count - 1)
        return True

    def move(self, delta: int) -> None:
        self._set_cursor(self.cursor + delta if self.cursor >= 0 else 0)
        self._set_tail(self.cursor == self.count - 1)

    def action_cursor_down(self) -> None:
        self.move(1)

    def action_cursor_up(self) -> None:
        self.move(-1)

    def action_page_down(self) -> None:
        self.move(max(self.scrollable_content_region.height - 1, 1))

    def action_page_up(self) -> None:
        self.move(-max(self.scrollable_content_region.height - 1, 1))

    def action_first(self) -> None:
        self._set_tail(False)
        self._set_cursor(0)

    def action_last(self) -> None:
        """Jump to the last packet and follow new ones (tail mode)."""
        self._set_tail(True)
        self._set_cursor(self.count - 1)

    def on_click(self, event: events.Click) -> None:
        at = event.get_content_offset(self)
        if at is None:
            return
        d = round(self.scroll_y) + at.y
        if 0 <= d < self.count:
            self._set_tail(False)
            self._set_cursor(d)

    def on_resize(self) -> None:
        # a new height (first layout, terminal resized) may hide the cursor row
        self.call_after_refresh(self.scroll_to_cursor)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- rendering ---------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        d = round(self.scroll_y) + y
        width = self.scrollable_content_region.width or self.size.width
        # the widget's own colours (the theme's background and text) under every row: a Line API
        # strip is drawn as is, so segments without a background showed the terminal's own
        base = self.rich_style
        if d >= self.count or d < 0:
            return Strip.blank(width, base)
        row = self.store_row(d)
        selected = d == self.cursor
        dark = self.app.current_theme.dark
        cols = self.columns()
        key = (row, width, selected, self.has_focus if selected else False, self.app.theme, cols)
        strip = self._cache.get(key)
        if strip is not None:
            self._cache.move_to_end(key)
            return strip
        text = row_text(self.store.row(row), width, cols)
        style = base + Style.parse(row_style(self.store.cls(row), dark))
        if selected:
            style = style + Style.parse(PALETTE[dark]["cursor" if self.has_focus else "cursor_blur"])
        strip = Strip([Segment(text, style)], width)
        self._cache[key] = strip
        if len(self._cache) > CACHE_ROWS:
            self._cache.popitem(last=False)
        return strip

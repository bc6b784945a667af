"""The packet list: a Line-API virtual list over the store's compact rows (never a DataTable).

`render_line(y)` formats only the rows on screen; rendered rows are kept in an LRU cache of
strips keyed by (row, width, selected, focus, theme, column widths and order). `virtual_size` is
the number of displayed rows, so jumping anywhere in a million rows costs one screenful of formatting.
Colours follow the spirit of Wireshark's colouring rules: one colour per MQTT packet family,
TCP control frames dimmed, RST red, malformed frames marked with "!" on a red background. Rows whose frame
holds an expert note of Error or Warning severity anywhere in its tree (the store's severity column,
sniffer.expert_level) are marked too: "!" and the error colours for an error, "▲" and a warning colour.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from sniffer.expert_level import ERROR, WARNING
from sniffer.store import CLS_MALFORMED, CLS_OTHER, CLS_TCP_CONTROL, CLS_TCP_DATA, CLS_TCP_RST
from sniffer.textesc import escape
from sniffer.ui import timefmt
from sniffer.ui.columns import NARROW_WIDTH, WIDTH, Cells, Column

# family of each MQTT message type (1..15) for colouring
_FAMILY = {1: "conn", 2: "conn", 3: "pub", 4: "ack", 5: "ack", 6: "ack", 7: "ack", 8: "sub", 9: "sub",
           10: "sub", 11: "sub", 12: "ping", 13: "ping", 14: "disc", 15: "disc"}  # fmt: skip
PALETTE = {
    True: {  # dark themes
        "conn": "#87d787", "pub": "#5fafff", "ack": "#87afd7", "sub": "#d7afff", "ping": "#d7d787",
        "disc": "#ffaf5f", "control": "#8a8a8a", "data": "#bcbcbc", "rst": "#ff5f5f", "other": "#d0d0d0",
        "malformed": "bold #ffffff on #870000", "warning": "bold #ffd700",
        "cursor": "on #264f78", "cursor_blur": "on #3a3a3a",
    },
    False: {  # light themes
        "conn": "#006400", "pub": "#0040c0", "ack": "#3a5f8f", "sub": "#7a1fb0", "ping": "#6b5d00",
        "disc": "#a04a00", "control": "#6c6c6c", "data": "#444444", "rst": "#c00000", "other": "#202020",
        "malformed": "bold #ffffff on #b00000", "warning": "bold #8f5b00 on #fff3b0",
        "cursor": "on #b3d4fc", "cursor_blur": "on #dddddd",
    },
}  # fmt: skip

# (title, width, right-aligned); Source/Destination widths adapt to the addresses seen (see widths())
COLUMNS = (("No.", 6, True), ("Time", 10, True), ("Source", 15, False), ("Destination", 15, False),
           ("Protocol", 8, False), ("Length", 6, True))  # fmt: skip
NARROW = 100  # below this width the columns shrink so Info keeps some room at 80 columns


def widths(width: int, addr_len: int, lens: tuple[int, int, int] = (0, 0, 0), proto_len: int = 0) -> tuple[int, ...]:
    """Column widths for a screen `width` when the longest address seen is `addr_len` characters, the
    widest No., Time and Length values are `lens` characters and the longest Protocol `proto_len`: those
    three grow to fit (a number or a time is never cut), addresses and (on a wide screen) the Protocol up to
    a cap (MQTT/JSON, WebSocket are whole; at 80 columns the Protocol keeps its 4)."""
    no, t, n = lens
    no += 1  # a cell for the mark ("!", "▲") in front of the widest number: it never hides a digit
    if width < NARROW:
        a = max(min(addr_len, 15), 7)
        return (max(5, no), max(9, t), a, a, 4, max(5, n))
    a = max(min(addr_len, 39), 11)
    return (max(6, no), max(10, t), a, a, max(8, min(proto_len, 14)), max(6, n))


CACHE_ROWS = 2048


def _fit(text: str, width: int, right: bool) -> str:
    if len(text) > width:
        return text[: width - 1] + "\u2026" if width > 1 else text[:width]
    return text.rjust(width) if right else text.ljust(width)


NARROW_TITLES = ("No.", "Time", "Source", "Destination", "Prot", "Len")
# the columns' keys in the list's order (PacketList.order): the built-in ones (COLUMNS, then Info),
# and a custom column's field name (never starts with "#")
BUILTIN_KEYS = ("#no", "#time", "#src", "#dst", "#proto", "#len")
INFO_KEY = "#info"
DEFAULT_ORDER = (*BUILTIN_KEYS, INFO_KEY)
INFO_WIDTH = 40  # the Info column when moved left of another one (last, it takes the rest of the line)
NARROW_INFO_WIDTH = 24


RIGHTS = tuple(c[2] for c in COLUMNS)  # the built-ins' alignment (custom columns and Info: left)


def arranged(cells: Sequence[str], rights: Sequence[bool], cols: Sequence[int], order: Sequence[int] | None,
             info_width: int) -> str:  # fmt: skip
    """The cells (built-ins, custom ones, Info last) fitted to their widths `cols` and joined by a
    space in `order` (indices into cells; None: as they come). Info is whole when it comes last."""
    info = len(cells) - 1
    if order is None:
        order = range(len(cells))
    last = order[-1]
    parts = []
    for i in order:
        if i == info:
            parts.append(cells[i] if i == last else _fit(cells[i], info_width, False))
        else:
            parts.append(_fit(cells[i], cols[i], rights[i]))
    return " ".join(parts)


def spans(cols: Sequence[int], order: Sequence[int], info_width: int) -> list[tuple[int, int]]:
    """Where each column of `order` starts and ends on the line (Info last: to the line's end, -1)."""
    info = len(cols)
    out = []
    at = 0
    for i in order:
        w = cols[i] if i != info else info_width if i != order[-1] else -1
        out.append((at, at + w if w >= 0 else -1))
        at += w + 1
    return out


def header_text(
    width: int, cols: tuple[int, ...], extra: tuple[str, ...] = (), order: Sequence[int] | None = None,
    info_width: int = INFO_WIDTH,
) -> str:  # fmt: skip
    """The titles line; `extra`: the custom columns' titles (their widths end `cols`); `order`: the
    columns' order (indices: built-ins, custom ones, Info; None: that order)."""
    titles = NARROW_TITLES if width < NARROW else [c[0] for c in COLUMNS]
    line = arranged([*titles, *extra, "Info"], RIGHTS + (False,) * (len(extra) + 1), cols, order, info_width)
    return line[:width].ljust(width)


# the sign in the first cell of a row with an expert note of that severity or worse
SIGNS = ((ERROR, "!"), (WARNING, "\u25b2"))


def mark(cls: int, severity: int) -> str:
    """The sign a row starts with: "!" for a malformed frame or an Error note, "▲" for a Warning."""
    if cls & CLS_MALFORMED:
        return "!"
    for level, sign in SIGNS:
        if severity >= level:
            return sign
    return ""


def row_text(
    row: tuple,
    width: int,
    cols: tuple[int, ...],
    time_text: str | None = None,
    extra: tuple[str, ...] = (),
    severity: int = 0,
    order: Sequence[int] | None = None,
    info_width: int = INFO_WIDTH,
) -> str:
    """The row's line, `width` characters; `time_text`: the Time cell in the chosen display format
    (default: seconds since the first frame); `extra`: the custom columns' cells, already escaped;
    `severity`: the frame's highest expert note (a sign in the first cell of No.); `order`: as for
    header_text."""
    number, rel, src, dst, proto, length, info, cls = row
    no = str(number)
    sign = mark(cls, severity)
    if sign:  # Wireshark marks malformed frames and expert notes; the colour says it too
        # in the cell kept free in front of the widest number (widths()), wherever No. is
        no = sign + _fit(no, cols[0], True)[1:]
    cells = (no, f"{rel:.6f}" if time_text is None else time_text, src, dst, proto, str(length), *extra,
             # a Segment goes to the terminal as is: the Info text comes with its topics escaped
             # (mqtt.dissect.info); escaping again is a no-op that keeps any other text from the store safe
             escape(info))  # fmt: skip
    line = arranged(cells, RIGHTS + (False,) * (len(extra) + 1), cols, order, info_width)
    return line[:width].ljust(width)


def row_style(cls: int, dark: bool, severity: int = 0) -> str:
    pal = PALETTE[dark]
    if cls & CLS_MALFORMED or severity >= ERROR:
        return pal["malformed"]
    if cls == CLS_TCP_RST:  # (its own Warning, "Connection reset (RST)", is the ▲: the row keeps RST's colour)
        return pal["rst"]
    if severity >= WARNING:
        return pal["warning"]
    if cls == CLS_TCP_CONTROL:
        return pal["control"]
    if cls == CLS_TCP_DATA:
        return pal["data"]
    if cls == CLS_OTHER:
        return pal["other"]
    return pal[_FAMILY.get(cls & 0x0F, "other")]


class ListHeader(Widget):
    """The column titles above the packet list; the column chosen with [ ] is highlighted. A click
    on a title chooses its column, a drag moves it to where it is let go (Wireshark's header drag)."""

    DEFAULT_CSS = "ListHeader { height: 1; text-style: bold; background: $panel; }"

    def __init__(self) -> None:
        super().__init__()
        self._dragged: str | None = None  # the key of the column a press on its title picked up

    def plist(self) -> PacketList | None:
        return self.parent.query_one(PacketList) if self.parent else None

    def render(self) -> Text:
        plist = self.plist()
        if plist is None:
            return Text(header_text(self.size.width, widths(self.size.width, 15)))
        x = plist.hscroll  # the titles scroll with the rows
        extra = tuple(c.title for c in plist.cells.columns)
        cols, order, info_w = plist.columns(), plist.arrangement(), plist.info_width()
        text = Text(header_text(self.size.width + x, cols, extra, order, info_w)[x:])
        if plist.col_key in plist.order:
            start, end = spans(cols, order, info_w)[plist.order.index(plist.col_key)]
            text.stylize("reverse", max(start - x, 0), len(text) if end < 0 else max(end - x, 0))
        return text

    def key_at(self, x: int) -> str | None:
        """The key of the column whose title is at column `x` of the header (None: a gap)."""
        plist = self.plist()
        if plist is None:
            return None
        x += plist.hscroll
        for key, (start, end) in zip(
            plist.order, spans(plist.columns(), plist.arrangement(), plist.info_width()), strict=True
        ):
            if start <= x and (end < 0 or x < end):
                return key
        return None

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self._dragged = self.key_at(event.x)
        if self._dragged is not None:
            self.capture_mouse()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        key, self._dragged = self._dragged, None
        self.release_mouse()
        plist = self.plist()
        if key is None or plist is None:
            return
        plist.col_key = key  # a click (or a drop): this column is the chosen one
        target = self.key_at(event.x)
        if target is not None and target != key:
            plist.move_column(key, plist.order.index(target) - plist.order.index(key))
        plist.invalidate()
        self.refresh()


def keep_in_view(view: ScrollView, line: int, rows: int) -> None:
    """Scroll `view` the least that shows `line` among its `rows` visible lines (the virtual lists:
    packets, clients, flow arrows)."""
    h = max(rows, 1)
    top = round(view.scroll_y)
    if line < top:
        view.scroll_to(y=line, animate=False, immediate=True)
    elif line >= top + h:
        view.scroll_to(y=line - h + 1, animate=False, immediate=True)


class PacketList(ScrollView, can_focus=True):
    """Virtual list of the displayed rows; the cursor is a display index."""

    BINDINGS = [
        Binding("j,down", "cursor_down", "Down", show=False),
        Binding("k,up", "cursor_up", "Up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("g,home,ctrl+home", "first", "First packet", show=False),
        Binding("G,end,ctrl+end", "last", "Last packet", show=False),
        Binding("right", "scroll_columns(8)", "Scroll right", show=False),
        Binding("left", "scroll_columns(-8)", "Scroll left", show=False),
    ]
    DEFAULT_CSS = "PacketList { height: 1fr; overflow-x: hidden; scrollbar-size-vertical: 1; }"

    cursor: reactive[int] = reactive(-1, init=False, always_update=False)

    class Selected(Message):
        """The cursor moved onto a stored row (or -1: nothing displayed) of `store`."""

        def __init__(self, row: int, store: Any = None, follow: bool = False) -> None:
            super().__init__()
            self.row = row
            self.store = store  # (a bounded UI changes stores: a row of the one before means nothing now)
            self.follow = follow  # the cursor followed new packets (tail mode), no key or click moved it

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
        self.time_mode = timefmt.RELATIVE
        self.ref_row = -1  # the time reference (a stored row), -1: none
        self.cells = Cells(store)  # the custom columns (Client, Apply as Column)
        self.order: list[str] = list(DEFAULT_ORDER)  # the columns' keys, left to right
        self.col_key: str | None = None  # the column chosen with [ ] (its title highlighted)
        self._arrangement: tuple[int, ...] = tuple(range(len(DEFAULT_ORDER)))
        self.hscroll = 0  # characters scrolled to the right (the end of Info at 80 columns)
        self._longest = 0  # the longest line drawn so far: how far right there is anything to see
        self._drawn_columns: tuple[int, ...] = ()  # the column widths of the last row drawn

    # -- data --------------------------------------------------------------------------------
    def adopt(self, store: Any) -> None:
        """The loader went on in a new store (--keep-frames): its rows replace the list's; the selection
        and the time reference left with the old store's rows (set_view then places the cursor)."""
        self.store = store
        self.cells.store = store
        self.cells.clear()
        self._cache.clear()
        self._want = -1
        self.ref_row = -1
        self.cursor = -1

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
        # rows added below a full window change nothing on screen but the scrollbar (see _set_height),
        # unless they widen a column (No., Time, an address): then the rows shown are drawn again
        unseen = grew > 0 and self.count >= round(self.scroll_y) + self.scrollable_content_region.height
        self.rows = rows
        self.count = count
        self._set_height(count)
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
            self._set_cursor(count - 1, follow=True)
            self.call_after_refresh(self.scroll_to_cursor)
        else:
            if grew > 0:
                self.new_since += grew
            if self.cursor < 0 and count:
                self._set_cursor(0)
            elif unseen and self.columns() == self._drawn_columns:
                return
        self.refresh()

    def _set_height(self, count: int) -> None:
        """The virtual height: `count` rows. Assigning virtual_size asks for a layout pass of the whole
        screen, which repaints every pane; while a file loads that came ~10 times a second and took
        about a tenth of the load's time from the loader (one interpreter). Once the rows overflow the
        window either way, only the scrollbar changes: it is updated alone (Widget._scroll_update, what
        the layout pass would call; the assignment where a Textual lacks it)."""
        new = Size(self.size.width, count)
        old = self.virtual_size
        if new == old:
            return
        update = getattr(self, "_scroll_update", None)
        window = self.scrollable_content_region.height
        if (
            update is not None
            and self.show_vertical_scrollbar
            and old.width == new.width
            and min(old.height, count) > window
        ):
            self.set_reactive(PacketList.virtual_size, new)
            update(new)
        else:
            self.virtual_size = new

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

    def index_of(self, row: int) -> int:
        """The display index of stored row `row`, or -1 when it is not displayed."""
        d = self._display_index(row)
        return d if d >= 0 and self.store_row(d) == row else -1

    def select_row(self, row: int) -> bool:
        """Select stored row `row` if it is displayed (a jump: tail mode ends)."""
        d = self.index_of(row)
        if d < 0:
            return False
        self._set_tail(False)
        self._set_cursor(d)
        return True

    def columns(self) -> tuple[int, ...]:
        store = self.store
        no, n = store.column_lens()
        t = timefmt.width(self.time_mode, store.rel_min_ns, store.rel_max_ns, store.first_ns, store.time_digits,
                          self.ref_row >= 0)  # fmt: skip
        base = widths(self.size.width, store.max_addr_len(), (no, t, n), store.max_proto_len())
        extra = NARROW_WIDTH if self.size.width < NARROW else WIDTH
        return base + (extra,) * len(self.cells.columns)

    def info_width(self) -> int:
        return NARROW_INFO_WIDTH if self.size.width < NARROW else INFO_WIDTH

    # -- columns: which, in which order ------------------------------------------------------
    def arrangement(self) -> tuple[int, ...]:
        """The order as indices into (built-ins, custom columns, Info): what row_text takes."""
        return self._arrangement

    def _arrange(self) -> None:
        index = {k: i for i, k in enumerate(BUILTIN_KEYS)}
        index.update((c.field, len(BUILTIN_KEYS) + i) for i, c in enumerate(self.cells.columns))
        index[INFO_KEY] = len(index)
        self._arrangement = tuple(index[k] for k in self.order)
        self.invalidate()

    def set_columns(self, columns: list[Column]) -> None:
        """Show these custom columns: those kept stay where they were; a new one comes before Info
        when Info is last (where Wireshark's default layout has it), else at the end."""
        fields = [c.field for c in columns]
        order = [k for k in self.order if k.startswith("#") or k in fields]
        for f in fields:
            if f not in order:
                order.insert(len(order) - 1 if order[-1] == INFO_KEY else len(order), f)
        self.cells.set(columns)
        self.order = order
        if self.col_key not in order:
            self.col_key = None
        self._arrange()

    def column_title(self, key: str) -> str:
        if key == INFO_KEY:
            return "Info"
        if key in BUILTIN_KEYS:
            return COLUMNS[BUILTIN_KEYS.index(key)][0]
        return next((c.title for c in self.cells.columns if c.field == key), key)

    def move_column(self, key: str, step: int) -> bool:
        """Move column `key` `step` places (negative: left); False when it cannot go further."""
        order = self.order
        i = order.index(key)
        j = max(0, min(i + step, len(order) - 1))
        if j == i:
            return False
        order.insert(j, order.pop(i))
        self._arrange()
        return True

    def choose_column(self, step: int) -> str:
        """Choose the next (1) or previous (-1) column, from none: the first or the last."""
        order = self.order
        if self.col_key not in order:
            self.col_key = order[0] if step > 0 else order[-1]
        else:
            self.col_key = order[(order.index(self.col_key) + step) % len(order)]
        return self.col_key

    def time_text(self, d: int) -> str:
        """The Time cell of display index `d` in the chosen format (Wireshark's View → Time Display
        Format), counting from the time reference for the rows after it."""
        store = self.store
        row = self.store_row(d)
        ref = self.ref_row
        if row == ref:
            return timefmt.REF
        mode = self.time_mode
        prev = store.ns(self.store_row(d - 1)) if mode == timefmt.DELTA and d > 0 else None
        ref_ns = store.ns(ref) if 0 <= ref < row else None
        return timefmt.cell(mode, store.ns(row), store.rel_ns(row), prev, ref_ns, store.digits(row))

    def invalidate(self) -> None:
        self._cache.clear()
        self.refresh()

    def action_scroll_columns(self, delta: int) -> None:
        """Scroll the columns sideways (the header with them), so the end of a long Info can be read."""
        width = self.scrollable_content_region.width or self.size.width
        self.hscroll = max(0, min(self.hscroll + delta, self._longest - width))
        self.refresh()
        header = self.parent.query_one(ListHeader) if self.parent else None
        if header is not None:
            header.refresh()

    # -- cursor ------------------------------------------------------------------------------
    def _set_cursor(self, d: int, force: bool = False, follow: bool = False) -> None:
        self._want = -1  # a move (the user's or the view's) settles the selection
        d = max(-1, min(d, self.count - 1))
        if d == self.cursor and not force:
            return
        self.cursor = d
        self.scroll_to_cursor()
        # the row count may have just changed: scroll again once the new virtual size is laid out
        self.call_after_refresh(self.scroll_to_cursor)
        self.refresh()
        self.post_message(self.Selected(self.selected_row, self.store, follow))

    def scroll_to_cursor(self) -> None:
        if self.cursor >= 0:
            keep_in_view(self, self.cursor, self.scrollable_content_region.height)

    def _set_tail(self, tail: bool) -> None:
        if tail != self.tail:
            self.tail = tail
            self.post_message(self.TailChanged(tail))
        if tail:
            self.new_since = 0

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
        cols = self._drawn_columns = self.columns()
        x = self.hscroll
        shown = (self.time_mode, self.ref_row, x, self._arrangement)
        key = (row, width, selected, self.has_focus if selected else False, self.app.theme, cols, shown)
        strip = self._cache.get(key)
        if strip is not None:
            self._cache.move_to_end(key)
            return strip
        sev = self.store.severity(row)
        # made wider than the screen: its true length says how far right the list can scroll
        text = row_text(self.store.row(row), width + x + 256, cols, self.time_text(d), self.cells.row(row), sev,
                        self._arrangement, self.info_width())  # fmt: skip
        self._longest = max(self._longest, len(text.rstrip()))
        text = text[x : x + width]
        style = base + Style.parse(row_style(self.store.cls(row), dark, sev))
        if selected:
            style = style + Style.parse(PALETTE[dark]["cursor" if self.has_focus else "cursor_blur"])
        strip = Strip([Segment(text, style)], width)
        self._cache[key] = strip
        if len(self._cache) > CACHE_ROWS:
            self._cache.popitem(last=False)
        return strip

"""The Clients view (key c): one row per MQTT connection, from sniffer.stats.clients; Enter filters
the packet list to that connection (tcp.stream == N).

The table is a Line-API virtual list (ClientTable), not a DataTable: a DataTable builds every row
as it is added (about 4 s for 10,000 connections), this one keeps each row's cell strings and
formats only the lines on screen. A live redraw compares the model's rows with those shown and
re-computes the cells of the changed and the new ones only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from operator import attrgetter, itemgetter

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from sniffer.stats.clients import VERSIONS, ConnInfo
from sniffer.textesc import escape
from sniffer.ui.packet_list import keep_in_view
from sniffer.ui.views_common import SessionView, wire

# what tells a connection's story first, so that it fits 80 columns; the traffic counts after
COLUMNS = ("Stream", "Client ID", "State", "Unacked", "Client address", "MQTT", "Keep-alive", "PDUs →", "Bytes →",
           "PDUs ←", "Bytes ←", "Last seen")  # fmt: skip
STATE, UNACKED, CLIENT = COLUMNS.index("State"), COLUMNS.index("Unacked"), COLUMNS.index("Client ID")
RIGHT = frozenset({0, UNACKED, 7, 8, 9, 10})  # numbers line up on their last digit
NO_CONNECT = "(no CONNECT seen)"
CLIENT_WIDTH = 28  # characters of a client id in its cell (the line under the table shows it whole)
CACHE_LINES = 512


def state(c: ConnInfo) -> Text:
    if not c.ended:
        return Text("connected", style="green")
    # how it ended is our own text (sniffer.stats.clients), not the wire's
    bad = not c.ended.startswith("DISCONNECT by client")
    return Text(c.ended, style="yellow" if bad else "")


def width(s: str) -> int:
    """Terminal cells of `s` (rich's cell_len, skipped for ASCII: ten times faster)."""
    return len(s) if s.isascii() else cell_len(s)


def client_cell(client: str | None) -> str:
    """The client id for its cell: escaped (a Segment reaches the terminal as is), cut to CLIENT_WIDTH."""
    if client is None:
        return NO_CONNECT
    shown = escape(client) if client else '""'
    if width(shown) > CLIENT_WIDTH:
        shown = set_cell_size(shown, CLIENT_WIDTH - 1) + "…"
    return shown


def cells(c: ConnInfo, t0: float, client: str | None = None) -> tuple[str, ...]:
    """The row's cell texts, plain and escaped (their styles come from cell_styles()); `client`:
    client_cell(c.client) when known."""
    ka = f"{c.keepalive} s" if c.keepalive >= 0 else "?"
    if client is None:
        client = client_cell(c.client)
    return (str(c.stream), client, c.ended or "connected", str(c.unacked), c.addr, c.version_text,
            ka, str(c.pdus[0]), str(c.bytes[0]), str(c.pdus[1]), str(c.bytes[1]),
            f"{c.last_ts - t0:.3f} s (#{c.last})")  # fmt: skip


def cell_styles(c: ConnInfo) -> dict[int, str]:
    """The styles of the cells that have one, by column (most have none)."""
    out = {STATE: state(c).style}
    if c.unacked:
        out[UNACKED] = "bold red"
    if not c.client:  # no CONNECT seen, or an empty client id
        out[CLIENT] = "dim"
    return {k: str(v) for k, v in out.items() if v}


def describe(c: ConnInfo) -> Text:
    out = Text.assemble(("Client ID ", "bold"), wire(c.client, NO_CONNECT), ("  State ", "bold"))
    out.append_text(state(c))
    out.append(f"  frames {c.first}–{c.last}")
    return out


class ClientTable(ScrollView, can_focus=True):
    """The connections, one line each under a fixed header line; the cursor is a row index."""

    BINDINGS = [
        Binding("enter", "choose", "Show its packets", show=False),
        Binding("j,down", "move(1)", "Down", show=False),
        Binding("k,up", "move(-1)", "Up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("g,home", "move(-1e9)", "First", show=False),
        Binding("G,end", "move(1e9)", "Last", show=False),
        Binding("right", "scroll_columns(8)", "Scroll right", show=False),
        Binding("left", "scroll_columns(-8)", "Scroll left", show=False),
    ]
    COMPONENT_CLASSES = {"clients--header", "clients--even", "clients--cursor"}
    # the look of Textual's DataTable, which this replaces
    DEFAULT_CSS = """
    ClientTable { background: $surface; color: $foreground; }
    ClientTable:focus { background-tint: $foreground 5%; }
    ClientTable > .clients--header { text-style: bold; background: $panel; color: $foreground; }
    ClientTable > .clients--even { background: $surface-lighten-1 50%; }
    ClientTable:dark > .clients--even { background: $surface-darken-1 40%; }
    ClientTable > .clients--cursor { background: $block-cursor-blurred-background; }
    ClientTable:focus > .clients--cursor { background: $block-cursor-background; }
    """

    class Highlighted(Message):
        """The cursor moved onto a connection."""

        def __init__(self, conn: ConnInfo) -> None:
            super().__init__()
            self.conn = conn

    class Chosen(Message):
        """Enter (or a click on the cursor's row) on a connection."""

        def __init__(self, conn: ConnInfo) -> None:
            super().__init__()
            self.conn = conn

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.rows: list[ConnInfo] = []  # in the model's order (first frame): new ones only append
        self.texts: dict[int, tuple[str, ...]] = {}  # the cells of the rows drawn so far, by row
        self._client_cells: dict[str | None, str] = {}  # client id -> its cell (escaped, cut)
        self.t0 = 0.0  # the model's first frame time (Last seen counts from it)
        self.widths = [cell_len(t) for t in COLUMNS]  # grow to the widest cell seen, never shrink
        self.cursor = -1
        self.formatted = 0  # lines formatted so far (a test counts them: only what is on screen)
        self._cache: OrderedDict[tuple, Strip] = OrderedDict()

    # -- data --------------------------------------------------------------------------------
    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def current(self) -> ConnInfo | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def index_of(self, stream: int) -> int:
        """The row of connection `stream`, -1 when it is not shown."""
        for i, c in enumerate(self.rows):
            if c.stream == stream:
                return i
        return -1

    def show(self, conns: Sequence[ConnInfo], t0: float) -> None:
        """Show `conns` (the model's list, in its order). Cells are made when their line is drawn;
        the columns' widths come from column-wise maxima (C loops), so 10,000 rows cost no Python
        work per row beyond a comparison."""
        rows, texts = self.rows, self.texts
        if len(conns) < len(rows) or (rows and conns[0].stream != rows[0].stream) or t0 != self.t0:
            rows, texts = [], {}  # not the list shown (a new model): start over
        n = len(rows)
        changed = [i for i, (was, now) in enumerate(zip(rows, conns)) if was != now]  # noqa: B905
        if not changed and len(conns) == n and conns:
            return
        for i in changed:
            texts.pop(i, None)
        self.rows, self.texts, self.t0 = list(conns), texts, t0
        self._widen(conns if n == 0 else [conns[i] for i in changed] + list(conns[n:]), t0)
        self._cache.clear()
        self.virtual_size = Size(self.line_width(), len(conns) + 1)  # + the header line
        if self.cursor < 0 and conns:
            self._set_cursor(0)
        elif self.current is not None:
            self.post_message(self.Highlighted(self.rows[self.cursor]))  # the line under the table follows
        self.refresh()

    def _widen(self, conns: Sequence[ConnInfo], t0: float) -> None:
        """Grow the columns to the widest cells of `conns` (new or changed rows); never shrink."""
        if not conns:
            return
        get = attrgetter
        pdus, nbytes = list(map(get("pdus"), conns)), list(map(get("bytes"), conns))
        last_ts, last = max(map(get("last_ts"), conns)), max(map(get("last"), conns))
        ka = max(map(get("keepalive"), conns))
        clients = self._client_cells
        ids = set(map(get("client"), conns))
        for c in ids - clients.keys():
            clients[c] = client_cell(c)
        shown = list(map(clients.__getitem__, ids))
        # non-negative numbers: the largest has the most digits
        widest = (
            len(str(max(map(get("stream"), conns)))),
            max(map(len, shown)) if "".join(shown).isascii() else max(map(cell_len, shown)),
            max(len(e or "connected") for e in set(map(get("ended"), conns))),
            len(str(max(map(get("unacked"), conns)))),
            max(map(len, map(get("addr"), conns))),
            max(len(v) for v in VERSIONS.values()),
            len(f"{ka} s") if ka >= 0 else 1,
            len(str(max(map(itemgetter(0), pdus)))),
            len(str(max(map(itemgetter(0), nbytes)))),
            len(str(max(map(itemgetter(1), pdus)))),
            len(str(max(map(itemgetter(1), nbytes)))),
            len(f"{max(last_ts - t0, 0):.3f} s (#{last})"),
        )
        self.widths = [max(w, n) for w, n in zip(self.widths, widest, strict=True)]

    def line_texts(self, i: int) -> tuple[str, ...]:
        t = self.texts.get(i)
        if t is None:
            c = self.rows[i]
            t = self.texts[i] = cells(c, self.t0, self._client_cells.get(c.client))
        return t

    def line_width(self) -> int:
        return sum(w + 2 for w in self.widths)  # a space either side of every cell

    def line_cells(self, texts: Sequence[str]) -> list[str]:
        """Each cell padded to its column: a space, the text aligned in the column's width, a space."""
        out = []
        for col, (s, w) in enumerate(zip(texts, self.widths, strict=True)):
            pad = " " * (w - width(s))
            out.append(f" {pad}{s} " if col in RIGHT else f" {s}{pad} ")
        return out

    # -- cursor ------------------------------------------------------------------------------
    def _set_cursor(self, i: int) -> None:
        i = max(0, min(i, len(self.rows) - 1))
        if i == self.cursor or not self.rows:
            return
        self.cursor = i
        self.scroll_to_cursor()
        self.call_after_refresh(self.scroll_to_cursor)  # again once a new virtual size is laid out
        self.refresh()
        self.post_message(self.Highlighted(self.rows[i]))

    def move_cursor(self, row: int) -> None:
        self._set_cursor(row)

    def scroll_to_cursor(self) -> None:
        keep_in_view(self, self.cursor, self.scrollable_content_region.height - 1)  # rows under the header

    def action_move(self, delta: float) -> None:
        self._set_cursor(self.cursor + int(delta))

    def action_page(self, sign: int) -> None:
        self._set_cursor(self.cursor + sign * max(self.scrollable_content_region.height - 2, 1))

    def action_choose(self) -> None:
        if self.current is not None:
            self.post_message(self.Chosen(self.current))

    def action_scroll_columns(self, delta: int) -> None:
        self.scroll_to(x=self.scroll_x + delta, animate=False)

    def on_click(self, event: events.Click) -> None:
        at = event.get_content_offset(self)
        if at is None or at.y < 1:
            return
        i = round(self.scroll_y) + at.y - 1
        if 0 <= i < len(self.rows):
            if i == self.cursor:
                self.action_choose()  # as a DataTable: a click on the highlighted row selects it
            self._set_cursor(i)

    def on_resize(self) -> None:
        self.call_after_refresh(self.scroll_to_cursor)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- rendering ---------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width or self.size.width
        x = round(self.scroll_x)
        base = self.rich_style
        if y == 0:  # the header stays while the rows scroll under it
            style = base + self.get_component_rich_style("clients--header")
            return Strip([Segment("".join(self.line_cells(COLUMNS)), style)]).crop_extend(x, x + width, style)
        i = round(self.scroll_y) + y - 1
        if not 0 <= i < len(self.rows):
            return Strip.blank(width, base)
        selected = i == self.cursor
        key = (i, width, x, selected, selected and self.has_focus, self.app.theme, tuple(self.widths))
        strip = self._cache.get(key)
        if strip is not None:
            self._cache.move_to_end(key)
            return strip
        self.formatted += 1
        row = base
        if selected:
            row += self.get_component_rich_style("clients--cursor")
        elif i % 2:
            row += self.get_component_rich_style("clients--even")
        styles = cell_styles(self.rows[i])
        segments = [
            Segment(text, row + Style.parse(styles[col]) if col in styles else row)
            for col, text in enumerate(self.line_cells(self.line_texts(i)))
        ]
        strip = Strip(segments).crop_extend(x, x + width, base)
        self._cache[key] = strip
        if len(self._cache) > CACHE_LINES:
            self._cache.popitem(last=False)
        return strip


class ClientsView(SessionView):
    TITLE = "Clients"
    HINT = "Enter: show this connection's packets (tcp.stream == N) · Esc: back · → client to broker, ← back"

    DEFAULT_CSS = """
    ClientsView #clients { height: 1fr; }
    ClientsView #client-info { height: auto; max-height: 3; padding: 0 1; border-top: hkey $primary 50%; }
    """

    def body(self) -> ComposeResult:
        yield ClientTable(id="clients")
        yield Static("", id="client-info")

    def on_mount(self) -> None:
        if not self.composed():  # the app exited while it was mounted ahead
            return
        for table in self.query(ClientTable):  # (none if the app stopped composing it: see composed())
            table.focus()
            break

    def redraw(self) -> str:
        conns = self.model.clients()
        self.query_one(ClientTable).show(conns, self.model.first_ts or 0.0)
        clients = {c.client for c in conns if c.client is not None}
        open_ = sum(1 for c in conns if not c.ended)
        unacked = sum(c.unacked for c in conns)
        return f"Clients: {len(conns)} connections, {open_} open, {len(clients)} client ids, {unacked} unacknowledged"

    @on(ClientTable.Highlighted)
    def _highlighted(self, event: ClientTable.Highlighted) -> None:
        info = self.widget("#client-info", Static)
        if info is not None:
            info.update(describe(event.conn))

    @on(ClientTable.Chosen)
    def _chosen(self, event: ClientTable.Chosen) -> None:
        self.dismiss(None)
        self.app.filter_to(f"tcp.stream == {event.conn.stream}")  # type: ignore[attr-defined]

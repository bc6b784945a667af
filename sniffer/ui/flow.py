"""The Flow view (key F): Wireshark's Flow Graph of one TCP connection, an arrow per MQTT PDU.

A ladder client ↔ broker: per PDU its frame number, time (frame.time_relative), an arrow with the
packet type and id, and a comment: a response names its request and shows the acknowledgement time
(`mqtt.time`), a request the frame of its response (`mqtt.response_in`, filled in by the store's
backfill as answers arrive). Rules, as the packet list's (packet_list.py):
- the arrows are a virtual list: `FlowLines` keeps two integer columns (stored row, PDU index)
  found from the store's stream column and the filter index's PDU counts, without rebuilding any
  frame; `render_line` rebuilds only the frames on screen (an LRU of a few hundred);
- live captures extend the lines at most twice a second (new rows only), and rebuilt frames are
  dropped then, so a request shows its response once the backfill knows it;
- text from the wire (client ids, topics) is escaped and drawn as plain segments, never markup.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import OrderedDict
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Footer, Static

from sniffer.filter.index import MQ_MANY, MQ_ONE
from sniffer.mqtt import constants as C
from sniffer.net.tree import ns_seconds
from sniffer.store import CLS_TCP_CONTROL
from sniffer.textesc import escape
from sniffer.ui.packet_list import PALETTE, keep_in_view, row_style
from sniffer.ui.views_common import QUIT

# short names for the arrows (Wireshark's Flow Graph labels are the Info column's words)
SHORT = ("Reserved", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBSCRIBE",
         "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH")  # fmt: skip
FRAME_CACHE = 512
REFRESH = 0.5  # seconds between live updates (the issue: at most ~2x a second)


class FlowLines:
    """The arrows of one TCP connection, or of every connection of one client id: (stored row, PDU
    index in the frame) per line, found incrementally from the store's columns."""

    def __init__(self, store: Any, stream: int, client: str | None = None) -> None:
        self.store = store
        self.stream = stream
        self.client = client  # set: every connection whose MQTT frames name this client id
        self.rows = array("I")
        self.pdu = array("H")
        self.scanned = 0  # stored rows looked at
        # client mode: per stream, whether it is the client's (decided by its first MQTT frame that
        # names a client: one frame rebuilt per connection)
        self.mine: dict[int, bool] = {}

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def streams(self) -> list[int]:
        """The connections shown."""
        return [self.stream] if self.client is None else sorted(s for s, y in self.mine.items() if y)

    def _pdu_count(self, row: int) -> int:
        idx = self.store.index
        w = idx.mq[row]
        if w & MQ_ONE:
            return 1
        if w & MQ_MANY:
            more = idx.more.get(row)
            if more is not None:
                return 1 + len(more) // 3
            return len(self.store.frame(row).pdus)  # a malformed PDU among several: the frame says
        return 0

    def _is_mine(self, stream: int, row: int) -> bool:
        yes = self.mine.get(stream)
        if yes is None:
            pdus = self.store.frame(row).pdus
            client = next((p.ann.client for p in pdus if p.ann is not None and p.ann.client is not None), None)
            if client is None:
                return False  # not known yet (a capture that starts mid-session): ask the next frame
            yes = self.mine[stream] = client == self.client
        return yes

    def update(self) -> bool:
        """Take the rows stored since the last call; True if lines were added."""
        store = self.store
        end = store.count
        start = self.scanned
        if start >= end or (self.stream < 0 and self.client is None):
            self.scanned = end
            return False
        before = len(self.rows)
        streams = store.column("stream")
        want = self.stream
        client = self.client
        mine = self.mine
        cls = store.cls
        rows, pdu = self.rows, self.pdu
        # one comparison per row (the rows of other connections cost nothing more): a million rows
        # are scanned in well under a second when the view opens
        for i, s in enumerate(streams[start:end], start):
            if s != want and (client is None or s < 0 or mine.get(s) is False):
                continue
            if (cls(i) & 0x3F) >= CLS_TCP_CONTROL or (client is not None and not self._is_mine(s, i)):
                continue
            for k in range(self._pdu_count(i)):
                rows.append(i)
                pdu.append(k)
        self.scanned = end
        return len(self.rows) > before


def arrow(label: str, width: int, to_broker: bool) -> str:
    """`│──label────▶│` (client → broker) or `│◀──label────│`, `width` characters."""
    inner = max(width - 2, 3)
    label = label[: inner - 4]
    body = "── " + label + " "
    fill = "─" * (inner - 1 - len(body))
    return "│" + (body + fill + "▶" if to_broker else "◀" + body[1:] + fill + "─") + "│"


def comment(p: Any) -> str:
    """What the Comment column says of a PDU: links to its request/response, times, the topic."""
    a = p.ann
    parts = []
    if a is not None:
        if a.response_to:
            parts.append(f"ack of {a.response_to}")
        if a.time >= 0:
            parts.append(f"{a.time:.6f} s")
        if a.flow_time >= 0:
            parts.append(f"flow {a.flow_time:.6f} s")
        if a.response_in:
            parts.append(f"→ {a.response_in}")
    if p.msgtype == C.PUBLISH and p.topic is not None:
        parts.append(escape(p.topic))
    return "  ".join(parts)


def label(p: Any) -> str:
    t = p.msgtype
    name = SHORT[t] if 0 <= t < 16 else "?"
    if p.error is not None:
        name += " [Malformed]"
    if t == C.PUBLISH:
        name += f" q{(p.flags >> 1) & 3}"
    if p.msgid >= 0:
        name += f" id={p.msgid}"
    return name


def ladder_width(width: int) -> int:
    return max(24, min(44, width - 19 - 24))


class FlowGraph(ScrollView, can_focus=True):
    """Virtual list of a connection's arrows; the cursor is a line index."""

    BINDINGS = [
        Binding("j,down", "move(1)", "Down", show=False),
        Binding("k,up", "move(-1)", "Up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("g,home", "first", "First", show=False),
        Binding("G,end", "last", "Last", show=False),
        Binding("enter", "choose", "Select in the list"),
    ]
    DEFAULT_CSS = "FlowGraph { height: 1fr; overflow-x: hidden; scrollbar-size-vertical: 1; }"

    class Chosen(Message):
        """Enter on an arrow: select its frame (stored row) in the packet list."""

        def __init__(self, row: int) -> None:
            super().__init__()
            self.row = row

    def __init__(self, lines: FlowLines, start_row: int = -1, **kw: Any) -> None:
        super().__init__(**kw)
        self.lines = lines
        self.cursor = -1
        self._start_row = start_row
        self._frames: OrderedDict[int, Any] = OrderedDict()
        self._seen = -1  # store rows when the frames were last dropped

    def on_mount(self) -> None:
        self.show_lines(self.lines)

    def show_lines(self, lines: FlowLines) -> None:
        """Show these arrows (a connection's, a client's), the cursor on the start row's arrow."""
        self.lines = lines
        self.cursor = -1
        self._frames.clear()
        self.grow()
        if len(lines):
            # on the arrow of the frame the view was opened from, else the next one (the last one
            # when the view was opened from a frame after the connection's last PDU, its FIN say)
            self.cursor = min(bisect_left(lines.rows, self._start_row), len(lines) - 1)
            self.call_after_refresh(self.scroll_to_cursor)

    def grow(self) -> bool:
        """New rows stored: extend the lines; rebuilt frames are dropped (the backfill may have filled them)."""
        tail = self.cursor == len(self.lines) - 1
        grew = self.lines.update()
        if self.store_grew():
            self._frames.clear()
        self.virtual_size = Size(self.size.width, len(self.lines))
        if grew and tail:
            self.cursor = len(self.lines) - 1
            self.call_after_refresh(self.scroll_to_cursor)
        self.refresh()
        return grew

    def store_grew(self) -> bool:
        n = self.lines.store.count
        grew = n != self._seen
        self._seen = n
        return grew

    # -- frames ----------------------------------------------------------------------------------
    def frame(self, row: int) -> Any:
        f = self._frames.get(row)
        if f is None:
            f = self._frames[row] = self.lines.store.frame(row)
            if len(self._frames) > FRAME_CACHE:
                self._frames.popitem(last=False)
        else:
            self._frames.move_to_end(row)
        return f

    def pdu_at(self, line: int) -> tuple[Any, Any] | None:
        """(frame, PDU) of line `line`, None if the stored frame no longer has that PDU."""
        f = self.frame(self.lines.rows[line])
        k = self.lines.pdu[line]
        return (f, f.pdus[k]) if k < len(f.pdus) else None

    def line_text(self, line: int, width: int) -> tuple[str, int]:
        """The text of arrow `line` at `width` columns, and its MQTT type (for the colour)."""
        got = self.pdu_at(line)
        row = self.lines.rows[line]
        if got is None:
            return f"{self.lines.store.number(row):>7}".ljust(width), 0
        f, p = got
        a = p.ann
        direction = a.direction if a is not None else (f.seg.direction if f.seg is not None else 0)
        ladder = arrow(label(p), ladder_width(width), direction == 0)
        note = comment(p) if self.lines.client is None else f"[stream {f.stream}] {comment(p)}"
        exact = f.exact  # (as the packet list: the capture's decimals, exact)
        t = f"{f.rel_ts:.6f}" if exact is None else ns_seconds(exact[1], exact[3])
        text = f"{f.number:>7} {t:>10} {ladder} {note}"
        return text[:width].ljust(width), p.msgtype & 0x0F

    # -- cursor ------------------------------------------------------------------------------------
    def _set(self, line: int) -> None:
        n = len(self.lines)
        self.cursor = max(0, min(line, n - 1)) if n else -1
        self.scroll_to_cursor()
        self.refresh()

    def scroll_to_cursor(self) -> None:
        if self.cursor >= 0:
            keep_in_view(self, self.cursor, self.scrollable_content_region.height)

    def action_move(self, delta: int) -> None:
        self._set(self.cursor + delta)

    def action_page(self, sign: int) -> None:
        self._set(self.cursor + sign * max(self.scrollable_content_region.height - 1, 1))

    def action_first(self) -> None:
        self._set(0)

    def action_last(self) -> None:
        self._set(len(self.lines) - 1)

    def action_choose(self) -> None:
        if 0 <= self.cursor < len(self.lines):
            self.post_message(self.Chosen(self.lines.rows[self.cursor]))

    def on_click(self, event: events.Click) -> None:
        at = event.get_content_offset(self)
        if at is not None:
            self._set(round(self.scroll_y) + at.y)

    # -- rendering ---------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        line = round(self.scroll_y) + y
        width = self.scrollable_content_region.width or self.size.width
        base = self.rich_style
        if not 0 <= line < len(self.lines):
            return Strip.blank(width, base)
        text, msgtype = self.line_text(line, width)
        dark = self.app.current_theme.dark
        style = base + Style.parse(row_style(msgtype, dark))
        if line == self.cursor:
            style = style + Style.parse(PALETTE[dark]["cursor" if self.has_focus else "cursor_blur"])
        return Strip([Segment(text, style)], width)


class FlowScreen(Screen[int | None]):
    """The Flow view of the connection (or, `c`, the client) of stored row `row`; dismissed with the
    stored row chosen (Enter)."""

    BINDINGS = [Binding("escape,q,F", "close", "Close"), Binding("c", "toggle_client", "Connection / client"), QUIT]
    IS_VIEW = True  # the app's packet-list keys sleep while it is on top (SnifferApp.check_action)
    DEFAULT_CSS = """
    FlowScreen #flow-title { height: auto; background: $panel; padding: 0 1; }
    FlowScreen #flow-header { height: 1; text-style: bold; }
    """

    def __init__(self, store: Any, row: int) -> None:
        super().__init__()
        self.store = store
        self.row = row
        stream = store.stream(row) if 0 <= row < store.count else -1
        self.flow_lines = FlowLines(store, stream)
        self.client: str | None = None  # the selected frame's client id, read when `c` asks for it

    def compose(self) -> ComposeResult:
        yield Static("", id="flow-title")
        yield Static("", id="flow-header")
        yield FlowGraph(self.flow_lines, self.row, id="flow")
        yield Footer()

    def on_mount(self) -> None:
        if not self.query(FlowGraph):  # the app exited while it was mounting: its compose never ran
            return
        self.graph = self.query_one(FlowGraph)
        self.graph.focus()
        self._title()
        self.set_interval(REFRESH, self._tick)

    def _title(self) -> None:
        lines = self.flow_lines
        title = self.query_one("#flow-title", Static)
        width = self.graph.scrollable_content_region.width or self.size.width or 80  # as the arrows are drawn
        head = f"{'No.':>7} {'Time':>10} " + "client".ljust(ladder_width(width) - 6) + "broker Comment"
        self.query_one("#flow-header", Static).update(Text(head[:width]))
        if lines.client is not None:
            shown = lines.streams
            out = Text(f'Flow of client "{escape(lines.client)}": ', style="bold")
            out.append(f"{len(shown):,} connections (tcp.stream {', '.join(map(str, shown[:8]))}")
            out.append(f"{', …' if len(shown) > 8 else ''}) · {len(lines):,} MQTT PDUs   c: this connection only")
            title.update(out)
            return
        if lines.stream < 0:
            title.update(Text("Flow: no TCP connection selected (select an MQTT frame, then F)"))
            return
        out = Text(f"Flow of tcp.stream == {lines.stream}: ", style="bold")
        client, broker = self._endpoints()
        out.append(f"client {client} ↔ broker {broker} · {len(lines):,} MQTT PDUs   c: all of the client's")
        title.update(out)

    def _endpoints(self) -> tuple[str, str]:
        """The client's id and address:port, the broker's address:port (from the first arrow's frame)."""
        lines = self.flow_lines
        if not len(lines):
            return "?", "?"
        got = self.graph.pdu_at(0)
        if got is None:
            return "?", "?"
        f, p = got
        seg = f.seg
        a = p.ann
        src = f"{f.src}:{seg.sport}" if seg is not None else f.src
        dst = f"{f.dst}:{seg.dport}" if seg is not None else f.dst
        direction = a.direction if a is not None else (seg.direction if seg is not None else 0)
        client, broker = (src, dst) if direction == 0 else (dst, src)
        if a is not None and a.client is not None:
            client = f'"{escape(a.client)}" ({client})'
        return client, broker

    def action_toggle_client(self) -> None:
        """Switch between the selected frame's connection and every connection of its client id."""
        if self.flow_lines.client is not None:
            self.flow_lines = FlowLines(self.store, self.flow_lines.stream)
        else:
            # the client of the arrow under the cursor (the view may have been opened from a TCP
            # segment, which names none), else of the selected frame
            got = self.graph.pdu_at(self.graph.cursor) if self.graph.cursor >= 0 else None
            if got is not None and got[1].ann is not None and got[1].ann.client is not None:
                self.client = got[1].ann.client
            elif self.client is None and 0 <= self.row < self.store.count:
                pdus = self.store.frame(self.row).pdus
                self.client = next((p.ann.client for p in pdus if p.ann is not None and p.ann.client), None)
            if self.client is None:
                self.notify("This connection names no client id (no CONNECT captured)", severity="warning")
                return
            self.flow_lines = FlowLines(self.store, self.flow_lines.stream, self.client)
        self.graph.show_lines(self.flow_lines)
        self._title()

    def _tick(self) -> None:
        if self.graph.grow():
            self._title()

    def on_resize(self) -> None:
        self._title()

    def on_flow_graph_chosen(self, message: FlowGraph.Chosen) -> None:
        self.dismiss(message.row)

    def action_close(self) -> None:
        self.dismiss(None)

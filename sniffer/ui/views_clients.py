"""The Clients view (key c): one row per MQTT connection, from sniffer.stats.clients; Enter filters
the packet list to that connection (tcp.stream == N)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from sniffer.stats.clients import ConnInfo
from sniffer.ui.views_common import SessionView, wire

# what tells a connection's story first, so that it fits 80 columns; the traffic counts after
COLUMNS = ("Stream", "Client ID", "State", "Unacked", "Client address", "MQTT", "Keep-alive", "PDUs →", "Bytes →",
           "PDUs ←", "Bytes ←", "Last seen")  # fmt: skip


def state(c: ConnInfo) -> Text:
    if not c.ended:
        return Text("connected", style="green")
    # how it ended is our own text (sniffer.stats.clients), not the wire's
    bad = not c.ended.startswith("DISCONNECT by client")
    return Text(c.ended, style="yellow" if bad else "")


CLIENT_WIDTH = 28  # characters of a client id in its cell (the line under the table shows it whole)


def row(c: ConnInfo, t0: float) -> list[Text | str]:
    ka = f"{c.keepalive} s" if c.keepalive >= 0 else "?"
    last = f"{c.last_ts - t0:.3f} s (#{c.last})"
    unacked = Text(str(c.unacked), style="bold red" if c.unacked else "")
    client = wire(c.client, "(no CONNECT seen)")
    client.truncate(CLIENT_WIDTH, overflow="ellipsis")
    return [str(c.stream), client, state(c), unacked, c.addr, c.version_text, ka,
            str(c.pdus[0]), str(c.bytes[0]), str(c.pdus[1]), str(c.bytes[1]), last]  # fmt: skip


def describe(c: ConnInfo) -> Text:
    out = Text.assemble(("Client ID ", "bold"), wire(c.client, "(no CONNECT seen)"), ("  State ", "bold"))
    out.append_text(state(c))
    out.append(f"  frames {c.first}–{c.last}")
    return out


class ClientsView(SessionView):
    TITLE = "Clients"
    HINT = "Enter: show this connection's packets (tcp.stream == N) · Esc: back · → client to broker, ← back"

    DEFAULT_CSS = """
    ClientsView #clients { height: 1fr; }
    ClientsView #client-info { height: auto; max-height: 3; padding: 0 1; border-top: hkey $primary 50%; }
    """

    def __init__(self, model) -> None:
        super().__init__(model)
        self.conns: dict[str, ConnInfo] = {}

    def body(self) -> ComposeResult:
        table: DataTable = DataTable(cursor_type="row", zebra_stripes=True, id="clients")
        table.add_columns(*COLUMNS)
        yield table
        yield Static("", id="client-info")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(DataTable).focus()

    def redraw(self) -> str:
        conns = self.model.clients()
        t0 = self.model.first_ts or 0.0
        table = self.query_one(DataTable)
        keys = list(table.columns)
        shown = self.conns
        # in place: new connections are appended, changed ones get their changed cells (a live
        # capture changes a few rows between two redraws; rebuilding all would cost every row)
        for c in conns:
            key = str(c.stream)
            old = shown.get(key)
            if old is None:
                table.add_row(*row(c, t0), key=key)
            elif old != c:
                for col, (was, now) in enumerate(zip(row(old, t0), row(c, t0), strict=True)):
                    if was != now:
                        table.update_cell(key, keys[col], now, update_width=True)
            shown[key] = c
        if 0 <= table.cursor_row < table.row_count:  # the line under the table follows its row's changes
            self._describe(table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value)
        clients = {c.client for c in conns if c.client is not None}
        open_ = sum(1 for c in conns if not c.ended)
        unacked = sum(c.unacked for c in conns)
        return f"Clients: {len(conns)} connections, {open_} open, {len(clients)} client ids, {unacked} unacknowledged"

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._describe(event.row_key.value)

    def _describe(self, key: str | None) -> None:
        c = self.conns.get(key or "")
        self.query_one("#client-info", Static).update(describe(c) if c is not None else "")

    @on(DataTable.RowSelected)
    def _chosen(self, event: DataTable.RowSelected) -> None:
        stream = event.row_key.value
        if stream is None:
            return
        self.dismiss(None)
        self.app.filter_to(f"tcp.stream == {stream}")  # type: ignore[attr-defined]

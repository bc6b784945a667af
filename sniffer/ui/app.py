"""The mqttsniff terminal UI: filter bar, packet list, detail tree, bytes/payload pane, status bar.

Data flow: a PacketSource -> Loader thread (dissect, store, filter) -> one coalescing `Loaded`
message at most ~10x a second -> the packet list's row count. The UI thread never dissects in
bulk; it rebuilds the detail tree and bytes of the selected frame only, from the store.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import ContentSwitcher, Footer, Input, Static, Tree

from sniffer.output.text import secret_ranges
from sniffer.store import PacketStore
from sniffer.textesc import escape as text_escape
from sniffer.ui import filtering, find, layout, payload, workflow
from sniffer.ui.detail import DetailTree
from sniffer.ui.goto import GotoScreen
from sniffer.ui.hexview import HexView
from sniffer.ui.loader import Loader
from sniffer.ui.packet_list import ListHeader, PacketList
from sniffer.ui.screens import HelpScreen, QuitScreen, SaveScreen
from sniffer.ui.session_model import SessionModel
from sniffer.ui.views_clients import ClientsView
from sniffer.ui.views_common import SessionView, show_view, warm_view
from sniffer.ui.views_expert import ExpertView
from sniffer.ui.views_topics import TopicsView


class FieldSuggester(Suggester):
    """Completes the field name being typed (shown greyed; → accepts), from the filter engine."""

    async def get_suggestion(self, value: str) -> str | None:
        word = value.rsplit(" ", 1)[-1].lstrip("(!")
        if len(word) < 2:
            return None
        names = filtering.completions(word)
        names = [n for n in names if n.startswith(word) and n != word]
        return value + names[0][len(word) :] if names else None


class FilterInput(Input):
    BINDINGS = [Binding("escape", "clear_filter", "Clear filter", show=False)]

    class Cleared(Message):
        pass

    def action_clear_filter(self) -> None:
        self.value = ""
        self.post_message(self.Cleared())


# The packet keys, the same from every pane (the list has its own copies): j k g G and Ctrl+Home/End
# (Wireshark's first/last packet from anywhere) move the packet; the arrows and PgUp/PgDn stay with
# the focused pane (the tree's and the bytes' own cursor), so a field or a byte can still be reached
# from the keyboard. Home/End move the packet too, except in the details tree, where they go to its
# first/last field as in Wireshark's details pane (and Textual's Tree).
PACKET_KEYS = [
    Binding("j", "app.packet_step(1)", "Next packet", show=False),
    Binding("k", "app.packet_step(-1)", "Previous packet", show=False),
    Binding("g,ctrl+home", "app.packet_first", "First packet", show=False),
    Binding("G,ctrl+end", "app.packet_last", "Last packet", show=False),
]
HOME_END = [
    Binding("home", "app.packet_first", "First packet", show=False),
    Binding("end", "app.packet_last", "Last packet", show=False),
]


class Details(DetailTree):
    BINDINGS = [Binding("space", "app.toggle_pause", "Pause", show=False), *PACKET_KEYS]


class BytesPane(HexView):
    BINDINGS = [*PACKET_KEYS, *HOME_END]


class PayloadPane(VerticalScroll):
    BINDINGS = [*PACKET_KEYS, *HOME_END]


class Loaded(Message):
    """The loader has new rows or a new view (coalesced: at most one waits in the queue)."""


class SnifferApp(workflow.WorkflowActions, find.FindActions, layout.LayoutActions, App):
    TITLE = "mqttsniff"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        # priority: taken as it arrives, so that the keys typed right after it go to the bar (see
        # action_edit_filter); check_action lets a "/" typed into an input through.
        Binding("slash", "edit_filter", "Filter", id="filter", priority=True),
        Binding("space", "toggle_pause", "Pause", id="pause"),
        Binding("f", "follow_stream", "Follow", id="follow"),
        Binding("p", "toggle_payload", "Payload", id="payload"),
        Binding("v", "payload_mode", "View", show=False, id="view"),
        Binding("s", "toggle_secrets", "Secrets", show=False, id="secrets"),
        Binding("w", "save", "Save", id="save"),
        Binding("ctrl+g", "goto_frame", "Go to frame", show=False, id="goto"),
        Binding("t", "toggle_theme", "Theme", show=False, id="theme"),
        Binding("F", "flow_graph", "Flow graph", show=False, id="flow"),
        Binding("i", "graphs", "Graphs", show=False, id="graphs"),
        Binding("c", "clients", "Clients", show=False, id="clients"),
        Binding("o", "topics", "Topics", show=False, id="topics"),
        Binding("e", "expert", "Expert info", show=False, id="expert"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit_app", "Quit", id="quit"),
        # every way out asks the same question as q (Textual's ctrl+c only shows a hint, its ctrl+q
        # and palette Quit exit at once): priority, so the filter bar's copy does not swallow it
        Binding("ctrl+c", "quit_app", "Quit", show=False, priority=True),
        *workflow.BINDINGS,  # apply/prepare as filter, time format and reference, copy, export
        *find.BINDINGS,  # find packet, next / previous match
        *layout.BINDINGS,  # grow / shrink the focused pane
    ]
    # what each action does, for the command palette (the actions' docstrings are for developers)
    DESCRIPTIONS = {
        "edit_filter": "Edit the display filter (Enter applies, Esc clears)",
        "toggle_pause": "Pause or resume the display; the capture goes on",
        "follow_stream": "Show only the selected frame's TCP connection (tcp.stream == N)",
        "toggle_payload": "Switch the bottom pane between the bytes and the message payload",
        "payload_mode": "Cycle the payload view: auto, text, JSON, hex",
        "toggle_secrets": "Reveal or mask secret fields (passwords)",
        "save": "Save the displayed frames or all frames to a pcapng file",
        "goto_frame": "Go to a frame by its number",
        "toggle_theme": "Switch between the dark and the light theme",
        "clients": "One row per MQTT connection: state, traffic, unacknowledged messages",
        "topics": "The topic tree from the wire: counts, rates, last payloads, who publishes",
        "expert": "Expert information: the notes by severity and group, with their frames",
        "help": "Show the keys",
        "flow_graph": "Flow graph of the selected frame's connection: an arrow per MQTT packet",
        "graphs": "Graphs: MQTT messages per second and acknowledgement times",
        "quit_app": "Quit (asks first when a live capture has unsaved frames)",
        **workflow.DESCRIPTIONS,
        **find.DESCRIPTIONS,
        **layout.DESCRIPTIONS,
    }

    def __init__(
        self,
        source: Any,
        dissector: Any,
        store: PacketStore | None = None,
        theme: str | None = None,
        display_filter: str = "",
        show_secrets: bool = False,
        keep_frames: int = 0,
    ) -> None:
        super().__init__()
        self.source = source
        self.store = store or PacketStore()
        tracker = getattr(dissector, "tracker", None)
        if tracker is not None:  # responses fill their requests in as they arrive
            tracker.record = True
            self.store.backfill = tracker.backfill
        self.loader = Loader(source, self.store, dissector, self._notify_loaded)
        self.sessions = SessionModel(self.store)  # what the Clients, Topics and Expert views show
        self.loader.sessions = self.sessions
        self.loader.keep = keep_frames  # --keep-frames: the list keeps about this many frames, the newest
        self._retired: list[PacketStore] = []  # stores the loader left behind, closed once nothing reads them
        self._held: list[Any] = []  # stores a worker thread is reading (a Graphs view's), one entry per read
        self.store_generation = 0  # stores adopted so far (a view opened on an older one answers nothing)
        self._loaded_pending = False
        self._refreshed_at = 0.0  # when refresh_view last ran (time.monotonic())
        self._status_shown = ""  # the status bar's text (updated only when it changes)
        self.paused = False
        self.show_secrets = show_secrets
        self.payload_mode = "auto"
        self.initial_filter = display_filter
        self.filter_text = ""
        self.saved_count = 0
        self.selected_row = -1
        self._sel_frame: Any = None
        self._details_at = 0.0  # when the details last showed a frame (monotonic)
        self._follow_row = -1  # the newest row while following new packets
        self._follow_timer: Any = None
        self._sel_nodes: list = []
        self._view_gen = -1
        self._highlight_from_hex = False
        self.status_note = ""  # why the last jump could not go where asked (until the selection moves)
        if theme:
            self.theme = theme

    # -- layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield FilterInput(
            placeholder='Apply a display filter … </>  e.g. mqtt.msgtype == 3 && mqtt.topic contains "temp"',
            id="filter",
            suggester=FieldSuggester(use_cache=False),
        )
        yield Static("", id="filter-error")
        with Vertical(id="list-pane"):
            yield ListHeader()
            yield PacketList(self.store, id="packets")
        yield Details(id="details")
        with ContentSwitcher(initial="bytes", id="bottom"):
            yield BytesPane(id="bytes")
            with PayloadPane(id="payload"):
                yield Static("", id="payload-text")
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        # widget references: queries would look at whichever screen is on top (help, save)
        self.plist = self.query_one("#packets", PacketList)
        self.details = self.query_one("#details", Details)
        self.hexv = self.query_one("#bytes", HexView)
        self.filter_bar = self.query_one("#filter", FilterInput)
        self.filter_error = self.query_one("#filter-error", Static)
        self.status_bar = self.query_one("#status", Static)
        self.payload_text = self.query_one("#payload-text", Static)
        self.payload_pane = self.query_one("#payload", VerticalScroll)
        self.bottom = self.query_one("#bottom", ContentSwitcher)
        self.list_header = self.query_one(ListHeader)
        self.details.border_title = "Details"
        self.hexv.border_title = "Bytes"
        self.payload_pane.border_title = "Payload"
        self.restore_layout()  # the pane sizes of the last run
        self.plist.focus()
        self.plist.tail = bool(self.source.live)
        self.loader.start()
        if self.initial_filter:
            self.filter_bar.value = self.initial_filter
            self.apply_filter(self.initial_filter)
        self.set_interval(1.0, self._update_status)
        # the trailing edge of the coalesced updates: rows that came in just after the last message
        self.set_interval(POLL_EVERY, self._poll)
        self._update_status()
        self.set_timer(WARM_VIEWS_AFTER, self._warm_views)

    def on_unmount(self) -> None:
        self.loader.stop()

    # -- loader -> UI ------------------------------------------------------------------------
    def _notify_loaded(self) -> None:
        """Called from the loader's threads: post one message unless one is already waiting."""
        if not self._loaded_pending:
            self._loaded_pending = True
            self.post_message(Loaded())

    def on_loaded(self, message: Loaded) -> None:
        self._loaded_pending = False
        self.refresh_view()

    def _poll(self) -> None:
        view, shown, _total = self.loader.snapshot()
        if view.generation == self._view_gen and time.monotonic() - self._refreshed_at < POLL_EVERY * 0.9:
            return  # a Loaded message just did it (while rows stream in, one refresh per interval, not two)
        if view.generation != self._view_gen or (shown != self.plist.count and not self.paused) or self.plist.pending:
            self.refresh_view()
        elif self.plist.tail:
            self.plist.scroll_to_cursor()  # a layout pass may have clamped the scroll before the rows came

    def refresh_view(self, force: bool = False) -> None:
        self._refreshed_at = time.monotonic()
        view, shown, scanned = self.loader.displayed()
        plist = self.plist
        if view.store is not None and view.store is not self.store:
            self._adopt_store(view.store)
        new_gen = view.generation != self._view_gen
        if new_gen or force or not self.paused or plist.pending:
            self._view_gen = view.generation
            plist.set_view(view.rows, shown, new_gen, scanned)
            self.list_header.refresh()
        self._update_status()

    def _adopt_store(self, store: PacketStore) -> None:
        """The loader went on in a new store (--keep-frames): the list and the panes follow it; the old
        store is closed once no screen (Flow, Graphs) and no expert catch-up reads it any more."""
        self._retired.append(self.store)
        self.store = store
        self.store_generation += 1
        self.plist.adopt(store)
        if self.sessions.expert_progress() is None:  # (a catch-up under way reads the store it began on)
            self.sessions.store = store
        self.saved_count = 0  # (what the quit prompt would offer to save: this store's frames)
        self.close_retired()

    def hold_store(self, store: Any) -> None:
        """A worker thread reads `store` (until release_store): it is not closed meanwhile, even if the
        screen that started the worker has closed or moved on."""
        self._held.append(store)

    def release_store(self, store: Any) -> None:
        self._held.remove(store)
        self.close_retired()

    def close_retired(self, everything: bool = False) -> None:
        """Close the stores left behind that nothing reads now (everything: at exit, all of them)."""
        readers = {id(getattr(s, "store", None)) for s in self.screen_stack}
        readers.update(id(s) for s in self._held)
        if self.sessions.expert_progress() is not None:
            readers.add(id(self.sessions.store))  # (its catch-up thread reads the store it began on)
        keep = []
        for old in self._retired:
            if everything or id(old) not in readers:
                old.close()
            else:
                keep.append(old)
        self._retired = keep

    # -- status bar --------------------------------------------------------------------------
    def status_text(self) -> str:
        plist = self.plist
        captured, kdrops, qdrops = self.source.stats()
        view, shown, total = self.loader.snapshot()
        if self.loader.error:
            state = f"[red]error: {escape(text_escape(self.loader.error))}[/red]"
        elif not self.loader.done.is_set():
            prog = self.source.progress()
            if self.source.live:
                state = "[b]capturing[/b]"
            elif prog is not None:
                filled = int(prog * 10)
                state = f"loading {'█' * filled}{'░' * (10 - filled)} {prog:4.0%}"
            else:
                state = "loading"
        else:
            state = "stopped" if self.source.live else "loaded"
            if self.source.truncated():
                state += " [yellow](file cut short)[/yellow]"
        if self.paused:
            state = f"[reverse] PAUSED [/reverse] {state}"
        parts = [state, f"[b]{escape(text_escape(self.source.name))}[/b]"]  # a file name: any bytes
        if self.source.capture_filter:
            parts.append(f"capture filter: {escape(text_escape(self.source.capture_filter))}")
        counts = f"captured {captured:,} · shown {plist.count:,} · dropped {kdrops + qdrops:,}"
        waiting = getattr(self.source, "waiting", None)  # a burst the dissector has not caught up with yet
        if callable(waiting):
            memory, disk = waiting()
            if disk:
                counts += f" · [yellow]{memory + disk:,} waiting (on disk)[/yellow]"
        if self.loader.left:  # --keep-frames: the oldest frames left the list (the session views keep counting)
            counts += f" · [yellow]{self.loader.left:,} left the list[/yellow]"
        parts.append(counts)
        per_source = getattr(self.source, "status", None)  # several sources (sniffer.capture.multi): each one's counts
        if callable(per_source):
            parts.append(escape(text_escape(per_source())))
        if self.source.live:
            parts.append(f"{self.loader.update_rate():,.0f} pkt/s")
        if self.loader.scanning:
            parts.append(f"filtering {view.scanned * 100 // max(total, 1)}%")
        if plist.new_since and not plist.tail and (self.source.live or self.paused):
            parts.append(f"[b]+{plist.new_since:,} new[/b]")
        if self.show_secrets:
            parts.append("[red]secrets shown[/red]")
        if self.status_note:
            parts.append(f"[yellow]{escape(text_escape(self.status_note))}[/yellow]")  # a typed filter: any text
        dropped = getattr(self.loader.dissector, "dropped_pdus", 0)
        if dropped:  # --max-buffered was reached: say so where the user looks
            parts.append(f"[yellow]buffer cap reached: {dropped:,} PDUs dropped[/yellow]")
        parts.extend(self.workflow_status())
        return " │ ".join(parts)

    def _update_status(self) -> None:
        if self._retired:
            self.close_retired()
        text = self.status_text()
        if text != self._status_shown:
            # one line high whatever it says (app.tcss): no layout pass (Static's default), which
            # laid out the whole screen ~10 times a second while a file loaded
            self._status_shown = text
            self.status_bar.update(text, layout=False)

    # -- selection ---------------------------------------------------------------------------
    @on(PacketList.Selected)
    def _packet_selected(self, message: PacketList.Selected) -> None:
        if message.store is not None and message.store is not self.store:
            return  # a row of a store left behind
        if not message.follow:
            self.show_frame(message.row)
            return
        # Following new packets: the details show the newest at most every FOLLOW_DETAILS_EVERY seconds
        # (the last one always, once the window ends). Each one rebuilds a frame and its tree, ~20 ms
        # under a flood; ten a second took a third of the UI thread and slowed the loader that shares
        # the interpreter with it.
        self._follow_row = message.row
        wait = self._details_at + FOLLOW_DETAILS_EVERY - time.monotonic()
        if wait <= 0:
            self.show_frame(message.row)
        elif self._follow_timer is None:
            self._follow_timer = self.set_timer(wait, self._follow_due)

    def _follow_due(self) -> None:
        self._follow_timer = None
        # Still on that row (nothing else moved it) and the details not on it yet. Tail mode may have ended
        # meanwhile without a new selection: a click or a go-to on the row already highlighted.
        row = self._follow_row
        if row == self.plist.selected_row and row != self.selected_row:
            self.show_frame(row)

    def _displayed_delta(self, row: int) -> tuple[float, int] | None:
        """Frame.shown of stored row `row`: the time since the previous frame the list displays (0 for the
        first), as Wireshark's tree shows it under a display filter; None without a filter (the captured delta)."""
        plist = self.plist
        d = plist.index_of(row) if plist.rows is not None else -1
        if d < 0:
            return None
        ns = self.store.ns(row) - self.store.ns(plist.store_row(d - 1)) if d > 0 else 0
        return ns / 1e9, ns

    def show_frame(self, row: int) -> None:
        self.selected_row = row
        self._details_at = time.monotonic()
        if self.status_note:
            self.status_note = ""
            self._update_status()
        tree = self.details
        hexv = self.hexv
        if row < 0:
            self._sel_frame, self._sel_nodes = None, []
            tree.show([], self.show_secrets)
            hexv.show([], {})
            self._show_payload()
            return
        frame = self.store.frame(row)
        if self.store.file_error:  # the capture file changed on disk: the row is shown without its bytes
            self.status_note = self.store.file_error
            self._update_status()
        frame.shown = self._displayed_delta(row)
        nodes = frame.tree()
        self._sel_frame, self._sel_nodes = frame, nodes
        sources = frame.sources()
        start = tree.show(nodes, self.show_secrets)
        hexv.show(sources, {} if self.show_secrets else secret_ranges(nodes, frame))
        if start is not None:
            hexv.select_range(start.source, start.start, start.length)
        self._bytes_title()
        self._show_payload()

    def _bytes_title(self) -> None:
        hexv = self.hexv
        titles = [t if k != hexv.source else f"[b]{t}[/b]" for k, (t, _d) in enumerate(hexv.sources)]
        hexv.border_title = "Bytes: " + " | ".join(titles) if titles else "Bytes"

    @on(Tree.NodeHighlighted, "#details")
    def _field_highlighted(self, event: Tree.NodeHighlighted) -> None:
        node = event.node.data
        hexv = self.hexv
        if node is None:
            return
        keep_cursor = hexv.cursor_byte if self._highlight_from_hex else -1
        hexv.select_range(node.source, node.start, node.length)
        if keep_cursor >= 0:
            hexv.cursor_byte = keep_cursor
        self._highlight_from_hex = False
        self._bytes_title()

    @on(DetailTree.FollowLink)
    def _follow_link(self, message: DetailTree.FollowLink) -> None:
        """Enter (or a double click) on a link ([Response In: 42]) goes to its frame, as in Wireshark."""
        self.goto_frame(message.number)

    # -- go to frame -------------------------------------------------------------------------
    def frame_problem(self, number: int) -> str | None:
        """Why frame `number` cannot be selected in the list (None: it can)."""
        base = self.store.number_base
        count = base + self.store.count
        if 1 <= number <= base:
            return f"Frame {number:,} left the list (--keep-frames: frames {base + 1:,}-{count:,} are kept)"
        if not 1 <= number <= count:
            if number > count and not self.loader.done.is_set():
                return f"Frame {number:,} has not been read yet ({count:,} so far)"
            return f"There is no frame {number:,} (frames 1-{count:,})" if count else "No frames yet"
        row = self.store.row_of(number)
        if self.plist.index_of(row) < 0:
            if self.plist.pending or self.loader.scanning:
                return f"Frame {number:,} is not displayed yet (the filter is still being applied)"
            if self.filter_text and row < self.loader.displayed()[2]:
                return f"Frame {number:,} is hidden by the display filter: {self.filter_text}"
            return f"Frame {number:,} is not displayed yet" + (" (display paused)" if self.paused else "")
        return None

    def goto_frame(self, number: int) -> bool:
        """Select frame `number`; if the list cannot show it, say why in the status bar."""
        problem = self.frame_problem(number)
        if problem is not None:
            self.status_note = problem
            self.bell()
            self._update_status()
            return False
        self.plist.select_row(self.store.row_of(number))
        return True

    def action_goto_frame(self) -> None:
        """Ask for a frame number and select that frame."""

        def answered(number: int | None) -> None:
            if number is not None:
                self.goto_frame(number)

        self.push_screen(GotoScreen(self.frame_problem, self.store.number(self.store.count - 1)), answered)

    def action_packet_step(self, delta: int) -> None:
        """Next / previous packet, from any pane."""
        self.plist.move(delta)

    def action_packet_first(self) -> None:
        """First packet, from any pane."""
        self.plist.action_first()

    def action_packet_last(self) -> None:
        """Last packet (and follow new ones), from any pane."""
        self.plist.action_last()

    @on(HexView.ByteSelected)
    def _byte_selected(self, event: HexView.ByteSelected) -> None:
        tree = self.details
        node = tree.field_at(event.source, event.offset)
        if node is not None:
            self._highlight_from_hex = True
            tree.select_field(node)

    # -- payload -----------------------------------------------------------------------------
    def _show_payload(self) -> None:
        widget = self.payload_text
        if self._sel_frame is None:
            widget.update("")
            return
        items = payload.payloads(self._sel_nodes, self._sel_frame.sources())
        if not items:
            widget.update(Text("(no message payload in this frame)", style="dim"))
            return
        out = Text()
        for p in items:
            title, data = p.title, p.data
            if self.payload_mode == "auto":  # as the dissector decoded it (the detail tree's own nodes)
                shown = p.decoded_as or "not decoded"
                out.append(f"{title} — {len(data)} bytes, {shown} (v cycles auto/text/json/hex)\n", "bold")
                width = (self.payload_pane.size.width or self.size.width) - 2  # less the scroll bar
                out.append(payload.decoded_view(p, self.show_secrets, width) + "\n")
                continue
            used, text = payload.render(data, self.payload_mode)
            out.append(f"{title} — {len(data)} bytes, shown as {used} (v cycles auto/text/json/hex)\n", "bold")
            out.append(text + "\n")
        widget.update(out)
        self.payload_pane.border_title = f"Payload ({self.payload_mode})"

    def action_toggle_payload(self) -> None:
        """Switch the bottom pane between the bytes and the message payload."""
        sw = self.bottom
        sw.current = "payload" if sw.current == "bytes" else "bytes"
        self._show_payload()

    def action_payload_mode(self) -> None:
        """Cycle the payload view: auto, text, JSON, hex."""
        modes = payload.MODES
        self.payload_mode = modes[(modes.index(self.payload_mode) + 1) % len(modes)]
        sw = self.bottom
        sw.current = "payload"
        self._show_payload()

    # -- filter ------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # a view (Clients, Topics, Expert, Flow, Graphs) hides the packet list: its keys (Follow,
        # Payload, Save, Pause ...) neither act on it nor show in the view's footer
        if action in LIST_ACTIONS and getattr(self.screen, "IS_VIEW", False):
            return False
        # a "/" typed into the filter bar or a dialog is text; and no filter editing under a dialog
        return not (action == "edit_filter" and (isinstance(self.focused, Input) or len(self.screen_stack) > 1))

    def action_edit_filter(self) -> None:
        """Focus the display filter bar, at once: the keys that arrived with the "/" (typed fast over
        SSH, pasted) must land in the bar, not be taken as commands. A plain binding ran only when
        the packet list had already been handed those keys, and Widget.focus() waits a turn: a burst
        of "/mqtt.msgtype == 3" lost its text, and before that its "q" quit the UI."""
        self.screen.set_focus(self.filter_bar)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._validate(event.value)

    def _validate(self, text: str):
        bar = self.filter_bar
        err = self.filter_error
        bar.remove_class("valid", "invalid")
        err.display = False
        if not text.strip():
            return None, True
        try:
            matcher = filtering.compile_matcher(text)
        except filtering.FilterProblem as p:
            bar.add_class("invalid")
            caret = " " * p.start + "^" + "~" * max(p.end - p.start - 1, 0)
            err.update(Text(f"{caret}\n{p.message}", style="bold"))
            err.display = True
            return None, False
        bar.add_class("valid")
        return matcher, True

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if self.apply_filter(event.value):
            self.plist.focus()

    @on(FilterInput.Cleared)
    def _filter_cleared(self) -> None:
        self.apply_filter("")
        self.plist.focus()

    def apply_filter(self, text: str) -> bool:
        """Apply a display filter; False (and the error shown) if it does not compile."""
        matcher, ok = self._validate(text)
        if not ok:
            self.bell()
            return False
        self.filter_text = text.strip()
        self.status_note = ""
        self.loader.set_filter(matcher, self.filter_text)
        self.refresh_view(force=True)
        return True

    def action_follow_stream(self) -> None:
        """Show only the selected frame's TCP connection (tcp.stream == N)."""
        row = self.plist.selected_row
        if row < 0 or self.store.stream(row) < 0:
            self.notify("The selected frame is not part of a TCP connection", severity="warning")
            return
        text = f"tcp.stream == {self.store.stream(row)}"
        self.filter_bar.value = text
        self.apply_filter(text)

    # -- other actions -----------------------------------------------------------------------
    def action_toggle_pause(self) -> None:
        """Pause or resume the display; the capture goes on in the background."""
        self.paused = not self.paused
        if not self.paused:
            self.refresh_view(force=True)
        self._update_status()

    def action_toggle_secrets(self) -> None:
        """Reveal or mask secret fields (passwords) in the details and bytes."""
        self.show_secrets = not self.show_secrets
        if self._sel_frame is not None:
            # the same frame's nodes relabelled: the tree's cursor and the bytes' highlight stay put
            cur = self.details.cursor_node
            keep = cur.data if cur is not None else None
            self.details.show(self._sel_nodes, self.show_secrets, keep=keep)
            self.hexv.masked = {} if self.show_secrets else secret_ranges(self._sel_nodes)
            self.hexv.refresh()
            self._show_payload()
        self._update_status()

    def action_toggle_theme(self) -> None:
        """Switch between the dark and the light theme."""
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"
        self.plist.invalidate()
        self.hexv.refresh()

    def action_flow_graph(self) -> None:
        """The Flow view of the selected frame's connection; Enter there selects that frame here."""
        from sniffer.ui.flow import FlowScreen

        gen = self.store_generation

        def chosen(row: int | None) -> None:  # (a row of the store the view was opened on)
            if gen == self.store_generation:
                self.select_stored_row(row)
            elif row is not None:
                self.notify("That frame left the list (--keep-frames)", severity="warning")

        self.push_screen(FlowScreen(self.store, self.plist.selected_row), chosen)

    def action_graphs(self) -> None:
        """The Graphs view (messages per second, acknowledgement times)."""
        from sniffer.ui.graphs import GraphsScreen

        self.push_screen(GraphsScreen(self.store, self.plist.selected_row, self.sessions))

    def select_stored_row(self, row: int | None) -> None:
        """Select stored row `row` in the packet list (a view's Enter); say so if the filter hides it."""
        if row is not None and not self.plist.select_row(row):
            number = self.store.number(row)
            self.notify(f"Frame {number} is not displayed (display filter)", severity="warning")

    # -- session views -----------------------------------------------------------------------
    def _open_view(self, view: type[SessionView]) -> None:
        show_view(self, view, self.sessions)  # one view at a time: c, o, e switch between them

    def _warm_views(self, todo: tuple[type[SessionView], ...] = (ClientsView, TopicsView, ExpertView)) -> None:
        """Mount the session views hidden, one per turn (each is Textual's ~100 ms of mounting a
        Screen), so that c, o and e only show them."""
        warm_view(self, todo[0], self.sessions)
        if todo[1:]:
            self.set_timer(WARM_VIEWS_STEP, lambda: self._warm_views(todo[1:]))

    def action_clients(self) -> None:
        """Open the Clients view."""
        self._open_view(ClientsView)

    def action_topics(self) -> None:
        """Open the Topics view."""
        self._open_view(TopicsView)

    def action_expert(self) -> None:
        """Open the Expert Information view."""
        self._open_view(ExpertView)

    def filter_to(self, text: str) -> None:
        """Apply `text` as the display filter, shown in the bar (a view's Enter)."""
        self.filter_bar.value = text
        self.apply_filter(text)
        self.plist.focus()

    def go_to_frame(self, number: int) -> None:
        """Select frame `number` in the packet list, clearing the display filter if it hides the frame."""
        row = self.store.row_of(number)
        if row < 0:
            self.notify(f"Frame {number} left the list (--keep-frames)", severity="warning")
            return
        if not self.plist.select_row(row):
            self.filter_bar.value = ""
            self.apply_filter("")
            if not self.plist.select_row(row):
                self.notify(f"Frame {number} is not loaded", severity="warning")
                return
            self.notify(f"Display filter cleared to show frame {number}")
        self.plist.focus()

    def action_help(self) -> None:
        """Show the keys."""
        self.push_screen(HelpScreen())

    def action_save(self) -> None:
        """Save the displayed frames or all frames to a pcapng file."""
        plist = self.plist
        self.push_screen(SaveScreen(plist.count, self.store.count), self._save_answer)

    def _save_answer(self, answer: tuple[str, bool] | None, then_quit: bool = False) -> None:
        if answer is None:
            return
        path, everything = answer
        plist = self.plist
        if everything:
            rows: Any = range(self.store.count)
        else:
            rows = range(plist.count) if plist.rows is None else plist.rows[: plist.count]
        self._save(path, rows, everything, then_quit)

    @work(thread=True, exclusive=True, group="save")
    def _save(self, path: str, rows: Any, everything: bool, then_quit: bool) -> None:
        from sniffer.ui.save import write_pcapng

        self.store.flush()
        total = len(rows)
        try:
            n = write_pcapng(path, self.store, list(rows) if everything else rows)
        except OSError as e:
            self.call_from_thread(self.notify, f"Could not save {path}: {e.strerror or e}", severity="error")
            return
        if everything:
            self.saved_count = max(self.saved_count, total)
        self.call_from_thread(self.notify, f"Saved {n:,} frames to {path}")
        if then_quit:
            self.call_from_thread(self.exit)

    def unsaved(self) -> int:
        if not self.source.live or self.source.saved_to:
            return 0
        return max(self.store.count - self.saved_count, 0)

    def action_quit_app(self) -> None:
        """Quit (asks first when a live capture has unsaved frames)."""
        if isinstance(self.screen, QuitScreen):
            return  # already asking (a second ctrl+c): one question at a time
        n = self.unsaved()
        if not n:
            self.exit()
            return

        def answered(answer: str | None) -> None:
            if answer == "quit":
                self.exit()
            elif answer == "save":
                self.push_screen(
                    SaveScreen(self.plist.count, self.store.count),
                    lambda a: self._save_answer(a, then_quit=True),
                )

        self.push_screen(QuitScreen(n, self.loader.left), answered)

    async def action_quit(self) -> None:
        """Textual's ctrl+q: the same question as q."""
        self.action_quit_app()

    def action_help_quit(self) -> None:
        """Textual's ctrl+c hint (when our binding is not reached): quit like q instead."""
        self.action_quit_app()

    def get_system_commands(self, screen: Any):
        for cmd in super().get_system_commands(screen):
            # Textual's Quit exits without asking (ours asks); its Screenshot saves to ~/Downloads,
            # which may not exist
            if cmd.title not in ("Quit", "Screenshot"):
                yield cmd
        yield SystemCommand("Screenshot", "Save an SVG screenshot of the screen", self.action_save_screenshot)
        view = getattr(screen, "IS_VIEW", False)  # a view hides the packet list: none of its commands
        for binding in self.BINDINGS:
            if binding.key == "ctrl+c" or (view and binding.action in LIST_ACTIONS):
                continue  # (ctrl+c: the second key of Quit, listed once)
            action = binding.action.split("(")[0]
            doc = self.DESCRIPTIONS.get(action, binding.description)
            key = self.get_key_display(binding)
            key = key.capitalize() if len(key) > 1 else key  # "Space", as the help and the README say
            yield SystemCommand(f"{binding.description} ({key})", doc, self._runner(binding.action))
        if view:
            return
        plist = self.plist
        yield SystemCommand("First packet (g)", "Jump to the first packet", plist.action_first)
        yield SystemCommand("Last packet (G)", "Jump to the last packet and follow new ones", plist.action_last)
        yield SystemCommand("Clear display filter (Esc)", "Show every packet", lambda: self._filter_cleared())
        yield from self.workflow_commands()

    def action_save_screenshot(self) -> None:
        """Save an SVG screenshot in the first directory that exists and takes it, and say where."""
        for where in screenshot_dirs():
            try:
                path = self.save_screenshot(path=where)
            except OSError:
                continue
            self.notify(f"Saved screenshot to {escape(path)}", title="Screenshot")
            return
        self.notify("Could not save a screenshot: no writable directory", title="Screenshot", severity="error")

    def _runner(self, action: str):
        async def run() -> None:
            await self.run_action(action)

        return run

    def status_loaded(self) -> bool:
        return self.loader.done.is_set() and not self.loader.scanning


FOLLOW_DETAILS_EVERY = 0.5  # seconds: how often the details follow the newest packet in tail mode
POLL_EVERY = 0.1  # seconds: the list catches up with rows no Loaded message announced (the loader's trailing edge)
WARM_VIEWS_AFTER = 1.0  # seconds: the first screen is up and the loader under way; the views come later
WARM_VIEWS_STEP = 0.25  # between two views: keys typed meanwhile wait one view's mounting at most

# the app's keys a view keeps: help, quit, the theme, and those opening a view; the others act on the
# packet list (a key added to the app is asleep in the views unless it is listed here)
VIEW_KEEPS = frozenset({"help", "quit_app", "toggle_theme", "clients", "topics", "expert", "flow_graph", "graphs"})
LIST_ACTIONS = frozenset(b.action for b in SnifferApp.BINDINGS if b.action not in VIEW_KEEPS)


def screenshot_dirs() -> list[str]:
    """Where a screenshot may go, best first: ~/Downloads if it exists, the working directory, /tmp."""
    dirs = [os.path.expanduser("~/Downloads"), os.getcwd(), tempfile.gettempdir()]
    return [d for d in dirs if os.path.isdir(d)]


def elapsed_ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000

"""Modal screens: help (the key table), save to pcapng, and the quit confirmation."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from sniffer.ui.find import KEYS as FIND_KEYS
from sniffer.ui.layout import KEYS as LAYOUT_KEYS
from sniffer.ui.workflow import KEYS as WORKFLOW_KEYS

# (key, what it does): the help screen and the README's table are this list.
KEYS: list[tuple[str, str]] = [
    ("/", "edit the display filter (Enter applies, Esc clears); green = valid, red = error"),
    ("Space", "pause / resume the display (capture continues)"),
    ("k j", "previous / next packet, from any pane"),
    ("↑ ↓ PgUp PgDn", "previous / next packet, page (in the tree and bytes: move there)"),
    ("g G", "first / last packet, from any pane; G follows new packets (tail mode)"),
    ("Home End", "first / last packet (Ctrl+ too); in the details: first / last field"),
    ("Ctrl+G", "go to frame number"),
    ("Tab Shift+Tab", "next / previous pane (filter, packets, details, bytes)"),
    ("Enter", "details: open / close a subtree; on a link ([Response In: 42], or double click) go there"),
    ("f", "follow the selected TCP connection (filter tcp.stream == N)"),
    ("p", "bytes pane / payload pane"),
    ("v", "payload view: auto, text, JSON, hex"),
    ("s", "reveal / mask secrets (passwords)"),
    ("w", "save displayed or all frames to pcapng"),
    ("t", "dark / light theme"),
    *WORKFLOW_KEYS,
    *FIND_KEYS,
    *LAYOUT_KEYS,
    ("F", "flow graph of the selected connection (Enter selects the frame)"),
    ("i", "graphs: messages per second, acknowledgement times"),
    ("c o e", "Clients / Topics / Expert information views"),
    ("Ctrl+P", "command palette (every action)"),
    ("?", "this help"),
    ("q Ctrl+C", "quit (asks if a live capture is unsaved; Ctrl+Q and the palette too)"),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 78; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1; }
    HelpScreen .keys { height: auto; max-height: 75vh; }
    """

    def compose(self) -> ComposeResult:
        width = max(len(k) for k, _ in KEYS)
        lines = "\n".join(f"[b]{k:<{width}}[/b]  {what}" for k, what in KEYS)
        with Vertical():
            yield Label("[b]mqttsniff keys[/b]   (mouse: click rows, tree nodes and bytes)")
            with VerticalScroll(classes="keys"):
                yield Static(lines)
            yield Label("[dim]Esc closes[/dim]")


class SaveScreen(ModalScreen[tuple[str, bool] | None]):
    """Ask for a file name and whether to save the displayed frames or all of them."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    SaveScreen { align: center middle; }
    SaveScreen > Vertical { width: 70; max-width: 100%; height: auto; border: round $accent;
        background: $surface; padding: 0 1; }
    SaveScreen Horizontal { height: auto; }
    SaveScreen RadioSet { width: 100%; }
    """

    def __init__(self, displayed: int, total: int) -> None:
        super().__init__()
        self.displayed = displayed
        self.total = total

    def compose(self) -> ComposeResult:
        name = time.strftime("mqttsniff-%Y%m%d-%H%M%S.pcapng")
        with Vertical():
            yield Label("[b]Save frames to pcapng[/b]")
            yield Input(value=name, id="save-path")
            yield Label("", id="save-note")
            with RadioSet(id="save-which"):
                yield RadioButton(f"Displayed frames ({self.displayed})", value=True, id="save-displayed")
                yield RadioButton(f"All frames ({self.total})", id="save-all")
            with Horizontal():
                yield Button("Save", variant="primary", id="save-ok")
                yield Button("Cancel", id="save-cancel")

    def on_mount(self) -> None:
        for path in self.query("#save-path"):  # none when the app exited while this was mounting
            path.focus()

    def _done(self) -> None:
        field = self.query_one("#save-path", Input)
        path = field.value.strip()
        if not path:  # (Enter on an emptied name closed the dialog, saving nothing and saying nothing)
            self.query_one("#save-note", Label).update("[b]A file name is needed[/b] (Esc cancels)")
            field.focus()
            return
        everything = self.query_one("#save-all", RadioButton).value
        self.dismiss((path, everything))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._done()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save-ok":
            self._done()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class QuitScreen(ModalScreen[str]):
    """A live capture with unsaved frames: quit anyway, save first, or stay."""

    BINDINGS = [
        Binding("y", "answer('quit')", "Quit"),
        Binding("w", "answer('save')", "Save first"),
        Binding("n,escape", "answer('stay')", "Stay"),
    ]
    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Vertical { width: 60; max-width: 100%; height: auto; border: round $error;
        background: $surface; padding: 0 1; }
    QuitScreen Horizontal { height: auto; }
    """

    def __init__(self, unsaved: int, left: int = 0) -> None:
        super().__init__()
        self.unsaved = unsaved
        self.left = left  # frames that left the list (--keep-frames): no longer saveable

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]{self.unsaved} captured frames are not saved.[/b]")
            if self.left:
                yield Label(f"({self.left:,} older ones left the list: --keep-frames; -w writes every frame)")
            yield Label("Quit anyway?  [b]y[/b] quit   [b]w[/b] save first   [b]n[/b]/Esc stay")
            with Horizontal():
                yield Button("Quit", variant="error", id="quit")
                yield Button("Save first", id="save")
                yield Button("Stay", variant="primary", id="stay")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "stay")

    def action_answer(self, answer: str) -> None:
        self.dismiss(answer)

"""What the session views (Clients, Topics, Expert information) share: a full screen over the packet
list that redraws itself when the session model has news, and display-filter literals for wire text.

A view polls `SessionModel.version` a few times a second (REFRESH) instead of redrawing on every
loader notification: a burst of batches costs one redraw, and the last batch of a capture is never
missed (a throttled notification would need a trailing-edge timer anyway).

Each view is made once and kept installed (show_view): mounting and laying out a new Screen costs
Textual about 100 ms whatever the data, while showing a mounted one again costs a redraw of the
lines on screen. The app mounts them hidden soon after it starts (warm_view), so even the first
key press only shows one. A hidden view does not poll; it catches up with the model when shown.
"""

from __future__ import annotations

from typing import Any, TypeVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from sniffer.textesc import escape

W = TypeVar("W", bound=Widget)

REFRESH = 0.3  # seconds between checks for news (a redraw only when there is some)
PREVIEW_CHARS = 24  # payload characters shown in a topic's row


def filter_literal(s: str) -> str:
    """`s` as a display-filter string literal that decodes back to exactly `s` and shows no control
    character: backslash and quote escaped, then every non-printable character written as the
    lexer's octal / \\x / \\u escape (sniffer.textesc.escape writes those)."""
    return '"' + escape(s.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def preview(data: bytes, chars: int = PREVIEW_CHARS) -> str:
    """A payload's head for one line: escaped UTF-8 text, or hex when it is not text; "…" when cut."""
    try:
        text = data.decode()
    except UnicodeDecodeError as e:
        if e.reason != "unexpected end of data":  # not text (a character cut by the head's end is)
            hexed = data[: chars // 3].hex(" ")
            return hexed + (" …" if len(data) > chars // 3 else "")
        text = data[: e.start].decode()
    shown = escape(text)
    return shown[:chars] + "…" if len(shown) > chars else shown


def wire(s: str | None, missing: str = "?") -> Text:
    """A client id or topic for a widget: escaped, and a Text, so markup in it stays literal."""
    if s is None:
        return Text(missing, style="dim")
    return Text(escape(s)) if s else Text('""', style="dim")


# Quit, shown in every view's footer (q closes a view there): the app's own ctrl+c binding is a hidden
# priority one, which the footer would list in place of a plain one
QUIT = Binding("ctrl+c", "app.quit_app", "Quit", priority=True)


class SessionView(Screen[None]):
    """A full-screen view of the session model; Esc (or q) goes back to the packets."""

    BINDINGS = [Binding("escape,q", "close", "Back"), QUIT]
    IS_VIEW = True  # the app's packet-list keys sleep while it is on top (SnifferApp.check_action)
    TITLE = ""
    HINT = ""
    DEFAULT_CSS = """
    SessionView .view-title { height: 1; background: $panel; padding: 0 1; }
    SessionView .view-hint { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self.seen = -1  # the model version shown

    def compose(self) -> ComposeResult:
        yield Static("", classes="view-title")
        yield from self.body()
        yield Static(self.HINT, classes="view-hint")
        yield Footer()

    def body(self) -> ComposeResult:
        raise NotImplementedError

    def on_mount(self) -> None:
        # Textual calls the on_mount of every class in the MRO: a subclass's own on_mount runs first
        # and must not call this one again (that started a second timer, which polled while hidden)
        # mounted ahead, hidden (warm_view), it draws the model once too: its first show catches up
        if not self.composed():
            return
        self.poll()
        self._poller = self.set_interval(REFRESH, self.poll, pause=not self.is_current)

    def on_screen_resume(self) -> None:
        # shown again: what arrived while it was hidden, before the first paint
        self.poll()
        poller = getattr(self, "_poller", None)  # (the first show may come before the mount)
        if poller is not None:
            poller.resume()

    def on_screen_suspend(self) -> None:
        # hidden (closed, or under another view): no redraws nobody sees
        poller = getattr(self, "_poller", None)
        if poller is not None:
            poller.pause()

    def composed(self) -> bool:
        """Its widgets are there: an app that exits while a view is mounted ahead (warm_view) stops
        composing it, and the mount handlers that still run must then leave it alone. (Its hint, composed
        after the body: a view stopped after its title and before its body failed on its Tree in CI.)"""
        return bool(self.query(".view-hint"))

    def poll(self) -> None:
        if not self.composed():
            return
        version = self.model.version  # an int read: no lock needed
        if version != self.seen:
            self.seen = version
            try:
                self.query_one(".view-title", Static).update(Text(self.redraw(), style="bold"))
            except NoMatches:  # an exit is taking the view's widgets down under a last poll: nothing to draw
                self.seen = -1

    def widget(self, selector: str, kind: type[W]) -> W | None:
        """The view's widget `selector`, or None while an exit takes the view down (a highlight
        message that Textual delivers after the widget it would update was removed)."""
        return next(iter(self.query(selector).results(kind)), None)

    def redraw(self) -> str:
        """Rebuild from the model; returns the title line."""
        raise NotImplementedError

    def action_close(self) -> None:
        self.dismiss(None)


def installed_view(app: App, cls: type[SessionView], model: Any) -> SessionView:
    """The app's one view `cls` of `model`, made and installed on first use."""
    name = f"view-{cls.__name__}"
    if not app.is_screen_installed(name):
        app.install_screen(cls(model), name)
    return app.get_screen(name, cls)


def warm_view(app: App, cls: type[SessionView], model: Any) -> None:
    """Mount the view `cls` hidden, ahead of its first show: Textual's ~100 ms of composing and
    mounting a new Screen spent while nobody waits. This is the first step of Textual's own
    push_screen (App._register), without the push; where a Textual lacks it, the first show mounts."""
    view = installed_view(app, cls, model)
    register = getattr(app, "_register", None)
    if not view.is_running and register is not None:
        register(app, view)


def show_view(app: App, cls: type[SessionView], model: Any) -> SessionView:
    """Show the view `cls` of `model`, made and installed on first use, then kept (reopened at once).

    One view at a time: another session view on top is replaced; if this one is already in the
    stack (under a Flow or Graphs view opened from it), the screens above it are closed."""
    view = installed_view(app, cls, model)
    if app.screen is view:
        return view
    if view in app.screen_stack:
        while app.screen is not view:
            app.pop_screen()
    elif isinstance(app.screen, SessionView):
        app.switch_screen(view)
    else:
        app.push_screen(view)
    return view

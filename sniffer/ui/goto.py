"""Go to frame (Ctrl+G): a small modal that asks for a frame number and says why it cannot go there."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


class GotoScreen(ModalScreen[int | None]):
    """Ask for a frame number; `problem(number)` says why the list cannot show it (None: it can).
    A number that cannot be shown keeps the dialog open with the reason under the field."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    GotoScreen { align: center middle; }
    GotoScreen > Vertical { width: 50; max-width: 100%; height: auto; border: round $accent;
        background: $surface; padding: 0 1; }
    GotoScreen #goto-error { color: $text-error; height: auto; }
    """

    def __init__(self, problem: Callable[[int], str | None], last: int) -> None:
        super().__init__()
        self.problem = problem
        self.last = last

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("[b]Go to frame[/b]")
            yield Input(placeholder=f"frame number (1-{self.last:,})", type="integer", id="goto-number")
            yield Static("", id="goto-error")
            yield Label("[dim]Enter goes, Esc cancels[/dim]")

    def on_mount(self) -> None:
        for number in self.query("#goto-number"):  # none when the app exited while this was mounting
            number.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        try:
            number = int(text)
        except ValueError:
            self._say(f"Not a frame number: {text!r}" if text else "Type a frame number")
            return
        why = self.problem(number)
        if why is not None:
            self._say(why)
            return
        self.dismiss(number)

    def _say(self, message: str) -> None:
        self.query_one("#goto-error", Static).update(Text(message))  # Text: no markup from the typed value
        self.app.bell()

    def action_cancel(self) -> None:
        self.dismiss(None)

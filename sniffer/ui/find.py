"""Find packet (Ctrl+F, then n / N): by a string in Info, by bytes in the frame, or by a display filter.

The search runs in a worker thread over the displayed rows, from the one after the selection,
wrapping once; the UI stays responsive on a store of a million rows. A mixin of SnifferApp, which
provides plist, store and notify.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rich.markup import escape as markup_escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, RadioButton, RadioSet, Static

from sniffer.ui import filtering

KINDS = ("info", "bytes", "filter")
TITLES = {"info": "String in Info", "bytes": "Bytes (hex)", "filter": "Display filter"}
CHUNK = 4096  # rows between checks for a newer search (the worker is cancelled by it)

BINDINGS = [
    Binding("ctrl+f", "find", "Find packet", show=False, id="find", key_display="Ctrl+F"),
    Binding("n", "find_next(1)", "Find next", show=False, id="find-next"),
    Binding("N", "find_next(-1)", "Find previous", show=False, id="find-prev"),
]
DESCRIPTIONS = {
    "find": "Find a packet by a string in Info, hex bytes (de:ad:be:ef) or a display filter",
    "find_next": "Find the next (n) or previous (N) packet matching the last search",
}
KEYS = [("Ctrl+F n N", "find a packet (Info string, hex bytes, display filter) / next / previous match")]

_HEX_SEP = re.compile(r"[\s:.\-]")


class FindProblem(Exception):
    """A search that cannot run (bad hex, a filter that does not compile): its message."""


def parse_hex(text: str) -> bytes:
    """`de:ad:be:ef`, `de ad be ef`, `de-ad-be-ef` or `deadbeef` -> the bytes."""
    digits = _HEX_SEP.sub("", text)
    if digits.lower().startswith("0x"):
        digits = digits[2:]
    if not digits or len(digits) % 2 or not re.fullmatch(r"[0-9a-fA-F]+", digits):
        raise FindProblem(f"Not hex bytes: {text!r} (e.g. de:ad:be:ef or deadbeef)")
    return bytes.fromhex(digits)


def predicate(kind: str, text: str) -> Callable[[Any, int], bool]:
    """A test of stored row i for this search; raises FindProblem when the search cannot run."""
    if not text.strip():
        raise FindProblem("Type something to find")
    if kind == "bytes":
        needle = parse_hex(text)
        return lambda store, i: needle in store.raw(i)[1]
    if kind == "filter":
        try:
            matcher = filtering.compile_matcher(text)
        except filtering.FilterProblem as p:
            raise FindProblem(f"Bad display filter: {p.message}") from None
        return lambda store, i: bool(matcher(store, i))
    low = text.lower()
    return lambda store, i: low in store.info(i).lower()


def search(store: Any, rows: Any, count: int, start: int, step: int, test: Any, cancelled: Any) -> tuple[int, bool]:
    """The display index of the first match after `start` going by `step` (±1), wrapping once:
    (index, wrapped), or (-1, False) when none matches; (-2, False) if `cancelled()` said stop."""
    for n in range(1, count + 1):
        if n % CHUNK == 0 and cancelled():
            return -2, False
        d = start + step * n
        wrapped = not 0 <= d < count
        d %= count
        if test(store, rows[d] if rows is not None else d):
            return d, wrapped
    return -1, False


class FindScreen(ModalScreen[tuple[str, str] | None]):
    """Ask what to find and how; a search that cannot run keeps the dialog open with the reason."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    FindScreen { align: center middle; }
    FindScreen > Vertical { width: 70; max-width: 100%; height: auto; border: round $accent;
        background: $surface; padding: 0 1; }
    FindScreen RadioSet { width: 100%; layout: horizontal; }
    FindScreen #find-error { color: $text-error; height: auto; }
    """

    def __init__(self, kind: str = "info", text: str = "") -> None:
        super().__init__()
        self.kind = kind if kind in KINDS else "info"
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("[b]Find packet[/b]")
            yield Input(
                value=self.text, placeholder='text in Info, de:ad:be:ef, or mqtt.topic == "a/b"', id="find-text"
            )
            with RadioSet(id="find-kind"):
                for k in KINDS:
                    yield RadioButton(TITLES[k], value=k == self.kind, id=f"find-{k}")
            yield Static("", id="find-error")
            yield Label("[dim]Enter finds the next match, n / N then; Esc cancels[/dim]")

    def on_mount(self) -> None:
        for text in self.query("#find-text"):  # none when the app exited while this was mounting
            text.focus()

    def chosen_kind(self) -> str:
        pressed = self.query_one("#find-kind", RadioSet).pressed_button
        return (pressed.id or "find-info").removeprefix("find-") if pressed is not None else "info"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        kind = self.chosen_kind()
        try:
            predicate(kind, event.value)
        except FindProblem as e:
            self.query_one("#find-error", Static).update(Text(str(e)))  # Text: no markup from the typed value
            self.app.bell()
            return
        self.dismiss((kind, event.value))

    def action_cancel(self) -> None:
        self.dismiss(None)


class FindActions:
    """Find packet and find next / previous; mixed into SnifferApp."""

    plist: Any
    store: Any
    find_kind: str = "info"
    find_text: str = ""
    find_note: str = ""  # what the last search found (the tests read it; the user sees a notification)

    def action_find(self) -> None:
        """Ask what to find, then select the next displayed match."""

        def answered(answer: tuple[str, str] | None) -> None:
            if answer is not None:
                self.find_kind, self.find_text = answer
                self.action_find_next(1)

        self.push_screen(FindScreen(self.find_kind, self.find_text), answered)  # type: ignore[attr-defined]

    def action_find_next(self, step: int) -> None:
        """The next (1) or previous (-1) displayed packet matching the last search."""
        if len(self.screen_stack) > 1:  # type: ignore[attr-defined]
            return  # an "n" under a dialog (its radio buttons have the focus) is not for the list
        if not self.find_text:
            self.action_find()
            return
        try:
            test = predicate(self.find_kind, self.find_text)
        except FindProblem as e:
            self._find_said(str(e), error=True)
            return
        plist = self.plist
        if plist.count == 0:
            self._find_said("No packets to search", error=True)
            return
        self.find_note = "searching"
        self._find_worker(plist.store, plist.rows, plist.count, plist.cursor, step, test)

    @work(thread=True, exclusive=True, group="find")
    def _find_worker(self, store: Any, rows: Any, count: int, start: int, step: int, test: Any) -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        if start < 0:  # nothing selected: start from the first (last) row
            start = -1 if step > 0 else count
        try:
            d, wrapped = search(store, rows, count, start, step, test, lambda: worker.is_cancelled)
        except Exception as e:  # a frame the filter trips on: say so, no traceback
            self.call_from_thread(self._find_said, f"Find failed: {e}", True)  # type: ignore[attr-defined]
            return
        if d != -2:
            self.call_from_thread(self._find_done, rows, d, wrapped, step, store)  # type: ignore[attr-defined]

    def _find_done(self, rows: Any, d: int, wrapped: bool, step: int, store: Any = None) -> None:
        if store is not None and store is not self.store:  # (--keep-frames: the list went on in a new store)
            self._find_said("The list moved on to newer frames while searching: search again", error=True)
            return
        if d < 0:
            what = f"{TITLES[self.find_kind]}: {self.find_text}"
            self._find_said(f"No displayed packet matches ({what})", error=True)
            return
        row = rows[d] if rows is not None else d
        self.plist.select_row(row)
        end = "end" if step > 0 else "beginning"
        note = f"Found frame {self.store.number(row)}" + (f" (search wrapped past the {end})" if wrapped else "")
        self._find_said(note)

    def _find_said(self, text: str, error: bool = False) -> None:
        self.find_note = text
        if error:
            self.bell()  # type: ignore[attr-defined]
        self.notify(markup_escape(text), severity="warning" if error else "information")  # type: ignore[attr-defined]

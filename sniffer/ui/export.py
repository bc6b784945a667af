"""Export the selected PUBLISH payload or the MQTT PDU's (reassembled) bytes to a file: what to
offer for a frame, the dialog asking where, and the write.

The PDU offered is the one whose tree layer holds the tree cursor (a frame may complete several
PDUs), else the first that carries a payload, else the first. Secret bytes (a CONNECT password)
are written as `*` unless secrets are shown, as in the bytes pane.
"""

from __future__ import annotations

import os
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet

from sniffer.fields import Node
from sniffer.output.text import secret_ranges

PAYLOAD = "payload"
PDU = "pdu"


def _layer_of(layers: list[Node], node: Node | None) -> int:
    if node is not None:
        for k, layer in enumerate(layers):
            if any(n is node for n in layer.walk()):
                return k
    return -1


def _payload(layer: Node) -> bytes | None:
    for n in layer.walk():
        if n.fdef is not None and n.fdef.abbrev == "mqtt.msg" and isinstance(n.value, (bytes, bytearray)):
            return bytes(n.value)
    return None


def choices(
    frame: Any, nodes: list[Node], cursor: Node | None, show_secrets: bool
) -> list[tuple[str, str, bytes, bool]]:
    """(kind, label, bytes, masked) of what can be exported from the frame: the PUBLISH payload and the
    PDU bytes of one MQTT layer; empty when the frame completes no MQTT PDU."""
    layers = [n for n in nodes if n.fdef is not None and n.fdef.abbrev == "mqtt"]
    if not layers:
        return []
    k = _layer_of(layers, cursor)
    if k < 0:
        k = next((i for i, layer in enumerate(layers) if _payload(layer) is not None), 0)
    layer = layers[k]
    sources = frame.sources()
    out: list[tuple[str, str, bytes, bool]] = []
    msg = _payload(layer)
    if msg is not None:
        out.append((PAYLOAD, f"PUBLISH message payload ({len(msg):,} bytes)", msg, False))
    if 0 <= layer.source < len(sources):
        data = bytearray(sources[layer.source][1][layer.start : layer.start + layer.length])
        masked = False
        if not show_secrets:
            for a, b in secret_ranges([layer]).get(layer.source, ()):
                lo, hi = max(a - layer.start, 0), min(b - layer.start, len(data))
                if lo < hi:
                    data[lo:hi] = b"*" * (hi - lo)
                    masked = True
        where = "reassembled" if layer.source else "from the frame"
        out.append((PDU, f"MQTT PDU bytes, {where} ({len(data):,} bytes)", bytes(data), masked))
    return out


def write_file(path: str, data: bytes) -> str:
    """Write `data` to `path` (~ expanded); returns the path written. Raises OSError (a missing
    directory, a full disk, no permission): the caller says so in one line."""
    path = os.path.expanduser(path)
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())  # a full disk shows here, not after "exported"
    return path


class ExportScreen(ModalScreen[tuple[str, int] | None]):
    """Ask for a file name and which bytes to export; dismissed with (path, index of the choice)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical { width: 70; max-width: 100%; height: auto; border: round $accent;
        background: $surface; padding: 0 1; }
    ExportScreen Horizontal { height: auto; }
    ExportScreen RadioSet { width: 100%; }
    """

    def __init__(self, labels: list[str], path: str) -> None:
        super().__init__()
        self.labels = labels
        self.path = path

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("[b]Export bytes to a file[/b]")
            yield Input(value=self.path, id="export-path")
            with RadioSet(id="export-which"):
                for k, label in enumerate(self.labels):
                    yield RadioButton(label, value=k == 0, id=f"export-{k}")
            with Horizontal():
                yield Button("Export", variant="primary", id="export-ok")
                yield Button("Cancel", id="export-cancel")

    def on_mount(self) -> None:
        for path in self.query("#export-path"):  # none when the app exited while this was mounting
            path.focus()

    def _done(self) -> None:
        path = self.query_one("#export-path", Input).value.strip()
        which = self.query_one("#export-which", RadioSet).pressed_index
        self.dismiss((path, max(which, 0)) if path else None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._done()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "export-ok":
            self._done()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

"""The everyday Wireshark workflow, as app actions: time display formats and the time reference,
custom columns (Client, Apply as Column, moved left or right), Apply/Prepare as Filter (and/or the current filter),
copy to the clipboard (OSC 52) and export of a PUBLISH payload or PDU bytes.

A mixin of SnifferApp (sniffer.ui.app), which provides the widgets (plist, details, filter_bar),
the store and apply_filter(); kept apart so the app module stays a layout and its wiring.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape as markup_escape
from textual.app import SystemCommand
from textual.binding import Binding

from sniffer.fields import Node
from sniffer.output.text import SUMMARY_MID
from sniffer.textesc import escape
from sniffer.ui import timefmt
from sniffer.ui.columns import Column, client_column
from sniffer.ui.export import ExportScreen, choices, write_file
from sniffer.ui.fieldtext import NotAField, combine, filter_text, value_text

BINDINGS = [
    Binding("a", "apply_field_filter", "Apply as filter", show=False, id="apply-filter"),
    Binding("A", "prepare_field_filter", "Prepare as filter", show=False, id="prepare-filter"),
    Binding("ampersand", "and_field_filter", "…and selected", show=False, id="and-filter"),
    Binding("vertical_line", "or_field_filter", "…or selected", show=False, id="or-filter"),
    Binding("T", "time_format", "Time format", show=False, id="time-format"),
    Binding("ctrl+t", "time_reference", "Time reference", show=False, id="time-ref", key_display="Ctrl+T"),
    Binding("y", "copy_value", "Copy value", show=False, id="copy-value"),
    Binding("Y", "copy_summary", "Copy summary", show=False, id="copy-summary"),
    Binding("x", "export_bytes", "Export bytes", show=False, id="export"),
    Binding(
        "left_square_bracket", "choose_column(-1)", "Previous column", show=False, id="column-prev", key_display="["
    ),
    Binding("right_square_bracket", "choose_column(1)", "Next column", show=False, id="column-next", key_display="]"),
    Binding("less_than_sign", "move_column(-1)", "Move column left", show=False, id="column-left", key_display="<"),
    Binding("greater_than_sign", "move_column(1)", "Move column right", show=False, id="column-right", key_display=">"),
]
DESCRIPTIONS = {
    "apply_field_filter": "Apply the selected tree field as the display filter (field == value)",
    "and_field_filter": "Apply (current filter) && (the selected tree field's filter)",
    "or_field_filter": "Apply (current filter) || (the selected tree field's filter)",
    "prepare_field_filter": "Put the selected tree field's filter in the filter bar, not applied",
    "time_format": "Cycle the Time column: relative, UTC date and time, delta displayed, epoch",
    "time_reference": "Set or unset the selected frame as the time reference (*REF*)",
    "copy_value": "Copy the selected tree field's value to the clipboard (OSC 52)",
    "copy_summary": "Copy the selected packet's summary line to the clipboard (OSC 52)",
    "export_bytes": "Export the selected PUBLISH payload or MQTT PDU bytes to a file",
    "choose_column": "Choose a packet list column ([ ]): its title is highlighted",
    "move_column": "Move the chosen packet list column left (<) or right (>)",
}
# the keys for the help screen (sniffer.ui.screens.KEYS)
KEYS = [
    ("a A", "apply / prepare the selected tree field as a display filter"),
    ("& |", "…and / …or the selected field with the current filter (applied)"),
    ("T Ctrl+T", "time display format (relative, UTC, delta displayed, epoch) / time reference"),
    ("y Y", "copy the field's value / the packet's summary line (OSC 52)"),
    ("x", "export the PUBLISH payload or the PDU bytes to a file"),
    ("[ ] < >", "choose a list column (or click its title) / move it left, right (or drag)"),
    ("← →", "scroll the packet list or the tree sideways"),
]


class WorkflowActions:
    """Actions of the everyday workflow; mixed into SnifferApp."""

    plist: Any
    details: Any
    filter_bar: Any
    store: Any
    filter_text: str
    show_secrets: bool
    _sel_frame: Any
    _sel_nodes: list

    # -- helpers -----------------------------------------------------------------------------
    def selected_field(self) -> Node | None:
        cur = self.details.cursor_node
        return cur.data if cur is not None and isinstance(cur.data, Node) else None

    def _say(self, text: str, error: bool = False) -> None:
        self.notify(markup_escape(text), severity="error" if error else "information")  # type: ignore[attr-defined]

    def workflow_status(self) -> list[str]:
        """Status bar parts: the time format when not the default, the time reference."""
        parts = []
        plist = self.plist
        if plist.time_mode != timefmt.RELATIVE:
            parts.append(f"time: {timefmt.SHORT[plist.time_mode]}")
        if plist.ref_row >= 0:
            parts.append(f"ref: {plist.store.number(plist.ref_row)}")
        return parts

    # -- filters from a field ----------------------------------------------------------------
    def field_filter(self) -> str | None:
        node = self.selected_field()
        if node is None:
            self._say("Select a field in the details first", error=True)
            return None
        try:
            return filter_text(node, self.show_secrets)
        except NotAField as e:
            self._say(str(e), error=True)
            return None

    def action_apply_field_filter(self, op: str = "") -> None:
        """Apply as Filter (op "&&"/"||": …and/…or Selected with the current filter)."""
        text = self.field_filter()
        if text is None:
            return
        text = combine(self.filter_bar.value if op else "", text, op)
        self.filter_bar.value = text
        if self.apply_filter(text):  # type: ignore[attr-defined]
            self.plist.focus()

    def action_and_field_filter(self) -> None:
        self.action_apply_field_filter("&&")

    def action_or_field_filter(self) -> None:
        self.action_apply_field_filter("||")

    def action_prepare_field_filter(self) -> None:
        """Prepare as Filter: the text goes to the filter bar (focused), Enter applies it."""
        text = self.field_filter()
        if text is None:
            return
        self.filter_bar.value = text
        self.filter_bar.cursor_position = len(text)
        self.screen.set_focus(self.filter_bar)  # type: ignore[attr-defined]

    # -- time display ------------------------------------------------------------------------
    def set_time_mode(self, mode: str) -> None:
        self.plist.time_mode = mode
        self._redraw_list()
        self._say(f"Time display: {timefmt.TITLES[mode]}")

    def action_time_format(self) -> None:
        """Cycle the Time column's format."""
        self.set_time_mode(timefmt.next_mode(self.plist.time_mode))

    def action_time_reference(self) -> None:
        """Set or unset the selected frame as the time reference."""
        row = self.plist.selected_row
        if row < 0:
            return
        self.plist.ref_row = -1 if self.plist.ref_row == row else row
        self._redraw_list()

    def _redraw_list(self) -> None:
        self.plist.invalidate()
        self.list_header.refresh()  # type: ignore[attr-defined]
        self._update_status()  # type: ignore[attr-defined]

    # -- columns -----------------------------------------------------------------------------
    def set_columns(self, columns: list[Column]) -> None:
        self.plist.set_columns(columns)
        self._redraw_list()

    def toggle_client_column(self) -> None:
        cols = self.plist.cells.columns
        col = client_column()
        self.set_columns([c for c in cols if c != col] if col in cols else [*cols, col])

    def apply_as_column(self) -> None:
        node = self.selected_field()
        if node is None or node.fdef is None:
            self._say("Select a field in the details first", error=True)
            return
        fd = node.fdef
        col = Column(fd.name, fd.abbrev)
        if col not in self.plist.cells.columns:
            self.set_columns([*self.plist.cells.columns, col])

    def remove_column(self, col: Column) -> None:
        self.set_columns([c for c in self.plist.cells.columns if c != col])

    def action_choose_column(self, step: int) -> None:
        """Choose the next / previous packet list column (the one < and > move)."""
        self.plist.choose_column(step)
        self._redraw_list()

    def action_move_column(self, step: int) -> None:
        """Move the chosen column left (-1) or right (1), as a drag of its title in Wireshark."""
        key = self.plist.col_key
        if key is None:
            self._say("Choose a column first: [ or ] (or click its title)", error=True)
            return
        self.shift_column(key, step)

    def shift_column(self, key: str, step: int) -> None:
        plist = self.plist
        if not plist.move_column(key, step):
            self.bell()  # type: ignore[attr-defined]
            return
        plist.col_key = key
        self._redraw_list()

    # -- clipboard ---------------------------------------------------------------------------
    def action_copy_value(self) -> None:
        """Copy the selected field's value (escaped: the clipboard goes through the terminal)."""
        node = self.selected_field()
        if node is None:
            self._say("Select a field in the details first", error=True)
            return
        text = value_text(node, self.show_secrets)
        self.copy_to_clipboard(text)  # type: ignore[attr-defined]
        self._say(f"Copied: {text[:60]}")

    def summary_text(self, d: int) -> str:
        """The summary line of display index d, as tshark prints it, with the Time as displayed."""
        number, _rel, src, dst, proto, length, info, _cls = self.store.row(self.plist.store_row(d))
        mid = SUMMARY_MID % (src, dst, proto)
        return f"{number:5d} {self.plist.time_text(d):>10} {mid}{length} {escape(info)}"

    def action_copy_summary(self) -> None:
        """Copy the selected packet's summary line."""
        if self.plist.selected_row < 0:
            return
        text = self.summary_text(self.plist.cursor)
        self.copy_to_clipboard(text)  # type: ignore[attr-defined]
        self._say(f"Copied: {text[:60]}")

    # -- export ------------------------------------------------------------------------------
    def action_export_bytes(self) -> None:
        """Export the selected PUBLISH payload or the PDU bytes to a file (a dialog asks where)."""
        frame = self._sel_frame
        items = choices(frame, self._sel_nodes, self.selected_field(), self.show_secrets) if frame else []
        if not items:
            self._say("The selected frame completes no MQTT packet: nothing to export", error=True)
            return
        name = f"frame{frame.number}-{items[0][0]}.bin"

        def answered(answer: tuple[str, int] | None) -> None:
            if answer is None:
                return
            path, k = answer
            _kind, _label, data, masked = items[min(k, len(items) - 1)]
            try:
                written = write_file(path, data)
            except OSError as e:
                self._say(f"Could not export to {escape(path)}: {e.strerror or e}", error=True)
                return
            note = " (secrets written as *: s reveals them)" if masked else ""
            self._say(f"Exported {len(data):,} bytes to {escape(written)}{note}")

        self.push_screen(ExportScreen([it[1] for it in items], name), answered)  # type: ignore[attr-defined]

    # -- command palette ---------------------------------------------------------------------
    def workflow_commands(self) -> Any:
        """Palette entries without a key: each time format, the columns."""
        for mode in timefmt.MODES:
            yield SystemCommand(
                f"Time display: {timefmt.TITLES[mode]}",
                "The Time column's format (T cycles them)",
                lambda m=mode: self.set_time_mode(m),
            )
        shown = client_column() in self.plist.cells.columns
        yield SystemCommand(
            f"{'Hide' if shown else 'Show'} the Client column",
            "The client id (mqtt.client) of each packet's connection",
            self.toggle_client_column,
        )
        yield SystemCommand(
            "Apply as column", "Add the selected tree field as a packet list column", self.apply_as_column
        )
        for col in self.plist.cells.columns:
            yield SystemCommand(
                f"Remove column {escape(col.title)}",
                f"Remove the {col.field} column from the packet list",
                lambda c=col: self.remove_column(c),
            )
        for key in self.plist.order:  # every column, by name, as a drag of its title would
            title = escape(self.plist.column_title(key))
            for step, side in ((-1, "left"), (1, "right")):
                yield SystemCommand(
                    f"Move column {title} {side}",
                    f"Move the {title} column one place to the {side} in the packet list",
                    lambda k=key, s=step: self.shift_column(k, s),
                )

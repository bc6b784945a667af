"""Custom packet-list columns: the Client column and any tree field applied as a column.

A custom column's cells need the frame rebuilt from the store (one pread and an unpickle), so the
list asks only for the rows it draws and keeps the cells in a bounded cache; the per-frame path
of the loader never sees them. No Textual here.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Final

from sniffer.textesc import escape
from sniffer.ui.fieldtext import value_text

CLIENT_FIELD: Final = "mqtt.client"
WIDTH: Final = 20  # characters of a custom column (the end of a long client id is cut with "…")
NARROW_WIDTH: Final = 14
_CACHE_ROWS: Final = 4096


class Column:
    """One custom column: its title and the field it shows (Wireshark's custom column)."""

    __slots__ = ("title", "field")

    def __init__(self, title: str, field: str) -> None:
        self.title = title
        self.field = field

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Column) and other.field == self.field

    def __hash__(self) -> int:
        return hash(self.field)

    def __repr__(self) -> str:
        return f"Column({self.title!r}, {self.field!r})"


def client_column() -> Column:
    return Column("Client", CLIENT_FIELD)


def cell(frame: Any, field: str, show_secrets: bool = False) -> str:
    """The field's values in the frame, escaped and joined by "," (Wireshark's custom column)."""
    if field == CLIENT_FIELD:
        # the session layer's annotation on each PDU: no tree to build
        seen: list[str] = []
        for pdu in frame.pdus:
            ann = getattr(pdu, "ann", None)
            client = getattr(ann, "client", None)
            if client is not None and client not in seen:
                seen.append(client)
        return ",".join(escape(c) for c in seen)
    values = [
        value_text(n, show_secrets)
        for top in frame.tree()
        for n in top.walk()
        if n.fdef is not None and n.fdef.abbrev == field
    ]
    return ",".join(values)


class Cells:
    """The custom columns' cells of the rows drawn lately: row -> tuple of cells."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.columns: list[Column] = []
        self._cache: OrderedDict[int, tuple[str, ...]] = OrderedDict()

    def clear(self) -> None:
        self._cache.clear()

    def set(self, columns: list[Column]) -> None:
        self.columns = list(columns)
        self._cache.clear()

    def row(self, i: int) -> tuple[str, ...]:
        if not self.columns:
            return ()
        got = self._cache.get(i)
        if got is not None:
            self._cache.move_to_end(i)
            return got
        try:
            frame = self.store.frame(i)
            got = tuple(cell(frame, c.field) for c in self.columns)
        except Exception:  # a frame whose context could not be stored: its cells stay empty
            got = ("",) * len(self.columns)
        self._cache[i] = got
        if len(self._cache) > _CACHE_ROWS:
            self._cache.popitem(last=False)
        return got

"""Text made from one detail-tree field: its display filter (Wireshark's Apply/Prepare as Filter)
and its value (Copy → Value, a custom column cell), escaped like every output.

No Textual here: pure functions of a `Node`, so the tests check each against the filter engine.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from sniffer.fields import FT, Node
from sniffer.textesc import escape
from sniffer.ui.timefmt import absolute, absolute_ns

MASK: Final = "********"
# types written bare in a filter, as Wireshark writes them
_BARE: Final = (FT.UINT, FT.INT, FT.DOUBLE, FT.FLOAT, FT.IPV4, FT.IPV6, FT.ETHER)


class NotAField(ValueError):
    """The node has no filterable value (a text label); the message says why, for the status line."""


def quote(s: str) -> str:
    """A display-filter string literal of `s` that the filter decodes back to `s`: backslash and
    quote escaped, then every character a terminal could act on as a visible escape (the filter
    bar shows it, the clipboard carries it)."""
    return '"' + escape(s.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def filter_text(node: Node, show_secrets: bool = False) -> str:
    """`field == value` for `node`, as Wireshark's Apply as Filter writes it: integers in the
    field's base (tcp.flags == 0x0018), booleans as 1/0, addresses bare, strings quoted, bytes as
    aa:bb:cc; a protocol or a label field alone (presence)."""
    fd = node.fdef
    if fd is None:
        if node.severity:  # an expert note: Wireshark filters on its message
            return f"_ws.expert.message == {quote(str(node.value))}"
        raise NotAField("this line is a label, not a field: nothing to filter on")
    ft = fd.ftype
    if ft is FT.PROTOCOL or ft is FT.NONE or node.value is None:
        return fd.abbrev
    if fd.secret and not show_secrets:
        raise NotAField(f"{fd.abbrev} is a secret: reveal secrets (s) first")
    v = node.value
    if ft is FT.BOOLEAN:
        return f"{fd.abbrev} == {1 if v else 0}"
    if ft is FT.BYTES:
        b = bytes(v)
        return f"{fd.abbrev} == {':'.join(f'{x:02x}' for x in b)}" if b else fd.abbrev
    if ft in _BARE:
        return f"{fd.abbrev} == {fd.tshark(v)}"
    if ft is FT.ABSTIME:
        # ISO in UTC: a frame's time (a Decimal, exact to the ns) with nine decimals, so a nanosecond capture's
        # frame finds itself; a float (a payload's time) to the microsecond it holds
        if isinstance(v, Decimal):
            return f'{fd.abbrev} == "{absolute_ns(int(v.scaleb(9)), 9)} UTC"'
        return f'{fd.abbrev} == "{absolute(float(v))} UTC"'
    return f"{fd.abbrev} == {quote(fd.tshark(v))}"  # strings


def combine(current: str, new: str, op: str) -> str:
    """Wireshark's "…and Selected" / "…or Selected": `(current) && (new)`; the new filter alone
    when there is none yet."""
    current = current.strip()
    if not current or not op:
        return new
    return f"({current}) {op} ({new})"


def value_text(node: Node, show_secrets: bool = False) -> str:
    """The field's value as the tree shows it (Copy → Value), escaped; a label's whole text; bytes whole in hex."""
    fd = node.fdef
    if fd is None or fd.ftype is FT.PROTOCOL or fd.ftype is FT.NONE:
        return escape(node.text)
    if fd.secret and not show_secrets:
        return MASK
    if fd.ftype is FT.BYTES and node.value:  # (the whole value: the label stops at 36 bytes, as Wireshark's)
        return bytes(node.value).hex()
    return escape(fd.display(node.value))

"""Display filters in Wireshark's language, compiled once into a predicate over frames.

    from sniffer.filter import compile_filter, FilterError
    flt = compile_filter('mqtt.msgtype == 3 && mqtt.topic contains "temp"')
    shown = [f for f in frames if flt.matches(f)]

Supported (as tshark 4.0): comparisons == != === !== > >= < <= (and eq ne any_eq
all_ne all_eq any_ne gt ge lt le), `any`/`all` prefixes, contains, matches / ~
(Python regular expressions, case-insensitive unless the pattern starts with
(?-i), as Wireshark 4.0's PCRE2 default), `in {a, b, lo..hi}`, and && or || not !
(not binds tighter than and, and tighter than or), parentheses, presence tests
(`mqtt`, `mqtt.passwd`), slices `f[i:j]`, `f & mask`, len() count() upper()
lower() string(); literals: "strings" with escapes, r"raw", 'c', integers
(decimal, 0x, 0b, leading-0 octal), True/False, IPv4/IPv6 addresses and CIDR,
byte strings aa:bb:cc, value names ("Publish Message").
Extension: `topic_match(mqtt.topic, "sensors/+/temp")`, see sniffer.filter.topic.
Deliberate differences from tshark: unquoted text compared with a string field is
an error asking for quotes (tshark treats it as a string, a deprecated form);
sets may also be separated by spaces (`{1 2 3}`, the Wireshark 3.x form that
4.0 rejects); no arithmetic, layer operator (#), field references or max/min/abs.
No Textual or Rich import here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from sniffer.fields import REGISTRY
from sniffer.filter.compiler import FUNCTIONS, compile_tree
from sniffer.filter.errors import FilterError
from sniffer.filter.parser import KEYWORDS, parse

__all__ = [
    "DisplayFilter",
    "FilterError",
    "check_filter",
    "compile_filter",
    "field_completions",
    "KEYWORDS",
    "FUNCTIONS",
]


def _load_fields() -> None:
    """Make sure every dissector has registered its fields (they register on import)."""
    # a layer still being written: filter over what is registered
    with contextlib.suppress(ImportError):
        from sniffer import pipeline  # noqa: F401


class DisplayFilter:
    """A compiled display filter. `matches(frame)` is the per-frame predicate."""

    __slots__ = ("text", "fields", "protocols", "matches", "_pred")

    def __init__(self, text: str, pred, fields: set[str], protocols: set[str]) -> None:
        self.text = text
        self.fields = frozenset(fields)  # field abbrevs the expression reads
        self.protocols = frozenset(protocols)  # protocols whose tree it may need
        self._pred = pred
        self.matches = pred  # frame -> bool; one thread at a time (it caches the last frame's tree)

    def filter(self, frames: Iterable[Any]) -> Iterator[Any]:
        """The frames that match, in order."""
        pred = self._pred
        for f in frames:
            if pred(f):
                yield f

    def __repr__(self) -> str:
        return f"DisplayFilter({self.text!r})"


def compile_filter(text: str, store: Any = None) -> DisplayFilter:
    """Parse and check `text` once; raises FilterError (message + span) and nothing else.

    With a sniffer.store.PacketStore, `matches(i)` tests stored row i, answering from the store's
    columns where they suffice and from the Frame rebuilt from its spill file otherwise
    (sniffer.filter.rows); without, `matches(frame)` tests a dissected Frame.
    """
    _load_fields()
    try:
        tree = parse(text)
        rows = None
        if store is not None:
            from sniffer.filter.rows import RowAccess

            rows = RowAccess(store)
        pred, fields, protocols = compile_tree(text, tree, rows)
    except FilterError:
        raise
    except RecursionError:
        raise FilterError("expression is nested too deeply", 0, len(text)) from None
    return DisplayFilter(text, pred, fields, protocols)


def check_filter(text: str) -> FilterError | None:
    """None if `text` is a valid filter, else the error (for a UI's live colouring)."""
    try:
        compile_filter(text)
    except FilterError as e:
        return e
    return None


def field_completions(prefix: str = "", limit: int | None = None) -> list[tuple[str, str]]:
    """(abbrev, description) of every registered field starting with `prefix`, sorted.

    Descriptions are the field's label, plus its blurb and type, e.g.
    ("mqtt.topic", "Topic (string)").
    """
    _load_fields()
    out = []
    for abbrev in sorted(REGISTRY):
        if abbrev.startswith(prefix):
            fd = REGISTRY[abbrev]
            desc = fd.name
            if fd.blurb and fd.blurb != fd.name:
                desc += f" - {fd.blurb}"
            desc += f" ({fd.ftype.value})"
            out.append((abbrev, desc))
            if limit is not None and len(out) >= limit:
                break
    return out

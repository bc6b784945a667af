"""`-T json` (tshark's layout) and `-T ndjson` (one object per line) over the full tree.

Each layer is an object keyed by filter name with tshark's value strings; an item
with children adds "<abbrev>_tree"; a text-only item is keyed by its text. A key
that occurs twice in one object becomes a list (tshark prints duplicate keys,
which many JSON parsers silently collapse). Hidden items are included, as tshark does.
Strings are escaped as JSON requires and, unlike tshark 4.0, DEL, C1 controls, format
characters (bidi overrides) and unassigned code points too, as \\uXXXX (sniffer.textesc):
the parsed values are the same, but the text can be paged on a terminal safely.
"""

from __future__ import annotations

import json
import time
from typing import Any, Final

from sniffer.fields import FT, Node
from sniffer.net.tree import ns_seconds
from sniffer.output.jsondup import DupList
from sniffer.output.text import MASK, masked_hex, secret_ranges
from sniffer.textesc import json_safe, json_string


def _put(obj: dict[str, Any], key: str, value: Any) -> None:
    old = obj.get(key, _ABSENT)
    if old is _ABSENT:
        obj[key] = value
    elif isinstance(old, DupList):
        old.append(value)
    else:
        obj[key] = DupList([old, value])


_ABSENT: Final = object()
_BYTES: Final = FT.BYTES
_NONE: Final = FT.NONE

# Byte ranges of secrets per data source (sniffer.output.text.secret_ranges); empty: secrets shown.
Masked = dict[int, list[tuple[int, int]]]


def _layer(node: Node, show_secrets: bool, masked: Masked) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for c in node.children:
        _emit(obj, c, show_secrets, masked)
    return obj


def _emit(obj: dict[str, Any], n: Node, show_secrets: bool, masked: Masked) -> None:
    fd = n.fdef
    if n.severity is not None:  # as tshark: the note's own field, then its _ws.expert.* items
        note: dict[str, Any] = {fd.abbrev: ""} if fd is not None else {}
        for c in n.children:
            if c.fdef is not None and c.fdef.abbrev.startswith("_ws.expert."):
                note[c.fdef.abbrev] = c.fdef.tshark(c.value)
        note.setdefault("_ws.expert.message", n.value)
        note.setdefault("_ws.expert.severity", n.severity)
        _put(obj, "_ws.expert", note)
        return
    if fd is None:
        text = n.text
        if text[:1] == "[" and text[-1:] == "]":  # a generated item: tshark keys it without the brackets
            text = text[1:-1]
        _put(obj, text, _layer(n, show_secrets, masked) if n.children else "")
        return
    if fd.ftype is _NONE:  # a label item (mqtt.properties, tls.record): tshark writes its subtree, or "" when empty
        _put(obj, fd.abbrev, _layer(n, show_secrets, masked) if n.children else "")
        return
    if fd.secret and not show_secrets:
        value = MASK
    elif fd.ftype is _BYTES:  # tshark's JSON writes bytes as 10:cc:01 (-T fields: 10cc01), none as ""
        # a bytes item covering a secret (tcp.payload of a CONNECT) shows ** for its bytes
        hexed = masked_hex(n, masked) if masked and n.value else None
        if hexed:
            value = ":".join([hexed[i : i + 2] for i in range(0, len(hexed), 2)])
        else:
            value = bytes(n.value).hex(":") if n.value else ""
    else:
        value = fd.tshark(n.value)
    _put(obj, fd.abbrev, value)
    if n.children:
        _put(obj, fd.abbrev + "_tree", _layer(n, show_secrets, masked))


def layers(nodes: list[Node], show_secrets: bool = False, frame: Any = None) -> dict[str, Any]:
    """The "layers" object of one frame: protocol name -> its fields."""
    masked = {} if show_secrets else secret_ranges(nodes, frame)
    out: dict[str, Any] = {}
    for top in nodes:
        key = top.fdef.abbrev if top.fdef is not None else top.text
        if key[:1] == "[" and key[-1:] == "]":  # a generated item (ARP's duplicate address): keyed without brackets
            key = key[1:-1]
        # (a protocol with nothing under it, TLS over a record's first bytes: tshark writes its label)
        _put(out, key, _layer(top, show_secrets, masked) if top.children or top.fdef is None else top.text)
    return out


def json_record(frame, nodes: list[Node], show_secrets: bool) -> dict[str, Any]:
    try:
        day = time.strftime("%Y-%m-%d", time.gmtime(frame.ts))
    except (OverflowError, OSError, ValueError):  # a time past the platform's time_t: tshark's placeholder
        day = "XXXX-XX-XX"
    return {
        "_index": f"packets-{day}",
        "_type": "doc",
        "_score": None,
        "_source": {"layers": layers(nodes, show_secrets, frame)},
    }


def ndjson_line(frame, nodes: list[Node], show_secrets: bool) -> str:
    rec = {
        "timestamp": f"{frame.ts:.6f}" if frame.exact is None else ns_seconds(frame.exact[0]),
        "frame_number": frame.number,
        "layers": layers(nodes, show_secrets, frame),
    }
    return json_safe(json.dumps(rec, ensure_ascii=False, separators=(",", ":")))


_string = json_string  # what json.dumps(ensure_ascii=False) writes for a str, made terminal-safe


def _indented(obj: Any, nl: str, out: list[str]) -> None:
    """Append json.dumps(obj, indent=2, ensure_ascii=False) with every line after the first led
    by `nl`'s indent: the same text, without the stdlib's generator-based encoder, which indent
    forces and which took half of -T json's time. Records hold dicts with str keys, lists, str,
    numbers and None only (tuples and other keys are not handled)."""
    if isinstance(obj, dict):
        if not obj:
            out.append("{}")
            return
        inner = nl + "  "
        sep = "{" + inner
        for k, v in obj.items():
            out.append(sep)
            out.append(_string(k))
            out.append(": ")
            if type(v) is str:
                out.append(_string(v))
            else:
                _indented(v, inner, out)
            sep = "," + inner
        out.append(nl + "}")
    elif isinstance(obj, list):
        if not obj:
            out.append("[]")
            return
        inner = nl + "  "
        sep = "[" + inner
        for v in obj:
            out.append(sep)
            if type(v) is str:
                out.append(_string(v))
            else:
                _indented(v, inner, out)
            sep = "," + inner
        out.append(nl + "]")
    elif isinstance(obj, str):
        out.append(_string(obj))
    else:
        out.append(json.dumps(obj))  # numbers, true/false, null


class JsonArrayWriter:
    """Streams `-T json` as a JSON array, one element per frame, as tshark does."""

    def __init__(self, write) -> None:
        self.write = write
        self.count = 0

    def add(self, record: dict[str, Any]) -> None:
        self.write("[\n" if self.count == 0 else ",\n")
        out = ["  "]
        _indented(record, "\n  ", out)
        self.write("".join(out))
        self.count += 1

    def close(self) -> None:
        self.write("[\n\n]\n" if self.count == 0 else "\n]\n")

"""Payloads a person can read: `auto` shows the payload as the dissector decoded it (the subtree
sniffer.payload hung under the Message item: one code path for the detail tree, -V, JSON and this
pane) with its hex dump beside it; `text`, `json` and `hex` force a plain view (pretty JSON, Alink
JSON of the cloud IoT platforms named as such). Pure functions; the app shows the result in its
payload pane. Everything returned is safe to show: text from the wire has its control characters
escaped (sniffer.textesc), only the line breaks and tabs of a text payload stay as they are.
"""

from __future__ import annotations

import json

from sniffer.fields import Node
from sniffer.output.text import hexdump, tree_lines
from sniffer.payload.alink import alink_summary
from sniffer.textesc import escape, json_safe

MODES = ("auto", "text", "json", "hex")
PAYLOAD_FIELDS = ("mqtt.msg", "mqtt.willmsg")


class Payload:
    """One message payload of a frame: its bytes and what the dissector decoded them into."""

    __slots__ = ("title", "data", "decoded", "decoded_as")

    def __init__(self, title: str, data: bytes, decoded: list[Node], decoded_as: str) -> None:
        self.title = title
        self.data = data
        self.decoded = decoded  # the decoder's nodes under the Message item (empty: not decoded)
        self.decoded_as = decoded_as  # the "[Message decoded as: ...]" text, "" if none


def payloads(nodes: list[Node], sources: list[tuple[str, bytes]]) -> list[Payload]:
    """Every message payload in the frame's tree (PUBLISH and CONNECT will), with its decoded subtree."""
    out: list[Payload] = []
    topic = ""
    stack = [(n, None) for n in reversed(nodes)]
    while stack:
        n, parent = stack.pop()
        if n.children:
            stack.extend((c, n) for c in reversed(n.children))
        if n.fdef is None:
            continue
        if n.fdef.abbrev == "mqtt.topic":
            topic = str(n.value)
        if n.fdef.abbrev in PAYLOAD_FIELDS:
            data = n.value if isinstance(n.value, (bytes, bytearray)) else None
            if data is None and 0 <= n.source < len(sources):
                data = sources[n.source][1][n.start : n.start + n.length]
            on = escape(topic)
            title = f"Will message on {on}" if n.fdef.abbrev == "mqtt.willmsg" else f"Message on {on}"
            shown = ""
            if parent is not None:
                shown = next((c.text for c in parent.children if c.fdef is not None
                              and c.fdef.abbrev == "mqtt.msg_decoded_as"), "")  # fmt: skip
            out.append(Payload(title, bytes(data or b""), list(n.children), escape(shown)))
    return out


def decoded_view(p: Payload, show_secrets: bool = False, width: int = 0) -> str:
    """The payload as the dissector decoded it, with its hex dump beside it (below when narrow)."""
    left = tree_lines(p.decoded, show_secrets) if p.decoded else ["(not decoded: no decoder chosen)"]
    right = hexdump(p.data)
    pad = max((len(s) for s in left), default=0) + 3
    if width and pad + 74 > width:
        return "\n".join([*left, "", *right])
    rows = max(len(left), len(right))
    left += [""] * (rows - len(left))
    right += [""] * (rows - len(right))
    return "\n".join(f"{a:<{pad}}{b}".rstrip() for a, b in zip(left, right, strict=True))


def _text_view(text: str) -> str:
    """A text payload as shown: its lines and tabs kept, every other control escaped (a CR
    would let the rest of a line overwrite its start)."""
    if text.isprintable():
        return text
    return "\n".join("\t".join(escape(part) for part in line.split("\t")) for line in text.split("\n"))


def render(data: bytes, mode: str = "auto") -> tuple[str, str]:
    """(the mode actually used, text to show) for a payload in `mode`."""
    if mode in ("auto", "json"):
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            doc = None
            if mode == "json":
                return "json", "(not JSON)\n" + "\n".join(hexdump(data))
        if doc is not None and (mode == "json" or isinstance(doc, (dict, list))):
            head = alink_summary(doc)
            head = escape(head) if head else None  # the values are the sender's
            body = json_safe(json.dumps(doc, indent=2, ensure_ascii=False))
            return "json", f"{head}\n{body}" if head else body
    if mode in ("auto", "text"):
        try:
            text = data.decode("utf-8")
            if mode == "text" or all(c.isprintable() or c in "\r\n\t" for c in text):
                return "text", _text_view(text)
        except UnicodeDecodeError:
            if mode == "text":
                return "text", _text_view(data.decode("utf-8", "replace"))
    return "hex", "\n".join(hexdump(data))

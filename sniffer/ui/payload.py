"""Payloads a person can read: a PUBLISH message as UTF-8 text, pretty JSON (Alink JSON of the
cloud IoT platforms named as such) or a hex dump, with `auto` picking the best of the three.
Pure functions over bytes; the app shows the result in its payload pane. Everything returned is
safe to show: text from the wire has its control characters escaped (sniffer.textesc), only the
line breaks and tabs of a text payload stay as they are.
"""

from __future__ import annotations

import json
from typing import Any

from sniffer.fields import Node
from sniffer.output.text import hexdump
from sniffer.textesc import escape, json_safe

MODES = ("auto", "text", "json", "hex")
PAYLOAD_FIELDS = ("mqtt.msg", "mqtt.willmsg")


def payloads(nodes: list[Node], sources: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """(title, bytes) of every message payload in the frame's tree (PUBLISH and CONNECT will)."""
    out: list[tuple[str, bytes]] = []
    topic = ""
    for top in nodes:
        for n in top.walk():
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
                out.append((title, bytes(data or b"")))
    return out


def alink_summary(doc: Any) -> str | None:
    """'Alink JSON: method … id …' when the document is an Alink request or reply."""
    if not isinstance(doc, dict):
        return None
    method = doc.get("method")
    if isinstance(method, str) and method.startswith("thing."):
        head = f"Alink JSON request: method {method}, id {doc.get('id')}, version {doc.get('version', '?')}"
    elif "code" in doc and "id" in doc and ("data" in doc or "message" in doc):
        head = f"Alink JSON reply: id {doc.get('id')}, code {doc.get('code')}"
    else:
        return None
    return escape(head)  # the values are the sender's


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

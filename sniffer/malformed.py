"""Wireshark's items for a layer that could not be read to its end: `_ws.malformed` and `_ws.short`.

A packet whose own lengths say it ends before a header does (a TCP header cut by the IP total length, an MQTT
property block longer than its packet) is malformed: tshark adds "[Malformed Packet: TCP]" at the top level of
the tree with an Error note in the Malformed group. A packet the capture kept only the first bytes of (the
snapshot length) is not the sender's fault: "[Packet size limited during capture: TCP truncated]". Filters,
`-T fields` and JSON find both by their names (`-Y _ws.malformed`, tshark's most used filter for bad packets).
"""

from __future__ import annotations

from typing import Final

from sniffer.fields import ERROR, FT, Base, FieldDef, Node, note, register

MALFORMED: Final = register("_ws.malformed", "Malformed Packet", FT.PROTOCOL, Base.NONE)
MALFORMED_EXPERT: Final = register("_ws.malformed.expert", "Malformed Packet (Exception occurred)", FT.NONE, Base.NONE)
SHORT: Final = register("_ws.short", "Short Frame", FT.PROTOCOL, Base.NONE)
EXCEPTION: Final = "Malformed Packet (Exception occurred)"  # tshark's message when a dissector read past the end


def malformed(protocol: str, at: int, message: str = EXCEPTION, length: int = 0, source: int = 0) -> Node:
    """tshark's "[Malformed Packet: <protocol>]": its Error note (`_ws.malformed.expert`) and the hidden
    `_ws.malformed` item under it that tshark adds too (-T fields prints both)."""
    return Node(
        MALFORMED,
        "Malformed Packet",
        at,
        length,
        f"[Malformed Packet: {protocol}]",
        [note(ERROR, message, at, length, source, MALFORMED_EXPERT), _hidden(at, length, source)],
        source,
    )


def short(text: str, at: int, source: int = 0) -> Node:
    """A "[Packet size limited during capture: …]" item (`_ws.short`); `text` is the whole label."""
    return Node(SHORT, "Packet size limited during capture", at, 0, text, [], source)


def is_cut(node: Node) -> bool:
    """A `_ws.malformed` or `_ws.short` item (a layer's tree lists it last, the frame's tree at the top level)."""
    return node.fdef is MALFORMED or node.fdef is SHORT


def cut_protocol(node: Node) -> str:
    """The protocol a top-level "[Malformed Packet: X]" or "[Packet size limited during capture: X …]" names."""
    text = node.text
    if text.startswith("[Malformed Packet: "):
        return text[19:-1]
    return text.split(": ", 1)[-1].split(" ", 1)[0].rstrip("]")


def malformed_note(severity: str, message: str, start: int, length: int, fdef: FieldDef) -> list[Node]:
    """An expert note of Wireshark's Malformed group and the hidden `_ws.malformed` item Wireshark adds beside
    every such note (so that `-Y _ws.malformed` finds a UDP length that contradicts its packet too)."""
    return [note(severity, message, start, length, 0, fdef), _hidden(start, 0, 0)]


def _hidden(at: int, length: int, source: int) -> Node:
    """The hidden `_ws.malformed` item Wireshark adds under a malformed packet's item and beside its notes."""
    return Node(MALFORMED, "Malformed Packet", at, length, "Malformed Packet", [], source, None, True)


def cut_layer(node: Node) -> str:
    """The filter name of the protocol such an item names ("[Malformed Packet: ARP/RARP]": "arp")."""
    name = cut_protocol(node).split("/", 1)[0].lower()
    return "ip" if name == "ipv4" else name

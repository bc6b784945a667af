"""The session layer in the detail tree: generated items under each MQTT PDU, the notes of a
connection's end, and Wireshark's `_ws.expert.*` items under every expert note.

Generated items are bracketed and take no bytes (Wireshark's PROTO_ITEM_SET_GENERATED); each is a
field of sniffer.session.fields, so -T fields, JSON, -Y and the UI read them like any other.
"""

from __future__ import annotations

from typing import Final

from sniffer.fields import Node, item
from sniffer.session import fields as F
from sniffer.session.tracker import Ann


def expert(key: str, message: str, start: int, source: int = 0) -> Node:
    """A session note: the mqtt.analysis.<key> item, Wireshark-styled, with its _ws.expert.* items."""
    _label, severity, group = F.ANALYSIS[key]
    n = Node(F.ANALYSIS_FIELDS[key], message, start, 0, f"[Expert Info ({severity}/{group}): {message}]", [],
             source, severity)  # fmt: skip
    _expert_items(n, severity, group)
    return n


def _expert_items(n: Node, severity: str, group: str) -> None:
    """The items Wireshark puts under an expert note: its message, severity and group (shown, as
    tshark -V shows them) and the hidden _ws.expert marker."""
    at, src = n.start, n.source
    n.text = f"[Expert Info ({severity}/{group}): {n.value}]"
    for fd, value, text in (
        (F.EXPERT_MESSAGE, n.value, f"[{n.value}]"),
        (F.EXPERT_SEVERITY, F.SEVERITIES.get(severity, 0), f"[Severity level: {severity}]"),
        (F.EXPERT_GROUP, F.GROUPS.get(group, 0), f"[Group: {group}]"),
    ):
        n.children.append(item(fd, value, at, 0, src, text=text))
    e = Node(F.EXPERT, None, at, 0, "", [], src)
    e.hidden = True
    n.children.append(e)


def _gen(fd: F.FieldDef, value: object, at: int, source: int, text: str | None = None) -> Node:
    return item(fd, value, at, 0, source, text=f"[{text if text is not None else fd.name + ': ' + fd.display(value)}]")


def annotate(root: Node, ann: Ann | None) -> None:
    """Append the session's generated items and notes to the MQTT node of one PDU."""
    if ann is None:
        return
    at, src = root.start, root.source
    kids = root.children
    if ann.client is not None:
        kids.append(_gen(F.CLIENT, ann.client, at, src))
    if ann.username is not None:
        kids.append(_gen(F.USERNAME, ann.username, at, src))
    if ann.version:
        kids.append(_gen(F.VERSION, ann.version, at, src))
    kids.append(_gen(F.DIRECTION, ann.direction, at, src))
    if ann.response_in:
        kids.append(_gen(F.RESPONSE_IN, ann.response_in, at, src))
    if ann.response_to:
        kids.append(_gen(F.RESPONSE_TO, ann.response_to, at, src))
    if ann.time >= 0:
        kids.append(_gen(F.TIME, ann.time, at, src, f"Time: {ann.time:.9f} seconds"))
    if ann.flow_time >= 0:
        kids.append(_gen(F.FLOW_TIME, ann.flow_time, at, src, f"QoS 2 Flow Time: {ann.flow_time:.9f} seconds"))
    if ann.publisher is not None or ann.published_in:
        if ann.publisher is not None:
            kids.append(_gen(F.PUBLISHER, ann.publisher, at, src))
        kids.append(_gen(F.PUBLISHED_IN, ann.published_in, at, src))
        kids.append(_gen(F.FANOUT_DELAY, ann.fanout_delay, at, src, f"Fan-out Delay: {ann.fanout_delay:.9f} seconds"))
    for frame in ann.delivered_in:
        kids.append(_gen(F.DELIVERED_IN, frame, at, src))
    for key, message in ann.notes:
        kids.append(expert(key, message, at, src))


def close_node(notes: list[tuple[str, str]], at: int) -> Node:
    """The notes on a FIN/RST frame that ended an MQTT connection (how and what was left)."""
    top = Node(None, None, at, 0, "[MQTT session]", [])
    for key, message in notes:
        if key == "client":
            top.children.append(_gen(F.CLIENT, message, at, 0))
        else:
            top.children.append(expert(key, message, at))
    return top


# Wireshark's severities of the TCP analysis flags (epan/dissectors/packet-tcp.c), all in "Sequence".
TCP_EXPERT: Final = {
    "tcp.analysis.retransmission": "Note",
    "tcp.analysis.fast_retransmission": "Note",
    "tcp.analysis.spurious_retransmission": "Note",
    "tcp.analysis.out_of_order": "Warning",
    "tcp.analysis.lost_segment": "Warning",
    "tcp.analysis.ack_lost_segment": "Warning",
    "tcp.analysis.window_update": "Chat",
    "tcp.analysis.window_full": "Warning",
    "tcp.analysis.keep_alive": "Note",
    "tcp.analysis.keep_alive_ack": "Note",
    "tcp.analysis.zero_window": "Warning",
    "tcp.analysis.zero_window_probe": "Note",
    "tcp.analysis.zero_window_probe_ack": "Note",
    "tcp.analysis.reused_ports": "Note",
}


# TCP's notes of a connection's start and end (sniffer.net.tree) and ARP's duplicate address, in Wireshark's
# "Sequence" group
_TCP_SEQUENCE_NOTES: Final = (
    "Connection establish ", "Connection finish (FIN)", "Connection reset (RST)", "This frame initiates the connection",
    "This frame undergoes the connection", "Duplicate ACK (#", "D-SACK Sequence", "Duplicate IP address configured (",
)  # fmt: skip


# Notes whose group their field says (tshark's expert registrations): a header that contradicts its packet
_GROUP_OF_FIELD: Final = {
    "_ws.malformed.expert": "Malformed",
    "tcp.short_segment": "Malformed",
    "tcp.suboption_malformed": "Malformed",
    "udp.length.bad": "Malformed",
    "tcp.option.len.invalid": "Sequence",
}


def add_expert_items(nodes: list[Node]) -> None:
    """Make every expert note of the tree (the dissectors' own and TCP's analysis flags included) a
    Wireshark-style note with its _ws.expert.* items, so that `_ws.expert.severity == "Error"` and
    -z expert find notes of every kind."""
    stack = list(nodes)
    while stack:
        n = stack.pop()
        fd = n.fdef
        if n.severity is None and fd is not None and fd.abbrev in TCP_EXPERT:
            n.severity = TCP_EXPERT[fd.abbrev]
            n.value = fd.name  # the message: Wireshark's label of the flag
            _expert_items(n, n.severity, "Sequence")
            continue
        if n.severity is not None and not any(c.fdef is F.EXPERT_MESSAGE for c in n.children):
            if fd is not None and fd.abbrev in _GROUP_OF_FIELD:
                group = _GROUP_OF_FIELD[fd.abbrev]
            elif isinstance(n.value, str) and n.value.startswith(_TCP_SEQUENCE_NOTES):
                group = "Sequence"
            else:
                group = "Malformed" if n.severity == "Error" and "alformed" in n.text else "Protocol"
            _expert_items(n, n.severity, group)
            continue
        stack.extend(n.children)

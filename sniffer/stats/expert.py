"""`-z expert`: every expert note of every frame, counted as tshark's `-z expert` counts them
(one block per severity: frequency, group, protocol, summary), then each note with its frame.

The notes are read from each frame's detail tree: the dissectors' own and the session's (each
carries Wireshark's `_ws.expert.severity` and `_ws.expert.group` items, sniffer.session.tree),
and the TCP analysis flags, which Wireshark also counts as expert notes (their severity and
group below are Wireshark's, epan/dissectors/packet-tcp.c). Building trees is what makes
`-z expert` cost more than the summary (only the frames that may hold notes build one, see
frame()); the other statistics need no tree.
"""

from __future__ import annotations

from sniffer.expert_level import group_source, net_notes
from sniffer.fields import Node
from sniffer.malformed import cut_protocol, is_cut
from sniffer.pipeline import Frame
from sniffer.session import fields as SF
from sniffer.stats.layout import RULER
from sniffer.textesc import escape
from sniffer.ws.conn import has_notes as ws_notes

_SESSION_LABELS = {fd: SF.ANALYSIS[key][0] for key, fd in SF.ANALYSIS_FIELDS.items()}
_GROUP_NAMES = {v: k for k, v in SF.GROUPS.items()}
_SEVERITY_NAMES = {v: k for k, v in SF.SEVERITIES.items()}
# tshark's short names of protocols whose name is not their abbrev in capitals (tshark -G protocols)
_SHORT_NAMES = {"eth": "Ethernet", "ip": "IPv4", "ipv6": "IPv6", "websocket": "WebSocket", "arp": "ARP/RARP"}
# tshark's block titles, most severe first
BLOCKS = (("Error", "Errors"), ("Warning", "Warns"), ("Note", "Notes"), ("Chat", "Chats"), ("Comment", "Comments"))


def _protocol(top: Node) -> str:
    """The protocol column of a top-level node's notes: its layer's short name; for an item that is not a layer
    (tshark's "[Malformed Packet: ARP/RARP]", ARP's duplicate address) the one it names or its first field's."""
    fd = top.fdef
    if is_cut(top):
        return cut_protocol(top)
    if fd is None:
        fd = next((k.fdef for k in top.children if k.fdef is not None), None)
    abbrev = fd.protocol if fd is not None else "mqtt"
    return _SHORT_NAMES.get(abbrev, abbrev.upper())


def notes_of(nodes: list[Node]) -> list[tuple[str, str, str, str, str]]:
    """(severity, group, protocol, summary, message) of every expert note in a frame's tree."""
    out: list[tuple[str, str, str, str, str]] = []
    for top in nodes:
        proto = _protocol(top)
        stack = [top]
        while stack:
            n = stack.pop()
            fd = n.fdef
            if n.severity is not None:
                sev, grp, msg = n.severity, "Protocol", n.value if isinstance(n.value, str) else n.text
                for k in n.children:
                    if k.fdef is SF.EXPERT_GROUP:
                        grp = _GROUP_NAMES.get(k.value, grp)
                    elif k.fdef is SF.EXPERT_SEVERITY:
                        sev = _SEVERITY_NAMES.get(k.value, sev)
                summary = _SESSION_LABELS.get(fd, msg) if fd is not None else msg
                out.append((sev, grp, proto, summary, msg))
                continue
            stack.extend(reversed(n.children))
    return out


Key = tuple[str, str, str, str]  # severity, group, protocol, summary


class ExpertStat:
    def __init__(self) -> None:
        self.notes: list[tuple[int, str, str, str, str, str]] = []
        # (severity, group, protocol, summary) -> [(frame, message)], in order of first note
        self.by_key: dict[Key, list[tuple[int, str]]] = {}

    def frame(self, f: Frame) -> None:
        self.add(f.number, self.notes_in(f))

    @staticmethod
    def notes_in(f: Frame) -> list[tuple[str, str, str, str, str]]:
        """The notes of one frame (reads the frame only: the UI's loader calls it outside its lock)."""
        # Below MQTT only TCP puts notes in the tree, and only where its Seg says so (analysis flags,
        # SYN, FIN and RST, a connection closed inside a PDU); the rest come with the MQTT nodes and the
        # session's close notes. So a frame builds the tree it may have notes in, and most build none.
        seg = f.seg
        if seg is not None and seg.tcp_notes or f.link_notes or group_source(f.linktype, f.data) or net_notes(f):
            nodes = f.tree()
        elif seg is not None and seg.tls is not None and tls_notes(seg.tls):  # a TLS record's own notes
            nodes = f.tree(("tls", "mqtt"))
        elif seg is not None and seg.ws is not None and ws_notes(seg.ws):  # a WebSocket frame's own notes
            nodes = f.tree(("tls", "http", "websocket", "mqtt"))
        elif f.pdus or seg is not None and seg.session_notes:
            nodes = f.tree(("mqtt",))
        else:
            return []
        return notes_of(nodes)

    def add(self, number: int, notes: list[tuple[str, str, str, str, str]]) -> None:
        """Count the notes of frame `number` (from notes_in)."""
        for sev, grp, proto, summary, msg in notes:
            self.notes.append((number, sev, grp, proto, summary, msg))
            self.by_key.setdefault((sev, grp, proto, summary), []).append((number, msg))

    def groups(self, limit: int = 0) -> list[tuple[Key, int, list[tuple[int, str]]]]:
        """Every kind of note: (key, how many, its first `limit` (frame, message) pairs, copied), most
        severe first, then in order of first appearance (what render() counts and the UI's Expert
        view lists; the UI asks for a bounded list, as no one expands a million frames)."""
        rank = {sev: i for i, (sev, _title) in enumerate(BLOCKS)}
        items = sorted(self.by_key.items(), key=lambda kv: rank.get(kv[0][0], len(rank)))  # stable
        return [(key, len(frames), frames[:limit]) for key, frames in items]

    def render(self, duration: float) -> str:
        lines = [RULER, "Expert Information", "Filter:<No Filter>"]
        groups = self.groups()
        for sev, title in BLOCKS:
            counts = {key[1:]: n for key, n, _frames in groups if key[0] == sev}
            if not counts:
                continue
            lines += ["", f"{title} ({sum(counts.values())})", "=============",
                      "   Frequency      Group           Protocol  Summary"]  # fmt: skip
            for (grp, proto, summary), n in counts.items():
                lines.append(f"{n:12d} {grp:>10} {proto:>18}  {escape(summary)}")
        lines += ["", f"Notes by frame ({len(self.notes)})", "=============",
                  "     Frame  Severity      Group   Protocol  Message"]  # fmt: skip
        for no, sev, grp, proto, _summary, msg in self.notes:
            lines.append(f"{no:10d} {sev:>9} {grp:>10} {proto:>10}  {escape(msg)}")
        lines.append(RULER)
        return "\n".join(lines) + "\n"


def tls_notes(tls: tuple) -> bool:
    from sniffer.tls.conn import has_notes  # (the TLS code loads with the first TLS frame)

    return has_notes(tls)

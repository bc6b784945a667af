"""A frame's highest expert severity, read from what dissection already holds (the packet list's marks).

The store keeps one byte per row (sniffer.store.PacketStore.severity) so that the packet list can mark a row
with an error or a warning even when the note sits in a collapsed subtree, without building any tree to draw
the list. Notes come from four places, and each is read where it is cheap: the session layer's
(`pdu.ann.notes`, `seg.session_notes`: severities in sniffer.session.fields ANALYSIS), TCP's analysis flags
(`seg.analysis`, Wireshark's severities in sniffer.session.tree TCP_EXPERT), the pipeline's note on a TCP
frame (`seg.note`, a Warning in the tree) and the MQTT dissector's own notes, which exist only in the tree.
Building a PDU's tree costs more than dissecting its frame, so it is built only for PDUs whose shape may carry
a note: the common quiet shapes (a PUBLISH with a plain topic and no properties, a bare acknowledgement, a
ping) are recognised from the PDU's header alone, and the others are looked up by the bytes the notes depend
on (a PUBLISH's topic and properties, not its packet id or payload), a device repeating its shapes.
tests/test_ui_marks.py checks the result against the full tree of every frame of every capture in the corpus
and every vector of the expert tests. Notes of decoded payloads (sniffer.payload) are not read: they exist only
once a payload is decoded, which the packet list never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from sniffer.mqtt import constants as C
from sniffer.mqtt.decoder import PDU
from sniffer.mqtt.dissect import dissect
from sniffer.mqtt.skim import Bad, varint
from sniffer.net.frame import parse_tcp
from sniffer.net.reassembly import Seg
from sniffer.net.tree import NET_LAYERS, OPT_LENGTHS
from sniffer.session.fields import ANALYSIS
from sniffer.session.tree import TCP_EXPERT

if TYPE_CHECKING:
    from sniffer.pipeline import Frame

NONE, CHAT, NOTE, WARNING, ERROR = 0, 1, 2, 3, 4
LEVELS: Final = {"Chat": CHAT, "Note": NOTE, "Warning": WARNING, "Error": ERROR}
NAMES: Final = {v: k for k, v in LEVELS.items()}

_SESSION: Final = {key: LEVELS[sev] for key, (_label, sev, _group) in ANALYSIS.items()}
# (a duplicate ACK's note hangs on its duplicate_ack_frame item, not under the flags: a Note too)
_TCP: Final = {abbrev[len("tcp.analysis.") :]: LEVELS[sev] for abbrev, sev in TCP_EXPERT.items()} | {
    "duplicate_ack": LEVELS["Note"]
}
_ACKS: Final = {C.PUBACK: 0, C.PUBREC: 0, C.PUBCOMP: 0, C.PUBREL: 2}  # type -> its required header flags
_BARE: Final = (C.PINGREQ, C.PINGRESP, C.DISCONNECT)
_HAS_MSGID: Final = C.HAS_MSGID
_CACHE_MAX: Final = 4096
# (type, flags, version, alias state, version inferred, bytes lost before, plain topic, shape bytes) -> level of
# the MQTT notes: a cache bounded by clearing, written by the one thread that stores frames
_levels: Final[dict[tuple[int, int, int, int, bool, bool, bool, bytes], int]] = {}


def tree_level(root: Any) -> int:
    """Highest severity of the notes in a subtree (a Node)."""
    level = NONE
    stack = [root]
    while stack:
        n = stack.pop()
        if n.severity is not None:
            level = max(level, LEVELS.get(n.severity, NONE))
        stack.extend(n.children)
    return level


def _quiet(p: PDU, plain: bool) -> bool:
    """True when the MQTT dissector's tree of p surely holds no note (its shape is one of the common
    note-free ones); False means: build the tree and look. `plain`: p is a PUBLISH with _plain_topic."""
    t = p.msgtype
    f = p.flags
    hl = p.hdr_len
    if p.remaining < 0 or not hl:
        return False
    if t == C.PUBLISH:
        if f & 6 == 6 or f & 8 and not f & 6:  # QoS 3; DUP on QoS 0
            return False
        if not plain:
            return False
        if p.version == C.V5:  # properties may carry notes: quiet only without any
            d = p.data
            pos = hl + 2 + (d[hl] << 8 | d[hl + 1]) + (2 if f & 6 else 0)
            return pos < len(d) and d[pos] == 0
        return True
    need = _ACKS.get(t)
    if need is not None:
        return f == need and p.remaining == 2  # (a v5 reason code or properties: the tree decides)
    if t in _BARE:
        return f == 0 and p.remaining == 0
    return False


def _plain_topic(p: PDU) -> bool:
    """True when a PUBLISH's topic surely carries no note: not empty, no wildcard, no alias, no
    invalid UTF-8 (decoded as U+FFFD) and nothing unprintable such as U+0000."""
    topic = p.topic
    if not topic or p.alias_state:
        return False
    return topic.isprintable() and "+" not in topic and "#" not in topic and "\ufffd" not in topic


def _shape(p: PDU, plain: bool) -> bytes | None:
    """The bytes of p the MQTT dissector's notes depend on (with the fixed header's type, flags and
    version, and the alias state); None when not worth keeping (a CONNECT: one per connection).
    `plain`: a PUBLISH whose topic carries no note (_plain_topic) is shaped by its properties alone,
    so that a device publishing to many topics with the same properties hits the cache."""
    t = p.msgtype
    d = p.data
    hl = p.hdr_len
    if t == C.PUBLISH:
        try:
            end = hl + 2 + (d[hl] << 8 | d[hl + 1])
            pos = end + 2 if p.flags & 6 else end  # the packet id changes every time, and has no note
            topic = b"" if plain else bytes(d[hl:end])
            if p.version != C.V5:
                return topic
            n, after = varint(d, pos, len(d))
            return topic + bytes(d[pos : after + n])
        except (Bad, IndexError):
            return None
    if t in _HAS_MSGID:
        return bytes(d[hl + 2 :])
    if t == C.CONNECT or t < 0:
        return None
    return bytes(d[hl:])


def _mqtt_level(p: PDU, plain: bool) -> int:
    """Highest severity of the notes in the MQTT tree of a well-formed PDU that is not quiet."""
    shape = _shape(p, plain)
    if shape is None:
        return tree_level(dissect(p, 0, 0))
    key = (p.msgtype, p.flags, p.version, p.alias_state, p.version_inferred, p.lost_before > 0, plain, shape)
    level = _levels.get(key)
    if level is None:
        level = tree_level(dissect(p, 0, 0))
        if len(_levels) >= _CACHE_MAX:
            _levels.clear()
        _levels[key] = level
    return level


def pdu_level(p: PDU) -> int:
    """Highest severity of the notes in the MQTT tree of PDU p and of its session annotation."""
    level = NONE
    if p.version_inferred and p.msgtype >= 0 and p.msgtype != C.CONNECT:
        level = NOTE
    if p.lost_before:
        level = WARNING
    if p.error is not None:
        level = max(level, tree_level(dissect(p, 0, 0)))
    else:
        plain = p.msgtype == C.PUBLISH and _plain_topic(p)  # (one scan of the topic for both)
        if not _quiet(p, plain):
            level = max(level, _mqtt_level(p, plain))
    ann = p.ann
    if ann is not None and ann.notes:
        for key, _msg in ann.notes:
            level = max(level, _SESSION.get(key, NONE))
    return level


def _seg_level(seg: Seg) -> int:
    """Highest severity of the notes on a TCP frame: analysis flags, the pipeline's note, a connection's end."""
    level = WARNING if seg.note else NONE
    fl = seg.flags
    if fl & 0x07:  # a connection's start and end (sniffer.net.tree._connection_note): RST a Warning, the rest Chat
        level = max(level, WARNING if fl & 0x04 else NOTE if seg.fin_role else CHAT)
    if seg.dsack:  # a SACK option reporting a duplicate segment
        level = max(level, WARNING)
    for name in seg.analysis:
        level = max(level, _TCP.get(name, NONE))
    for key, _msg in seg.session_notes:
        level = max(level, _SESSION.get(key, NONE))  # ("client", id) is no note
    return level


def group_source(linktype: int, data: bytes) -> bool:
    """An Ethernet frame from a multicast or broadcast address: tshark's eth.src_not_group warning."""
    return linktype == 1 and len(data) >= 12 and bool(data[6] & 1)


# Info of a frame below TCP (sniffer.net.protoinfo's words) whose tree has a broken header's item or note
_BROKEN_INFO: Final = (
    "[Malformed Packet]",
    "[Packet size limited during capture]",
    "Bogus IP",
    "bogus TCP",
    "[BAD UDP",
)


def net_notes(frame: Frame) -> bool:
    """Whether the layers below MQTT hold notes a Seg does not announce: a header that contradicts itself or its
    packet (an ARP message cut short included), an IP length past the frame, TCP's acknowledgment or urgent
    field set without its flag, options tshark remarks on. From the bytes and cheaply (a standard frame passes a
    few comparisons): the frame's tree says which notes there are."""
    seg = frame.seg
    if seg is None:
        info = frame.info
        return any(mark in info for mark in _BROKEN_INFO)
    data = frame.data
    ipver, _s, _d, _sp, _dp, _seq, ack, flags, _w, po, plen, t, wire = parse_tcp(frame.linktype, data)
    if not ipver:
        return False
    if wire > plen and frame.orig_len <= len(data) or ack and not flags & 0x010:
        return True
    if t + 20 > len(data) or not flags & 0x020 and (data[t + 18] or data[t + 19]):
        return True
    if (
        po <= t + 20
        or po == t + 32
        and data[t + 20] == 1
        and data[t + 21] == 1
        and data[t + 22] == 8
        and (data[t + 23] == 10)
    ):  # no options, or Linux's NOP, NOP, Timestamps
        return False
    return odd_options(data[t + 20 : po], bool(flags & 0x002))


def odd_options(opts: bytes, syn: bool) -> bool:
    """TCP options the tree notes: a length that cannot be right, an MSS outside a SYN, four NOPs in a row."""
    p, n, nops = 0, len(opts), 0
    while p < n:
        kind = opts[p]
        if kind == 0:
            return False
        if kind == 1:
            nops += 1
            if nops == 4:
                return True
            p += 1
            continue
        nops = 0
        if p + 1 >= n:
            return True
        ln = opts[p + 1]
        if ln < 2 or p + ln > n or kind == 2 and not syn or kind == 5 and (ln - 2) % 8:
            return True
        if OPT_LENGTHS.get(kind, ln) != ln:  # a fixed-size option of another size
            return True
        p += ln
    return False


def frame_level(frame: Frame) -> int:
    """Highest severity of every expert note in the frame's full tree (0: none)."""
    seg = frame.seg
    level = _seg_level(seg) if seg is not None and (seg.tcp_notes or seg.session_notes) else NONE
    if frame.link_notes or group_source(frame.linktype, frame.data):  # a duplicate IP address, a group source
        level = max(level, WARNING)
    if net_notes(frame):  # (rare: the net layers' tree, as it shows them)
        level = max(level, max((tree_level(n) for n in frame.tree(NET_LAYERS)), default=NONE))
    if seg is not None and seg.tls is not None:  # TLS records: a malformed one, a missing key
        from sniffer.tls.tree import records_layer

        level = max(level, max((tree_level(n) for n in records_layer(seg.tls, frame.data)), default=NONE))
    for p in frame.pdus:
        pl = pdu_level(p)
        if pl > level:
            level = pl
    return level

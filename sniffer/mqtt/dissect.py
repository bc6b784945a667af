"""MQTT detail tree (on demand) and Info column text (hot path).

`dissect(pdu, base, source)` builds the "MQ Telemetry Transport Protocol, <type>"
subtree the way Wireshark 4.0 lays it out, with our additions: one field per
MQTT 5 property wrapping Wireshark's generic value items, expert notes for
protocol violations, and "[Malformed Packet: MQTT]" with the offending range.
`info(pdu)` builds no nodes: it reads what the decoder already extracted. The topics it
quotes are the client's text and are escaped there (sniffer.textesc), so no Info column,
headless or in the UI, carries a control from the wire; the PDU keeps the raw topic for filters.
"""

from __future__ import annotations

from typing import Final

from sniffer.fields import ERROR, NOTE, WARN, FieldDef, Node, bits
from sniffer.malformed import is_cut, malformed, short
from sniffer.mqtt import constants as C
from sniffer.mqtt import fields as F
from sniffer.mqtt import json_grammar
from sniffer.mqtt import media as M
from sniffer.mqtt.decoder import LIMITED, PDU
from sniffer.mqtt.skim import subscribe_topics
from sniffer.mqtt.walker import Cut, Walker
from sniffer.textesc import escape_slow

_NAMES: Final = C.MSGTYPE_LIST
_HAS_MSGID: Final = C.HAS_MSGID
JUNK_NAME: Final = "Unrecognised data"
MALFORMED_INFO: Final = "[Malformed Packet]"
# (no space before either: tshark appends its exception text to the Info as it stands)
LIMITED_INFO: Final = f"[{LIMITED}]"


def cut_info(s: str) -> str:
    """Wireshark's Info column holds at most 4095 bytes of UTF-8 (COL_MAX_INFO_LEN). A character the
    cut would split is left out (tshark writes its first bytes, which is invalid UTF-8)."""
    if len(s) < 1024:  # at most 4 bytes a character: no need to encode
        return s
    b = s.encode()
    return s if len(b) < 4096 else b[:4095].decode("utf-8", "ignore")


def info(pdu: PDU) -> str:
    """Wireshark's Info text for one PDU ("Publish Message (id=3) [a/b]")."""
    t = pdu.msgtype
    if t < 0:
        return JUNK_NAME + MALFORMED_INFO
    s = _NAMES[t]
    if t == C.PUBLISH:
        if pdu.msgid >= 0:
            s = f"{s} (id={pdu.msgid})"
        if pdu.error is None:
            topic = pdu.topic
            if topic is not None and not topic.isprintable():  # one C scan; escaping is rare
                topic = escape_slow(topic)
            s = f"{s} [{topic}]"
            if pdu.version == C.V5:
                kind, ctype = media(pdu)
                if kind == M.JSON:
                    s = f"{s}, JavaScript Object Notation ({ctype})"
                elif kind == M.TEXT:
                    s = f"{s} ({ctype})"
            return cut_info(s)
        topic = pdu.topic
        if topic:  # a PDU cut short after its topic: what was captured still names it (escaped as above)
            s = f"{s} [{topic if topic.isprintable() else escape_slow(topic)}]"
    elif t in _HAS_MSGID and pdu.msgid >= 0:
        s = f"{s} (id={pdu.msgid})"
        if t == C.SUBSCRIBE:
            for topic in subscribe_topics(pdu.data, pdu.hdr_len, pdu.version):
                if not topic.isprintable():
                    topic = escape_slow(topic)
                s = f"{s} [{topic}]"
    if pdu.error is not None:
        s += LIMITED_INFO if pdu.error.startswith(LIMITED) else MALFORMED_INFO
    return cut_info(s)


def media(pdu: PDU) -> tuple[int, str]:
    """(sniffer.mqtt.media's family, the Content Type as sent) of a well-formed MQTT 5 PUBLISH whose Content
    Type tshark hands to a dissector that changes its summary line, else (0, "")."""
    raw = _ctype(pdu)
    if raw is None:
        return 0, ""
    d = pdu.data
    kind = M.RAW_KINDS.get(raw, -1)  # the type as listed (lower case)
    if kind < 0:
        kind = M.RAW_KINDS.get(raw.lower(), 0)  # ASCII letters only, as tshark folds them
    if not kind:
        return 0, ""
    ctype = raw.decode("ascii", "replace")  # (a listed type, case aside: printable ASCII)
    if kind == M.XML and (pdu.payload_at < 0 or len(d) - pdu.payload_at < 2):
        return 0, ""  # (tshark's XML dissector throws on fewer than two bytes: "[Malformed Packet]")
    return kind, ctype


def _ctype(pdu: PDU) -> bytes | None:
    """The Content Type of a well-formed MQTT 5 PUBLISH as tshark reads it (its string ends at a NUL), or None:
    none, a malformed PDU, or a stream caught after its CONNECT (tshark takes it for 3.1.1: no properties)."""
    at = pdu.ctype_at
    if at < 0 or pdu.error is not None or pdu.version_inferred:
        return None
    d = pdu.data
    raw = d[at + 2 : at + 2 + (d[at] << 8 | d[at + 1])]
    end = raw.find(b"\0")  # (not `in`: bytes in bytes raises and clears a TypeError first, ~2,000 instructions)
    return raw if end < 0 else raw[:end]


def payload_layers(pdus: list[PDU]) -> str:
    """What tshark's frame.protocols lists after `mqtt` for these PDUs (":json", ":xml:json", ...): the layers
    of the dissectors their Content Types hand the payloads to (sniffer.mqtt.media.LAYERS), PDU after PDU."""
    out = ""
    for pdu in pdus:
        raw = _ctype(pdu)
        if raw is None:
            continue
        layer = M.RAW_LAYERS.get(raw) or M.RAW_LAYERS.get(raw.lower())  # (ASCII letters only fold, as tshark's)
        if layer is None:
            continue
        payload = pdu.data[pdu.payload_at :] if pdu.payload_at >= 0 else b""
        if not payload and layer not in M.LAYERS_ON_EMPTY:
            continue
        out += f":{layer}"
        if layer == "json" and not json_grammar.is_whole(payload):
            out += ":data-text-lines"  # (what tshark's JSON parser left over, shown as text lines)
    return out


def protocol(pdus: list[PDU]) -> str:
    """The Protocol column of a frame that completes these PDUs: MQTT, or tshark's MQTT/JSON, MQTT/XML when
    the last one's Content Type is handed to such a dissector (each PDU sets the column anew)."""
    last = pdus[-1]
    if last.ctype_at < 0:  # (an MQTT 5 PUBLISH with a Content Type only)
        return "MQTT"
    kind, ctype = media(last)
    if kind == M.JSON:
        return "MQTT/JSON"
    if kind == M.XML:
        return M.XML_NAMES.get(ctype.lower(), "MQTT/XML")
    return "MQTT"


_PUBLISH_FLAGS: Final = (F.MSGTYPE, F.DUPFLAG, F.QOS, F.RETAIN)
_V31_QOS1_FLAGS: Final = (F.MSGTYPE, F.DUPFLAG, F.QOS, F.RETAIN_RESERVED)
_OTHER_FLAGS: Final = (F.MSGTYPE, F.HDR_RESERVED)
_CONNECT_FLAGS: Final = (
    F.CONFLAG_UNAME,
    F.CONFLAG_PASSWD,
    F.CONFLAG_RETAIN,
    F.CONFLAG_QOS,
    F.CONFLAG_WILLFLAG,
    F.CONFLAG_CLEANSESS,
    F.CONFLAG_RESERVED,
)
_SUBOPTS: Final = (F.SUBOPTS_RESERVED, F.SUBOPTS_RETAIN, F.SUBOPTS_RAP, F.SUBOPTS_NL, F.SUBOPTS_QOS)


def dissect(pdu: PDU, base: int = 0, source: int = 0) -> Node:
    """The MQTT subtree of one PDU; node offsets are base + offset in pdu.data."""
    t = pdu.msgtype
    d = pdu.data
    w = Walker(d, base, source)
    name = JUNK_NAME if t < 0 else _NAMES[t]
    root = w.node(F.PROTO, None, 0, len(d), f"{F.PROTO.name}, {name}")
    failure: tuple[str, int] | None = None
    try:
        if pdu.version_inferred and t != C.CONNECT and t >= 0:
            w.note(
                root,
                NOTE,
                f"Protocol version inferred as {C.VERSION_NAMES.get(pdu.version, pdu.version)} "
                "from the packet's shape (no CONNECT seen)",
                0,
                len(d),
                F.UNKNOWN_VERSION,
            )
        if pdu.lost_before:
            w.note(
                root,
                WARN,
                f"{pdu.lost_before} bytes of the stream before this packet were not captured; "
                "decoding resumed at this packet's fixed header",
                0,
                0,
            )
        if t >= 0:
            _header(w, root, pdu)
            if pdu.remaining >= 0 and pdu.hdr_len:
                end = _BODY.get(t, _no_body)(w, root, pdu, pdu.hdr_len)
                if end is not None and end < w.end and pdu.error is None and t not in (C.PUBLISH, C.RESERVED):
                    w.note(root, WARN, f"{w.end - end} unexpected bytes after the packet's fields", end, w.end - end)
    except Cut as e:
        failure = (e.reason, e.offset)
    except Exception as e:  # a dissector bug must not take the capture down; show it like Wireshark does
        failure = (f"Dissector bug: {type(e).__name__}: {e}", 0)
    if pdu.error is not None or failure is not None or w.soft is not None:
        # Reason: the decoder's (it framed the PDU); place: the first problem the walk met.
        if w.soft is not None:
            reason, off = w.soft[0], w.soft[1]
        elif failure is not None:
            reason, off = failure
        else:
            reason, off = "", 0
        if pdu.error is not None:
            reason = pdu.error
        off = min(off, len(d))
        if reason.startswith(LIMITED):  # not the sender's fault: the capture kept only the first bytes
            bad = short(f"[{LIMITED}: MQTT truncated]", w.base + len(d), w.src)
            w.note(bad, WARN, reason, len(d), 0)
        else:  # (the pipeline lifts it to the frame's top level, where tshark shows it: split_cut)
            bad = malformed("MQTT", w.base + off, f"Malformed Packet: {reason}", len(d) - off, w.src)
        root.children.append(bad)
    return root


def split_cut(root: Node) -> Node | None:
    """Take a PDU's "[Malformed Packet: MQTT]" or "[Packet size limited during capture: MQTT truncated]" item out
    of its subtree, for the frame's top level (tshark's place; the session items after it stay in the PDU's)."""
    kids = root.children
    for i in range(len(kids) - 1, -1, -1):
        if is_cut(kids[i]):
            return kids.pop(i)
    return None


def _header(w: Walker, root: Node, pdu: PDU) -> None:
    t, f, v = pdu.msgtype, pdu.flags, pdu.version
    subs: tuple[FieldDef, ...]
    if t == C.PUBLISH:
        subs = _PUBLISH_FLAGS
    elif v == C.V31 and t in (C.PUBREL, C.SUBSCRIBE, C.UNSUBSCRIBE):
        subs = _V31_QOS1_FLAGS
    else:
        subs = _OTHER_FLAGS
    hf = w.bitmask(root, F.HDRFLAGS, subs, 0)
    if t == C.RESERVED:
        w.note(hf, ERROR, "Reserved packet type 0 (forbidden)", 0, 1)
    elif t == C.AUTH and v != C.V5:
        w.note(hf, ERROR, f"Packet type 15 (AUTH) is reserved in {C.VERSION_NAMES.get(v, 'MQTT 3.x')}", 0, 1)
    if t == C.PUBLISH:
        if f & 6 == 6:
            w.note(hf, ERROR, "QoS 3 is reserved: a PUBLISH must not have both QoS bits set", 0, 1)
        elif f & 8 and not f & 6:
            w.note(hf, WARN, "DUP flag set on a QoS 0 PUBLISH", 0, 1)
    elif t != C.RESERVED:
        need = C.REQUIRED_FLAGS[t]
        ok = f == need or (v == C.V31 and need == 2 and f == 0xA)
        if not ok:
            w.note(hf, ERROR, f"Invalid fixed header flags 0x{f:x} for {_NAMES[t]} (must be 0x{need:x})", 0, 1)
    if pdu.remaining < 0:
        ln = max(pdu.hdr_len - 1, 0) if pdu.hdr_len else len(w.d) - 1
        if pdu.hdr_len == 5:
            n = w.node(None, None, 1, 4, "Msg Len: <invalid>")
            w.note(n, ERROR, "Remaining Length is a variable byte integer longer than 4 bytes", 1, 4)
            root.children.append(n)
            raise Cut("invalid Remaining Length (varint longer than 4 bytes)", 1)
        raise Cut("fixed header cut off", 1 if ln else len(w.d))
    root.children.append(w.node(F.LEN, pdu.remaining, 1, pdu.hdr_len - 1))


def _no_body(w: Walker, root: Node, pdu: PDU, p: int) -> int:
    return p


def _topic_checks(w: Walker, node: Node, topic: str, off: int, ln: int, is_filter: bool) -> None:
    if not is_filter:
        if "+" in topic or "#" in topic:
            w.note(node, WARN, "Wildcard character in a PUBLISH topic name (protocol error)", off, ln)
        return
    levels = topic.split("/")
    for i, level in enumerate(levels):
        if ("#" in level and (level != "#" or i != len(levels) - 1)) or ("+" in level and level != "+"):
            w.note(node, WARN, f"Invalid wildcard use in topic filter {topic!r}", off, ln)
            break


def _connect(w: Walker, root: Node, pdu: PDU, p: int) -> int:
    d = w.d
    name, p, _ = w.string(root, F.PROTO_LEN, F.PROTONAME, p, "protocol name")
    level = w.u8(root, F.VER, p, "protocol level")
    vnode = root.children[-1]
    expected = {C.V31: "MQIsdp", C.V311: "MQTT", C.V5: "MQTT"}.get(level)
    if expected is None:
        w.note(vnode, WARN, f"Unknown protocol level {level}", p, 1)
    elif name != expected:
        w.note(vnode, WARN, f"Protocol name {name!r} does not match level {level} (expected {expected!r})", p, 1)
    p += 1
    flags_node = w.bitmask(root, F.CONFLAGS, _CONNECT_FLAGS, p)
    flags = d[p]
    if flags & 1:
        w.note(flags_node, ERROR, "Reserved connect flag is set (malformed per the specification)", p, 1)
    if not flags & 4 and flags & 0x38:
        w.note(flags_node, WARN, "Will QoS/Retain set without the Will Flag", p, 1)
    if flags & 0x18 == 0x18:
        w.note(flags_node, ERROR, "Will QoS 3 is reserved", p, 1)
    if level == C.V311 and flags & 0xC0 == 0x40:
        w.note(flags_node, WARN, "Password Flag set without User Name Flag (not allowed in 3.1.1)", p, 1)
    p += 1
    w.u16(root, F.KALIVE, p, "keep alive")
    p += 2
    v5 = level == C.V5
    if v5:
        p = w.properties(root, p, C.CONNECT)[0]
    _, p, _ = w.string(root, F.CLIENTID_LEN, F.CLIENTID, p, "client id")
    if flags & 4:
        if v5:
            p = w.properties(root, p, C.CONNECT, will=True)[0]
        ln, ln_node = w.u16(root, F.WILLTOPIC_LEN, p, "will topic length")
        if ln == 0:
            w.note(ln_node, WARN, "Length cannot be 0", p, 2, F.ILLEGAL_TOPIC_LENGTH)
            p += 2
        else:
            root.children.pop()
            _, p, _ = w.string(root, F.WILLTOPIC_LEN, F.WILLTOPIC, p, "will topic")
        _, p, _ = w.string(root, F.WILLMSG_LEN, F.WILLMSG, p, "will message", binary=True)
    if flags & 0x80:
        _, p, _ = w.string(root, F.USERNAME_LEN, F.USERNAME, p, "user name")
    if flags & 0x40:
        _, p, _ = w.string(root, F.PASSWD_LEN, F.PASSWD, p, "password")
    return p


def _connack(w: Walker, root: Node, pdu: PDU, p: int) -> int:
    w.need(p, 1, "acknowledge flags")
    if pdu.version == C.V31:
        b = w.d[p]
        root.children.append(w.node(F.CONACK_FLAGS_RESERVED, bool(b), p, 1, f"Reserved: {'Set' if b else 'Not set'}"))
    else:
        top = w.bitmask(root, F.CONACK_FLAGS, (), p)
        b = w.d[p]
        r = w.node(F.CONACK_FLAGS_RESERVED, bool(b & 0xFE), p, 1)
        r.text = f"{bits(b, 0xFE)} = Reserved: {'Set' if b & 0xFE else 'Not set'}"
        top.children.append(r)
        w.bitfield(top, F.CONACK_FLAGS_SP, b, p)
        if b & 1:
            top.text += ", Session Present"
        if b & 0xFE:
            w.note(top, ERROR, "Reserved Connect Acknowledge flags are set", p, 1)
    p += 1
    if pdu.version == C.V5:
        w.u8(root, F.REASON_CODE[C.CONNACK], p, "reason code")
        return w.properties(root, p + 1, C.CONNACK)[0]
    w.u8(root, F.CONACK_VAL, p, "return code")
    return p + 1


def _publish(w: Walker, root: Node, pdu: PDU, p: int) -> int:
    ln, ln_node = w.u16(root, F.TOPIC_LEN, p, "topic length")
    p += 2
    topic = ""
    if ln:
        w.need(p, ln, "topic")
        tnode = w.node(F.TOPIC, "", p, ln)
        topic = w.text(tnode, p, ln, "topic")
        tnode.value = topic
        tnode.text = f"Topic: {topic}"
        _topic_checks(w, tnode, topic, p, ln, False)
        root.children.append(tnode)
        p += ln
    if pdu.flags & 6:
        w.u16(root, F.MSGID, p, "message identifier")
        p += 2
    alias = 0
    if pdu.version == C.V5:
        p, alias = w.properties(root, p, C.PUBLISH)
        if alias and not ln:
            resolved = pdu.topic or ""
            text = f"[Topic: {resolved} (from Topic Alias {alias})]" if pdu.alias_state == 2 else f"[Topic: {resolved}]"
            g = w.node(F.TOPIC, resolved, p, 0, text)
            root.children.append(g)
            if pdu.alias_state == 3:
                w.note(g, NOTE, f"Unknown topic alias {alias}", p, 0, F.UNKNOWN_TOPIC_ALIAS)
    if ln == 0 and not alias:
        w.note(ln_node, WARN, "Length cannot be 0", ln_node.start - w.base, 2, F.ILLEGAL_TOPIC_LENGTH)
    root.children.append(w.node(F.MSG, w.d[p:], p, w.end - p))
    return w.end


def _ack(w: Walker, root: Node, pdu: PDU, p: int) -> int:
    t = pdu.msgtype
    w.u16(root, F.MSGID, p, "message identifier")
    p += 2
    if pdu.version == C.V5 and w.end - p > 0:
        w.u8(root, F.REASON_CODE[t], p, "reason code")
        p += 1
        if w.end - p > 0:
            p = w.properties(root, p, t)[0]
    return p


def _subscribe(w: Walker, root: Node, pdu: PDU, p: int) -> int:
    t = pdu.msgtype
    w.u16(root, F.MSGID, p, "message identifier")
    p += 2
    v5 = pdu.version == C.V5
    if v5:
        p = w.properties(root, p, t)[0]
    if p >= w.end:
        w.note(root, WARN, f"{_NAMES[t]} without any topic filter (protocol error)", p, 0)
    while p < w.end:
        ln, ln_node = w.u16(root, F.TOPIC_LEN, p, "topic filter length")
        p += 2
        if ln == 0:
            w.note(ln_node, WARN, "Length cannot be 0", p - 2, 2, F.ILLEGAL_TOPIC_LENGTH)
        else:
            w.need(p, ln, "topic filter")
            tnode = w.node(F.TOPIC, "", p, ln)
            topic = w.text(tnode, p, ln, "topic filter")
            tnode.value = topic
            tnode.text = f"Topic: {topic}"
            _topic_checks(w, tnode, topic, p, ln, True)
            root.children.append(tnode)
            p += ln
        if t == C.UNSUBSCRIBE:
            continue
        w.need(p, 1, "subscription options")
        o = w.d[p]
        if v5:
            node = w.bitmask(root, F.SUBOPTS, _SUBOPTS, p)
            if o & 0xC0:
                w.note(node, ERROR, "Reserved subscription option bits are set (malformed)", p, 1)
            if o & 0x30 == 0x30:
                w.note(node, ERROR, "Retain Handling 3 is reserved", p, 1)
        else:
            node = w.node(F.SUB_QOS, o, p, 1)
            root.children.append(node)
            if o & 0xFC:
                w.note(node, ERROR, "Reserved bits of the requested QoS byte are set (malformed)", p, 1)
        if o & 3 == 3:
            w.note(node, ERROR, "QoS 3 is reserved", p, 1)
        p += 1
    return p


def _suback(w: Walker, root: Node, pdu: PDU, p: int) -> int:
    t = pdu.msgtype
    w.u16(root, F.MSGID, p, "message identifier")
    p += 2
    if pdu.version == C.V5:
        p = w.properties(root, p, t)[0]
        fd = F.REASON_CODE[t]
    elif t == C.SUBACK:
        fd = F.SUBACK_QOS
    else:
        return p
    while p < w.end:
        n = w.node(fd, w.d[p], p, 1)
        root.children.append(n)
        if fd.values is not None and w.d[p] not in fd.values:
            w.note(n, WARN, f"Unknown {'return' if fd is F.SUBACK_QOS else 'reason'} code {w.d[p]}", p, 1)
        p += 1
    return p


def _disconnect(w: Walker, root: Node, pdu: PDU, p: int) -> int:
    t = pdu.msgtype
    if pdu.version == C.V5 and w.end - p > 0:
        w.u8(root, F.REASON_CODE[t], p, "reason code")
        p += 1
        if w.end - p > 0:
            p = w.properties(root, p, t)[0]
    return p


_BODY: Final = {
    C.CONNECT: _connect,
    C.CONNACK: _connack,
    C.PUBLISH: _publish,
    C.PUBACK: _ack,
    C.PUBREC: _ack,
    C.PUBREL: _ack,
    C.PUBCOMP: _ack,
    C.SUBSCRIBE: _subscribe,
    C.UNSUBSCRIBE: _subscribe,
    C.SUBACK: _suback,
    C.UNSUBACK: _suback,
    C.DISCONNECT: _disconnect,
    C.AUTH: _disconnect,
}

"""The TLS layer of a frame's detail tree and its data sources, from what TlsConnection left on
the TCP segment (`seg.tls`): records with their header fields, the ClientHello/ServerHello items,
then the decrypted MQTT PDUs, whose byte ranges point into the "Decrypted TLS" source."""

from __future__ import annotations

from typing import Any

from sniffer.fields import ERROR, REGISTRY, WARN, FieldDef, Node, item, note
from sniffer.tls import fields as F

_PROTO_NAMES = {0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}


def _pdu_in_plain(pdu: Any, number: int) -> int:
    """Offset of the PDU in this frame's decrypted bytes if it lies whole there, else -1."""
    spans = pdu.spans
    if len(spans) == 1:
        tag, chunk_off, pdu_off, length = spans[0]
        if tag is not None and tag[0] == -number and pdu_off == 0 and length == len(pdu.data):
            return tag[1] + chunk_off
    return -1


def sources(frame: Any) -> list[tuple[str, bytes]]:
    """Frame, records reassembled from several segments, the decrypted bytes, PDUs across records."""
    records, plain = frame.seg.tls[:2]
    out = [(f"Frame ({len(frame.data)} bytes)", frame.data)]
    for r in records:
        if r[0] < 0 and r[1]:
            out.append((f"Reassembled TCP ({len(r[1])} bytes)", r[1]))
    if plain:
        out.append((f"Decrypted TLS ({len(plain)} bytes)", plain))
    if frame.seg.ws is not None:  # wss://: WebSocket's sources and the MQTT inside (sniffer.ws)
        from sniffer.ws import tree as ws_tree

        return ws_tree.sources(frame, out)
    for pdu in frame.pdus:
        if _pdu_in_plain(pdu, frame.number) < 0:
            out.append((f"Reassembled TLS ({len(pdu.data)} bytes)", pdu.data))
    return out


def nodes(frame: Any, want: set[str] | None, decode: bool = False) -> list[Node]:
    """The TLS layer (if wanted), then the MQTT PDUs decrypted in this frame (if wanted), their
    payloads decoded if `decode` (sniffer.payload)."""
    records, plain, proto = frame.seg.tls[:3]
    out: list[Node] = []
    source = 0
    rec_source: list[int] = []
    for r in records:
        if r[0] < 0 and r[1]:
            source += 1
            rec_source.append(source)
        else:
            rec_source.append(0)
    plain_source = 0
    if plain:
        source += 1
        plain_source = source
    ws = frame.seg.ws is not None  # wss://: the application data is HTTP (the Upgrade, then WebSocket)
    app = "Hypertext Transfer Protocol" if ws else "MQ Telemetry Transport Protocol"
    if want is None or "tls" in want:
        top = Node(F.PROTO, None, 0, 0, "Transport Layer Security", [], 0)
        if not records:  # a segment that only begins a record: tshark's layer is there, empty, over its bytes
            top.start, top.length = frame.seg.tls[5][2:4]
        first = True
        for r, src in zip(records, rec_source, strict=True):
            node = _record(r, src, plain_source, bool(frame.pdus) or ws, frame.data if src == 0 else r[1], proto, app)
            if first and src == 0:
                top.start = node.start
            first = False
            top.length = max(top.length, node.start + node.length - top.start) if src == 0 else top.length
            top.add(node)
        out.append(top)
    if frame.seg.ws is not None:  # wss://: the WebSocket layer, then the MQTT inside it (sniffer.ws)
        from sniffer.ws import tree as ws_tree

        return out + ws_tree.nodes(frame, want, plain_source, source, decode)
    if frame.pdus and (want is None or "mqtt" in want or decode):
        from sniffer.pipeline import inner_pdu_nodes

        out += inner_pdu_nodes(frame, _pdu_in_plain, plain_source, source, decode)
    return out


def records_layer(tls: tuple, data: bytes) -> list[Node]:
    """The record nodes of a frame's TLS layer alone (what its expert notes are read from)."""
    records, proto = tls[0], tls[2]
    return [_record(r, 0 if r[0] >= 0 else 1, 0, False, data if r[0] >= 0 else r[1], proto) for r in records]


def _record(
    r: tuple, src: int, plain_source: int, has_mqtt: bool, data: bytes, proto: str,
    app: str = "MQ Telemetry Transport Protocol",
) -> Node:  # fmt: skip
    frame_off, raw, ctype, version, length, inner, plain_off, plain_len, items, error, extra = r
    base = frame_off if src == 0 else 0
    if ctype < 0 or error and length == 0 and not raw and frame_off < 0:
        message = error or extra or "TLS stream not followed"
        n = Node(None, None, 0, 0, f"[{message}]", [], 0)
        n.add(note(WARN, message, 0, 0, 0))
        return n
    kind = inner if inner >= 0 else ctype
    vname = proto  # Wireshark names every record after the negotiated version
    if inner == 23 and has_mqtt:
        label = f"{vname} Record Layer: Application Data Protocol: {app}"
    else:
        label = f"{vname} Record Layer: {F.CONTENT_TYPES.get(kind, 'Unknown')} Protocol"
    rec = Node(F.RECORD, None, base, 5 + length, label, [], src)
    if ctype == 23 and proto == "TLSv1.3":  # the outer type hides the real one (RFC 8446 5.2)
        rec.add(item(F.OPAQUE_TYPE, ctype, base, 1, src))
        if inner >= 0:
            rec.add(item(F.CONTENT_TYPE, inner, base, 1, src))
    else:
        rec.add(item(F.CONTENT_TYPE, ctype, base, 1, src))
    rec.add(item(F.VERSION, version, base + 1, 2, src))
    rec.add(item(F.LENGTH, length, base + 3, 2, src))
    decrypted = inner >= 0 and plain_off >= 0
    if items:
        at, isrc = (plain_off, plain_source) if decrypted else (base + 5, src)
        _items(rec, items, at, isrc)
    elif ctype == 20 and not decrypted:
        rec.add(Node(F.CCS, None, base + 5, length, "Change Cipher Spec Message", [], src))
    elif ctype == 22 and not decrypted:  # TLS 1.2's Finished, without its key
        rec.text = f"{vname} Record Layer: Handshake Protocol: Encrypted Handshake Message"
        rec.add(Node(F.HANDSHAKE, None, base + 5, length, "Handshake Protocol: Encrypted Handshake Message", [], src))
    elif ctype == 21 and not decrypted:
        rec.text = f"{vname} Record Layer: Encrypted Alert"
        rec.add(Node(F.ALERT, None, base + 5, length, "Alert Message: Encrypted Alert", [], src))
    elif kind == 23 or not decrypted:
        rec.add(item(F.APP_DATA, bytes(data[base + 5 : base + 5 + length]), base + 5, length, src))
        if decrypted and kind == 23 and has_mqtt:
            rec.add(item(F.APP_DATA_PROTO, app, plain_off, plain_len, plain_source))
    if error:
        rec.add(note(ERROR, f"Malformed TLS record: {error}", base, 5 + length, src))
    if extra:
        sev = WARN if extra.startswith("no key") or "cannot be decrypted" in extra or "not one" in extra else "Note"
        rec.add(note(sev, extra, base, 5 + length, src))
    return rec


def _items(parent: Node, items: list, at: int, src: int) -> None:
    stack: list[Node] = [parent]
    for abbrev, value, off, length, depth in items:
        fd: FieldDef = REGISTRY[abbrev]
        if abbrev == "tls.aws":  # an AWS IoT endpoint's ClientHello (sniffer.credentials.aws): under the hello
            from sniffer.credentials.aws import hello_node

            aws = hello_node(*value, at + off, length, src)
            if aws is not None:
                del stack[depth + 1 :]
                stack[-1].add(aws)
            continue
        if abbrev == "tls.handshake":
            name = F.HANDSHAKE_TYPES.get(value, f"Unknown ({value})")
            n = Node(fd, None, at + off, length, f"Handshake Protocol: {name}", [], src)
        elif value is None:
            n = Node(fd, None, at + off, length, fd.name, [], src)
        else:
            n = item(fd, value, at + off, length, src)
        del stack[depth + 1 :]
        stack[-1].add(n)
        stack.append(n)

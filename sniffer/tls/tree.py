"""The TLS layer of a frame's detail tree and its data sources, from what TlsConnection left on
the TCP segment (`seg.tls`): records with their header fields, the ClientHello/ServerHello items,
then the decrypted MQTT PDUs, whose byte ranges point into the "Decrypted TLS" source."""

from __future__ import annotations

from typing import Any

from sniffer.fields import ERROR, REGISTRY, WARN, FieldDef, Node, item, note
from sniffer.tls import fields as F
from sniffer.tls.hello import message_name

_PROTO_NAMES = {0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
MQTT_APP = "MQ Telemetry Transport Protocol"
TLS_REASSEMBLY = (F.SEGMENTS, F.SEGMENT, F.SEGMENT_COUNT, F.REASSEMBLED_LENGTH, F.REASSEMBLED_DATA)


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
    split, rest, _tail, pieces, _sized, http = frame.seg.tls[5]
    app = "Hypertext Transfer Protocol" if ws or http else MQTT_APP
    if pieces and (want is None or "tcp" in want or "mqtt" in want):
        from sniffer.pipeline import reassembly_node  # (the record TCP reassembled, as for an MQTT PDU)

        out.append(reassembly_node(pieces, records[split - 1][1], rec_source[split - 1]))
    pieces_at = {} if ws or not (want is None or "tls" in want) else _segment_pieces(frame)
    # one TLS layer per hand-off of TCP (the record it reassembled, then the rest of the segment), each followed by
    # the MQTT it carried, as tshark shows them
    from sniffer.tls.layers import handoffs

    cuts = [(0, split), (split, len(records))] if split and rest else [(0, len(records))]
    pdus = frame.pdus
    mqtt_wanted = bool(pdus) and not ws and (want is None or "mqtt" in want or decode)
    # the MQTT each cut carried (one cut: all of the frame's, those a connection's end gave up included)
    carried = (
        handoffs(frame.seg.tls, pdus) if len(cuts) > 1 and pdus and not ws else [[pdus if not ws else []]] * len(cuts)
    )
    for (lo, hi), groups in zip(cuts, carried, strict=True):
        if want is None or "tls" in want:
            top = Node(F.PROTO, None, 0, 0, "Transport Layer Security", [], 0)
            if not records:  # a segment that only begins a record: tshark's layer is there, empty, over its bytes
                top.start = frame.seg.tls[5][2]
                top.length = max(min(len(frame.data) - top.start, frame.seg.length), 0)
            first = True
            for r, src in zip(records[lo:hi], rec_source[lo:hi], strict=True):
                node = _record(r, src, plain_source, True, frame.data if src == 0 else r[1], proto, app)
                if first and src == 0:
                    top.start = node.start
                first = False
                top.length = max(top.length, node.start + node.length - top.start) if src == 0 else top.length
                top.add(node)
                for at, n in pieces_at.get(r[6], ()):  # (after its record, as tshark places them)
                    top.add(item(F.SEGMENT_DATA, plain[at : at + n], at, n, plain_source,
                                 text=f"TLS segment data ({n} bytes)"))  # fmt: skip
            out.append(top)
        mine = [p for g in groups for p in g]
        if not mine:
            continue
        # "[N Reassembled TLS segments]" of each PDU that spans records, the last finished first (as tshark places
        # them); each PDU not whole in the decrypted bytes is the data source inner_pdu_nodes gives it
        held = []
        k = source
        for pdu in mine:
            if _pdu_in_plain(pdu, frame.number) < 0:
                k += 1
                if len(pdu.spans) > 1 and (want is None or "tls" in want or "mqtt" in want):
                    held.append(_reassembled(pdu, k))
        out += reversed(held)
        if mqtt_wanted and mine:
            from sniffer.pipeline import inner_pdu_nodes

            out += inner_pdu_nodes(frame, _pdu_in_plain, plain_source, source, decode, mine)
        source = k
    if ws:  # wss://: the WebSocket layer, then the MQTT inside it (sniffer.ws)
        from sniffer.ws import tree as ws_tree

        return out + ws_tree.nodes(frame, want, plain_source, source, decode)
    return out


def _reassembled(pdu: Any, source: int) -> Node:
    """tshark's "[N Reassembled TLS segments (X bytes): #16(100), #18(2922)]" of an MQTT PDU, record by record."""
    from sniffer.pipeline import data_label, reassembly_node  # (a password's bytes masked)

    parts = [(-tag[0] if tag is not None else 0, length) for tag, _c, _p, length in pdu.spans]
    return reassembly_node(parts, pdu.data, source, data_label(pdu), TLS_REASSEMBLY)


def _segment_pieces(frame: Any) -> dict[int, list[tuple[int, int]]]:
    """{record's plaintext offset: [(offset in the decrypted bytes, length)]}: tshark's "TLS segment data" of a
    record that continues a PDU begun in an earlier one: the whole record (TLS's desegmentation adds it from the
    piece on); and the tail that begins a PDU not finished in the record."""
    number = -frame.number
    head: dict[int, int] = {}  # record -> end of the piece of an earlier record's PDU it begins with
    tail: dict[int, int] = {}  # record -> where a PDU that it does not finish begins
    ends: dict[int, int] = {}  # record -> where its last PDU piece ends
    for pdu in frame.pdus:
        spans = pdu.spans
        for i, (tag, chunk_off, _pdu_off, length) in enumerate(spans):
            if tag is None or tag[0] != number:
                continue
            rec, at = tag[1], tag[1] + chunk_off
            if i > 0 and at == rec:
                head[rec] = at + length
            elif i == 0 and len(spans) > 1:
                tail[rec] = at
            ends[rec] = max(ends.get(rec, rec), at + length)
    out: dict[int, list[tuple[int, int]]] = {}
    for r in frame.seg.tls[0]:
        off, n = r[6], r[7]
        if off < 0 or r[5] != 23 or not n:
            continue
        start = tail.get(off, ends.get(off, off))  # (bytes after every piece: a PDU this frame does not finish)
        if off in head:  # (the whole record, from the piece it continues on: then the tail again, if any)
            out[off] = [(off, n), (start, off + n - start)] if start < off + n else [(off, n)]
        elif start < off + n:
            out[off] = [(start, off + n - start)]
    return out


def records_layer(tls: tuple, data: bytes) -> list[Node]:
    """The record nodes of a frame's TLS layer alone (what its expert notes are read from)."""
    records, proto = tls[0], tls[2]
    return [_record(r, 0 if r[0] >= 0 else 1, 0, False, data if r[0] >= 0 else r[1], proto) for r in records]


def _record(
    r: tuple, src: int, plain_source: int, has_mqtt: bool, data: bytes, proto: str,
    app: str = "MQ Telemetry Transport Protocol",
) -> Node:  # fmt: skip
    """One record's node; `has_mqtt`: its decrypted data is the application's (MQTT, or HTTP of wss://)."""
    frame_off, raw, ctype, version, length, inner, plain_off, plain_len, items, error, extra = r
    base = frame_off if src == 0 else 0
    if ctype < 0 or error and length == 0 and not raw and frame_off < 0:
        message = error or extra or "TLS stream not followed"
        n = Node(None, None, 0, 0, f"[{message}]", [], 0)
        n.add(note(WARN, message, 0, 0, 0))
        return n
    kind = inner if inner >= 0 else ctype
    shakes = [it for it in items if it[0] == "tls.handshake"] if kind == 22 else []
    types = [it[1] for it in shakes]
    # Wireshark names a record after the negotiated version, the hellos' after their own header (not known yet)
    vname = _PROTO_NAMES.get(version, proto) if 1 in types or 2 in types else proto
    label = f"{vname} Record Layer: {F.CONTENT_TYPES.get(kind, 'Unknown')} Protocol"
    if kind == 23 and (has_mqtt or inner < 0 and app == MQTT_APP):  # (MQTT's records, with keys or without)
        label += f": {app}"
    elif shakes:
        if len(shakes) == 1:
            label += ": " + (message_name(shakes[0]) or F.HANDSHAKE_TYPES.get(types[0], "Unknown"))
        else:
            label += ": Multiple Handshake Messages"
    elif kind == 20:
        label += ": Change Cipher Spec"
    elif kind == 21 and len(items) == 3:  # (an alert in the clear or decrypted: what it says)
        level = F.ALERT_LEVELS.get(items[1][1], str(items[1][1]))
        label = (
            f"{vname} Record Layer: Alert (Level: {level}, Description: {F.ALERT_DESCS.get(items[2][1], items[2][1])})"
        )
    rec = Node(F.RECORD, None, base, 5 + length, label, [], src)
    opaque = ctype == 23 and proto == "TLSv1.3"  # the outer type hides the real one (RFC 8446 5.2)
    rec.add(item(F.OPAQUE_TYPE if opaque else F.CONTENT_TYPE, ctype, base, 1, src))
    rec.add(item(F.VERSION, version, base + 1, 2, src))
    rec.add(item(F.LENGTH, length, base + 3, 2, src))
    if opaque and inner >= 0:  # what decryption found, after the header as Wireshark adds it (generated)
        rec.add(item(F.CONTENT_TYPE, inner, base, 1, src, f"[{F.CONTENT_TYPE.name}: {F.CONTENT_TYPE.display(inner)}]"))
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
            rec.add(
                item(
                    F.APP_DATA_PROTO, app, plain_off, plain_len, plain_source, text=f"[{F.APP_DATA_PROTO.name}: {app}]"
                )
            )
        elif kind == 23 and app == MQTT_APP:  # (without keys too: the connection's application is known)
            rec.add(item(F.APP_DATA_PROTO, app, base + 5, length, src, text=f"[{F.APP_DATA_PROTO.name}: {app}]"))
    if error:
        rec.add(note(ERROR, f"Malformed TLS record: {error}", base, 5 + length, src))
    if extra:
        sev = WARN if extra.startswith("no key") or "cannot be decrypted" in extra or "not one" in extra else "Note"
        rec.add(note(sev, extra, base, 5 + length, src))
    return rec


def _items(parent: Node, items: list, at: int, src: int) -> None:
    stack: list[Node] = [parent]
    for it in items:
        abbrev, value, off, length, depth = it[:5]
        text = it[5] if len(it) > 5 else None
        if not abbrev:  # a text label (Wireshark's "Extension: server_name (len=14)")
            n = Node(None, None, at + off, length, text or "", [], src)
            del stack[depth + 1 :]
            stack[-1].add(n)
            stack.append(n)
            continue
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
            n = Node(fd, None, at + off, length, text or f"Handshake Protocol: {name}", [], src)
        elif value is None:
            n = Node(fd, None, at + off, length, text or fd.name, [], src)
        else:
            n = item(fd, value, at + off, length, src, text)
        del stack[depth + 1 :]
        stack[-1].add(n)
        stack.append(n)

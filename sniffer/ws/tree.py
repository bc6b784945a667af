"""The HTTP Upgrade and WebSocket layers of a frame's detail tree and their data sources, from what
WsConnection left on the TCP segment (`seg.ws`), then the MQTT PDUs carried in the frame's
"Unmasked data" source (over the frame for ws://, over the "Decrypted TLS" source for wss://)."""

from __future__ import annotations

from typing import Any

from sniffer.fields import Node, bits, item, note
from sniffer.ws import fields as F
from sniffer.ws.http import parse_header, status_code

REASONS = {101: "Switching Protocols", 200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 426: "Upgrade Required", 500: "Internal Server Error"}  # fmt: skip


def _pdu_in_unmasked(pdu: Any, number: int) -> int:
    """Offset of the PDU in this frame's unmasked bytes if it lies whole there, else -1 (a PDU over several
    WebSocket frames of one segment lies there whole too: their payloads follow each other)."""
    start = at = -1
    done = 0
    for tag, chunk_off, pdu_off, length in pdu.spans:
        if tag is None or tag[0] != -number or pdu_off != done or start >= 0 and tag[1] + chunk_off != at:
            return -1
        if start < 0:
            start = tag[1] + chunk_off
        at = tag[1] + chunk_off + length
        done += length
    return int(start) if done == len(pdu.data) else -1


def _unmasked_name(ws: tuple) -> str:
    return {"deflate": "Decompressed data", "masked": "Unmasked data"}.get(ws[2], "WebSocket payload")


def unmasked_source(frame: Any) -> int:
    """The index of the frame's Unmasked data among its data sources (where seg.ws[6]'s secrets lie)."""
    for i, (name, _data) in enumerate(frame.sources()):
        if name.startswith(("Unmasked data (", "Decompressed data (", "WebSocket payload (")):
            return i
    return -1


def sources(frame: Any, out: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """`out` (the frame, and TLS's sources) followed by records over several segments, the unmasked
    payloads, then the MQTT PDUs spread over several WebSocket frames."""
    records, unmasked = frame.seg.ws[0], frame.seg.ws[1]
    for r in records:
        if r[1] == -1:
            out.append((f"Reassembled TCP ({len(r[3])} bytes)", r[3]))
    if unmasked:
        out.append((f"{_unmasked_name(frame.seg.ws)} ({len(unmasked)} bytes)", unmasked))
    for pdu in frame.pdus:
        if _pdu_in_unmasked(pdu, frame.number) < 0:
            out.append((f"Reassembled WebSocket ({len(pdu.data)} bytes)", pdu.data))
    return out


def nodes(frame: Any, want: set[str] | None, plain_source: int, source: int, decode: bool = False) -> list[Node]:
    """HTTP and WebSocket layers (if wanted), then the MQTT PDUs (if wanted), their payloads decoded if
    `decode` (sniffer.payload). `source` is the number of data sources before ours (TLS's),
    `plain_source` the "Decrypted TLS" one (wss://)."""
    ws = frame.seg.ws
    records, unmasked = ws[0], ws[1]
    out: list[Node] = []
    rec_source: list[tuple[int, int]] = []  # (source, base offset) of each record
    for r in records:
        if r[1] == -1:
            source += 1
            rec_source.append((source, 0))
        else:
            rec_source.append((plain_source if r[1] == 1 else 0, r[2]))
    un_source = 0
    if unmasked:
        source += 1
        un_source = source
    for r, (src, base) in zip(records, rec_source, strict=True):
        if r[0] == "http":
            if want is None or "http" in want:
                out.append(_http(r, src, base))
        elif want is None or "websocket" in want:
            out.append(_ws(r, src, base, un_source, unmasked, ws[5]))
    if frame.pdus and (want is None or "mqtt" in want or decode):
        from sniffer.pipeline import inner_pdu_nodes

        out += inner_pdu_nodes(frame, _pdu_in_unmasked, un_source, source, decode)
    return out


def _line_text(line: str) -> str:
    return line + "\\r\\n"


def _http(r: tuple, src: int, base: int) -> Node:
    block: bytes = r[4]
    line, headers = parse_header(block)
    top = Node(F.HTTP, None, base, len(block), "Hypertext Transfer Protocol", [], src)
    first = Node(None, None, base, len(line) + 2, _line_text(line), [], src)
    parts = line.split(" ", 2)
    if line.startswith("HTTP/"):
        top.add(item(F.RESPONSE, True, base, 0, src)).hidden = True
        first.add(item(F.RESPONSE_VERSION, parts[0], base, len(parts[0]), src))
        code = status_code(line)
        if code >= 0:
            at = base + len(parts[0]) + 1
            first.add(item(F.CODE, code, at, len(parts[1]), src))
            first.add(item(F.CODE_DESC, REASONS.get(code, ""), at, len(parts[1]), src)).hidden = True
            if len(parts) > 2:
                first.add(item(F.PHRASE, parts[2], at + len(parts[1]) + 1, len(parts[2]), src))
    else:
        top.add(item(F.REQUEST, True, base, 0, src)).hidden = True
        at = base
        for fd, value in zip((F.METHOD, F.URI, F.REQUEST_VERSION), parts, strict=False):
            first.add(item(fd, value, at, len(value), src))
            at += len(value) + 1
    top.add(first)
    line_fd = F.RESPONSE_LINE if line.startswith("HTTP/") else F.REQUEST_LINE
    for name, value, off, length in headers:
        text = _line_text(block[off : off + length - 2].decode("latin-1"))
        hfd = F.HEADERS.get(name)
        if hfd is not None:
            top.add(item(hfd, value, base + off, length, src, text=text))
        else:
            top.add(Node(None, None, base + off, length, text, [], src))
        top.add(item(line_fd, text.replace("\\r\\n", "\r\n"), base + off, length, src)).hidden = True
    top.add(Node(None, None, base + len(block) - 2, 2, "\\r\\n", [], src))
    for severity, message in r[5]:
        top.add(note(severity, message, base, len(block), src))
    return top


def _ws(r: tuple, src: int, base: int, un_source: int, unmasked: bytes, deflate: bool) -> Node:
    _kind, where, _off, _raw, b0, b1, length, hl, key, uoff, ulen, notes, how = r
    if where == -2:  # the direction stopped being followed: only the note
        n = Node(F.WS, None, 0, 0, "WebSocket", [], 0)
        for severity, message in notes:
            n.add(note(severity, message, 0, 0, 0))
        return n
    top = Node(F.WS, None, base, hl + length, "WebSocket", [], src)
    opcode = b0 & 0x0F
    top.add(item(F.FIN, bool(b0 & 0x80), base, 1, src, text=f"{bits(b0, 0x80)} = Fin: {bool(b0 & 0x80)}"))
    rsv = (b0 & 0x70) >> 4
    top.add(item(F.RSV, rsv, base, 1, src, text=f"{bits(b0, 0x70)} = Reserved: 0x{rsv:x}"))
    if deflate:  # permessage-deflate agreed: RSV1 says whether the message is compressed (Wireshark's pmc)
        pmc = bool(b0 & 0x40)
        top.add(item(F.PMC, pmc, base, 1, src, text=f"{bits(b0, 0x40)} = Per-Message Compressed: {pmc}"))
    name = F.OPCODES.get(opcode, "Unknown")
    top.add(item(F.OPCODE, opcode, base, 1, src, text=f"{bits(b0, 0x0F)} = Opcode: {name} ({opcode})"))
    top.add(item(F.MASK, bool(b1 & 0x80), base + 1, 1, src, text=f"{bits(b1, 0x80)} = Mask: {bool(b1 & 0x80)}"))
    short = b1 & 0x7F
    top.add(item(F.PAYLOAD_LENGTH, short, base + 1, 1, src, text=f"{bits(b1, 0x7F)} = Payload length: {short}"))
    if short == 126:
        top.add(item(F.PAYLOAD_LENGTH_16, length, base + 2, 2, src))
    elif short == 127:
        top.add(item(F.PAYLOAD_LENGTH_64, length, base + 2, 8, src))
    if b1 & 0x80:
        top.add(item(F.MASKING_KEY, bytes(key), base + hl - 4, 4, src))
    whole = uoff >= 0 and (ulen == length or how == "deflate")  # (a frame stopped for its length has none here)
    if length and whole:
        if b1 & 0x80:
            top.add(Node(F.MASKED_PAYLOAD, None, base + hl, length, "Masked payload", [], src))
        payload = Node(F.PAYLOAD, None, uoff, ulen, "Payload", [], un_source)
        data = unmasked[uoff : uoff + ulen]
        if opcode == 1:
            payload.add(item(F.TEXT, data.decode("utf-8", "replace"), uoff, ulen, un_source))
        elif opcode == 0:
            # (the bytes stay out of the label: they may hold part of a password, which the outputs
            # mask in bytes values and dumps, not in labels)
            payload.add(item(F.CONTINUE, data, uoff, ulen, un_source, text=f"Continue: {ulen} bytes"))
        elif opcode == 8:
            close = payload.add(Node(F.CLOSE, None, uoff, ulen, "Close", [], un_source))
            if ulen >= 2:
                close.add(item(F.CLOSE_CODE, int.from_bytes(data[:2], "big"), uoff, 2, un_source))
            if ulen > 2:
                reason = data[2:].decode("utf-8", "replace")
                close.add(item(F.CLOSE_REASON, reason, uoff + 2, ulen - 2, un_source))
        elif opcode == 9:
            payload.add(item(F.PING, data, uoff, ulen, un_source))
        elif opcode == 10:
            payload.add(item(F.PONG, data, uoff, ulen, un_source))
        elif opcode != 2:
            payload.add(item(F.UNKNOWN, data, uoff, ulen, un_source))
        top.add(payload)
    for severity, message in notes:
        top.add(note(severity, message, base, hl + length if whole else hl, src))
    return top

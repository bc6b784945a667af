"""One WebSocket connection carrying MQTT: the HTTP Upgrade, then RFC 6455 frames per direction.

A passive de-framer of our own: wsproto (and every other WebSocket library) is an endpoint that
answers, enforces and raises on what it receives; an observer must take both directions as they
were captured, keep going past a violation and say where it is, and never send anything. The
framing itself is small (RFC 6455 5.2): two header bytes, a 16/64-bit length, a masking key.

Each direction (WsDirection) presents the MQTT decoder's own `feed_into(data, tag, out)` face, so
the pipeline feeds it TCP payload (ws://) and TLS feeds it decrypted bytes (wss://) the same way.
The unmasked payloads of binary and continuation frames go to that direction's MQTT decoder as
one stream, tagged (-frame number, offset) in the frame's "Unmasked data" source: an MQTT packet
split over several WebSocket frames and several packets in one frame both decode.

What the frame's tree needs is left on the TCP segment (`seg.ws`, plain tuples: the UI's store
pickles it). Bytes from the wire are data, never exceptions: a bad length, a reserved opcode, a
text frame, a frame cut by the capture are records with notes. Memory is bounded: a WebSocket
frame is held until complete up to --max-pdu bytes, an HTTP header block up to MAX_HEADER bytes.
"""

from __future__ import annotations

import zlib
from typing import Any

from sniffer.mqtt.secrets import MAX_PARSE, SECRET_TYPES, held_frame_ranges, secret_ranges
from sniffer.ws.fields import OPCODES
from sniffer.ws.http import MAX_HEADER, header, parse_header, status_code, wants_mqtt

WARN, ERROR = "Warning", "Error"

# A record of seg.ws[0]: an HTTP header block or a WebSocket frame, where its bytes lie:
#   where  0: in the frame at `off`; 1: in the frame's "Decrypted TLS" source at `off`;
#          -1: over several segments, its bytes in `raw` (a "Reassembled" source of its own)
# ("http", where, off, raw, block, notes)
# ("ws", where, off, raw, b0, b1, length, hdr_len, key, uoff, ulen, notes, how)
#        uoff, ulen: its unmasked payload in the frame's "Unmasked data" source (-1 if empty), or with
#        how == "deflate" the bytes it inflated to (permessage-deflate, RFC 7692);
#        where -2: no frame, only a note (the direction stopped being followed)
# notes: tuple of (severity, message)


def has_notes(ws: tuple) -> bool:
    """Whether a frame's HTTP/WebSocket records (seg.ws) carry an expert note."""
    return any(r[5] if r[0] == "http" else r[11] for r in ws[0])


class WsDirection:
    """One direction: HTTP header block, then WebSocket frames; binary payloads to `inner` (MQTT)."""

    __slots__ = (
        "conn", "inner", "client", "mode", "buf", "chunks", "message", "max_pdu", "inflater", "compressed", "skip",
    )  # fmt: skip

    def __init__(self, conn: WsConnection, inner: Any, client: bool, mode: str, max_pdu: int) -> None:
        self.conn = conn
        self.inner = inner  # the MQTT DirectionDecoder of this direction
        self.client = client
        # "auto" (inside TLS: HTTP if the client's first bytes are a GET, else plain MQTT), "http",
        # "ws", "pass" (plain MQTT: bytes straight to `inner`), "off" (no longer followed)
        self.mode = mode
        self.buf = b""
        self.chunks: list[tuple[int, int, int]] = []  # (position in buf, tag number, tag offset)
        self.message = -1  # opcode of the fragmented message in progress, -1 if none
        self.inflater: Any = None  # permessage-deflate: this direction's zlib stream (the LZ77 window spans messages)
        self.compressed = False  # the message in progress is compressed (RSV1 on its first frame)
        self.skip = 0  # bytes still to come of a frame whose payload a hole made useless
        self.max_pdu = max_pdu

    # -- the MQTT decoder's face (TLS calls these) -------------------------------------------------
    def feed_into(self, data: bytes, tag: tuple[int, int], out: list) -> None:
        conn = self.conn
        conn.begin(abs(tag[0]))
        if self.mode == "auto":
            conn.decide(bytes(data[:4]) == b"GET " if self.client else False)
        if self.mode == "pass":
            self.inner.feed_into(data, tag, out)
            return
        if self.mode == "off":
            return
        if self.skip:
            n = min(self.skip, len(data))
            self.skip -= n
            data, tag = data[n:], (tag[0], tag[1] + n)
            if not data:
                return
        if self.buf:
            self.chunks.append((len(self.buf), tag[0], tag[1]))
            self.buf += bytes(data)
        else:
            self.chunks = [(0, tag[0], tag[1])]
            self.buf = bytes(data)
        if self.mode == "http":
            self._http(out)
        if self.mode == "ws":
            self._frames(out)

    def gap(self, nbytes: int, limited: bool = False) -> None:
        """`nbytes` of the stream were not captured. Inside a frame whose header was seen, its length says
        where the next frame starts: that frame's payload is lost to MQTT (told as a gap of that size, so
        MQTT keeps in step too) and the framing goes on. Elsewhere (or in a compressed message, whose
        window is lost) this direction is not followed further."""
        if self.mode == "pass":
            self.inner.gap(nbytes, limited)
            return
        if self.mode == "off":
            return
        if self.skip:  # (a hole inside the frame already being skipped)
            self.skip = max(0, self.skip - nbytes)
            return
        need = self._need() if self.mode == "ws" and self.buf else 0
        if need and len(self.buf) + nbytes <= need and not self.compressed and not self.buf[0] & 0x40:
            hl = self._header_len()
            why = "cut by the snapshot length" if limited else "a gap in the capture"
            msg = f"{nbytes} bytes of a {need - hl}-byte WebSocket payload not captured ({why}): its data is lost"
            self.conn.records.append(("ws", -2, 0, b"", 0, 0, 0, 0, b"", -1, 0, ((WARN, msg),), ""))
            self.skip = need - len(self.buf) - nbytes
            if self.buf[0] & 0x0F in (0, 2) and (self.buf[0] & 0x0F or self.message == 2):
                self.inner.gap(need - hl, limited)
            if not self.buf[0] & 0x80 and self.buf[0] & 0x0F:
                self.message = self.buf[0] & 0x0F  # a first fragment: continuations follow
            elif self.buf[0] & 0x80 and self.buf[0] & 0x0F in (0, 1, 2):
                self.message = -1
            self.buf, self.chunks = b"", []
            return
        self._stop(f"{nbytes} bytes missing ({'cut by the snapshot length' if limited else 'a gap in the capture'}): "
                   "the rest of this direction is not followed")  # fmt: skip
        self.inner.gap(nbytes, limited)

    def next_pdu(self) -> Any:
        return self.inner.next_pdu()

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for an unfinished WebSocket frame or header block (the pipeline's --max-buffered)."""
        return len(self.buf)

    def evict(self, why: str) -> None:
        """The pipeline's cap on held bytes was reached: the frame held is given up, and with it the
        framing of this direction (noted on its next frame)."""
        if self.buf:
            self._stop(f"a WebSocket frame of which {len(self.buf)} bytes were held was given up: {why}", carry=True)

    def closed(self) -> None:
        """The TCP direction ended: a WebSocket frame or header block still incomplete is noted."""
        if self.buf and self.mode in ("ws", "http"):
            what = "WebSocket frame" if self.mode == "ws" else "HTTP header block"
            need = self._need() if self.mode == "ws" else 0
            total = f" of {need}" if need > 0 else ""
            self._stop(f"connection closed inside a {what}: {len(self.buf)}{total} bytes captured")

    # -- internals ---------------------------------------------------------------------------------
    def _stop(self, why: str, carry: bool = False) -> None:
        note = ("ws", -2, 0, b"", 0, 0, 0, 0, b"", -1, 0, ((ERROR, why),), "")
        (self.conn.carry if carry else self.conn.records).append(note)
        self.mode = "off"
        self.buf = b""
        self.chunks = []

    def _locate(self, pos: int, end: int) -> tuple[int, int, bytes]:
        """(where, offset, raw) of buf[pos:end]: in one source of the current frame if it lies whole there."""
        chunks = self.chunks
        i = 0
        while i + 1 < len(chunks) and chunks[i + 1][0] <= pos:
            i += 1
        start, number, off = chunks[i]
        loc = off + pos - start
        ok = abs(number) == self.conn.number
        j = i + 1
        while ok and j < len(chunks) and chunks[j][0] < end:
            ok = chunks[j][1] == number and chunks[j][2] == off + chunks[j][0] - start
            j += 1
        if ok:
            return (1 if number < 0 else 0), loc, b""
        return -1, 0, self.buf[pos:end]

    def _consume(self, pos: int) -> None:
        """Drop buf[:pos], keeping the chunk map of what is left."""
        if pos >= len(self.buf):
            self.buf, self.chunks = b"", []
            return
        chunks = self.chunks
        i = 0
        while i + 1 < len(chunks) and chunks[i + 1][0] <= pos:
            i += 1
        start, number, off = chunks[i]
        kept = [(0, number, off + pos - start)]
        kept.extend((s - pos, n, o) for s, n, o in chunks[i + 1 :])
        self.buf, self.chunks = self.buf[pos:], kept

    def _http(self, out: list) -> None:
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEADER:
                self._stop(f"an HTTP header block longer than {MAX_HEADER} bytes: not followed")
            return
        block = buf[: end + 4]
        where, off, raw = self._locate(0, end + 4)
        line, headers = parse_header(block)
        notes: tuple[tuple[str, str], ...] = ()
        conn = self.conn
        self._consume(end + 4)
        if self.client:
            if wants_mqtt(headers):
                self.mode = "ws"
            else:
                notes = ((WARN, "not an Upgrade to WebSocket with an MQTT subprotocol: not followed"),)
                self.mode = "off"
        else:
            code = status_code(line)
            if code == 101:
                self.mode = "ws"
                ext = header(headers, "sec-websocket-extensions")
                conn.deflate = "permessage-deflate" in ext
                conn.no_takeover = ("client_no_context_takeover" in ext, "server_no_context_takeover" in ext)
            else:
                notes = ((WARN, f"the server refused the Upgrade (status {code}): not followed"),)
                self.mode = "off"
        conn.records.append(("http", where, off, raw, block, notes))
        if self.mode == "ws" and self.buf:
            self._frames(out)
        elif self.mode == "off":
            self.buf, self.chunks = b"", []

    def _header_len(self) -> int:
        """The header length of the frame at the start of buf (its first bytes are there)."""
        n = self.buf[1] & 0x7F
        return (4 if n == 126 else 10 if n == 127 else 2) + (4 if self.buf[1] & 0x80 else 0)

    def _need(self) -> int:
        """The whole length of the frame at the start of buf, 0 while its header is incomplete."""
        buf = self.buf
        if len(buf) < 2:
            return 0
        n, hl = buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                return 0
            n, hl = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                return 0
            n, hl = int.from_bytes(buf[2:10], "big"), 10
        return hl + (4 if buf[1] & 0x80 else 0) + n

    def _frames(self, out: list) -> None:
        buf = self.buf
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, hl = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, hl = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, hl = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if b1 & 0x80:
                hl += 4
            if size - pos < hl:
                break
            bad = ""
            if length >> 63:
                bad = "a 64-bit payload length with its most significant bit set (RFC 6455 5.2)"
            elif length > self.max_pdu:
                bad = f"a frame of {length} bytes, longer than --max-pdu ({self.max_pdu})"
            if bad:
                where, off, raw = self._locate(pos, pos + hl)
                key = buf[pos + hl - 4 : pos + hl] if b1 & 0x80 else b""
                notes = ((ERROR, f"Malformed WebSocket frame: {bad}; the rest of this direction is not followed"),)
                self.conn.records.append(("ws", where, off, raw, b0, b1, length, hl, key, -1, 0, notes, b""))
                self.mode = "off"
                self.buf, self.chunks = b"", []
                return
            end = pos + hl + length
            if end > size:
                break
            self._frame(pos, hl, length, out)
            pos = end
        self._consume(pos)

    def _frame(self, pos: int, hl: int, length: int, out: list) -> None:
        buf = self.buf
        b0, b1 = buf[pos], buf[pos + 1]
        payload = buf[pos + hl : pos + hl + length]
        key = b""
        if b1 & 0x80:
            key = buf[pos + hl - 4 : pos + hl]
            if length:  # XOR with the key repeated (RFC 6455 5.3), as one big-integer operation
                mask = (key * (length // 4 + 1))[:length]
                payload = (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(length, "big")
        opcode, fin = b0 & 0x0F, b0 & 0x80
        notes: list[tuple[str, str]] = []
        conn = self.conn
        if b0 & 0x70 and not (conn.deflate and b0 & 0x40 and opcode in (1, 2) and not b0 & 0x30):
            notes.append((WARN, "reserved bits set without an extension that defines them (RFC 6455 5.2)"))
        if not self.client and b1 & 0x80:
            notes.append((WARN, "a masked frame from the server (RFC 6455 5.1: servers do not mask)"))
        elif self.client and not b1 & 0x80:
            notes.append((WARN, "an unmasked frame from the client (RFC 6455 5.1: clients mask every frame)"))
        data_kind = -1  # opcode of the data message this frame carries
        if opcode in (1, 2):
            if self.message >= 0:
                notes.append((ERROR, "a new message before the fragmented one ended (RFC 6455 5.4)"))
            self.message = -1 if fin else opcode
            self.compressed = conn.deflate and bool(b0 & 0x40)
            data_kind = opcode
        elif opcode == 0:
            if self.message < 0:
                notes.append((ERROR, "a continuation frame without a message to continue (RFC 6455 5.4)"))
            data_kind = self.message if self.message >= 0 else 2
            if fin:
                self.message = -1
        elif opcode in (8, 9, 10):
            if not fin or length > 125:
                notes.append((ERROR, "a control frame fragmented or longer than 125 bytes (RFC 6455 5.5)"))
            if opcode == 8 and length == 1:
                notes.append((ERROR, "a Close payload of 1 byte (a status code takes 2, RFC 6455 5.5.1)"))
        else:
            notes.append((ERROR, f"reserved opcode {opcode} (RFC 6455 5.2)"))
        uoff, ulen = -1, 0
        if data_kind == 1:
            notes.append((WARN, "a text frame: MQTT over WebSocket uses binary frames only (MQTT 5.0 6.0)"))
        how = ""
        if data_kind >= 0 and self.compressed:
            how = "deflate"
            payload = self._inflate(payload, opcode != 0, bool(fin), notes)
        if payload:  # every payload goes to the frame's "Unmasked data" (its tree items point there)
            uoff, ulen = conn.unmasked_add(payload, bool(key), how)
            if data_kind == 2:
                self.inner.feed_into(payload, (-conn.number, uoff), out)
        where, off, raw = self._locate(pos, pos + hl + length)
        record = ("ws", where, off, raw, b0, b1, length, hl, key, uoff, ulen, tuple(notes), how)
        conn.records.append(record)

    def _inflate(self, data: bytes, first: bool, fin: bool, notes: list[tuple[str, str]]) -> bytes:
        """A compressed message's frame inflated (RFC 7692 7.2.2: the message ends with 00 00 ff ff added);
        bounded by --max-pdu per frame. Bad data stops the direction: the window is lost with it."""
        if self.inflater is None or first and self.conn.no_takeover[0 if self.client else 1]:
            self.inflater = zlib.decompressobj(-15)
        inflater = self.inflater
        try:
            out = inflater.decompress(data, self.max_pdu)
            if fin and not inflater.unconsumed_tail:
                out += inflater.decompress(b"\x00\x00\xff\xff", self.max_pdu)
        except zlib.error as e:
            notes.append(
                (ERROR, f"permessage-deflate: bad compressed data ({e}); the rest of this direction is not followed")
            )
            self.mode = "off"
            return b""
        if inflater.unconsumed_tail:
            notes.append(
                (ERROR, f"permessage-deflate: a frame inflating past --max-pdu ({self.max_pdu} bytes); not followed")
            )
            self.mode = "off"
        return out


class WsConnection:
    """WebSocket state of one TCP stream; `dirs` are the objects its bytes are fed to."""

    __slots__ = ("dirs", "number", "records", "unmasked", "masked", "deflate", "no_takeover", "carry")

    def __init__(self, decoders: tuple[Any, Any], max_pdu: int, auto: bool = False) -> None:
        mode = "auto" if auto else "http"
        self.dirs = (
            WsDirection(self, decoders[0], True, mode, max_pdu),
            WsDirection(self, decoders[1], False, mode, max_pdu),
        )
        self.number = 0  # the frame whose records are being collected
        self.records: list[tuple] = []
        self.carry: list[tuple] = []  # notes made between this connection's frames, for its next one
        self.unmasked = bytearray()  # the frame's "Unmasked data" source
        self.masked = ""  # "masked" if any of it came from masked frames, "deflate" if inflated
        self.deflate = False  # permessage-deflate was agreed (RSV1 marks a compressed message)
        self.no_takeover = (False, False)  # client's, server's: each message starts a fresh zlib stream

    def decide(self, http: bool) -> None:
        """Inside TLS: an HTTP Upgrade (the client's first bytes are a GET) or plain MQTT."""
        for d in self.dirs:
            if d.mode == "auto":
                d.mode = "http" if http else "pass"

    def begin(self, number: int) -> None:
        if number != self.number:
            self.number = number
            self.records, self.carry = self.carry, []
            self.unmasked = bytearray()
            self.masked = ""

    def unmasked_add(self, payload: bytes, masked: bool, how: str) -> tuple[int, int]:
        off = len(self.unmasked)
        self.unmasked += payload
        if how or not self.masked and masked:
            self.masked = how or "masked"
        return off, len(payload)

    def feed(self, direction: int, events: list[tuple], number: int, poff: int, out: list) -> None:
        """One frame's reassembly events of one direction (ws:// over plain TCP)."""
        self.begin(number)
        d = self.dirs[direction]
        for ev in events:
            if ev[0] == "data":
                d.feed_into(ev[1], (number, poff + ev[2]), out)
            elif ev[0] == "late":  # bytes filling a hole already declared lost (and skipped as such)
                continue
            else:  # a hole ("gap", "cut")
                d.gap(ev[1], ev[0] == "cut")
                pdu = d.inner.next_pdu()
                while pdu is not None:
                    out.append(pdu)
                    pdu = d.inner.next_pdu()

    def finish(self, seg: Any, number: int, pdus: list) -> None:
        """Leave this frame's records on its segment (seg.ws) for the tree, with the Protocol and Info, and
        where secrets lie in its Unmasked data."""
        if self.number != number or not self.records:
            return
        records = self.records
        self.records = []
        secrets = self._secrets(seg.direction, number, pdus)
        proto, info = ("MQTT", "") if pdus else _proto_info(records)  # (MQTT's Info comes from its PDUs)
        seg.ws = (records, bytes(self.unmasked), self.masked, proto, info, self.deflate, secrets)
        self.unmasked = bytearray()

    def _secrets(self, direction: int, number: int, pdus: list) -> tuple[tuple[int, int], ...]:
        """Ranges of the Unmasked data holding a password or authentication data: of PDUs completed here
        but begun in an earlier frame (the tree marks only their reassembled copy), and of a CONNECT/AUTH
        still incomplete (no tree marks it yet: MQTT.js sends a CONNECT in pieces)."""
        out: list[tuple[int, int]] = []
        for pdu in pdus:
            if pdu.msgtype in SECRET_TYPES and len(pdu.spans) > 1:
                for a, b in secret_ranges(pdu.data[:MAX_PARSE], pdu.msgtype):
                    for tag, chunk_off, pdu_off, length in pdu.spans:
                        lo, hi = max(a, pdu_off), min(b, pdu_off + length)
                        if lo < hi and tag is not None and tag[0] == -number:
                            base = tag[1] + chunk_off - pdu_off
                            out.append((lo + base, hi + base))
        inner = self.dirs[direction].inner
        if inner.buffered:
            ptype = inner.pending_type()
            if ptype in SECRET_TYPES:
                chunks = inner.held(MAX_PARSE)
                out += [(0, len(self.unmasked))] if chunks is None else held_frame_ranges(chunks, ptype, -number)
        return tuple(out)


def _proto_info(records: list[tuple]) -> tuple[str, str]:
    """Wireshark's Protocol and Info columns for a frame of HTTP/WebSocket records without MQTT PDUs."""
    parts: list[str] = []
    proto = "WebSocket"
    for r in records:
        if r[0] == "http":
            proto = "HTTP"
            parts.append(r[4].split(b"\r\n", 1)[0].decode("latin-1") + " ")
        elif r[1] == -2:
            continue
        else:
            b0, b1 = r[4], r[5]
            text = f"WebSocket {OPCODES.get(b0 & 0x0F, 'Unknown')}"
            text += " [FIN]" if b0 & 0x80 else ""
            text += " [MASKED]" if b1 & 0x80 else ""
            parts.append(text)
    return proto, " ".join(parts) or "[TCP segment of a reassembled PDU]"

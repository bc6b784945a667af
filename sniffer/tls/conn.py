"""One TLS connection carrying MQTT: records per direction, keys from the key log, plaintext to MQTT.

The pipeline hands each TCP frame's reassembly events to TlsConnection.feed(), as it would hand
them to the MQTT decoder of a plain connection; the decrypted application data goes to that
direction's MQTT DirectionDecoder exactly as plain TCP payload does, so everything above MQTT
(session tracker, filters, statistics, UI) works unchanged. What the frame's tree needs is left on
the TCP segment record (`seg.tls`, plain tuples: the UI's store pickles it with the segment).

Rules: bytes from the wire are data, never exceptions (a bad record is a record with an error);
memory is bounded (a record is at most 2^14 + 2048 bytes; records waiting for their keys are
capped per direction); `sniffer.tls.crypto` (the `cryptography` package) is imported the first time
a connection has keys to use.
"""

from __future__ import annotations

import collections
from typing import Any

from sniffer.tls.fields import ALERT_DESCS, ALERT_LEVELS
from sniffer.tls.hello import message_name, parse_handshakes
from sniffer.tls.keylog import KeyLog
from sniffer.tls.suites import SUITES

MAX_RECORD = (1 << 14) + 2048  # RFC 5246 6.2.3: the largest ciphertext fragment
MAX_WAITING = 4 * 1024 * 1024  # bytes of records held per direction until their keys appear (and KeyLog.max_held
# across all connections)
MQTT_ALPN = frozenset({"mqtt", "x-amzn-mqtt-ca"})
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
CT_CCS, CT_ALERT, CT_HANDSHAKE, CT_APP = 20, 21, 22, 23
HS_NAMES = {1: "Client Hello", 2: "Server Hello", 4: "New Session Ticket", 8: "Encrypted Extensions",
            11: "Certificate", 12: "Server Key Exchange", 13: "Certificate Request", 14: "Server Hello Done",
            15: "Certificate Verify", 16: "Client Key Exchange", 20: "Finished", 24: "Key Update"}  # fmt: skip

# A record as the frame's tree needs it (index names for the tuple in Record):
# frame_off  offset of its header in the frame, -1 if it began in an earlier frame (then `raw` holds it)
# raw        header + payload when frame_off is -1, else b""
# ctype, version, length   the record header
# inner      the decrypted content type, -1 if not decrypted
# plain_off, plain_len     its plaintext in the frame's "Decrypted TLS" source, -1 if none
# items      handshake items (sniffer.tls.hello.Item) relative to the payload, or to plain_off if decrypted
# error      why the record is malformed or could not be decrypted, or None
# note       an expert note of the connection placed on this record (a missing key), or None
Record = tuple[int, bytes, int, int, int, int, int, int, list, "str | None", "str | None"]


def has_notes(tls: tuple) -> bool:
    """Whether a frame's TLS records (seg.tls) may carry an expert note (a malformed record, a missing key, an
    AWS IoT ClientHello's)."""
    return any(r[9] or r[10] or r[2] == CT_HANDSHAKE and any(it[0] == "tls.aws" for it in r[8]) for r in tls[0])


def is_mqtt_client_hello(payload: bytes) -> bool:
    """A ClientHello whose ALPN offers MQTT (how port 443 is told apart from HTTPS)."""
    if len(payload) < 9 or payload[0] != CT_HANDSHAKE or payload[5] != 1:
        return False
    facts: dict[str, Any] = {}
    parse_handshakes(payload[5 : 5 + int.from_bytes(payload[3:5], "big")], facts)
    return bool(MQTT_ALPN.intersection(facts.get("alpn", ())))


def _pieces(parts: list[tuple[int, int]], n: int) -> tuple[tuple[int, int], ...]:
    """The (frame, length) parts of the first n bytes of a buffer laid out as `parts`."""
    out = []
    for frame, length in parts:
        if n <= 0:
            break
        take = min(length, n)
        out.append((frame, take))
        n -= take
    return tuple(out)


def _feed_plain(events: list[tuple], number: int, poff: int, decoder: Any, pdus: list) -> None:
    """Plain MQTT on a TLS port: the events go to the decoder as the pipeline gives them to it."""
    for ev in events:
        if ev[0] == "data":
            decoder.feed_into(ev[1], (number, poff + ev[2]), pdus)
        elif ev[0] in ("gap", "cut"):
            decoder.gap(ev[1], ev[0] == "cut")
            pdu = decoder.next_pdu()
            while pdu is not None:
                pdus.append(pdu)
                pdu = decoder.next_pdu()


class _Direction:
    __slots__ = (
        "buf", "cur", "cur_off", "encrypted", "cipher", "phase", "secret", "waiting", "waited", "dropped", "broken",
        "parts",
    )  # fmt: skip

    def __init__(self) -> None:
        self.buf = b""  # bytes of an unfinished record (and the current frame's data behind it)
        self.parts: list[tuple[int, int]] = []  # buf's bytes by frame: (frame number, length), in order
        self.cur = 0  # where in buf the current frame's data begins
        self.cur_off = 0  # the frame offset of buf[cur]
        self.encrypted = False  # records from here on are protected (TLS 1.2: after ChangeCipherSpec)
        self.cipher: Any = None  # sniffer.tls.crypto.RecordCipher once keys are known
        self.phase = "hs"  # TLS 1.3: "hs" (handshake traffic secret) until Finished, then "app"
        self.secret = b""  # TLS 1.3: the current application traffic secret (KeyUpdate derives the next)
        # records held until their keys appear (ctype, version, payload, frame), and their bytes
        self.waiting: collections.deque[tuple[int, int, bytes, int]] = collections.deque()
        self.waited = 0
        # records not held (over the caps) after the held ones: counted, so that the sequence number of
        # the records after them is still right once the keys appear
        self.dropped = 0
        self.broken = ""  # why this direction is no longer followed


class TlsConnection:
    """TLS state of one TCP stream: handshake facts, the keys of each direction, records in flight."""

    def __init__(self, keylog: KeyLog | None) -> None:
        self.keylog = keylog
        self.facts: dict[str, Any] = {}
        self.dirs = (_Direction(), _Direction())
        self.noted_missing = False
        self.version = 0  # negotiated (0x0303, 0x0304), 0 until the ServerHello
        # plain MQTT on a TLS port (the client's first byte is a CONNECT's, not a handshake record's):
        # its bytes go to the MQTT decoders as they are
        self.plain = False
        self.started = False
        self.port = 0  # the server's port (AWS IoT Core's port/ALPN table, sniffer.credentials.aws)
        # (SNI, ALPN offered, server port, False) once the ClientHello is seen: left on the client's frames
        # with plaintext (seg.tls[4]), where a CONNECT's credentials are read (False: WebSocket is told there)
        self.hello: tuple | None = None

    # -- the pipeline's entry point ---------------------------------------------------------------
    def feed(self, seg: Any, events: list[tuple], number: int, poff: int, decoder: Any, pdus: list) -> bool:
        """Decode one frame's events of one direction; plaintext to `decoder`, tree data to seg.tls.

        seg.tls[5] says how TCP handed this segment to TLS, as tshark's frame.protocols, Protocol column and
        TCP items show it: (split, rest, tail, pieces): records[:split] finish a record begun in an earlier
        segment (a hand-off of its own), `rest` whether the segment holds more after them (another hand-off,
        whole records or a record's start), `tail` the frame offset where a record this segment only begins
        starts (-1 none; records empty and rest set: tshark's empty TLS layer over the whole payload), `pieces`
        the (frame, length) parts of the record TCP reassembled ("[N Reassembled TCP Segments]"). Returns
        whether the segment only continues a record begun earlier (the Info of a middle segment). A fifth
        item counts the PDUs tshark gives a [PDU Size] under TCP, a sixth says the application is HTTP (wss://)."""
        direction = seg.direction
        if not self.started and events and events[0][0] == "data" and len(events[0][1]):
            self.started = True
            self.port = seg.dport if direction == 0 else seg.sport
            self.plain = events[0][1][0] == 0x10 and direction == 0
        if self.plain:
            _feed_plain(events, number, poff, decoder, pdus)
            return False
        d = self.dirs[direction]
        records: list[Record] = []
        plain: list[bytes] = []
        # bytes of plaintext so far, and where it goes; the count of PDUs tshark gives a [PDU Size] (-1: all)
        state = [0, number, decoder, pdus, plain, -1]
        if (d.waiting or d.dropped) and not d.broken:
            # records held for their keys come out with this direction's next data (their PDUs belong to it)
            self._retry_waiting(direction, records, state)
        began = bool(d.buf) and not d.broken  # a record begun in an earlier segment is waiting for its rest
        first = len(records)
        pieces: tuple[tuple[int, int], ...] = ()
        for ev in events:
            if d.broken:
                break
            if ev[0] != "data":
                d.broken = "TCP bytes missing (a gap in the capture): the rest of this direction is not decrypted"
                records.append((-1, b"", -1, 0, 0, -1, -1, -1, [], d.broken, None))
                break
            data, off = bytes(ev[1]), poff + ev[2]
            if d.buf:
                d.cur = len(d.buf)
                d.buf += data
                d.parts.append((number, len(data)))
            else:
                d.cur, d.buf = 0, data
                d.parts = [(number, len(data))]
            d.cur_off = off
            pieces = self._records(direction, records, state, number) or pieces
        ends = began and len(records) > first and records[first][0] < 0 and bool(records[first][1])
        split = first + 1 if ends else 0
        tail = d.cur_off if d.buf and (ends or not began) and not d.broken else -1
        rest = any(r[0] >= 0 for r in records[first:]) or tail >= 0
        if records or plain or rest:
            hello = self.hello if direction == 0 and plain else None
            http = getattr(decoder, "mode", "") in ("http", "ws")  # (wss://: the records carry HTTP, then WebSocket)
            handed = (split, rest, tail, pieces if ends else (), state[5] if state[5] >= 0 else len(pdus), http)
            seg.tls = (records, b"".join(plain), self.proto(), self._info(records), hello, handed)
        return began and not ends and not records

    def proto(self) -> str:
        v = self.version or self.facts.get("client_version", 0x0303)
        return {0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}.get(v, "TLS")

    # -- records ----------------------------------------------------------------------------------
    def _records(self, direction: int, records: list[Record], state: list, number: int) -> tuple:
        """Cut this direction's buffer into records; returns the (frame, length) parts of a record it finished
        that began in an earlier frame, else ()."""
        d = self.dirs[direction]
        buf, pos = d.buf, 0
        pieces: tuple[tuple[int, int], ...] = ()
        while len(buf) - pos >= 5:
            ctype, length = buf[pos], int.from_bytes(buf[pos + 3 : pos + 5], "big")
            version = int.from_bytes(buf[pos + 1 : pos + 3], "big")
            if not 20 <= ctype <= 24 or buf[pos + 1] != 3 or length > MAX_RECORD:
                d.broken = f"not a TLS record (type {ctype}, version 0x{version:04x}, length {length}): not followed"
                records.append((-1, b"", ctype, version, length, -1, -1, -1, [], d.broken, None))
                d.buf = b""
                return pieces
            end = pos + 5 + length
            if end > len(buf):
                break
            if pos >= d.cur:
                frame_off, raw = d.cur_off + pos - d.cur, b""
            else:
                frame_off, raw = -1, buf[pos:end]
                pieces = _pieces(d.parts, end - pos)
            self._record(direction, ctype, version, buf[pos + 5 : end], frame_off, raw, records, state)
            if d.broken:
                d.buf = b""
                return pieces
            pos = end
        d.buf = buf[pos:]
        d.cur_off += pos - d.cur  # (the frame offset of the new buf[0] when it lies in this frame)
        d.cur = 0
        if pos:  # (what is left began after a finished record: in this frame)
            d.parts = [(number, len(buf) - pos)] if len(buf) > pos else []
        return pieces

    def _record(
        self, direction: int, ctype: int, version: int, payload: bytes, frame_off: int, raw: bytes,
        records: list[Record], state: list,
    ) -> None:  # fmt: skip
        d = self.dirs[direction]
        # TLS 1.3 protects application_data records only (ChangeCipherSpec stays clear, RFC 8446 D.4)
        protected = ctype == CT_APP if self.version in (0x0304, 0) else d.encrypted
        # (version 0: no ServerHello seen; application data then is a session whose handshake was not captured)
        if not protected:
            items: list = []
            error = None
            if ctype == CT_HANDSHAKE:
                items, error = parse_handshakes(payload, self.facts)
                if items and items[0][1] == 1:
                    self.facts.setdefault("client_version", version)
                    self._client_hello(items)
                if items and items[0][1] == 2:
                    self._server_hello()
            elif ctype == CT_CCS and self.version != 0x0304:
                d.encrypted = True  # TLS 1.2: everything after ChangeCipherSpec is protected
                d.cipher = None
            records.append((frame_off, raw, ctype, version, len(payload), -1, -1, -1, items, error, None))
            return
        note = None
        if d.cipher is None:
            if d.waiting or d.dropped:
                self._retry_waiting(direction, records, state)  # records before this one come first
            else:
                self._keys(direction)
        if d.cipher is None:
            # no key (yet): keep the record for when the key log grows, if it can
            note = self._missing_note()
            keylog = self.keylog
            n = len(payload)
            if keylog is not None and self.facts.get("client_random"):
                if not d.dropped and d.waited + n <= MAX_WAITING and keylog.held + n <= keylog.max_held:
                    d.waiting.append((ctype, version, payload, state[1]))
                    d.waited += n
                    keylog.held += n
                else:
                    d.dropped += 1
            records.append((frame_off, raw, ctype, version, len(payload), -1, -1, -1, [], None, note))
            return
        records.append(self._decrypt(direction, ctype, version, payload, frame_off, raw, state, note))

    def _decrypt(
        self, direction: int, ctype: int, version: int, payload: bytes, frame_off: int, raw: bytes, state: list,
        note: str | None,
    ) -> Record:  # fmt: skip
        from sniffer.tls.crypto import DecryptError, next_traffic_secret

        d = self.dirs[direction]
        try:
            plain = d.cipher.decrypt(ctype, version, payload)
        except DecryptError as e:
            return (frame_off, raw, ctype, version, len(payload), -1, -1, -1, [], str(e), note)
        inner = ctype
        if self.version == 0x0304:
            content = plain.rstrip(b"\x00")  # RFC 8446 5.4: zero padding after the inner content type
            if not content:
                return (frame_off, raw, ctype, version, len(payload), -1, -1, -1, [], "no inner content type", note)
            inner, plain = content[-1], content[:-1]
        off = state[0]
        state[0] += len(plain)
        state[4].append(plain)
        items: list = []
        error = None
        if inner == CT_APP:
            dec, pdus = state[2], state[3]
            mqtt = getattr(dec, "inner", dec)  # (WebSocket's direction passes plain MQTT to its decoder)
            pending, before = mqtt.buffered, len(pdus)
            dec.feed_into(plain, (-state[1], off), pdus)
            made = len(pdus) - before
            if state[5] < 0 and mqtt.buffered and made == (1 if pending else 0):
                # MQTT was handed only a PDU's start (after the one it finished): tshark shows no [PDU Size]
                # under TCP from here on in this frame (its lookup of the TCP tree loses its count of layers)
                state[5] = len(pdus)
        elif inner == CT_ALERT and len(plain) >= 2:
            items = [("tls.alert_message", None, 0, 2, 0), ("tls.alert_message.level", plain[0], 0, 1, 1),
                     ("tls.alert_message.desc", plain[1], 1, 1, 1)]  # fmt: skip
        elif inner == CT_HANDSHAKE:
            items, error = parse_handshakes(plain, {}, self.version == 0x0304)
            if self.version == 0x0304:
                for it in items:
                    if it[0] == "tls.handshake.type" and it[1] == 20 and d.phase == "hs":
                        d.phase, d.cipher = "app", None  # Finished: application keys from the next record
                    elif it[0] == "tls.handshake.type" and it[1] == 24 and d.secret:
                        suite = SUITES[self.facts["suite"]]
                        d.secret = next_traffic_secret(d.secret, suite.hash)
                        from sniffer.tls.crypto import tls13_cipher

                        d.cipher = tls13_cipher(suite, d.secret)
        return (frame_off, raw, ctype, version, len(payload), inner, off, len(plain), items, error, note)

    def _retry_waiting(self, direction: int, records: list[Record], state: list) -> None:
        """Decrypt the records held for this direction, in order, as far as the key log now allows."""
        d = self.dirs[direction]
        keylog = self.keylog
        assert keylog is not None  # (only a key log makes records wait)
        waiting = d.waiting
        while waiting:
            if d.cipher is None and not self._keys(direction):
                return  # (TLS 1.3: the application secret may come after the handshake ones)
            ctype, version, payload, frame = waiting.popleft()
            d.waited -= len(payload)
            keylog.held -= len(payload)
            hdr = bytes([ctype]) + version.to_bytes(2, "big") + len(payload).to_bytes(2, "big")
            rec = self._decrypt(direction, ctype, version, payload, -1, hdr + payload, state, None)
            late = f"decrypted late: this record came in frame {frame}, before its key was in the key log"
            records.append((*rec[:10], late))  # type: ignore[arg-type]
        if d.dropped and (d.cipher is not None or self._keys(direction)):
            d.cipher.seq += d.dropped
            lost = (
                f"{d.dropped} records that came before their key were not kept (the cap on bytes held for"
                " keys still to come was reached): they are not decrypted, the records after them are"
            )
            records.append((-1, b"", -1, 0, 0, -1, -1, -1, [], None, lost))
            d.dropped = 0

    def _client_hello(self, items: list) -> None:
        """Keep the SNI and ALPN for the CONNECT; an AWS IoT endpoint gets its subtree on the ClientHello (a
        "tls.aws" item after the SNI's: sniffer.tls.tree builds it, sniffer.credentials.aws says what it is)."""
        sni = str(self.facts.get("sni", ""))
        alpn = tuple(self.facts.get("alpn", ()))
        self.hello = (sni, alpn, self.port, False)
        from sniffer.credentials.aws import endpoint

        if sni and endpoint(sni) is not None:
            at = next((it for it in items if it[0] == "tls.handshake.extensions_server_name"), None)
            if at is not None:
                items.append(("tls.aws", (self.port, sni, alpn), at[2], at[3], 1))

    # -- keys -------------------------------------------------------------------------------------
    def _server_hello(self) -> None:
        facts = self.facts
        self.version = facts.get("version", 0)
        if facts.get("server_random") == HRR_RANDOM:
            return  # HelloRetryRequest (TLS 1.3 by its supported_versions): the real ServerHello follows
        if self.version == 0x0304:
            for d in self.dirs:
                d.encrypted = True

    def _keys(self, direction: int) -> bool:
        """Set up this direction's cipher from the key log; False if its secret is not known (yet)."""
        d = self.dirs[direction]
        facts = self.facts
        suite = SUITES.get(facts.get("suite", -1))
        cr, sr = facts.get("client_random"), facts.get("server_random")
        if self.keylog is None or suite is None or cr is None or sr is None:
            return False
        if suite.tls13 != (self.version == 0x0304):
            return False  # a suite the version cannot use (a forged or broken ServerHello): no keys
        side = "CLIENT" if direction == 0 else "SERVER"
        if self.version == 0x0304:
            label = f"{side}_HANDSHAKE_TRAFFIC_SECRET" if d.phase == "hs" else f"{side}_TRAFFIC_SECRET_0"
        else:
            label = "CLIENT_RANDOM"
        secret = self.keylog.get(label, cr)
        if secret is None and self.keylog.refresh():
            secret = self.keylog.get(label, cr)
        if secret is None:
            return False
        from sniffer.tls import crypto

        if self.version == 0x0304:
            d.cipher = crypto.tls13_cipher(suite, secret)
            if d.phase == "app":
                d.secret = secret
        else:
            etm = bool(facts.get("etm_client") and facts.get("etm_server")) and suite.cipher == "cbc"
            d.cipher = crypto.tls12_ciphers(suite, secret, cr, sr, etm)[direction]
        return True

    def _missing_note(self) -> str | None:
        if self.noted_missing:
            return None
        self.noted_missing = True
        cr = self.facts.get("client_random")
        if cr is None:
            return "encrypted records of a session whose handshake was not captured: cannot be decrypted"
        suite = self.facts.get("suite", -1)
        if suite >= 0 and suite not in SUITES:
            return f"cipher suite 0x{suite:04x} is not one mqttsniff decrypts"
        if suite >= 0 and SUITES[suite].tls13 != (self.version == 0x0304):
            name = self.proto().replace("TLSv", "TLS ")
            return f"cipher suite 0x{suite:04x} is not one mqttsniff decrypts in {name}"
        given = self.keylog is not None and (self.keylog.path is not None or self.keylog.lines > 0)
        where = "not in the key log" if given else "no key log given (-o tls.keylog_file:PATH)"
        return f"no key for client random {cr.hex()}: {where}"

    # -- Info -------------------------------------------------------------------------------------
    def _info(self, records: list[Record]) -> str:
        """Wireshark's Info of a TLS frame without MQTT PDUs: what each record is, as far as known."""
        parts: list[str] = []
        for r in records:
            ctype, inner, items, error = r[2], r[5], r[8], r[9]
            kind = inner if inner >= 0 else ctype
            if kind == CT_HANDSHAKE and items:
                parts.extend(
                    message_name(it) or HS_NAMES.get(it[1], f"Handshake {it[1]}")
                    for it in items
                    if it[0] == "tls.handshake"
                )
            elif kind == CT_HANDSHAKE:
                parts.append("Encrypted Handshake Message")
            elif kind == CT_CCS:
                parts.append("Change Cipher Spec")
            elif kind == CT_ALERT and len(items) == 3:
                level = ALERT_LEVELS.get(items[1][1], str(items[1][1]))
                parts.append(f"Alert (Level: {level}, Description: {ALERT_DESCS.get(items[2][1], items[2][1])})")
            elif kind == CT_ALERT:
                parts.append("Encrypted Alert" if ctype != kind or inner < 0 and self.version else "Alert")
            elif kind == CT_APP and inner == CT_APP:
                parts.append("[TLS segment of a reassembled PDU]")  # (a frame with MQTT PDUs shows theirs)
            elif kind == CT_APP:
                parts.append("Application Data")
            elif error:
                parts.append("Ignored Unknown Record")
        return (
            ", ".join(dict.fromkeys(parts))
            if parts and all(p[0] == "[" for p in parts)
            else ", ".join(parts) or "[TCP segment of a reassembled PDU]"
        )

"""Sans-IO MQTT framing for one TCP direction (the h11 model).

Bytes go in with `feed()`, complete control packets come out of `next_pdu()`;
None means "need more data", never an exception.  Rules:

* The same PDUs come out whatever the chunking: whole stream, byte by byte or
  any split (the fixed header, its Remaining Length varint included, may be cut
  anywhere).
* Each fed byte is looked at a bounded number of times: a PDU that lies inside
  the head chunk is sliced out directly; a PDU spread over chunks waits until its
  declared length has arrived and is joined once (no quadratic copying).
* At most `max_pdu` bytes are buffered.  A header declaring more yields a
  malformed PDU holding a small prefix; the rest is discarded as it arrives, so
  the next PDU still frames.
* Bad input becomes a PDU with `error` set.  After an invalid varint or a TCP
  gap of unknown extent the decoder scans forward, one byte at a time, for a
  plausible fixed header (valid type and flags, varint of at most 4 bytes,
  a length under the cap that suits the type, first body bytes that suit it too:
  a topic that fits, a non-zero Packet Identifier, a protocol name), confirmed
  by a plausible header right after it or by the end of a fed chunk; the next
  few PDUs are held to the same checks. Skipped bytes come out as one malformed
  PDU. (Chunk ends matter only here: a TCP segment's end is evidence of a PDU's.)
"""

from __future__ import annotations

import codecs
from collections import deque
from typing import Any, Final

from sniffer.mqtt import constants as C
from sniffer.mqtt.skim import check, infer_version, publish

PREFIX: Final = 1024  # bytes kept for display of an oversized PDU or of skipped junk
# The reason of a PDU cut by the capture's snapshot length (tshark's words), not malformed by its sender.
LIMITED: Final = "Packet size limited during capture"
DEFAULT_MAX_PDU: Final = 16 * 1024 * 1024
# Body bytes a resynchronising candidate must show before it is believed (its topic's start, say).
BODY_CHECK: Final = 24
# PDUs after a resynchronisation (the one found included) checked as its candidate was.
PROBATION: Final = 3
# What DirectionDecoder._candidate answers when bytes for its checks are missing.
_WAIT: Final = 0
_REJECT: Final = 1
_ACCEPT: Final = 2

_PUBLISH: Final = C.PUBLISH
_CONNECT: Final = C.CONNECT
_HAS_MSGID: Final = C.HAS_MSGID
_PUBACK: Final = C.PUBACK
_PUBCOMP: Final = C.PUBCOMP

# Where a PDU's bytes came from: (tag, offset in the chunk as fed, offset in the PDU, length).
# The tag is whatever the caller passed to feed(); the pipeline's is (frame number, offset).
Span = tuple[Any, int, int, int]


class Session:
    """State shared by both directions of one TCP connection."""

    __slots__ = ("version", "version_inferred")

    def __init__(self, version: int | None = None) -> None:
        self.version = version  # 3, 4 or 5 once known
        self.version_inferred = False  # True when guessed from a packet's shape


class PDU:
    """One complete (or malformed) MQTT control packet.

    msgtype is -1 for bytes skipped while resynchronising (no fixed header);
    remaining is -1 when no valid Remaining Length could be read.  msgid is the
    Packet Identifier (-1 when the type has none).  alias is the MQTT 5 Topic
    Alias of a PUBLISH (0 = none) and alias_state says what became of it:
    0 none, 1 alias defined (topic present), 2 topic resolved from the alias,
    3 alias unknown (no earlier definition in this direction).  lost_before counts the
    stream bytes lost (TCP gap, snapshot length) just before this PDU, where decoding
    resumed at a plausible fixed header.
    """

    __slots__ = (
        "data",
        "msgtype",
        "flags",
        "hdr_len",
        "remaining",
        "spans",
        "version",
        "version_inferred",
        "topic",
        "error",
        "msgid",
        "alias",
        "alias_state",
        "lost_before",
        "payload_at",
        "ctype_at",
        "ann",
    )

    # Defaults for all: the store rebuilds a PDU with PDU.__new__, which calls __init__ in the
    # mypyc build (sniffer.native).
    def __init__(
        self,
        data: bytes = b"",
        msgtype: int = -1,
        flags: int = 0,
        hdr_len: int = 0,
        remaining: int = -1,
        spans: tuple[Span, ...] = (),
        version: int = C.V311,
        version_inferred: bool = False,
        error: str | None = None,
    ) -> None:
        self.data = data
        self.msgtype = msgtype
        self.flags = flags
        self.hdr_len = hdr_len
        self.remaining = remaining
        self.spans = spans
        self.version = version
        self.version_inferred = version_inferred
        self.topic: str | None = None
        self.error = error
        self.msgid = -1
        self.alias = 0
        self.alias_state = 0
        self.lost_before = 0
        self.payload_at = -1  # PUBLISH: where its application message starts in data (-1: not found)
        self.ctype_at = -1  # MQTT 5 PUBLISH: where its Content Type's string (length first) lies in data, or -1
        self.ann: Any = None  # what the session layer says of it (sniffer.session.tracker.Ann)

    def __repr__(self) -> str:
        return (
            f"PDU(type={self.msgtype}, flags=0x{self.flags:x}, len={len(self.data)}, v={self.version}, "
            f"topic={self.topic!r}, msgid={self.msgid}, error={self.error!r})"
        )


def _header_of(h: bytes) -> tuple[int, int] | None:
    """A fixed header's (length, Remaining Length) from its first bytes (up to 5): (-1, 0) for an
    invalid Variable Byte Integer, None if `h` ends inside it."""
    rem = 0
    shift = 0
    for i in range(1, 5):
        if i >= len(h):
            return None
        b = h[i]
        rem |= (b & 0x7F) << shift
        if b < 0x80:
            return i + 1, rem
        shift += 7
    return -1, 0


def _plausible_first_byte(b0: int, version: int | None) -> bool:
    t = b0 >> 4
    if t == 0:
        return False
    if t == _PUBLISH:
        return b0 & 6 != 6
    if t == C.AUTH and version not in (None, C.V5):
        return False
    return b0 & 15 == C.REQUIRED_FLAGS[t]


def _plausible_length(t: int, rem: int, version: int | None) -> bool:
    """Whether a Remaining Length fits the packet type (used only while resynchronising)."""
    v5 = version is None or version == C.V5
    if t == C.PINGREQ or t == C.PINGRESP:
        return rem == 0
    if C.PUBACK <= t <= C.PUBCOMP or t == C.UNSUBACK:
        return rem == 2 or (v5 and rem > 2)
    if t == C.CONNACK:
        return rem == 2 or (v5 and rem > 2)
    if t == C.DISCONNECT:
        return rem == 0 or v5
    if t == C.SUBSCRIBE or t == C.SUBACK or t == C.UNSUBSCRIBE:
        return rem >= 3
    if t == C.CONNECT:
        return rem >= 10
    if t == C.PUBLISH:
        return rem >= 2
    return True


_CLIENT_ONLY: Final = frozenset({C.CONNECT, C.SUBSCRIBE, C.UNSUBSCRIBE, C.PINGREQ})
_BROKER_ONLY: Final = frozenset({C.CONNACK, C.SUBACK, C.UNSUBACK, C.PINGRESP})
_V3_SUBACK: Final = frozenset({0, 1, 2, 0x80})


def _props_end(body: bytes, i: int, rem: int, t: int, exact: bool) -> int:
    """Where an MQTT 5 property block at body[i:] ends (it may be past `body`), or -1 if its length
    does not fit the packet (end it, when `exact`) or its first id may not appear in type t."""
    n = len(body)
    plen = shift = 0
    j = i
    while True:
        if j >= n:
            return rem  # (its length not seen: nothing to say against it)
        b = body[j]
        plen |= (b & 0x7F) << shift
        j += 1
        if b < 0x80:
            break
        shift += 7
        if j - i == 4:
            return -1
    end = j + plen
    if end > rem or (exact and end != rem):
        return -1
    if plen and j < n:
        prop = C.PROPERTIES.get(body[j])
        if prop is None or t not in prop[3]:
            return -1
    return end


def _props_fit(body: bytes, i: int, rem: int, t: int, exact: bool) -> bool:
    return _props_end(body, i, rem, t, exact) >= 0


def _text_ok(raw: bytes) -> bool:
    """Whether the start of an MQTT string may be one: UTF-8 (perhaps cut mid-character), no NUL."""
    if raw.find(b"\x00") >= 0:  # (find, not `in`: see dissect._ctype)
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(raw, False)
    except UnicodeDecodeError:
        return False
    return True


def _filter_ok(body: bytes, i: int, rem: int, t: int, qos_max: int) -> bool:
    """A SUBSCRIBE's or UNSUBSCRIBE's first topic filter at body[i:]: not empty, fits the packet,
    text; a SUBSCRIBE's options byte after it at most `qos_max`. What lies past `body` is not checked."""
    if i + 2 > len(body):
        return True
    fl = body[i] << 8 | body[i + 1]
    end = i + 2 + fl
    if fl == 0 or end + (1 if t == C.SUBSCRIBE else 0) > rem or not _text_ok(body[i + 2 : end]):
        return False
    return t != C.SUBSCRIBE or end >= len(body) or body[end] <= qos_max


def _plausible_body(b0: int, body: bytes, rem: int, version: int | None, from_client: bool) -> bool:
    """Whether a candidate suits its direction and its first body bytes (up to BODY_CHECK) its type.

    Used only while resynchronising: after a loss the scan runs through payload bytes, where a
    valid-looking fixed header is common (a JPEG's `35 73` is a QoS 2 PUBLISH of 115 bytes). A
    topic that runs past the packet, a Packet Identifier of 0, an unknown reason code, properties
    that do not fill the packet or a CONNECT without its protocol name unmask most of them.
    With the version unknown, either reading will do."""
    t = b0 >> 4
    if t in (_CLIENT_ONLY if not from_client else _BROKER_ONLY):
        return False
    old = version != C.V5  # MQTT 3.1 / 3.1.1 possible
    v5 = version is None or version == C.V5
    if t == _PUBLISH:
        tl = body[0] << 8 | body[1]
        i = 2 + tl + (2 if b0 & 6 else 0)
        if i > rem or (tl == 0 and not v5):  # (an MQTT 5 Topic Alias may stand for an empty topic)
            return False
        topic = body[2 : 2 + tl]
        if topic.find(b"+") >= 0 or topic.find(b"#") >= 0 or not _text_ok(topic):  # (wildcards: not in a PUBLISH)
            return False
        if b0 & 6 and i <= len(body) and body[i - 2] | body[i - 1] == 0:
            return False
        return old or _props_fit(body, i, rem, t, False)
    if t in _HAS_MSGID and body[0] | body[1] == 0:
        return False
    if _PUBACK <= t <= _PUBCOMP:
        if rem == 2:
            return True
        return body[2] in C.REASON_NAMES[t] and (rem == 3 or _props_fit(body, 3, rem, t, True))
    if t == C.SUBACK:
        return (old and body[2] in _V3_SUBACK) or (v5 and _props_fit(body, 2, rem, t, False))
    if t == C.UNSUBACK:
        return rem == 2 or _props_fit(body, 2, rem, t, False)
    if t == C.SUBSCRIBE or t == C.UNSUBSCRIBE:
        if old and _filter_ok(body, 2, rem, t, 2):
            return True
        if not v5:
            return False
        end = _props_end(body, 2, rem, t, False)
        return end >= 0 and _filter_ok(body, end, rem, t, 0x2F)  # (v5 options: QoS, NL, RAP, Retain Handling)
    if t == _CONNECT:
        return (body[:6] == b"\x00\x04MQTT" and body[6] in (4, 5)) or (body[:9] == b"\x00\x06MQIsdp\x03")
    if t == C.CONNACK:
        if body[0] & 0xFE:
            return False  # the Connect Acknowledge Flags' reserved bits
        return (old and rem == 2 and body[1] <= 5) or (
            v5 and body[1] in C.REASON_NAMES[t] and _props_fit(body, 2, rem, t, True)
        )
    if (t == C.DISCONNECT or t == C.AUTH) and rem:
        return body[0] in C.REASON_NAMES[t] and (rem == 1 or _props_fit(body, 1, rem, t, True))
    return True


class DirectionDecoder:
    """Frames the byte stream of one TCP direction into PDUs."""

    # Two decoders live as long as their TCP stream (a capture may see thousands of connections):
    # slots and a plain list for the output (an empty deque takes 760 bytes) keep an idle one small.
    # Pending chunks stay a deque: a caller may feed thousands before draining.
    __slots__ = (
        "session",
        "from_client",
        "max_pdu",
        "_chunks",
        "_avail",
        "_skip",
        "_resync",
        "_junk",
        "_junk_count",
        "_junk_spans",
        "_out",
        "_aliases",
        "_wait_ch",
        "_wait_pos",
        "_wait_total",
        "_lost",
        "_probation",
    )

    # (defaults for all: unpickling a stream's checkpoint calls __init__ without arguments in the compiled
    # build, then sets every attribute: sniffer.replay)
    def __init__(
        self, session: Session | None = None, from_client: bool = True, max_pdu: int = DEFAULT_MAX_PDU
    ) -> None:
        if session is None:
            session = Session()
        self.session = session
        self.from_client = from_client
        self.max_pdu = max(int(max_pdu), 2)
        # Pending chunks: [tag, data, pos, base]; data[pos:] is unconsumed and data[0]
        # sits at offset `base` of the chunk as it was fed.
        self._chunks: deque[list] = deque()
        self._avail = 0
        self._skip = 0  # bytes still to discard (tail of an oversized or gap-truncated PDU)
        self._resync = False
        # PDUs after a resynchronisation still held to its checks: one that fails them shows the find was
        # payload after all, and the scan goes on from there (else random bytes decode as a cascade).
        self._probation = 0
        self._junk = bytearray()
        self._junk_count = 0
        self._junk_spans: list[Span] = []
        self._out: list[PDU] = []  # usually 0 or 1 PDUs: pop(0) is cheap
        self._aliases: dict[int, str] = {}  # MQTT 5 topic aliases of this direction
        # The head chunk and position of a PDU found incomplete, and the bytes it needs: while the
        # head is unchanged, next_pdu() waits without re-reading the header (large PDUs arrive
        # in hundreds of segments).
        self._wait_ch: list | None = None
        self._wait_pos = 0
        self._wait_total = 0
        self._lost = 0  # bytes lost since decoding was last in step (noted on the PDU it resumes at)

    # ---- input -----------------------------------------------------------------

    @property
    def buffered(self) -> bool:
        """Bytes of an unfinished PDU are waiting for more data."""
        return bool(self._chunks)

    def pending_type(self) -> int:
        """Control packet type of the unfinished PDU held (first byte >> 4); -1 if none."""
        if not self._chunks or self._skip:
            return -1
        ch = self._chunks[0]
        return ch[1][ch[2]] >> 4

    def held(self, limit: int) -> list[tuple[Any, int, Any]] | None:
        """The held bytes of the unfinished PDU: (tag, offset in the chunk as fed, bytes), in stream order;
        None if more than `limit` bytes are held.

        For masking a secret in the segments of a PDU not yet complete (sniffer.mqtt.secrets)."""
        if self._avail > limit:
            return None
        return [(ch[0], ch[3] + ch[2], ch[1][ch[2] :]) for ch in self._chunks]

    def feed(self, data: bytes | bytearray | memoryview, tag: Any = None) -> None:
        n = len(data)
        if not n:
            return
        off = 0
        if self._skip and not self._chunks:
            # Discard an oversized PDU's tail straight from the input, never buffering it.
            off = min(self._skip, n)
            self._skip -= off
            if off == n:
                return
        if type(data) is not bytes:
            mv = data if isinstance(data, memoryview) else memoryview(data)
            # A view over immutable bytes may be kept as is; anything else may change under us.
            if not (mv.readonly and type(mv.obj) is bytes):
                data = bytes(mv[off:]) if mv.ndim == 1 and mv.itemsize == 1 else bytes(mv.cast("B")[off:])
                self._chunks.append([tag, data, 0, off])
                self._avail += n - off
                return
            data = mv
        self._chunks.append([tag, data, off, 0])
        self._avail += n - off

    def feed_into(self, data: bytes, tag: Any, out: list[PDU]) -> None:
        """feed(data, tag), then append to `out` every PDU that next_pdu() would return.

        The pipeline's hot path: when nothing is pending, the PDUs lying whole in `data`
        are cut out directly (one call per segment instead of feed + next_pdu per PDU);
        whatever remains goes through feed()/next_pdu() as usual, so the result is the same.
        """
        if self._chunks or self._skip or self._resync or self._probation or self._out or type(data) is not bytes:
            self.feed(data, tag)
            pos = n = 0
        else:
            n = len(data)
            pos = 0
            max_pdu = self.max_pdu
            while n - pos >= 2:  # next_pdu()'s fast path, over `data` itself
                rem = data[pos + 1]
                hl = 2
                if rem >= 0x80:
                    if n - pos >= 3 and data[pos + 2] < 0x80:
                        rem = (rem & 0x7F) | data[pos + 2] << 7
                        hl = 3
                    else:
                        break
                total = rem + hl
                if total > n - pos or total > max_pdu:
                    break
                end = pos + total
                out.append(self._make(data[pos:end], hl, rem, ((tag, pos, 0, total),)))
                pos = end
            if pos == n:
                return
            self._chunks.append([tag, data, pos, 0])
            self._avail += n - pos
        while True:
            pdu = self.next_pdu()
            if pdu is None:
                return
            out.append(pdu)

    @property
    def pending(self) -> bool:
        """PDUs wait to be taken with next_pdu() (one given up by evict(), say)."""
        return bool(self._out)

    @property
    def buffered_bytes(self) -> int:
        """Bytes of unfinished PDUs held (what the pipeline's memory cap counts)."""
        return self._avail

    def resync(self) -> None:
        """Start from the next plausible fixed header (bytes fed from the middle of a stream)."""
        self._resync = True

    def gap(self, nbytes: int, limited: bool = False) -> None:
        """`nbytes` of the stream were never captured (a lost segment, or with `limited` the
        end of a segment cut by the snapshot length): close off what was pending, keep in
        step when the pending PDU's length says where the next one starts, else resynchronise."""
        if nbytes <= 0:
            return
        if self._skip:
            if self._avail == 0 and nbytes <= self._skip:
                self._skip -= nbytes
                return
            self._drain_skip()
            if self._skip:
                if nbytes <= self._skip:
                    self._skip -= nbytes
                    return
                nbytes -= self._skip
                self._skip = 0
        if self._resync:
            # Still scanning. A candidate waiting to be confirmed that passed its own checks and starts
            # a fed chunk (a segment began with it) is believed: a PDU cut by this loss, as below.
            total = self._candidate(0, _REJECT) if self._avail and self._chunks[0][2] == 0 else 0
            if total > 0:
                self._resync = False
                self._flush_junk()
                lost, self._lost = self._lost, 0
                first = len(self._out)
                if total <= self._avail:  # whole (part of a next header after it is skipped)
                    hdr = self._peek_header()
                    assert hdr is not None
                    data, spans = self._take(total)
                    self._out.append(self._make(data, hdr[0], hdr[1], spans))
                    self._resync = True
                if self._avail:
                    self.gap(nbytes, limited)
                else:
                    self._resync = True
                    self._lost += nbytes
                self._out[first].lost_before = lost  # (the bytes lost before it, not in it)
                if not self._resync:
                    self._probation = PROBATION
                return
            # Anything else waiting cannot be checked now (what followed it is lost): skipped too.
            if self._avail:
                data, spans = self._take(self._avail)
                self._add_junk(data, spans)
            self._lost += nbytes
            return
        if self._avail == 0:
            self._resync = True  # lost bytes of unknown content at a PDU boundary
            self._lost += nbytes
            return
        # A partial PDU was pending when bytes went missing.
        hdr = self._peek_header()
        data, spans = self._take(self._avail)
        what = f"{LIMITED}: {nbytes} bytes not captured" if limited else f"{nbytes} bytes missing (TCP gap)"
        if hdr is None or hdr[0] < 0:
            # (cut by the snapshot length: not the sender's fault, and marked so, as tshark marks it)
            why = (
                f"{LIMITED}: fixed header cut, {nbytes} bytes not captured" if limited else f"fixed header cut: {what}"
            )
            self._out.append(self._malformed(data, spans, why))
            self._resync = True
            self._lost += nbytes
            return
        hl, rem = hdr
        total = hl + rem
        missing = total - len(data)
        reason = f"{what}, {len(data)} of {total} bytes" if limited else f"truncated: {what}, {len(data)} of {total}"
        self._out.append(self._make(data, hl, rem, spans, reason))
        if nbytes <= missing:
            self._skip = missing - nbytes  # the PDU's end is known: stay in step
        else:
            self._resync = True
            self._lost += nbytes - missing

    # ---- output ----------------------------------------------------------------

    def next_pdu(self) -> PDU | None:
        pdu = self._next_pdu()
        if self._probation and pdu is not None and pdu.msgtype >= 0:
            self._probation -= 1
        if self._lost and pdu is not None and pdu.msgtype >= 0 and not self._resync:
            pdu.lost_before = self._lost  # the first PDU decoded after a loss
            self._lost = 0
        return pdu

    def _next_pdu(self) -> PDU | None:
        out = self._out
        if out:
            return out.pop(0)
        chunks = self._chunks
        while True:
            if self._skip:
                self._drain_skip()
                if self._skip:
                    return None
            if not chunks:
                return None
            if self._resync:
                if not self._resync_scan():
                    return None
                if out:
                    return out.pop(0)
                continue
            if self._probation:
                total = self._candidate(0, _WAIT)
                if total < 0:
                    return None
                if total == 0:
                    self._resync = True
                    continue
            # Fast path: the whole PDU lies inside the head chunk.
            ch = chunks[0]
            data = ch[1]
            pos = ch[2]
            n = len(data) - pos
            if n >= 2:
                rem = data[pos + 1]
                hl = 2
                if rem >= 0x80:  # a 2-byte Remaining Length is still fast; longer ones take the general path
                    if n >= 3 and data[pos + 2] < 0x80:
                        rem = (rem & 0x7F) | data[pos + 2] << 7
                        hl = 3
                    else:
                        hl = 0
                total = rem + hl
                if hl and total <= n and total <= self.max_pdu:
                    end = pos + total
                    pdu_data = data[pos:end] if type(data) is bytes else bytes(data[pos:end])
                    if end == len(data):
                        chunks.popleft()
                    else:
                        ch[2] = end
                    self._avail -= total
                    return self._make(pdu_data, hl, rem, ((ch[0], ch[3] + pos, 0, total),))
            # General path: header and body may span chunks.
            if ch is self._wait_ch and pos == self._wait_pos and self._avail < self._wait_total:
                return None  # same head PDU as last time, still incomplete: no need to re-read its header
            hdr = self._peek_header()
            if hdr is None:
                return None
            hl, rem = hdr
            if hl < 0:
                data, spans = self._take(5)
                self._resync = True
                pdu = PDU(
                    data, data[0] >> 4, data[0] & 15, 5, -1, spans, self._version(), self.session.version_inferred
                )
                pdu.error = "invalid Remaining Length: variable byte integer longer than 4 bytes"
                return pdu
            total = hl + rem
            if total > self.max_pdu:
                keep = min(PREFIX, total)
                if self._avail < keep:
                    return None
                data, spans = self._take(keep)
                self._skip = total - keep
                return self._make(
                    data,
                    hl,
                    rem,
                    spans,
                    f"oversized: declared length {total} bytes exceeds the {self.max_pdu}-byte limit; "
                    f"kept {keep}, skipped {total - keep}",
                )
            if self._avail < total:
                self._wait_ch, self._wait_pos, self._wait_total = ch, pos, total
                return None
            data, spans = self._take(total)
            return self._make(data, hl, rem, spans)

    def evict(self, why: str) -> None:
        """Give up the unfinished PDU held (the pipeline's cap on buffered bytes was reached):
        it comes out now, malformed, with its first PREFIX bytes; its tail is skipped as it
        arrives when its length is known, else the decoder resynchronises."""
        if not self._avail:
            return
        hdr = self._peek_header()
        if hdr is None or hdr[0] < 0:
            data, spans = self._take(self._avail)
            self._out.append(self._malformed(data[:PREFIX], spans, f"dropped: {why}"))
            self._resync = True
            return
        hl, rem = hdr
        total = hl + rem
        held = self._avail
        data, spans = self._take(held)
        keep = max(min(PREFIX, held), hl)
        kept = tuple((t, c, o, min(n, keep - o)) for t, c, o, n in spans if o < keep)
        self._out.append(self._make(data[:keep], hl, rem, kept, f"dropped: {why}; {held} of {total} bytes had arrived"))
        self._skip = total - held

    def salvage(self) -> None:
        """The stream is ending: while resynchronising, a candidate still waiting for bytes (its body's
        first ones, or what confirms it) will not get them, so the scan decides without them; whole
        packets behind it (a DISCONNECT after a loss, say) come out of next_pdu(), what is left of the
        stream out of close()."""
        found: list[PDU] = []
        while self._resync and self._avail and self._resync_scan(final=True):
            pdu = self.next_pdu()
            while pdu is not None:
                found.append(pdu)
                pdu = self.next_pdu()
        if found:
            self._out[:0] = found

    def close(self, why: str = "stream ended") -> PDU | None:
        """End of stream: a pending partial PDU (or skipped junk) comes out malformed, `why`
        naming the end. Further PDUs, if any, come out of next_pdu()."""
        if self._resync:
            if self._avail:
                data, spans = self._take(self._avail)
                self._add_junk(data, spans)
            self._flush_junk()
        elif self._avail:
            hdr = self._peek_header()
            data, spans = self._take(self._avail)
            if hdr is None or hdr[0] < 0:
                self._out.append(self._malformed(data, spans, f"truncated: {why} inside the fixed header"))
            else:
                hl, rem = hdr
                total = hl + rem
                reason = f"truncated: {why} after {len(data)} of {total} bytes"
                if total > self.max_pdu:
                    reason = (
                        f"oversized: declared length {total} bytes exceeds the {self.max_pdu}-byte limit; "
                        f"{why} after {len(data)} bytes"
                    )
                self._out.append(self._make(data, hl, rem, spans, reason))
        self._skip = 0
        return self._out.pop(0) if self._out else None

    # ---- internals -------------------------------------------------------------

    def _version(self) -> int:
        v = self.session.version
        return C.V311 if v is None else v

    def _peek(self, k: int, off: int = 0) -> bytes:
        """Up to k unconsumed bytes, `off` bytes past the head."""
        parts = []
        got = 0
        for ch in self._chunks:
            data, pos = ch[1], ch[2]
            if off:
                m = min(len(data) - pos, off)
                off -= m
                pos += m
            m = min(len(data) - pos, k - got)
            if m > 0:
                parts.append(bytes(data[pos : pos + m]))
                got += m
            if got >= k:
                break
        return b"".join(parts)

    def _peek_header(self) -> tuple[int, int] | None:
        """(header length, remaining length), (-1, 0) for an invalid varint, None if incomplete."""
        return _header_of(self._peek(5))

    def _take(self, k: int) -> tuple[bytes, tuple[Span, ...]]:
        """Consume k buffered bytes (k <= self._avail): their bytes and the chunk spans."""
        self._wait_ch = None  # the head moves on (and a finished chunk must not be kept alive)
        chunks = self._chunks
        parts = []
        spans = []
        got = 0
        while got < k:
            ch = chunks[0]
            tag, data, pos, base = ch
            m = min(len(data) - pos, k - got)
            parts.append(data[pos : pos + m])
            spans.append((tag, base + pos, got, m))
            got += m
            pos += m
            if pos == len(data):
                chunks.popleft()
            else:
                ch[2] = pos
        self._avail -= k
        if len(parts) == 1:
            p = parts[0]
            return (p if type(p) is bytes else bytes(p)), tuple(spans)
        return b"".join(parts), tuple(spans)

    def _drain_skip(self) -> None:
        chunks = self._chunks
        while self._skip and chunks:
            ch = chunks[0]
            m = min(len(ch[1]) - ch[2], self._skip)
            self._skip -= m
            self._avail -= m
            ch[2] += m
            if ch[2] == len(ch[1]):
                chunks.popleft()

    def _resync_scan(self, final: bool = False) -> bool:
        """Skip bytes until a plausible fixed header starts; False = need more data (with `final`,
        at the stream's end: no more will come, so a candidate short of bytes is skipped too).

        A candidate must pass the checks on its header and first body bytes (_candidate), and be
        confirmed by what follows it: a plausible header right after it, or the end of a fed chunk
        (a TCP segment ends there); a chunk that holds exactly one packet by its header is believed
        whatever its flags; with `final`, one cut by the stream's end is believed if it
        starts the last chunk (a late segment decoded alone, whose PDU began in it). In payload,
        one candidate in a few thousand passes the first test; taken for a packet, it would put
        the decoder in step with nothing (random bytes then read as a cascade of packets, the real
        one after them lost)."""
        while self._avail:
            head = self._chunks[0]
            if head[2] == 0 and self._candidate(0, _REJECT, True) == len(head[1]):
                # A fed chunk (a segment) holding exactly one packet by its header's length, which passes
                # the checks but those of its flags: believed (a PUBLISH with QoS 3 then shows as such).
                self._resync = False
                self._probation = 0  # (it would fail the checks it was spared)
                self._flush_junk()
                return True
            total = self._candidate(0, _REJECT if final else _WAIT)
            if total < 0:
                return False
            if total > 0:
                if self._ends_chunk(total):
                    after = 1
                elif final and total > self._avail and len(self._chunks) == 1 and self._chunks[0][2] == 0:
                    after = 1  # cut by the stream's end, and starting where the last fed chunk starts
                else:
                    after = self._candidate(total, _ACCEPT if final else _WAIT)
                if after < 0:
                    return False  # wait for the next header's bytes (or the chunk's end)
                if after > 0:
                    self._resync = False
                    self._probation = PROBATION
                    self._flush_junk()
                    return True
            data, spans = self._take(1)
            self._add_junk(data, spans)
        return False

    def _candidate(self, off: int, short: int, any_flags: bool = False) -> int:
        """The length of the packet whose plausible fixed header starts `off` bytes past the head,
        0 if none does. Bytes missing for the checks: -1 with `short` _WAIT, 0 with _REJECT, and
        with _ACCEPT what the header says (at the stream's end, a next packet cut short still tells
        where the one before it ended). `any_flags`: the header's flags are not checked."""
        avail = self._avail - off
        if avail <= 0:
            return -1 if short == _WAIT else 0
        version = self.session.version
        h = self._peek(5, off)
        b0 = h[0]
        if not (b0 >= 0x10 if any_flags else _plausible_first_byte(b0, version)):
            return 0
        hdr = _header_of(h)
        if hdr is None:
            return -1 if short == _WAIT else (1 if short == _ACCEPT else 0)
        hl, rem = hdr
        if hl < 0 or hl + rem > self.max_pdu or not _plausible_length(b0 >> 4, rem, version):
            return 0
        need = hl + min(rem, BODY_CHECK)
        if avail < need:
            return -1 if short == _WAIT else (hl + rem if short == _ACCEPT else 0)
        return hl + rem if _plausible_body(b0, self._peek(need, off)[hl:], rem, version, self.from_client) else 0

    def _ends_chunk(self, n: int) -> bool:
        """Whether the first n unconsumed bytes end where a fed chunk ends."""
        got = 0
        for ch in self._chunks:
            got += len(ch[1]) - ch[2]
            if got >= n:
                return got == n
        return False

    def _add_junk(self, data: bytes, spans: tuple) -> None:
        room = PREFIX - len(self._junk)
        if room > 0:
            self._junk += data[:room]
            j = self._junk_spans
            for tag, coff, _poff, ln in spans:
                ln = min(ln, room)
                if ln <= 0:
                    break
                if j and j[-1][0] is tag and j[-1][1] + j[-1][3] == coff:
                    j[-1] = (tag, j[-1][1], 0, j[-1][3] + ln)
                else:
                    j.append((tag, coff, 0, ln))
                room -= ln
        self._junk_count += len(data)

    def _flush_junk(self) -> None:
        if not self._junk_count:
            return
        data = bytes(self._junk)
        # Recompute pdu offsets of the kept spans in order.
        spans = []
        off = 0
        for tag, coff, _p, ln in self._junk_spans:
            spans.append((tag, coff, off, ln))
            off += ln
        reason = f"{self._junk_count} bytes skipped while resynchronising (no plausible MQTT fixed header)"
        self._out.append(self._malformed(data, tuple(spans), reason, junk=True))
        self._junk = bytearray()
        self._junk_count = 0
        self._junk_spans = []

    def _malformed(self, data: bytes, spans: tuple, reason: str, junk: bool = False) -> PDU:
        b0 = data[0] if data and not junk else -16
        return PDU(data, b0 >> 4, b0 & 15 if not junk else 0, 0, -1, spans, self._version(), False, reason)

    def _make(self, data: bytes, hl: int, rem: int, spans: tuple, error: str | None = None) -> PDU:
        b0 = data[0]
        version = self.session.version
        if version is not None and error is None:
            t = b0 >> 4
            if t == _PUBLISH:
                # Hot path: a well-formed PUBLISH without MQTT 5 properties (or with an empty block).
                end = len(data)
                p = hl + 2 + (data[hl] << 8 | data[hl + 1]) if hl + 2 <= end else end + 1
                q = p + 2 if b0 & 6 else p
                if q <= end and (version != C.V5 or (q < end and data[q] == 0)):
                    pdu = PDU(data, _PUBLISH, b0 & 15, hl, rem, spans, version, self.session.version_inferred)
                    pdu.topic = data[hl + 2 : p].decode("utf-8", "replace")
                    if q != p:
                        pdu.msgid = data[p] << 8 | data[p + 1]
                    pdu.payload_at = q if version != C.V5 else q + 1
                    return pdu
            elif _PUBACK <= t <= _PUBCOMP and len(data) == hl + 2:
                # Hot path: a bare PUBACK/PUBREC/PUBREL/PUBCOMP (packet id only): what
                # _make_general gives, check() finding nothing to object to.
                pdu = PDU(data, t, b0 & 15, hl, rem, spans, version, self.session.version_inferred)
                pdu.msgid = data[hl] << 8 | data[hl + 1]
                return pdu
        return self._make_general(data, hl, rem, spans, error)

    def _make_general(self, data: bytes, hl: int, rem: int, spans: tuple, error: str | None) -> PDU:
        b0 = data[0]
        t = b0 >> 4
        flags = b0 & 15
        s = self.session
        version = s.version
        inferred = s.version_inferred
        if t == _CONNECT:
            # The level byte follows the protocol name.
            if hl + 2 <= len(data):
                p = hl + 2 + (data[hl] << 8 | data[hl + 1])
                if p < len(data) and data[p] in C.VERSION_NAMES:
                    version = s.version = data[p]
                    inferred = s.version_inferred = False
        elif version is None:
            v, decisive = infer_version(data, hl, t, flags) if error is None else (C.V311, False)
            version = v
            inferred = True
            if decisive:
                s.version = v
                s.version_inferred = True
        if version is None:
            version = C.V311
        pdu = PDU(data, t, flags, hl, rem, spans, version, inferred, error)
        if t == _PUBLISH:
            err, topic, msgid, alias, pdu.payload_at, pdu.ctype_at = publish(data, hl, flags, version)
            pdu.msgid = msgid
            if alias:
                pdu.alias = alias
                if topic:
                    self._aliases[alias] = topic
                    pdu.alias_state = 1
                else:
                    known = self._aliases.get(alias)
                    if known is None:
                        pdu.alias_state = 3
                    else:
                        topic = known
                        pdu.alias_state = 2
            pdu.topic = topic
        else:
            if t in _HAS_MSGID and hl + 2 <= len(data):
                pdu.msgid = data[hl] << 8 | data[hl + 1]
            err = check(data, hl, t, version) if error is None else None
        if error is None and err is not None:
            pdu.error = err
        return pdu

"""The MQTT session tracker: sans-IO, events in, annotations out (the h11 model).

Everything that spans packets lives here and nowhere else: per connection (TCP stream) the
client id, user name, version, keep-alive, will flag, the limits MQTT 5 negotiates, the
requests waiting for their response per direction, the subscriptions; across connections
the table of client ids held by open connections (takeover) and the recent publications a
broker's delivery is matched against (fan-out).

Events in:
    pdus(frame, ts, stream, direction, pdus)   the PDUs one frame completed on a connection
    closed(frame, ts, stream, direction, rst)  a FIN or RST (direction: who sent it)
Annotations out: each PDU's `ann` (an `Ann`, shared by the plain PDUs of one connection and
direction, a PDU's own when it has links or notes) and, for a closing frame, a list of notes.
A response is only known after its request, whose frame is out by then: what a later frame says
of an earlier one (`response_in`, `delivered_in`) never changes that frame's annotation; with
`record=True` it is kept in `backfill` (frame -> [(pdu index, attribute, value)], a compact
sniffer.session.backfill.Backfill), which the UI's store and the second pass of `-2` apply with `fill()`.

Cost (bench/bench_sessions.py): most PDUs get the connection's shared annotation and no object of
their own; a request is remembered by frame and index only; a publication by its topic, payload
length and (for a payload up to SMALL bytes) hash, a large payload's hash made only when a delivery
could match it.

Rules: nothing raises on odd input (reordered, duplicated or missing frames, a capture that
starts mid-session); a pairing is made only when it is unambiguous; a closed connection leaves
the tables (its frames keep their annotations), and the fan-out memory is bounded in time and
count, so a days-long capture with many short connections stays small.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Final

from sniffer.mqtt import constants as C
from sniffer.mqtt.decoder import PDU
from sniffer.payload.spstate import SparkplugState
from sniffer.session.backfill import Backfill
from sniffer.session.facts import connack_facts, connect_facts, disconnect_reason, filters_of, suback_codes

FANOUT_WINDOW: Final = 10.0  # seconds a publication stays a candidate for the broker's deliveries
FANOUT_MAX: Final = 50_000  # publications remembered at most
# A delivery is matched to its publication by topic, payload length and a hash of the payload. A
# payload up to SMALL bytes is hashed at once; a larger one only when a delivery of that topic and
# length comes (a hash is a pass over every byte, and most large publications are never delivered
# in a capture), its PDU's bytes kept until then, at most HOLD_MAX bytes of them (beyond it the
# oldest are hashed and let go).
SMALL: Final = 512
HOLD_MAX: Final = 4 << 20
KEEPALIVE_GRACE: Final = 1.5  # brokers close after 1.5 x the keep-alive with no packet (MQTT 3.1.1 3.1.2.10)
LIST_MAX: Final = 10  # frames named in one note

# Final: native constants in the compiled build (a plain module global is a dict lookup at each use)
CONNECT: Final = C.CONNECT
CONNACK: Final = C.CONNACK
PUBLISH: Final = C.PUBLISH
PUBACK: Final = C.PUBACK
PUBREC: Final = C.PUBREC
PUBREL: Final = C.PUBREL
PUBCOMP: Final = C.PUBCOMP
SUBSCRIBE: Final = C.SUBSCRIBE
SUBACK: Final = C.SUBACK
UNSUBSCRIBE: Final = C.UNSUBSCRIBE
UNSUBACK: Final = C.UNSUBACK
PINGREQ: Final = C.PINGREQ
PINGRESP: Final = C.PINGRESP
DISCONNECT: Final = C.DISCONNECT
AUTH: Final = C.AUTH
V5: Final = C.V5
GONE: Final = float("-inf")  # the time of a publication forgotten before its window ended (FANOUT_MAX)


class Ann:
    """What the session layer says of one PDU (all generated fields; 0 / -1.0 / None = absent)."""

    __slots__ = (
        "client",
        "username",
        "version",
        "direction",
        "response_in",
        "response_to",
        "time",
        "flow_time",
        "publisher",
        "published_in",
        "fanout_delay",
        "delivered_in",
        "notes",
        "shared",
    )

    # Defaults for all: the store rebuilds an Ann with Ann.__new__, which calls __init__ in the mypyc
    # build (sniffer.native), as it does for a PDU.
    def __init__(
        self, client: str | None = None, username: str | None = None, version: int = 0, direction: int = 0
    ) -> None:
        self.client = client
        self.username = username
        self.version = version
        self.direction = direction
        self.response_in = 0
        self.response_to = 0
        self.time = -1.0
        self.flow_time = -1.0
        self.publisher: str | None = None
        self.published_in = 0
        self.fanout_delay = -1.0
        # tuples, not lists: most annotations have none, and an empty tuple costs no allocation
        self.delivered_in: tuple[int, ...] = ()
        self.notes: tuple[tuple[str, str], ...] = ()  # (mqtt.analysis key, message)
        self.shared = False  # the connection's plain annotation: copied before it is changed


class _Req:
    """A request waiting for its response (or a QoS 2 flow between its steps). It names its frame
    and PDU, not the PDU's annotation: that frame is already out, so what the response adds to it
    goes to `backfill` only."""

    __slots__ = ("frame", "ts", "idx", "stage", "start", "key", "pfx", "qos", "data", "pos")

    def __init__(self, frame: int, ts: float, idx: int, key: Any = None, qos: int = 0) -> None:
        self.frame = frame
        self.ts = ts
        self.idx = idx  # the PDU's index in its frame (backfill)
        self.stage = 0  # QoS 2: 0 PUBLISH sent, 1 PUBREC seen, 2 PUBREL seen
        self.start = ts  # QoS 2: time of the PUBLISH
        self.key = key  # PUBLISH: its fan-out key (_key); SUBSCRIBE: its filters
        # a large PUBLISH's bytes and payload offset, to tell a retransmission from a reused id
        self.data: bytes | None = None
        self.pos = 0
        self.pfx = frame  # QoS 2: frame of the PUBLISH
        self.qos = qos


# (topic, payload length, hash of a small payload): a tuple of objects, built once per PUBLISH (a
# typed fixed-length tuple would be unboxed by mypyc and boxed again at every dict operation)
Key = tuple[object, ...]


class _Pub:
    """A client's publication, a candidate for the broker's deliveries."""

    __slots__ = ("ts", "frame", "client", "idx", "key", "size", "data", "pos", "digest", "older", "to1", "to")

    def __init__(
        self, ts: float, frame: int, client: str | None, idx: int, key: Key, size: int, data: bytes | None, pos: int
    ) -> None:
        self.ts = ts
        self.frame = frame
        self.client = client
        self.idx = idx
        self.key = key  # _key(): (topic, payload length, hash of a small payload)
        self.size = size  # payload length
        self.data = data  # a large payload's PDU bytes, until hashed
        self.pos = pos  # where its payload starts
        self.digest = 0  # a large payload's hash, once made
        self.older: _Pub | None = None  # the previous publication with the same key (a chain, newest first)
        self.to1 = -1  # the first stream it was delivered on (most publications reach none or few)
        self.to: set[int] | None = None  # the streams after the first

    def reached(self, stream: int) -> bool:
        """Was it delivered on `stream` already?"""
        to = self.to
        return self.to1 == stream or (to is not None and stream in to)


class Conn:
    """One MQTT connection (TCP stream) as the tracker knows it."""

    __slots__ = (
        "stream",
        "client",
        "username",
        "version",
        "keepalive",
        "will",
        "connect_frame",
        "connack_frame",
        "refused",
        "disconnected",
        "last_client",
        "inflight",
        "pending_connect",
        "pings",
        "subs",
        "unsubs",
        "auth",
        "recv_max",
        "alias_max",
        "max_packet",
        "base",
        "taken_over_by",
        "ended",
        "filters",
        "fins",
    )

    def __init__(self, stream: int) -> None:
        self.stream = stream
        self.client: str | None = None
        self.username: str | None = None
        self.version = 0
        self.keepalive = 0
        self.will = False
        self.connect_frame = 0
        self.connack_frame = 0
        self.refused = False
        self.disconnected = False  # a DISCONNECT from the client was seen
        self.last_client = -1.0  # time of the client's last PDU
        self.inflight: tuple[dict[int, _Req], dict[int, _Req]] = ({}, {})  # per sending direction, by packet id
        self.pending_connect: _Req | None = None
        self.pings: deque[_Req] = deque()
        self.subs: dict[int, _Req] = {}
        self.unsubs: dict[int, _Req] = {}
        self.auth: list[_Req | None] = [None, None]
        # MQTT 5 limits on what each direction may send: index 0 client -> broker (set by the CONNACK),
        # 1 broker -> client (set by the CONNECT). Absent: Receive Maximum 65535, Topic Alias Maximum 0,
        # no Maximum Packet Size.
        self.recv_max = [65535, 65535]
        self.alias_max = [0, 0]
        self.max_packet = [0, 0]
        self.base: list[Ann | None] = [None, None]
        self.taken_over_by: tuple[int, int] | None = None  # (stream, frame of its CONNECT)
        self.ended = False
        self.filters: dict[str, int] = {}  # subscribed topic filters -> QoS
        self.fins = 0  # bit per direction that has ended (FIN), both for an RST


class Tracker:
    """All MQTT sessions of one capture."""

    def __init__(self, record: bool = False, prefill: Backfill | None = None) -> None:
        self.conns: dict[int, Conn] = {}
        self.clients: dict[str, Conn] = {}  # client id -> the open connection holding it
        # Publications of the last FANOUT_WINDOW seconds: by key the newest (a chain to the older ones
        # of that key), and all in time order from index `head` (lists with a moving start: native
        # list operations in the compiled build, where a deque goes through method calls).
        self.pubs: dict[Key, _Pub] = {}
        self.pub_order: list[_Pub] = []
        self.head = 0
        self.unhashed: list[_Pub] = []  # the large ones not hashed yet, oldest first from `uhead`
        self.uhead = 0
        self.held = 0  # their payload bytes
        self.record = record
        self.backfill = Backfill()
        self.prefill = prefill  # backfill of an earlier pass, applied as frames are annotated
        self.sparkplug = SparkplugState()

    # ---- events ------------------------------------------------------------------------

    def conn(self, stream: int) -> Conn:
        c = self.conns.get(stream)
        if c is None:
            c = self.conns[stream] = Conn(stream)
        return c

    def pdus(self, frame: int, ts: float, stream: int, direction: int, pdus: list[PDU]) -> None:
        """Annotate the PDUs that `frame` completed on connection `stream`, sent by `direction`."""
        c = self.conns.get(stream)
        if c is None:
            c = self.conns[stream] = Conn(stream)
        for idx, p in enumerate(pdus):
            t = p.msgtype
            if t < 0 or p.error is not None and t != PUBLISH:
                p.ann = self._base(c, direction)
                continue
            # by frequency: PUBLISH and its acks are most of any capture (a chain of compares is
            # native in the compiled build, a table of methods would go through Python calls)
            if t == PUBLISH:
                self._publish(c, frame, ts, direction, p, idx)
            elif PUBACK <= t <= PUBCOMP:
                self._ack(c, frame, ts, direction, p, idx)
            elif t in (PINGREQ, PINGRESP):
                self._ping(c, frame, ts, direction, p, idx)
            elif t == CONNECT:
                self._connect(c, frame, ts, direction, p, idx)
            elif t == CONNACK:
                self._connack(c, frame, ts, direction, p, idx)
            elif t in (SUBSCRIBE, UNSUBSCRIBE):
                self._subscribe(c, frame, ts, direction, p, idx)
            elif t in (SUBACK, UNSUBACK):
                self._suback(c, frame, ts, direction, p, idx)
            elif t == DISCONNECT:
                self._disconnect(c, frame, ts, direction, p, idx)
            elif t == AUTH:
                self._auth(c, frame, ts, direction, p, idx)
            else:
                p.ann = self._base(c, direction)
            if direction == 0:
                if c.keepalive and not c.ended and c.last_client >= 0:
                    self._client_activity(c, frame, ts, p)
                c.last_client = ts
        if self.prefill is not None:
            fill(pdus, self.prefill.get(frame))

    def closed(self, frame: int, ts: float, stream: int, direction: int, rst: bool) -> list[tuple[str, str]]:
        """A FIN or RST sent by `direction`. Returns the notes for this frame (how the connection
        ended, what it left unacknowledged; a first ("client", id) names whose connection it was),
        once per connection; once both directions have
        ended (a FIN each way, or an RST) the connection leaves the tables."""
        c = self.conns.get(stream)
        if c is None:
            return []
        c.fins |= 3 if rst else 1 << direction
        both = c.fins == 3
        notes: list[tuple[str, str]] = []
        if not c.ended and c.connect_frame:
            c.ended = True
            if c.client is not None:
                notes.append(("client", c.client))  # whose connection ended (mqtt.client on this frame)
            who = "the broker" if direction == 1 else "the client"
            how = "RST" if rst else "FIN"
            if c.taken_over_by is not None and direction == 1:
                s, f = c.taken_over_by
                notes.append(
                    ("taken_over", f"The broker closed this connection: client id {c.client!r} was taken over by "
                     f"TCP stream {s} (CONNECT in frame {f})"))  # fmt: skip
            if c.keepalive and c.last_client >= 0 and direction == 1:
                silent = ts - c.last_client
                if silent >= c.keepalive * KEEPALIVE_GRACE * 0.99:
                    notes.append(
                        ("keepalive_expired", f"Keep-alive exceeded: no packet from the client for {silent:.3f} s "
                         f"(keep-alive {c.keepalive} s, allowed {c.keepalive * KEEPALIVE_GRACE:g} s); "
                         f"the broker closed the connection ({how})"))  # fmt: skip
            if not c.disconnected and not c.refused:
                will = "; the broker publishes the will message" if c.will else ""
                notes.append(("no_disconnect", f"Connection closed by {who} ({how}) without DISCONNECT{will}"))
            left = [r for d in c.inflight for r in d.values()]
            if left:
                frames = sorted({r.pfx for r in left})  # several PUBLISHes may share a frame
                names = ", ".join(map(str, frames[:LIST_MAX])) + (", …" if len(frames) > LIST_MAX else "")
                notes.append(("unacked", f"Connection closed with {len(left)} QoS 1/2 messages unacknowledged "
                              f"(frames {names})"))  # fmt: skip
        if both:
            self._forget(c)
        return notes

    # ---- the second pass and the UI ---------------------------------------------------

    def _later(self, frame: int, idx: int, attr: str, value: int) -> None:
        """What a later frame says of an earlier one (a response, a delivery). That frame is out
        already: the value is only recorded, for the UI's store and the second pass of -2."""
        if self.record:
            self.backfill.add(frame, idx, attr, value)

    # ---- per packet type ------------------------------------------------------------------
    # A PDU gets its connection's shared plain annotation unless it carries something of its own
    # (a response's link and time, a delivery's publisher, a note): most PDUs cost no allocation.

    def _base(self, c: Conn, direction: int) -> Ann:
        a = c.base[direction]
        if a is None:
            a = Ann(c.client, c.username, c.version, direction)
            a.shared = True
            c.base[direction] = a
        return a

    def _mine(self, c: Conn, direction: int, p: PDU) -> Ann:
        """p's own annotation (made from the connection's plain one the first time)."""
        a = p.ann
        if a is None or a.shared:
            b = self._base(c, direction)
            p.ann = a = Ann(b.client, b.username, b.version, direction)
        return a

    def _note(self, c: Conn, direction: int, p: PDU, key: str, msg: str) -> None:
        ann = self._mine(c, direction, p)
        ann.notes = (*ann.notes, (key, msg))

    def _link(self, req: _Req, ann: Ann, frame: int, ts: float) -> None:
        self._later(req.frame, req.idx, "response_in", frame)
        ann.response_to = req.frame
        ann.time = _dt(ts, req.ts)

    def _client_activity(self, c: Conn, frame: int, ts: float, p: PDU) -> None:
        last = c.last_client
        if ts - last > c.keepalive * KEEPALIVE_GRACE:
            self._note(c, 0, p, "keepalive_expired",
                       f"Keep-alive exceeded: {ts - last:.3f} s since the client's last packet "
                       f"(keep-alive {c.keepalive} s, allowed {c.keepalive * KEEPALIVE_GRACE:g} s)")  # fmt: skip

    def _connect(self, c: Conn, frame: int, ts: float, d: int, p: PDU, idx: int) -> None:
        if d != 0:
            p.ann = self._base(c, d)
            return
        f = connect_facts(p)
        if c.connect_frame:
            p.ann = self._base(c, d)
            self._note(c, d, p, "second_connect", f"Second CONNECT on this connection (the first in frame "
                       f"{c.connect_frame}): a protocol violation, the broker must close it")  # fmt: skip
            return
        c.connect_frame = frame
        c.client, c.username, c.version = f.client, f.username, p.version
        c.keepalive, c.will = f.keepalive, f.will
        c.recv_max[1] = f.recv_max or 65535
        c.alias_max[1] = f.alias_max
        c.max_packet[1] = f.max_packet
        c.base = [None, None]  # the plain annotation now names the client
        p.ann = self._base(c, d)
        c.pending_connect = _Req(frame, ts, idx)
        cid = f.client
        if cid:
            other = self.clients.get(cid)
            if other is not None and other is not c and not other.ended:
                other.taken_over_by = (c.stream, frame)
                self._note(c, d, p, "takeover", f"Client id {cid!r} is held by the open connection on TCP stream "
                           f"{other.stream} (CONNECT in frame {other.connect_frame}): the broker closes "
                           "that connection")  # fmt: skip
            self.clients[cid] = c

    def _connack(self, c: Conn, frame: int, ts: float, d: int, p: PDU, idx: int) -> None:
        ann = self._mine(c, d, p)
        req = c.pending_connect
        if req is not None and d == 1:
            self._link(req, ann, frame, ts)
            c.pending_connect = None
        elif c.connect_frame and d == 1:
            self._note(c, d, p, "no_request", "CONNACK without a CONNECT waiting for it")
        if d != 1:
            return
        c.connack_frame = frame
        f = connack_facts(p)
        if f.refused:
            c.refused = True
            self._note(c, d, p, "connack_refused", f"The broker refused the connection: {f.reason}")
        if f.recv_max:
            c.recv_max[0] = f.recv_max
        c.alias_max[0] = f.alias_max
        c.max_packet[0] = f.max_packet
        if f.keepalive >= 0:
            c.keepalive = f.keepalive  # MQTT 5 Server Keep Alive replaces the client's

    def _publish(self, c: Conn, frame: int, ts: float, d: int, p: PDU, idx: int) -> None:
        flags = p.flags
        qos = (flags >> 1) & 3
        p.ann = self._base(c, d)
        if c.connect_frame and not c.connack_frame:
            self._note(c, d, p, "publish_before_connack", "PUBLISH before the connection was acknowledged (CONNACK)")
        if qos == 0 and flags & 8:
            self._note(c, d, p, "dup_qos0", "DUP flag set on a QoS 0 message (must be 0)")
        if p.alias and c.version == V5 and p.alias > c.alias_max[d]:
            self._note(c, d, p, "topic_alias_maximum_exceeded", f"Topic Alias {p.alias} exceeds the Topic Alias "
                       f"Maximum of {c.alias_max[d]} the receiver announced")  # fmt: skip
        if c.max_packet[d] and len(p.data) > c.max_packet[d]:
            self._note(c, d, p, "maximum_packet_size_exceeded", f"{len(p.data)} bytes exceed the Maximum Packet "
                       f"Size of {c.max_packet[d]} the receiver announced")  # fmt: skip
        key = None
        data = p.data
        pos = p.payload_at
        msgid = p.msgid
        if qos and msgid >= 0:
            key = _key(p.topic or "", data, pos)
            inflight = c.inflight[d]
            old = inflight.get(msgid)
            if old is not None and old.stage == 0:
                if old.key == key and (old.data is None or old.data[old.pos :] == data[pos:]):
                    if not flags & 8:
                        self._note(c, d, p, "retransmission_no_dup", f"Retransmission of the PUBLISH in frame "
                                   f"{old.frame} without the DUP flag")  # fmt: skip
                else:
                    self._note(c, d, p, "msgid_in_use", f"Packet identifier {msgid} is still in flight (PUBLISH in "
                               f"frame {old.frame}, not yet acknowledged)")  # fmt: skip
            elif old is not None:
                self._note(c, d, p, "msgid_in_use", f"Packet identifier {msgid} is still in flight (QoS 2 flow of "
                           f"frame {old.pfx})")  # fmt: skip
            req = inflight[msgid] = _Req(frame, ts, idx, key, qos)
            if len(data) - pos > SMALL:
                req.data, req.pos = data, pos
            if len(inflight) > c.recv_max[d]:
                self._note(c, d, p, "receive_maximum_exceeded", f"{len(inflight)} QoS 1/2 messages in flight exceed "
                           f"the Receive Maximum of {c.recv_max[d]} the receiver announced")  # fmt: skip
        topic = p.topic
        if p.error is not None or topic is None or pos < 0:
            return
        if topic.startswith("spBv1.0/"):  # Sparkplug B state (births, seq, bdSeq, aliases): its own room
            for note_key, message in self.sparkplug.publish(frame, topic, data[pos:], d == 0):
                self._note(c, d, p, note_key, message)
        if key is None:
            key = _key(topic, data, pos)
        if d == 0:
            self._remember(ts, frame, c, idx, key, data, pos)
        else:
            self._deliver(ts, frame, c, d, p, key, data, pos)

    def _ack(self, c: Conn, frame: int, ts: float, d: int, p: PDU, idx: int) -> None:
        """PUBACK, PUBREC, PUBREL, PUBCOMP: the next step of the flow of packet id p.msgid."""
        t = p.msgtype
        if t == PUBREL:
            req = c.inflight[d].get(p.msgid)  # PUBREL goes the PUBLISH's way
            if req is not None and req.stage == 1:
                self._link(req, self._mine(c, d, p), frame, ts)  # PUBREC -> PUBREL
                req.frame, req.ts, req.idx, req.stage = frame, ts, idx, 2
            else:
                p.ann = self._base(c, d)
                if c.connect_frame:
                    self._note(c, d, p, "no_request", f"PUBREL for packet id {p.msgid} without a PUBREC waiting for it")
            return
        inflight = c.inflight[1 - d]
        req = inflight.get(p.msgid)
        # PUBACK answers a QoS 1 PUBLISH, PUBREC a QoS 2 one (stage 0), PUBCOMP a PUBREL (stage 2);
        # native int compares (a table of boxed (stage, QoS) tuples cost ~25 instructions a frame)
        stage = 2 if t == PUBCOMP else 0
        if req is None or req.stage != stage or stage == 0 and req.qos != (1 if t == PUBACK else 2):
            p.ann = self._base(c, d)
            if c.connect_frame:
                self._note(c, d, p, "no_request", f"{C.MSGTYPE_LIST[t]} for packet id {p.msgid} without a "
                           "request waiting for it")  # fmt: skip
            return
        ann = self._mine(c, d, p)
        self._link(req, ann, frame, ts)
        if t == PUBACK:
            del inflight[p.msgid]
        elif t == PUBREC:
            req.frame, req.ts, req.idx, req.stage = frame, ts, idx, 1
            req.data = None  # the flow goes on by packet id only
        else:  # PUBCOMP ends the QoS 2 flow
            ann.flow_time = _dt(ts, req.start)
            del inflight[p.msgid]

    def _subscribe(self, c: Conn, frame: int, ts: float, d: int, p: PDU, idx: int) -> None:
        p.ann = self._base(c, d)
        if d != 0 or p.msgid < 0:
            return
        table = c.subs if p.msgtype == SUBSCRIBE else c.unsubs
        table[p.msgid] = _Req(frame, ts, idx, filters_of(p))

    def _suback(self, c: Conn, frame: int, ts: float, d: int, p: PDU, idx: int) -> None:
        p.ann = self._base(c, d)
        if d != 1 or p.msgid < 0:
            return
        table = c.subs if p.msgtype == SUBACK else c.unsubs
        req = table.pop(p.msgid, None)
        if req is None:
            if c.connect_frame:
                self._note(c, d, p, "no_request", f"{C.MSGTYPE_LIST[p.msgtype]} for packet id {p.msgid} without a "
                           "request waiting for it")  # fmt: skip
            return
        self._link(req, self._mine(c, d, p), frame, ts)
        filters = req.key or []
        if p.msgtype == SUBACK:
            codes = suback_codes(p)
            failed = []
            for i, code in enumerate(codes):
                name = filters[i][0] if i < len(filters) else f"#{i + 1}"
                if code >= 0x80:
                    failed.append(f"{name} ({C.REASON_NAMES[SUBACK].get(code, hex(code))})")
                elif i < len(filters):
                    c.filters[filters[i][0]] = code
            if failed:
                self._note(c, d, p, "suback_failure", "Subscription refused: " + ", ".join(failed))
        else:
            for f in filters:
                c.filters.pop(f[0], None)

    def _ping(self, c: Conn, frame: int, ts: float, d: int, p: PDU, idx: int) -> None:
        p.ann = self._base(c, d)
        if p.msgtype == PINGREQ:
            if d == 0:
                c.pings.append(_Req(frame, ts, idx))
            return
        if d == 1:
            if c.pings:
                self._link(c.pings.popleft(), self._mine(c, d, p), frame, ts)
            elif c.connect_frame:
                self._note(c, d, p, "no_request", "PINGRESP without a PINGREQ waiting for it")

    def _disconnect(self, c: Conn, frame: int, ts: float, d: int, p: PDU, idx: int) -> None:
        p.ann = self._base(c, d)
        if d == 0:
            c.disconnected = True
        code, name = disconnect_reason(p)
        if code >= 0x80:
            who = "broker" if d == 1 else "client"
            self._note(c, d, p, "disconnect_error", f"DISCONNECT from the {who}: {name} (0x{code:02x})")

    def _auth(self, c: Conn, frame: int, ts: float, d: int, p: PDU, idx: int) -> None:
        p.ann = self._base(c, d)
        req = c.auth[1 - d]
        if req is not None:
            self._link(req, self._mine(c, d, p), frame, ts)
            c.auth[1 - d] = None
        c.auth[d] = _Req(frame, ts, idx)

    # ---- fan-out ---------------------------------------------------------------------

    def remembered(self) -> int:
        """How many publications are kept as candidates for deliveries."""
        return len(self.pub_order) - self.head

    def _remember(self, ts: float, frame: int, c: Conn, idx: int, key: Key, data: bytes, pos: int) -> None:
        size = len(data) - pos
        big = size > SMALL
        pub = _Pub(ts, frame, c.client, idx, key, size, data if big else None, pos)
        pubs = self.pubs
        pub.older = pubs.get(key)
        pubs[key] = pub
        order = self.pub_order
        order.append(pub)
        if big:
            self.unhashed.append(pub)
            self.held += size
        head = self.head
        while ts - order[head].ts > FANOUT_WINDOW or len(order) - head > FANOUT_MAX:
            old = order[head]
            head += 1
            if pubs.get(old.key) is old:
                # the newest of its key: the whole chain has left the window, and so goes the key
                # (at each expiry: rebuilding the table now and then allocated and freed it whole)
                del pubs[old.key]
            old.older = None
            old.ts = GONE  # a delivery's walk down the chain of its key stops here
            if old.data is not None:
                self.held -= old.size
                old.data = None
        if head > 4096 and head * 2 > len(order):
            del order[:head]  # now and then, not at every expiry: a list with a moving start
            head = 0
        self.head = head
        unhashed = self.unhashed
        u = self.uhead
        while u < len(unhashed) and (unhashed[u].data is None or self.held > HOLD_MAX):
            self._digest(unhashed[u])
            u += 1
        if u > 4096 and u * 2 > len(unhashed):
            del unhashed[:u]
            u = 0
        self.uhead = u

    def _digest(self, q: _Pub) -> int:
        """The hash of a large remembered payload (made once, then its bytes are let go)."""
        data = q.data
        if data is not None:
            self.held -= q.size
            q.digest = hash(memoryview(data)[q.pos :])
            q.data = None
        return q.digest

    def _deliver(self, ts: float, frame: int, c: Conn, d: int, p: PDU, key: Key, data: bytes, pos: int) -> None:
        q = self.pubs.get(key)
        if q is None:
            return
        dup = bool(p.flags & 8)
        stream = c.stream
        big = len(data) - pos > SMALL
        h = hash(memoryview(data)[pos:]) if big else 0
        # the newest fitting publication, and how many fit (a list only when several do: rare)
        found: _Pub | None = None
        more: list[_Pub] | None = None
        while q is not None:
            if ts - q.ts > FANOUT_WINDOW:
                break  # the rest of the chain has expired
            if q.ts <= ts and (dup or not q.reached(stream)) and (not big or self._digest(q) == h):
                if found is None:
                    found = q
                elif more is None:
                    more = [found, q]
                else:
                    more.append(q)
            q = q.older
        if found is None:
            return
        if more is not None and (not dup or len({q.client for q in more}) > 1):
            names = ", ".join(f"{q.frame} ({q.client})" for q in reversed(more[-LIST_MAX:]))
            self._note(c, d, p, "ambiguous_publisher", f"{len(more)} publications match this delivery (topic and "
                       f"payload): frames {names}")  # fmt: skip
            return
        q = found
        ann = self._mine(c, d, p)
        ann.publisher = q.client
        ann.published_in = q.frame
        ann.fanout_delay = _dt(ts, q.ts)
        if q.reached(stream):
            return  # a DUP delivery again on a stream it reached
        if q.to1 < 0:
            q.to1 = stream  # most publications reach one or a few streams: no set for the first
        elif q.to is None:
            q.to = {stream}
        else:
            q.to.add(stream)
        self._later(q.frame, q.idx, "delivered_in", frame)

    # ---- bounded state ---------------------------------------------------------------

    def _forget(self, c: Conn) -> None:
        self.conns.pop(c.stream, None)
        if c.client and self.clients.get(c.client) is c:
            del self.clients[c.client]


def _dt(later: float, earlier: float) -> float:
    """Seconds between two capture times, to the microsecond as every time mqttsniff shows (the
    float stamps of 2024 carry ~0.2 µs of noise: 0.041019917 would stand for 0.041020000)."""
    return (_us(later) - _us(earlier)) / 1_000_000


def _us(t: float) -> int:
    """t in whole microseconds, rounded half away from zero (int() of a float is native when
    compiled, where round() is a call)."""
    x = t * 1_000_000
    return int(x + 0.5) if x >= 0 else -int(0.5 - x)


def fill(pdus: list[PDU], entries: Any) -> None:
    """Apply an earlier pass's backfill entries (pdu index, attribute, value) to a frame's PDUs."""
    for idx, attr, value in entries:
        if idx < len(pdus):
            p = pdus[idx]
            a = p.ann
            if a is None or a.shared:
                b = Ann(None, None, 0, 0) if a is None else Ann(a.client, a.username, a.version, a.direction)
                if a is not None:
                    b.notes = a.notes
                p.ann = a = b
            if attr == "delivered_in":
                if value not in a.delivered_in:
                    a.delivered_in = (*a.delivered_in, value)
            else:
                setattr(a, attr, value)


def _key(topic: str, data: bytes, pos: int) -> Key:
    """What a delivery is matched by: (topic, payload length, hash of the payload if it is small).
    A large payload's hash is made only when needed (Tracker._digest)."""
    if pos < 0:
        return topic, -1, 0
    n = len(data) - pos
    return topic, n, hash(data[pos:]) if n <= SMALL else 0

"""The session tracker fed events directly (sans-IO): pairing, fan-out, takeover, keep-alive, notes,
and odd input (reordered, duplicated, missing frames) that must neither raise nor pair wrongly."""

from __future__ import annotations

import random

from sniffer.mqtt.decoder import PDU, DirectionDecoder, Session
from sniffer.session.tracker import FANOUT_WINDOW, HOLD_MAX, Tracker, fill
from sniffer.synth import mqtt_encode as E


def pdu(raw: bytes, version: int = 4, client: bool = True) -> PDU:
    dec = DirectionDecoder(Session(version), client)
    dec.feed(raw)
    p = dec.next_pdu()
    assert p is not None
    return p


class Wire:
    """Frames on connections: each call is one frame with one PDU."""

    def __init__(self, tracker: Tracker | None = None) -> None:
        self.t = tracker or Tracker(record=True)
        self.frame = 0
        self.sent: dict[int, list[PDU]] = {}

    def send(self, stream: int, direction: int, raw: bytes, ts: float, version: int = 4) -> PDU:
        self.frame += 1
        p = pdu(raw, version, direction == 0)
        self.t.pdus(self.frame, ts, stream, direction, [p])
        self.sent[self.frame] = [p]
        return p

    def settle(self) -> None:
        """What a later frame said of an earlier one goes to the backfill only (that frame is out
        already); apply it as the UI's store and the second pass of -2 do."""
        for frame, pdus in self.sent.items():
            fill(pdus, self.t.backfill.get(frame))

    def close(self, stream: int, direction: int, ts: float, rst: bool = False) -> list:
        self.frame += 1
        return self.t.closed(self.frame, ts, stream, direction, rst)


def notes(p: PDU) -> list[str]:
    return [k for k, _m in p.ann.notes] if p.ann is not None else []


def test_client_on_every_pdu_and_request_response_pairs() -> None:
    w = Wire()
    c = w.send(0, 0, E.connect("dev-7", username="alice", keepalive=30), 1.0)
    ca = w.send(0, 1, E.connack(), 1.25)
    s = w.send(0, 0, E.subscribe(1, [("a/#", 1)]), 2.0)
    sa = w.send(0, 1, E.suback(1, [1]), 2.5)
    p1 = w.send(0, 0, E.publish("a/b", b"x", qos=1, msgid=2), 3.0)
    pa = w.send(0, 1, E.puback(2), 3.125)
    pr = w.send(0, 0, E.pingreq(), 4.0)
    ps = w.send(0, 1, E.pingresp(), 4.5)
    assert c.ann.response_in == 0  # a single pass does not change a frame already out
    w.settle()
    for p in (c, ca, s, sa, p1, pa, pr, ps):
        assert p.ann.client == "dev-7" and p.ann.username == "alice" and p.ann.version == 4
    assert (c.ann.direction, ca.ann.direction) == (0, 1)
    for req, resp, dt, f in ((c, ca, 0.25, 2), (s, sa, 0.5, 4), (p1, pa, 0.125, 6), (pr, ps, 0.5, 8)):
        assert req.ann.response_in == f and resp.ann.response_to == f - 1 and resp.ann.time == dt
    # what a second pass (-2) or the UI needs to fill the requests in later
    assert w.t.backfill[1] == [(0, "response_in", 2)] and w.t.backfill[5] == [(0, "response_in", 6)]


def test_qos2_flow_links_every_step_and_times_the_flow() -> None:
    w = Wire()
    w.send(0, 0, E.connect("q2"), 0.0)
    w.send(0, 1, E.connack(), 0.1)
    pub = w.send(0, 0, E.publish("t", b"v", qos=2, msgid=9), 1.0)
    rec = w.send(0, 1, E.pubrec(9), 1.5)
    rel = w.send(0, 0, E.pubrel(9), 1.75)
    comp = w.send(0, 1, E.pubcomp(9), 2.0)
    w.settle()
    assert (pub.ann.response_in, rec.ann.response_to, rec.ann.response_in) == (4, 3, 5)
    assert (rel.ann.response_to, rel.ann.response_in, comp.ann.response_to) == (4, 6, 5)
    assert comp.ann.time == 0.25 and comp.ann.flow_time == 1.0
    assert w.close(0, 0, 3.0) == [
        ("client", "q2"),
        ("no_disconnect", "Connection closed by the client (FIN) without DISCONNECT"),
    ]


def test_fanout_names_the_publisher_and_marks_ambiguity() -> None:
    w = Wire()
    for s, cid in enumerate(("pub", "sub1", "sub2", "sub3", "pub2")):
        w.send(s, 0, E.connect(cid), 0.0)
        w.send(s, 1, E.connack(), 0.01)
    orig = w.send(0, 0, E.publish("room/t", b"21.5"), 1.0)
    got = [w.send(s, 1, E.publish("room/t", b"21.5"), 1.0 + s / 100) for s in (1, 2, 3)]
    for s, g in zip((1, 2, 3), got, strict=True):
        assert (g.ann.publisher, g.ann.published_in) == ("pub", orig_frame := 11)
        assert abs(g.ann.fanout_delay - s / 100) < 1e-9
    w.settle()
    assert orig.ann.delivered_in == (12, 13, 14) and orig_frame == 11
    # two publishers, same topic and payload, at about the same time: never guessed
    w.send(0, 0, E.publish("x", b"same"), 5.0)
    w.send(4, 0, E.publish("x", b"same"), 5.001)
    d = w.send(1, 1, E.publish("x", b"same"), 5.01)
    assert d.ann.publisher is None and notes(d) == ["ambiguous_publisher"]
    # the same payload published again later by one client: the newest is the one not yet delivered
    first = w.send(0, 0, E.publish("y", b"on"), 10.0)
    w.send(1, 1, E.publish("y", b"on"), 10.01)
    second = w.send(0, 0, E.publish("y", b"on"), 11.0)
    d2 = w.send(1, 1, E.publish("y", b"on"), 11.01)
    w.settle()
    assert (
        d2.ann.published_in == w.frame - 1
        and second.ann.delivered_in == (w.frame,)
        and len(first.ann.delivered_in) == 1
    )


def test_publications_leave_the_window_with_their_keys() -> None:
    """Publications older than FANOUT_WINDOW are forgotten and their topic/payload keys leave the
    table as they expire: the table stays the size of the window, and a late delivery matches none."""
    w = Wire()
    for s, cid in enumerate(("pub", "sub")):
        w.send(s, 0, E.connect(cid), 0.0)
        w.send(s, 1, E.connack(), 0.01)
    per_s = 50
    for i in range(int(FANOUT_WINDOW * 3 * per_s)):  # three windows of distinct publications
        w.send(0, 0, E.publish(f"t/{i}", b"v%d" % i), 1.0 + i / per_s)
    in_window = FANOUT_WINDOW * per_s
    assert in_window <= w.t.remembered() <= in_window + 2
    assert in_window <= len(w.t.pubs) <= in_window + 2  # a key per remembered publication, no more
    late = w.send(1, 1, E.publish("t/0", b"v0"), 40.0)  # its publication left the window long ago
    assert late.ann.published_in == 0 and not notes(late)
    fresh = w.send(1, 1, E.publish(f"t/{i}", b"v%d" % i), 40.0)
    assert fresh.ann.publisher == "pub"


def test_large_payloads_are_matched_exactly_and_held_within_the_cap() -> None:
    """A payload above SMALL is hashed only when a delivery of its topic and length comes; the bytes
    kept until then stay under HOLD_MAX, and what is hashed early still matches."""
    w = Wire()
    for s, cid in enumerate(("cam", "viewer")):
        w.send(s, 0, E.connect(cid), 0.0)
        w.send(s, 1, E.connack(), 0.01)
    size = 1 << 20
    frames = [w.send(0, 0, E.publish("img", bytes([i]) * size), 1.0 + i / 1000) for i in range(40)]
    assert w.t.held <= HOLD_MAX and w.t.remembered() == 40  # the oldest were hashed, none forgotten
    # deliveries of the first (hashed early) and the last (still held): same topic and length, each
    # matched to its own publication by content
    first = w.send(1, 1, E.publish("img", bytes([0]) * size), 1.5)
    last = w.send(1, 1, E.publish("img", bytes([39]) * size), 1.6)
    w.settle()
    assert (first.ann.published_in, last.ann.published_in) == (5, 44)
    assert frames[0].ann.delivered_in == (w.frame - 1,) and frames[39].ann.delivered_in == (w.frame,)
    # same length, a byte apart: no publication matches
    other = bytearray(bytes([7]) * size)
    other[size // 2] = 8
    none = w.send(1, 1, E.publish("img", bytes(other)), 1.7)
    assert none.ann.published_in == 0 and not notes(none)
    # a large QoS 1 PUBLISH sent again: a retransmission if the payload is the same, else a reused id
    big = bytes(range(256)) * 8
    w.send(0, 0, E.publish("fw", big, qos=1, msgid=3), 2.0)
    again = w.send(0, 0, E.publish("fw", big, qos=1, msgid=3), 2.1)
    changed = w.send(0, 0, E.publish("fw", big[:-1] + b"!", qos=1, msgid=3), 2.2)
    assert notes(again) == ["retransmission_no_dup"] and notes(changed) == ["msgid_in_use"]


def test_takeover_keepalive_and_unacked_at_close() -> None:
    w = Wire()
    a = w.send(0, 0, E.connect("dev", keepalive=2), 0.0)
    w.send(0, 1, E.connack(), 0.01)
    w.send(0, 1, E.publish("cmd", b"1", qos=1, msgid=5), 0.5)  # never acknowledged by the client
    b = w.send(1, 0, E.connect("dev", keepalive=2), 1.0)
    assert notes(b) == ["takeover"] and "TCP stream 0" in b.ann.notes[0][1] and not notes(a)
    end = dict(w.close(0, 1, 1.02))
    assert "taken over by TCP stream 1" in end["taken_over"] and "frames 3" in end["unacked"]
    assert "keepalive_expired" not in end
    # stream 1 goes silent: the broker closes it after 1.5 x 2 s
    w.send(1, 1, E.connack(), 1.01)
    end1 = dict(w.close(1, 1, 4.05, rst=True))
    assert "no packet from the client for 3.050 s" in end1["keepalive_expired"]
    assert "dev" not in w.t.clients and 1 not in w.t.conns  # a closed connection leaves the tables


def test_protocol_notes() -> None:
    w = Wire()
    early = w.send(0, 0, E.publish("t", b"p"), 0.0)  # mid-session start: nothing is claimed
    assert notes(early) == [] and early.ann.client is None
    w.send(1, 0, E.connect("c"), 1.0)
    before = w.send(1, 0, E.publish("t", b"p"), 1.01)
    assert notes(before) == ["publish_before_connack"]
    refused = w.send(1, 1, E.connack(code=5), 1.02)
    assert notes(refused) == ["connack_refused"] and "not authorized (5)" in refused.ann.notes[0][1]
    again = w.send(1, 0, E.connect("c"), 1.03)
    assert notes(again) == ["second_connect"]
    w.send(2, 0, E.connect("d"), 2.0)
    w.send(2, 1, E.connack(), 2.01)
    dup0 = w.send(2, 0, E.publish("t", b"p", dup=True), 2.1)
    assert notes(dup0) == ["dup_qos0"]
    w.send(2, 0, E.publish("t", b"p", qos=1, msgid=1), 2.2)
    nodup = w.send(2, 0, E.publish("t", b"p", qos=1, msgid=1), 2.3)
    assert notes(nodup) == ["retransmission_no_dup"]
    reused = w.send(2, 0, E.publish("u", b"q", qos=1, msgid=1), 2.4)
    assert notes(reused) == ["msgid_in_use"]
    stray = w.send(2, 1, E.puback(77), 2.5)
    assert notes(stray) == ["no_request"]
    w.send(2, 0, E.subscribe(3, [("a", 0), ("b", 1)]), 2.6)
    bad = w.send(2, 1, E.suback(3, [0, 0x80]), 2.7)
    assert notes(bad) == ["suback_failure"] and "b (" in bad.ann.notes[0][1]


def test_mqtt5_limits_and_disconnect_reason() -> None:
    w = Wire()
    w.send(0, 0, E.connect("v5", version=5, props={"receive_maximum": 1, "topic_alias_maximum": 2}), 0.0, 5)
    w.send(0, 1, E.connack(version=5, props={"receive_maximum": 1, "maximum_packet_size": 60}), 0.01, 5)
    w.send(0, 1, E.publish("a", b"1", qos=1, msgid=1, version=5), 0.1, 5)
    over = w.send(0, 1, E.publish("a", b"2", qos=1, msgid=2, version=5), 0.2, 5)
    assert notes(over) == ["receive_maximum_exceeded"]
    alias = w.send(0, 1, E.publish("b", b"3", version=5, props={"topic_alias": 3}), 0.3, 5)
    assert notes(alias) == ["topic_alias_maximum_exceeded"]
    big = w.send(0, 0, E.publish("c", b"z" * 80, version=5), 0.4, 5)
    assert notes(big) == ["maximum_packet_size_exceeded"]
    bye = w.send(0, 1, E.disconnect(version=5, reason=0x8E), 0.5, 5)
    assert notes(bye) == ["disconnect_error"] and "Session taken over" in bye.ann.notes[0][1]


def test_odd_input_never_raises_nor_pairs_wrongly() -> None:
    """Random orders, duplicates and drops of a real exchange: every pair made is a true pair."""
    script = [
        (0, E.connect("r")),
        (1, E.connack()),
        (0, E.subscribe(1, [("s", 1)])),
        (1, E.suback(1, [1])),
        *[(0, E.publish("p", bytes([i]), qos=1 + i % 2, msgid=10 + i)) for i in range(6)],
        *[(1, (E.puback if i % 2 == 0 else E.pubrec)(10 + i)) for i in range(6)],
        *[(0, E.pubrel(10 + i)) for i in range(1, 6, 2)],
        *[(1, E.pubcomp(10 + i)) for i in range(1, 6, 2)],
        (0, E.pingreq()),
        (1, E.pingresp()),
        (0, E.disconnect()),
    ]
    # the true request of each response, by script index
    truth = {1: 0, 3: 2}
    for i in range(6):
        truth[10 + i] = 4 + i
    for k, i in enumerate(range(1, 6, 2)):
        truth[16 + k] = 10 + i  # PUBREL answers the PUBREC
        truth[19 + k] = 16 + k  # PUBCOMP answers the PUBREL
    truth[23] = 22
    rng = random.Random(7)
    for _ in range(300):
        order = list(range(len(script)))
        rng.shuffle(order)
        order = [i for i in order if rng.random() > 0.15]
        order += rng.sample(order, min(3, len(order)))  # duplicates
        w = Wire()
        frame_of: dict[int, int] = {}
        index_of: dict[int, int] = {}
        for n, i in enumerate(order):
            p = w.send(0, script[i][0], script[i][1], float(n))
            frame_of.setdefault(i, w.frame)
            index_of[w.frame] = i
            if p.ann is not None and p.ann.response_to:
                req = index_of[p.ann.response_to]
                assert truth.get(i) == req, (order, i, req)
        w.close(0, 0, 99.0, rst=True)

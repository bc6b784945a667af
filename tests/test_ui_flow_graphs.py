"""The Flow (F) and Graphs (i) views: Pilot tests fed by an in-memory source, and snapshots.

The capture is generated here (sniffer.synth: TcpFlow) with QoS 1 and QoS 2 flows whose times the
test chooses, so every expected value (the arrows, the acknowledgement times, the counts per second,
median and p95) comes from what the test sent, not from the code under test.
"""

from __future__ import annotations

import math
import re

from sniffer.mqtt import constants as C
from sniffer.stats.rates import RateStat
from sniffer.synth import mqtt_encode as m
from sniffer.synth.flows import TcpFlow
from sniffer.synth.pcap_write import FrameList
from sniffer.ui.flow import FlowGraph, FlowScreen
from sniffer.ui.graphs import GraphsScreen
from sniffer.ui.screens import HelpScreen
from tests.ui_helpers import StoreSpy, make_app, palette_run, run, settle, wait_for

T0 = 1_700_000_000_000_000  # µs
CLIENT = ("192.168.1.20", 50000)
EVIL_TOPIC = "evil/\x1b[31m[bold]red"
DEMO_CLIENT = "GH-TH01-5C3A|securemode=3,signmethod=hmacsha1,timestamp=1716969600000|"  # the demo's device


class Capture:
    """A generated capture and what the test knows of it: per PDU sent (time s, side, type, id)."""

    def __init__(self, bulk: int = 0, reconnect: bool = False, second: str = "dev-2") -> None:
        self.sink = FrameList()
        self.sent: list[tuple[float, int, int, int]] = []  # (time in s, side, msgtype, msgid) of connection 0
        self.acks: list[float] = []  # acknowledgement times the test chose (seconds)
        self.publishes: dict[str, list[float]] = {}  # topic -> times of its PUBLISHes
        self.pdu_times: list[float] = []  # every PDU of the capture
        self.last = 0
        self.conn_pdus: dict[int, int] = {}  # connection -> PDUs sent on it
        f = TcpFlow(self.sink, CLIENT)
        t = f.open(T0)
        t = self.send(f, 0, m.connect("dev-1", 4), t + 1000, C.CONNECT, 0)
        t = self.send(f, 1, m.connack(0), t + 12_000, C.CONNACK, 0, ack_of=self.last)
        # QoS 1 then QoS 2 on a topic, a second apart each, with chosen acknowledgement delays
        for k, delay in enumerate((7_000, 31_000, 18_000)):
            start = t + 1_000_000
            t = self.send(f, 0, m.publish("a/t", b"x", qos=1, msgid=10 + k), start, C.PUBLISH, 10 + k, "a/t")
            t = self.send(f, 1, m.puback(10 + k), start + delay, C.PUBACK, 10 + k, ack_of=start)
        start = t + 1_000_000
        t = self.send(f, 0, m.publish("b/q2", b"yy", qos=2, msgid=20), start, C.PUBLISH, 20, "b/q2")
        rec = start + 44_000
        t = self.send(f, 1, m.pubrec(20), rec, C.PUBREC, 20, ack_of=start)
        rel = rec + 2_000
        t = self.send(f, 0, m.pubrel(20), rel, C.PUBREL, 20)
        t = self.send(f, 1, m.pubcomp(20), rel + 9_000, C.PUBCOMP, 20, ack_of=rel)
        # two deliveries coalesced in one segment: two arrows from one frame
        t = self.send(
            f, 1, [m.publish("c/two", b"1"), m.publish("c/two", b"2")], t + 5_000, C.PUBLISH, -1, "c/two", n=2
        )
        # a topic whose name carries an escape sequence and markup (QoS 0: no answer)
        t = self.send(f, 1, m.publish(EVIL_TOPIC, b"z"), t + 5_000, C.PUBLISH, -1, EVIL_TOPIC)
        for k in range(bulk):  # many QoS 1 flows, for scrolling
            start = t + 3_000
            t = self.send(f, 0, m.publish("bulk", b"b", qos=1, msgid=1000 + k), start, C.PUBLISH, 1000 + k, "bulk")
            t = self.send(f, 1, m.puback(1000 + k), start + 1_500, C.PUBACK, 1000 + k, ack_of=start)
        self.first_stream_end = t
        # a second connection (another client), after the first
        g = TcpFlow(self.sink, ("192.168.1.21", 50001))
        u = g.open(t + 10_000)
        u = self.send(g, 0, m.connect(second, 4), u + 1000, C.CONNECT, 0, conn=1)
        u = self.send(g, 1, m.connack(0), u + 3_000, C.CONNACK, 0, ack_of=self.last, conn=1)
        self.send(g, 0, m.pingreq(), u + 500_000, C.PINGREQ, 0, conn=1)
        u = self.send(g, 1, m.pingresp(), u + 502_500, C.PINGRESP, 0, ack_of=u + 500_000, conn=1)
        u = g.close(u + 1_000)  # FIN, FIN, ACK: frames after the connection's last PDU
        if reconnect:  # dev-1 again, on a new connection (client mode of the Flow view)
            h = TcpFlow(self.sink, ("192.168.1.20", 50002))
            v = h.open(u + 10_000)
            v = self.send(h, 0, m.connect("dev-1", 4), v + 1000, C.CONNECT, 0, conn=2)
            self.send(h, 1, m.connack(0), v + 2_000, C.CONNACK, 0, ack_of=self.last, conn=2)
        self.records = [(ts / 1e6, fr, len(fr), 1) for ts, fr in self.sink.frames_list]

    def send(self, flow, side, pdu, t, msgtype, msgid, topic=None, ack_of=None, conn=0, n=1) -> int:
        """Send `pdu` (or n coalesced PDUs of one type) at t µs and note what the test knows of it."""
        secs = t / 1e6
        self.last = t  # the time of the PDU's frame
        self.conn_pdus[conn] = self.conn_pdus.get(conn, 0) + n
        for _ in range(n):
            if conn == 0:
                self.sent.append((secs, side, msgtype, msgid))
            if topic is not None:
                self.publishes.setdefault(topic, []).append(secs)
            self.pdu_times.append(secs)
        if ack_of is not None:
            self.acks.append((t - ack_of) / 1e6)
        return flow.send(side, pdu, t, ack=False)


def nearest_rank(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[max(math.ceil(p / 100 * len(v)), 1) - 1]


def middle(values: list[float]) -> float:
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def per_second(times: list[float], first: float) -> list[int]:
    out = [0] * (int(max(times) - first) + 1)
    for t in times:
        out[int(t - first)] += 1
    return out


def screen_lines(graph: FlowGraph) -> list[str]:
    return ["".join(s.text for s in graph.render_line(y)) for y in range(graph.scrollable_content_region.height)]


async def open_flow(app, pilot, row: int) -> FlowScreen:
    assert app.plist.select_row(row)
    await pilot.pause()
    await pilot.press("F")
    await wait_for(pilot, lambda: isinstance(app.screen, FlowScreen), what="the Flow view")
    await pilot.pause()
    return app.screen


def test_flow_arrows_ack_times_and_enter_selects_the_frame():
    cap = Capture()
    first = cap.records[0][0]

    async def go():
        app = make_app(cap.records, name="qos.pcap")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot, len(cap.records))
            screen = await open_flow(app, pilot, 3)  # the CONNECT
            graph = screen.query_one(FlowGraph)
            lines = [ln for ln in screen_lines(graph) if ln.strip()]
            assert len(lines) == len(cap.sent)  # one arrow per PDU of the connection, none of the other
            names = {C.CONNECT: "CONNECT", C.CONNACK: "CONNACK", C.PUBLISH: "PUBLISH", C.PUBACK: "PUBACK",
                     C.PUBREC: "PUBREC", C.PUBREL: "PUBREL", C.PUBCOMP: "PUBCOMP"}  # fmt: skip
            for line, (secs, side, msgtype, msgid) in zip(lines, cap.sent, strict=True):
                assert f"{secs - first:.6f}" in line  # in order, each at its time
                assert names[msgtype] in line and (msgid < 0 or msgid == 0 or f"id={msgid}" in line)
                assert ("▶│" in line) == (side == 0) and ("│◀" in line) == (side == 1)
            # the ack time on each response arrow: PUBACKs, PUBREC, PUBCOMP, CONNACK
            responses = [ln for ln in lines if any(w in ln for w in ("CONNACK", "PUBACK", "PUBREC", "PUBCOMP"))]
            for line, ack in zip(responses, cap.acks, strict=False):
                assert f"{ack:.6f} s" in line
            # the topic with an escape sequence and markup is shown escaped, literally
            evil = next(ln for ln in lines if "evil/" in ln)
            assert "\x1b" not in "".join(lines) and "evil/\\033[31m[bold]red" in evil
            # Enter on the first PUBACK selects its frame in the packet list
            puback = next(k for k, ln in enumerate(lines) if "PUBACK" in ln)
            number = int(lines[puback].split()[0])
            await pilot.press("g", *["j"] * puback, "enter")
            await wait_for(pilot, lambda: not isinstance(app.screen, FlowScreen), what="the view to close")
            assert app.selected_row == number - 1

    run(go())


def test_flow_opens_on_the_selected_frames_arrow():
    cap = Capture()

    async def go():
        app = make_app(cap.records, name="qos.pcap")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot, len(cap.records))
            pubrec = next(k for k, r in enumerate(cap.records) if r[1].endswith(m.pubrec(20)))
            screen = await open_flow(app, pilot, pubrec)
            graph = screen.query_one(FlowGraph)
            assert graph.lines.rows[graph.cursor] == pubrec
            await pilot.press("escape")
            # the last frame is the second connection's closing ACK: the cursor goes to its last arrow
            screen = await open_flow(app, pilot, len(cap.records) - 1)
            graph = screen.query_one(FlowGraph)
            assert len(graph.lines) == 4 and graph.cursor == 3
            assert "PINGRESP" in graph.line_text(graph.cursor, 100)[0]
            assert 'client "dev-2" (192.168.1.21:50001) ↔ broker 10.0.0.1:1883' in str(
                screen.query_one("#flow-title").render()
            )

    run(go())


def test_flow_title_escapes_the_client_id_and_hidden_frames_are_not_selected():
    cap = Capture(second="\x1b[2J[red]evil\u202e")

    async def go():
        app = make_app(cap.records, name="evil.pcap")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot, len(cap.records))
            screen = await open_flow(app, pilot, len(cap.records) - 1)
            title = str(screen.query_one("#flow-title").render())
            assert 'client "\\033[2J[red]evil\\u202E"' in title and "\x1b" not in title and "\u202e" not in title
            await pilot.press("escape")
            # a display filter hides the PUBACKs: Enter on one leaves the selection and says why
            await pilot.press("slash", *"mqtt.msgtype == 3", "enter")
            await settle(app, pilot)
            assert app.filter_text and 0 < app.plist.count < len(cap.records)
            said = []
            real = app.notify
            app.notify = lambda message, **kw: said.append(message) or real(message, **kw)
            before = app.selected_row
            screen = await open_flow(app, pilot, before)
            graph = screen.query_one(FlowGraph)
            puback = next(k for k in range(len(graph.lines)) if "PUBACK" in graph.line_text(k, 120)[0])
            graph.cursor = puback
            await pilot.press("enter")
            await wait_for(pilot, lambda: not isinstance(app.screen, FlowScreen), what="the view to close")
            assert app.selected_row == before
            assert any("not displayed" in m for m in said)

    run(go())


def test_flow_of_a_client_spans_its_connections():
    cap = Capture(reconnect=True)

    async def go():
        app = make_app(cap.records, name="reconnect.pcap")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot, len(cap.records))
            screen = await open_flow(app, pilot, 2)  # the handshake's last ACK: a frame that names no client
            graph = screen.query_one(FlowGraph)
            assert len(graph.lines) == cap.conn_pdus[0]
            await pilot.press("c")
            assert len(graph.lines) == cap.conn_pdus[0] + cap.conn_pdus[2]  # not dev-2's connection
            title = str(screen.query_one("#flow-title").render())
            assert 'client "dev-1"' in title and "2 connections (tcp.stream 0, 2)" in title
            await pilot.press("end")
            assert "[stream 2]" in graph.line_text(graph.cursor, 120)[0]
            await pilot.press("c")
            assert len(graph.lines) == cap.conn_pdus[0]

    run(go())


def test_flow_scrolls_thousands_rebuilding_only_visible_frames():
    cap = Capture(bulk=1500)

    async def go():
        app = make_app(cap.records, name="bulk.pcap")
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot, len(cap.records))
            built: list[int] = []
            app.store = StoreSpy(app.store, ("frame",), built)  # the rows the view rebuilds
            screen = await open_flow(app, pilot, 3)
            graph = screen.query_one(FlowGraph)
            assert len(graph.lines) == len(cap.sent) > 3000
            await pilot.press("end")
            await pilot.pause()
            last = screen_lines(graph)[-1]
            assert "PUBACK id=2499" in last
            await pilot.press("pageup", "pageup", "home")
            await pilot.pause()
            assert "CONNECT" in screen_lines(graph)[0]
            assert len(built) < 150  # a few screens' frames, not the connection's thousands

    run(go())


def test_flow_and_graphs_update_live():
    cap = Capture()
    recs = cap.records
    # up to the first QoS 1 PUBLISH of connection 0 (its PUBACK not yet captured)
    cut = next(k for k, r in enumerate(recs) if b"a/t" in r[1]) + 1

    async def go():
        app = make_app(recs[:cut], live=True, name="live")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot, cut)
            screen = await open_flow(app, pilot, 3)
            graph = screen.query_one(FlowGraph)
            assert len(graph.lines) == 3  # CONNECT, CONNACK, PUBLISH
            assert "→" not in screen_lines(graph)[2]  # its response is not known yet
            app.source.push(recs[cut:])
            await wait_for(pilot, lambda: len(graph.lines) == len(cap.sent), what="the new arrows")
            await wait_for(pilot, lambda: "→ " in screen_lines(graph)[2], what="the PUBLISH's response_in")
            await pilot.press("escape")
            await pilot.press("i")
            await wait_for(pilot, lambda: isinstance(app.screen, GraphsScreen), what="the Graphs view")
            graphs = app.screen
            await wait_for(pilot, lambda: len(graphs.data[2]) == len(cap.acks), what="the ack times")

    run(go())


def test_graphs_counts_median_and_p95():
    cap = Capture()
    first = cap.records[0][0]

    async def go():
        app = make_app(cap.records, name="qos.pcap")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot, len(cap.records))
            assert app.plist.select_row(next(k for k, r in enumerate(cap.records) if b"a/t" in r[1]))
            await pilot.press("i")
            await wait_for(pilot, lambda: isinstance(app.screen, GraphsScreen), what="the Graphs view")
            screen = app.screen
            await wait_for(pilot, lambda: screen.fed == len(cap.records), what="the rows fed")
            per_all, per_pub, times = screen.data
            assert per_all == per_second(cap.pdu_times, first)
            pubs = [t for ts in cap.publishes.values() for t in ts]
            want_pub = per_second(pubs, first)
            assert per_pub == want_pub + [0] * (len(per_all) - len(want_pub))
            assert [round(t, 6) for t in times] == sorted(round(a, 6) for a in cap.acks)
            text = str(screen.query_one("#graphs-acks").render())
            med, p95 = middle(cap.acks), nearest_rank(cap.acks, 95)
            assert f"median {med * 1000:.3f} ms" in text and f"p95 {p95 * 1000:.3f} ms" in text
            assert f"{len(cap.acks)}" in text
            # s: the selected frame's topic only
            await pilot.press("s")
            await wait_for(pilot, lambda: screen.scope == "topic" and screen.fed == len(cap.records), what="topic")
            want = per_second(cap.publishes["a/t"], first)
            got = screen.data[0]
            assert got[: len(want)] == want and not any(got[len(want) :])
            assert 'topic "a/t"' in str(screen.query_one("#graphs-title").render())

    run(go())


def test_rate_stat_headless_matches_the_frames():
    from tests.ui_helpers import Dissector  # the real dissector, annotated by the tracker

    cap = Capture()
    d = Dissector()
    stat = RateStat()
    for n, (ts, data, ol, lt) in enumerate(cap.records, 1):
        stat.frame(d.frame(n, ts, lt, data, ol))
    first = cap.records[0][0]
    assert stat.per_second() == per_second(cap.pdu_times, first)
    assert [round(t, 6) for t in stat.ack_times()] == sorted(round(a, 6) for a in cap.acks)
    text = stat.render(0.0)
    assert f"median {middle(cap.acks):.6f}" in text and f"p95 {nearest_rank(cap.acks, 95):.6f}" in text
    assert "\x1b" not in RateStat(topic=EVIL_TOPIC).render(0.0)


def stored(recs):
    """A PacketStore fed by the real dissector (responses filled in by the tracker's backfill), as the UI's."""
    from sniffer.store import PacketStore
    from tests.ui_helpers import Dissector

    d = Dissector()
    d.tracker.record = True
    store = PacketStore()
    store.backfill = d.tracker.backfill
    for n, (ts, data, ol, lt) in enumerate(recs, 1):
        store.add(d.frame(n, ts, lt, data, ol))
    return store


def test_graphs_row_feeder_counts_what_the_frames_say():
    """The Graphs view reads types and topics from the store's columns; the counts are those of
    RateStat.frame on the rebuilt frames, in every scope (and split across live feeds)."""
    from sniffer.ui.graphs import RowFeeder
    from tests.ui_helpers import DEMO, records

    cap = Capture(reconnect=True)
    cases = ((cap.records, [(None, None), ("a/t", None), (EVIL_TOPIC, None), (None, "dev-1"), ("nope", None),
                            (None, "nope")]),
             (records(DEMO), [(None, None), (None, DEMO_CLIENT)]))  # fmt: skip
    for recs, scopes in cases:
        store = stored(recs)
        for topic, client in scopes:
            by_frames = RateStat(topic, client)
            for i in range(store.count):
                by_frames.frame(store.frame(i))
            by_rows = RateStat(topic, client)
            feeder = RowFeeder(store, by_rows)
            half = store.count // 2
            feeder.feed(0, half)
            feeder.feed(half, store.count)
            assert by_rows.per_second() == by_frames.per_second()
            assert by_rows.per_second(True) == by_frames.per_second(True)
            assert by_rows.ack_times() == by_frames.ack_times()
    # and against the test's own times: the PUBLISHes of a/t per second, dev-1's acknowledgements
    store = stored(cap.records)
    stat = RateStat(topic="a/t")
    RowFeeder(store, stat).feed(0, store.count)
    assert stat.per_second() == per_second(cap.publishes["a/t"], cap.records[0][0])
    stat = RateStat(client="dev-2")
    RowFeeder(store, stat).feed(0, store.count)
    assert [round(t, 6) for t in stat.ack_times()] == sorted(round(a, 6) for a in cap.acks[-3:-1])


def test_views_open_on_an_empty_capture_and_from_palette_and_help():
    async def go():
        app = make_app([], name="empty.pcap")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, 0)
            await pilot.press("F")
            await wait_for(pilot, lambda: isinstance(app.screen, FlowScreen), what="the Flow view")
            assert "no TCP connection selected" in str(app.screen.query_one("#flow-title").render())
            await pilot.press("enter", "end", "escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, FlowScreen), what="closed")
            await pilot.press("i")
            await wait_for(pilot, lambda: isinstance(app.screen, GraphsScreen), what="the Graphs view")
            await pilot.press("m", "s")
            await pilot.pause(0.6)
            assert app.screen.data == ([], [], [])
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, GraphsScreen), what="closed")
            await palette_run(pilot, "Flow graph")
            assert isinstance(app.screen, FlowScreen)
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, FlowScreen), what="closed")
            await palette_run(pilot, "Graphs")
            assert isinstance(app.screen, GraphsScreen)
            await pilot.press("escape", "question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
            text = str(app.screen.query_one(".keys").query_one("Static").render())
            assert "flow graph" in text and "graphs" in text
            # with the new keys the list scrolls, and the dialog still fits 80x24 with its last line
            last = list(app.screen.query("Label"))[-1]
            box = last.parent.region  # the dialog, its border included
            assert "Esc closes" in str(last.render()) and box.bottom <= 24 and last.region.bottom <= box.bottom - 1

    run(go())


# -- snapshots (demo capture), dark and light ---------------------------------------------------------
async def _demo_ready(pilot) -> None:
    app = pilot.app
    app.filter_bar.cursor_blink = False
    await settle(app, pilot, 53)


def _flow_snapshot(theme: str):
    async def run_before(pilot):
        await _demo_ready(pilot)
        if theme == "light":
            await pilot.press("t")
        await open_flow(pilot.app, pilot, 10)

    return run_before


def _graphs_snapshot(theme: str):
    async def run_before(pilot):
        app = pilot.app
        await _demo_ready(pilot)
        if theme == "light":
            await pilot.press("t")
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, GraphsScreen) and app.screen.fed == 53, what="graphs")
        await pilot.pause()

    return run_before


def test_flow_snapshot_dark(snap_compare):
    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=_flow_snapshot("dark"))


def test_flow_snapshot_light(snap_compare):
    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=_flow_snapshot("light"))


def test_graphs_snapshot_dark(snap_compare):
    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=_graphs_snapshot("dark"))


def test_graphs_snapshot_light(snap_compare):
    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=_graphs_snapshot("light"))


# -- a real terminal, a live capture, a real broker -------------------------------------------------------
def test_views_in_tmux_on_a_live_capture(tmp_path, root):
    """`mqttsniff -i lo` in tmux while paho publishes QoS 1 and 2 through mosquitto: F draws the flow of
    the selected connection, i the graphs, both from the frames as they arrive."""
    import sys

    import paho.mqtt.client as mqtt

    from tests.capture_helpers import Tmux
    from tests.conftest import REPO, require_tool, start_broker

    require_tool("mosquitto")
    with start_broker(tmp_path) as broker:
        cmd = (f"cd {REPO} && PYTHONPATH={REPO} {sys.executable} -m sniffer -i lo -f 'tcp port {broker.port}'"
               " ; echo EXITED $? ; sleep 30")  # fmt: skip
        t = Tmux(cmd, name="flowgraphs", forbid=("Traceback",))
        try:
            t.wait_for(lambda s: "capturing" in s)
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="tmux-flow", protocol=mqtt.MQTTv311)
            c.connect("127.0.0.1", broker.port, keepalive=30)
            c.loop_start()
            for i in range(3):
                c.publish("tmux/q2", f"m{i}", qos=2).wait_for_publish(5)
                c.publish("tmux/q1", f"n{i}", qos=1).wait_for_publish(5)
            t.wait_for(lambda s: "Publish Complete (id=5)" in s and "Publish Ack (id=6)" in s)
            t.keys("g", "j", "j", "j")  # the CONNECT (after the handshake)
            t.keys("F")
            screen = t.wait_for(lambda s: 'client "tmux-flow"' in s and "PUBCOMP id=5" in s)
            assert "PUBLISH q2 id=1" in screen and "PUBREC id=1" in screen and "PUBREL id=1" in screen
            assert "PUBLISH q1 id=6" in screen and "PUBACK id=6" in screen
            # the ack time on the PUBACK arrow, the flow time on the PUBCOMP
            puback = next(ln for ln in screen.splitlines() if "PUBACK id=6" in ln)
            assert " s" in puback.split("ack of", 1)[1]
            # (any time: a loaded machine takes more than the 0.1 s "flow 0.0" once assumed)
            assert re.search(r"flow \d+\.\d{6} s", next(ln for ln in screen.splitlines() if "PUBCOMP id=5" in ln))
            # live: a new PUBLISH appears in the open view
            c.publish("tmux/q1", "late", qos=1).wait_for_publish(5)
            t.wait_for(lambda s: "PUBACK id=7" in s)
            t.keys("Escape")  # (alone: Escape and a key in one burst is the terminal's Alt+key)
            t.wait_for(lambda s: "Flow of" not in s)
            t.keys("i")
            screen = t.wait_for(lambda s: "Acknowledgement times" in s and "p95" in s and "median -" not in s)
            assert "MQTT packets per second" in screen
            c.disconnect()
            c.loop_stop()
            t.keys("Escape")
            t.wait_for(lambda s: "Acknowledgement times" not in s)
            t.keys("q")
            t.wait_for(lambda s: "not saved" in s)
            t.keys("y")
            assert "EXITED 0" in t.wait_for(lambda s: "EXITED" in s)
        finally:
            t.close()

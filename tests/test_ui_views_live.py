"""The views (Clients, Topics, Expert, Flow, Graphs) on a live capture: the Graphs view fed by the
session model as frames arrive, the packet-list keys asleep while a view is on top (Pilot), and the
whole UI in tmux on `lo` with real mosquitto and paho traffic.
"""

from __future__ import annotations

import sys
import time

import pytest
from textual.widgets._footer import FooterKey

from sniffer.ui.flow import FlowScreen
from sniffer.ui.graphs import GraphsScreen
from sniffer.ui.screens import QuitScreen, SaveScreen
from sniffer.ui.views_clients import ClientsView
from sniffer.ui.views_expert import ExpertView
from sniffer.ui.views_topics import TopicsView
from tests.test_ui_flow_graphs import Capture, per_second
from tests.ui_helpers import StoreSpy, make_app, run, settle, wait_for

# -- Graphs from the session model ---------------------------------------------------------------------


def test_graphs_of_everything_come_from_the_model_without_reading_the_store():
    """The whole capture's counts and ack times are the session model's, fed per batch: opening the view
    and following a live capture read no stored row; a topic's scope (not kept by the model) still does."""
    cap = Capture()
    recs = cap.records
    first = recs[0][0]
    cut = next(k for k, r in enumerate(recs) if b"a/t" in r[1]) + 1
    reads: list[str] = []

    async def go():
        app = make_app(recs[:cut], live=True, name="live")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot, cut)
            # the two ways a scan reads stored rows, counted on the store: the list's and the loader's (a
            # scope's rows are read from the loader's newest store)
            spy = StoreSpy(app.store, ("frame_reader", "frames"), reads)
            with app.loader.lock:
                app.store = app.loader.store = app.loader.view.store = spy
            assert app.plist.select_row(cut - 1)  # the first PUBLISH of "a/t"
            await pilot.press("i")
            await wait_for(pilot, lambda: isinstance(app.screen, GraphsScreen), what="the Graphs view")
            screen = app.screen
            await wait_for(pilot, lambda: screen.fed == cut, what="the first rows counted")
            app.source.push(recs[cut:])
            await wait_for(pilot, lambda: screen.fed == len(recs), what="the live rows counted")
            per_all, per_pub, times = screen.data
            assert per_all == per_second(cap.pdu_times, first)
            pubs = per_second([t for ts in cap.publishes.values() for t in ts], first)
            assert per_pub == pubs + [0] * (len(per_all) - len(pubs))
            assert [round(t, 6) for t in times] == sorted(round(a, 6) for a in cap.acks)
            assert reads == []  # nothing read back from the store
            await pilot.press("s")  # the selected frame's topic: the fallback scan of the store
            await wait_for(pilot, lambda: screen.scope == "topic" and screen.fed == len(recs), what="topic")
            want = per_second(cap.publishes["a/t"], first)
            assert screen.data[0][: len(want)] == want and not any(screen.data[0][len(want) :])
            assert "frame_reader" in reads

    run(go())


# -- the packet list's keys under a view -----------------------------------------------------------------

# the app's keys a view keeps (besides its own): help, quit, the theme, and the keys opening views
VIEW_KEEPS = {"help", "quit_app", "toggle_theme", "clients", "topics", "expert", "flow_graph", "graphs"}


@pytest.mark.parametrize("key", ["c", "o", "e", "F", "i"])
def test_a_view_shows_only_its_keys_and_the_packet_keys_do_nothing(key):
    async def go():
        app = make_app(live=True, name="live")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot, 53)
            assert app.plist.select_row(10)
            await pilot.press(key)
            kinds = {"c": ClientsView, "o": TopicsView, "e": ExpertView, "F": FlowScreen, "i": GraphsScreen}
            view = kinds[key]
            await wait_for(pilot, lambda: isinstance(app.screen, view), what=view.__name__)
            await pilot.pause()
            screen = app.screen
            shown = {k.action for k in screen.query(FooterKey)}
            own = {b.action for b in screen.BINDINGS if b.show}
            app_keys = {b.action for b in app.BINDINGS}
            # the view's own keys are shown; of the app's, only help/quit-like ones
            assert own <= shown, shown
            assert not {a for a in shown if a in app_keys} - VIEW_KEEPS, shown
            assert "help" in shown and "app.quit_app" in shown  # Help and Quit (ctrl+c: q closes the view)
            # nor does the command palette offer them (it lists the app's keys by their description)
            titles = [c.title for c in app.get_system_commands(screen)]
            asleep = [b.description for b in app.BINDINGS if b.action not in VIEW_KEEPS | {"quit_app"}]
            assert not [t for t in titles if t.split(" (")[0] in asleep], titles
            assert not [t for t in titles if t.startswith(("Time display", "First packet", "Clear display filter"))]
            assert any(t.startswith("Help") for t in titles)
            # the packet list's keys act on nothing while the view is on top
            row, bottom, n = app.plist.selected_row, app.bottom.current, len(app.screen_stack)
            time_mode = app.plist.time_mode
            for k in ("f", "p", "w", "space", "v", "T", "a", "ctrl+g", "slash"):
                await pilot.press(k)
                await pilot.pause()
                assert app.screen is screen, k  # no dialog (Save, Go to frame) opened
            assert not app.paused
            assert app.filter_text == "" and app.filter_bar.value == ""  # f (Follow), a (Apply) did nothing
            assert app.bottom.current == bottom and app.payload_mode == "auto"  # p, v
            assert app.plist.time_mode == time_mode  # T
            assert app.plist.selected_row == row and len(app.screen_stack) == n
            assert not any(isinstance(s, SaveScreen) for s in app.screen_stack)
            # the footer's Quit asks, as q does on the packet list; "n" stays in the view
            await pilot.press("ctrl+c")
            await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen), what="the quit question")
            await pilot.press("n")
            await wait_for(pilot, lambda: app.screen is screen, what="the view again")
            # back on the packet list the keys work again
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, view), what="closed")
            await pilot.press("space")
            await wait_for(pilot, lambda: app.paused, what="paused")

    run(go())


# -- a real terminal, a live capture, a real broker ------------------------------------------------------


class Peer:
    """A paho client on the test's broker that never reconnects by itself (a taken-over connection must
    stay closed, not fight back for its client id)."""

    def __init__(self, port: int, cid: str) -> None:
        import paho.mqtt.client as mqtt

        self.c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv311, reconnect_on_failure=False
        )
        self.got: list[str] = []
        self.subacks: set[int] = set()
        self.c.on_message = lambda _c, _u, msg: self.got.append(msg.topic)
        self.c.on_subscribe = lambda _c, _u, mid, *_: self.subacks.add(mid)
        # keepalive: no PINGREQ within the test however slow the machine (the Graphs count checks exact acks)
        self.c.connect("127.0.0.1", port, keepalive=600)
        self.c.loop_start()
        _wait(self.c.is_connected, f"{cid} connected")

    def subscribe(self, topic: str) -> None:
        """Subscribed once the SUBACK is in: a PUBLISH the broker handles before would not be delivered."""
        _, mid = self.c.subscribe(topic, qos=1)
        _wait(lambda: mid in self.subacks, f"{topic} SUBACK")

    def publish(self, topic: str, payload: str) -> None:
        self.c.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        if self.c.is_connected():
            self.c.disconnect()
        self.c.loop_stop()


def _wait(cond, what: str, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_each_view_by_its_key_on_a_live_capture_in_tmux(tmp_path, root):
    """`mqttsniff -i lo` in tmux while paho clients talk through mosquitto: a QoS 1 subscriber and
    publisher, and a client id taken over by a second connection. c, o, e, F and i open the views; each
    shows what the traffic did, and traffic arriving while a view is open appears in it."""
    import paho.mqtt.client as mqtt  # noqa: F401  (fails here, not in a thread, when paho is missing)

    from tests.capture_helpers import Tmux
    from tests.conftest import REPO, require_tool, start_broker

    require_tool("mosquitto")
    peers: list[Peer] = []
    with start_broker(tmp_path) as broker:
        cmd = (f"cd {REPO} && PYTHONPATH={REPO} {sys.executable} -m sniffer -i lo -f 'tcp port {broker.port}'"
               " ; echo EXITED $? ; sleep 30")  # fmt: skip
        t = Tmux(cmd, name="liveviews", forbid=("Traceback",))
        try:
            t.wait_for(lambda s: "capturing" in s)
            sub = Peer(broker.port, "lv-sub")
            peers.append(sub)
            sub.subscribe("lv/#")
            pub = Peer(broker.port, "lv-pub")
            peers.append(pub)
            for i in range(3):
                pub.publish("lv/temp", f"{20 + i}")
            _wait(lambda: len(sub.got) == 3, "the deliveries")
            first = Peer(broker.port, "lv-dup")
            peers.append(first)
            second = Peer(broker.port, "lv-dup")  # the broker closes the first connection
            peers.append(second)
            _wait(lambda: not first.c.is_connected(), "the takeover")

            # Clients: one row per connection, the first lv-dup taken over
            t.keys("c")
            screen = t.wait_for(lambda s: "Clients" in s and "lv-dup" in s and "taken over" in s)
            assert "lv-sub" in screen and "lv-pub" in screen
            late = Peer(broker.port, "lv-late")  # a new connection while the view is open
            peers.append(late)
            t.wait_for(lambda s: "lv-late" in s)
            t.keys("Escape")
            t.wait_for(lambda s: "Details" in s)  # the packet list again

            # Topics: the tree from the wire; a topic published while the view is open appears
            t.keys("o")
            screen = t.wait_for(lambda s: "Topics" in s and "▼ lv" in s and "temp" in s)
            assert "news" not in screen
            late.publish("late/news", "hello")
            t.wait_for(lambda s: "▼ late" in s and "news" in s and "hello" in s)
            t.keys("Escape")
            t.wait_for(lambda s: "Details" in s)  # the packet list again

            # Expert information: the takeover notes
            t.keys("e")
            screen = t.wait_for(lambda s: "taken over" in s)
            t.keys("Escape")
            t.wait_for(lambda s: "Details" in s)  # the packet list again

            # Flow of the publisher's connection: arrows both ways, new PUBLISHes added live
            t.keys("g")
            t.keys("-l", '/mqtt.clientid == "lv-pub"')
            t.keys("Enter")
            t.wait_for(lambda s: "shown 1" in s)
            t.keys("F")
            screen = t.wait_for(lambda s: 'client "lv-pub"' in s and "PUBACK id=3" in s)
            lines = screen.splitlines()
            assert any("PUBLISH" in ln and "─▶│" in ln for ln in lines), screen  # client → broker
            assert any("PUBACK id=3" in ln and "│◀─" in ln for ln in lines), screen  # broker → client
            pub.publish("lv/temp", "late")
            t.wait_for(lambda s: "PUBACK id=4" in s)
            t.keys("Escape")
            t.wait_for(lambda s: "Details" in s)  # the packet list again

            # Graphs: the titles, and the acknowledgement count growing with new traffic
            t.keys("i")
            # acknowledged so far: a CONNACK per connection, the SUBACK, and each QoS 1 lv/temp PUBLISH
            # twice (the broker's PUBACK to lv-pub, lv-sub's to the broker), late/news once (no subscriber)
            acked = len(peers) + 1 + 2 * 4 + 1
            screen = t.wait_for(lambda s: "MQTT packets per second" in s and _acks(s) == acked)
            assert "no MQTT packets yet" not in screen and "median -" not in screen
            for i in range(3):
                pub.publish("lv/temp", f"again {i}")
            t.wait_for(lambda s: _acks(s) == acked + 2 * 3)
            t.keys("Escape")
            t.wait_for(lambda s: "Acknowledgement times" not in s)
            t.keys("q")
            t.wait_for(lambda s: "not saved" in s)
            t.keys("y")
            assert "EXITED 0" in t.wait_for(lambda s: "EXITED" in s)
        finally:
            for p in peers:
                p.close()
            t.close()


def _acks(screen: str) -> int:
    """The number of acknowledgement times the Graphs view says it has."""
    line = next((ln for ln in screen.splitlines() if "PINGRESP):" in ln), "PINGRESP): -1")
    return int(line.split("PINGRESP):", 1)[1].split()[0].replace(",", ""))

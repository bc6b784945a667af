"""The views (Clients, Topics, Expert, Flow, Graphs) on a live capture: the Graphs view fed by the
session model as frames arrive, the packet-list keys asleep while a view is on top (Pilot), and the
whole UI in tmux on `lo` with real mosquitto and paho traffic.
"""

from __future__ import annotations

import pytest
from textual.widgets._footer import FooterKey

from sniffer.ui.flow import FlowScreen
from sniffer.ui.graphs import GraphsScreen
from sniffer.ui.screens import SaveScreen
from sniffer.ui.views_clients import ClientsView
from sniffer.ui.views_expert import ExpertView
from sniffer.ui.views_topics import TopicsView
from tests.test_ui_flow_graphs import Capture, per_second
from tests.ui_helpers import make_app, run, settle, wait_for

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
            store = app.store
            for name in ("frame_reader", "frames"):  # the two ways a scan reads stored rows
                real = getattr(store, name)
                setattr(store, name, lambda *a, _n=name, _r=real: (reads.append(_n), _r(*a))[1])
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
            assert "help" in shown
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
            # back on the packet list the keys work again
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, view), what="closed")
            await pilot.press("space")
            await wait_for(pilot, lambda: app.paused, what="paused")

    run(go())

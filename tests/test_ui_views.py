"""Pilot tests of the session views: Clients (c), Topics (o), Expert information (e).

The capture is generated here with sniffer.synth (known content): a client whose keep-alive expires
with a QoS 1 message never acknowledged, a subscriber, a client id taken over by a second
connection, and a hostile client whose id, topic and payload carry Rich markup and terminal
control sequences. Expected frames and streams come from the dissector's own Frames (and the
filter engine), never from the UI.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import Static, Tree

from sniffer.filter import compile_filter
from sniffer.pipeline import Dissector
from sniffer.synth import mqtt_encode as E
from sniffer.synth.flows import TcpFlow
from sniffer.synth.pcap_write import FrameList
from sniffer.textesc import escape
from sniffer.ui.views_clients import COLUMNS, ClientsView, ClientTable
from sniffer.ui.views_common import REFRESH, filter_literal
from sniffer.ui.views_expert import ExpertView
from sniffer.ui.views_topics import TopicsView
from tests.ui_helpers import make_app, palette_run, run, settle, wait_for

T0 = 1_700_000_000_000_000
HOSTILE_ID = "[bold red]evil[/bold red]\x1b]0;pwned\x07"
HOSTILE_TOPIC = "[blink reverse]room\x1b[2Jx\u202e"  # one level: "[/...]" would split it
HOSTILE_PAYLOAD = b"[b]p[/b]\x1b[31m"


def scenario() -> list[tuple[float, bytes, int, int]]:
    """The records (ts, frame, orig_len, linktype) of five connections, in time order."""
    fl = FrameList()
    t = T0
    dev1 = TcpFlow(fl, client=("192.168.1.20", 50000))  # stream 0: keep-alive expires, one message unacked
    t = dev1.open(t)
    t = dev1.send(0, E.connect("dev-1", keepalive=2), t + 1000, ack=False)
    t = dev1.send(1, E.connack(), t + 2000)
    sub = TcpFlow(fl, client=("192.168.1.21", 50001))  # stream 1: subscribes to home/+/temp
    t = sub.open(t + 1000)
    t = sub.send(0, E.connect("sub-1"), t + 1000, ack=False)
    t = sub.send(1, E.connack(), t + 2000)
    t = sub.send(0, E.subscribe(1, [("home/+/temp", 1)]), t + 1000, ack=False)
    t = sub.send(1, E.suback(1, [1]), t + 2000)
    t = dev1.send(0, E.publish("home/kitchen/temp", b"21.5", qos=1, msgid=1), t + 1000)  # never acknowledged
    dev2 = TcpFlow(fl, client=("192.168.1.22", 50002))  # stream 2: taken over by stream 3
    t = dev2.open(t + 1000)
    t = dev2.send(0, E.connect("dev-2"), t + 1000, ack=False)
    t = dev2.send(1, E.connack(), t + 2000)
    t = dev2.send(0, E.publish("home/garage/door", b"open", retain=True), t + 1000)
    again = TcpFlow(fl, client=("192.168.1.22", 50003))  # stream 3: the same client id again
    t = again.open(t + 1000)
    t = again.send(0, E.connect("dev-2"), t + 1000, ack=False)
    t = again.send(1, E.connack(), t + 2000)
    t = dev2.close(t + 1000, side=1)  # the broker closes the old connection
    t = again.send(0, E.publish("office/light", b"on"), t + 1000)
    for topic in ("odd/+", "odd/+/deeper", "odd/plain"):  # a wildcard in a PUBLISH topic (a broken client)
        t = again.send(0, E.publish(topic, b"?"), t + 1000)
    evil = TcpFlow(fl, client=("192.168.1.66", 50004))  # stream 4: markup and escapes everywhere
    t = evil.open(t + 1000)
    t = evil.send(0, E.connect(HOSTILE_ID), t + 1000, ack=False)
    t = evil.send(1, E.connack(), t + 2000)
    t = evil.send(0, E.publish(HOSTILE_TOPIC, HOSTILE_PAYLOAD), t + 1000)
    t = dev1.close(T0 + 4_000_000, side=1)  # 4 s after dev-1 last spoke: keep-alive 2 s (3 s allowed)
    frames = sorted(fl.frames_list, key=lambda x: x[0])
    return [(ts / 1e6, data, len(data), 1) for ts, data in frames]


RECORDS = scenario()
_d = Dissector()
FRAMES = [_d.frame(n, ts, lt, data, ol) for n, (ts, data, ol, lt) in enumerate(RECORDS, 1)]


def frames_with_note(key: str) -> list[int]:
    """Frames whose MQTT PDUs or closing segment carry the session note `key` (the dissector's view)."""
    out = []
    for f in FRAMES:
        keys = {k for p in f.pdus or () if p.ann is not None for k, _m in p.ann.notes}
        if f.seg is not None and f.seg.session_notes:
            keys |= {k for k, _m in f.seg.session_notes}
        if key in keys:
            out.append(f.number)
    return out


def matching(expr: str) -> list[int]:
    """Frame numbers the display filter `expr` keeps, by the filter engine on the dissector's Frames."""
    pred = compile_filter(expr)
    return [f.number for f in FRAMES if pred.matches(f)]


def labels(tree: Tree) -> dict[str, object]:
    """Every node's plain label text -> its data."""
    out: dict[str, object] = {}
    stack = list(tree.root.children)
    while stack:
        n = stack.pop()
        out[str(n.label)] = n.data
        stack.extend(n.children)
    return out


def node_of(tree: Tree, pred):
    stack = list(tree.root.children)
    while stack:
        n = stack.pop()
        if pred(n):
            return n
        stack.extend(n.children)
    raise AssertionError("no such node")


def shown(tree: Tree, node) -> Text:
    """The node's line as the tree draws it."""
    return tree.render_label(node, Style(), Style())


def reveal(node) -> None:
    """Open the node's ancestors, so the tree's cursor can reach it."""
    parent = node.parent
    while parent is not None:
        parent.expand()
        parent = parent.parent


async def open_view(app, pilot, key: str, cls):
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, cls) and app.screen.seen >= 0, what=f"the {cls.__name__}")
    model = app.sessions
    # the Expert view reads the stored frames' notes in a thread: wait until they are read and shown
    await wait_for(pilot, lambda: model.expert_progress() is None and app.screen.seen == model.version, what="news")
    await pilot.pause()
    return app.screen


def test_scenario_is_what_the_views_show():
    """The capture has what the tests below look for (a broken generator would make them vacuous)."""
    assert frames_with_note("takeover") and frames_with_note("taken_over")
    assert frames_with_note("keepalive_expired") and frames_with_note("unacked")
    assert {f.stream for f in FRAMES} == {0, 1, 2, 3, 4}


def test_clients_view_rows_and_enter_filters_the_connection():
    async def go():
        app = make_app(RECORDS)
        async with app.run_test(size=(160, 30)) as pilot:
            await settle(app, pilot, len(FRAMES))
            view = await open_view(app, pilot, "c", ClientsView)
            table = view.query_one(ClientTable)
            rows = {cells[0]: cells for cells in map(table.line_texts, range(table.count))}
            assert sorted(rows) == ["0", "1", "2", "3", "4"]
            heads = list(COLUMNS)
            state, unacked, client = heads.index("State"), heads.index("Unacked"), heads.index("Client ID")
            assert str(rows["0"][client]) == "dev-1" and "keep-alive expired" in str(rows["0"][state])
            assert str(rows["0"][unacked]) == "1"  # the QoS 1 PUBLISH never acknowledged
            assert "taken over" in str(rows["2"][state]) and str(rows["2"][unacked]) == "0"
            assert str(rows["3"][state]) == "connected" and str(rows["3"][client]) == "dev-2"
            assert str(rows["1"][heads.index("Client address")]) == "192.168.1.21:50001"
            assert str(rows["1"][heads.index("Keep-alive")]) == "60 s"
            assert "5 connections, 3 open, 4 client ids, 1 unacknowledged" in str(view.query_one(Static).content)
            # Enter on the taken-over connection: the list shows exactly its frames
            table.move_cursor(table.index_of(2))
            await pilot.press("enter")
            want = [f.number for f in FRAMES if f.stream == 2]
            await wait_for(pilot, lambda: not isinstance(app.screen, ClientsView), what="the view to close")
            await settle(app, pilot, len(want))
            assert app.filter_bar.value == "tcp.stream == 2" == app.filter_text
            assert [app.plist.store_row(i) + 1 for i in range(app.plist.count)] == want

    run(go())


def test_topics_view_tree_subscribers_and_enter_filters_the_topic():
    async def go():
        app = make_app(RECORDS)
        async with app.run_test(size=(160, 40)) as pilot:
            await settle(app, pilot, len(FRAMES))
            view = await open_view(app, pilot, "o", TopicsView)
            tree = view.query_one(Tree)
            # only what is open is fetched: the top level open, its children there, nothing below them
            assert "home/kitchen" in view.by_topic and "home/kitchen/temp" not in view.by_topic
            temp = view.reveal("home/kitchen/temp").data
            assert temp.publishers == ("dev-1",) and temp.subscribers == ("sub-1",) and temp.last == b"21.5"
            door = view.reveal("home/garage/door").data
            assert door.retained == 1 and door.subscribers == ()  # home/+/temp does not match it
            home = view.by_topic["home"].data
            assert home.msgs == 2 and not home.leaf
            assert "21.5" in shown(tree, view.reveal("home/kitchen/temp")).plain
            # the side pane follows the cursor
            reveal(view.reveal("home/kitchen/temp"))
            await pilot.pause()
            tree.move_cursor(view.reveal("home/kitchen/temp"))
            await pilot.pause()
            pane = str(view.query_one("#topic-text", Static).content)
            assert "Publishers  dev-1" in pane and "Subscribers  sub-1" in pane
            # Enter on an inner node: the topic and everything below it
            tree.move_cursor(view.by_topic["home"])
            await pilot.press("enter")
            want = matching('topic_match(mqtt.topic, "home/#")')
            # the two PUBLISHes below home/, and the SUBSCRIBE whose mqtt.topic (home/+/temp) is below it too
            publishes = [
                f.number for f in FRAMES if any(p.msgtype == 3 and p.topic.startswith("home/") for p in f.pdus)
            ]
            assert len(publishes) == 2 and set(publishes) < set(want)
            await wait_for(pilot, lambda: not isinstance(app.screen, TopicsView), what="the view to close")
            await settle(app, pilot, len(want))
            assert app.filter_text == 'topic_match(mqtt.topic, "home/#")'
            assert [app.plist.store_row(i) + 1 for i in range(app.plist.count)] == want
            # a leaf: exactly that topic
            view = await open_view(app, pilot, "o", TopicsView)
            view.query_one(Tree).move_cursor(view.by_topic["office/light"])
            await pilot.press("enter")
            await wait_for(pilot, lambda: not isinstance(app.screen, TopicsView), what="the view to close")
            want = matching('mqtt.topic == "office/light"')
            await settle(app, pilot, len(want))
            assert app.filter_text == 'mqtt.topic == "office/light"' and len(want) == 1

    run(go())


def test_expert_view_groups_and_enter_jumps_to_the_frame():
    async def go():
        app = make_app(RECORDS)
        async with app.run_test(size=(160, 40)) as pilot:
            await settle(app, pilot, len(FRAMES))
            # a filter that hides the frame: the jump clears it
            await pilot.press("slash", *"mqtt.msgtype == 3", "enter")
            await settle(app, pilot, len(matching("mqtt.msgtype == 3")))
            view = await open_view(app, pilot, "e", ExpertView)
            tree = view.query_one(Tree)
            texts = labels(tree)
            takeover = frames_with_note("taken_over")[0]
            assert any(t.startswith("Warning (") for t in texts)
            leaf = node_of(tree, lambda n: n.data == takeover and "taken over" in str(n.label))
            # its parents say what it is and how many: severity, group, summary with counts
            summary = leaf.parent
            assert str(summary.label).startswith("MQTT: ") and "(1)" in str(summary.label)
            assert str(summary.parent.parent.label).split(" (")[0] in ("Warning", "Error", "Note")
            summary.expand()
            await pilot.pause()
            tree.move_cursor(leaf)
            await pilot.press("enter")
            await wait_for(pilot, lambda: not isinstance(app.screen, ExpertView), what="the view to close")
            await wait_for(pilot, lambda: app.selected_row == takeover - 1, what=f"frame {takeover} selected")
            assert app.filter_text == "" and app.plist.count == len(FRAMES)
            # a displayed frame: the filter stays
            await pilot.press("slash", *"tcp.stream == 0", "enter")
            await settle(app, pilot, len(matching("tcp.stream == 0")))
            view = await open_view(app, pilot, "e", ExpertView)
            expired = frames_with_note("keepalive_expired")[0]
            tree = view.query_one(Tree)
            leaf = node_of(tree, lambda n: n.data == expired and "Keep-alive exceeded" in str(n.label))
            leaf.parent.expand()
            await pilot.pause()
            tree.move_cursor(leaf)
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.selected_row == expired - 1, what=f"frame {expired} selected")
            assert app.filter_text == "tcp.stream == 0"

    run(go())


def test_hostile_client_id_topic_and_payload_are_shown_escaped():
    async def go():
        app = make_app(RECORDS)
        async with app.run_test(size=(200, 40)) as pilot:
            await settle(app, pilot, len(FRAMES))
            view = await open_view(app, pilot, "c", ClientsView)
            table = view.query_one(ClientTable)
            table.move_cursor(table.index_of(4))
            await pilot.pause()
            info = view.query_one("#client-info", Static).content
            assert isinstance(info, Text) and escape(HOSTILE_ID) in info.plain  # markup literal, ESC/BEL escaped
            assert "[bold red]evil[/bold red]\\033]0;pwned\\a" in info.plain
            assert not any("red" in str(span.style) for span in info.spans)  # the markup styled nothing
            cell = table.line_texts(table.index_of(4))[1]
            assert "\x1b" not in cell and cell.startswith("[bold red]evil")
            screen = "\n".join(table.render_line(y).text for y in range(table.count + 1))
            assert "\x1b" not in screen and "\x07" not in screen and "[bold red]evil" in screen
            await pilot.press("escape")
            view = await open_view(app, pilot, "o", TopicsView)
            node = view.by_topic[HOSTILE_TOPIC]
            text = shown(view.query_one(Tree), node)
            assert text.plain.startswith("[blink reverse]room\\033[2Jx\\u202E  ")
            assert escape(HOSTILE_PAYLOAD.decode()) in text.plain  # "[b]p[/b]\033[31m", literal
            assert not any(w in str(s.style) for s in text.spans for w in ("blink", "reverse"))
            line = "\n".join(view.query_one(Tree).render_line(y).text for y in range(4))
            assert "\x1b" not in line and "[blink reverse]room\\033[2J" in line
            # Enter: the filter names the topic with escapes only (no control character in the bar),
            # and it matches exactly the hostile PUBLISH
            view.query_one(Tree).move_cursor(node)
            await pilot.press("enter")
            await wait_for(pilot, lambda: not isinstance(app.screen, TopicsView), what="the view to close")
            want = [f.number for f in FRAMES if f.pdus and any(p.topic == HOSTILE_TOPIC for p in f.pdus)]
            await settle(app, pilot, len(want))
            assert app.filter_text == f"mqtt.topic == {filter_literal(HOSTILE_TOPIC)}"
            assert app.filter_text.isprintable() and len(want) == 1
            assert [app.plist.store_row(i) + 1 for i in range(app.plist.count)] == want

    run(go())


def test_a_wildcard_level_from_the_wire_is_matched_literally():
    """Enter on "odd/+" (a level that is a wildcard itself) must not show odd/plain, as
    topic_match(mqtt.topic, "odd/+/#") would."""

    async def go():
        app = make_app(RECORDS)
        async with app.run_test(size=(160, 40)) as pilot:
            await settle(app, pilot, len(FRAMES))
            view = await open_view(app, pilot, "o", TopicsView)
            node = view.by_topic["odd/+"]
            reveal(node)
            await pilot.pause()
            view.query_one(Tree).move_cursor(node)
            await pilot.press("enter")
            await wait_for(pilot, lambda: not isinstance(app.screen, TopicsView), what="the view to close")
            want = [f.number for f in FRAMES if any(p.topic in ("odd/+", "odd/+/deeper") for p in f.pdus or ())]
            assert len(want) == 2 and matching(app.filter_text) == want
            await settle(app, pilot, len(want))
            assert [app.plist.store_row(i) + 1 for i in range(app.plist.count)] == want

    run(go())


def test_filter_literal_round_trips_through_the_filter_language():
    """Every kind of character a topic may hold comes back out of the filter's lexer unchanged."""
    from sniffer.filter.lexer import tokenize

    for s in ['a"b\\c', "\x00\x1b[2J\x07\x7f", "\u202e\u2028\x85", "plain/topic", "\\033", "é/日本/\U0001f600"]:
        lit = filter_literal(s)
        assert lit.isprintable()
        toks = [t for t in tokenize(lit) if t.kind == "string"]
        assert len(toks) == 1 and toks[0].text == s, (s, lit)


def test_views_update_live_and_are_in_the_palette_and_help():
    async def go():
        app = make_app(RECORDS[:20], live=True)
        async with app.run_test(size=(160, 30)) as pilot:
            await settle(app, pilot)
            await palette_run(pilot, "Clients")
            await wait_for(pilot, lambda: isinstance(app.screen, ClientsView), what="the Clients view")
            table = app.screen.query_one(ClientTable)
            before = table.count
            state = COLUMNS.index("State")
            assert 0 < before < 5 and table.line_texts(table.index_of(0))[state] == "connected"
            app.source.push(RECORDS[20:])
            await wait_for(pilot, lambda: table.count == 5, what="the new connections in the view")
            # a row already shown changes in place: dev-1's connection ends with the last frames
            await wait_for(
                pilot, lambda: "keep-alive expired" in table.line_texts(table.index_of(0))[state], what="dev-1 ended"
            )
            # and its column widens to the longer text (found by hand: "taken over (FIN by b" was cut)
            ended = table.line_texts(table.index_of(0))[state]
            await pilot.pause()
            assert table.widths[state] >= len(ended) > len("connected")
            line = table.render_line(1 + table.index_of(0) - round(table.scroll_y)).text
            assert ended in line
            await palette_run(pilot, "Topics")  # from one view to the next: one view on the stack
            await wait_for(pilot, lambda: isinstance(app.screen, TopicsView), what="the Topics view")
            assert len(app.screen_stack) == 2
            await palette_run(pilot, "Expert")
            await wait_for(pilot, lambda: isinstance(app.screen, ExpertView), what="the Expert view")
            await pilot.press("escape")
            await wait_for(pilot, lambda: len(app.screen_stack) == 1, what="back to the packets")
            await pilot.press("question_mark")
            await pilot.pause()
            helptext = "\n".join(str(s.content) for s in app.screen.query(Static))
            assert "Clients / Topics / Expert information" in helptext

    run(go())


def test_a_closed_view_is_kept_asleep_and_shows_the_news_when_opened_again():
    """Mounting and laying out a new Screen costs Textual about 100 ms whatever the data (bench_views):
    a view is made once and kept. Closed, it does not redraw; opened again it is the same screen, its
    cursor and open nodes where they were, showing what came in meanwhile. One view of each kind at
    most on the stack, however the views were opened from each other."""

    async def go():
        app = make_app(RECORDS[:20], live=True)
        async with app.run_test(size=(160, 30)) as pilot:
            await settle(app, pilot)
            clients = await open_view(app, pilot, "c", ClientsView)
            table = clients.query_one(ClientTable)
            before = table.count
            assert 0 < before < 5
            table.move_cursor(1)
            await pilot.press("o")  # Clients -> Topics: one view on the stack
            topics = app.screen
            await wait_for(pilot, lambda: isinstance(topics, TopicsView) and topics.seen >= 0, what="the Topics view")
            assert app.screen_stack[1:] == [topics]
            kitchen = topics.reveal("home/kitchen")
            kitchen.expand()
            topics.query_one(Tree).move_cursor(kitchen)
            await wait_for(pilot, lambda: "home/kitchen/temp" in topics.by_topic, what="home/kitchen opened")
            await pilot.press("escape")
            await wait_for(pilot, lambda: len(app.screen_stack) == 1, what="back to the packets")
            seen_c, seen_t = clients.seen, topics.seen
            app.source.push(RECORDS[20:])
            await settle(app, pilot, len(RECORDS))
            await wait_for(pilot, lambda: app.sessions.version != seen_c, what="the model to move on")
            await pilot.pause(REFRESH * 2)  # two poll periods: a view polling while closed would redraw
            assert (clients.seen, topics.seen, table.count) == (seen_c, seen_t, before)
            assert "office" not in topics.by_topic  # a topic of the later frames
            await pilot.press("c")
            await wait_for(pilot, lambda: app.screen is clients, what="the same Clients view again")
            await wait_for(pilot, lambda: table.count == 5, what="the connections that came meanwhile")
            assert table.cursor == 1 and clients.seen == app.sessions.version
            await pilot.press("o")
            await wait_for(pilot, lambda: app.screen is topics, what="the same Topics view again")
            await wait_for(pilot, lambda: "office" in topics.by_topic, what="the topics that came meanwhile")
            assert topics.query_one(Tree).cursor_node is kitchen and kitchen.is_expanded
            assert app.screen_stack[1:] == [topics]
            # Topics -> F (a Flow view over it) -> o: back to the Topics view, the Flow view closed
            await pilot.press("F")
            await wait_for(pilot, lambda: len(app.screen_stack) == 3, what="the Flow view")
            await pilot.press("c")  # the Flow view's own c (connection / client): not the Clients view
            await pilot.pause()
            assert len(app.screen_stack) == 3
            await pilot.press("o")
            await wait_for(pilot, lambda: app.screen_stack[1:] == [topics], what="the Topics view alone")
            # c -> F -> o: a view over the Flow view of the Clients view, each screen once
            await pilot.press("c", "F", "o")
            await wait_for(pilot, lambda: app.screen is topics, what="the Topics view")
            assert [type(s).__name__ for s in app.screen_stack[1:]] == ["ClientsView", "FlowScreen", "TopicsView"]
            assert app.screen_stack[1] is clients

    run(go())


def test_the_views_are_mounted_ahead_hidden_and_the_first_key_only_shows_them():
    """A second after the start the app mounts the three views hidden (Textual's ~100 ms per new
    Screen, spent while nobody waits): the packets keep the screen and the focus, the expert notes
    are not gathered before someone looks, and c, o, e show the mounted views, up to date."""
    from sniffer.ui.app import WARM_VIEWS_AFTER

    kinds = {"c": ClientsView, "o": TopicsView, "e": ExpertView}

    async def go():
        app = make_app(RECORDS)
        async with app.run_test(size=(160, 30)) as pilot:
            await settle(app, pilot, len(FRAMES))
            names = [f"view-{cls.__name__}" for cls in kinds.values()]

            def mounted() -> bool:
                return all(app.is_screen_installed(n) and app.get_screen(n).is_mounted for n in names)

            await wait_for(pilot, mounted, timeout=WARM_VIEWS_AFTER + 10, what="the views mounted ahead")
            await pilot.pause()
            views = [app.get_screen(n) for n in names]
            assert len(app.screen_stack) == 1 and app.focused is app.plist
            assert app.sessions.expert() == []  # nobody has looked: no trees built for the notes
            for key, cls in kinds.items():
                await pilot.press(key)
                await wait_for(pilot, lambda cls=cls: isinstance(app.screen, cls), what=cls.__name__)
                assert app.screen in views  # the one mounted ahead, not a new one
            view = await open_view(app, pilot, "e", ExpertView)
            assert app.sessions.expert() and view.nodes  # asked for when shown, then drawn
            await pilot.press("escape")
            await wait_for(pilot, lambda: len(app.screen_stack) == 1, what="back to the packets")

    run(go())


def test_quitting_while_a_view_is_mounted_ahead_exits_cleanly(monkeypatch):
    """CI caught it: q pressed as the app mounted a view ahead stopped that view's composing, and
    its mount handler then looked for a widget that was never made (a traceback at exit). The app
    exits at once after each view's mounting starts: it must end with code 0."""
    import sniffer.ui.app as app_module

    warm = app_module.warm_view
    for cls in (ClientsView, TopicsView, ExpertView):

        def warm_then_quit(app, view_cls, model, cls=cls):
            warm(app, view_cls, model)
            if view_cls is cls:
                app.exit()

        monkeypatch.setattr(app_module, "warm_view", warm_then_quit)

        async def go(name: str = cls.__name__):
            app = make_app(RECORDS)
            async with app.run_test(size=(160, 30)) as pilot:
                await wait_for(pilot, lambda: app.return_code is not None, timeout=15, what=f"the exit during {name}")
            return app

        app = run(go())
        assert app.return_code == 0, cls


def test_a_view_whose_widgets_an_exit_removed_ignores_late_messages():
    """CI again: an exit removed a view's widgets while a highlight message (sent by its last redraw)
    was still queued; the handler then updated a side pane that was gone (a traceback at exit, its
    locals a TopicInfo). With the panes removed, highlights and a redraw with news do nothing."""

    async def go():
        app = make_app(RECORDS)
        async with app.run_test(size=(160, 30)) as pilot:
            await settle(app, pilot, len(FRAMES))
            topics = await open_view(app, pilot, "o", TopicsView)
            tree = topics.query_one(Tree)
            node = tree.cursor_node
            assert node is not None and node.data is not None
            await topics.query_one("#topic-info").remove()
            await tree.remove()
            topics._show(node)  # was: NoMatches for #topic-text
            topics.seen = -1
            topics.poll()  # was: NoMatches for the tree
            clients = await open_view(app, pilot, "c", ClientsView)
            table = clients.query_one(ClientTable)
            conn = table.current
            assert conn is not None
            await clients.query_one("#client-info").remove()
            clients._highlighted(ClientTable.Highlighted(conn))  # was: NoMatches for #client-info
            await pilot.pause()
            app.exit()
        return app

    assert run(go()).return_code == 0


def test_expert_notes_of_stored_and_live_frames_equal_a_headless_count():
    """The Expert view asks for notes mid-capture: the frames stored before are read back from the
    store, the later ones counted as they come; together they are what -z expert counts."""
    from sniffer.stats.expert import ExpertStat
    from sniffer.ui.session_model import EXPERT_FRAMES

    ref = ExpertStat()
    for f in FRAMES:
        ref.frame(f)
    noted = sorted({no for no, *_rest in ref.notes})
    split = noted[0]  # the first note is stored before the view opens, the others come live
    assert noted[-1] > split

    async def go():
        app = make_app(RECORDS[:split], live=True)
        async with app.run_test(size=(160, 40)) as pilot:
            await settle(app, pilot, split)
            assert app.sessions.expert() == []  # nobody asked yet: no trees built
            view = await open_view(app, pilot, "e", ExpertView)
            app.source.push(RECORDS[split:])
            want = ref.groups(EXPERT_FRAMES)
            await wait_for(pilot, lambda: app.sessions.expert() == want, what="the notes of every frame")
            await wait_for(pilot, lambda: view.seen == app.sessions.version, what="the view redrawn")
            await pilot.pause()
            for key, _n, frames in want:
                node = view.nodes[key]
                assert [c.data for c in node.children] == [no for no, _m in frames]

    run(go())


def test_clients_view_with_10000_connections_formats_only_the_screen():
    """10,000 connections (one CONNECT each, through the real loader and dissector): the view holds
    them all, yet opening it formats only the lines on screen and builds no widget per row; the
    last connection is one key away and costs one more screenful."""
    n = 10_000
    fl = FrameList()
    t = T0
    for i in range(n):
        flow = TcpFlow(fl, client=(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 40000 + i % 20000))
        t = flow.send(0, E.connect(f"dev-{i}"), t + 10, ack=False)
    recs = [(ts / 1e6, data, len(data), 1) for ts, data in fl.frames_list]
    height = 30

    async def go():
        app = make_app(recs)
        async with app.run_test(size=(120, height)) as pilot:
            await settle(app, pilot, n, timeout=60)
            view = await open_view(app, pilot, "c", ClientsView)
            table = view.query_one(ClientTable)
            assert table.count == n and "10000 connections" in str(view.query_one(Static).content)
            assert 0 < table.formatted <= height  # not 10,000 rows
            assert len(list(view.query("*"))) < 30  # no widget per row
            lines = [table.render_line(y).text for y in range(table.scrollable_content_region.height)]
            assert "dev-0 " in lines[1] and "dev-1 " in lines[2]
            before = table.formatted
            await pilot.press("end")
            await pilot.pause()
            assert table.current is not None and table.current.client == f"dev-{n - 1}"
            shown = "\n".join(table.render_line(y).text for y in range(table.scrollable_content_region.height))
            assert f"dev-{n - 1} " in shown and "dev-0 " not in shown
            assert table.formatted - before <= height
            assert f"dev-{n - 1}" in str(view.query_one("#client-info", Static).content)

    run(go())


def test_connections_copied_between_frames_equal_a_fresh_count():
    """ClientsStat.connections() copies only the connections changed since its last call (the
    Clients view asks every 0.3 s): asked after every frame, it says what one count of the whole
    capture says, each connection in its place."""
    from sniffer.stats.clients import ClientsStat

    whole = ClientsStat()
    for f in FRAMES:
        whole.frame(f)
    want = whole.connections()
    assert len(want) == 5 and any(c.ended for c in want) and any(c.unacked for c in want)
    stepwise = ClientsStat()
    for f in FRAMES:
        stepwise.frame(f)
        stepwise.connections()
    assert stepwise.connections() == want

"""Marked rows, link jumps, packet keys from every pane, the selection kept, go to frame (issue 13).

Expected values come from the dissector's own trees (sniffer.stats.expert.notes_of over
Frame.tree(), the links' values in the tree of the frame the store rebuilds), never from the UI.
"""

from __future__ import annotations

import pytest
from test_mqtt_expert import EXPERT
from test_mqtt_vectors import decode_all

from sniffer.expert_level import ERROR, LEVELS, WARNING, _levels, frame_level, pdu_level, tree_level
from sniffer.filter import compile_filter
from sniffer.mqtt.dissect import dissect
from sniffer.net.tree import NET_LAYERS
from sniffer.stats.expert import notes_of
from sniffer.store import PacketStore
from sniffer.synth.pcap_write import PcapWriter
from sniffer.synth.traffic import generate
from sniffer.ui.goto import GotoScreen
from sniffer.ui.packet_list import PALETTE, row_style, row_text, widths
from tests.ui_helpers import CORPUS, DEMO, dissected, make_app, palette_run, records, run, settle, wait_for

FRAMES = dissected()
BIG = CORPUS / "mqtt311_publish-100KB-both-directions__suricata-verify.pcap"


def tree_severity(frame) -> int:
    """The reference: the highest severity of the notes in the frame's full tree. Decoded payloads left out:
    marking rows by them would make the loader decode every payload (sniffer/payload runs only for a tree)."""
    return max((LEVELS[n[0]] for n in notes_of(frame.tree(NET_LAYERS | {"mqtt"}))), default=0)


def choose(app, row: int) -> None:
    """Put the list's cursor on stored row `row` (as a click would)."""
    app.plist._set_cursor(app.plist._display_index(row))


def captures() -> list:
    return [DEMO, *sorted(CORPUS.glob("*.pcap*"))]


# -- the severity column ----------------------------------------------------------------------
@pytest.mark.parametrize("path", captures(), ids=lambda p: p.name)
def test_severity_column_is_the_trees_highest_note(path):
    frames = dissected(path)
    assert stored_severities(frames) == [tree_severity(f) for f in frames]


def stored_severities(frames: list) -> list[int]:
    """The severity column of a store the frames were added to."""
    store = PacketStore()
    for f in frames:
        store.add(f)
    return [store.severity(i) for i in range(store.count)]


def test_severity_column_on_generated_traffic(tmp_path):
    """Many clients, MQTT 3.1.1 and 5 with properties: the shapes the severity reads without a tree
    (and those it caches) agree with the tree on every frame."""
    path = str(tmp_path / "traffic.pcap")
    sink = PcapWriter(path)
    generate(sink, 3000, clients=40, seed=7, v5_share=0.5)
    sink.close()
    frames = dissected(path)
    assert len(frames) == 3000
    assert [frame_level(f) for f in frames] == [tree_severity(f) for f in frames]


@pytest.mark.parametrize("vector", EXPERT, ids=[e[0] for e in EXPERT])
def test_pdu_severity_of_every_expert_vector(vector):
    _name, version, raw, _text, severity, _malformed = vector
    pdus = decode_all([raw], version)
    assert pdus
    # twice: the second answer may come from the cache of shapes
    for _ in range(2):
        assert [pdu_level(p) for p in pdus] == [tree_level(dissect(p)) for p in pdus]
    assert max(pdu_level(p) for p in pdus) >= LEVELS[severity]


def _v5_publish(topic: bytes, props: bytes) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic + bytes([len(props)]) + props + b"x"
    return bytes([0x30, len(body)]) + body


def test_publishes_that_share_properties_are_judged_by_their_own_topic():
    """The cache of shapes keys a PUBLISH with a note-free topic by its properties alone (one entry for a
    device's many topics), while a topic that carries a note (a wildcard, U+0000, invalid UTF-8, empty) or
    an alias still gets its own level, whatever came before it with the same properties."""
    expiry = b"\x02\x00\x00\x00\x3c"  # Message Expiry Interval 60: no note
    bad_format = b"\x01\x02"  # Payload Format Indicator 2: a Warning, not malformed (the cache is used)
    alias = b"\x23\x00\x05"  # Topic Alias 5 beside a topic: an alias state of its own
    topics = [b"plant/1/temp", b"plant/2/temp", b"plant/+/temp", b"a\x00b", b"bad\xff", b"plant/3/temp", b"#", b""]
    for props in (expiry, bad_format, expiry + alias):
        pdus = decode_all([_v5_publish(t, props) for t in topics], 5)
        assert len(pdus) == len(topics) and all(p.error is None for p in pdus[:-1])
        for _ in range(2):  # the second time from the cache
            assert [pdu_level(p) for p in pdus] == [tree_level(dissect(p)) for p in pdus]
    levels = [pdu_level(p) for p in decode_all([_v5_publish(t, expiry) for t in topics], 5)]
    assert levels[0] == levels[1] == levels[5] == 0
    assert levels[2] == levels[6] == WARNING  # wildcards in a PUBLISH topic
    _levels.clear()
    for t in (b"plant/1/temp", b"plant/2/temp", b"plant/3/temp", b"site/9/rh"):
        assert pdu_level(decode_all([_v5_publish(t, expiry)], 5)[0]) == 0
    assert len(_levels) == 1  # the four plain topics share one entry


# -- marked rows ------------------------------------------------------------------------------
def line(app, row: int) -> str:
    app.plist.scroll_to(y=row, animate=False, immediate=True)
    return "".join(s.text for s in app.plist.render_line(row - round(app.plist.scroll_y)))


def style_of(app, row: int):
    app.plist.scroll_to(y=row, animate=False, immediate=True)
    return app.plist.render_line(row - round(app.plist.scroll_y))._segments[0].style


def test_warning_rows_are_marked_and_normal_rows_are_not():
    warn = [f.number - 1 for f in FRAMES if tree_severity(f) == WARNING]
    plain = [f.number - 1 for f in FRAMES if tree_severity(f) == 0 and not f.malformed]
    assert warn and plain

    async def go():
        app = make_app()
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot, len(FRAMES))
            app.plist.focus()
            await pilot.press("end")  # the cursor away from the rows looked at
            for row in warn:
                assert line(app, row).startswith("\u25b2")
                assert row_style(app.store.cls(row), True, app.store.severity(row)) == PALETTE[True]["warning"]
            for row in plain:
                assert not line(app, row).startswith(("\u25b2", "!"))
                assert row_style(app.store.cls(row), True, app.store.severity(row)) != PALETTE[True]["warning"]

    run(go())


def test_note_in_a_collapsed_tcp_subtree_marks_the_row():
    """TCP's analysis flags sit in the collapsed TCP layer; Chat notes (window update) mark nothing."""
    frames = dissected(BIG)
    tcp_warn = [f.number - 1 for f in frames if tree_severity(f) == WARNING and not f.pdus]
    chat = [f.number - 1 for f in frames if tree_severity(f) == 1]
    assert tcp_warn and chat

    async def go():
        app = make_app(records(BIG), name=BIG.name)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot, len(frames))
            app.plist.focus()
            await pilot.press("end")
            dark = app.current_theme.dark
            for row in tcp_warn:
                assert line(app, row).startswith("\u25b2")
                assert style_of(app, row).color == style_of(app, tcp_warn[0]).color
                assert row_style(app.store.cls(row), dark, app.store.severity(row)) == PALETTE[dark]["warning"]
            for row in chat:
                assert not line(app, row).startswith(("\u25b2", "!"))

    run(go())


def test_error_rows_are_marked_even_when_well_formed():
    """A PUBLISH with QoS 3 is framed fine (not malformed) but carries an Error note."""
    path = CORPUS / "mqtt311_invalid_publish-qos3__suricata-verify.pcap"
    frames = dissected(path)
    errors = [f.number - 1 for f in frames if tree_severity(f) == ERROR]
    assert errors and not any(frames[i].malformed for i in errors)

    async def go():
        app = make_app(records(path), name=path.name)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot, len(frames))
            app.plist.focus()
            await pilot.press("end")
            for row in errors:
                assert line(app, row).startswith("!")
                assert row_style(app.store.cls(row), True, app.store.severity(row)) == PALETTE[True]["malformed"]

    run(go())


def test_the_mark_never_hides_a_digit_of_the_number():
    for width in (80, 120):
        for digits in range(1, 9):
            number = int("9" * digits)
            cols = widths(width, 15, (digits, 8, 4))
            for severity in (ERROR, WARNING):
                text = row_text((number, 1.5, "a", "b", "MQTT", 70, "Publish", 3), width, cols, severity=severity)
                assert text[0] in "!\u25b2" and text[1:].lstrip().startswith(str(number)), (width, digits, text)


# -- links in the tree ------------------------------------------------------------------------
def tree_node(app, abbrev: str):
    """The detail tree's TreeNode of the first item of field `abbrev`."""
    found = []

    def walk(tn):
        for c in tn.children:
            if c.data is not None and c.data.fdef is not None and c.data.fdef.abbrev == abbrev:
                found.append(c)
            walk(c)

    walk(app.details.root)
    return found[0] if found else None


async def enter_on(app, pilot, abbrev: str) -> int:
    """Focus the tree, put its cursor on the `abbrev` item, press Enter; returns the item's value."""
    await wait_for(pilot, lambda: tree_node(app, abbrev) is not None, what=abbrev)
    tn = tree_node(app, abbrev)
    assert any("underline" in str(sp.style) for sp in tn.label.spans)  # shown as a link
    assert not any("underline" in str(sp.style) for sp in tn.parent.label.spans)
    app.details.focus()
    app.details.select_field(tn.data)
    await wait_for(pilot, lambda: app.details.cursor_node is tn, what=f"the cursor on {abbrev}")
    await pilot.press("enter")
    return tn.data.value


CONNECT = next(f.number for f in FRAMES if f.pdus and f.pdus[0].msgtype == 1)


def test_enter_on_response_in_and_response_to_jumps():
    async def go():
        app = make_app()
        async with app.run_test(size=(100, 40)) as pilot:
            await settle(app, pilot, len(FRAMES))
            choose(app, CONNECT - 1)
            await wait_for(pilot, lambda: app.selected_row == CONNECT - 1, what="the CONNECT")
            target = await enter_on(app, pilot, "mqtt.response_in")
            # the reference: the CONNACK names the CONNECT as its request
            want = next(f.number for f in FRAMES for p in f.pdus if p.ann is not None and p.ann.response_to == CONNECT)
            assert target == want
            await wait_for(pilot, lambda: app.selected_row == want - 1, what="the jump to the response")
            assert app.plist.cursor == want - 1
            back = await enter_on(app, pilot, "mqtt.response_to")
            assert back == CONNECT
            await wait_for(pilot, lambda: app.selected_row == CONNECT - 1, what="the jump back")

    run(go())


def test_a_click_selects_a_link_and_a_double_click_follows_it():
    async def go():
        app = make_app()
        async with app.run_test(size=(100, 40)) as pilot:
            await settle(app, pilot, len(FRAMES))
            choose(app, CONNECT - 1)
            await wait_for(pilot, lambda: tree_node(app, "mqtt.response_in") is not None, what="the link")
            tn = tree_node(app, "mqtt.response_in")
            app.details.scroll_to_node(tn, animate=False)
            await pilot.pause()
            y = tn.line - round(app.details.scroll_y)
            await pilot.click("#details", offset=(4, y + 1))  # (+1: the border above the tree)
            await wait_for(pilot, lambda: app.details.cursor_node is tn, what="the link selected")
            await pilot.pause(0.2)
            assert app.selected_row == CONNECT - 1  # a click only selects the item
            await pilot.double_click("#details", offset=(4, y + 1))
            await wait_for(pilot, lambda: app.selected_row == tn.data.value - 1, what="the double click's jump")

    run(go())


def test_link_to_a_filtered_out_frame_says_so():
    async def go():
        app = make_app(display_filter="mqtt.msgtype == 1")
        async with app.run_test(size=(100, 40)) as pilot:
            want = [f.number - 1 for f in FRAMES if f.pdus and f.pdus[0].msgtype == 1]
            await settle(app, pilot, len(want))
            choose(app, CONNECT - 1)
            await wait_for(pilot, lambda: app.selected_row == CONNECT - 1, what="the CONNECT")
            target = await enter_on(app, pilot, "mqtt.response_in")
            await wait_for(pilot, lambda: "hidden by the display filter" in app.status_text(), what="the message")
            assert f"Frame {target}" in app.status_text()
            assert app.selected_row == CONNECT - 1  # no silent jump elsewhere
            await pilot.press("j")  # the next selection clears the message
            assert "hidden" not in app.status_text()

    run(go())


def test_enter_on_a_reassembled_segment_goes_to_its_frame():
    path = CORPUS / "mqtt5_publish-35KB-jpeg_multisegment__suricata-verify.pcap"
    frames = dissected(path)
    # the reference: the frame whose tree lists the segments of a reassembled PDU, and the first of them
    whole = next(
        f
        for f in frames
        if any(n.fdef is not None and n.fdef.abbrev == "tcp.segment" for t in f.tree() for n in t.walk())
    )
    first = next(
        n.value for t in whole.tree() for n in t.walk() if n.fdef is not None and n.fdef.abbrev == "tcp.segment"
    )
    assert first != whole.number

    async def go():
        app = make_app(records(path), name=path.name)
        async with app.run_test(size=(100, 40)) as pilot:
            await settle(app, pilot, len(frames))
            choose(app, whole.number - 1)
            await wait_for(pilot, lambda: app.selected_row == whole.number - 1, what="the reassembling frame")
            assert await enter_on(app, pilot, "tcp.segment") == first
            await wait_for(pilot, lambda: app.selected_row == first - 1, what="the jump to the first segment")

    run(go())


# -- the same keys from every pane -------------------------------------------------------------
def test_packet_keys_from_every_pane():
    async def go():
        app = make_app()
        async with app.run_test(size=(100, 40)) as pilot:
            await settle(app, pilot, len(FRAMES))
            last = len(FRAMES) - 1
            for pane in (app.details, app.hexv):
                choose(app, 5)
                await wait_for(pilot, lambda: app.selected_row == 5, what="frame 6")
                pane.focus()
                await pilot.pause()
                await pilot.press("j")
                assert app.selected_row == 6 and app.focused is pane
                await pilot.press("k", "k")
                assert app.selected_row == 4
                await pilot.press("G")
                assert app.selected_row == last and app.plist.tail
                await pilot.press("g")
                assert app.selected_row == 0 and not app.plist.tail
                await pilot.press("ctrl+end")
                assert app.selected_row == last
                await pilot.press("ctrl+home")
                assert app.selected_row == 0 and app.focused is pane
                if pane is app.hexv:  # in the tree, Home/End are its own first/last field (below)
                    await pilot.press("end")
                    assert app.selected_row == last
                    await pilot.press("home")
                    assert app.selected_row == 0
            # the payload pane too
            await pilot.press("p")
            app.payload_pane.focus()
            await pilot.pause()
            await pilot.press("j", "j")
            assert app.selected_row == 2 and app.focused is app.payload_pane
            await pilot.press("end")
            assert app.selected_row == last
            await pilot.press("p")
            # the arrows stay with the pane: the tree's cursor moves, the packet does not
            choose(app, CONNECT - 1)
            await wait_for(pilot, lambda: app.selected_row == CONNECT - 1, what="the CONNECT")
            app.details.focus()
            await pilot.pause()
            line_before = app.details.cursor_line
            await pilot.press("down")
            assert app.details.cursor_line == line_before + 1 and app.selected_row == CONNECT - 1
            await pilot.press("end")
            assert app.details.cursor_line == app.details.last_line and app.selected_row == CONNECT - 1
            await pilot.press("home")
            assert app.details.cursor_line == 0 and app.selected_row == CONNECT - 1
            app.hexv.focus()
            await pilot.pause()
            byte = app.hexv.cursor_byte
            await pilot.press("right", "down")
            assert app.hexv.cursor_byte == byte + 17 and app.selected_row == CONNECT - 1

    run(go())


# -- the selection kept ----------------------------------------------------------------------
@pytest.mark.parametrize("expr", ["mqtt", "tcp.len > 0", "frame.number >= 3", 'mqtt.topic contains "th01"'])
def test_selection_stays_on_the_frame_a_new_filter_still_shows(expr):
    flt = compile_filter(expr)
    shown = [f.number - 1 for f in FRAMES if flt.matches(f)]
    target = shown[len(shown) * 2 // 3]

    async def go():
        app = make_app()
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot, len(FRAMES))
            choose(app, target)
            await wait_for(pilot, lambda: app.selected_row == target, what="the frame")
            await pilot.press("slash", *expr, "enter")
            await settle(app, pilot, len(shown))
            assert app.selected_row == target and app.plist.store_row(app.plist.cursor) == target
            top = round(app.plist.scroll_y)
            assert top <= app.plist.cursor < top + app.plist.scrollable_content_region.height
            await pilot.press("f")  # Follow still shows it too
            stream = FRAMES[target].stream
            await settle(app, pilot, sum(1 for f in FRAMES if f.stream == stream))
            assert app.selected_row == target

    run(go())


# -- go to frame -----------------------------------------------------------------------------
def test_go_to_frame():
    async def go():
        app = make_app()
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await pilot.press("ctrl+g")
            await wait_for(pilot, lambda: isinstance(app.screen, GotoScreen), what="the dialog")
            await pilot.press(*"17", "enter")
            await wait_for(pilot, lambda: not isinstance(app.screen, GotoScreen), what="the dialog to close")
            assert app.selected_row == 16
            # an unknown number: the dialog says so and stays
            await pilot.press("ctrl+g")
            await wait_for(pilot, lambda: isinstance(app.screen, GotoScreen), what="the dialog")
            await pilot.press(*"999", "enter")
            err = app.screen.query_one("#goto-error")
            await wait_for(pilot, lambda: "no frame 999" in str(err.render()), what="the error")
            assert isinstance(app.screen, GotoScreen) and app.selected_row == 16
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, GotoScreen), what="the dialog to close")
            assert app.selected_row == 16
            # a frame the filter hides
            await pilot.press("slash", *"mqtt.msgtype == 3", "enter")
            shown = [f.number for f in FRAMES if f.pdus and f.pdus[0].msgtype == 3]
            await settle(app, pilot, len(shown))
            hidden = next(n for n in range(1, len(FRAMES) + 1) if n not in shown)
            await pilot.press("ctrl+g")
            await wait_for(pilot, lambda: isinstance(app.screen, GotoScreen), what="the dialog")
            await pilot.press(*str(hidden), "enter")
            err = app.screen.query_one("#goto-error")
            await wait_for(pilot, lambda: "hidden by the display filter" in str(err.render()), what="the error")
            await pilot.press("ctrl+u", *str(shown[-1]), "enter")
            await wait_for(pilot, lambda: app.selected_row == shown[-1] - 1, what="the shown frame")
            # by name from the command palette too
            await palette_run(pilot, "Go to frame")
            await wait_for(pilot, lambda: isinstance(app.screen, GotoScreen), what="the dialog from the palette")
            await pilot.press(*str(shown[0]), "enter")
            await wait_for(pilot, lambda: app.selected_row == shown[0] - 1, what="the first shown frame")

    run(go())


def test_go_to_a_frame_not_captured_yet():
    recs = records()

    async def go():
        app = make_app(recs[:10], live=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot, 10)
            assert not app.goto_frame(30)
            assert "Frame 30 has not been read yet (10 so far)" in app.status_text()
            app.source.push(recs[10:40])
            await settle(app, pilot, 40)
            assert app.goto_frame(30)
            await wait_for(pilot, lambda: app.selected_row == 29, what="frame 30")
            assert "not been read" not in app.status_text() and not app.plist.tail

    run(go())

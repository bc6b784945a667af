"""Pilot tests of the UI: every key and interaction, fed by a packet source of real frames.

The frames are the demo capture and public captures run through the real dissector; the source is
a MemorySource (no root needed). Expected values come from the dissector's own Frame objects
(compiled filter, trees), never from the UI.
"""

from __future__ import annotations

import asyncio
import time

from sniffer.filter import compile_filter
from sniffer.net.pcapfile import open_capture
from sniffer.store import CLS_MALFORMED, CLS_TCP_CONTROL
from sniffer.ui.detail import DetailTree
from sniffer.ui.packet_list import PALETTE, row_style
from sniffer.ui.screens import HelpScreen, QuitScreen, SaveScreen
from tests.conftest import require_tool
from tests.ui_helpers import CORPUS, dissected, make_app, palette_run, records, run, settle, wait_for

FRAMES = dissected()
PUBLISH_ALINK = next(f.number for f in FRAMES if f.pdus and f.pdus[0].msgtype == 3 and "/thing/event/" in f.info)
CONNECT = next(f.number for f in FRAMES if f.pdus and f.pdus[0].msgtype == 1)
PASSWORD = "c90ff21f1a0c2a8528ace9242e914a9d7838736f"


def tree_labels(app) -> list[str]:
    out = []

    def walk(tn):
        for c in tn.children:
            out.append(str(c.label))
            walk(c)

    walk(app.details.root)
    return out


async def select(app, pilot, number: int) -> None:
    """Select frame `number` with keys: g, then j (number - 1) times via PgDn where possible."""
    await pilot.press("g")
    app.plist.focus()
    app.plist._set_cursor(app.plist._display_index(number - 1))
    await wait_for(pilot, lambda: app.selected_row == number - 1, what=f"frame {number} selected")
    await pilot.pause()  # its tree laid out and its cursor placed (callbacks after the refresh)


def test_rows_appear_and_first_frame_is_shown():
    async def go():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(FRAMES))
            assert app.store.count == len(FRAMES)
            assert app.plist.cursor == 0 and app.selected_row == 0
            labels = tree_labels(app)
            assert labels[0].startswith("Frame 1:")
            assert "loaded" in app.status_text() and f"captured {len(FRAMES)}" in app.status_text()
            # the visible rows are rendered from the store: row 4 is the CONNECT
            line = "".join(seg.text for seg in app.plist.render_line(CONNECT - 1))
            assert "Connect Command" in line and "MQTT" in line

    run(go())


def test_navigation_keys():
    async def go():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await pilot.press("j", "j", "down")
            assert app.plist.cursor == 3 and app.selected_row == 3
            await pilot.press("k", "up")
            assert app.plist.cursor == 1
            page = app.plist.scrollable_content_region.height - 1
            await pilot.press("pagedown")
            assert app.plist.cursor == 1 + page
            await pilot.press("pageup")
            assert app.plist.cursor == 1
            await pilot.press("G")
            assert app.plist.cursor == len(FRAMES) - 1 and app.plist.tail
            assert round(app.plist.scroll_y) > 0  # scrolled so the last row is visible
            await pilot.press("g")
            assert app.plist.cursor == 0 and not app.plist.tail and round(app.plist.scroll_y) == 0
            await pilot.press("end")
            assert app.plist.cursor == len(FRAMES) - 1
            await pilot.press("home")
            assert app.plist.cursor == 0
            await pilot.click("#packets", offset=(10, 2))
            assert app.plist.cursor == 2

    run(go())


def test_tree_node_highlights_exactly_its_bytes_and_bytes_select_the_field():
    async def go():
        app = make_app()
        async with app.run_test(size=(100, 40)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await select(app, pilot, PUBLISH_ALINK)
            frame = FRAMES[PUBLISH_ALINK - 1]
            nodes = frame.tree()
            mqtt = next(n for n in nodes if n.fdef is not None and n.fdef.abbrev == "mqtt")
            # the tree starts on the MQTT layer and the hex pane highlights the whole PDU
            assert app.details.cursor_node.data.text == mqtt.text
            assert app.hexv.hl_range == (mqtt.start, mqtt.start + mqtt.length)
            topic = next(n for n in mqtt.walk() if n.fdef is not None and n.fdef.abbrev == "mqtt.topic")
            # move the tree cursor onto the Topic field with the keyboard
            app.details.focus()
            for _ in range(40):
                if app.details.cursor_node.data.fdef is topic.fdef:
                    break
                await pilot.press("down")
            assert app.details.cursor_node.data.fdef is topic.fdef
            assert app.hexv.hl_range == (topic.start, topic.start + topic.length)
            data = app.hexv.data
            assert data[topic.start : topic.start + topic.length].decode() == topic.value
            # bytes -> field: the byte cursor in the hex pane selects the innermost field there
            await pilot.press("tab")
            assert app.focused is app.hexv
            app.hexv.cursor_byte = topic.start - 3  # inside the Topic Length field
            await pilot.press("right")
            node = app.details.cursor_node.data
            assert node.fdef.abbrev == "mqtt.topic_len"
            assert app.hexv.hl_range == (node.start, node.start + node.length)
            # a mouse click on a byte does the same: the first byte of the frame is in Ethernet's dst
            await pilot.click("#bytes", offset=(7, 1))
            await wait_for(pilot, lambda: app.details.cursor_node.data.start == 0, what="the clicked byte's field")
            node = app.details.cursor_node.data
            assert node.fdef.abbrev.startswith("eth.") and node.start == 0  # eth.dst's I/G bit: innermost
            assert app.hexv.hl_range == (0, node.length)

    run(go())


def test_reassembled_pdu_is_its_own_data_source():
    path = CORPUS / "mqtt311_publish-100KB-both-directions__suricata-verify.pcap"
    frames = dissected(path)
    number = next(f.number for f in frames if len(f.sources()) > 1)

    async def go():
        app = make_app(records(path), name=path.name)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot, len(frames))
            await select(app, pilot, number)
            assert "Reassembled TCP" in str(app.hexv.border_title)
            # the tree starts on the MQTT PDU, whose bytes are the reassembled buffer (source 1)
            assert app.hexv.source == 1
            assert app.hexv.data == frames[number - 1].sources()[1][1]
            app.details.focus()
            await pilot.press("home")  # the Frame node: back to the frame's own bytes
            assert app.hexv.source == 0

    run(go())


def test_display_filter_valid_invalid_and_clear():
    expr = "mqtt.msgtype == 3"
    flt = compile_filter(expr)
    expected = [f.number - 1 for f in FRAMES if flt.matches(f)]

    async def go():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await pilot.press("slash")
            assert app.focused is app.filter_bar
            await pilot.press(*expr)
            assert app.filter_bar.has_class("valid")
            await pilot.press("enter")
            await settle(app, pilot, len(expected))
            assert [app.plist.store_row(d) for d in range(app.plist.count)] == expected
            assert app.focused is app.plist
            # an invalid expression: red, the error under the bar, Enter does not apply it
            await pilot.press("slash", "ctrl+u", *"mqtt.nosuchfield == 1")
            assert app.filter_bar.has_class("invalid")
            assert app.filter_error.display
            err = str(app.filter_error.render())
            assert "^" in err and "nosuchfield" in err
            await pilot.press("enter")
            assert app.plist.count == len(expected)
            # Esc clears the filter: every frame again
            await pilot.press("escape")
            await settle(app, pilot, len(FRAMES))
            assert app.focused is app.plist

    run(go())


def test_follow_tcp_stream():
    async def go():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await pilot.press("G")  # the last frame belongs to the second connection
            stream = FRAMES[-1].stream
            want = [f.number - 1 for f in FRAMES if f.stream == stream]
            await pilot.press("f")
            await settle(app, pilot, len(want))
            assert app.filter_bar.value == f"tcp.stream == {stream}"
            assert [app.plist.store_row(d) for d in range(app.plist.count)] == want
            assert app.selected_row == len(FRAMES) - 1  # the selection stays on the same frame

    run(go())


def test_pause_tail_and_new_rows_counter():
    recs = records()

    async def go():
        app = make_app(recs[:10], live=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, 10)
            assert app.plist.tail  # live captures start in tail mode
            app.source.push(recs[10:20])
            await settle(app, pilot, 20)
            assert app.plist.cursor == 19  # followed the new packets
            await pilot.press("space")
            assert app.paused and "PAUSED" in app.status_text()
            app.source.push(recs[20:30])
            await wait_for(pilot, lambda: app.store.count == 30, what="the frames stored")
            app._poll()  # a display tick with the new rows in the store
            await pilot.pause()
            assert app.store.count == 30 and app.plist.count == 20  # captured, not displayed
            await pilot.press("space")
            await settle(app, pilot, 30)
            assert not app.paused and app.plist.cursor == 29
            # scroll away from the end: new packets are counted, not followed
            await pilot.press("k", "k")
            assert not app.plist.tail
            app.source.push(recs[30:40])
            await settle(app, pilot, 40)
            assert app.plist.cursor == 27
            assert "+10 new" in app.status_text()
            await pilot.press("G")
            assert "new" not in app.status_text() and app.plist.cursor == 39
            assert "capturing" in app.status_text() and "tcp port 1883" in app.status_text()

    run(go())


def test_following_new_packets_the_details_keep_up_at_their_own_pace():
    """In tail mode the details follow the newest packet at most every FOLLOW_DETAILS_EVERY seconds and
    show the last one once the flood ends; a key the user presses is answered at once."""
    from sniffer.ui.app import FOLLOW_DETAILS_EVERY

    recs = records()

    async def go():
        app = make_app(recs[:10], live=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot, 10)
            assert app.plist.tail
            shown = []
            real = app.show_frame

            def counting(row: int) -> None:
                shown.append(row)
                real(row)

            app.show_frame = counting
            loop = asyncio.get_running_loop()
            start = loop.time()
            for i in range(10, 50):  # a packet every 50 ms: the list follows each display tick (10 a second)
                app.source.push(recs[i : i + 1])
                await pilot.pause(0.05)
            took = loop.time() - start
            await settle(app, pilot, 50)
            assert app.plist.cursor == 49  # the list itself followed every packet
            await wait_for(pilot, lambda: shown and shown[-1] == 49, what="the details on the last packet")
            assert app.selected_row == 49 and tree_labels(app)[0].startswith("Frame 50:")
            # without the limit: one rebuild per display tick that brought a packet (~10 a second)
            assert len(shown) <= took / FOLLOW_DETAILS_EVERY + 2, (len(shown), took)
            n = len(shown)
            await pilot.press("k")  # the user's move: shown now, not at the end of a window
            assert shown[n:] == [48] and app.selected_row == 48
            # the details lag behind the newest row when the user goes to that very row (a click, a go-to):
            # the cursor does not move, so no new selection comes; the details must still get there
            await pilot.press("G")
            assert app.selected_row == 49
            app._details_at = time.monotonic() + 2  # a window that outlasts a slow machine's next steps
            app.source.push(recs[50:51])
            await settle(app, pilot, 51)
            assert app.plist.cursor == 50 and app.selected_row == 49  # (within the 0.5 s window)
            assert app.plist.select_row(50) and not app.plist.tail
            await wait_for(pilot, lambda: app.selected_row == 50, what="the details on the row gone to")
            assert tree_labels(app)[0].startswith("Frame 51:")

    run(go())


def test_tab_moves_between_panes():
    async def go():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(FRAMES))
            assert app.focused is app.plist
            await pilot.press("tab")
            assert app.focused is app.details
            await pilot.press("tab")
            assert app.focused is app.hexv
            await pilot.press("tab")
            assert app.focused is app.filter_bar
            await pilot.press("shift+tab")
            assert app.focused is app.hexv

    run(go())


def test_save_displayed_and_all_frames_to_pcapng(tmp_path):
    import subprocess

    tshark = require_tool("tshark")

    async def go():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await pilot.press("slash", *"mqtt", "enter")
            shown = sum(1 for f in FRAMES if f.pdus)
            await settle(app, pilot, shown)
            for name, everything, count in (("shown.pcapng", False, shown), ("all.pcapng", True, len(FRAMES))):
                await pilot.press("w")
                assert isinstance(app.screen, SaveScreen)
                app.screen.query_one("#save-path").value = str(tmp_path / name)
                if everything:
                    app.screen.query_one("#save-all").value = True
                await pilot.press("enter")
                await wait_for(pilot, (tmp_path / name).exists, what=name)
                got = list(open_capture(str(tmp_path / name)))
                assert len(got) == count
                out = subprocess.run([tshark, "-r", str(tmp_path / name)], capture_output=True, text=True)
                assert out.returncode == 0 and len(out.stdout.splitlines()) == count
            recs = records()
            assert [g[1] for g in got] == [r[1] for r in recs]  # the same bytes
            assert all(abs(g[0] - r[0]) < 1e-6 for g, r in zip(got, recs, strict=True))

    run(go())


def test_help_and_quit():
    async def go():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            assert not isinstance(app.screen, HelpScreen)
            await pilot.press("q")  # a file: nothing to lose, quits at once
            await wait_for(pilot, lambda: not app.is_running, what="the app to exit")
        assert app.return_code == 0

    run(go())


def test_quit_asks_when_live_capture_is_unsaved(tmp_path):
    async def go():
        app = make_app(records()[:12], live=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, 12)
            await pilot.press("q")
            assert isinstance(app.screen, QuitScreen)
            await pilot.press("n")
            assert not isinstance(app.screen, QuitScreen) and app.is_running
            await pilot.press("q", "w")  # save first, then quit
            assert isinstance(app.screen, SaveScreen)
            # an emptied name: the dialog stays and says why (it closed, saving nothing and saying nothing)
            app.screen.query_one("#save-path").value = "  "
            await pilot.press("enter")
            assert isinstance(app.screen, SaveScreen) and app.is_running
            assert "file name is needed" in str(app.screen.query_one("#save-note").render())
            assert app.screen.focused is app.screen.query_one("#save-path")
            app.screen.query_one("#save-path").value = str(tmp_path / "live.pcapng")
            app.screen.query_one("#save-all").value = True
            await pilot.press("enter")
            await wait_for(pilot, lambda: not app.is_running, what="the app to save and exit")
        assert len(list(open_capture(str(tmp_path / "live.pcapng")))) == 12

    run(go())


def test_payload_views_and_alink_json():
    async def go():
        app = make_app()
        async with app.run_test(size=(100, 40)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await select(app, pilot, PUBLISH_ALINK)
            await pilot.press("p")
            assert app.bottom.current == "payload"
            text = str(app.payload_text.render())
            # auto: the dissector's decoded tree (as in the detail pane), the hex dump beside or below it
            assert (
                "[Message decoded as: json]" in text and "Alink JSON request: method thing.event.property.post" in text
            )
            assert "Member: params" in text and "0000  7b" in text
            seen = []
            for _ in range(4):
                await pilot.press("v")
                seen.append((app.payload_mode, str(app.payload_text.render())))
            assert [m for m, _ in seen] == ["text", "json", "hex", "auto"]
            assert '"method":"thing.event.property.post"' in seen[0][1].replace(" ", "")
            assert '\n  "params": {' in seen[1][1]  # pretty-printed
            assert "0000  7b" in seen[2][1]  # hex dump of '{'
            await pilot.press("p")
            assert app.bottom.current == "bytes"
            await select(app, pilot, 1)  # a SYN: nothing to show
            await pilot.press("p")
            assert "no message payload" in str(app.payload_text.render())

    run(go())


def test_secrets_masked_until_revealed():
    async def go():
        app = make_app()
        async with app.run_test(size=(100, 40)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await select(app, pilot, CONNECT)
            labels = tree_labels(app)
            assert "Password: ********" in labels and not any(PASSWORD in lbl for lbl in labels)
            pw = next(n for top in app._sel_nodes for n in top.walk() if n.fdef and n.fdef.abbrev == "mqtt.passwd")
            assert app.hexv.masked[0] == [(pw.start, pw.start + pw.length)]
            line = pw.start // 16
            app.hexv.scroll_to(y=0, animate=False, immediate=True)
            await wait_for(pilot, lambda: round(app.hexv.scroll_y) == 0, what="the bytes at the top")
            rendered = "".join(s.text for s in app.hexv.render_line(line - round(app.hexv.scroll_y)))
            assert "**" in rendered
            await pilot.press("s")
            assert f"Password: {PASSWORD}" in tree_labels(app) and app.hexv.masked == {}
            assert "secrets shown" in app.status_text()
            await pilot.press("s")
            assert "Password: ********" in tree_labels(app)

    run(go())


def test_theme_toggle_and_row_colours():
    async def go():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(FRAMES))
            assert app.store.cls(0) == CLS_TCP_CONTROL  # the SYN is dimmed
            seg = app.plist.render_line(1).__iter__().__next__()  # row 2 (SYN, ACK), not the cursor row
            assert seg.style.color.name == PALETTE[True]["control"]
            await pilot.press("t")
            assert app.theme == "textual-light"
            seg = next(iter(app.plist.render_line(1)))
            assert seg.style.color.name == PALETTE[False]["control"]
            pub = next(iter(app.plist.render_line(PUBLISH_ALINK - 1)))
            assert pub.style.color.name == PALETTE[False]["pub"]

    run(go())


def test_malformed_frames_are_marked():
    path = CORPUS / "mqtt5_malformed_connect-excessive-property-length__suricata-verify.pcap"
    frames = dissected(path)
    bad = [f.number - 1 for f in frames if f.malformed]
    assert bad

    async def go():
        app = make_app(records(path), name=path.name)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(frames))
            for i in bad:
                assert app.store.cls(i) & CLS_MALFORMED
                assert row_style(app.store.cls(i), True) == PALETTE[True]["malformed"]
            app.plist.scroll_to(y=bad[0], animate=False, immediate=True)
            await pilot.pause()
            text = "".join(s.text for s in app.plist.render_line(bad[0] - round(app.plist.scroll_y)))
            assert text.startswith("!")

    run(go())


def test_every_action_is_in_the_command_palette():
    async def go():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(FRAMES))
            titles = [c.title for c in app.get_system_commands(app.screen)]
            for b in app.BINDINGS:
                assert any(t.startswith(b.description) for t in titles), b.description
            # run one through the palette itself
            await palette_run(pilot, "Secrets")
            await wait_for(pilot, lambda: app.show_secrets, what="the palette's Secrets to run")

    run(go())


def test_layout_fits_80x24():
    async def go():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(FRAMES))
            for w in (app.filter_bar, app.plist, app.details, app.hexv, app.status_bar):
                assert w.region.height >= 1 and w.region.right <= 80 and w.region.bottom <= 24, w
            assert app.plist.region.height >= 5 and app.hexv.region.height >= 3
            header = str(app.list_header.render())
            for col in ("No.", "Time", "Source", "Destination", "Len", "Info"):
                assert col in header

    run(go())


def test_tree_remembers_opened_subtrees():
    async def go():
        app = make_app()
        async with app.run_test(size=(100, 40)) as pilot:
            await settle(app, pilot, len(FRAMES))
            app.details.focus()
            await pilot.press("home", "enter")  # open "Frame 1: ..."
            assert app.details.root.children[0].is_expanded
            app.plist.focus()
            await pilot.press("j")
            assert app.details.root.children[0].is_expanded  # Frame 2 opens the same way
            assert isinstance(app.details, DetailTree)

    run(go())


def test_rows_arriving_below_a_full_window_move_the_scrollbar_without_a_layout():
    """Rows that arrive below a full window (the user on the first row, not following) change nothing on
    screen but the scrollbar. It is updated alone (PacketList._set_height), without the layout pass of the
    whole screen a new virtual size asks for (~10 a second while a file loads), and must still be exact:
    its range, where End goes, the rows shown there. Rows that widen a column (here the Time column, at
    1,000 s) must have the rows on screen drawn again: what is painted (Textual's compositor, not a fresh
    render) must match the header."""
    recs = records()
    later = [(ts + 1000.0, *rest) for ts, *rest in recs[40:]]  # relative times past 1,000 s: a wider Time

    async def go():
        app = make_app([], live=True)
        async with app.run_test(size=(100, 30)) as pilot:
            plist = app.plist
            app.source.push(recs[:30])
            await settle(app, pilot, 30)
            await pilot.press("home")
            await pilot.pause()
            window = plist.scrollable_content_region.height
            assert 5 < window < 30 and plist.show_vertical_scrollbar, window

            def drawn() -> list[str]:
                return ["".join(s.text for s in plist.render_line(y)) for y in range(window)]

            def painted() -> list[str]:
                """The list's rows as the screen holds them (the widget's cached lines where not refreshed)."""
                update = app.screen._compositor.render_full_update()
                box = plist.scrollable_content_region
                lines = ["".join(seg.text for strip in row for seg in strip) for row in update.strips]
                return [ln[box.x : box.x + box.width] for ln in lines[box.y : box.y + window]]

            layouts = 0
            relayout = app.screen._refresh_layout

            def counted(*a, **kw):
                nonlocal layouts
                layouts += 1
                return relayout(*a, **kw)

            app.screen._refresh_layout = counted
            for _ in range(50):  # the layouts Home asked for (the details pane of frame 1) are over
                before = layouts
                await pilot.pause(0.1)
                if layouts == before:
                    break
            layouts = 0
            shown = drawn()
            assert painted() == shown
            for k in range(31, 41):
                app.source.push([recs[k - 1]])
                await settle(app, pilot, k)
                assert plist.virtual_size.height == k
                assert plist.vertical_scrollbar.window_virtual_size == k
                assert plist.max_scroll_y == k - window
            app.screen._refresh_layout = relayout
            assert layouts == 0, layouts
            assert drawn() == shown and painted() == shown and plist.cursor == 0
            narrow = plist.columns()
            app.source.push(later)
            await settle(app, pilot, len(recs))
            await pilot.pause()
            assert plist.columns() != narrow  # (the test's premise: a column widened)
            assert painted() == drawn() != shown
            await pilot.press("end")
            await wait_for(pilot, lambda: round(plist.scroll_y) == len(recs) - window, what="the end of the list")
            assert drawn()[-1].split()[0] == str(len(recs)), drawn()[-1]

    run(go())


def test_status_says_how_many_frames_wait_on_disk():
    """A live source whose dissector fell behind (sniffer.capture.backlog): the status bar says how
    many frames wait, once some wait on disk, and says nothing of it otherwise."""
    recs = records()

    async def go():
        app = make_app(recs[:10], live=True)
        waiting = [(30, 0)]
        app.source.waiting = lambda: waiting[0]
        async with app.run_test(size=(160, 24)) as pilot:
            await settle(app, pilot, 10)
            assert "waiting" not in app.status_text()  # frames in memory only: the normal case
            waiting[0] = (200_000, 1_234_567)
            assert "1,434,567 waiting (on disk)" in app.status_text()
            waiting[0] = (0, 0)
            assert "waiting" not in app.status_text()

    run(go())


def test_quitting_stops_the_loader_after_its_batch():
    """The app going (Loader.stop) ends the loader after the batch it is storing, not after the whole
    backlog a live capture still holds: the store is closed right after, and a loader still storing
    into it failed with EBADF (found quitting the UI during a flood)."""
    import threading

    from sniffer.pipeline import Dissector
    from sniffer.store import PacketStore
    from sniffer.ui.loader import Loader
    from sniffer.ui.sources import MemorySource

    recs = records()
    src = MemorySource(name="flood", live=True)
    for _ in range(2000):  # far more batches than are stored before stop()
        src.push(recs)
    store = PacketStore()
    started = threading.Event()
    loader = Loader(src, store, Dissector(), notify=started.set)
    loader.start()
    assert started.wait(10), "no batch stored"
    loader.stop()
    loader.join(5)
    assert loader.done.is_set() and loader.error is None
    assert 0 < store.count < 2000 * len(recs)
    store.close()

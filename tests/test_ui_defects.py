"""Pilot tests of the UI defects found when the product was tried (issue 11): quit paths, palette,
exact timestamps when saving, light theme, column widths, the rate, the selection across filters.

Like tests/test_ui_app.py: real frames (the demo capture, captures written by sniffer/synth)
through the real dissector, expected values from the dissector or tshark, never from the UI.
Every test waits for the state it checks (tests.ui_helpers.wait_for), not for a time.
"""

from __future__ import annotations

from sniffer.ui.screens import QuitScreen
from tests.ui_helpers import dissected, make_app, palette_run, records, run, settle, wait_for

FRAMES = dissected()


def test_every_quit_path_asks_when_a_live_capture_is_unsaved():
    async def go():
        app = make_app(records()[:12], live=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, 12)
            for keys in (("ctrl+q",), ("ctrl+c",), ("slash", "ctrl+c")):  # ctrl+c in the filter bar too
                await pilot.press(*keys)
                await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen), what=f"the question after {keys}")
                await pilot.press("ctrl+c")  # a second ctrl+c while asked: still one question
                assert len([s for s in app.screen_stack if isinstance(s, QuitScreen)]) == 1
                await pilot.press("n")
                await wait_for(pilot, lambda: not isinstance(app.screen, QuitScreen), what="the answer")
                assert app.is_running
                app.plist.focus()
            await palette_run(pilot, "Quit")
            await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen), what="the palette's Quit to ask")
            await pilot.press("y")
            await wait_for(pilot, lambda: not app.is_running, what="the app to exit")
        assert app.return_code == 0

    run(go())


def test_ctrl_c_quits_like_q_when_nothing_is_unsaved():
    async def go():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await pilot.press("ctrl+c")
            await wait_for(pilot, lambda: not app.is_running, what="ctrl+c to quit")
        assert app.return_code == 0

    run(go())


def test_palette_entries_are_readable_and_quit_is_listed_once():
    async def go():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(FRAMES))
            cmds = list(app.get_system_commands(app.screen))
            titles = [c.title for c in cmds]
            assert [t for t in titles if t.split(" (")[0] == "Quit"] == ["Quit (q)"]
            assert "Help (?)" in titles and "Filter (/)" in titles and "Pause (Space)" in titles
            for c in cmds:
                assert "_" not in c.title, c.title  # no raw key names (question_mark) nor action names
                # one plain sentence, not a developer's docstring (the Filter one spoke of SSH bursts)
                assert "\n" not in c.help and "SSH" not in c.help and len(c.help) < 80, c.help

    run(go())


def test_screenshot_saves_where_a_directory_exists(tmp_path, monkeypatch):
    home = tmp_path / "home"  # a home without ~/Downloads
    cwd = tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)

    async def go():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await palette_run(pilot, "Screenshot")
            await wait_for(pilot, lambda: list(cwd.glob("*.svg")), what="the screenshot file")
            (svg,) = cwd.glob("*.svg")
            assert "<svg" in svg.read_text()
            await wait_for(
                pilot,
                lambda: any(str(svg) in str(n.message) for n in app._notifications),
                what="a notification naming the file",
            )

    run(go())


def _painted(widget, height: int) -> list:
    """The segments of the first `height` content lines of `widget` as it hands them to the screen."""
    return [seg for y in range(height) for seg in widget.render_line(y)]


def test_light_theme_paints_the_packet_list_and_bytes_with_the_theme_colours():
    from textual.color import Color

    async def go():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(FRAMES))
            for theme, light in (("textual-light", True), ("textual-dark", False), ("textual-light", True)):
                if app.theme != theme:
                    await pilot.press("t")  # the key, so the cached rows of the other theme are in play
                await wait_for(pilot, lambda theme=theme: app.theme == theme, what=theme)
                for widget in (app.plist, app.hexv):
                    height = widget.scrollable_content_region.height
                    segs = [s for s in _painted(widget, height) if s.text.strip(" ")]
                    assert segs, widget
                    for seg in segs:
                        assert seg.style is not None and seg.style.bgcolor is not None, (theme, widget, seg)
                        bg = Color.from_rich_color(seg.style.bgcolor)
                        if seg.style.reverse:
                            continue  # the byte cursor
                        fg = Color.from_rich_color(seg.style.color)
                        # readable: text clearly lighter or darker than what is under it
                        assert abs(fg.brightness - bg.brightness) > 0.25, (theme, widget, seg)
                    # the background of the plain rows is the theme's: light in a light theme
                    plain = Color.from_rich_color(segs[-1].style.bgcolor)
                    assert (plain.brightness > 0.5) == light, (theme, widget, segs[-1])
                    # the blank lines below the last row or byte too
                    widget.scroll_to(y=0, animate=False, immediate=True)
                    blank = _painted(widget, height + widget.virtual_size.height)[-1]
                    assert (Color.from_rich_color(blank.style.bgcolor).brightness > 0.5) == light

    run(go())


def test_rate_falls_to_zero_when_traffic_stops():
    import re

    recs = records()

    def rate(app) -> float:
        m = re.search(r"│ ([\d,]+) pkt/s", app.status_text())
        assert m, app.status_text()
        return float(m.group(1).replace(",", ""))

    async def go():
        app = make_app(recs[:1], live=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, 1)
            loop = __import__("asyncio").get_running_loop()
            end = loop.time() + 10
            while rate(app) == 0:  # traffic until the status bar shows a rate
                assert loop.time() < end, "no rate shown while frames arrive"
                app.source.push(recs[:5])
                await pilot.pause(0.05)
            assert rate(app) > 0
            # no more frames: within a few seconds the rate must say so
            await wait_for(pilot, lambda: rate(app) == 0, timeout=5, what="the rate to fall to 0")

    run(go())


def test_number_and_time_columns_grow_past_99999_frames_and_1000_seconds():
    base_ts, data, orig_len, lt = records()[0]  # the demo's SYN, over and over (ACK-less retransmissions)
    n = 100_001
    step = 0.0123  # the last frame comes 1230.0 s after the first
    recs = [(base_ts + i * step, data, orig_len, lt) for i in range(n)]
    last_no, last_time = str(n), f"{recs[-1][0] - base_ts:.6f}"
    assert len(last_no) > 5 and len(last_time) > 10  # wider than the columns' usual widths

    async def go():
        app = make_app(recs)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, n, timeout=120)
            for size in ((80, 24), (120, 30)):  # the narrow and the wide layout
                await pilot.resize_terminal(*size)
                await pilot.press("G")
                await wait_for(pilot, lambda app=app: app.plist.cursor == n - 1, what="the last row")
                y = app.plist.cursor - round(app.plist.scroll_y)
                line = "".join(s.text for s in app.plist.render_line(y))
                cells = line.split()
                assert cells[:2] == [last_no, last_time], line  # whole, not cut with "…"
                # the header's titles sit over their columns: No. ends where the numbers end
                header = str(app.list_header.render())
                assert header.index("No.") + 3 == line.index(last_no) + len(last_no), (header, line)
                assert header.index("Time") + 4 == line.index(last_time) + len(last_time), (header, line)

    run(go())


def _row_visible(plist) -> bool:
    top = round(plist.scroll_y)
    return top <= plist.cursor < top + plist.scrollable_content_region.height


def test_filter_and_follow_keep_the_selected_frame_selected_and_in_view():
    from sniffer.filter import compile_filter

    mqtt = compile_filter("mqtt")
    # a late MQTT frame: its row is below the first screenful in every view
    target = [f for f in FRAMES if f.pdus][-3]
    in_stream = [f.number - 1 for f in FRAMES if f.stream == target.stream]

    async def go():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(FRAMES))
            app.plist._set_cursor(target.number - 1)
            await wait_for(pilot, lambda: app.selected_row == target.number - 1, what="the selection")
            steps = (
                (("slash", *"mqtt", "enter"), sum(1 for f in FRAMES if mqtt.matches(f))),
                (("f",), len(in_stream)),
                (("slash", "escape"), len(FRAMES)),
            )
            for keys, rows in steps:
                await pilot.press(*keys)
                await settle(app, pilot, rows)
                await wait_for(pilot, lambda: not app.plist.pending, what="the selection to settle")
                assert app.plist.selected_row == target.number - 1, keys
                assert app.selected_row == target.number - 1, keys  # the details show it too
                assert str(app.details.root.children[0].label).startswith(f"Frame {target.number}:")
                await wait_for(pilot, lambda: _row_visible(app.plist), what=f"the row in view after {keys}")

    run(go())


def test_filter_that_hides_the_selected_frame_selects_the_next_shown():
    async def go():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(FRAMES))
            first_tcp_only = next(f for f in FRAMES if not f.pdus and f.number > 10)
            nxt = next(f for f in FRAMES if f.pdus and f.number > first_tcp_only.number)
            app.plist._set_cursor(first_tcp_only.number - 1)
            await pilot.press("slash", *"mqtt", "enter")
            await settle(app, pilot, sum(1 for f in FRAMES if f.pdus))
            await wait_for(pilot, lambda: not app.plist.pending, what="the selection to settle")
            assert app.selected_row == nxt.number - 1

    run(go())


def test_revealing_secrets_keeps_the_tree_cursor_on_its_node():
    connect = next(f for f in FRAMES if f.pdus and f.pdus[0].msgtype == 1)

    async def go():
        app = make_app()
        async with app.run_test(size=(100, 40)) as pilot:
            await settle(app, pilot, len(FRAMES))
            app.plist._set_cursor(connect.number - 1)
            await wait_for(pilot, lambda: app.selected_row == connect.number - 1, what="the CONNECT")
            app.details.focus()
            # down the tree to the Password field, as a user does
            for _ in range(60):
                data = app.details.cursor_node.data if app.details.cursor_node is not None else None
                if data is not None and data.fdef is not None and data.fdef.abbrev == "mqtt.passwd":
                    break
                await pilot.press("down")
            pw = app.details.cursor_node.data
            assert pw.fdef.abbrev == "mqtt.passwd"
            line = app.details.cursor_line
            for revealed in (True, False):
                await pilot.press("s")
                await wait_for(pilot, lambda r=revealed: app.show_secrets is r, what="secrets toggled")
                await pilot.wait_for_scheduled_animations()
                await pilot.pause()
                node = app.details.cursor_node
                assert node is not None and node.data is pw, (revealed, node and node.label)
                assert app.details.cursor_line == line
                assert app.hexv.hl_range == (pw.start, pw.start + pw.length)
                assert ("********" in str(node.label)) is not revealed

    run(go())


def _pcapng(path, frames: list[tuple[int, bytes]], tsresol: int = 9, tsoffset: int = 0) -> None:
    """A pcapng with if_tsresol `tsresol` (and if_tsoffset seconds), written here, independently of
    the code under test."""
    import struct

    def block(btype: int, body: bytes) -> bytes:
        return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))

    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    opts = struct.pack("<HHB3x", 9, 1, tsresol)
    if tsoffset:
        opts += struct.pack("<HHq", 14, 8, tsoffset)
    out.append(block(1, struct.pack("<HHI", 1, 0, 0) + opts + b"\0" * 4))
    for ticks, data in frames:
        pad = b"\0" * (-len(data) % 4)
        head = struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data))
        out.append(block(6, head + data + pad))
    path.write_bytes(b"".join(out))


def _tshark_epochs(path) -> list[str]:
    import subprocess

    from tests.conftest import require_tool

    out = subprocess.run(
        [require_tool("tshark"), "-r", str(path), "-T", "fields", "-e", "frame.time_epoch"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_saving_keeps_the_captured_timestamps_exactly(tmp_path):
    from sniffer.pipeline import Dissector
    from sniffer.synth.pcap_write import PcapWriter
    from sniffer.ui.app import SnifferApp
    from sniffer.ui.screens import SaveScreen
    from sniffer.ui.sources import FileSource

    frames = [data for _ts, data, _ol, _lt in records()]
    # times a float cannot hold to the nanosecond (…019000000 came back as …019000064)
    us = [1716969600_019000 + k * 318_100 + (k * 7919) % 1000 for k in range(len(frames))]
    ns = [1716969600_019000000 + k * 318_100_000 + (k * 104729) % 1000 for k in range(len(frames))]
    pcap = tmp_path / "us.pcap"
    with PcapWriter(str(pcap)) as w:
        for t, data in zip(us, frames, strict=True):
            w.write(t, data)
    pcapng = tmp_path / "ns.pcapng"
    _pcapng(pcapng, list(zip(ns, frames, strict=True)))
    # binary fractions (2^-20 s) and an interface offset of whole seconds (if_tsoffset)
    binary = tmp_path / "binary-offset.pcapng"
    bins = [12345 * 2**20 + k * 333_333 for k in range(len(frames))]
    _pcapng(binary, list(zip(bins, frames, strict=True)), tsresol=0x80 | 20, tsoffset=1716969600)

    async def save(original, out) -> None:
        app = SnifferApp(FileSource(str(original)), Dissector())
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(frames))
            await pilot.press("w")
            await wait_for(pilot, lambda: isinstance(app.screen, SaveScreen), what="the save dialog")
            app.screen.query_one("#save-path").value = str(out)
            app.screen.query_one("#save-all").value = True
            await pilot.press("enter")
            await wait_for(pilot, out.exists, what=f"{out} written")

    for original in (pcap, pcapng, binary):
        want = _tshark_epochs(original)
        assert len(want) == len(frames) and want[0] == (
            "1716981945.000000000" if original is binary else "1716969600.019000000"
        )
        out = tmp_path / f"saved-{original.name}.pcapng"
        run(save(original, out))
        assert _tshark_epochs(out) == want, original.name


def test_an_exit_while_a_screen_is_mounting_ends_cleanly():
    """The exit (ctrl+c, or SIGTERM: both call app.exit) can come while a screen a key pushed is still
    mounting: Textual then stops composing it but still runs its on_mount, whose query_one found
    nothing (NoMatches, a traceback and exit code 1; CI caught the same with a session view). Each
    screen is pushed and the app exits in the same turn: the exit must be clean."""
    from sniffer.ui.export import ExportScreen
    from sniffer.ui.find import FindScreen
    from sniffer.ui.flow import FlowScreen
    from sniffer.ui.goto import GotoScreen
    from sniffer.ui.graphs import GraphsScreen
    from sniffer.ui.screens import SaveScreen

    publish = next(f.number for f in FRAMES if f.pdus and f.pdus[0].msgtype == 3) - 1  # x exports its payload
    screens = {"F": FlowScreen, "i": GraphsScreen, "w": SaveScreen, "ctrl+g": GotoScreen, "ctrl+f": FindScreen}
    screens["x"] = ExportScreen
    pushed: list[object] = []
    for key, kind in screens.items():
        pushed.clear()

        async def go(key: str = key):
            app = make_app()
            async with app.run_test(size=(120, 40)) as pilot:
                await settle(app, pilot, len(FRAMES))
                assert app.plist.select_row(publish)
                push = app.push_screen

                def push_then_exit(screen, *args, **kw):
                    done = push(screen, *args, **kw)
                    pushed.append(screen)
                    app.exit()  # before the screen's compose has run
                    return done

                app.push_screen = push_then_exit
                await pilot.press(key)
                await wait_for(pilot, lambda: app.return_code is not None, timeout=15, what=f"the exit after {key}")
            return app

        app = run(go())
        assert [type(s) for s in pushed] == [kind], key
        assert app.return_code == 0, key

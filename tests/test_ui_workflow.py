"""Pilot tests of the everyday Wireshark workflow in the UI (issue 13): column widths and sideways
scrolling, time display formats and the time reference, the Client column and Apply as Column,
column order (keys, palette, mouse), Apply/Prepare as Filter, copy (OSC 52) and export of a payload
or PDU bytes.

Frames are the demo capture or captures written by sniffer/synth, through the real dissector;
expected values come from the dissector's Frames, the filter engine and the stored timestamps,
never from the UI. Each test waits for the state it checks.
"""

from __future__ import annotations

import time
import unicodedata
from pathlib import Path

import pytest
from rich.text import Text

from sniffer.expert_level import ERROR
from sniffer.filter import compile_filter
from sniffer.output.text import summary_line
from sniffer.synth import mqtt_encode as m
from sniffer.synth.flows import TcpFlow
from sniffer.synth.pcap_write import PcapWriter
from sniffer.ui.export import ExportScreen
from sniffer.ui.fieldtext import NotAField, filter_text
from sniffer.ui.packet_list import header_text, row_text, widths
from tests.ui_helpers import dissected, make_app, palette_run, records, run, settle, wait_for

FRAMES = dissected()
PUBLISH = next(f for f in FRAMES if f.pdus and f.pdus[0].msgtype == 3 and f.pdus[0].msgid > 0)
# a frame with a text-only line in its tree ("[MQTT session]")
LABELLED = next(f for f in FRAMES if any(n.fdef is None and not n.severity for t in f.tree() for n in t.walk()))
EVIL = 'x"q\\b\x1b]0;pwned\x07\x1b[2J[bold red]r[/]\u202e'  # a quote, a backslash, OSC, CSI, markup, bidi


def controls(text: str) -> set[str]:
    """Characters of `text` a terminal could act on."""
    return {c for c in text if not c.isprintable() and unicodedata.category(c) not in ("Zs", "Co")}


def line_of(app, d: int) -> str:
    """The packet list's text at display index d (scrolled there first)."""
    plist = app.plist
    return "".join(s.text for s in plist.render_line(d - round(plist.scroll_y)))


async def select(app, pilot, number: int) -> None:
    app.plist.focus()
    app.plist._set_cursor(app.plist._display_index(number - 1))
    await wait_for(pilot, lambda: app.selected_row == number - 1, what=f"frame {number} selected")
    await pilot.pause()


async def select_field(app, pilot, abbrev: str, nth: int = 0):
    """Put the tree cursor on the nth field `abbrev` of the selected frame; returns its Node."""
    nodes = [n for top in app._sel_nodes for n in top.walk() if n.fdef is not None and n.fdef.abbrev == abbrev]
    node = nodes[nth]
    app.details.focus()
    app.details.select_field(node)
    await wait_for(pilot, lambda: app.selected_field() is node, what=f"{abbrev} under the tree cursor")
    return node


def shifted(step: float) -> list:
    """The demo's records re-timed: frame i at first + i * step (the last one past 2000 s)."""
    recs = records()
    t0 = recs[0][0]
    return [(t0 + i * step, data, ol, lt) for i, (_ts, data, ol, lt) in enumerate(recs)]


# -- columns ----------------------------------------------------------------------------------
@pytest.mark.parametrize("width", [80, 120])
def test_number_and_time_cells_are_whole_at_a_million_frames_and_2000_seconds(width):
    row = (1_000_003, 2000.123456, "192.168.31.77", "203.0.113.50", "MQTT", 1514, "Publish Message", 3)
    cols = widths(width, 13, (len("1000003"), len("2000.123456"), 4))
    line = row_text(row, width, cols)
    assert line.split()[:2] == ["1000003", "2000.123456"], line
    header = header_text(width, cols)
    assert header.index("No.") + 3 == line.index("1000003") + 7
    assert header.index("Time") + 4 == line.index("2000.123456") + 11


def test_time_formats_fit_and_delta_counts_from_the_previous_displayed_frame():
    recs = shifted(50.0)
    assert recs[-1][0] - recs[0][0] > 2000
    shown = [f for f in FRAMES if compile_filter("mqtt").matches(f)]

    async def go():
        app = make_app(recs)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await pilot.press("slash", *"mqtt", "enter")
            await settle(app, pilot, len(shown))
            ts = {f.number: recs[f.number - 1][0] for f in FRAMES}
            expect = {
                "absolute": lambda k, n: (
                    time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(ts[n]))) + f".{round((ts[n] % 1) * 1e6):06d}"
                ),
                "delta": lambda k, n: f"{ts[n] - ts[shown[k - 1].number]:.6f}" if k else "0.000000",
                "epoch": lambda k, n: f"{ts[n]:.6f}",
                "relative": lambda k, n: f"{ts[n] - recs[0][0]:.6f}",
            }
            for mode, title in (("absolute", "time: UTC"), ("delta", "time: delta"),
                                ("epoch", "time: epoch"), ("relative", None)):  # fmt: skip
                await pilot.press("T")
                await wait_for(pilot, lambda mode=mode: app.plist.time_mode == mode, what=mode)
                if title:  # in the status bar, whole at 80 columns (1 column of padding each side)
                    status = Text.from_markup(app.status_text()).plain
                    assert status.endswith(title) and len(status) <= 78, status
                else:
                    assert "time:" not in app.status_text()
                for k in (0, 1, len(shown) - 1):
                    await select(app, pilot, shown[k].number)
                    line = line_of(app, k)
                    want = expect[mode](k, shown[k].number)
                    assert want in line, (mode, line, want)
                    assert "…" not in line[: line.index(want) + len(want)]  # not cut
                    header = str(app.list_header.render())
                    assert header.index("Time") + 4 == line.index(want) + len(want), (header, line)
            await palette_run(pilot, "Time display: UTC")
            assert app.plist.time_mode == "absolute"

    run(go())


def test_time_reference_counts_from_the_reference_frame():
    recs = shifted(1.5)
    ts = [r[0] for r in recs]

    async def go():
        app = make_app(recs)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await select(app, pilot, 5)
            await pilot.press("ctrl+t")
            assert app.status_text().endswith("ref: 5")
            assert line_of(app, 4).split()[1] == "*REF*"
            assert line_of(app, 2).split()[1] == f"{ts[2] - ts[0]:.6f}"  # before it: from the start
            assert line_of(app, 7).split()[1] == f"{ts[7] - ts[4]:.6f}"
            await pilot.press("T", "T")  # delta displayed: the reference still shows *REF*
            assert line_of(app, 4).split()[1] == "*REF*"
            assert line_of(app, 5).split()[1] == f"{ts[5] - ts[4]:.6f}"
            await pilot.press("T", "T", "ctrl+t")  # relative again; unset
            assert "ref:" not in app.status_text()
            assert line_of(app, 4).split()[1] == f"{ts[4] - ts[0]:.6f}"
            assert line_of(app, 7).split()[1] == f"{ts[7] - ts[0]:.6f}"

    run(go())


def test_list_and_tree_scroll_sideways_to_the_end_of_the_topic_at_80_columns():
    topic = PUBLISH.pdus[0].topic

    async def go():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await select(app, pilot, PUBLISH.number)
            d = app.plist.cursor
            assert topic not in line_of(app, d)  # cut at 80 columns
            for _ in range(12):
                await pilot.press("right")
            assert topic[-20:] + "]" in line_of(app, d)
            assert "No." not in str(app.list_header.render())  # the titles scroll with the rows
            for _ in range(20):
                await pilot.press("left")
            assert line_of(app, d).lstrip().startswith(str(PUBLISH.number))
            # the tree: the payload's label is longer than the pane
            await select_field(app, pilot, "mqtt.msg")
            label = str(app.details.cursor_node.label)
            assert len(label) > app.details.size.width
            for _ in range(40):
                await pilot.press("right")
            assert app.details.scroll_x > 0
            rendered = "".join(
                s.text for s in app.details.render_line(app.details.cursor_line - round(app.details.scroll_y))
            )
            assert label[-10:] in rendered

    run(go())


def test_client_column_and_apply_as_column():
    async def go():
        app = make_app()
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await palette_run(pilot, "Show the Client column")
            assert "Client" in str(app.list_header.render())
            for f in (PUBLISH, FRAMES[0]):
                client = f.pdus[0].ann.client if f.pdus else ""
                await select(app, pilot, f.number)
                cells = line_of(app, f.number - 1)
                assert (client[:19] + "…" if len(client) > 20 else client or " " * 20) in cells, cells
            await select(app, pilot, PUBLISH.number)
            await select_field(app, pilot, "mqtt.msgid")
            await palette_run(pilot, "Apply as column")
            assert "Message Ident" in str(app.list_header.render())
            assert f" {PUBLISH.pdus[0].msgid} " in line_of(app, PUBLISH.number - 1)
            await palette_run(pilot, "Remove column Client")
            header = str(app.list_header.render())
            assert "Client" not in header and "Message Ident" in header
            await palette_run(pilot, "Show the Client column")  # back, after the other one
            assert [c.field for c in app.plist.cells.columns] == ["mqtt.msgid", "mqtt.client"]

    run(go())


def titles(app) -> list[str]:
    """The packet list's column titles, left to right, as the header shows them."""
    header = str(app.list_header.render())
    known = ["No.", "Time", "Source", "Destination", "Protocol", "Length", "Info", "Client"]
    return sorted((t for t in known if f" {t} " in f" {header} "), key=lambda t: f" {header} ".index(f" {t} "))


def test_columns_move_left_and_right_by_key_and_the_cells_follow():
    shown = PUBLISH

    async def go():
        app = make_app()
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await select(app, pilot, shown.number)
            d = app.plist.cursor
            before = line_of(app, d)
            assert titles(app) == ["No.", "Time", "Source", "Destination", "Protocol", "Length", "Info"]
            await pilot.press("greater_than_sign")  # no column chosen yet: nothing moves, it says why
            await pilot.pause()
            assert titles(app)[1] == "Time" and line_of(app, d) == before
            await pilot.press("right_square_bracket", "right_square_bracket")  # No., then Time
            assert app.plist.col_key == "#time"
            header = app.list_header.render()
            assert [header.plain[sp.start : sp.end].strip() for sp in header.spans] == ["Time"]  # highlighted
            await pilot.press("greater_than_sign")
            assert titles(app) == ["No.", "Source", "Time", "Destination", "Protocol", "Length", "Info"]
            # the cells moved with their titles: the time ends where its title ends (right-aligned),
            # the address starts where its title starts
            line, header = line_of(app, d), str(app.list_header.render())
            rel = f"{shown.rel_ts:.6f}"
            assert header.index("Time") + 4 == line.index(rel) + len(rel), (header, line)
            assert header.index("Source") == line.index(shown.src) < line.index(rel), (header, line)
            assert line.index(rel) < line.index(shown.dst)
            await pilot.press("less_than_sign", "less_than_sign")  # back, then in front of No.
            assert titles(app)[:3] == ["Time", "No.", "Source"]
            await pilot.press("less_than_sign")  # already first: a bell, nothing moves
            assert titles(app)[:3] == ["Time", "No.", "Source"]
            # Info moved left of Length: cut to its width, Length after it, the line still starts right
            await pilot.press("left_square_bracket")  # from Time (first) to the last: Info
            assert app.plist.col_key == "#info"
            await pilot.press("less_than_sign")
            line, header = line_of(app, d), str(app.list_header.render())
            assert titles(app)[-2:] == ["Info", "Length"]
            assert header.index("Length") + 6 == line.index(f" {shown.orig_len} ") + 1 + len(str(shown.orig_len))
            assert "Publish Message" in line and "…" in line  # the topic is cut: Info has a width now
            # the keys are in the help and in the README's key table
            await pilot.press("question_mark")
            await pilot.pause()
            helptext = "\n".join(str(w.render()) for w in app.screen.query("Static"))
            assert "[ ] < >" in helptext and "move it left, right" in helptext

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "| `[` `]` `<` `>` | choose a packet list column" in readme

    run(go())


def test_the_palette_moves_a_column_by_name_and_custom_columns_keep_their_place():
    async def go():
        app = make_app()
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await palette_run(pilot, "Move column Protocol left")
            assert titles(app) == ["No.", "Time", "Source", "Protocol", "Destination", "Length", "Info"]
            await palette_run(pilot, "Show the Client column")  # a new column comes before Info
            assert titles(app)[-2:] == ["Client", "Info"]
            for _ in range(7):
                await palette_run(pilot, "Move column Client left")
            assert titles(app)[0] == "Client"
            first = FRAMES[3]  # the CONNECT: its client id in the first cell
            assert line_of(app, first.number - 1).startswith(first.pdus[0].ann.client[:19])
            await palette_run(pilot, "Move column Info left")  # Info not last: a new column goes at the end
            await select(app, pilot, PUBLISH.number)
            await select_field(app, pilot, "mqtt.msgid")
            await palette_run(pilot, "Apply as column")
            assert app.plist.order[-1] == "mqtt.msgid" and app.plist.order[-2] == "#len"
            await palette_run(pilot, "Remove column Client")  # the others keep their order
            assert titles(app) == ["No.", "Time", "Source", "Protocol", "Destination", "Info", "Length"]
            assert app.plist.order == ["#no", "#time", "#src", "#proto", "#dst", "#info", "#len", "mqtt.msgid"]

    run(go())


def test_a_click_on_a_title_chooses_its_column_and_a_drag_moves_it():
    async def go():
        app = make_app()
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(app, pilot, len(FRAMES))
            header = str(app.list_header.render())
            await pilot.click("ListHeader", offset=(header.index("Protocol") + 2, 0))
            assert app.plist.col_key == "#proto"
            x_len, x_no = header.index("Length") + 1, header.index("No.") + 1
            await pilot.mouse_down("ListHeader", offset=(x_len, 0))
            await pilot.mouse_up("ListHeader", offset=(x_no, 0))
            await pilot.pause()
            assert titles(app) == ["Length", "No.", "Time", "Source", "Destination", "Protocol", "Info"]
            assert app.plist.col_key == "#len"
            await pilot.press("greater_than_sign")  # the keys go on from the dragged column
            assert titles(app)[:2] == ["No.", "Length"]

    run(go())


def test_the_mark_stays_in_front_of_the_number_wherever_the_number_column_goes():
    row = (1234, 1.5, "10.0.0.1", "10.0.0.2", "MQTT", 70, "Publish Message", 3)
    cols = widths(120, 8, (4, 8, 2))
    moved = (1, 2, 0, 3, 4, 5, 6)  # Time, Source, No., ...
    line = row_text(row, 120, cols, severity=ERROR, order=moved)
    assert line.startswith("  1.500000") and "! 1234 " in line, line
    assert line.index("1234") > line.index("10.0.0.1")
    assert header_text(120, cols, order=moved).split()[:3] == ["Time", "Source", "No."]


def test_the_protocol_column_grows_to_fit_mqtt_json():
    """The demo's frame 23 is MQTT/JSON (its Content Type is application/json, as tshark shows it): on a wide
    screen the Protocol column fits it whole, at 80 columns it keeps its 4 cells."""
    json_frame = next(f for f in FRAMES if f.proto == "MQTT/JSON")

    async def go():
        for size, shown in (((140, 30), "MQTT/JSON "), ((80, 24), "MQT")):
            app = make_app()
            async with app.run_test(size=size) as pilot:
                await settle(app, pilot, len(FRAMES))
                await select(app, pilot, json_frame.number)
                line = line_of(app, json_frame.number - 1)
                assert shown in line, line
                assert size[0] < 100 or "…" not in line.split("Publish")[0], line
                assert "Publish Message" in line

    run(go())
    assert widths(140, 15, (2, 8, 3), len("MQTT/JSON"))[4] == 9 and widths(140, 15, (2, 8, 3), 4)[4] == 8
    assert widths(140, 15, (2, 8, 3), 40)[4] == 14 and widths(80, 15, (2, 8, 3), 9)[4] == 4


# -- filters from a field -------------------------------------------------------------------
def test_every_field_of_the_demo_gives_a_filter_that_matches_its_frame():
    checked = 0
    for f in FRAMES:
        for top in f.tree():
            for n in top.walk():
                try:
                    text = filter_text(n)
                except NotAField:
                    assert n.fdef is None or n.fdef.secret
                    continue
                assert compile_filter(text).matches(f), text
                checked += 1
    assert checked > 1000


def hostile_capture(path: Path) -> Path:
    with PcapWriter(str(path)) as w:
        f = TcpFlow(w, client=("192.168.1.20", 50001))
        t = f.open(1_700_000_000_000_000)
        t = f.send(0, m.connect("dev" + EVIL), t + 1000, ack=False)
        t = f.send(1, m.connack(), t + 1000)
        t = f.send(0, m.publish("t/" + EVIL, b"\x00\x01payload\xff" * 40, qos=1, msgid=9), t + 1000, ack=False)
        t = f.send(1, m.puback(9), t + 1000)
        t = f.send(0, m.publish("t/plain", "x"), t + 1000)
        t = f.send(0, m.publish("t/big", bytes(range(256)) * 20), t + 1000)  # 5 kB: over several segments
        f.close(t + 1000)
    return path


@pytest.mark.parametrize(
    ("frame", "abbrev", "want"),
    [
        (PUBLISH.number, "mqtt.topic", f'mqtt.topic == "{PUBLISH.pdus[0].topic}"'),
        (PUBLISH.number, "mqtt.msgid", f"mqtt.msgid == {PUBLISH.pdus[0].msgid}"),
        (PUBLISH.number, "tcp.flags", "tcp.flags == 0x0018"),
        (PUBLISH.number, "ip.src", "ip.src == 192.168.31.77"),
        (PUBLISH.number, "mqtt.retain", "mqtt.retain == 0"),
    ],
)
def test_apply_as_filter_writes_wiresharks_filter_and_applies_it(frame, abbrev, want):
    async def go():
        app = make_app()
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await select(app, pilot, frame)
            await select_field(app, pilot, abbrev)
            await pilot.press("a")
            assert app.filter_bar.value == want and app.filter_text == want
            rows = [f.number for f in FRAMES if compile_filter(want).matches(f)]
            await settle(app, pilot, len(rows))
            assert [app.plist.store_row(d) + 1 for d in range(app.plist.count)] == rows
            assert frame in rows

    run(go())


def test_prepare_as_filter_and_the_and_or_combinations():
    msgtype = f"mqtt.msgtype == {PUBLISH.pdus[0].msgtype}"

    async def go():
        app = make_app()
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await select(app, pilot, PUBLISH.number)
            await select_field(app, pilot, "mqtt.msgtype")
            await pilot.press("A")
            assert app.filter_bar.value == msgtype and app.filter_text == ""  # not applied
            assert app.focused is app.filter_bar
            assert app.plist.count == len(FRAMES)
            await pilot.press("enter")  # the user applies it
            await settle(app, pilot)
            assert app.filter_text == msgtype
            await select_field(app, pilot, "mqtt.qos")
            await pilot.press("ampersand")
            want = f"({msgtype}) && (mqtt.qos == 1)"
            assert app.filter_text == want and app.filter_bar.value == want
            await settle(app, pilot, sum(compile_filter(want).matches(f) for f in FRAMES))
            await select_field(app, pilot, "mqtt.msgid")
            await pilot.press("vertical_line")
            assert app.filter_text == f"({want}) || (mqtt.msgid == {PUBLISH.pdus[0].msgid})"
            # a label is no field: one clear notification, the filter unchanged
            await pilot.press("slash", "escape")  # the filter cleared
            await settle(app, pilot, len(FRAMES))
            before = app.filter_text
            await select(app, pilot, LABELLED.number)
            label = next(n for top in app._sel_nodes for n in top.walk() if n.fdef is None and not n.severity)
            app.details.focus()
            app.details.select_field(label)
            await wait_for(pilot, lambda: app.selected_field() is label)
            await pilot.press("a")
            assert app.filter_text == before
            assert any("not a field" in str(n.message) for n in app._notifications)

    run(go())


def test_hostile_topic_filter_and_copies_are_escaped(tmp_path):
    recs = records(hostile_capture(tmp_path / "evil.pcap"))
    frames = dissected(tmp_path / "evil.pcap")
    pub = next(f for f in frames if f.pdus and f.pdus[0].msgtype == 3 and f.pdus[0].msgid > 0)

    async def go():
        app = make_app(recs, name="evil.pcap")
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot, len(frames))
            await select(app, pilot, pub.number)
            await select_field(app, pilot, "mqtt.topic")
            await pilot.press("y")
            assert app.clipboard and not controls(app.clipboard)
            assert "\\033]0;pwned\\a" in app.clipboard and "\\u202E" in app.clipboard
            await pilot.press("a")
            text = app.filter_bar.value
            assert not controls(text)
            # the filter decodes back to the raw topic: it selects exactly that PUBLISH
            await settle(app, pilot, 1)
            assert app.plist.store_row(0) + 1 == pub.number
            assert compile_filter(text).matches(pub)
            await pilot.press("Y")  # the summary line, escaped too
            assert app.clipboard == summary_line(pub) and not controls(app.clipboard)

    run(go())


# -- copy -------------------------------------------------------------------------------------
def test_copy_value_and_summary_line():
    async def go():
        app = make_app()
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await select(app, pilot, PUBLISH.number)
            await pilot.press("Y")
            assert app.clipboard == summary_line(PUBLISH)
            await select_field(app, pilot, "mqtt.msgtype")
            await pilot.press("y")
            assert app.clipboard == "Publish Message (3)"
            await select_field(app, pilot, "ip.dst")
            await pilot.press("y")
            assert app.clipboard == "203.0.113.50"

    run(go())


# -- export -----------------------------------------------------------------------------------
async def export(app, pilot, path: str, which: int = 0) -> None:
    from textual.widgets import Input, RadioButton

    await pilot.press("x")
    await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), what="the export dialog")
    screen = app.screen
    if which:
        screen.query_one(f"#export-{which}", RadioButton).value = True
    screen.query_one("#export-path", Input).value = path
    await pilot.pause()
    screen.query_one("#export-path", Input).focus()
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(app.screen, ExportScreen), what="the dialog to close")


def messages(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


def test_export_writes_the_exact_payload_and_pdu_bytes(tmp_path):
    recs = records(hostile_capture(tmp_path / "evil.pcap"))
    frames = dissected(tmp_path / "evil.pcap")
    pub = next(f for f in frames if f.pdus and f.pdus[0].msgtype == 3 and f.pdus[0].msgid > 0)
    payload = next(n.value for top in pub.tree() for n in top.walk() if n.fdef and n.fdef.abbrev == "mqtt.msg")
    assert len(payload) == 400

    async def go():
        app = make_app(recs, name="evil.pcap")
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot, len(frames))
            await select(app, pilot, pub.number)
            await export(app, pilot, str(tmp_path / "payload.bin"))
            assert (tmp_path / "payload.bin").read_bytes() == payload
            await export(app, pilot, str(tmp_path / "pdu.bin"), which=1)
            assert (tmp_path / "pdu.bin").read_bytes() == pub.pdus[0].data
            assert any("Exported 400 bytes" in t for t in messages(app))
            # a PDU spread over several TCP segments: its reassembled bytes, from the frame completing it
            big = next(f for f in frames if f.pdus and f.pdus[0].topic == "t/big")
            assert big.pdu_location(big.pdus[0]) is None  # reassembled
            await select(app, pilot, big.number)
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen))
            assert "reassembled" in app.screen.labels[1]
            await pilot.press("escape")
            await export(app, pilot, str(tmp_path / "big.bin"), which=1)
            assert (tmp_path / "big.bin").read_bytes() == big.pdus[0].data
            await export(app, pilot, str(tmp_path / "bigmsg.bin"))
            assert (tmp_path / "bigmsg.bin").read_bytes() == bytes(range(256)) * 20

    run(go())


def test_export_says_why_a_path_cannot_be_written(tmp_path):
    async def go():
        app = make_app()
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await select(app, pilot, PUBLISH.number)
            missing = tmp_path / "no-such-dir" / "p.bin"
            await export(app, pilot, str(missing))
            assert not missing.exists()
            assert any("Could not export" in t and "No such file or directory" in t for t in messages(app))
            await export(app, pilot, "/dev/full")  # a full disk
            assert any("No space left on device" in t for t in messages(app))
            assert app.is_running
            await select(app, pilot, 1)  # a SYN: nothing to export, said so
            await pilot.press("x")
            assert not isinstance(app.screen, ExportScreen)
            assert any("nothing to export" in t for t in messages(app))

    run(go())


def test_export_masks_a_password_unless_secrets_are_shown(tmp_path):
    connect = next(f for f in FRAMES if f.pdus and f.pdus[0].msgtype == 1)
    password = b"c90ff21f1a0c2a8528ace9242e914a9d7838736f"
    assert password in connect.pdus[0].data

    async def go():
        app = make_app()
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await select(app, pilot, connect.number)
            await export(app, pilot, str(tmp_path / "c.bin"))
            got = (tmp_path / "c.bin").read_bytes()
            assert password not in got and b"*" * len(password) in got
            assert len(got) == len(connect.pdus[0].data)
            await pilot.press("s")
            await export(app, pilot, str(tmp_path / "c2.bin"))
            assert (tmp_path / "c2.bin").read_bytes() == connect.pdus[0].data

    run(go())


def test_a_masked_password_is_neither_copied_nor_put_in_a_filter():
    connect = next(f for f in FRAMES if f.pdus and f.pdus[0].msgtype == 1)
    password = "c90ff21f1a0c2a8528ace9242e914a9d7838736f"

    async def go():
        app = make_app()
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot, len(FRAMES))
            await select(app, pilot, connect.number)
            await select_field(app, pilot, "mqtt.passwd")
            await pilot.press("y")
            assert app.clipboard == "********"
            await pilot.press("a")
            assert app.filter_bar.value == "" and app.filter_text == ""
            assert any("reveal secrets (s) first" in t for t in messages(app))
            await pilot.press("s")
            await select_field(app, pilot, "mqtt.passwd")
            await pilot.press("y")
            assert app.clipboard == password
            await pilot.press("a")
            assert app.filter_text == f'mqtt.passwd == "{password}"'
            await settle(app, pilot, 1)

    run(go())
